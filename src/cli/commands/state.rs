//! `flexform state list|show|rm|mv|pull|push` and `flexform force-unlock`, on either backend:
//! the flags, then [`crate::ops::state`], then [`crate::render::state`].

use std::time::Duration;

use crate::cli::args::StateCommand;
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::ops::state::{self as ops, Writer};
use crate::render::state as render;
use crate::state::{State, StateLocation};

/// Runs a `state` subcommand.
pub fn run(settings: &Settings, command: &StateCommand) -> anyhow::Result<ExitStatus> {
    let location = crate::ops::plan::state_location_without_config(&settings.workspace())?;
    match command {
        StateCommand::List { json, .. } => list(settings, &location, *json)?,
        StateCommand::Show { name, .. } => {
            let state = read(settings, &location)?.unwrap_or_else(State::empty);
            let recorded = ops::find(&state, name, &location.describe())?;
            settings.out.data(render::recorded_json(recorded));
        }
        StateCommand::Pull { .. } => pull(settings, &location)?,
        StateCommand::Push {
            file,
            force,
            lock_timeout,
            ..
        } => {
            let pushed = write(settings, &location, *lock_timeout, async |writer| {
                ops::push(writer, file, *force).await
            })?;
            settings.out.data_line(render::pushed(&pushed));
        }
        StateCommand::Rm {
            name, lock_timeout, ..
        } => {
            let removed = write(settings, &location, *lock_timeout, async |writer| {
                ops::rm(writer, name).await
            })?;
            settings.out.data_line(render::removed(&removed));
        }
        StateCommand::Mv {
            old,
            new,
            lock_timeout,
            ..
        } => {
            let moved = write(settings, &location, *lock_timeout, async |writer| {
                ops::mv(writer, old, new).await
            })?;
            settings.out.data_line(render::moved(&moved));
        }
    }
    Ok(ExitStatus::Success)
}

/// `state list`: the records as a table, or as JSON.
fn list(settings: &Settings, location: &StateLocation, json: bool) -> anyhow::Result<()> {
    let state = read(settings, location)?;
    if json {
        settings.out.data(render::instances_json(state.as_ref()));
    } else if let Some(state) = state {
        settings.out.data(render::state_table(&state));
    }
    Ok(())
}

/// `state pull`: the state document; before the first apply, an empty state (serial 0), so
/// that a script that pulls then needs no special case.
fn pull(settings: &Settings, location: &StateLocation) -> anyhow::Result<()> {
    match read(settings, location)? {
        Some(state) => settings.out.data(render::document(&state)),
        None => {
            settings
                .out
                .note(render::no_state_yet(&location.describe()));
            settings.out.data(render::document(&State::empty()));
        }
    }
    Ok(())
}

/// Reads the state, ending at the first Ctrl-C.
fn read(settings: &Settings, location: &StateLocation) -> anyhow::Result<Option<State>> {
    context::run_with_stop(settings, true, |_| async { Ok(location.load().await?) })
}

/// Runs a writing state command under the lock, waiting up to `timeout` for it.
fn write<T>(
    settings: &Settings,
    location: &StateLocation,
    timeout: Duration,
    edit: impl AsyncFnOnce(Writer<'_>) -> Result<T, crate::ops::OpsError>,
) -> anyhow::Result<T> {
    context::run_with_stop(settings, false, |stop| async move {
        let wait = context::lock_wait(settings, timeout, &stop);
        let writer = Writer {
            location,
            wait: &wait,
            env: &settings.env,
        };
        Ok(edit(writer).await?)
    })
}

/// Clears stale lock info.
pub fn force_unlock(settings: &Settings, id: &str) -> anyhow::Result<ExitStatus> {
    let outcome = crate::cli::context::runtime()?
        .block_on(crate::ops::state::force_unlock(&settings.workspace(), id))?;
    settings.out.data_line(render::unlocked(outcome, id));
    Ok(ExitStatus::Success)
}
