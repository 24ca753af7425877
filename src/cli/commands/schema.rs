//! `flexform schema`: print the JSON Schema of a document, generated from the Rust types.

use crate::cli::args::SchemaKind;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;

/// The JSON Schema of `kind`, pretty-printed with a trailing newline (as committed in schemas/).
pub fn schema_text(kind: SchemaKind) -> String {
    let schema = match kind {
        SchemaKind::Config => schemars::schema_for!(crate::config::Config),
        SchemaKind::State => schemars::schema_for!(crate::state::State),
        SchemaKind::Plan => schemars::schema_for!(crate::plan::PlanDocument),
        SchemaKind::History => schemars::schema_for!(crate::state::history::HistoryDocument),
    };
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    text.push('\n');
    text
}

/// Prints the schema on stdout.
pub fn run(settings: &Settings, kind: SchemaKind) -> anyhow::Result<ExitStatus> {
    settings.out.data(schema_text(kind));
    Ok(ExitStatus::Success)
}
