//! The planner: a pure function from (desired, state, observed) to a [`Plan`].
//!
//! No IO happens here: observation is finished before this runs, and `apply` only carries out
//! what the plan says. Each row of the decision table is a unit test below.

use super::model::{
    address, Action, Diagnostic, DiagnosticKind, InstanceView, Plan, ResourceChange, Severity,
};
use crate::observe::{Observation, Observations};
use std::collections::{BTreeMap, HashMap};

use crate::config::{Config, InstanceSpec};
use crate::domain::sid::AccountSid;
use crate::domain::{Discovery, Fetched, InstanceStatus};
use crate::state::{InstanceRecord, Origin, PendingCreate, State};

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

    let moves = renames(desired, state, observed);
    let mut out = Plan::default();
    for name in names {
        let record = state.instances.get(name);
        let pending = state.pending.get(name);
        let observation = observed.get(name.as_str()).unwrap_or(&Observation::Skipped);
        if moves.values().any(|old| *old == name) {
            // Recorded under an old name that now moves: decided with the new name.
            continue;
        }
        let decision = match (desired.instances.get(name), moves.get(name)) {
            (Some(spec), Some(old)) => {
                decide_move(name, spec, old, &state.instances[*old], observation)
            }
            (None, _) => decide_orphan(name, record, pending, observation, desired),
            (Some(spec), None) => decide_configured(name, spec, record, pending, observation),
        };
        out.changes.extend(decision.change);
        out.diagnostics.extend(decision.diagnostics);
    }
    one_address_per_instance(&mut out, state);
    out
}

/// What one name will hold once the plan is applied: its SID (if known) and account, and
/// whether this plan is what records it (an adopt, a create or a move).
struct Holding {
    name: String,
    sid: Option<String>,
    account: String,
    introduced: bool,
}

/// An instance has one address, and so does an account: a change that would record a SID or
/// an account another name holds (a record that stays, or another change of this plan) is
/// blocked, with an error naming both addresses and the way out. Whatever led to it (an
/// interrupted create, a rename that is not one, a target), the state never gets two names
/// for one instance.
fn one_address_per_instance(out: &mut Plan, state: &State) {
    let holdings: Vec<Holding> = out
        .changes
        .iter()
        .filter_map(|change| {
            let introduced = matches!(change.action, Action::Adopt | Action::Create | Action::Move);
            let (sid, account) = match (&change.after, state.instances.get(&change.name)) {
                (Some(after), _) => (
                    after
                        .flex_instance_sid
                        .as_ref()
                        .map(|s| s.as_str().to_ascii_lowercase()),
                    after.account_sid.as_str().to_ascii_lowercase(),
                ),
                // An orphan keeps its record until someone removes it.
                (None, Some(record)) => (
                    Some(record.flex_instance_sid.as_str().to_ascii_lowercase()),
                    record.account_sid.as_str().to_ascii_lowercase(),
                ),
                (None, None) => return None,
            };
            Some(Holding {
                name: change.name.clone(),
                sid,
                account,
                introduced,
            })
        })
        .collect();
    // Indexed by account and by SID: one pass, however large the estate.
    let mut by_account: HashMap<&str, Vec<&Holding>> = HashMap::new();
    let mut by_sid: HashMap<&str, Vec<&Holding>> = HashMap::new();
    for held in &holdings {
        by_account.entry(&held.account).or_default().push(held);
        if let Some(sid) = &held.sid {
            by_sid.entry(sid).or_default().push(held);
        }
    }
    let mut blocked = Vec::new();
    for held in holdings.iter().filter(|h| h.introduced) {
        let same_account = by_account.get(held.account.as_str());
        let same_sid = held.sid.as_deref().and_then(|sid| by_sid.get(sid));
        let clash = same_account
            .into_iter()
            .chain(same_sid)
            .flatten()
            .find(|other| other.name != held.name);
        if let Some(other) = clash {
            blocked.push((held.name.clone(), other.name.clone(), other.introduced));
        }
    }
    for (name, other, other_introduced) in blocked {
        let change = out
            .changes
            .iter_mut()
            .find(|c| c.name == name)
            .expect("a holding comes from a change");
        let what = match change
            .after
            .as_ref()
            .and_then(|a| a.flex_instance_sid.as_ref())
        {
            Some(sid) => format!("{sid} (account {})", change.account_sid),
            None => format!("a new instance on account {}", change.account_sid),
        };
        // A holding this plan does not introduce is a record that stays.
        let held_as = match (other_introduced, state.instances.get(&other)) {
            (false, Some(record)) => format!(
                "the state records {} on account {} as {}",
                record.flex_instance_sid,
                record.account_sid,
                address(&other)
            ),
            _ => format!(
                "this plan also records that instance or account as {}",
                address(&other)
            ),
        };
        let way_out = if other_introduced {
            "decide which name it belongs to: record it there with `flexform import NAME SID`, and forget the other with `flexform state rm`".to_owned()
        } else {
            format!(
                "if it is the same instance under a new name, run `flexform state mv {other} {name}`{}; if that record is stale, `flexform state rm {other}`",
                if state.pending.contains_key(&name) {
                    format!(" after `flexform state rm {name}` (which forgets {name}'s interrupted create)")
                } else {
                    String::new()
                }
            )
        };
        let message = format!(
            "{} would record {what}, but {held_as}: an instance and an account have one address. To go on, {way_out}",
            address(&name)
        );
        change.action = Action::Unchanged;
        change.reason = Some(format!(
            "blocked: {} holds that instance or account",
            address(&other)
        ));
        change.after = change.before.clone();
        change.moved_from = None;
        out.diagnostics.push(Diagnostic {
            severity: Severity::Error,
            kind: DiagnosticKind::AlreadyRecorded,
            address: address(&name),
            message,
        });
    }
    // In name order, as every other finding (stable: a name's own findings keep their order).
    out.diagnostics.sort_by(|a, b| a.address.cmp(&b.address));
}

