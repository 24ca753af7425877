//! The audit report (`flexform report`), read-only and observed now: for every recorded
//! instance its account, SID and status, when and by which run it was created, adopted or
//! imported (from the trail), its changes, its drift findings, and whether the trail verifies.

use serde::Serialize;

use super::{OpsError, Planner, Scope};
use crate::plan::{address, Action, DiagnosticKind, Plan};
use crate::state::{
    AuditView, HistoryChange, HistoryEntry, InstanceRecord, SignaturePolicy, State,
};

/// The report (its JSON form is this value as it is).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Format of this document: 1.
    pub format_version: u32,
    /// When it was made (RFC 3339).
    pub generated_at: String,
    /// The state, described.
    pub state: String,
    /// Whether the trail verifies.
    pub trail: TrailCheck,
    /// Every recorded instance.
    pub instances: Vec<InstanceReport>,
}

/// Whether the trail verifies.
#[derive(Debug, Clone, Serialize)]
pub struct TrailCheck {
    /// Lines in the trail.
    pub entries: usize,
    /// Whether `history verify` (without `--allowed-signers`) would exit 0.
    pub intact: bool,
    /// Why not: the first problem `history verify` finds.
    pub broken: Option<String>,
    /// Every problem `history verify` finds (empty: intact, as its exit code 0).
    pub problems: Vec<String>,
}

/// One recorded instance.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    /// `flex_instance.NAME`.
    pub address: String,
    /// The account it belongs to.
    pub account_sid: String,
    /// The instance SID.
    pub flex_instance_sid: String,
    /// As observed now (`not found (404): deleted outside flexform` for an instance deleted
    /// outside flexform), or as recorded and marked so when it could not be observed.
    pub status: String,
    /// How it came to be recorded: created, adopted, imported.
    pub origin: String,
    /// When it was recorded, from the trail.
    pub since: Option<String>,
    /// Who recorded it, from the trail.
    pub by: Option<String>,
    /// The pipeline run that recorded it, from the trail.
    pub run_url: Option<String>,
    /// Every change of this address in the trail, oldest first.
    pub changes: Vec<ChangeReport>,
    /// Drift and other findings, observed now.
    pub findings: Vec<String>,
}

/// One change of an instance, from the trail.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeReport {
    /// When its run ended (RFC 3339).
    pub time: String,
    /// The command that made it.
    pub command: String,
    /// What it did (`create`, `move`, …).
    pub action: String,
    /// The instance SID, when known.
    pub flex_instance_sid: Option<String>,
    /// `ok`, `failed: …`, …
    pub outcome: String,
    /// The pipeline run, when known.
    pub run_url: Option<String>,
}

/// The report and the plan it observed (whose errors the caller reports).
#[derive(Debug)]
pub struct Reported {
    /// The report.
    pub report: Report,
    /// The drift plan of the recorded instances.
    pub plan: Plan,
}

/// Observes the recorded instances (drift's scope), reads the trail and builds the report.
pub async fn report(planner: &Planner<'_>) -> Result<Reported, OpsError> {
    let location = super::plan::state_location_without_config(planner.workspace)?;
    let planned = planner.make_plan(Scope::RecordedOnly, &[]).await?;
    let view = location.read_audit().await?;
    let state = planned.state.unwrap_or_else(State::empty);
    let report = build(
        &planned.plan,
        &state,
        &view,
        location.describe(),
        crate::support::stamp::now_rfc3339(),
    );
    Ok(Reported {
        report,
        plan: planned.plan,
    })
}

