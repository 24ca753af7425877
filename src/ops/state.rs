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

/// Clears the stale lock `id` of the workspace's state: the local file's lock info, or S3's
/// lock object; PostgreSQL needs none (its lock ends with the session holding it).
pub async fn force_unlock(workspace: &Workspace, id: &str) -> Result<ForceUnlock, OpsError> {
    match super::plan::state_location_without_config(workspace)? {
        StateLocation::Postgres(_) => Err(OpsError::NoForceUnlock),
        StateLocation::S3(s3) => Ok(s3.force_unlock(id).await?),
        StateLocation::Local(_) => Ok(lock::force_unlock(&workspace.state_path, id)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::fixtures::{instance, pending, record};

    /// `a` recorded (instance 1 on account 1), `b` only an interrupted create (account 2).
    fn state() -> State {
        let mut state = State::empty();
        state.instances.insert("a".into(), record(1, 1));
        state.pending.insert("b".into(), pending("b", 2));
        state
    }

    #[test]
    fn show_finds_a_record_or_an_interrupted_create_and_names_the_state_when_neither() {
        let state = state();
        assert!(
            matches!(find(&state, "a", "s.json"), Ok(Recorded::Instance(r)) if r.flex_instance_sid == instance(1))
        );
        assert!(matches!(
            find(&state, "b", "s.json"),
            Ok(Recorded::Pending(_))
        ));
        let err = find(&state, "c", "s.json").unwrap_err();
        assert_eq!(err.to_string(), "no instance named `c` in s.json");
    }

    #[test]
    fn rm_forgets_a_record_with_its_sid_or_an_interrupted_create_without_one() {
        let state = state();
        assert_eq!(
            removal(&state, "a", "s.json").unwrap(),
            Removed {
                address: "flex_instance.a".into(),
                sid: Some(instance(1).to_string()),
            }
        );
        assert_eq!(removal(&state, "b", "s.json").unwrap().sid, None);
        let err = removal(&state, "c", "s.json").unwrap_err();
        assert_eq!(err.to_string(), "no instance named `c` in s.json");
    }

    #[test]
    fn mv_refuses_a_new_name_that_is_not_one_and_the_same_name_twice() {
        assert!(check_move("a", "b").is_ok());
        let err = check_move("a", "Bad Name").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "invalid instance name \"Bad Name\": names match {}",
                crate::config::NAME_PATTERN
            )
        );
        let err = check_move("a", "a").unwrap_err();
        assert_eq!(
            err.to_string(),
            "`a` is both the old and the new name: nothing to move. Nothing was changed"
        );
    }

    #[test]
    fn mv_moves_only_a_record_and_never_onto_a_recorded_name_or_an_interrupted_create() {
        let mut state = state();
        assert_eq!(
            movement(&state, "a", "c", "s.json").unwrap(),
            Moved {
                from: "flex_instance.a".into(),
                to: "flex_instance.c".into(),
                sid: instance(1).to_string(),
            }
        );
        // An interrupted create is not a record to move.
        let err = movement(&state, "b", "c", "s.json").unwrap_err();
        assert_eq!(err.to_string(), "no instance named `b` in s.json");
        let err = movement(&state, "a", "b", "s.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "flex_instance.b is already recorded in s.json; `flexform state rm b` first if that record is wrong. Nothing was changed"
        );
        state.instances.insert("d".into(), record(4, 4));
        assert!(matches!(
            movement(&state, "a", "d", "s.json"),
            Err(OpsError::MoveTargetTaken { .. })
        ));
    }

    #[test]
    fn push_refuses_another_lineage_or_a_serial_not_newer_unless_forced_or_nothing_is_there() {
        let file = Path::new("pushed.json");
        let mut current = state();
        current.serial = 5;
        let mut pushed = current.clone();
        pushed.serial = 6;
        assert!(check_push(file, &pushed, Some(&current), "s.json", false).is_ok());
        pushed.serial = 5;
        let err = check_push(file, &pushed, Some(&current), "s.json", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refusing to push: pushed.json has serial 5, not newer than s.json (serial 5); pull first, or pass --force"
        );
        let other = State::empty();
        let err = check_push(file, &other, Some(&current), "s.json", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to push: pushed.json has lineage {}, but s.json has lineage {}; pass --force to replace a different state",
                other.lineage, current.lineage
            )
        );
        assert!(check_push(file, &other, Some(&current), "s.json", true).is_ok());
        assert!(check_push(file, &other, None, "s.json", false).is_ok());
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_pushed_file_must_exist_be_a_state_keep_no_unwritten_entries_and_have_one_address_each() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let err = read_pushed(&missing, "s.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{} does not exist; nothing was pushed", missing.display())
        );
        let corrupt = write(dir.path(), "corrupt.json", "{");
        let err = read_pushed(&corrupt, "s.json").unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:", corrupt.display())), "{err}");
        assert!(
            err.ends_with("nothing was pushed and s.json is unchanged"),
            "{err}"
        );
        let mut waiting = state();
        waiting.history_unwritten = vec!["{}".into()];
        let file = write(
            dir.path(),
            "waiting.json",
            std::str::from_utf8(&waiting.to_bytes()).unwrap(),
        );
        let err = read_pushed(&file, "s.json").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{} keeps 1 audit-trail entry its trail could not take yet (an entry that does not parse)",
                file.display()
            )),
            "{err}"
        );
        let mut twice = state();
        twice.instances.insert("c".into(), record(1, 3));
        let file = write(
            dir.path(),
            "twice.json",
            std::str::from_utf8(&twice.to_bytes()).unwrap(),
        );
        let err = read_pushed(&file, "s.json").unwrap_err().to_string();
        assert!(err.starts_with("the state records account"), "{err}");
        assert!(err.ends_with("; nothing was pushed"), "{err}");
        let good = write(
            dir.path(),
            "good.json",
            std::str::from_utf8(&state().to_bytes()).unwrap(),
        );
        assert_eq!(read_pushed(&good, "s.json").unwrap().instances.len(), 1);
    }
}
