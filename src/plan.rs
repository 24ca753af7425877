//! The planner: a pure function from (desired, state, observed) to a [`Plan`].
//!
//! No IO happens here: observation is finished before this runs, and `apply` only carries out
//! what the plan says. Each row of the decision table is a unit test below.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::client::{Discovery, Fetched, InstanceStatus};
use crate::config::Config;
use crate::sid::{AccountSid, InstanceSid};
use crate::state::{Origin, State};

/// What was seen for one instance name, gathered before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// `GET /v2/Instances/{recorded SID}` answered.
    Fetched(Fetched),
    /// `GET /v1/Configuration` answered (no SID recorded).
    Discovered(Discovery),
    /// Observation failed; the message says why (HTTP status, Twilio code).
    Failed(String),
    /// Not observed (an orphan: no configuration, hence no credentials).
    Skipped,
}

/// Everything observed, by instance name.
pub type Observations = BTreeMap<String, Observation>;

/// What apply will do to one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Action {
    /// POST a new instance.
    #[serde(rename = "create")]
    Create,
    /// Record an existing instance found by discovery; no POST.
    #[serde(rename = "adopt")]
    Adopt,
    /// Nothing.
    #[serde(rename = "no-op")]
    NoOp,
}

/// The attributes of an instance shown before and after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceView {
    /// The account.
    pub account_sid: AccountSid,
    /// `conversations.default` (null: not sent / not known).
    pub conversations_default: Option<bool>,
    /// The instance SID (null: known after apply).
    pub flex_instance_sid: Option<InstanceSid>,
    /// The status (null: known after apply).
    pub status: Option<InstanceStatus>,
}

/// One entry of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceChange {
    /// `flex_instance.<name>`.
    pub address: String,
    /// The instance name.
    pub name: String,
    /// The account.
    pub account_sid: AccountSid,
    /// What apply will do.
    pub action: Action,
    /// Why, in a few words (null for a plain no-op).
    pub reason: Option<String>,
    /// As recorded in the state (null: not recorded).
    pub before: Option<InstanceView>,
    /// As it will be after apply (null: not managed any more).
    pub after: Option<InstanceView>,
}

/// How serious a diagnostic is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information.
    Info,
    /// Needs a look; does not stop apply.
    Warning,
    /// Stops apply: the plan cannot be carried out as it stands.
    Error,
}

/// What a diagnostic is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosticKind {
    /// The instance is still being provisioned.
    Provisioning,
    /// Drift: the recorded instance was deleted outside flexform (or cannot be found).
    DeletedOutside,
    /// Drift: provisioning of the recorded instance failed.
    CreationFailed,
    /// The recorded instance belongs to another account than the configuration names.
    AccountMismatch,
    /// The instance is in a state that needs a human (deletion-failed, unknown).
    NeedsAttention,
    /// Drift: recorded in the state but no longer in the configuration.
    Orphaned,
    /// An input that cannot be changed after creation differs from what was sent.
    ImmutableInputChanged,
    /// An interrupted create cannot be resolved, because discovery is not available.
    PendingCreateUnresolved,
    /// The instance could not be observed (API or credentials error).
    ObserveFailed,
}

impl DiagnosticKind {
    /// Whether this kind counts as drift: reality (or the state) no longer matches the record.
    pub fn is_drift(self) -> bool {
        matches!(
            self,
            DiagnosticKind::DeletedOutside
                | DiagnosticKind::CreationFailed
                | DiagnosticKind::Orphaned
        )
    }

    /// The kind as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticKind::Provisioning => "provisioning",
            DiagnosticKind::DeletedOutside => "deleted_outside",
            DiagnosticKind::CreationFailed => "creation_failed",
            DiagnosticKind::AccountMismatch => "account_mismatch",
            DiagnosticKind::NeedsAttention => "needs_attention",
            DiagnosticKind::Orphaned => "orphaned",
            DiagnosticKind::ImmutableInputChanged => "immutable_input_changed",
            DiagnosticKind::PendingCreateUnresolved => "pending_create_unresolved",
            DiagnosticKind::ObserveFailed => "observe_failed",
        }
    }
}