/// Renames, new name to old: a configured name with nothing recorded (no record, no pending
/// create) and a recorded name no longer configured, on the same account. Terraform's `moved`:
/// the record changes its name, nothing is created or adopted, nothing is orphaned.
///
/// What discovery saw on the account decides too: a failed look, or another instance than the
/// recorded one, is not a rename (the old name stays an orphan, and the new one is planned on
/// its own, where the one-address rule blocks it).
fn renames<'a>(
    desired: &'a Config,
    state: &'a State,
    observed: &Observations,
) -> BTreeMap<&'a String, &'a String> {
    desired
        .instances
        .iter()
        .filter(|(name, _)| {
            !state.instances.contains_key(*name) && !state.pending.contains_key(*name)
        })
        .filter(|(name, _)| !matches!(observed.get(name.as_str()), Some(Observation::Failed(_))))
        .filter_map(|(name, spec)| {
            state
                .instances
                .iter()
                .find(|(old, record)| {
                    !desired.instances.contains_key(*old)
                        && !state.pending.contains_key(*old)
                        && same_account(&record.account_sid, &spec.account_sid)
                        && !matches!(
                            observed.get(name.as_str()),
                            Some(Observation::Discovered(Discovery::Found(found)))
                                if !found.as_str().eq_ignore_ascii_case(record.flex_instance_sid.as_str())
                        )
                })
                .map(|(old, _)| (name, old))
        })
        .collect()
}

/// A rename: the record of `old` moves to `name`, as it is. Discovery on the account (the new
/// name is observed as an unrecorded one) found the recorded instance, or could not tell
/// (404), or found nothing: then the instance was deleted outside flexform, which is reported
/// as drift; the record still moves, and the next plan checks it by its SID. (A failed look,
/// or another instance found, is not a rename: see [`renames`].)
fn decide_move(
    name: &str,
    spec: &InstanceSpec,
    old: &str,
    record: &InstanceRecord,
    observation: &Observation,
) -> Decision {
    let mut decision = Decision::new(name);
    let view = view_of_record(record);
    let sid = &record.flex_instance_sid;
    if let Observation::Discovered(Discovery::None) = observation {
        decision.note(
            Severity::Drift,
            DiagnosticKind::DeletedOutside,
            format!(
                "{sid} (recorded as {}) was not found on {} by discovery: it was deleted outside flexform. The move records it under the new name as it is; the next plan checks it by its SID and proposes a create",
                address(old),
                spec.account_sid
            ),
        );
    }
    decision.change = Some(ResourceChange {
        address: decision.address.clone(),
        name: name.to_owned(),
        account_sid: spec.account_sid.clone(),
        action: Action::Move,
        reason: Some(format!("renamed from {}", address(old))),
        before: Some(view.clone()),
        after: Some(view),
        moved_from: Some(address(old)),
        configuration: Vec::new(),
        record_configuration: None,
        release: None,
        record_release: None,
    });
    decision
}

/// The decision for one instance name: at most one change, and what the reader should know.
struct Decision {
    address: String,
    change: Option<ResourceChange>,
    diagnostics: Vec<Diagnostic>,
}

impl Decision {
    fn new(name: &str) -> Self {
        Self {
            address: address(name),
            change: None,
            diagnostics: Vec::new(),
        }
    }

    fn note(&mut self, severity: Severity, kind: DiagnosticKind, message: String) {
        debug_assert_eq!(
            severity == Severity::Drift,
            kind.is_drift(),
            "drift kinds, and only they, have severity drift: {kind:?}"
        );
        self.diagnostics.push(Diagnostic {
            severity,
            kind,
            address: self.address.clone(),
            message,
        });
    }
}

/// In the state only: Flex instances cannot be deleted through the API, so a record stays
/// until someone forgets it on purpose. An interrupted create under a name no longer
/// configured (renamed, removed) is still resolved on the account it was made for: flexform
/// never loses an instance it created, and never creates next to one still in flight.
fn decide_orphan(
    name: &str,
    record: Option<&InstanceRecord>,
    pending: Option<&PendingCreate>,
    observation: &Observation,
    desired: &Config,
) -> Decision {
    let mut decision = Decision::new(name);
    if let Some(pending) = pending {
        let account = &pending.account_sid;
        let claimed = desired
            .instances
            .values()
            .any(|spec| same_account(&spec.account_sid, account));
        match observation {
            Observation::PendingElsewhere {
                made: Discovery::Found(sid),
                ..
            } if !claimed => {
                decision.note(
                    Severity::Drift,
                    DiagnosticKind::Orphaned,
                    format!(
                        "an interrupted create on {account} took effect as {sid}; it is recorded under `{name}`, which is no longer in the configuration. Put `{name}` back in the configuration, or run `flexform state rm {name}` afterwards to forget it (the instance itself is untouched)"
                    ),
                );
                decision.change = Some(ResourceChange {
                    address: decision.address.clone(),
                    name: name.to_owned(),
                    account_sid: account.clone(),
                    action: Action::Adopt,
                    reason: Some(
                        "an interrupted create did take effect: found by discovery".to_owned(),
                    ),
                    before: record.map(view_of_record),
                    after: Some(InstanceView {
                        account_sid: account.clone(),
                        conversations_default: pending.conversations_default,
                        flex_instance_sid: Some(sid.clone()),
                        status: None,
                    }),
                    moved_from: None,
                    configuration: Vec::new(),
                    record_configuration: None,
                    release: None,
                    record_release: None,
                });
                return decision;
            }
            // The configured instance on that account adopts it, which resolves this record.
            Observation::PendingElsewhere {
                made: Discovery::Found(sid),
                ..
            } => decision.note(
                Severity::Drift,
                DiagnosticKind::Orphaned,
                format!(
                    "an interrupted create on {account} under `{name}` (no longer in the configuration) took effect as {sid}; the instance configured on that account adopts it, which clears this record. If that instance is already recorded, run `flexform state rm {name}`"
                ),
            ),
            Observation::PendingElsewhere {
                made: Discovery::Unavailable,
                ..
            } => decision.note(
                Severity::Error,
                DiagnosticKind::PendingCreateUnresolved,
                format!(
                    "a create for {account} started at {} under `{name}` (no longer in the configuration) was interrupted, and discovery is not available for that account, so flexform cannot tell whether it took effect. If the account has a Flex instance, record it with `flexform import`; if not, run `flexform state rm {name}`",
                    pending.started_at
                ),
            ),
            Observation::Failed(message) => decision.note(
                Severity::Error,
                DiagnosticKind::ObserveFailed,
                format!(
                    "could not resolve the interrupted create on {account} under `{name}` (no longer in the configuration): {message}"
                ),
            ),
            _ => decision.note(
                Severity::Drift,
                DiagnosticKind::Orphaned,
                format!(
                    "an interrupted create on {account} that did not take effect is recorded for an instance no longer in the configuration; run `flexform state rm {name}` to forget it"
                ),
            ),
        }
    }
    if let Some(record) = record {
        decision.note(
            Severity::Drift,
            DiagnosticKind::Orphaned,
            format!(
                "{} is recorded in the state but no longer in the configuration; Flex instances cannot be deleted through the API. Put it back in the configuration, or run `flexform state rm {name}` to forget it (the instance itself is untouched)",
                record.flex_instance_sid
            ),
        );
        decision.change = Some(ResourceChange {
            address: decision.address.clone(),
            name: name.to_owned(),
            account_sid: record.account_sid.clone(),
            action: Action::Unchanged,
            reason: Some("orphaned: not in the configuration".to_owned()),
            before: Some(view_of_record(record)),
            after: None,
            moved_from: None,
            configuration: Vec::new(),
            record_configuration: None,
            release: None,
            record_release: None,
        });
    }
    decision
}

