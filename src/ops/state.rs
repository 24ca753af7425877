//! The state as a thing to read and edit by hand (`flexform state list|show|pull|rm|mv|push`,
//! `flexform force-unlock`): what each may do is decided from the state as read, and each
//! edit is one audited run under the state lock, as any writing command.

use std::path::{Path, PathBuf};

use super::run::{finish_push, finish_run, open_store, RunRecord};
use super::{check_one_address, OpsError, Workspace};
use crate::plan::{address, Action};
use crate::state::lock;
use crate::state::ForceUnlock;
use crate::state::{
    HistoryChange, InstanceRecord, LockWait, PendingCreate, State, StateError, StateLocation,
    StateStore,
};
use crate::support::env::Env;

/// What the state records under a name (`state show`).
#[derive(Debug, Clone, Copy)]
pub enum Recorded<'a> {
    /// An instance.
    Instance(&'a InstanceRecord),
    /// A create whose outcome is not known yet.
    Pending(&'a PendingCreate),
}

/// The record under `name` in `state` (read from `place`, named in the error).
pub fn find<'a>(state: &'a State, name: &str, place: &str) -> Result<Recorded<'a>, OpsError> {
    if let Some(record) = state.instances.get(name) {
        Ok(Recorded::Instance(record))
    } else if let Some(pending) = state.pending.get(name) {
        Ok(Recorded::Pending(pending))
    } else {
        Err(not_recorded(name, place))
    }
}

fn not_recorded(name: &str, place: &str) -> OpsError {
    OpsError::NotRecorded {
        name: name.to_owned(),
        place: place.to_owned(),
    }
}

/// How a writing state command opens the state: under its lock, with the run's audit.
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    /// The state.
    pub location: &'a StateLocation,
    /// How to wait for its lock.
    pub wait: &'a LockWait,
    /// The environment the run's audit (who runs, the signing key) is read from.
    pub env: &'a Env,
}

impl Writer<'_> {
    /// Opens the state for `operation`, runs `edit` with it, and releases the lock whatever
    /// `edit` returned.
    async fn with_store<T>(
        &self,
        operation: &str,
        edit: impl AsyncFnOnce(&mut StateStore) -> Result<T, OpsError>,
    ) -> Result<T, OpsError> {
        let mut store = open_store(self.location, operation, self.wait, self.env).await?;
        let result = edit(&mut store).await;
        store.release().await;
        result
    }
}

/// What `state rm` forgot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// `flex_instance.NAME`.
    pub address: String,
    /// The instance SID it recorded (`None`: only an interrupted create was recorded).
    pub sid: Option<String>,
}

/// What `state rm NAME` would forget in `state` (read from `place`): an error when nothing
/// is recorded under the name, neither an instance nor an interrupted create.
pub fn removal(state: &State, name: &str, place: &str) -> Result<Removed, OpsError> {
    let sid = state
        .instances
        .get(name)
        .map(|r| r.flex_instance_sid.to_string());
    if sid.is_none() && !state.pending.contains_key(name) {
        return Err(not_recorded(name, place));
    }
    Ok(Removed {
        address: address(name),
        sid,
    })
}

/// Forgets the instance (and any interrupted create) recorded under `name`; the instance
/// itself is untouched.
pub async fn rm(writer: Writer<'_>, name: &str) -> Result<Removed, OpsError> {
    writer
        .with_store("state rm", async |store| {
            let removed = removal(store.state(), name, &store.describe())?;
            let run = RunRecord {
                command: "state rm",
                serial_before: store.state().serial,
                changes: vec![HistoryChange::ok(
                    removed.address.clone(),
                    "rm",
                    removed.sid.clone(),
                )],
                config_sha256: None,
                plan_sha256: None,
            };
            finish_run(store, run, |state| {
                state.instances.remove(name);
                state.pending.remove(name);
            })
            .await?;
            Ok(removed)
        })
        .await
}

/// What `state mv` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// The old address.
    pub from: String,
    /// The new address.
    pub to: String,
    /// The instance SID.
    pub sid: String,
}

/// Refuses what `state mv` cannot be given before the state is opened: a new name that is not
/// a name, or the same name twice.
pub fn check_move(old: &str, new: &str) -> Result<(), OpsError> {
    if !crate::config::is_valid_name(new) {
        return Err(OpsError::InvalidName {
            name: new.to_owned(),
        });
    }
    if old == new {
        return Err(OpsError::MoveToItself {
            name: old.to_owned(),
        });
    }
    Ok(())
}

/// What `state mv OLD NEW` would do in `state` (read from `place`): an error when no instance
/// is recorded under `old`, or something is under `new` already.
pub fn movement(state: &State, old: &str, new: &str, place: &str) -> Result<Moved, OpsError> {
    let Some(record) = state.instances.get(old) else {
        return Err(not_recorded(old, place));
    };
    if state.instances.contains_key(new) || state.pending.contains_key(new) {
        return Err(OpsError::MoveTargetTaken {
            new: new.to_owned(),
            place: place.to_owned(),
        });
    }
    Ok(Moved {
        from: address(old),
        to: address(new),
        sid: record.flex_instance_sid.to_string(),
    })
}

