//! `flexform show`: render a saved plan, or the state.

use crate::cli::{OutputFormat, ShowArgs};
use crate::exit_status::ExitStatus;
use crate::plan_document::PlanDocument;
use crate::render::{self, Style};
use crate::settings::Settings;
use crate::state_store::StateLocation;

/// Shows a saved plan (with FILE) or the state.
pub fn run(settings: &Settings, args: &ShowArgs) -> anyhow::Result<ExitStatus> {
    let format = args.format.resolve();
    if let Some(file) = &args.file {
        let document = PlanDocument::load(file)?;
        match format {
            OutputFormat::Human => crate::out!(
                "{}",
                render::human(&document, Style::new(settings.color_stdout))
            ),
            OutputFormat::Json => crate::out!("{}", document.to_json()),
            OutputFormat::Markdown => {
                crate::out!("{}", render::markdown(&document, "flexform plan"))
            }
        }
        return Ok(ExitStatus::Success);
    }
    let location = StateLocation::from_settings(settings)?;
    let state = crate::planning::block_on(location.load())??;
    match (state, format) {
        (None, OutputFormat::Json) => crate::outln!("null"),
        (None, _) => crate::outln!(
            "No state at {}: nothing has been applied yet.",
            location.describe()
        ),
        (Some(state), OutputFormat::Json) => {
            crate::out!("{}", String::from_utf8_lossy(&state.to_bytes()))
        }
        (Some(state), _) => crate::out!("{}", render::state_table(&state)),
    }
    Ok(ExitStatus::Success)
}