/// Account SIDs are hex: the same account whatever the case of its digits.
fn same_account(a: &AccountSid, b: &AccountSid) -> bool {
    a.as_str().eq_ignore_ascii_case(b.as_str())
}

/// A configured instance: what was observed decides, after the checks that block any change.
fn decide_configured(
    name: &str,
    spec: &InstanceSpec,
    record: Option<&InstanceRecord>,
    pending: Option<&PendingCreate>,
    observation: &Observation,
) -> Decision {
    let mut decision = Decision::new(name);
    let mut change = ResourceChange {
        address: decision.address.clone(),
        name: name.to_owned(),
        account_sid: spec.account_sid.clone(),
        action: Action::Unchanged,
        reason: None,
        before: record.map(view_of_record),
        after: None,
        moved_from: None,
        configuration: Vec::new(),
        record_configuration: None,
        release: None,
        record_release: None,
    };
    match (record, observation) {
        (_, Observation::Failed(message)) => {
            decision.note(
                Severity::Error,
                DiagnosticKind::ObserveFailed,
                format!("could not observe {}: {message}", decision.address),
            );
            change.reason = Some(format!("could not be observed: {message}"));
            change.after = change.before.clone();
        }
        // An interrupted create made for another account is resolved there first.
        (_, Observation::PendingElsewhere { made, configured }) => match pending {
            Some(pending) => decide_pending_elsewhere(
                &mut decision,
                &mut change,
                spec,
                pending,
                made,
                configured,
            ),
            None => decision.note(
                Severity::Error,
                DiagnosticKind::ObserveFailed,
                format!("{} was not observed", decision.address),
            ),
        },
        (Some(record), _) if record.account_sid != spec.account_sid => {
            decision.note(
                Severity::Error,
                DiagnosticKind::AccountMismatch,
                format!(
                    "the state records {} on account {}, but the configuration names account {}; an instance cannot move between accounts. Restore the account_sid, or run `flexform state rm {name}` to forget the old instance and create one on the new account",
                    record.flex_instance_sid, record.account_sid, spec.account_sid
                ),
            );
            change.reason =
                Some("blocked: the recorded account differs from the configuration".to_owned());
            change.after = change.before.clone();
        }
        // No SID recorded, or a create was interrupted (even over an older record): what
        // discovery says decides, so that an interrupted create is never sent twice.
        (_, Observation::Discovered(discovery)) if pending.is_some() || record.is_none() => {
            decide_unrecorded(&mut decision, &mut change, spec, pending, discovery);
        }
        (Some(record), Observation::Fetched(fetched)) => {
            decide_recorded(&mut decision, &mut change, spec, record, fetched);
        }
        _ => {
            // The observer fetches recorded SIDs and discovers the rest (and interrupted
            // creates); anything else is a bug upstream, reported rather than guessed at.
            decision.note(
                Severity::Error,
                DiagnosticKind::ObserveFailed,
                format!("{} was not observed", decision.address),
            );
            change.after = change.before.clone();
        }
    }
    decision.change = Some(change);
    decision
}

/// An interrupted create made for account X while the configuration now names Y: what it came
/// to on X decides first. Found: it is recorded on X (an instance never moves between
/// accounts) and the mismatch is reported. Nothing: Y is planned as any unrecorded instance.
fn decide_pending_elsewhere(
    decision: &mut Decision,
    change: &mut ResourceChange,
    spec: &InstanceSpec,
    pending: &PendingCreate,
    made: &Discovery,
    configured: &Option<Discovery>,
) {
    let made_on = &pending.account_sid;
    match (made, configured) {
        (Discovery::Found(sid), _) => {
            decision.note(
                Severity::Warning,
                DiagnosticKind::AccountMismatch,
                format!(
                    "an interrupted create on {made_on} took effect as {sid}, but the configuration now names account {}; {sid} is recorded on {made_on} as it is (an instance cannot move between accounts). Then restore the account_sid, or run `flexform state rm {}` and apply again to create one on {}",
                    spec.account_sid, change.name, spec.account_sid
                ),
            );
            change.account_sid = made_on.clone();
            change.action = Action::Adopt;
            change.reason = Some(format!(
                "an interrupted create on {made_on} did take effect: found by discovery"
            ));
            change.after = Some(InstanceView {
                account_sid: made_on.clone(),
                conversations_default: pending.conversations_default,
                flex_instance_sid: Some(sid.clone()),
                status: None,
            });
        }
        (Discovery::Unavailable, _) => decide_unrecorded(
            decision,
            change,
            spec,
            Some(pending),
            &Discovery::Unavailable,
        ),
        (Discovery::None, Some(discovery)) => {
            decide_unrecorded(decision, change, spec, None, discovery)
        }
        (Discovery::None, None) => decision.note(
            Severity::Error,
            DiagnosticKind::ObserveFailed,
            format!(
                "{} was not observed on {}",
                decision.address, spec.account_sid
            ),
        ),
    }
}

