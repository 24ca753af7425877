//! `flexform plan`: observe, decide, and print the plan for people, pipelines or PR comments.
//!
//! Stdout holds only the plan (text, JSON or Markdown); each error of the plan is also printed
//! on stderr, so that `flexform plan > plan.txt` leaves the reason in the job's log.

use crate::cli::args::{OutputFormat, PlanArgs};
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::ops::Scope;
use crate::plan::{Plan, PlanDocument};
use crate::render::{plan as render, Style};

/// Makes and prints the plan; saves it with `--out`.
pub fn run(settings: &Settings, args: &PlanArgs) -> anyhow::Result<ExitStatus> {
    let planned = context::run_with_stop(settings, true, |_| {
        context::make_plan(settings, &args.net, Scope::Everything, &args.targets)
    })?;
    let document = planned.document();
    print_document(settings, &document, args.format.resolve(), "flexform plan");
    print_errors(settings, &planned.plan);
    if let Some(out) = &args.out {
        crate::support::fs::write_atomic(out, document.to_json().as_bytes(), None)
            .map_err(|e| anyhow::anyhow!("cannot save the plan to {}: {e}", out.display()))?;
        settings.out.status(format!(
            "Saved the plan to {}. To carry it out exactly: flexform apply {}",
            out.display(),
            out.display()
        ));
    }
    Ok(exit_status(&planned.plan, args.detailed_exitcode))
}

/// Prints a plan document on stdout in `format`.
pub fn print_document(
    settings: &Settings,
    document: &PlanDocument,
    format: OutputFormat,
    title: &str,
) {
    let text = match format {
        OutputFormat::Human => render::human(document, Style::new(settings.color_stdout)),
        OutputFormat::Json => document.to_json(),
        OutputFormat::Markdown => render::markdown(document, title),
    };
    settings.out.data(text);
}

/// Prints each error of the plan on stderr: `error: flex_instance.a: …`.
pub fn print_errors(settings: &Settings, plan: &Plan) {
    for line in crate::render::plan::error_lines(plan) {
        settings.out.error(line);
    }
}

/// 1 on errors; with `detailed`: 2 for changes or drift, else 0.
pub fn exit_status(plan: &Plan, detailed: bool) -> ExitStatus {
    if plan.has_errors() {
        ExitStatus::Failure
    } else if detailed && (plan.has_changes() || plan.summary().drift > 0) {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    }
}