/// Something the plan wants a reader to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Diagnostic {
    /// How serious.
    pub severity: Severity,
    /// What about.
    pub kind: DiagnosticKind,
    /// `flex_instance.<name>`.
    pub address: String,
    /// What happened and what to do.
    pub message: String,
}

/// Counts of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Instances to create.
    pub create: usize,
    /// Instances to adopt.
    pub adopt: usize,
    /// Instances left as they are.
    pub no_op: usize,
    /// Drift diagnostics.
    pub drift: usize,
}

/// The decision for every instance in the configuration or the state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// One entry per instance name, in name order.
    pub changes: Vec<ResourceChange>,
    /// Diagnostics, in name order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Plan {
    /// The counts.
    pub fn summary(&self) -> Summary {
        let count = |a| self.changes.iter().filter(|c| c.action == a).count();
        Summary {
            create: count(Action::Create),
            adopt: count(Action::Adopt),
            no_op: count(Action::NoOp),
            drift: self
                .diagnostics
                .iter()
                .filter(|d| d.kind.is_drift())
                .count(),
        }
    }

    /// Whether apply would do anything.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::NoOp)
    }

    /// Whether any diagnostic is an error (apply refuses such a plan).
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// The address of instance `name`.
pub fn address(name: &str) -> String {
    format!("flex_instance.{name}")
}

