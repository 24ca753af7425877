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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::InstanceStatus;
    use crate::ops::fixtures::{account, instance, record};
    use crate::plan::{Diagnostic, InstanceView, ResourceChange, Severity};
    use crate::state::history::{Provenance, CHAIN_START};
    use crate::state::trail::{parse_line, seal};

    fn view(status: Option<InstanceStatus>) -> InstanceView {
        InstanceView {
            account_sid: account(1),
            conversations_default: None,
            flex_instance_sid: Some(instance(1)),
            status,
        }
    }

    /// A plan with one change of `flex_instance.a` and a diagnostic of each kind given.
    fn plan(
        action: Action,
        before: Option<InstanceStatus>,
        after: Option<InstanceStatus>,
        kinds: &[DiagnosticKind],
    ) -> Plan {
        Plan {
            changes: vec![ResourceChange {
                address: "flex_instance.a".into(),
                name: "a".into(),
                account_sid: account(1),
                action,
                reason: None,
                before: before.map(|s| view(Some(s))),
                after: after.map(|s| view(Some(s))),
                moved_from: None,
                configuration: Vec::new(),
                record_configuration: None,
                release: None,
                record_release: None,
            }],
            diagnostics: kinds
                .iter()
                .map(|kind| Diagnostic {
                    severity: if kind.is_drift() {
                        Severity::Drift
                    } else {
                        Severity::Error
                    },
                    kind: *kind,
                    address: "flex_instance.a".into(),
                    message: format!("{} happened", kind.as_str()),
                })
                .collect(),
        }
    }

    fn status(plan: &Plan) -> Option<String> {
        observed_status(plan, "flex_instance.a")
    }

    #[test]
    fn an_observed_instance_shows_its_status_now() {
        let ready = plan(Action::Unchanged, None, Some(InstanceStatus::Ready), &[]);
        assert_eq!(status(&ready).as_deref(), Some("ready"));
        assert_eq!(observed_status(&ready, "flex_instance.other"), None);
    }

    #[test]
    fn an_instance_deleted_outside_shows_what_was_seen_never_its_recorded_status() {
        let gone = plan(
            Action::Create,
            None,
            Some(InstanceStatus::Ready),
            &[DiagnosticKind::DeletedOutside],
        );
        assert_eq!(
            status(&gone).as_deref(),
            Some("not found (404): deleted outside flexform")
        );
        let deleted = InstanceStatus::parse("deleted");
        let seen = plan(
            Action::Create,
            Some(deleted.clone()),
            Some(InstanceStatus::Ready),
            &[DiagnosticKind::DeletedOutside],
        );
        assert_eq!(
            status(&seen),
            Some(format!("{deleted} (deleted outside flexform)"))
        );
    }

    #[test]
    fn an_instance_to_be_replaced_shows_what_was_observed_of_it_not_the_one_to_be_created() {
        let failed = InstanceStatus::parse("failed");
        let replaced = plan(
            Action::Create,
            Some(failed.clone()),
            Some(InstanceStatus::Ready),
            &[DiagnosticKind::CreationFailed],
        );
        assert_eq!(status(&replaced), Some(failed.to_string()));
        let unseen = plan(Action::Create, None, Some(InstanceStatus::Ready), &[]);
        assert_eq!(status(&unseen), None);
    }

    #[test]
    fn an_instance_that_could_not_be_observed_or_answers_for_another_account_has_no_status() {
        for kind in [
            DiagnosticKind::ObserveFailed,
            DiagnosticKind::AccountMismatch,
        ] {
            let blind = plan(
                Action::Unchanged,
                None,
                Some(InstanceStatus::Ready),
                &[kind],
            );
            assert_eq!(status(&blind), None, "{kind:?}");
        }
    }

    fn entry(
        who: &str,
        command: &str,
        serial_before: u64,
        changes: Vec<HistoryChange>,
    ) -> HistoryEntry {
        HistoryEntry {
            time: format!("2026-01-0{}T00:00:00Z", serial_before + 1),
            who: who.into(),
            ci: Default::default(),
            command: command.into(),
            serial_before,
            serial_after: serial_before + 1,
            changes,
            provenance: Provenance {
                run_url: Some(format!("https://ci.example/runs/{serial_before}")),
                ..Provenance::default()
            },
            prev_sha256: None,
            signer: None,
            signature: None,
        }
    }

    /// `a` created (instance 1) and `b` adopted (instance 2) by ana, then `a` moved to `c` by
    /// bob: a sealed trail the state anchors.
    fn history() -> (State, Vec<String>) {
        let sid = |n| Some(instance(n).to_string());
        let mut moved = HistoryChange::ok("flex_instance.c".into(), "move", sid(1));
        moved.outcome = "ok (moved from flex_instance.a)".into();
        let mut entries = [
            entry(
                "ana@host",
                "apply",
                0,
                vec![
                    HistoryChange::ok("flex_instance.a".into(), "create", sid(1)),
                    HistoryChange::ok("flex_instance.b".into(), "adopt", sid(2)),
                ],
            ),
            entry("bob@host", "state mv", 1, vec![moved]),
        ];
        let mut prev = CHAIN_START.to_owned();
        let mut lines = Vec::new();
        for entry in &mut entries {
            let line = seal(entry, prev, None).unwrap();
            prev = crate::support::hash::sha256_hex(line.as_bytes());
            lines.push(line);
        }
        let mut state = State::empty();
        state.instances.insert("b".into(), record(2, 2));
        state.instances.insert("c".into(), record(1, 1));
        state.serial = 2;
        state.history_sha256 = Some(prev);
        (state, lines)
    }

    fn audit(state: &State, lines: &[String]) -> AuditView {
        AuditView {
            trail: lines
                .iter()
                .enumerate()
                .map(|(i, line)| parse_line(i + 1, line.as_bytes(), true))
                .collect(),
            state: Some(state.clone()),
            journal: false,
            writer: None,
        }
    }

    #[test]
    fn each_record_gets_its_observed_status_its_recording_run_its_changes_and_its_findings() {
        let (state, lines) = history();
        let mut drift = plan(
            Action::Unchanged,
            None,
            Some(InstanceStatus::Ready),
            &[DiagnosticKind::ConfigurationChanged],
        );
        drift.changes[0].address = "flex_instance.c".into();
        drift.diagnostics[0].address = "flex_instance.c".into();
        let report = build(
            &drift,
            &state,
            &audit(&state, &lines),
            "s.json".into(),
            "now".into(),
        );
        assert_eq!(
            (report.state.as_str(), report.generated_at.as_str()),
            ("s.json", "now")
        );
        assert_eq!(report.trail.entries, 2);
        assert!(report.trail.intact, "{:?}", report.trail.problems);
        assert_eq!(report.trail.broken, None);
        let [b, c] = &report.instances[..] else {
            panic!("{:?}", report.instances)
        };
        assert_eq!(b.address, "flex_instance.b");
        assert_eq!(b.status, "ready (as recorded: not observed)");
        assert_eq!(b.changes.len(), 1);
        assert!(b.findings.is_empty());
        // `c` was created as `a`: the create is its recording, and the move is its change too.
        assert_eq!(c.status, "ready");
        assert_eq!(c.origin, "created");
        assert_eq!(c.since.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(c.by.as_deref(), Some("ana@host"));
        assert_eq!(c.run_url.as_deref(), Some("https://ci.example/runs/0"));
        let actions: Vec<_> = c.changes.iter().map(|ch| ch.action.as_str()).collect();
        assert_eq!(actions, ["create", "move"]);
        assert_eq!(c.changes[1].command, "state mv");
        assert_eq!(
            c.findings,
            ["configuration_changed: configuration_changed happened"]
        );
    }

    #[test]
    fn a_trail_that_does_not_verify_is_reported_broken_with_every_problem() {
        let (state, mut lines) = history();
        lines[0] = lines[0].replace("ana@host", "eve@host");
        let report = build(
            &Plan::default(),
            &state,
            &audit(&state, &lines),
            "s".into(),
            "t".into(),
        );
        assert!(!report.trail.intact);
        assert!(!report.trail.problems.is_empty());
        assert_eq!(report.trail.broken.as_ref(), report.trail.problems.first());
        assert!(
            report
                .trail
                .broken
                .as_deref()
                .unwrap()
                .starts_with("line 2"),
            "{:?}",
            report.trail.problems
        );
    }
}
