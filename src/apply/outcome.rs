//! How each change of an apply ended ([`ChangeOutcome`], with a typed [`ApplyError`]), and the
//! run's [`ApplyReport`]: counts for the summary, lines for the audit trail.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::client::ApiError;
use crate::domain::sid::{AccountSid, InstanceSid};
use crate::plan::Action;
use crate::state::{HistoryChange, StateError};

/// Why one change failed, and what to do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApplyError {
    /// The instance's credentials were not resolved before apply started.
    #[error("no credentials resolved for instance `{name}`")]
    NoCredentials {
        /// The instance name.
        name: String,
    },
    /// A discovered instance turned out to belong to another account.
    #[error("{sid} belongs to account {found}, not {expected}; nothing was recorded")]
    WrongAccount {
        /// The discovered instance.
        sid: InstanceSid,
        /// Its account.
        found: AccountSid,
        /// The configured account.
        expected: AccountSid,
    },
    /// A discovered instance answered 404.
    #[error("discovered instance {sid} cannot be fetched (404); nothing was recorded")]
    DiscoveredNotFound {
        /// The discovered instance.
        sid: InstanceSid,
    },
    /// Fetching a discovered instance failed.
    #[error("cannot fetch discovered instance {sid}: {source}; nothing was recorded")]
    FetchDiscovered {
        /// The discovered instance.
        sid: InstanceSid,
        /// The API error.
        source: ApiError,
    },
    /// The pending-create record could not be made durable, so no POST was sent.
    #[error("cannot record the pending create, so nothing was sent: {0}")]
    PendingNotRecorded(Arc<StateError>),
    /// The create may or may not have taken effect.
    #[error("{0}. The pending create stays recorded; the next `flexform plan` resolves it by discovery (adopt if it exists, create if not)")]
    OutcomeUnknown(ApiError),
    /// Every create for the instance had an ambiguous answer, and discovery found nothing after
    /// the last: apply gave up on it within its budget (or after too many gateway answers).
    #[error("gave up after {attempts} creates in {}: {}the last answer was {answer} ({error}); discovery found no instance after it, so none was created. The pending create stays recorded: the next `flexform apply` looks again by discovery and creates the instance if it is still missing{}",
        humantime::format_duration(Duration::from_secs(spent.as_secs())),
        if *gateway { "answer after answer came from a gateway, not from Twilio; " } else { "" },
        if *gateway { " (check the proxy or gateway between flexform and Twilio first)" } else { " (--create-budget allows it longer)" })]
    GaveUp {
        /// Creates sent.
        attempts: u32,
        /// Time spent on them.
        spent: Duration,
        /// The last answer's class.
        answer: crate::client::Answer,
        /// The last answer.
        error: ApiError,
        /// Given up because of answers in a row from a gateway, not because of the budget.
        gateway: bool,
    },
    /// Twilio answered 409: the account already has an instance.
    #[error("{0}. The account already has a Flex instance; the next `flexform plan` adopts it")]
    AlreadyExists(ApiError),
    /// Twilio refused the create: nothing was created.
    #[error("{0}")]
    Refused(ApiError),
    /// An instance was created or adopted but its SID could not be recorded.
    #[error("{verb} {sid} but could not record it: {source}. Record it with `flexform import {name} {sid}` once the state is writable")]
    NotRecorded {
        /// created or adopted.
        verb: &'static str,
        /// The instance name.
        name: String,
        /// The instance.
        sid: InstanceSid,
        /// Why the state write failed.
        source: Arc<StateError>,
    },
    /// A rename could not be recorded.
    #[error("cannot record the move from {from} to {to}: {source}")]
    NotMoved {
        /// The old address.
        from: String,
        /// The new address.
        to: String,
        /// Why the state write failed.
        source: Arc<StateError>,
    },
    /// The instance answered 404 while provisioning.
    #[error("{sid} disappeared while provisioning (404); run `flexform plan`")]
    Disappeared {
        /// The instance.
        sid: InstanceSid,
    },
    /// Provisioning failed.
    #[error("provisioning of {sid} failed (creation-failed); it is recorded, and the next plan proposes a new create")]
    ProvisioningFailed {
        /// The instance.
        sid: InstanceSid,
    },
    /// The Flex configuration could not be read before or after an update.
    #[error("cannot read the Flex configuration of {sid}: {source}")]
    ConfigurationRead {
        /// The instance.
        sid: InstanceSid,
        /// The API error.
        source: ApiError,
    },
    /// A managed path changed between the plan and the apply: nothing was sent, so that
    /// nobody's change is lost.
    #[error("the Flex configuration of {sid} changed since the plan ({}): nothing was sent; plan again", paths.join(", "))]
    ConfigurationChangedSincePlan {
        /// The instance.
        sid: InstanceSid,
        /// The managed paths that changed.
        paths: Vec<String>,
    },
    /// The account's configuration belongs to another instance than the one planned (the
    /// planned one was deleted and another made outside flexform): nothing was sent.
    #[error("the Flex configuration of account {account} belongs to {found}, not to {planned} as planned (was {planned} deleted and another instance made outside flexform?): nothing was sent; run `flexform plan`")]
    ConfigurationOfAnotherInstance {
        /// The account.
        account: AccountSid,
        /// The planned instance.
        planned: InstanceSid,
        /// The instance the configuration names.
        found: String,
    },
    /// Twilio refused the update (or its outcome is unknown).
    #[error("the Flex configuration update of {sid} failed: {source}")]
    ConfigurationUpdate {
        /// The instance.
        sid: InstanceSid,
        /// The API error.
        source: ApiError,
    },
    /// After the update, managed paths do not hold their declared values.
    #[error("after the update, the Flex configuration of {sid} does not hold the declared value of {}: check them with `flexform plan`", paths.join(", "))]
    ConfigurationNotVerified {
        /// The instance.
        sid: InstanceSid,
        /// The paths that differ.
        paths: Vec<String>,
    },
    /// The active plugins release changed between the plan and the apply (a release from
    /// Twilio's CLI or the console): nothing was sent, so that nobody's release is lost.
    #[error("the active plugins release of {address} changed since the plan ({planned} then, {now} now: released from Twilio's CLI or the console?): nothing was sent; run `flexform plan` again")]
    ReleaseChangedSincePlan {
        /// The instance's address.
        address: String,
        /// The release the plan saw (`none`).
        planned: String,
        /// The release active now (`none`).
        now: String,
    },
    /// A declared version exists with another bundle URL: versions are immutable.
    #[error("plugin {name} version {version} exists with url {existing}, not {declared}: versions are immutable, so declare a new version to release another bundle. Nothing was sent")]
    PluginVersionImmutable {
        /// The plugin's unique name.
        name: String,
        /// The version.
        version: String,
        /// The URL it exists with.
        existing: String,
        /// The URL declared.
        declared: String,
    },
    /// A Plugins API request of the release failed (or its outcome could not be learned by
    /// looking).
    #[error("the plugins release of {address} failed while {step}: {source}")]
    Release {
        /// The instance's address.
        address: String,
        /// What it was doing (`creating plugin b`).
        step: String,
        /// The API error.
        source: ApiError,
    },
    /// After the release, the active release is not the one made, or does not hold the
    /// declared versions.
    #[error("after the release, the active plugins release of {address} is not as declared: {detail}; check it with `flexform plan`")]
    ReleaseNotVerified {
        /// The instance's address.
        address: String,
        /// What differs.
        detail: String,
    },
    /// The release was made, but the state could not record it.
    #[error("released the plugins of {address} ({release}) but could not record it: {source}; the next plan records it")]
    ReleaseNotRecorded {
        /// The instance's address.
        address: String,
        /// The release made.
        release: String,
        /// Why the state write failed.
        source: Arc<StateError>,
    },
    /// The configuration is applied, but the state could not record it.
    #[error("updated the Flex configuration of {sid} but could not record it: {source}; the next plan shows no change")]
    ConfigurationNotRecorded {
        /// The instance.
        sid: InstanceSid,
        /// Why the state write failed.
        source: Arc<StateError>,
    },
}

