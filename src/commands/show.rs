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
            OutputFormat::Human => print!(
                "{}",
                render::human(&document, Style::new(settings.color_stdout))
            ),
            OutputFormat::Json => print!("{}", document.to_json()),
            OutputFormat::Markdown => print!("{}", render::markdown(&document, "flexform plan")),
        }
        return Ok(ExitStatus::Success);
    }
    let location = StateLocation::from_settings(settings)?;
    let state = crate::planning::block_on(location.load())??;
    match (state, format) {
        (None, OutputFormat::Json) => println!("null"),
        (None, _) => println!(
            "No state at {}: nothing has been applied yet.",
            location.describe()
        ),
        (Some(state), OutputFormat::Json) => {
            print!("{}", String::from_utf8_lossy(&state.to_bytes()))
        }
        (Some(state), _) => print!("{}", render::state_table(&state)),
    }
    Ok(ExitStatus::Success)
}
