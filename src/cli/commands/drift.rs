//! `flexform drift`: compare recorded instances with reality, read-only, for nightly jobs and
//! audits. Configuration changes not yet applied are not drift.

use crate::cli::args::{DriftArgs, OutputFormat};
use crate::cli::context::{self, Scope};
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::plan::render::Style;

/// Checks for drift. Exit 0: none, 2: drift, 1: error.
pub fn run(settings: &Settings, args: &DriftArgs) -> anyhow::Result<ExitStatus> {
    let planned = context::run_with_stop(settings, true, |_| {
        context::make_plan(settings, &args.net, Scope::RecordedOnly)
    })?;
    let document = planned.document();
    let drift = document.summary.drift;
    match args.format.resolve() {
        OutputFormat::Human => settings.out.data(crate::plan::drift::report(
            &document,
            Style::new(settings.color_stdout),
        )),
        format => super::plan::print_document(settings, &document, format, "flexform drift"),
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