/// How far a created or adopted instance got while apply waited for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioning {
    /// Ready.
    Ready,
    /// Still provisioning: `--no-wait`.
    NotWaited,
    /// Still provisioning: an interrupt stopped the wait.
    StoppedWaiting,
    /// Still provisioning when `--wait-timeout` ran out (an error of the run: what was asked
    /// for did not happen in time, though the instance is made and recorded).
    TimedOut(Duration),
}

impl Provisioning {
    /// Whether the instance is ready.
    pub fn is_ready(self) -> bool {
        self == Provisioning::Ready
    }
}

/// How one change ended.
#[derive(Debug, Clone)]
pub enum ChangeOutcome {
    /// Created (and recorded) this instance.
    Created {
        /// The instance.
        sid: InstanceSid,
        /// Ready, or still provisioning and why.
        provisioning: Provisioning,
    },
    /// Adopted (recorded) this instance.
    Adopted {
        /// The instance.
        sid: InstanceSid,
        /// Ready, or still provisioning and why.
        provisioning: Provisioning,
    },
    /// Recorded this instance under its new name.
    Moved {
        /// The instance.
        sid: InstanceSid,
        /// The address it was recorded under.
        from: String,
    },
    /// Updated the Flex configuration of this instance.
    Updated {
        /// The instance.
        sid: InstanceSid,
    },
    /// Failed. The SID is set when the instance exists and is recorded (created or adopted,
    /// then provisioning failed).
    Failed {
        /// The recorded instance, if any.
        sid: Option<InstanceSid>,
        /// Why, and what to do.
        error: ApplyError,
    },
    /// Not started because of an interrupt.
    NotStarted,
}

