//! `StateStore`: where the state lives (a local file, or a PostgreSQL workspace) behind one
//! interface: read without a lock, or open under the lock, commit, record, keep history.

use std::path::{Path, PathBuf};

use super::error::StateError;
use super::history::{self, HistoryEntry, ReadEntry};
use super::local::LocalStore;
use super::lock::LockWait;
use super::model::{State, StateUpdate};
use super::postgres::{PgLocation, PgStore};
use crate::config::secret::Secret;
use crate::config::{BackendKind, Config};

/// Where the state is.
#[derive(Debug, Clone)]
pub enum StateLocation {
    /// A JSON file.
    Local(PathBuf),
    /// A workspace in PostgreSQL.
    Postgres(PgLocation),
}

impl StateLocation {
    /// Resolves the location from the configuration's `state:` section (read from
    /// `config_path`) and the state file path (`state_explicit`: named by `--state`).
    pub fn resolve(
        state_path: &Path,
        state_explicit: bool,
        config_path: &Path,
        config: Option<&Config>,
    ) -> Result<Self, StateError> {
        let Some(state) = config.and_then(|c| c.state.as_ref()) else {
            return Ok(Self::Local(state_path.to_owned()));
        };
        match state.backend {
            BackendKind::Local => Ok(Self::Local(state_path.to_owned())),
            BackendKind::Postgres => {
                if state_explicit {
                    return Err(StateError::StateFileWithPostgres {
                        config: config_path.to_owned(),
                        workspace: state.workspace.clone().unwrap_or_default(),
                    });
                }
                let variable = state.url_env.clone().unwrap_or_default();
                let url = std::env::var(&variable)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| StateError::MissingDatabaseUrl {
                        variable: variable.clone(),
                        config: config_path.to_owned(),
                    })?;
                Ok(Self::Postgres(PgLocation {
                    url: Secret::new(url),
                    workspace: state.workspace.clone().unwrap_or_default(),
                }))
            }
        }
    }

    /// For messages: the file, or the workspace and host.
    pub fn describe(&self) -> String {
        match self {
            Self::Local(path) => path.display().to_string(),
            Self::Postgres(pg) => pg.describe(),
        }
    }

    /// The time on the clock every reader of this state shares, when there is one: the
    /// database's (`None` for a local file: each machine has its own clock).
    pub async fn shared_now(&self) -> Result<Option<std::time::SystemTime>, StateError> {
        match self {
            Self::Local(_) => Ok(None),
            Self::Postgres(pg) => super::postgres::database_now(pg).await.map(Some),
        }
    }

    /// Reads the audit trail without locking, oldest first.
    pub async fn read_history(&self) -> Result<Vec<ReadEntry>, StateError> {
        match self {
            Self::Local(path) => history::read(path).map_err(|source| StateError::Read {
                path: history::history_path(path),
                source,
            }),
            Self::Postgres(pg) => super::postgres::read_history(pg).await,
        }
    }

    /// Reads the state without locking (plan, drift, show, pull). `None`: no state yet.
    pub async fn load(&self) -> Result<Option<State>, StateError> {
        match self {
            Self::Local(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || State::load(&path))
                    .await
                    .expect("state reading does not panic")
            }
            Self::Postgres(pg) => crate::state::postgres::load(pg).await,
        }
    }
}

/// A state held under its lock for one command run.
#[derive(Debug)]
pub enum StateStore {
    /// A local file.
    Local(LocalStore),
    /// A PostgreSQL workspace.
    Postgres(PgStore),
}

impl StateStore {
    /// Takes the lock for `operation` (waiting up to `lock_timeout`) and reads the state.
    pub async fn open(
        location: &StateLocation,
        operation: &str,
        wait: &LockWait,
    ) -> Result<Self, StateError> {
        match location {
            StateLocation::Local(path) => {
                let path = path.clone();
                let operation = operation.to_owned();
                let wait = wait.clone();
                tokio::task::spawn_blocking(move || LocalStore::open(&path, &operation, &wait))
                    .await
                    .expect("opening the state does not panic")
                    .map(Self::Local)
            }
            StateLocation::Postgres(pg) => {
                PgStore::open(pg, operation, wait).await.map(Self::Postgres)
            }
        }
    }