/// What `conversations.default` etc. will be once apply has created the instance.
fn view_after_create(spec: &InstanceSpec) -> InstanceView {
    InstanceView {
        account_sid: spec.account_sid.clone(),
        conversations_default: spec.conversations_default(),
        flex_instance_sid: None,
        status: None,
    }
}

/// No usable record (none, or an interrupted create): adopt what discovery found, create when
/// it found nothing, or block when an interrupted create cannot be resolved.
fn decide_unrecorded(
    decision: &mut Decision,
    change: &mut ResourceChange,
    spec: &InstanceSpec,
    pending: Option<&PendingCreate>,
    discovery: &Discovery,
) {
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
                ..view_after_create(spec)
            });
        }
        (Discovery::Unavailable, Some(p)) => {
            let name = &change.name;
            decision.note(
                Severity::Error,
                DiagnosticKind::PendingCreateUnresolved,
                format!(
                    "a create for {} started at {} was interrupted and discovery is not available for this account, so flexform cannot tell whether it took effect. If the account has a Flex instance, run `flexform import {name} GO…` with its SID; if it has none, run `flexform state rm {name}` and apply again",
                    p.account_sid, p.started_at
                ),
            );
            change.reason = Some("blocked: an interrupted create cannot be resolved".to_owned());
        }
        (Discovery::None, _) => {
            change.action = Action::Create;
            change.reason = Some(if pending.is_some() {
                "an interrupted create did not take effect".to_owned()
            } else {
                "no instance on the account".to_owned()
            });
            change.after = Some(view_after_create(spec));
        }
        (Discovery::Unavailable, None) => {
            change.action = Action::Create;
            change.reason =
                Some("discovery unavailable: no existing instance could be checked".to_owned());
            change.after = Some(view_after_create(spec));
            decision.note(
                Severity::Info,
                DiagnosticKind::DiscoveryUnavailable,
                format!(
                    "discovery (GET /v1/Configuration) answered 404 for {}, so flexform could not check for an existing instance; if the account has one, Twilio refuses the create (409) and the next plan adopts it, or record it now with `flexform import {} GO…`",
                    spec.account_sid, change.name
                ),
            );
        }
    }
}

