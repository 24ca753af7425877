//! `flexform report`: the document an auditor files. Read-only, observed now: for every
//! recorded instance its account, SID and status, when and by which run it was created,
//! adopted or imported (from the trail), its changes, its drift findings, and whether the
//! trail verifies.

use std::fmt::Write;

use serde::Serialize;

use crate::cli::args::{ReportArgs, ReportFormat};
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::ops::Scope;
use crate::plan::{address, Action, DiagnosticKind, Plan};
use crate::state::history::HistoryEntry;
use crate::support::text::{csv_cell, markdown_cell, markdown_code, markdown_link, plural_word};

/// The report as JSON.
#[derive(Debug, Serialize)]
struct Report {
    format_version: u32,
    generated_at: String,
    state: String,
    trail: TrailCheck,
    instances: Vec<InstanceReport>,
}

/// Whether the trail verifies.
#[derive(Debug, Serialize)]
struct TrailCheck {
    entries: usize,
    intact: bool,
    /// Why not: the first problem `history verify` finds.
    broken: Option<String>,
    /// Every problem `history verify` finds (empty: intact, as its exit code 0).
    problems: Vec<String>,
}

/// One recorded instance.
#[derive(Debug, Serialize)]
struct InstanceReport {
    address: String,
    account_sid: String,
    flex_instance_sid: String,
    /// As observed now (`not found (404): deleted outside flexform` for an instance deleted
    /// outside flexform), or as recorded and marked so when it could not be observed.
    status: String,
    /// How it came to be recorded: created, adopted, imported.
    origin: String,
    /// When and by whom it was recorded, from the trail.
    since: Option<String>,
    by: Option<String>,
    run_url: Option<String>,
    /// Every change of this address in the trail, oldest first.
    changes: Vec<ChangeReport>,
    /// Drift and other findings, observed now.
    findings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ChangeReport {
    time: String,
    command: String,
    action: String,
    flex_instance_sid: Option<String>,
    outcome: String,
    run_url: Option<String>,
}

/// Observes, reads the trail, and prints the report.
pub fn run(settings: &Settings, args: &ReportArgs) -> anyhow::Result<ExitStatus> {
    let location = crate::ops::plan::state_location_without_config(&settings.workspace())?;
    let (planned, view) = context::run_with_stop(settings, true, |_| async {
        let planned = context::make_plan(settings, &args.net, Scope::RecordedOnly, &[]).await?;
        let view = location.read_audit().await?;
        Ok((planned, view))
    })?;
    let state = planned
        .state
        .clone()
        .unwrap_or_else(crate::state::State::empty);
    // Intact exactly when `history verify` (without --allowed-signers) would exit 0.
    let verified = crate::state::verify_view(&view, crate::state::SignaturePolicy::default());
    let mut entries: Vec<HistoryEntry> = crate::state::trail::entries(&view.trail);
    entries.extend(crate::state::trail::unwritten_entries(&state));
    let instances = state
        .instances
        .iter()
        .map(|(name, record)| {
            let addr = address(name);
            let observed = observed_status(&planned.plan, &addr);
            // Its own changes, oldest first, across its renames and never another's that took
            // one of its names later (`state::changes_of`).
            let ours: Vec<(&HistoryEntry, &crate::state::HistoryChange)> =
                crate::state::changes_of(&entries, &addr, false)
                    .into_iter()
                    .map(|(e, c)| (&entries[e], &entries[e].changes[c]))
                    .collect();
            let changes: Vec<ChangeReport> = ours
                .iter()
                .map(|(e, c)| ChangeReport {
                    time: e.time.clone(),
                    command: e.command.clone(),
                    action: c.action.clone(),
                    flex_instance_sid: c.flex_instance_sid.clone(),
                    outcome: c.outcome.clone(),
                    run_url: e.provenance.run_url.clone(),
                })
                .collect();
            let recorded_by = ours
                .iter()
                .rev()
                .find(|(_, c)| {
                    // The change that recorded it (a crashed run's create is in a `recover`
                    // entry; a create whose configuration failed still recorded it).
                    matches!(c.action.as_str(), "create" | "adopt" | "import")
                        && c.outcome.starts_with("ok")
                        && c.flex_instance_sid.as_deref() == Some(record.flex_instance_sid.as_str())
                })
                .map(|(e, _)| *e);
            InstanceReport {
                address: addr.clone(),
                account_sid: record.account_sid.to_string(),
                flex_instance_sid: record.flex_instance_sid.to_string(),
                status: observed
                    .unwrap_or_else(|| format!("{} (as recorded: not observed)", record.status)),
                origin: serde_json::to_value(record.origin)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                since: recorded_by.map(|e| e.time.clone()),
                by: recorded_by.map(|e| e.who.clone()),
                run_url: recorded_by.and_then(|e| e.provenance.run_url.clone()),
                changes,
                findings: planned
                    .plan
                    .diagnostics
                    .iter()
                    .filter(|d| d.address == addr)
                    .map(|d| format!("{}: {}", d.kind.as_str(), d.message))
                    .collect(),
            }
        })
        .collect();
    let report = Report {
        format_version: 1,
        generated_at: crate::support::stamp::now_rfc3339(),
        state: location.describe(),
        trail: TrailCheck {
            entries: verified.entries,
            intact: verified.intact(),
            broken: verified.problems.first().map(ToString::to_string),
            problems: verified.problems.iter().map(ToString::to_string).collect(),
        },
        instances,
    };
    let text = match args.format {
        ReportFormat::Json => {
            let mut text = serde_json::to_string_pretty(&report)?;
            text.push('\n');
            text
        }
        ReportFormat::Markdown => markdown(&report),
        ReportFormat::Csv => csv(&report)?,
    };
    settings.out.data(text);
    super::plan::print_errors(settings, &planned.plan);
    Ok(if planned.plan.has_errors() {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// The status of the recorded instance at `addr` as observed now: what the API answered, and
/// for an instance deleted outside flexform what was seen (`not found (404)`, `deleted`, …),
/// never the status recorded before it went. `None`: it could not be observed.
fn observed_status(plan: &Plan, addr: &str) -> Option<String> {
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

fn markdown(report: &Report) -> String {
    let mut out = String::from("# flexform audit report\n\n");
    let _ = writeln!(out, "- Generated: {}", report.generated_at);
    let _ = writeln!(out, "- State: {}", markdown_cell(&report.state));
    let _ = writeln!(
        out,
        "- Audit trail: {} {}, {}\n",
        report.trail.entries,
        plural_word(report.trail.entries, "entry", "entries"),
        match &report.trail.broken {
            None => "hash chain intact".to_owned(),
            Some(why) => {
                let more = report.trail.problems.len().saturating_sub(1);
                let more = if more > 0 {
                    format!(" (and {more} more: run `flexform history verify`)")
                } else {
                    String::new()
                };
                format!("**BROKEN**: {}{more}", markdown_cell(why))
            }
        }
    );
    out.push_str(
        "| instance | account | SID | status | recorded | by | run | findings |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    // Every cell escaped (`support::text`): `by` is `$USER@host`, a status or a finding can
    // hold the API's words, and names come from a state that may have been edited by hand.
    for i in &report.instances {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} {} | {} | {} | {} |",
            markdown_code(&i.address),
            markdown_code(&i.account_sid),
            markdown_code(&i.flex_instance_sid),
            markdown_cell(&i.status),
            markdown_cell(&i.origin),
            markdown_cell(i.since.as_deref().unwrap_or("")),
            markdown_cell(i.by.as_deref().unwrap_or("")),
            i.run_url
                .as_deref()
                .map_or_else(String::new, |u| markdown_link("run", u)),
            if i.findings.is_empty() {
                "none".to_owned()
            } else {
                markdown_cell(&i.findings.join("; "))
            }
        );
    }
    // A list item ends at a line break too: the same escaping keeps each change one item.
    for i in report.instances.iter().filter(|i| !i.changes.is_empty()) {
        let _ = writeln!(out, "\n#### {}\n", markdown_code(&i.address));
        for c in &i.changes {
            let _ = writeln!(
                out,
                "- {} {} {} {} ({}){}",
                markdown_cell(&c.time),
                markdown_cell(&c.command),
                markdown_cell(&c.action),
                markdown_cell(c.flex_instance_sid.as_deref().unwrap_or("-")),
                markdown_cell(&c.outcome),
                c.run_url
                    .as_deref()
                    .map_or_else(String::new, |u| format!(" {}", markdown_link("run", u)))
            );
        }
    }
    out
}

/// One row per recorded instance, every cell made safe for a spreadsheet
/// (`support::text::csv_cell`): `by` is `$USER@host`.
fn csv(report: &Report) -> anyhow::Result<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "address",
        "account_sid",
        "flex_instance_sid",
        "status",
        "origin",
        "since",
        "by",
        "run_url",
        "changes",
        "findings",
        "trail_intact",
    ])?;
    for i in &report.instances {
        let changes = i.changes.len().to_string();
        let findings = i.findings.join("; ");
        let row = [
            i.address.as_str(),
            i.account_sid.as_str(),
            i.flex_instance_sid.as_str(),
            i.status.as_str(),
            i.origin.as_str(),
            i.since.as_deref().unwrap_or(""),
            i.by.as_deref().unwrap_or(""),
            i.run_url.as_deref().unwrap_or(""),
            changes.as_str(),
            findings.as_str(),
            if report.trail.intact { "true" } else { "false" },
        ];
        writer.write_record(row.iter().map(|cell| csv_cell(cell).into_owned()))?;
    }
    let bytes = writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(String::from_utf8(bytes)?)
}
