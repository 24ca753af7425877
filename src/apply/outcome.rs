//! How each change of an apply ended ([`ChangeOutcome`], with a typed [`ApplyError`]), and the
//! run's [`ApplyReport`]: counts for the summary, lines for the audit trail.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::client::ApiError;
use crate::config::sid::{AccountSid, InstanceSid};
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
    /// The instance is recorded but still provisioning when the wait ended.
    #[error("{sid} is recorded and still provisioning after {}; run `flexform plan` later to check on it", humantime::format_duration(*waited))]
    WaitTimedOut {
        /// The instance.
        sid: InstanceSid,
        /// How long apply waited.
        waited: Duration,
    },
    /// Waiting was stopped by an interrupt.
    #[error("{sid} is recorded; stopped waiting for it (interrupted)")]
    WaitInterrupted {
        /// The instance.
        sid: InstanceSid,
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
}

/// How one change ended.
#[derive(Debug, Clone)]
pub enum ChangeOutcome {
    /// Created (and recorded) this instance.
    Created(InstanceSid),
    /// Adopted (recorded) this instance.
    Adopted(InstanceSid),
    /// Recorded this instance under its new name.
    Moved {
        /// The instance.
        sid: InstanceSid,
        /// The address it was recorded under.
        from: String,
    },
    /// Failed. The SID is set when the instance exists and is recorded (created or adopted,
    /// then provisioning failed or the wait ended).
    Failed {
        /// The recorded instance, if any.
        sid: Option<InstanceSid>,
        /// Why, and what to do.
        error: ApplyError,
    },
    /// Not started because of an interrupt.
    NotStarted,
}

/// The result of an apply run.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Outcome by address, in address order.
    pub outcomes: BTreeMap<String, (Action, ChangeOutcome)>,
    /// Whether an interrupt arrived.
    pub interrupted: bool,
}

impl ApplyReport {
    /// Counts (created, adopted, failed).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for (_, outcome) in self.outcomes.values() {
            match outcome {
                ChangeOutcome::Created(_) => counts.0 += 1,
                ChangeOutcome::Adopted(_) => counts.1 += 1,
                ChangeOutcome::Failed { .. } => counts.2 += 1,
                ChangeOutcome::Moved { .. } | ChangeOutcome::NotStarted => {}
            }
        }
        counts
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
                    ChangeOutcome::Created(sid) | ChangeOutcome::Adopted(sid) => {
                        (Some(sid.to_string()), "ok".to_owned())
                    }
                    ChangeOutcome::Failed { sid, error } => (
                        sid.as_ref().map(|s| s.to_string()),
                        format!("failed: {error}"),
                    ),
                    ChangeOutcome::Moved { sid, from } => {
                        (Some(sid.to_string()), format!("ok (moved from {from})"))
                    }
                    ChangeOutcome::NotStarted => (None, "not started (interrupted)".to_owned()),
                };
                HistoryChange {
                    address: address.clone(),
                    action: action.as_str().to_owned(),
                    flex_instance_sid: sid,
                    outcome: text,
                }
            })
            .collect()
    }
}
