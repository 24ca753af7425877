//! Drift: the plan narrowed to instances that are both configured and recorded, for nightly
//! checks and audits. Configuration changes not yet applied are not drift.

use std::fmt::Write;

use super::document::PlanDocument;
use super::model::Severity;
use super::render::{diagnostic_line, error_count, Style};
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

/// The terminal view of `flexform drift`: findings only, no plan.
pub fn report(doc: &PlanDocument, style: Style) -> String {
    let mut out = String::new();
    let checked = doc.resource_changes.len();
    let findings: Vec<_> = doc
        .diagnostics
        .iter()
        .filter(|d| d.severity >= Severity::Warning)
        .collect();
    let drift = doc.summary.drift;
    let errors = error_count(doc);
    if errors > 0 {
        let _ = writeln!(
            out,
            "{}",
            style.bold(&format!(
                "Drift check failed: {errors} error{}; {drift} drift found among the instances that could be checked.",
                plural(errors)
            ))
        );
    } else if drift == 0 {
        let _ = writeln!(
            out,
            "No drift: {checked} recorded {} {} reality.",
            plural_word(checked, "instance", "instances"),
            plural_word(checked, "matches", "match")
        );
    } else {
        let _ = writeln!(
            out,
            "{}",
            style.bold(&format!(
                "Drift: {drift} of {checked} recorded {} no longer {} reality.",
                plural_word(checked, "instance", "instances"),
                plural_word(drift, "matches", "match")
            ))
        );
    }
    if !findings.is_empty() {
        out.push('\n');
        for d in &findings {
            diagnostic_line(&mut out, d, style);
        }
    }
    if drift > 0 {
        out.push_str(
            "\nRun `flexform plan` to review the repair and `flexform apply` to carry it out.\n",
        );
    }
    out
}