    /// The state as last committed (or read).
    pub fn state(&self) -> &State {
        match self {
            Self::Local(s) => s.state(),
            Self::Postgres(s) => s.state(),
        }
    }

    /// Whether a state existed when opened (or has been written since).
    pub fn exists(&self) -> bool {
        match self {
            Self::Local(s) => s.exists(),
            Self::Postgres(s) => s.exists(),
        }
    }

    /// The serial as read when opened, before an interrupted run's journal was folded in:
    /// what `plan` reported as the state's serial.
    pub fn serial_at_open(&self) -> u64 {
        match self {
            Self::Local(s) => s.serial_at_open(),
            Self::Postgres(s) => s.serial_at_open(),
        }
    }

    /// For messages: the file, or the workspace and host.
    pub fn describe(&self) -> String {
        match self {
            Self::Local(s) => s.path().display().to_string(),
            Self::Postgres(s) => s.describe(),
        }
    }

    /// Applies `change` and writes it if the content changed.
    pub async fn commit(&mut self, change: impl FnOnce(&mut State)) -> Result<bool, StateError> {
        match self {
            Self::Local(s) => tokio::task::block_in_place(|| s.commit(change)),
            Self::Postgres(s) => s.commit(change).await,
        }
    }

    /// Records a group of updates durably (the apply engine's hot path).
    pub async fn record(&mut self, updates: Vec<StateUpdate>) -> Result<(), StateError> {
        match self {
            Self::Local(s) => tokio::task::block_in_place(|| s.record(updates)),
            Self::Postgres(s) => s.record(updates).await,
        }
    }

    /// Makes recorded updates part of the state proper (local: folds the journal into the file).
    pub async fn compact(&mut self) -> Result<(), StateError> {
        match self {
            Self::Local(s) => tokio::task::block_in_place(|| s.compact()),
            Self::Postgres(_) => Ok(()),
        }
    }

    /// Replaces the whole state (`state push`).
    pub async fn replace(&mut self, state: State) -> Result<(), StateError> {
        match self {
            Self::Local(s) => tokio::task::block_in_place(|| s.replace(state)),
            Self::Postgres(s) => s.replace(state).await,
        }
    }

    /// Ends a run: the audit-trail entry first (linked to the newest one), then one state
    /// write with `change`, the journal's updates and the entry's digest. `Ok(Some(e))`: the
    /// state was written but the trail was not (a warning).
    pub async fn finish(
        &mut self,
        entry: &mut HistoryEntry,
        change: impl FnOnce(&mut State),
    ) -> Result<Option<StateError>, StateError> {
        match self {
            Self::Local(s) => tokio::task::block_in_place(|| s.finish(entry, change)),
            Self::Postgres(s) => s.finish(entry, change).await,
        }
    }

    /// `state push`: the audit-trail entry first (on this store's trail), then `pushed` as the
    /// whole state, anchored to that entry. Like [`StateStore::finish`], `Ok(Some(e))` when
    /// the state was written but the trail was not.
    pub async fn finish_push(
        &mut self,
        entry: &mut HistoryEntry,
        mut pushed: State,
    ) -> Result<Option<StateError>, StateError> {
        entry.serial_after = pushed.serial.max(self.state().serial + 1);
        let appended = match self {
            Self::Local(s) => {
                let path = s.path().to_owned();
                history::append(&path, entry).map_err(|source| StateError::Write {
                    path: history::history_path(&path),
                    source,
                })
            }
            Self::Postgres(s) => s.append_history(entry).await,
        };
        let warning = match appended {
            Ok(digest) => {
                pushed.history_sha256 = Some(digest);
                None
            }
            Err(error) => Some(error),
        };
        self.replace(pushed).await?;
        Ok(warning)
    }

    /// Releases the lock.
    pub async fn release(self) {
        match self {
            Self::Local(s) => drop(s),
            Self::Postgres(s) => s.release().await,
        }
    }
}
