//! `StateStore`: where the state lives (a local file, a PostgreSQL workspace, an S3 object) behind one
//! interface: read without a lock, or open under the lock, commit, record, keep history.

use std::path::Path;

use super::backend::{Backend, Store};
use super::error::StateError;
use super::history::{HistoryEntry, Runner};
use super::local::LocalFile;
use super::lock::LockWait;
use super::model::{State, StateUpdate};
use super::postgres::PgLocation;
use super::s3::S3Location;
use super::signing::SigningKey;
use super::trail::TrailLine;
use crate::config::secret::Secret;
use crate::config::{BackendKind, Config};
use crate::support::env::Env;

/// What a writing run seals its audit-trail entries with.
#[derive(Debug, Clone, Default)]
pub struct Audit {
    /// The key that signs every entry (`FLEXFORM_SIGNING_KEY`), if any.
    pub signer: Option<std::sync::Arc<SigningKey>>,
    /// Who runs: named by the lock and by every entry.
    pub runner: Runner,
}

impl Audit {
    /// The signing key, if any.
    pub fn signer(&self) -> Option<&SigningKey> {
        self.signer.as_deref()
    }
}

/// The trail and the state as one audit reads them (`history`, `history verify`, `report`):
/// read together, so that a writer at work cannot make them look out of step.
#[derive(Debug, Clone)]
pub struct AuditView {
    /// The trail's lines, oldest first.
    pub trail: Vec<TrailLine>,
    /// The state (a local one with its journal applied); `None`: there is none.
    pub state: Option<State>,
    /// Whether a local state has a journal (changes recorded by a run, not yet folded in).
    pub journal: bool,
    /// Who holds the state's lock, when a run was at work and did not finish meanwhile.
    pub writer: Option<String>,
}

