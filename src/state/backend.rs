//! The seam every state backend implements: [`Backend`] (where a state lives: read it without
//! the lock, or open it under the lock) and [`Store`] (a state held under its lock for one run).
//!
//! A backend is one module: the local file ([`super::local`]) and PostgreSQL
//! ([`super::postgres`]) implement both traits; [`super::store::StateLocation`] names which one
//! a configuration chose, and [`super::store::StateStore`] is the one type the rest of the
//! program holds. Every implementation keeps the same promises, which the integration tests
//! check on each backend: a write is atomic and durable before it returns; every write is
//! refused if another writer changed the state since it was read (compare-and-swap on the
//! serial, or a lock no one else can hold); the audit trail's entries are sealed into the state
//! before they are appended (`finish`), and entries the trail refused wait in the state until
//! the next writer appends them.

use std::fmt;
use std::time::SystemTime;

use futures::future::BoxFuture;

use super::error::StateError;
use super::history::HistoryEntry;
use super::lock::LockWait;
use super::model::{State, StateUpdate};
use super::store::{Audit, AuditView};
use super::trail::TrailLine;

/// A change to the state, applied under the lock.
pub type Change<'a> = Box<dyn FnOnce(&mut State) + Send + 'a>;

/// Where a state lives, as a configuration resolved it: read without the lock (plan, drift,
/// show, pull, history), or opened under the lock for a writing run.
pub trait Backend: fmt::Debug + Send + Sync {
    /// For messages: the file, or the workspace and host (never a secret).
    fn describe(&self) -> String;

    /// The time on the clock every reader of this state shares, when there is one (`None`:
    /// each machine has its own clock).
    fn shared_now(&self) -> BoxFuture<'_, Result<Option<SystemTime>, StateError>>;

    /// Reads the state without locking. `None`: no state yet.
    fn load(&self) -> BoxFuture<'_, Result<Option<State>, StateError>>;

    /// Reads the audit trail without locking, oldest first: its exact lines.
    fn read_history(&self) -> BoxFuture<'_, Result<Vec<TrailLine>, StateError>>;

    /// One consistent read of the trail and the state for an audit; `None` when the state
    /// changed while the trail was read (the caller reads again).
    fn read_audit_once(&self) -> BoxFuture<'_, Result<Option<AuditView>, StateError>>;

    /// Takes the lock for `operation` (waiting as `wait` says) and reads the state; first of
    /// all, the trail catches up (entries waiting in the state are written, and an interrupted
    /// run's records get their `recover` entry), sealed with `audit`.
    fn open<'a>(
        &'a self,
        operation: &'a str,
        wait: &'a LockWait,
        audit: &'a Audit,
    ) -> BoxFuture<'a, Result<Box<dyn Store>, StateError>>;
}

/// A state held under its lock for one command run.
pub trait Store: fmt::Debug + Send {
    /// The audit the store seals its entries with.
    fn audit(&self) -> &Audit;

    /// Why the trail could not be written when the store was opened (entries wait in the
    /// state), if it could not.
    fn trail_problem(&self) -> Option<&StateError>;

    /// The state as last committed (or read).
    fn state(&self) -> &State;

    /// Whether a state existed when opened (or has been written since).
    fn exists(&self) -> bool;

    /// The serial as read when opened, before an interrupted run's records were folded in:
    /// what `plan` reported as the state's serial.
    fn serial_at_open(&self) -> u64;

    /// For messages: the file, or the workspace and host.
    fn describe(&self) -> String;

    /// Applies `change` and writes it if the content changed.
    fn commit<'a>(&'a mut self, change: Change<'a>) -> BoxFuture<'a, Result<bool, StateError>>;

    /// Records a group of updates durably (the apply engine's hot path).
    fn record(&mut self, updates: Vec<StateUpdate>) -> BoxFuture<'_, Result<(), StateError>>;

    /// Makes recorded updates part of the state proper (local: folds the journal into the
    /// file). Nothing to do for a backend that records into the state itself.
    fn compact(&mut self) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async { Ok(()) })
    }

    /// Replaces the whole state (`state push`).
    fn replace(&mut self, state: State) -> BoxFuture<'_, Result<(), StateError>>;

    /// Ends a run: the audit-trail entries first (those waiting in the state, then `entry`,
    /// sealed after the newest line), then one state write with `change`, the recorded
    /// updates and the newest written entry's digest. `Ok(Some(e))`: the state was written
    /// (every SID is recorded) but entries could not be written to the trail and wait in the
    /// state: the run's error.
    fn finish<'a>(
        &'a mut self,
        entry: &'a mut HistoryEntry,
        change: Change<'a>,
    ) -> BoxFuture<'a, Result<Option<StateError>, StateError>>;

    /// `state push`: the audit-trail entries first (on this store's trail), then `pushed` as
    /// the whole state, anchored to them; `Ok(Some(e))` as for [`Store::finish`].
    fn finish_push<'a>(
        &'a mut self,
        entry: &'a mut HistoryEntry,
        pushed: State,
    ) -> BoxFuture<'a, Result<Option<StateError>, StateError>>;

    /// Releases the lock.
    fn release(self: Box<Self>) -> BoxFuture<'static, ()>;
}
