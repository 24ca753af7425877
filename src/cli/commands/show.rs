//! `flexform show`: render a saved plan, or the state.

use crate::cli::args::{OutputFormat, ShowArgs};
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::plan::PlanDocument;
use crate::render::state as state_render;

/// Shows a saved plan (with FILE) or the state.
pub fn run(settings: &Settings, args: &ShowArgs) -> anyhow::Result<ExitStatus> {
    let format = args.format.resolve();
    if let Some(file) = &args.file {
        // The digest the audit trail records when this file is applied: the pull-request
        // comment and the history entry can be matched by eye or by script.
        let (mut document, digest) = PlanDocument::load_with_sha256(file)?;
        match format {
            OutputFormat::Human => settings.out.data(format!(
                "Saved plan {} (SHA-256 {digest})\n\n",
                file.display()
            )),
            OutputFormat::Markdown => {}
            // In the document itself, so a script reading stdout has it (even with -q).
            OutputFormat::Json => document.plan_file_sha256 = Some(digest.clone()),
        }
        super::plan::print_document(settings, &document, format, "flexform plan");
        if format == OutputFormat::Markdown {
            settings
                .out
                .data(format!("\nPlan file SHA-256: `{digest}`\n"));
        }
        return Ok(ExitStatus::Success);
    }
    let location = crate::ops::plan::state_location_without_config(&settings.workspace())?;
    let state = context::run_with_stop(settings, true, |_| async { Ok(location.load().await?) })?;
    let out = &settings.out;
    match (state, format) {
        (None, OutputFormat::Json) => out.data_line("null"),
        (None, _) => out.data_line(format!(
            "No state at {}: nothing has been applied yet.",
            location.describe()
        )),
        (Some(state), OutputFormat::Json) => out.data(String::from_utf8_lossy(&state.to_bytes())),
        (Some(state), OutputFormat::Markdown) => out.data(state_render::state_markdown(&state)),
        (Some(state), OutputFormat::Human) => out.data(state_render::state_table(&state)),
    }
    Ok(ExitStatus::Success)
}