/// The bucket and key of an s3 `state:` section, with the region and endpoint it names or
/// the environment's (`AWS_REGION`, `AWS_DEFAULT_REGION`; `AWS_ENDPOINT_URL_S3`,
/// `AWS_ENDPOINT_URL`), as the AWS CLI and SDKs read them.
fn s3_location(state: &crate::config::StateConfig, env: &Env) -> S3Location {
    let region = state
        .region
        .clone()
        .or_else(|| env.non_empty("AWS_REGION"))
        .or_else(|| env.non_empty("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".to_owned());
    let endpoint = state
        .endpoint
        .clone()
        .or_else(|| env.non_empty("AWS_ENDPOINT_URL_S3"))
        .or_else(|| env.non_empty("AWS_ENDPOINT_URL"));
    let lease = state
        .lock_lease
        .as_deref()
        .and_then(|l| humantime::parse_duration(l).ok())
        .unwrap_or(super::s3::DEFAULT_LEASE);
    S3Location::new(
        state.bucket.clone().unwrap_or_default(),
        state.key.clone().unwrap_or_default(),
        region,
        endpoint,
        lease,
    )
}

/// Where the state is.
#[derive(Debug, Clone)]
pub enum StateLocation {
    /// A JSON file.
    Local(LocalFile),
    /// A workspace in PostgreSQL.
    Postgres(PgLocation),
    /// An object in an S3 bucket.
    S3(S3Location),
}

impl StateLocation {
    /// Resolves the location from the configuration's `state:` section (read from
    /// `config_path`), the state file path (`state_explicit`: named by `--state`) and, for
    /// PostgreSQL, the variables of `env` (the connection string's and libpq's).
    pub fn resolve(
        state_path: &Path,
        state_explicit: bool,
        config_path: &Path,
        config: Option<&Config>,
        env: &Env,
    ) -> Result<Self, StateError> {
        let Some(state) = config.and_then(|c| c.state.as_ref()) else {
            return Ok(Self::Local(LocalFile(state_path.to_owned())));
        };
        match state.backend {
            BackendKind::Local => Ok(Self::Local(LocalFile(state_path.to_owned()))),
            BackendKind::Postgres => {
                if state_explicit {
                    return Err(StateError::StateFileWithPostgres {
                        config: config_path.to_owned(),
                        workspace: state.workspace.clone().unwrap_or_default(),
                    });
                }
                let variable = state.url_env.clone().unwrap_or_default();
                let url =
                    env.non_empty(&variable)
                        .ok_or_else(|| StateError::MissingDatabaseUrl {
                            variable: variable.clone(),
                            config: config_path.to_owned(),
                        })?;
                Ok(Self::Postgres(PgLocation {
                    url: Secret::new(url),
                    workspace: state.workspace.clone().unwrap_or_default(),
                    env: env.clone(),
                }))
            }
            BackendKind::S3 => {
                let location = s3_location(state, env);
                if state_explicit {
                    return Err(StateError::StateFileWithS3 {
                        config: config_path.to_owned(),
                        target: location.describe(),
                    });
                }
                Ok(Self::S3(location))
            }
        }
    }

    /// The backend this location names.
    pub fn backend(&self) -> &dyn Backend {
        match self {
            Self::Local(file) => file,
            Self::Postgres(pg) => pg,
            Self::S3(s3) => s3,
        }
    }

    /// For messages: the file, or the workspace and host.
    pub fn describe(&self) -> String {
        self.backend().describe()
    }

    /// The time on the clock every reader of this state shares, when there is one: the
    /// database's (`None` for a local file: each machine has its own clock).
    pub async fn shared_now(&self) -> Result<Option<std::time::SystemTime>, StateError> {
        self.backend().shared_now().await
    }

    /// Reads the audit trail without locking, oldest first: its exact lines.
    pub async fn read_history(&self) -> Result<Vec<TrailLine>, StateError> {
        self.backend().read_history().await
    }

    /// Reads the trail and the state for an audit, without the lock (nothing is written, the
    /// lock file included): the two are read again until they agree with each other (a writer
    /// changed neither meanwhile), waiting up to about two seconds for a writer at work to
    /// settle its entries.
    pub async fn read_audit(&self) -> Result<AuditView, StateError> {
        const ROUNDS: usize = 20;
        let pause = std::time::Duration::from_millis(100);
        let mut round = 0;
        loop {
            round += 1;
            let Some(view) = self.backend().read_audit_once().await? else {
                // The state changed between the reads.
                tokio::time::sleep(pause / 2).await;
                continue;
            };
            let unsettled = view.journal
                || view
                    .state
                    .as_ref()
                    .is_some_and(|s| !s.history_unwritten.is_empty());
            // Entries waiting, or a journal: a writer may be between its two writes (it may
            // even have let the lock go by the time it was looked at). Look again; what stays
            // so for two seconds is what it is.
            if unsettled && round < ROUNDS {
                tokio::time::sleep(pause).await;
                continue;
            }
            return Ok(view);
        }
    }

    /// Reads the state without locking (plan, drift, show, pull). `None`: no state yet.
    pub async fn load(&self) -> Result<Option<State>, StateError> {
        self.backend().load().await
    }
}

/// A state held under its lock for one command run, on whichever backend holds it.
#[derive(Debug)]
pub struct StateStore(Box<dyn Store>);

impl StateStore {
    /// Takes the lock for `operation` (waiting up to `lock_timeout`) and reads the state;
    /// first of all, the trail catches up (entries waiting in the state are written, and an
    /// interrupted run's records get their `recover` entry), sealed with `audit`.
    pub async fn open(
        location: &StateLocation,
        operation: &str,
        wait: &LockWait,
        audit: &Audit,
    ) -> Result<Self, StateError> {
        location
            .backend()
            .open(operation, wait, audit)
            .await
            .map(Self)
    }

    /// The audit the store seals its entries with.
    pub fn audit(&self) -> &Audit {
        self.0.audit()
    }

    /// Why the trail could not be written when the store was opened (entries wait in the
    /// state), if it could not.
    pub fn trail_problem(&self) -> Option<&StateError> {
        self.0.trail_problem()
    }

    /// The state as last committed (or read).
    pub fn state(&self) -> &State {
        self.0.state()
    }

    /// Whether a state existed when opened (or has been written since).
    pub fn exists(&self) -> bool {
        self.0.exists()
    }

    /// The serial as read when opened, before an interrupted run's journal was folded in:
    /// what `plan` reported as the state's serial.
    pub fn serial_at_open(&self) -> u64 {
        self.0.serial_at_open()
    }

    /// For messages: the file, or the workspace and host.
    pub fn describe(&self) -> String {
        self.0.describe()
    }

    /// Applies `change` and writes it if the content changed.
    pub async fn commit(
        &mut self,
        change: impl FnOnce(&mut State) + Send,
    ) -> Result<bool, StateError> {
        self.0.commit(Box::new(change)).await
    }

    /// Records a group of updates durably (the apply engine's hot path).
    pub async fn record(&mut self, updates: Vec<StateUpdate>) -> Result<(), StateError> {
        self.0.record(updates).await
    }

    /// Makes recorded updates part of the state proper (local: folds the journal into the file).
    pub async fn compact(&mut self) -> Result<(), StateError> {
        self.0.compact().await
    }

    /// Replaces the whole state (`state push`).
    pub async fn replace(&mut self, state: State) -> Result<(), StateError> {
        self.0.replace(state).await
    }

    /// Ends a run: the audit-trail entries first (those waiting in the state, then `entry`,
    /// sealed after the newest line), then one state write with `change`, the journal's
    /// updates and the newest written entry's digest. `Ok(Some(e))`: the state was written
    /// (every SID is recorded) but entries could not be written to the trail and wait in the
    /// state: the run's error.
    pub async fn finish(
        &mut self,
        entry: &mut HistoryEntry,
        change: impl FnOnce(&mut State) + Send,
    ) -> Result<Option<StateError>, StateError> {
        self.0.finish(entry, Box::new(change)).await
    }

    /// `state push`: the audit-trail entries first (on this store's trail), then `pushed` as
    /// the whole state, anchored to them. Like [`StateStore::finish`], `Ok(Some(e))` when the
    /// state was written but the trail was not.
    pub async fn finish_push(
        &mut self,
        entry: &mut HistoryEntry,
        pushed: State,
    ) -> Result<Option<StateError>, StateError> {
        self.0.finish_push(entry, pushed).await
    }

    /// Releases the lock.
    pub async fn release(self) {
        self.0.release().await
    }
}
