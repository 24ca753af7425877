//! `flexform history`: the audit trail from either backend, newest first, filtered by
//! instance and time, as text, JSON, Markdown or CSV; `flexform history verify` checks its hash
//! chain against the state. The flags, then [`crate::ops::history`], then
//! [`crate::render::history`].

use std::time::SystemTime;

use crate::cli::args::{HistoryArgs, HistoryCommand, HistoryFormat};
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::ops::history::{self, Query, VerifyOptions};
use crate::render::history as render;
use crate::state::AuditView;

/// Prints or verifies the trail.
pub fn run(settings: &Settings, args: &HistoryArgs) -> anyhow::Result<ExitStatus> {
    let location = crate::ops::plan::state_location_without_config(&settings.workspace())?;
    let view = context::run_with_stop(settings, true, |_| async {
        Ok(location.read_audit().await?)
    })?;
    if let Some(HistoryCommand::Verify {
        allowed_signers,
        signed_since,
        ..
    }) = &args.command
    {
        let options = VerifyOptions {
            allowed_signers: allowed_signers.as_deref(),
            signed_since: *signed_since,
        };
        return verify(settings, &view, options, &location.describe());
    }
    let query = Query {
        instance: args.instance.clone(),
        since: args
            .since
            .as_deref()
            .map(|since| history::parse_since(since, SystemTime::now()))
            .transpose()?,
    };
    let selected = history::select(view, &query);
    for warning in render::warnings(&selected) {
        settings.out.warn(warning);
    }
    let entries = selected.entries;
    settings.out.data(match args.format {
        HistoryFormat::Human => render::human(&entries),
        HistoryFormat::Json => render::json(entries),
        HistoryFormat::Markdown => render::markdown(&entries),
        HistoryFormat::Csv => render::csv(&entries)?,
    });
    Ok(ExitStatus::Success)
}

/// Checks the trail against itself and the state and prints the verdict on stdout: exit 0
/// intact, 1 listing every problem.
fn verify(
    settings: &Settings,
    view: &AuditView,
    options: VerifyOptions<'_>,
    place: &str,
) -> anyhow::Result<ExitStatus> {
    let verdict = render::verdict(&history::verify(view, options)?, place);
    let out = &settings.out;
    for note in &verdict.notes_before {
        out.note(note);
    }
    out.data(&verdict.document);
    if let Some(error) = &verdict.error {
        out.error(error);
        return Ok(ExitStatus::Failure);
    }
    for note in &verdict.notes_after {
        out.note(note);
    }
    Ok(ExitStatus::Success)
}
