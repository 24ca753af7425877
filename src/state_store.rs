//! `StateStore`: the locked, durable home of the state for commands that change it.
//!
//! Opening takes the lock and reads the state; every [`StateStore::commit`] that changes the
//! content raises the serial by one and replaces the file atomically and durably, the first
//! one of a run after copying the previous file to `<state>.backup`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::fs_util::write_atomic;
use crate::lock::StateLock;
use crate::state::State;
use crate::state_error::StateError;

/// A state held under lock for one command run.
#[derive(Debug)]
pub struct StateStore {
    path: PathBuf,
    lock: StateLock,
    state: State,
    existed: bool,
    backed_up: bool,
    serial_at_open: u64,
}

/// The backup file beside a state file.
pub fn backup_path(state_path: &Path) -> PathBuf {
    let mut name = state_path.as_os_str().to_owned();
    name.push(".backup");
    PathBuf::from(name)
}

impl StateStore {
    /// Locks the state for `operation` (waiting up to `lock_timeout`) and reads it.
    pub fn open(path: &Path, operation: &str, lock_timeout: Duration) -> Result<Self, StateError> {
        let lock = StateLock::acquire(path, operation, lock_timeout)?;
        let loaded = State::load(path)?;
        let existed = loaded.is_some();
        let state = loaded.unwrap_or_else(State::empty);
        Ok(Self {
            path: path.to_owned(),
            serial_at_open: state.serial,
            lock,
            state,
            existed,
            backed_up: false,
        })
    }

    /// The state as last committed (or read).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether a state file existed when the store was opened (or has been written since).
    pub fn exists(&self) -> bool {
        self.existed
    }

    /// The serial when the store was opened.
    pub fn serial_at_open(&self) -> u64 {
        self.serial_at_open
    }

    /// The state file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The held lock.
    pub fn lock(&self) -> &StateLock {
        &self.lock
    }

    /// Applies `change`; if the content changed, writes it with the next serial. On error the
    /// file and this store's view are both left as they were.
    pub fn commit(&mut self, change: impl FnOnce(&mut State)) -> Result<bool, StateError> {
        let mut next = self.state.clone();
        change(&mut next);
        if next.instances == self.state.instances
            && next.pending == self.state.pending
            && self.existed
        {
            return Ok(false);
        }
        next.serial = self.state.serial + 1;
        next.flexform_version = env!("CARGO_PKG_VERSION").to_owned();
        if !self.backed_up {
            if self.existed {
                let previous = std::fs::read(&self.path).map_err(|source| StateError::Read {
                    path: self.path.clone(),
                    source,
                })?;
                let backup = backup_path(&self.path);
                write_atomic(&backup, &previous, Some(0o600)).map_err(|source| {
                    StateError::Write {
                        path: backup,
                        source,
                    }
                })?;
            }
            self.backed_up = true;
        }
        write_atomic(&self.path, &next.to_bytes(), Some(0o600)).map_err(|source| {
            StateError::Write {
                path: self.path.clone(),
                source,
            }
        })?;
        self.state = next;
        self.existed = true;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sid::AccountSid;
    use crate::state::PendingCreate;

    fn pending() -> PendingCreate {
        PendingCreate {
            account_sid: AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap(),
            address: "flex_instance.a".into(),
            conversations_default: None,
            started_at: "now".into(),
        }
    }

    #[test]
    fn serial_rises_per_change_and_lineage_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = StateStore::open(&path, "apply", Duration::ZERO).unwrap();
        store
            .commit(|s| {
                s.pending.insert("a".into(), pending());
            })
            .unwrap();
        let lineage = store.state().lineage.clone();
        assert_eq!(store.state().serial, 1);
        assert!(
            !store.commit(|_| {}).unwrap(),
            "an unchanged commit writes nothing"
        );
        store
            .commit(|s| {
                s.pending.clear();
            })
            .unwrap();
        drop(store);
        let on_disk = State::load(&path).unwrap().unwrap();
        assert_eq!(on_disk.serial, 2);
        assert_eq!(on_disk.lineage, lineage);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }

    #[test]
    fn first_write_of_a_run_backs_up_the_previous_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = StateStore::open(&path, "apply", Duration::ZERO).unwrap();
        store
            .commit(|s| {
                s.pending.insert("a".into(), pending());
            })
            .unwrap();
        assert!(!backup_path(&path).exists(), "no previous state, no backup");
        drop(store);
        let before = std::fs::read(&path).unwrap();
        let mut store = StateStore::open(&path, "apply", Duration::ZERO).unwrap();
        store.commit(|s| s.pending.clear()).unwrap();
        store
            .commit(|s| {
                s.pending.insert("b".into(), pending());
            })
            .unwrap();
        assert_eq!(std::fs::read(backup_path(&path)).unwrap(), before);
    }
}