/// Decides what to do for every instance. Pure: same inputs, same plan.
pub fn plan(desired: &Config, state: &State, observed: &Observations) -> Plan {
    let mut names: Vec<&String> = desired
        .instances
        .keys()
        .chain(state.instances.keys())
        .chain(state.pending.keys())
        .collect();
    names.sort();
    names.dedup();

    let mut out = Plan::default();
    for name in names {
        let addr = address(name);
        let record = state.instances.get(name);
        let pending = state.pending.get(name);
        let observation = observed.get(name.as_str()).unwrap_or(&Observation::Skipped);
        let mut diag = |severity, kind, message: String| {
            out.diagnostics.push(Diagnostic {
                severity,
                kind,
                address: addr.clone(),
                message,
            })
        };

        let Some(spec) = desired.instances.get(name) else {
            // In the state only: Flex instances cannot be deleted through the API, so the
            // record stays until someone forgets it on purpose.
            if let Some(record) = record {
                diag(
                    Severity::Warning,
                    DiagnosticKind::Orphaned,
                    format!(
                        "{} is recorded in the state but no longer in the configuration; Flex instances cannot be deleted through the API. Put it back in the configuration, or run `flexform state rm {name}` to forget it (the instance itself is untouched)",
                        record.flex_instance_sid
                    ),
                );
                let before = view_of_record(record);
                out.changes.push(ResourceChange {
                    address: addr.clone(),
                    name: name.clone(),
                    account_sid: record.account_sid.clone(),
                    action: Action::NoOp,
                    reason: Some("orphaned: not in the configuration".to_owned()),
                    before: Some(before),
                    after: None,
                });
            } else if let Some(pending) = pending {
                diag(
                    Severity::Warning,
                    DiagnosticKind::Orphaned,
                    format!(
                        "an interrupted create on {} is recorded for an instance no longer in the configuration; run `flexform state rm {name}` to forget it",
                        pending.account_sid
                    ),
                );
            }
            continue;
        };

        let after_create = InstanceView {
            account_sid: spec.account_sid.clone(),
            conversations_default: spec.conversations_default(),
            flex_instance_sid: None,
            status: None,
        };
        let mut change = ResourceChange {
            address: addr.clone(),
            name: name.clone(),
            account_sid: spec.account_sid.clone(),
            action: Action::NoOp,
            reason: None,
            before: record.map(view_of_record),
            after: None,
        };

        match (record, observation) {
            (_, Observation::Failed(message)) => {
                diag(
                    Severity::Error,
                    DiagnosticKind::ObserveFailed,
                    format!("could not observe {addr}: {message}"),
                );
                change.after = change.before.clone();
            }
            (Some(record), _) if record.account_sid != spec.account_sid => {
                diag(
                    Severity::Error,
                    DiagnosticKind::AccountMismatch,
                    format!(
                        "the state records {} on account {}, but the configuration names account {}; an instance cannot move between accounts. Restore the account_sid, or run `flexform state rm {name}` to forget the old instance and create one on the new account",
                        record.flex_instance_sid, record.account_sid, spec.account_sid
                    ),
                );
                change.after = change.before.clone();
            }
            // No SID recorded, or a create was interrupted (even over an older record): what
            // discovery says decides, so that an interrupted create is never sent twice.
            (_, Observation::Discovered(discovery)) if pending.is_some() || record.is_none() => {
                match (discovery, pending) {
                    (Discovery::Found(sid), _) => {
                        change.action = Action::Adopt;
                        change.reason = Some(if pending.is_some() {
                            "an interrupted create did take effect: found by discovery".to_owned()
                        } else {
                            "existing instance found by discovery".to_owned()
                        });
                        change.after = Some(InstanceView {
                            flex_instance_sid: Some(sid.clone()),
                            conversations_default: pending.and_then(|p| p.conversations_default),
                            ..after_create
                        });
                    }
                    (Discovery::Unavailable, Some(p)) => {
                        diag(
                        Severity::Error,
                        DiagnosticKind::PendingCreateUnresolved,
                        format!(
                            "a create for {} started at {} was interrupted and discovery is not available for this account, so flexform cannot tell whether it took effect. If the account has a Flex instance, run `flexform import {name} GO…` with its SID; if it has none, run `flexform state rm {name}` and apply again",
                            p.account_sid, p.started_at
                        ),
                    );
                    }
                    (Discovery::None | Discovery::Unavailable, _) => {
                        change.action = Action::Create;
                        change.reason = Some(if pending.is_some() {
                            "an interrupted create did not take effect".to_owned()
                        } else {
                            "no instance on the account".to_owned()
                        });
                        change.after = Some(after_create);
                    }
                }
            }
            (Some(record), Observation::Fetched(fetched)) => {
                let found = match fetched {
                    Fetched::Found(instance) => Some(instance),
                    Fetched::NotFound => None,
                };
                if let Some(instance) = found {
                    if instance.account_sid != spec.account_sid {
                        diag(
                            Severity::Error,
                            DiagnosticKind::AccountMismatch,
                            format!(
                                "{} belongs to account {}, not {} as configured; check the state file and account_sid",
                                instance.flex_instance_sid, instance.account_sid, spec.account_sid
                            ),
                        );
                        change.after = change.before.clone();
                        out.changes.push(change);
                        continue;
                    }
                }
                let status = found.map(|i| i.status.clone());
                let current = InstanceView {
                    status: status.clone(),
                    ..view_of_record(record)
                };
                match status {
                    Some(InstanceStatus::Ready) => {
                        change.after = Some(current);
                    }
                    Some(InstanceStatus::CreationInProgress) => {
                        diag(
                            Severity::Info,
                            DiagnosticKind::Provisioning,
                            format!(
                                "{} is still being provisioned (creation-in-progress)",
                                record.flex_instance_sid
                            ),
                        );
                        change.after = Some(current);
                    }
                    None
                    | Some(InstanceStatus::Deleted)
                    | Some(InstanceStatus::DeletionInProgress) => {
                        let seen = status.as_ref().map_or("not found (404)", |s| s.as_str());
                        diag(
                            Severity::Warning,
                            DiagnosticKind::DeletedOutside,
                            format!(
                                "{} was deleted outside flexform (status: {seen}); apply will create a new instance",
                                record.flex_instance_sid
                            ),
                        );
                        change.action = Action::Create;
                        change.reason = Some(format!("recorded instance {seen}"));
                        change.before = Some(current);
                        change.after = Some(after_create);
                    }
                    Some(InstanceStatus::CreationFailed) => {
                        diag(
                            Severity::Warning,
                            DiagnosticKind::CreationFailed,
                            format!(
                                "provisioning of {} failed (creation-failed); apply will create a new instance",
                                record.flex_instance_sid
                            ),
                        );
                        change.action = Action::Create;
                        change.reason = Some("recorded instance creation-failed".to_owned());
                        change.before = Some(current);
                        change.after = Some(after_create);
                    }
                    Some(other) => {
                        diag(
                            Severity::Warning,
                            DiagnosticKind::NeedsAttention,
                            format!(
                                "{} has status {other}; flexform leaves it alone. Check it in the Twilio console",
                                record.flex_instance_sid
                            ),
                        );
                        change.after = Some(current);
                    }
                }
                if change.action == Action::NoOp
                    && record.origin == Origin::Created
                    && record.conversations_default != spec.conversations_default()
                {
                    diag(
                        Severity::Warning,
                        DiagnosticKind::ImmutableInputChanged,
                        format!(
                            "conversations.default is {} in the configuration but was {} at creation; the API cannot change it, so nothing will be done",
                            show_opt(spec.conversations_default()),
                            show_opt(record.conversations_default)
                        ),
                    );
                }
            }
            _ => {
                // The observer fetches recorded SIDs and discovers the rest (and interrupted
                // creates); anything else is a bug upstream, reported rather than guessed at.
                diag(
                    Severity::Error,
                    DiagnosticKind::ObserveFailed,
                    format!("{addr} was not observed"),
                );
                change.after = change.before.clone();
            }
        }
        out.changes.push(change);
    }
    out
}