/// What an apply did, counted for its summary line and its last JSON event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Instances created (and recorded).
    pub created: usize,
    /// Of those, instances ready.
    pub ready: usize,
    /// Of those, instances still provisioning (`--no-wait`, an interrupt, or the wait
    /// timed out).
    pub still_provisioning: usize,
    /// Instances adopted (recorded).
    pub adopted: usize,
    /// Instances recorded under a new name.
    pub moved: usize,
    /// Instances whose Flex configuration was set: an update, or a create, adopt or move that
    /// also configured.
    pub updated: usize,
    /// Changes that failed (each with its reason).
    pub failed: usize,
    /// Creates, adopts and moves that took effect (and are counted as such) but whose Flex
    /// configuration failed: the next apply finishes them.
    pub configuration_failed: usize,
    /// Changes an interrupt kept from starting.
    pub not_started: usize,
}

impl Counts {
    /// `2 created (1 ready, 1 still provisioning), 0 adopted, 0 failed`, with `N moved` and
    /// `N not started` when there are any.
    pub fn line(&self) -> String {
        let created = if self.created == 0 {
            "0 created".to_owned()
        } else if self.still_provisioning == 0 {
            format!("{} created (ready)", self.created)
        } else if self.ready == 0 {
            format!("{} created (still provisioning)", self.created)
        } else {
            format!(
                "{} created ({} ready, {} still provisioning)",
                self.created, self.ready, self.still_provisioning
            )
        };
        let mut line = format!("{created}, {} adopted, ", self.adopted);
        if self.moved > 0 {
            line.push_str(&format!("{} moved, ", self.moved));
        }
        if self.updated > 0 {
            line.push_str(&format!("{} updated, ", self.updated));
        }
        line.push_str(&format!("{} failed", self.failed));
        if self.configuration_failed > 0 {
            line.push_str(&format!(
                ", {} with a failed configuration",
                self.configuration_failed
            ));
        }
        if self.not_started > 0 {
            line.push_str(&format!(", {} not started", self.not_started));
        }
        line
    }
}

/// The result of an apply run.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Outcome by address, in address order.
    pub outcomes: BTreeMap<String, (Action, ChangeOutcome)>,
    /// The Flex configuration paths each address's change sent (verified, unless the
    /// configuration failed).
    pub configured: BTreeMap<String, Vec<String>>,
    /// Creates, adopts and moves that took effect but whose configuration failed, and why.
    pub configuration_failed: BTreeMap<String, ApplyError>,
    /// The plugins releases made, by address: what changed, and the release.
    pub released: BTreeMap<String, String>,
    /// Creates, adopts and moves that took effect but whose plugins release failed, and why
    /// (an update whose release fails failed).
    pub release_failed: BTreeMap<String, ApplyError>,
    /// Whether an interrupt arrived.
    pub interrupted: bool,
}