/// Records the instance recorded under `old` under `new` instead.
pub async fn mv(writer: Writer<'_>, old: &str, new: &str) -> Result<Moved, OpsError> {
    check_move(old, new)?;
    writer
        .with_store("state mv", async |store| {
            let moved = movement(store.state(), old, new, &store.describe())?;
            let run = RunRecord {
                command: "state mv",
                serial_before: store.state().serial,
                changes: vec![HistoryChange {
                    address: moved.to.clone(),
                    action: Action::Move.as_str().to_owned(),
                    flex_instance_sid: Some(moved.sid.clone()),
                    outcome: format!("ok (moved from {})", moved.from),
                    configuration: Vec::new(),
                }],
                config_sha256: None,
                plan_sha256: None,
            };
            finish_run(store, run, |state| {
                if let Some(record) = state.instances.remove(old) {
                    state.instances.insert(new.to_owned(), record);
                }
            })
            .await?;
            Ok(moved)
        })
        .await
}

/// What `state push` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The file pushed.
    pub file: PathBuf,
    /// The state it replaced, described.
    pub place: String,
    /// The serial written.
    pub serial: u64,
}

/// Reads the state `state push` was given, as flexform reads a local state (with its journal,
/// so that an interrupted run's pending creates and SIDs move along with it), and refuses one
/// that cannot be pushed as it is: missing, not a state, or with audit-trail entries its own
/// trail never took (they are that trail's, linked to it). `place` is the state it would replace.
pub fn read_pushed(file: &Path, place: &str) -> Result<State, OpsError> {
    let pushed = match State::load(file) {
        Ok(Some(state)) => state,
        Ok(None) => {
            return Err(OpsError::PushMissing {
                file: file.to_owned(),
            })
        }
        // The input is what is wrong: the state it would replace is untouched.
        Err(StateError::Corrupt {
            path,
            line,
            column,
            message,
        }) => {
            return Err(OpsError::PushInvalid {
                path,
                line,
                column,
                message,
                place: place.to_owned(),
            })
        }
        Err(e) => return Err(e.into()),
    };
    if !pushed.history_unwritten.is_empty() {
        return Err(OpsError::PushUnwritten {
            file: file.to_owned(),
            count: pushed.history_unwritten.len(),
            lines: crate::state::trail::describe_lines(&pushed.history_unwritten),
        });
    }
    // One address per instance: a pushed state that breaks it is refused, as plan would
    // refuse it afterwards.
    check_one_address(&pushed).map_err(|e| OpsError::PushTwoAddresses(Box::new(e)))?;
    Ok(pushed)
}

/// Refuses, without `force`, to replace an existing state (`current`, at `place`) with one of
/// another lineage or one not newer.
pub fn check_push(
    file: &Path,
    pushed: &State,
    current: Option<&State>,
    place: &str,
    force: bool,
) -> Result<(), OpsError> {
    let Some(current) = current.filter(|_| !force) else {
        return Ok(());
    };
    if pushed.lineage != current.lineage {
        return Err(OpsError::PushOtherLineage {
            file: file.to_owned(),
            pushed: pushed.lineage.clone(),
            place: place.to_owned(),
            current: current.lineage.clone(),
        });
    }
    if pushed.serial <= current.serial {
        return Err(OpsError::PushNotNewer {
            file: file.to_owned(),
            pushed: pushed.serial,
            place: place.to_owned(),
            current: current.serial,
        });
    }
    Ok(())
}

/// Replaces the state with the one in `file` (refused, without `force`, when it is of another
/// lineage or not newer), recording what it changes in the audit trail.
pub async fn push(writer: Writer<'_>, file: &Path, force: bool) -> Result<Pushed, OpsError> {
    let pushed = read_pushed(file, &writer.location.describe())?;
    writer
        .with_store("state push", async |store| {
            let place = store.describe();
            let current = store.exists().then(|| store.state());
            check_push(file, &pushed, current, &place, force)?;
            let serial_before = store.state().serial;
            finish_push(store, serial_before, pushed).await?;
            Ok(Pushed {
                file: file.to_owned(),
                place: store.describe(),
                serial: store.state().serial,
            })
        })
        .await
}

/// Clears the stale lock info `id` of the workspace's local state; PostgreSQL needs none (its
/// lock ends with the session holding it).
pub fn force_unlock(workspace: &Workspace, id: &str) -> Result<ForceUnlock, OpsError> {
    if let StateLocation::Postgres(_) = super::plan::state_location_without_config(workspace)? {
        return Err(OpsError::NoForceUnlock);
    }
    Ok(lock::force_unlock(&workspace.state_path, id)?)
}
