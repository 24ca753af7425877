//! `flexform drift`: compare recorded instances with reality, read-only, for nightly jobs and
//! audits. Configuration changes not yet applied are not drift. `--format junit` makes the
//! check a CI test report: one test case per instance.

use crate::cli::args::{DriftArgs, DriftFormat, OutputFormat};
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::ops::Scope;
use crate::render::Style;

/// Checks for drift. Exit 0: none, 2: drift, 1: error.
pub fn run(settings: &Settings, args: &DriftArgs) -> anyhow::Result<ExitStatus> {
    let planned = context::run_with_stop(settings, true, |_| {
        context::make_plan(settings, &args.net, Scope::RecordedOnly, &args.targets)
    })?;
    let document = planned.document();
    let drift = document.summary.drift;
    let format = match (args.json, args.format) {
        (true, _) => DriftFormat::Json,
        (false, format) => format.unwrap_or(DriftFormat::Human),
    };
    match format {
        DriftFormat::Human => settings.out.data(crate::render::drift::report(
            &document,
            Style::new(settings.color_stdout),
        )),
        DriftFormat::Json => {
            super::plan::print_document(settings, &document, OutputFormat::Json, "flexform drift")
        }
        DriftFormat::Markdown => settings.out.data(crate::render::drift::markdown(&document)),
        DriftFormat::Junit => settings.out.data(crate::render::drift::junit(&document)?),
    }
    super::plan::print_errors(settings, &planned.plan);
    Ok(if planned.plan.has_errors() {
        ExitStatus::Failure
    } else if drift > 0 {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}
