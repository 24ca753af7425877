//! Drift: the plan narrowed to instances that are both configured and recorded, for nightly
//! checks and audits. Configuration changes not yet applied are not drift.

use std::fmt::Write;

use super::document::PlanDocument;
use super::model::Severity;
use super::render::{diagnostic_line, diagnostic_row, error_count, partial_note, Style};
use crate::config::Config;
use crate::state::State;
use crate::support::text::{plural, plural_word};

/// The configuration drift observes: only instances the state records.
pub fn desired(config: &Config, state: &State) -> Config {
    let mut desired = config.clone();
    desired
        .instances
        .retain(|name, _| state.instances.contains_key(name));
    desired
}

/// The state drift plans against: records of configured instances, without pending creates
/// (an interrupted create is apply's business, not drift).
pub fn state_view(desired: &Config, state: &State) -> State {
    let mut view = state.clone();
    view.instances
        .retain(|name, _| desired.instances.contains_key(name));
    view.pending.clear();
    view
}

/// The first line of a drift report: `No drift: …`, `Drift: 1 of 3 …`, or `Drift check
/// failed: …`.
pub fn headline(doc: &PlanDocument) -> String {
    let checked = doc.resource_changes.len();
    let drift = doc.summary.drift;
    let errors = error_count(doc);
    if errors > 0 {
        format!(
            "Drift check failed: {errors} error{}; {drift} drift found among the instances that could be checked.",
            plural(errors)
        )
    } else if drift == 0 {
        format!(
            "No drift: {checked} recorded {} {} reality.",
            plural_word(checked, "instance", "instances"),
            plural_word(checked, "matches", "match")
        )
    } else {
        format!(
            "Drift: {drift} of {checked} recorded {} no longer {} reality.",
            plural_word(checked, "instance", "instances"),
            plural_word(drift, "matches", "match")
        )
    }
}

/// The findings a drift report lists: drift, warnings and errors (not info).
fn findings(doc: &PlanDocument) -> impl Iterator<Item = &crate::plan::Diagnostic> {
    doc.diagnostics
        .iter()
        .filter(|d| d.severity >= Severity::Warning)
}

/// The terminal view of `flexform drift`: findings only, no plan.
pub fn report(doc: &PlanDocument, style: Style) -> String {
    let mut out = String::new();
    let headline = headline(doc);
    if doc.summary.drift == 0 && error_count(doc) == 0 {
        let _ = writeln!(out, "{headline}");
    } else {
        let _ = writeln!(out, "{}", style.bold(&headline));
    }
    if let Some(note) = partial_note(doc) {
        let _ = writeln!(out, "{note}");
    }
    let findings: Vec<_> = findings(doc).collect();
    if !findings.is_empty() {
        out.push('\n');
        for d in findings {
            diagnostic_line(&mut out, d, style);
        }
    }
    if doc.summary.drift > 0 {
        out.push_str(
            "\nRun `flexform plan` to review the repair and `flexform apply` to carry it out.\n",
        );
    }
    out
}

/// `flexform drift --format markdown`: the headline and one table row per finding.
pub fn markdown(doc: &PlanDocument) -> String {
    let mut out = String::from("### flexform drift\n\n");
    if let Some(note) = partial_note(doc) {
        let _ = writeln!(out, "> {note}\n");
    }
    let _ = writeln!(out, "**{}**\n", headline(doc));
    let rows: Vec<String> = findings(doc).map(|d| diagnostic_row(doc, d)).collect();
    if !rows.is_empty() {
        out.push_str(
            "| address | finding | account | SID | note |\n| --- | --- | --- | --- | --- |\n",
        );
        for row in rows {
            let _ = writeln!(out, "{row}");
        }
    }
    out
}
