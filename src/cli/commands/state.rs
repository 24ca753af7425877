//! `flexform state list|show|rm|pull|push` and `flexform force-unlock`, on either backend.

use anyhow::bail;

use crate::cli::args::StateCommand;
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::plan::address;
use crate::render::state as state_render;
use crate::state::lock::{self, ForceUnlock};
use crate::state::{HistoryChange, State, StateError, StateLocation};
use crate::support::stop::Stop;

/// Runs a `state` subcommand.
pub fn run(settings: &Settings, command: &StateCommand) -> anyhow::Result<ExitStatus> {
    let location = crate::ops::plan::state_location_without_config(&settings.workspace())?;
    let read_only = matches!(
        command,
        StateCommand::List { .. } | StateCommand::Show { .. } | StateCommand::Pull { .. }
    );
    if let StateCommand::Mv { new, .. } = command {
        let name = new;
        if !crate::config::is_valid_name(name) {
            bail!(
                "invalid instance name {name:?}: names match {}",
                crate::config::NAME_PATTERN
            );
        }
    }
    context::run_with_stop(settings, read_only, |stop| {
        run_async(settings, &location, command, stop)
    })
}

async fn run_async(
    settings: &Settings,
    location: &StateLocation,
    command: &StateCommand,
    stop: Stop,
) -> anyhow::Result<ExitStatus> {
    match command {
        StateCommand::List { json, .. } => {
            let state = location.load().await?;
            if *json {
                // The records by name, as the state file holds them; `{}` before any apply.
                let instances = state.map(|s| s.instances).unwrap_or_default();
                settings
                    .out
                    .data_line(serde_json::to_string_pretty(&instances)?);
            } else if let Some(state) = state {
                settings.out.data(state_render::state_table(&state));
            }
            Ok(ExitStatus::Success)
        }
        StateCommand::Show { name, .. } => {
            let state = location.load().await?.unwrap_or_else(State::empty);
            if let Some(record) = state.instances.get(name) {
                settings
                    .out
                    .data_line(serde_json::to_string_pretty(record)?);
            } else if let Some(pending) = state.pending.get(name) {
                settings.out.data_line(serde_json::to_string_pretty(
                    &serde_json::json!({"pending_create": pending}),
                )?);
            } else {
                bail!("no instance named `{name}` in {}", location.describe());
            }
            Ok(ExitStatus::Success)
        }
        StateCommand::Pull { .. } => {
            match location.load().await? {
                Some(state) => settings
                    .out
                    .data(String::from_utf8_lossy(&state.to_bytes())),
                // Nothing applied yet: an empty state (serial 0), so that a script that pulls
                // before the first apply needs no special case.
                None => {
                    settings.out.note(format!(
                        "{} has no state yet; printed an empty state (serial 0)",
                        location.describe()
                    ));
                    settings
                        .out
                        .data(String::from_utf8_lossy(&State::empty().to_bytes()));
                }
            }
            Ok(ExitStatus::Success)
        }
        StateCommand::Push {
            file,
            force,
            lock_timeout,
            ..
        } => {
            // Read as flexform reads a local state: with its journal, so that an interrupted
            // run's pending creates and SIDs move along with it.
            let pushed = match State::load(file) {
                Ok(Some(state)) => state,
                Ok(None) => bail!("{} does not exist; nothing was pushed", file.display()),
                // The input is what is wrong: the state it would replace is untouched.
                Err(StateError::Corrupt {
                    path,
                    line,
                    column,
                    message,
                }) => bail!(
                    "{}:{line}:{column} is not a valid flexform state ({message}); nothing was pushed and {} is unchanged",
                    path.display(),
                    location.describe()
                ),
                Err(e) => return Err(e.into()),
            };
            // Entries its own trail never took would be lost with a push: they are that
            // trail's, linked to it.
            if !pushed.history_unwritten.is_empty() {
                bail!(
                    "{} keeps {} audit-trail {} its trail could not take yet ({}); run a writing command against it where it lives (e.g. `flexform apply` with no changes) so they are written, then push. Nothing was pushed",
                    file.display(),
                    pushed.history_unwritten.len(),
                    crate::support::text::plural_word(pushed.history_unwritten.len(), "entry", "entries"),
                    crate::state::trail::describe_lines(&pushed.history_unwritten)
                );
            }
            let wait = context::lock_wait(settings, *lock_timeout, &stop);
            // One address per instance: a pushed state that breaks it is refused, as plan
            // would refuse it afterwards.
            crate::ops::check_one_address(&pushed)
                .map_err(|e| anyhow::anyhow!("{e}; nothing was pushed"))?;
            let mut store =
                crate::ops::run::open_store(location, "state push", &wait, &settings.env).await?;
            let current = store.state().clone();
            if store.exists() && !force {
                if pushed.lineage != current.lineage {
                    let target = store.describe();
                    store.release().await;
                    bail!(
                        "refusing to push: {} has lineage {}, but {target} has lineage {}; pass --force to replace a different state",
                        file.display(),
                        pushed.lineage,
                        current.lineage
                    );
                }
                if pushed.serial <= current.serial {
                    let target = store.describe();
                    store.release().await;
                    bail!(
                        "refusing to push: {} has serial {}, not newer than {target} (serial {}); pull first, or pass --force",
                        file.display(),
                        pushed.serial,
                        current.serial
                    );
                }
            }
            let serial_before = current.serial;
            crate::ops::run::finish_push(&mut store, serial_before, pushed).await?;
            settings.out.data_line(format!(
                "Pushed {} to {} (serial {}).",
                file.display(),
                store.describe(),
                store.state().serial
            ));
            store.release().await;
            Ok(ExitStatus::Success)
        }
        StateCommand::Rm {
            name, lock_timeout, ..
        } => {
            let wait = context::lock_wait(settings, *lock_timeout, &stop);
            let mut store =
                crate::ops::run::open_store(location, "state rm", &wait, &settings.env).await?;
            let serial_before = store.state().serial;
            let sid = store
                .state()
                .instances
                .get(name)
                .map(|r| r.flex_instance_sid.to_string());
            if sid.is_none() && !store.state().pending.contains_key(name) {
                let target = store.describe();
                store.release().await;
                bail!("no instance named `{name}` in {target}");
            }
            let run = crate::ops::RunRecord {
                command: "state rm",
                serial_before,
                changes: vec![HistoryChange::ok(address(name), "rm", sid.clone())],
                config_sha256: None,
                plan_sha256: None,
            };
            crate::ops::run::finish_run(&mut store, run, |state| {
                state.instances.remove(name);
                state.pending.remove(name);
            })
            .await?;
            store.release().await;
            settings.out.data_line(format!(
                "Removed {} from the state{}. The instance itself is untouched.",
                address(name),
                sid.map_or_else(String::new, |s| format!(" ({s})"))
            ));
            Ok(ExitStatus::Success)
        }
        StateCommand::Mv {
            old,
            new,
            lock_timeout,
            ..
        } => {
            let (old, new) = (old.clone(), new.clone());
            if old == new {
                bail!("`{old}` is both the old and the new name: nothing to move. Nothing was changed");
            }
            let wait = context::lock_wait(settings, *lock_timeout, &stop);
            let mut store =
                crate::ops::run::open_store(location, "state mv", &wait, &settings.env).await?;
            let serial_before = store.state().serial;
            let refusal = match (
                store.state().instances.get(&old),
                store.state().instances.contains_key(&new) || store.state().pending.contains_key(&new),
            ) {
                (None, _) => Some(format!(
                    "no instance named `{old}` in {}",
                    store.describe()
                )),
                (Some(_), true) => Some(format!(
                    "{} is already recorded in {}; `flexform state rm {new}` first if that record is wrong. Nothing was changed",
                    address(&new),
                    store.describe()
                )),
                (Some(_), false) => None,
            };
            if let Some(message) = refusal {
                store.release().await;
                bail!(message);
            }
            let sid = store.state().instances[&old].flex_instance_sid.to_string();
            let run = crate::ops::RunRecord {
                command: "state mv",
                serial_before,
                changes: vec![HistoryChange {
                    address: address(&new),
                    action: crate::plan::Action::Move.as_str().to_owned(),
                    flex_instance_sid: Some(sid.clone()),
                    outcome: format!("ok (moved from {})", address(&old)),
                    configuration: Vec::new(),
                }],
                config_sha256: None,
                plan_sha256: None,
            };
            crate::ops::run::finish_run(&mut store, run, |state| {
                if let Some(record) = state.instances.remove(&old) {
                    state.instances.insert(new.clone(), record);
                }
            })
            .await?;
            store.release().await;
            settings.out.data_line(format!(
                "Moved {} to {} ({sid}).",
                address(&old),
                address(&new)
            ));
            Ok(ExitStatus::Success)
        }
    }
}

/// Clears stale lock info.
pub fn force_unlock(settings: &Settings, id: &str) -> anyhow::Result<ExitStatus> {
    if let StateLocation::Postgres(_) =
        crate::ops::plan::state_location_without_config(&settings.workspace())?
    {
        bail!(
            "the postgres backend needs no force-unlock: its lock is released when the holding session ends"
        );
    }
    match lock::force_unlock(&settings.state_path, id) {
        Ok(ForceUnlock::Cleared) => {
            settings
                .out
                .data_line(format!("Cleared stale lock info {id}."));
            Ok(ExitStatus::Success)
        }
        Ok(ForceUnlock::NothingToClear) => {
            settings
                .out
                .data_line("No lock info to clear: the state is not locked.");
            Ok(ExitStatus::Success)
        }
        Err(e) => Err(e.into()),
    }
}