/// The report of `state`'s instances from the drift `plan` observed and the trail of `view`
/// (with the entries waiting in `state`); `place` is the state described.
pub fn build(
    plan: &Plan,
    state: &State,
    view: &AuditView,
    place: String,
    generated_at: String,
) -> Report {
    // Intact exactly when `history verify` (without --allowed-signers) would exit 0.
    let verified = crate::state::verify_view(view, SignaturePolicy::default());
    let mut entries: Vec<HistoryEntry> = crate::state::trail::entries(&view.trail);
    entries.extend(crate::state::trail::unwritten_entries(state));
    let instances = state
        .instances
        .iter()
        .map(|(name, record)| instance(plan, &entries, name, record))
        .collect();
    Report {
        format_version: 1,
        generated_at,
        state: place,
        trail: TrailCheck {
            entries: verified.entries,
            intact: verified.intact(),
            broken: verified.problems.first().map(ToString::to_string),
            problems: verified.problems.iter().map(ToString::to_string).collect(),
        },
        instances,
    }
}

/// One recorded instance's line of the report.
fn instance(
    plan: &Plan,
    entries: &[HistoryEntry],
    name: &str,
    record: &InstanceRecord,
) -> InstanceReport {
    let addr = address(name);
    // Its own changes, oldest first, across its renames and never another's that took one of
    // its names later (`state::changes_of`).
    let ours: Vec<(&HistoryEntry, &HistoryChange)> =
        crate::state::changes_of(entries, &addr, false)
            .into_iter()
            .map(|(e, c)| (&entries[e], &entries[e].changes[c]))
            .collect();
    let recorded_by = ours
        .iter()
        .rev()
        .find(|(_, c)| {
            // The change that recorded it (a crashed run's create is in a `recover` entry; a
            // create whose configuration failed still recorded it).
            matches!(c.action.as_str(), "create" | "adopt" | "import")
                && c.outcome.starts_with("ok")
                && c.flex_instance_sid.as_deref() == Some(record.flex_instance_sid.as_str())
        })
        .map(|(e, _)| *e);
    InstanceReport {
        account_sid: record.account_sid.to_string(),
        flex_instance_sid: record.flex_instance_sid.to_string(),
        status: observed_status(plan, &addr)
            .unwrap_or_else(|| format!("{} (as recorded: not observed)", record.status)),
        origin: serde_json::to_value(record.origin)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        since: recorded_by.map(|e| e.time.clone()),
        by: recorded_by.map(|e| e.who.clone()),
        run_url: recorded_by.and_then(|e| e.provenance.run_url.clone()),
        changes: ours
            .iter()
            .map(|(e, c)| ChangeReport {
                time: e.time.clone(),
                command: e.command.clone(),
                action: c.action.clone(),
                flex_instance_sid: c.flex_instance_sid.clone(),
                outcome: c.outcome.clone(),
                run_url: e.provenance.run_url.clone(),
            })
            .collect(),
        findings: plan
            .diagnostics
            .iter()
            .filter(|d| d.address == addr)
            .map(|d| format!("{}: {}", d.kind.as_str(), d.message))
            .collect(),
        address: addr,
    }
}

/// The status of the recorded instance at `addr` as observed now: what the API answered, and
/// for an instance deleted outside flexform what was seen (`not found (404)`, `deleted`, …),
/// never the status recorded before it went. `None`: it could not be observed.
pub fn observed_status(plan: &Plan, addr: &str) -> Option<String> {
    let change = plan.changes.iter().find(|c| c.address == addr)?;
    let found = |kind: DiagnosticKind| {
        plan.diagnostics
            .iter()
            .any(|d| d.address == addr && d.kind == kind)
    };
    // A recorded instance to be replaced (deleted outside, creation failed): `before` is what
    // was observed of it, `after` the instance apply would create.
    let replaced = (change.action == Action::Create)
        .then(|| change.before.as_ref().and_then(|v| v.status.as_ref()))
        .flatten();
    if found(DiagnosticKind::DeletedOutside) {
        return Some(match replaced {
            Some(status) => format!("{status} (deleted outside flexform)"),
            None => "not found (404): deleted outside flexform".to_owned(),
        });
    }
    if change.action == Action::Create {
        return replaced.map(ToString::to_string);
    }
    if found(DiagnosticKind::ObserveFailed) || found(DiagnosticKind::AccountMismatch) {
        return None;
    }
    change
        .after
        .as_ref()
        .and_then(|v| v.status.as_ref())
        .map(ToString::to_string)
}
