//! `flexform plan`: observe, decide, and print the plan for people, pipelines or PR comments.

use crate::cli::{OutputFormat, PlanArgs};
use crate::exit_status::ExitStatus;
use crate::planning::{self, Scope};
use crate::render::{self, Style};
use crate::settings::Settings;

/// Makes and prints the plan; saves it with `--out`.
pub fn run(settings: &Settings, args: &PlanArgs) -> anyhow::Result<ExitStatus> {
    let planned = planning::block_on(planning::make_plan(settings, &args.net, Scope::Everything))??;
    let document = planned.document();
    match args.format.resolve() {
        OutputFormat::Human => crate::out!(
            "{}",
            render::human(&document, Style::new(settings.color_stdout))
        ),
        OutputFormat::Json => crate::out!("{}", document.to_json()),
        OutputFormat::Markdown => crate::out!("{}", render::markdown(&document, "flexform plan")),
    }
    if let Some(out) = &args.out {
        crate::fs_util::write_atomic(out, document.to_json().as_bytes(), None)
            .map_err(|e| anyhow::anyhow!("cannot save the plan to {}: {e}", out.display()))?;
        if !settings.quiet {
            eprintln!(
                "Saved the plan to {}. To carry it out exactly: flexform apply {}",
                out.display(),
                out.display()
            );
        }
    }
    Ok(exit_status(&planned.plan, args.detailed_exitcode))
}

/// 1 on errors; with `detailed`: 2 for changes or drift, else 0.
pub fn exit_status(plan: &crate::plan::Plan, detailed: bool) -> ExitStatus {
    if plan.has_errors() {
        ExitStatus::Failure
    } else if detailed && (plan.has_changes() || plan.summary().drift > 0) {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    }
}
