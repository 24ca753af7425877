//! `flexform drift`: compare recorded instances with reality, read-only, for nightly jobs and
//! audits. Configuration changes not yet applied are not drift.

use crate::cli::{DriftArgs, OutputFormat};
use crate::exit_status::ExitStatus;
use crate::planning::{self, Scope};
use crate::render::{self, Style};
use crate::settings::Settings;

/// Checks for drift. Exit 0: none, 2: drift, 1: error.
pub fn run(settings: &Settings, args: &DriftArgs) -> anyhow::Result<ExitStatus> {
    let planned = planning::block_on(planning::make_plan(
        settings,
        &args.net,
        Scope::RecordedOnly,
    ))??;
    let document = planned.document();
    let drift = document.summary.drift;
    match args.format.resolve() {
        OutputFormat::Json => crate::out!("{}", document.to_json()),
        OutputFormat::Markdown => crate::out!("{}", render::markdown(&document, "flexform drift")),
        OutputFormat::Human => crate::out!(
            "{}",
            render::drift_report(&document, Style::new(settings.color_stdout))
        ),
    }
    Ok(if planned.plan.has_errors() {
        ExitStatus::Failure
    } else if drift > 0 {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}