/// A recorded instance fetched by its SID: its status decides.
fn decide_recorded(
    decision: &mut Decision,
    change: &mut ResourceChange,
    spec: &InstanceSpec,
    record: &InstanceRecord,
    fetched: &Fetched,
) {
    let found = match fetched {
        Fetched::Found(instance) => Some(instance),
        Fetched::NotFound => None,
    };
    if let Some(instance) = found.filter(|i| i.account_sid != spec.account_sid) {
        decision.note(
            Severity::Error,
            DiagnosticKind::AccountMismatch,
            format!(
                "{} belongs to account {}, not {} as configured; check the state file and account_sid",
                instance.flex_instance_sid, instance.account_sid, spec.account_sid
            ),
        );
        change.reason = Some("blocked: the instance belongs to another account".to_owned());
        change.after = change.before.clone();
        return;
    }
    let status = found.map(|i| i.status.clone());
    let current = InstanceView {
        status: status.clone(),
        ..view_of_record(record)
    };
    let sid = &record.flex_instance_sid;
    match status {
        Some(InstanceStatus::Ready) => change.after = Some(current),
        Some(InstanceStatus::CreationInProgress) => {
            decision.note(
                Severity::Info,
                DiagnosticKind::Provisioning,
                format!("{sid} is still being provisioned (creation-in-progress)"),
            );
            change.after = Some(current);
        }
        None | Some(InstanceStatus::Deleted) | Some(InstanceStatus::DeletionInProgress) => {
            let seen = status.as_ref().map_or("not found (404)", |s| s.as_str());
            decision.note(
                Severity::Drift,
                DiagnosticKind::DeletedOutside,
                format!(
                    "{sid} was deleted outside flexform (status: {seen}); apply will create a new instance"
                ),
            );
            change.action = Action::Create;
            change.reason = Some(format!("recorded instance {seen}"));
            change.before = Some(current);
            change.after = Some(view_after_create(spec));
        }
        Some(InstanceStatus::CreationFailed) => {
            decision.note(
                Severity::Drift,
                DiagnosticKind::CreationFailed,
                format!(
                    "provisioning of {sid} failed (creation-failed); apply will create a new instance"
                ),
            );
            change.action = Action::Create;
            change.reason = Some("recorded instance creation-failed".to_owned());
            change.before = Some(current);
            change.after = Some(view_after_create(spec));
        }
        Some(other) => {
            decision.note(
                Severity::Warning,
                DiagnosticKind::NeedsAttention,
                format!(
                    "{sid} has status {other}; flexform leaves it alone. Check it in the Twilio console"
                ),
            );
            change.after = Some(current);
        }
    }
    if change.action == Action::Unchanged
        && record.origin == Origin::Created
        && record.conversations_default != spec.conversations_default()
    {
        decision.note(
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

fn view_of_record(record: &InstanceRecord) -> InstanceView {
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
    use crate::domain::sid::InstanceSid;
    use crate::domain::Instance;
    use crate::plan::Summary;

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
                configuration: None,
                plugins: None,
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
                in_flight_until: None,
                clock: None,
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
        // Without discovery, the plan says it could not check for an existing instance.
        let obs = observed(Observation::Discovered(Discovery::Unavailable));
        assert_eq!(
            decide(&config(None), &State::empty(), &obs),
            (
                Some(Action::Create),
                vec![(S::Info, K::DiscoveryUnavailable)]
            )
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
            (Some(Action::Unchanged), vec![])
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
            (Some(Action::Unchanged), vec![(S::Info, K::Provisioning)])
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
                (Some(Action::Create), vec![(S::Drift, K::DeletedOutside)])
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
            (Some(Action::Create), vec![(S::Drift, K::CreationFailed)])
        );
    }

    #[test]
    fn recorded_instance_of_another_account_is_an_error() {
        let p = plan(&config(None), &recorded(), &fetched("ready", OTHER));
        assert!(p.has_errors());
        assert_eq!(p.diagnostics[0].kind, K::AccountMismatch);
        assert_eq!(p.changes[0].action, Action::Unchanged);
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
                (
                    Some(Action::Unchanged),
                    vec![(S::Warning, K::NeedsAttention)]
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn orphan_stays_in_state_with_drift() {
        let p = plan(&empty_config(), &recorded(), &Observations::new());
        assert_eq!(p.changes[0].action, Action::Unchanged);
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
                Some(Action::Unchanged),
                vec![(S::Warning, K::ImmutableInputChanged)]
            )
        );
        // The message names both values; an input left out reads as `unset`.
        let p = plan(&config(Some(true)), &state, &fetched("ready", ACCOUNT));
        assert!(
            p.diagnostics[0].message.starts_with(
                "conversations.default is true in the configuration but was false at creation"
            ),
            "{}",
            p.diagnostics[0].message
        );
        let p = plan(&config(None), &state, &fetched("ready", ACCOUNT));
        assert!(
            p.diagnostics[0]
                .message
                .starts_with("conversations.default is unset in the configuration but was false"),
            "{}",
            p.diagnostics[0].message
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
        assert_eq!(p.changes[0].action, Action::Unchanged);
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
        assert_eq!(p.changes[0].action, Action::Unchanged);
        assert_eq!(
            p.changes[0].reason.as_deref(),
            Some("could not be observed: HTTP 500")
        );
        assert_eq!(
            p.diagnostics[0].message,
            "could not observe flex_instance.a: HTTP 500"
        );
    }

    /// A pending create for `a` made on `account`.
    fn pending_on(account: &str) -> State {
        let mut state = pending_state();
        state.pending.get_mut("a").unwrap().account_sid = AccountSid::parse(account).unwrap();
        state
    }

    fn elsewhere(made: Discovery, configured: Option<Discovery>) -> Observations {
        observed(Observation::PendingElsewhere { made, configured })
    }

    fn found_sid() -> Discovery {
        Discovery::Found(InstanceSid::parse(FOUND).unwrap())
    }

    #[test]
    fn a_create_interrupted_on_the_old_account_is_adopted_there_and_the_mismatch_reported() {
        // `a` now names ACCOUNT; the interrupted create was made for OTHER and took effect.
        let p = plan(
            &config(None),
            &pending_on(OTHER),
            &elsewhere(found_sid(), None),
        );
        let change = &p.changes[0];
        assert_eq!(change.action, Action::Adopt);
        assert_eq!(
            change.account_sid.as_str(),
            OTHER,
            "recorded where it was made"
        );
        assert_eq!(after_sid(&p), FOUND);
        assert_eq!(change.after.as_ref().unwrap().account_sid.as_str(), OTHER);
        assert_eq!(p.diagnostics.len(), 1);
        assert_eq!(p.diagnostics[0].kind, K::AccountMismatch);
        assert_eq!(p.diagnostics[0].severity, S::Warning, "apply may record it");
        assert!(
            p.diagnostics[0].message.contains(OTHER),
            "{:?}",
            p.diagnostics
        );
    }

    #[test]
    fn a_create_that_did_not_take_effect_on_the_old_account_plans_the_configured_one() {
        let p = plan(
            &config(None),
            &pending_on(OTHER),
            &elsewhere(Discovery::None, Some(Discovery::None)),
        );
        assert_eq!(p.changes[0].action, Action::Create);
        assert_eq!(p.changes[0].account_sid.as_str(), ACCOUNT);
        assert!(p.diagnostics.is_empty());
        let p = plan(
            &config(None),
            &pending_on(OTHER),
            &elsewhere(Discovery::None, Some(found_sid())),
        );
        assert_eq!(p.changes[0].action, Action::Adopt);
        assert_eq!(p.changes[0].account_sid.as_str(), ACCOUNT);
        let p = plan(
            &config(None),
            &pending_on(OTHER),
            &elsewhere(Discovery::Unavailable, None),
        );
        assert_eq!(p.diagnostics[0].kind, K::PendingCreateUnresolved);
        assert!(p.has_errors());
    }

    #[test]
    fn a_create_interrupted_under_a_name_no_longer_configured_is_resolved_on_its_account() {
        // Renamed away, nothing configured on its account: what it made is recorded there.
        let p = plan(
            &empty_config(),
            &pending_on(OTHER),
            &elsewhere(found_sid(), None),
        );
        assert_eq!(p.changes[0].action, Action::Adopt);
        assert_eq!(p.changes[0].name, "a");
        assert_eq!(p.changes[0].account_sid.as_str(), OTHER);
        assert_eq!(p.diagnostics[0].kind, K::Orphaned);
        // Renamed to `b` on the same account: `b` adopts it, and `a` plans nothing itself.
        let renamed = Config::parse(&format!(
            "version: 1\ninstances:\n  b:\n    account_sid: {OTHER}\n"
        ))
        .unwrap();
        let mut obs = elsewhere(found_sid(), None);
        obs.insert("b".into(), found());
        let p = plan(&renamed, &pending_on(OTHER), &obs);
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].name, "b");
        assert_eq!(p.changes[0].action, Action::Adopt);
        assert_eq!(p.diagnostics.len(), 1, "{:?}", p.diagnostics);
        assert_eq!(p.diagnostics[0].kind, K::Orphaned);
        assert!(!p.has_errors());
        // Still in flight, or unreadable: the plan is blocked, so `b` cannot create beside it.
        let mut obs = observed(Observation::Failed("may still be in flight".into()));
        obs.insert("b".into(), Observation::Discovered(Discovery::None));
        let p = plan(&renamed, &pending_on(OTHER), &obs);
        assert!(p.has_errors());
        assert!(
            p.diagnostics[0].message.contains("under `a`"),
            "{:?}",
            p.diagnostics
        );
        // Did not take effect: only a reminder to forget it.
        let p = plan(
            &empty_config(),
            &pending_on(OTHER),
            &elsewhere(Discovery::None, None),
        );
        assert!(p.changes.is_empty());
        assert_eq!(p.diagnostics[0].kind, K::Orphaned);
        assert!(!p.has_errors());
    }

    #[test]
    fn a_rename_on_the_same_account_is_one_move_and_nothing_else() {
        let renamed = Config::parse(&format!(
            "version: 1\ninstances:\n  b:\n    account_sid: {ACCOUNT}\n"
        ))
        .unwrap();
        let still_there =
            Observation::Discovered(Discovery::Found(InstanceSid::parse(SID).unwrap()));
        let p = plan(
            &renamed,
            &recorded(),
            &[("b".to_owned(), still_there)].into(),
        );
        assert_eq!(p.changes.len(), 1, "{p:?}");
        let change = &p.changes[0];
        assert_eq!(change.action, Action::Move);
        assert_eq!(change.address, "flex_instance.b");
        assert_eq!(change.moved_from.as_deref(), Some("flex_instance.a"));
        assert_eq!(after_sid(&p), SID, "the record moves as it is");
        assert!(p.diagnostics.is_empty(), "no orphan: {:?}", p.diagnostics);
        assert_eq!(p.summary().moved, 1);
        // Another account: not a rename, but an orphan and a new instance.
        let elsewhere = Config::parse(&format!(
            "version: 1\ninstances:\n  b:\n    account_sid: {OTHER}\n"
        ))
        .unwrap();
        let p = plan(
            &elsewhere,
            &recorded(),
            &[("b".to_owned(), Observation::Discovered(Discovery::None))].into(),
        );
        assert!(p.changes.iter().all(|c| c.action != Action::Move));
        assert_eq!(p.diagnostics[0].kind, K::Orphaned);
    }

    /// A move looks at what discovery saw under the new name: gone is drift (the record still
    /// moves, as it is), "unavailable" moves; a failed look or another instance found is not
    /// a rename: the old name stays an orphan and the new one is blocked or fails on its own.
    #[test]
    fn a_move_reports_what_discovery_saw_on_the_account() {
        let renamed = Config::parse(&format!(
            "version: 1\ninstances:\n  b:\n    account_sid: {ACCOUNT}\n"
        ))
        .unwrap();
        let seen = |o: Observation| {
            let p = plan(&renamed, &recorded(), &[("b".to_owned(), o)].into());
            let b = p.changes.iter().find(|c| c.name == "b").unwrap().clone();
            let kinds: Vec<_> = p
                .diagnostics
                .iter()
                .map(|d| (d.address.clone(), d.severity, d.kind))
                .collect();
            (b, kinds, p)
        };
        let b = |kind| ("flex_instance.b".to_owned(), Severity::Drift, kind);
        let (change, kinds, p) = seen(Observation::Discovered(Discovery::None));
        assert_eq!(change.action, Action::Move);
        assert_eq!(kinds, vec![b(K::DeletedOutside)]);
        assert!(p.diagnostics[0].message.contains(SID), "{p:?}");
        assert_eq!(p.summary().drift, 1);
        let (change, kinds, _) = seen(Observation::Discovered(Discovery::Unavailable));
        assert_eq!(change.action, Action::Move);
        assert!(kinds.is_empty());

        // Another instance on the account: `a` stays an orphan, `b`'s adopt is blocked (the
        // account is recorded as `a`), nothing is recorded twice.
        let (change, kinds, p) = seen(found());
        assert_eq!(change.action, Action::Unchanged, "{p:?}");
        assert_eq!(change.moved_from, None);
        assert_eq!(
            kinds,
            vec![
                ("flex_instance.a".to_owned(), Severity::Drift, K::Orphaned),
                (
                    "flex_instance.b".to_owned(),
                    Severity::Error,
                    K::AlreadyRecorded
                ),
            ]
        );
        assert!(
            p.changes.iter().any(|c| c.name == "a"),
            "the orphan keeps its row"
        );
        // A failed look: no move either; `b` fails, `a` stays.
        let (change, kinds, p) = seen(Observation::Failed("HTTP 401".into()));
        assert_eq!(change.action, Action::Unchanged);
        assert_eq!(change.moved_from, None);
        assert!(kinds.contains(&(
            "flex_instance.b".to_owned(),
            Severity::Error,
            K::ObserveFailed
        )));
        assert!(kinds.contains(&("flex_instance.a".to_owned(), Severity::Drift, K::Orphaned)));
        assert!(p.has_errors());
    }

    /// Two changes of one plan never record one instance or one account twice: an
    /// interrupted create that took effect on its old account, and a name now configured on
    /// that account, both finding it, are both blocked; a create on an account an orphan
    /// record still holds (it cannot move: it has an interrupted create) is blocked too.
    #[test]
    fn one_plan_never_records_an_instance_or_an_account_under_two_names() {
        let config = Config::parse(&format!(
            "version: 1\ninstances:\n  b:\n    account_sid: {OTHER}\n  c:\n    account_sid: {ACCOUNT}\n"
        ))
        .unwrap();
        let mut state = State::empty();
        let mut pending = pending_state().pending["a"].clone();
        pending.address = "flex_instance.b".into();
        state.pending.insert("b".into(), pending);
        let observed: Observations = [
            (
                "b".to_owned(),
                Observation::PendingElsewhere {
                    made: found_sid(),
                    configured: None,
                },
            ),
            ("c".to_owned(), found()),
        ]
        .into();
        let p = plan(&config, &state, &observed);
        assert_eq!(p.summary().adopt, 0, "{p:?}");
        let blocked: Vec<_> = p
            .diagnostics
            .iter()
            .filter(|d| d.kind == K::AlreadyRecorded)
            .map(|d| d.address.as_str())
            .collect();
        assert_eq!(blocked, ["flex_instance.b", "flex_instance.c"], "{p:?}");
        assert!(p.has_errors());
        for d in p
            .diagnostics
            .iter()
            .filter(|d| d.kind == K::AlreadyRecorded)
        {
            assert!(
                d.message.contains("this plan also records") && d.message.contains("import"),
                "{}",
                d.message
            );
        }
        // The changes blocked record nothing.
        assert!(p.changes.iter().all(|c| c.after.is_none()), "{p:?}");

        // An orphan record with an interrupted create of its own holds its account.
        let mut state = recorded();
        state
            .pending
            .insert("a".into(), pending_state().pending["a"].clone());
        let config = Config::parse(&format!(
            "version: 1\ninstances:\n  c:\n    account_sid: {ACCOUNT}\n"
        ))
        .unwrap();
        let observed: Observations = [
            (
                "a".to_owned(),
                Observation::PendingElsewhere {
                    made: Discovery::None,
                    configured: None,
                },
            ),
            ("c".to_owned(), Observation::Discovered(Discovery::None)),
        ]
        .into();
        let p = plan(&config, &state, &observed);
        let c = p.changes.iter().find(|c| c.name == "c").unwrap();
        assert_eq!(
            c.action,
            Action::Unchanged,
            "no create beside a record: {p:?}"
        );
        let d = p
            .diagnostics
            .iter()
            .find(|d| d.address == "flex_instance.c")
            .unwrap();
        assert_eq!(d.kind, K::AlreadyRecorded);
        assert!(d.message.contains("state rm a"), "{}", d.message);
        assert!(
            d.message.contains(&format!(
                "the state records {SID} on account {ACCOUNT} as flex_instance.a"
            )),
            "{}",
            d.message
        );
        assert!(
            d.message.contains("a new instance on account"),
            "{}",
            d.message
        );
    }

    /// An instance has one address: discovery finding a SID recorded under another name
    /// blocks the adopt (whatever led to it), naming both addresses and the way out.
    #[test]
    fn an_adopt_of_a_sid_recorded_under_another_name_is_blocked() {
        let config = Config::parse(&format!(
            "version: 1\ninstances:\n  a:\n    account_sid: {ACCOUNT}\n  b:\n    account_sid: {OTHER}\n"
        ))
        .unwrap();
        let sid = InstanceSid::parse(SID).unwrap();
        let observed: Observations = [
            ("a".to_owned(), fetched("ready", ACCOUNT)["a"].clone()),
            (
                "b".to_owned(),
                Observation::Discovered(Discovery::Found(sid)),
            ),
        ]
        .into();
        let p = plan(&config, &recorded(), &observed);
        let b = p.changes.iter().find(|c| c.name == "b").unwrap();
        assert_eq!(b.action, Action::Unchanged, "{p:?}");
        assert!(b.after.is_none(), "nothing recorded for b: {p:?}");
        let d = p
            .diagnostics
            .iter()
            .find(|d| d.address == "flex_instance.b")
            .unwrap();
        assert_eq!((d.severity, d.kind), (Severity::Error, K::AlreadyRecorded));
        assert!(d.message.contains("flex_instance.a"), "{}", d.message);
        assert!(d.message.contains("state mv a b`;"), "{}", d.message);
        assert!(
            !d.message.contains("state rm b"),
            "no pending to forget: {}",
            d.message
        );
        assert!(d.message.contains(SID), "{}", d.message);
        assert_eq!(p.summary().adopt, 0);
        // A SID recorded under no other name is adopted as before.
        let observed: Observations = [
            ("a".to_owned(), fetched("ready", ACCOUNT)["a"].clone()),
            ("b".to_owned(), found()),
        ]
        .into();
        assert_eq!(plan(&config, &recorded(), &observed).summary().adopt, 1);
    }

    /// A configured name that has a pending create of its own (an interrupted create under
    /// the new name) is not a rename target: the pending create is resolved, the old record
    /// stays as an orphan, and nothing moves.
    #[test]
    fn a_new_name_with_a_pending_create_is_not_a_rename() {
        let renamed = Config::parse(&format!(
            "version: 1\ninstances:\n  b:\n    account_sid: {ACCOUNT}\n"
        ))
        .unwrap();
        let mut state = recorded();
        let mut pending = pending_state().pending["a"].clone();
        pending.address = "flex_instance.b".into();
        state.pending.insert("b".into(), pending);
        let p = plan(
            &renamed,
            &state,
            &[(
                "b".to_owned(),
                Observation::Discovered(Discovery::Found(InstanceSid::parse(SID).unwrap())),
            )]
            .into(),
        );
        assert!(p.changes.iter().all(|c| c.action != Action::Move), "{p:?}");
        // Nor is what it found adopted under a second address: the SID is recorded as `a`;
        // `b`'s interrupted create is forgotten first, then the record moves.
        assert_eq!(p.summary().adopt, 0, "{p:?}");
        let d = p
            .diagnostics
            .iter()
            .find(|d| d.kind == K::AlreadyRecorded)
            .unwrap();
        assert!(
            d.message
                .contains("state mv a b` after `flexform state rm b`"),
            "{}",
            d.message
        );
        // And an old name with a pending create of its own does not move either.
        let mut state = recorded();
        state
            .pending
            .insert("a".into(), pending_state().pending["a"].clone());
        let p = plan(&renamed, &state, &[("b".to_owned(), found())].into());
        assert!(p.changes.iter().all(|c| c.action != Action::Move), "{p:?}");
    }

    /// An interrupted create under a name no longer configured is resolved on its own
    /// account, each discovery answer with its own finding.
    #[test]
    fn an_orphaned_pending_create_is_resolved_on_its_account() {
        let mut state = pending_state();
        state.pending.get_mut("a").unwrap().conversations_default = Some(true);
        let only = |o: Observation| -> Observations { [("a".to_owned(), o)].into() };
        let findings = |p: &Plan| -> Vec<(Severity, DiagnosticKind, String)> {
            p.diagnostics
                .iter()
                .filter(|d| d.address == "flex_instance.a")
                .map(|d| (d.severity, d.kind, d.message.clone()))
                .collect()
        };

        // Unclaimed, and it took effect: adopted under its old name, as sent, and reported.
        let p = plan(
            &empty_config(),
            &state,
            &only(Observation::PendingElsewhere {
                made: found_sid(),
                configured: None,
            }),
        );
        let change = &p.changes[0];
        assert_eq!(change.action, Action::Adopt);
        let after = change.after.as_ref().unwrap();
        assert_eq!(after.flex_instance_sid.as_ref().unwrap().as_str(), FOUND);
        assert_eq!(
            after.conversations_default,
            Some(true),
            "as the create sent it"
        );
        let f = findings(&p);
        assert_eq!((f[0].0, f[0].1), (S::Drift, K::Orphaned));
        assert!(
            f[0].2.contains(&format!("took effect as {FOUND}")),
            "{}",
            f[0].2
        );

        // Claimed by the instance configured on that account: that one adopts it; the old
        // name is told so, and proposes nothing itself.
        let claimed = Config::parse(&format!(
            "version: 1\ninstances:\n  b:\n    account_sid: {ACCOUNT}\n"
        ))
        .unwrap();
        let mut obs = only(Observation::PendingElsewhere {
            made: found_sid(),
            configured: None,
        });
        obs.insert("b".to_owned(), found());
        let p = plan(&claimed, &state, &obs);
        assert!(
            p.changes.iter().all(|c| c.address != "flex_instance.a"),
            "{p:?}"
        );
        let f = findings(&p);
        assert_eq!((f[0].0, f[0].1), (S::Drift, K::Orphaned));
        assert!(
            f[0].2.contains(&format!("took effect as {FOUND}")) && f[0].2.contains("adopts it"),
            "{}",
            f[0].2
        );

        // Discovery unavailable: it cannot be told, an error that blocks the plan.
        let p = plan(
            &empty_config(),
            &state,
            &only(Observation::PendingElsewhere {
                made: Discovery::Unavailable,
                configured: None,
            }),
        );
        let f = findings(&p);
        assert_eq!((f[0].0, f[0].1), (S::Error, K::PendingCreateUnresolved));
        assert!(p.has_errors());

        // The lookup failed: an error naming why.
        let p = plan(
            &empty_config(),
            &state,
            &only(Observation::Failed("HTTP 503 (20500)".into())),
        );
        let f = findings(&p);
        assert_eq!((f[0].0, f[0].1), (S::Error, K::ObserveFailed));
        assert!(f[0].2.contains("HTTP 503 (20500)"), "{}", f[0].2);

        // It did not take effect: only a record to forget.
        let p = plan(
            &empty_config(),
            &state,
            &only(Observation::PendingElsewhere {
                made: Discovery::None,
                configured: None,
            }),
        );
        let f = findings(&p);
        assert_eq!((f[0].0, f[0].1), (S::Drift, K::Orphaned));
        assert!(f[0].2.contains("did not take effect"), "{}", f[0].2);
        assert!(p.changes.is_empty());
    }

    /// A recorded instance is fetched by its SID, never discovered: an observation that
    /// discovered it anyway (no pending create) is a bug upstream, reported as an error
    /// rather than planned as if nothing were recorded.
    #[test]
    fn a_recorded_instance_that_was_discovered_instead_of_fetched_is_an_error() {
        let (_, kinds) = decide(&config(None), &recorded(), &observed(found()));
        assert_eq!(kinds, vec![(S::Error, K::ObserveFailed)]);
        let p = plan(&config(None), &recorded(), &observed(found()));
        assert!(p.changes.iter().all(|c| c.action != Action::Adopt), "{p:?}");
    }

    /// An interrupted create that took effect is adopted as it was sent: its
    /// `conversations.default` is the pending record's, even when the configuration has
    /// changed since.
    #[test]
    fn an_interrupted_create_is_adopted_with_the_input_it_was_sent() {
        let mut state = pending_state();
        state.pending.get_mut("a").unwrap().conversations_default = Some(false);
        let p = plan(&config(Some(true)), &state, &observed(found()));
        assert_eq!(p.changes[0].action, Action::Adopt);
        let after = p.changes[0].after.as_ref().unwrap();
        assert_eq!(after.conversations_default, Some(false));
        assert_eq!(after_sid(&p), FOUND);
    }

    /// The plan shows the status observed now, not the one recorded earlier.
    #[test]
    fn a_recorded_instance_is_shown_with_its_observed_status() {
        let mut state = recorded();
        state.instances.get_mut("a").unwrap().status = InstanceStatus::CreationInProgress;
        let p = plan(&config(None), &state, &fetched("ready", ACCOUNT));
        assert_eq!(p.changes[0].action, Action::Unchanged);
        assert_eq!(
            p.changes[0].after.as_ref().unwrap().status,
            Some(InstanceStatus::Ready)
        );
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
                unchanged: 0,
                moved: 0,
                update: 0,
                release: 0,
                drift: 0
            }
        );
        assert!(p.has_changes());
    }
}