fn view_of_record(record: &crate::state::InstanceRecord) -> InstanceView {
    InstanceView {
        account_sid: record.account_sid.clone(),
        conversations_default: record.conversations_default,
        flex_instance_sid: Some(record.flex_instance_sid.clone()),
        status: Some(record.status.clone()),
    }
}

fn show_opt(value: Option<bool>) -> String {
    value.map_or_else(|| "unset".to_owned(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Instance;
    use crate::state::{InstanceRecord, PendingCreate};

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const OTHER: &str = "ACffffffffffffffffffffffffffffffff";
    const SID: &str = "GO0123456789abcdef0123456789abcdef";
    const FOUND: &str = "GOaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn config(with_default: Option<bool>) -> Config {
        let conv = with_default.map_or(String::new(), |d| {
            format!("\n    conversations:\n      default: {d}")
        });
        Config::parse(&format!(
            "version: 1\ninstances:\n  a:\n    account_sid: {ACCOUNT}{conv}\n"
        ))
        .unwrap()
    }

    fn empty_config() -> Config {
        Config::parse("version: 1\ninstances: {}\n").unwrap()
    }

    fn state_with(origin: Origin, conversations_default: Option<bool>) -> State {
        let mut state = State::empty();
        state.instances.insert(
            "a".into(),
            InstanceRecord {
                account_sid: AccountSid::parse(ACCOUNT).unwrap(),
                conversations_default,
                date_created: None,
                date_updated: None,
                flex_instance_sid: InstanceSid::parse(SID).unwrap(),
                observed_at: None,
                origin,
                status: InstanceStatus::Ready,
            },
        );
        state
    }

    fn recorded() -> State {
        state_with(Origin::Created, None)
    }

    fn pending_state() -> State {
        let mut state = State::empty();
        state.pending.insert(
            "a".into(),
            PendingCreate {
                account_sid: AccountSid::parse(ACCOUNT).unwrap(),
                address: "flex_instance.a".into(),
                conversations_default: None,
                started_at: "2026-01-01T00:00:00Z".into(),
            },
        );
        state
    }

    fn fetched(status: &str, account: &str) -> Observations {
        let instance = Instance {
            flex_instance_sid: InstanceSid::parse(SID).unwrap(),
            account_sid: AccountSid::parse(account).unwrap(),
            status: InstanceStatus::parse(status),
            date_created: None,
            date_updated: None,
        };
        [(
            "a".to_owned(),
            Observation::Fetched(Fetched::Found(instance)),
        )]
        .into()
    }

    fn observed(o: Observation) -> Observations {
        [("a".to_owned(), o)].into()
    }

    /// The SID the first change will record.
    fn after_sid(p: &Plan) -> &str {
        let after = p.changes[0].after.as_ref().expect("a planned change");
        after.flex_instance_sid.as_ref().expect("a SID").as_str()
    }

    fn found() -> Observation {
        Observation::Discovered(Discovery::Found(InstanceSid::parse(FOUND).unwrap()))
    }

    /// (action, diagnostic kinds) of the plan for instance `a`.
    fn decide(
        config: &Config,
        state: &State,
        obs: &Observations,
    ) -> (Option<Action>, Vec<(Severity, DiagnosticKind)>) {
        let p = plan(config, state, obs);
        (
            p.changes.iter().find(|c| c.name == "a").map(|c| c.action),
            p.diagnostics.iter().map(|d| (d.severity, d.kind)).collect(),
        )
    }

    use DiagnosticKind as K;
    use Severity as S;

    #[test]
    fn no_sid_and_nothing_discovered_creates() {
        let obs = observed(Observation::Discovered(Discovery::None));
        assert_eq!(
            decide(&config(None), &State::empty(), &obs),
            (Some(Action::Create), vec![])
        );
        let obs = observed(Observation::Discovered(Discovery::Unavailable));
        assert_eq!(
            decide(&config(None), &State::empty(), &obs),
            (Some(Action::Create), vec![])
        );
    }

    #[test]
    fn no_sid_and_discovered_adopts_without_post() {
        let p = plan(&config(None), &State::empty(), &observed(found()));
        assert_eq!(p.changes[0].action, Action::Adopt);
        assert_eq!(after_sid(&p), FOUND);
        assert!(p.diagnostics.is_empty());
    }

    #[test]
    fn recorded_and_ready_is_a_silent_no_op() {
        assert_eq!(
            decide(&config(None), &recorded(), &fetched("ready", ACCOUNT)),
            (Some(Action::NoOp), vec![])
        );
    }

    #[test]
    fn recorded_and_provisioning_is_no_op_with_info() {
        assert_eq!(
            decide(
                &config(None),
                &recorded(),
                &fetched("creation-in-progress", ACCOUNT)
            ),
            (Some(Action::NoOp), vec![(S::Info, K::Provisioning)])
        );
    }

    #[test]
    fn recorded_but_gone_creates_with_drift() {
        for obs in [
            observed(Observation::Fetched(Fetched::NotFound)),
            fetched("deleted", ACCOUNT),
            fetched("deletion-in-progress", ACCOUNT),
        ] {
            assert_eq!(
                decide(&config(None), &recorded(), &obs),
                (Some(Action::Create), vec![(S::Warning, K::DeletedOutside)])
            );
        }
    }

    #[test]
    fn recorded_and_creation_failed_creates_with_drift() {
        assert_eq!(
            decide(
                &config(None),
                &recorded(),
                &fetched("creation-failed", ACCOUNT)
            ),
            (Some(Action::Create), vec![(S::Warning, K::CreationFailed)])
        );
    }

    #[test]
    fn recorded_instance_of_another_account_is_an_error() {
        let p = plan(&config(None), &recorded(), &fetched("ready", OTHER));
        assert!(p.has_errors());
        assert_eq!(p.diagnostics[0].kind, K::AccountMismatch);
        assert_eq!(p.changes[0].action, Action::NoOp);
    }

    #[test]
    fn record_on_another_account_than_configured_is_an_error() {
        let mut state = recorded();
        state.instances.get_mut("a").unwrap().account_sid = AccountSid::parse(OTHER).unwrap();
        let p = plan(&config(None), &state, &fetched("ready", ACCOUNT));
        assert_eq!(p.diagnostics[0].kind, K::AccountMismatch);
        assert!(p.has_errors());
    }

    #[test]
    fn odd_statuses_need_attention() {
        for status in ["deletion-failed", "unknown", "something-new"] {
            assert_eq!(
                decide(&config(None), &recorded(), &fetched(status, ACCOUNT)),
                (Some(Action::NoOp), vec![(S::Warning, K::NeedsAttention)]),
                "{status}"
            );
        }
    }

    #[test]
    fn orphan_stays_in_state_with_drift() {
        let p = plan(&empty_config(), &recorded(), &Observations::new());
        assert_eq!(p.changes[0].action, Action::NoOp);
        assert_eq!(p.changes[0].after, None);
        assert_eq!(p.diagnostics[0].kind, K::Orphaned);
        assert_eq!(p.summary().drift, 1);
    }

    #[test]
    fn changed_immutable_input_warns_but_does_nothing() {
        let state = state_with(Origin::Created, Some(false));
        assert_eq!(
            decide(&config(Some(true)), &state, &fetched("ready", ACCOUNT)),
            (
                Some(Action::NoOp),
                vec![(S::Warning, K::ImmutableInputChanged)]
            )
        );
        // The same value, or an adopted instance whose input is unknown: no warning.
        assert_eq!(
            decide(&config(Some(false)), &state, &fetched("ready", ACCOUNT)).1,
            vec![]
        );
        let adopted = state_with(Origin::Adopted, None);
        assert_eq!(
            decide(&config(Some(true)), &adopted, &fetched("ready", ACCOUNT)).1,
            vec![]
        );
    }

    #[test]
    fn pending_create_resolves_by_discovery() {
        assert_eq!(
            decide(&config(None), &pending_state(), &observed(found())),
            (Some(Action::Adopt), vec![])
        );
        assert_eq!(
            decide(
                &config(None),
                &pending_state(),
                &observed(Observation::Discovered(Discovery::None))
            ),
            (Some(Action::Create), vec![])
        );
    }

    #[test]
    fn pending_create_over_an_older_record_resolves_by_discovery() {
        // A recreate (after deleted_outside) was interrupted: the old SID is still recorded.
        let mut state = recorded();
        state.pending = pending_state().pending;
        let p = plan(&config(None), &state, &observed(found()));
        assert_eq!(p.changes[0].action, Action::Adopt);
        assert_eq!(after_sid(&p), FOUND);
        let p = plan(
            &config(None),
            &state,
            &observed(Observation::Discovered(Discovery::None)),
        );
        assert_eq!(p.changes[0].action, Action::Create);
        let p = plan(
            &config(None),
            &state,
            &observed(Observation::Discovered(Discovery::Unavailable)),
        );
        assert_eq!(p.diagnostics[0].kind, K::PendingCreateUnresolved);
    }

    #[test]
    fn pending_create_without_discovery_blocks() {
        let p = plan(
            &config(None),
            &pending_state(),
            &observed(Observation::Discovered(Discovery::Unavailable)),
        );
        assert_eq!(p.changes[0].action, Action::NoOp);
        assert_eq!(p.diagnostics[0].kind, K::PendingCreateUnresolved);
        assert!(p.diagnostics[0].message.contains("flexform import a"));
        assert!(p.diagnostics[0].message.contains("flexform state rm a"));
        assert!(p.has_errors());
    }

    #[test]
    fn observation_failure_is_an_error() {
        let p = plan(
            &config(None),
            &State::empty(),
            &observed(Observation::Failed("HTTP 500".into())),
        );
        assert!(p.has_errors());
        assert_eq!(p.changes[0].action, Action::NoOp);
    }

    #[test]
    fn summary_counts() {
        let p = plan(
            &config(None),
            &State::empty(),
            &observed(Observation::Discovered(Discovery::None)),
        );
        assert_eq!(
            p.summary(),
            Summary {
                create: 1,
                adopt: 0,
                no_op: 0,
                drift: 0
            }
        );
        assert!(p.has_changes());
    }
}