impl ApplyReport {
    /// What happened, counted.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for (address, (_, outcome)) in &self.outcomes {
            let configured = self.configured.get(address).is_some_and(|p| !p.is_empty());
            if self.configuration_failed.contains_key(address) {
                counts.configuration_failed += 1;
            } else if configured
                && matches!(
                    outcome,
                    ChangeOutcome::Created { .. }
                        | ChangeOutcome::Adopted { .. }
                        | ChangeOutcome::Moved { .. }
                )
            {
                counts.updated += 1;
            }
            match outcome {
                ChangeOutcome::Created { provisioning, .. } => {
                    counts.created += 1;
                    if provisioning.is_ready() {
                        counts.ready += 1;
                    } else {
                        counts.still_provisioning += 1;
                    }
                }
                ChangeOutcome::Adopted { .. } => counts.adopted += 1,
                ChangeOutcome::Moved { .. } => counts.moved += 1,
                ChangeOutcome::Updated { .. } => counts.updated += 1,
                ChangeOutcome::Failed { .. } => counts.failed += 1,
                ChangeOutcome::NotStarted => counts.not_started += 1,
            }
        }
        counts
    }

    /// Instances whose wait timed out, with how long apply waited: made and recorded, but
    /// not ready as asked.
    pub fn timed_out(&self) -> Vec<(&str, &InstanceSid, Duration)> {
        self.outcomes
            .iter()
            .filter_map(|(address, (_, outcome))| match outcome {
                ChangeOutcome::Created {
                    sid,
                    provisioning: Provisioning::TimedOut(waited),
                }
                | ChangeOutcome::Adopted {
                    sid,
                    provisioning: Provisioning::TimedOut(waited),
                } => Some((address.as_str(), sid, *waited)),
                _ => None,
            })
            .collect()
    }

    /// Addresses of the changes an interrupt kept from starting.
    pub fn not_started(&self) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|(_, (_, outcome))| matches!(outcome, ChangeOutcome::NotStarted))
            .map(|(address, _)| address.as_str())
            .collect()
    }

    /// Lines for the audit trail.
    pub fn history(&self) -> Vec<HistoryChange> {
        self.outcomes
            .iter()
            .map(|(address, (action, outcome))| {
                let (sid, text) = match outcome {
                    ChangeOutcome::Created { sid, provisioning }
                    | ChangeOutcome::Adopted { sid, provisioning } => (
                        Some(sid.to_string()),
                        if provisioning.is_ready() {
                            "ok".to_owned()
                        } else {
                            "ok (still provisioning)".to_owned()
                        },
                    ),
                    ChangeOutcome::Failed { sid, error } => (
                        sid.as_ref().map(|s| s.to_string()),
                        format!("failed: {error}"),
                    ),
                    ChangeOutcome::Moved { sid, from } => {
                        (Some(sid.to_string()), format!("ok (moved from {from})"))
                    }
                    ChangeOutcome::Updated { sid } => (Some(sid.to_string()), "ok".to_owned()),
                    ChangeOutcome::NotStarted => (None, "not started (interrupted)".to_owned()),
                };
                // Took effect, but its configuration did not: both are in the entry.
                let text = match self.configuration_failed.get(address) {
                    Some(error) => format!("{text}; its Flex configuration failed: {error}"),
                    None => text,
                };
                let text = match (self.released.get(address), self.release_failed.get(address)) {
                    (Some(released), _) => format!("{text}; plugins released: {released}"),
                    (None, Some(error)) => format!("{text}; its plugins release failed: {error}"),
                    (None, None) => text,
                };
                HistoryChange {
                    address: address.clone(),
                    action: action.as_str().to_owned(),
                    flex_instance_sid: sid,
                    outcome: text,
                    configuration: self.configured.get(address).cloned().unwrap_or_default(),
                }
            })
            .collect()
    }
}
