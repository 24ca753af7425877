//! `flexform state list|show|rm` and `flexform force-unlock`.

use anyhow::bail;

use crate::cli::StateCommand;
use crate::exit_status::ExitStatus;
use crate::history::{self, HistoryChange, HistoryEntry};
use crate::lock::{self, ForceUnlock};
use crate::plan::address;
use crate::render;
use crate::settings::Settings;
use crate::state::State;
use crate::state_store::StateStore;

/// Runs a `state` subcommand.
pub fn run(settings: &Settings, command: &StateCommand) -> anyhow::Result<ExitStatus> {
    match command {
        StateCommand::List => {
            if let Some(state) = State::load(&settings.state_path)? {
                print!("{}", render::state_table(&state));
            }
            Ok(ExitStatus::Success)
        }
        StateCommand::Show { name } => {
            let state = State::load(&settings.state_path)?.unwrap_or_else(State::empty);
            if let Some(record) = state.instances.get(name) {
                println!("{}", serde_json::to_string_pretty(record)?);
            } else if let Some(pending) = state.pending.get(name) {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({"pending_create": pending}))?
                );
            } else {
                bail!(
                    "no instance named `{name}` in {}",
                    settings.state_path.display()
                );
            }
            Ok(ExitStatus::Success)
        }
        StateCommand::Rm { name, lock_timeout } => {
            let mut store = StateStore::open(&settings.state_path, "state rm", *lock_timeout)?;
            let serial_before = store.state().serial;
            let sid = store
                .state()
                .instances
                .get(name)
                .map(|r| r.flex_instance_sid.to_string());
            if sid.is_none() && !store.state().pending.contains_key(name) {
                bail!(
                    "no instance named `{name}` in {}",
                    settings.state_path.display()
                );
            }
            store.commit(|state| {
                state.instances.remove(name);
                state.pending.remove(name);
            })?;
            let entry = HistoryEntry::new(
                "state rm",
                serial_before,
                store.state().serial,
                vec![HistoryChange {
                    address: address(name),
                    action: "rm".into(),
                    flex_instance_sid: sid.clone(),
                    outcome: "ok".into(),
                }],
            );
            if let Err(e) = history::append(store.path(), &entry) {
                eprintln!("warning: cannot append to the history: {e}");
            }
            println!(
                "Removed {} from the state{}. The instance itself is untouched.",
                address(name),
                sid.map_or_else(String::new, |s| format!(" ({s})"))
            );
            Ok(ExitStatus::Success)
        }
    }
}

/// Clears stale lock info.
pub fn force_unlock(settings: &Settings, id: &str) -> anyhow::Result<ExitStatus> {
    match lock::force_unlock(&settings.state_path, id) {
        Ok(ForceUnlock::Cleared) => {
            println!("Cleared stale lock info {id}.");
            Ok(ExitStatus::Success)
        }
        Ok(ForceUnlock::NothingToClear) => {
            println!("No lock info to clear: the state is not locked.");
            Ok(ExitStatus::Success)
        }
        Err(message) => bail!(message),
    }
}
