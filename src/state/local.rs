//! `LocalStore`: the state file, locked, for commands that change it.
//!
//! Opening takes the lock, reads the state and folds in any journal a crashed run left. Every
//! [`LocalStore::commit`] that changes the content raises the serial by one and replaces the
//! file atomically and durably, the first one of a run after copying the previous file to
//! `<state>.backup`. Apply's many small updates go to the journal instead
//! ([`LocalStore::record`]: a short append and one fsync per group), and are folded into the file
//! by [`LocalStore::compact`] at the end of the run, or by the next run after a crash.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::backend::{Backend, Change, Store};
use super::error::StateError;
use super::history::{self, HistoryEntry};
use super::journal::{journal_path, read_journal, replay_journal, JournalEntry};
use super::lock::{LockWait, StateLock};
use super::model::{State, StateUpdate};
use super::store::{Audit, AuditView};
use super::trail;
use futures::future::BoxFuture;

use crate::support::fs::{parent_dir, sibling, sync_dir, write_atomic_around};

/// A state file held under lock for one command run.
#[derive(Debug)]
pub struct LocalStore {
    path: PathBuf,
    /// Held for the run: dropping the store releases the lock.
    _lock: StateLock,
    state: State,
    existed: bool,
    backed_up: bool,
    serial_at_open: u64,
    /// The state as last written to the file (the journal applies on top of it).
    file_state: State,
    /// Open journal, once something was recorded in it this run.
    journal: Option<std::fs::File>,
    /// Set when a journal write failed: its tail may be torn, so nothing more is recorded
    /// (and so no further POST is sent) in this run.
    broken: Option<String>,
    /// What this run signs its audit-trail entries with.
    audit: Audit,
    /// Why the trail could not be written when the store was opened (entries wait in the
    /// state; the run's own end tries again).
    trail_problem: Option<StateError>,
}

/// The backup file beside a state file.
pub fn backup_path(state_path: &Path) -> PathBuf {
    sibling(state_path, ".backup")
}

impl LocalStore {
    /// Locks the state for `operation` (waiting up to `lock_timeout`), reads it, and folds in
    /// the journal of an interrupted run, if any, with a `recover` entry in the trail listing
    /// what that run recorded; otherwise writes the entries that wait in the state, if any.
    pub fn open(
        path: &Path,
        operation: &str,
        wait: &LockWait,
        audit: &Audit,
    ) -> Result<Self, StateError> {
        let lock = StateLock::acquire(path, operation, &audit.runner.who, wait)?;
        let loaded = State::load_file(path)?;
        let existed = loaded.is_some();
        let state = loaded.unwrap_or_else(State::empty);
        // Refused before anything is sent: a run that could not record would be worse.
        super::model::next_serial(state.serial)?;
        let mut store = Self {
            path: path.to_owned(),
            serial_at_open: state.serial,
            _lock: lock,
            file_state: state.clone(),
            state,
            existed,
            backed_up: false,
            journal: None,
            broken: None,
            audit: audit.clone(),
            trail_problem: None,
        };
        if let Some(journal) = read_journal(path)? {
            let mut recovered = store.state.clone();
            if replay_journal(path, &journal, &mut recovered, existed)? {
                let changes =
                    trail::changes_between(&store.file_state, &recovered, trail::INTERRUPTED);
                store.state = recovered;
                // The interrupted run's records go into the file with an entry of their own.
                let mut entry = HistoryEntry::by(
                    &store.audit.runner,
                    "recover",
                    store.file_state.serial,
                    0,
                    changes,
                );
                store.trail_problem = store.finish(&mut entry, |_| {})?;
            } else {
                // Folded already: just remove it.
                store.compact_journaled()?;
            }
        }
        if store.trail_problem.is_none() && !store.state.history_unwritten.is_empty() {
            store.trail_problem = store.flush()?;
        }
        Ok(store)
    }

    /// The audit the store seals its entries with.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// Why the trail could not be written when the store was opened, if it could not.
    pub fn trail_problem(&self) -> Option<&StateError> {
        self.trail_problem.as_ref()
    }

    /// Writes the entries waiting in the state to the trail, then records that in the state
    /// at the same serial (its content is unchanged: only the trail caught up).
    fn flush(&mut self) -> Result<Option<StateError>, StateError> {
        let lines = self.state.history_unwritten.clone();
        let (written, error) = trail::append_file(&self.path, &lines);
        if written > 0 {
            let mut next = self.state.clone();
            trail::settle(&mut next, &lines, written);
            let serial = self.file_state.serial;
            self.write_file_at(next, serial)?;
        }
        Ok(error.map(|cause| self.unwritten(cause.to_string(), &lines, written)))
    }

    fn unwritten(&self, cause: String, lines: &[String], written: usize) -> StateError {
        trail::unwritten_error(
            history::history_path(&self.path).display().to_string(),
            cause,
            lines,
            written,
        )
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

    /// Applies `change`; if the content changed, writes it with the next serial. On error the
    /// file and this store's view are both left as they were.
    pub fn commit(&mut self, change: impl FnOnce(&mut State)) -> Result<bool, StateError> {
        self.compact()?;
        let mut next = self.state.clone();
        change(&mut next);
        if next.records_the_same_as(&self.state) && self.existed {
            return Ok(false);
        }
        self.write_file(next).map(|_| true)
    }

    /// Records updates durably in the journal (one append and one fsync for the group), and
    /// applies them to this store's view. The file itself is rewritten by [`Self::compact`].
    pub fn record(&mut self, updates: Vec<StateUpdate>) -> Result<(), StateError> {
        if let Some(reason) = &self.broken {
            return Err(StateError::Write {
                path: journal_path(&self.path),
                source: std::io::Error::other(format!(
                    "an earlier write to the journal failed ({reason}); nothing more is recorded in this run"
                )),
            });
        }
        let result = self.append(&updates);
        if let Err(e) = &result {
            self.broken = Some(e.to_string());
        }
        result?;
        for update in updates {
            update.apply_to(&mut self.state);
        }
        Ok(())
    }

    fn append(&mut self, updates: &[StateUpdate]) -> Result<(), StateError> {
        let path = journal_path(&self.path);
        let write_error = |source| StateError::Write {
            path: path.clone(),
            source,
        };
        if self.journal.is_none() {
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let file = options.open(&path).map_err(write_error)?;
            sync_dir(parent_dir(&path)).map_err(write_error)?;
            self.journal = Some(file);
        }
        let mut text = Vec::with_capacity(updates.len() * 256);
        for update in updates {
            let entry = JournalEntry {
                lineage: self.file_state.lineage.clone(),
                base_serial: self.file_state.serial,
                update: update.clone(),
            };
            serde_json::to_writer(&mut text, &entry).expect("journal entries serialize");
            text.push(b'\n');
        }
        let file = self.journal.as_mut().expect("opened above");
        crate::failpoint!("state::journal::before_append");
        file.write_all(&text).map_err(write_error)?;
        crate::failpoint!("state::journal::before_sync");
        file.sync_data().map_err(write_error)
    }

    /// Folds journaled updates into the state file (one atomic, durable write) and removes
    /// the journal. Does nothing when nothing was journaled this run.
    pub fn compact(&mut self) -> Result<(), StateError> {
        if self.journal.is_none() {
            return Ok(());
        }
        self.compact_journaled()
    }

    fn compact_journaled(&mut self) -> Result<(), StateError> {
        self.fold(|_| {})
    }

    /// Ends a run. The entry is sealed (linked to the line before it, signed when the run has
    /// a key) and made durable in the state first, in the one write that folds in the
    /// journal's updates and `change` (next serial), among the entries waiting
    /// (`history_unwritten`); then the waiting entries are appended to the trail, and the
    /// state records that at the same serial (the newest written entry's digest as the
    /// anchor). A crash anywhere leaves the entry in the state or in the trail, never
    /// nowhere, and no entry without its change. When the trail cannot be written the
    /// entries stay in the state and the trail's error is returned as `Ok(Some(..))`: the
    /// run's error (every SID is recorded all the same).
    pub fn finish(
        &mut self,
        entry: &mut HistoryEntry,
        change: impl FnOnce(&mut State),
    ) -> Result<Option<StateError>, StateError> {
        entry.serial_after = super::model::next_serial(self.file_state.serial)?;
        let lines = self.seal(entry)?;
        self.fold(|state| {
            change(state);
            state.history_unwritten = lines;
        })?;
        self.flush()
    }

    /// `state push`: like [`Self::finish`], with `pushed` as the whole state (its serial kept
    /// when higher, else one more than the current one; its anchor and waiting entries are
    /// this store's, since its trail stays here).
    pub fn finish_push(
        &mut self,
        entry: &mut HistoryEntry,
        mut pushed: State,
    ) -> Result<Option<StateError>, StateError> {
        self.compact()?;
        entry.serial_after = super::model::pushed_serial(pushed.serial, self.file_state.serial)?;
        let lines = self.seal(entry)?;
        pushed.history_sha256 = self.state.history_sha256.clone();
        pushed.history_unwritten = lines;
        self.replace(pushed)?;
        self.flush()
    }

    /// The entries waiting in the state, then `entry` sealed after them (linked to the
    /// trail's last line, or to the anchor when the trail cannot be read).
    fn seal(&self, entry: &mut HistoryEntry) -> Result<Vec<String>, StateError> {
        let read = trail::read_file(&self.path);
        let last = match &read {
            Ok(lines) => Ok(lines.last()),
            Err(_) => Err(()),
        };
        Ok(trail::seal_after(
            last,
            &self.state,
            entry,
            self.audit.signer(),
        )?)
    }

    /// Writes this store's view with `change` applied (the journal's updates included) when it
    /// differs from the file, and removes the journal.
    fn fold(&mut self, change: impl FnOnce(&mut State)) -> Result<(), StateError> {
        #[cfg(feature = "failpoints")]
        fail::fail_point!("state::fold::fail", |_| Err(StateError::Write {
            path: self.path.clone(),
            source: std::io::Error::other("failpoint state::fold::fail"),
        }));
        crate::failpoint!("state::fold::before_write");
        let mut next = self.state.clone();
        change(&mut next);
        if next.instances != self.file_state.instances
            || next.pending != self.file_state.pending
            || next.history_sha256 != self.file_state.history_sha256
            || next.history_unwritten != self.file_state.history_unwritten
            || !self.existed
        {
            self.write_file(next)?;
        } else {
            self.state.serial = self.file_state.serial;
            self.state.lineage = self.file_state.lineage.clone();
        }
        crate::failpoint!("state::fold::before_journal_remove");
        self.journal = None;
        let path = journal_path(&self.path);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(StateError::Write { path, source }),
        }
        sync_dir(parent_dir(&self.path)).map_err(|source| StateError::Write {
            path: parent_dir(&self.path).to_owned(),
            source,
        })
    }

    /// Writes `next` as the state file with the next serial, backing up the previous file
    /// first if this is the run's first write.
    fn write_file(&mut self, next: State) -> Result<(), StateError> {
        let serial = super::model::next_serial(self.file_state.serial)?;
        self.write_file_at(next, serial)
    }

    fn write_file_at(&mut self, mut next: State, serial: u64) -> Result<(), StateError> {
        next.serial = serial;
        next.flexform_version = env!("CARGO_PKG_VERSION").to_owned();
        if !self.backed_up {
            if self.existed {
                let previous = std::fs::read(&self.path).map_err(|source| StateError::Read {
                    path: self.path.clone(),
                    source,
                })?;
                let backup = backup_path(&self.path);
                write_atomic_around(
                    &backup,
                    &previous,
                    Some(0o600),
                    || {
                        crate::failpoint!("state::backup::before_rename");
                    },
                    || {
                        crate::failpoint!("state::backup::after_rename");
                    },
                )
                .map_err(|source| StateError::Write {
                    path: backup,
                    source,
                })?;
            }
            self.backed_up = true;
        }
        write_atomic_around(
            &self.path,
            &next.to_bytes(),
            Some(0o600),
            || {
                crate::failpoint!("state::file::before_rename");
            },
            || {
                crate::failpoint!("state::file::after_rename");
            },
        )
        .map_err(|source| StateError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.file_state = next.clone();
        self.state = next;
        self.existed = true;
        Ok(())
    }
}

impl LocalStore {
    /// Replaces the whole state (`state push`). The serial becomes the pushed one, or one more
    /// than the current one if that is higher (`--force` with an older document): it only rises.
    pub fn replace(&mut self, state: State) -> Result<(), StateError> {
        self.compact()?;
        let serial = super::model::pushed_serial(state.serial, self.file_state.serial)?;
        self.write_file_at(state, serial)
    }
}

/// The local backend's location: a state file, with its journal, backup, lock and trail beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile(pub PathBuf);

impl Backend for LocalFile {
    fn describe(&self) -> String {
        self.0.display().to_string()
    }

    fn shared_now(&self) -> BoxFuture<'_, Result<Option<std::time::SystemTime>, StateError>> {
        // Each machine has its own clock.
        Box::pin(async { Ok(None) })
    }

    fn load(&self) -> BoxFuture<'_, Result<Option<State>, StateError>> {
        let path = self.0.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || State::load(&path))
                .await
                .expect("state reading does not panic")
        })
    }

    fn read_history(&self) -> BoxFuture<'_, Result<Vec<trail::TrailLine>, StateError>> {
        Box::pin(async move {
            trail::read_file(&self.0).map_err(|source| StateError::TrailUnreadable {
                target: history::history_path(&self.0).display().to_string(),
                cause: source.to_string(),
            })
        })
    }

    fn read_audit_once(&self) -> BoxFuture<'_, Result<Option<AuditView>, StateError>> {
        let path = self.0.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || read_audit_once(&path))
                .await
                .expect("reading the trail does not panic")
        })
    }

    fn open<'a>(
        &'a self,
        operation: &'a str,
        wait: &'a LockWait,
        audit: &'a Audit,
    ) -> BoxFuture<'a, Result<Box<dyn Store>, StateError>> {
        let path = self.0.clone();
        let operation = operation.to_owned();
        let wait = wait.clone();
        let audit = audit.clone();
        Box::pin(async move {
            let store = tokio::task::spawn_blocking(move || {
                LocalStore::open(&path, &operation, &wait, &audit)
            })
            .await
            .expect("opening the state does not panic")?;
            Ok(Box::new(store) as Box<dyn Store>)
        })
    }
}

/// One consistent read of a local trail and state: `None` when the state changed while the
/// trail was read.
fn read_audit_once(path: &Path) -> Result<Option<AuditView>, StateError> {
    let before = State::load(path)?;
    let trail = trail::read_file(path).map_err(|source| StateError::TrailUnreadable {
        target: history::history_path(path).display().to_string(),
        cause: source.to_string(),
    })?;
    let journal = read_journal(path)?.is_some_and(|j| !j.is_empty());
    let after = State::load(path)?;
    if before != after {
        return Ok(None);
    }
    Ok(Some(AuditView {
        trail,
        state: after,
        journal,
        writer: super::lock::holder(path),
    }))
}

/// The file's writes are synchronous: each runs on the runtime's thread with
/// `block_in_place`, so that a run's steps stay in order.
impl Store for LocalStore {
    fn audit(&self) -> &Audit {
        LocalStore::audit(self)
    }

    fn trail_problem(&self) -> Option<&StateError> {
        LocalStore::trail_problem(self)
    }

    fn state(&self) -> &State {
        LocalStore::state(self)
    }

    fn exists(&self) -> bool {
        LocalStore::exists(self)
    }

    fn serial_at_open(&self) -> u64 {
        LocalStore::serial_at_open(self)
    }

    fn describe(&self) -> String {
        self.path().display().to_string()
    }

    fn commit<'a>(&'a mut self, change: Change<'a>) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(async move { tokio::task::block_in_place(|| LocalStore::commit(self, change)) })
    }

    fn record(&mut self, updates: Vec<StateUpdate>) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async move { tokio::task::block_in_place(|| LocalStore::record(self, updates)) })
    }

    fn compact(&mut self) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async move { tokio::task::block_in_place(|| LocalStore::compact(self)) })
    }

    fn replace(&mut self, state: State) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async move { tokio::task::block_in_place(|| LocalStore::replace(self, state)) })
    }

    fn finish<'a>(
        &'a mut self,
        entry: &'a mut HistoryEntry,
        change: Change<'a>,
    ) -> BoxFuture<'a, Result<Option<StateError>, StateError>> {
        Box::pin(
            async move { tokio::task::block_in_place(|| LocalStore::finish(self, entry, change)) },
        )
    }

    fn finish_push<'a>(
        &'a mut self,
        entry: &'a mut HistoryEntry,
        pushed: State,
    ) -> BoxFuture<'a, Result<Option<StateError>, StateError>> {
        Box::pin(async move {
            tokio::task::block_in_place(|| LocalStore::finish_push(self, entry, pushed))
        })
    }

    fn release(self: Box<Self>) -> BoxFuture<'static, ()> {
        // Dropping the store releases the file lock.
        drop(self);
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sid::AccountSid;
    use crate::state::{PendingCreate, StateError};
    use std::time::Duration;

    /// Opens the store at `path` for `command` without waiting for the lock.
    fn try_open(path: &Path, command: &str) -> Result<LocalStore, StateError> {
        LocalStore::open(
            path,
            command,
            &LockWait::timeout(Duration::ZERO),
            &Audit::default(),
        )
    }

    /// The store at `path`, opened for `command` without waiting for the lock.
    fn open(path: &Path, command: &str) -> LocalStore {
        try_open(path, command).unwrap()
    }

    /// [`open`], with the state file written once (serial 1).
    fn written(path: &Path, command: &str) -> LocalStore {
        let mut store = open(path, command);
        store.commit(|s| s.pending.clear()).unwrap();
        store
    }

    fn pending() -> PendingCreate {
        PendingCreate {
            account_sid: AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap(),
            address: "flex_instance.a".into(),
            conversations_default: None,
            started_at: "now".into(),
            in_flight_until: None,
            clock: None,
        }
    }

    #[test]
    fn serial_rises_per_change_and_lineage_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = open(&path, "apply");
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
        let mut store = open(&path, "apply");
        store
            .commit(|s| {
                s.pending.insert("a".into(), pending());
            })
            .unwrap();
        assert!(!backup_path(&path).exists(), "no previous state, no backup");
        drop(store);
        let before = std::fs::read(&path).unwrap();
        let mut store = written(&path, "apply");
        store
            .commit(|s| {
                s.pending.insert("b".into(), pending());
            })
            .unwrap();
        assert_eq!(std::fs::read(backup_path(&path)).unwrap(), before);
    }

    /// A state file at serial 1 and a journal (base 1) holding a pending create for `a`, as a
    /// crashed apply leaves them.
    fn state_with_journal() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = written(&path, "apply");
        store.record(vec![pending_update("a")]).unwrap();
        drop(store);
        (dir, path)
    }

    #[test]
    fn after_a_failed_journal_write_nothing_more_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = open(&path, "apply");
        store.record(vec![pending_update("a")]).unwrap();
        // The journal's handle turns unwritable (as a full disk or an I/O error would).
        store.journal = Some(std::fs::File::open(journal_path(&path)).unwrap());
        assert!(store.record(vec![pending_update("b")]).is_err());
        // Even with a good handle again, the run records nothing more: the tail may be torn.
        store.journal = Some(
            std::fs::OpenOptions::new()
                .append(true)
                .open(journal_path(&path))
                .unwrap(),
        );
        let err = store.record(vec![pending_update("c")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("an earlier write to the journal failed"),
            "{err}"
        );
        assert!(!store.state().pending.contains_key("b"));
        assert!(!store.state().pending.contains_key("c"));
    }

    fn pending_update(name: &str) -> StateUpdate {
        StateUpdate::Pending {
            name: name.into(),
            pending: pending(),
        }
    }

    #[test]
    fn journaled_updates_are_seen_by_readers_and_folded_in_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = written(&path, "apply"); // creates the file, serial 1
        store
            .record(vec![pending_update("a"), pending_update("b")])
            .unwrap();
        let file_before = std::fs::read(&path).unwrap();
        // A crash now: the store is dropped without compacting.
        drop(store);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            file_before,
            "the journal, not the file, took the updates"
        );
        let seen = State::load(&path).unwrap().unwrap();
        assert_eq!(seen.pending.len(), 2, "readers replay the journal");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            file_before,
            "reading writes nothing"
        );

        let store = open(&path, "apply");
        assert_eq!(store.state().pending.len(), 2);
        assert_eq!(
            store.state().serial,
            2,
            "folding the journal in is one change"
        );
        assert!(
            !journal_path(&path).exists(),
            "the journal is gone once folded in"
        );
        assert_eq!(State::load_file(&path).unwrap().unwrap().pending.len(), 2);
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_a_foreign_journal_refused() {
        let (dir, path) = state_with_journal();
        let _keep = dir;
        let journal = journal_path(&path);
        let mut text = std::fs::read(&journal).unwrap();
        text.extend_from_slice(b"{\"lineage\": \"cut sh");
        std::fs::write(&journal, &text).unwrap();
        assert_eq!(State::load(&path).unwrap().unwrap().pending.len(), 1);

        // The state file replaced (restored) under the journal: refuse, change nothing.
        let mut other = State::empty();
        other.serial = 9;
        std::fs::write(&path, other.to_bytes()).unwrap();
        let err = State::load(&path).unwrap_err();
        assert!(matches!(err, StateError::JournalMismatch { .. }), "{err:?}");
        assert!(try_open(&path, "apply").is_err());
        assert_eq!(State::load_file(&path).unwrap().unwrap(), other);
    }

    #[test]
    fn a_journal_without_a_state_file_keeps_its_lineage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = open(&path, "apply");
        store.record(vec![pending_update("a")]).unwrap();
        let lineage = store.state().lineage.clone();
        drop(store);
        assert!(!path.exists());
        let seen = State::load(&path).unwrap().unwrap();
        assert_eq!(seen.lineage, lineage);
        let store = open(&path, "apply");
        assert_eq!(store.state().lineage, lineage);
        assert_eq!(State::load_file(&path).unwrap().unwrap().pending.len(), 1);
    }

    #[test]
    fn a_journal_already_folded_in_is_not_applied_twice_nor_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = written(&path, "apply");
        store.record(vec![pending_update("a")]).unwrap();
        let journal = std::fs::read(journal_path(&path)).unwrap();
        store.compact().unwrap();
        drop(store);
        // A crash between writing the file and removing the journal.
        std::fs::write(journal_path(&path), &journal).unwrap();
        let seen = State::load(&path).unwrap().unwrap();
        assert_eq!(seen.serial, 2);
        assert_eq!(seen.pending.len(), 1);
        let store = open(&path, "apply");
        assert_eq!(store.state().serial, 2, "nothing new to write");
        assert!(!journal_path(&path).exists());
    }

    #[test]
    fn a_complete_line_that_does_not_parse_is_refused_not_skipped() {
        let (dir, path) = state_with_journal();
        let _keep = dir;
        let journal = journal_path(&path);
        let mut text = std::fs::read(&journal).unwrap();
        text.extend_from_slice(b"{\"op\": \"from_a_newer_flexform\"}\n");
        std::fs::write(&journal, &text).unwrap();
        assert!(matches!(
            State::load(&path),
            Err(StateError::Corrupt { line: 2, .. })
        ));
        assert!(try_open(&path, "apply").is_err());
        assert!(
            journal.exists(),
            "a journal that cannot be read is never removed"
        );
    }

    #[test]
    fn a_newer_file_of_the_same_lineage_does_not_swallow_an_unfolded_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = written(&path, "apply"); // serial 1
        store.record(vec![pending_update("a")]).unwrap(); // journal, base 1
        drop(store);
        // Another serial-2 file of the same lineage arrives (e.g. from version control).
        let mut other = State::load_file(&path).unwrap().unwrap();
        other.serial = 2;
        std::fs::write(&path, other.to_bytes()).unwrap();
        assert!(matches!(
            State::load(&path),
            Err(StateError::JournalMismatch { .. })
        ));
    }

    #[test]
    fn a_journal_beside_a_missing_state_file_is_refused_and_nothing_is_written() {
        let (dir, path) = state_with_journal();
        let moved = dir.path().join("elsewhere.json");
        std::fs::rename(&path, &moved).unwrap();
        let err = State::load(&path).unwrap_err();
        assert!(
            matches!(err, StateError::JournalWithoutState { base_serial: 1, .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("s.json.journal"), "{text}");
        assert!(text.contains("does not exist"), "{text}");
        // A writer (state rm, apply) refuses too, and writes no state at serial 1.
        let err = try_open(&path, "state rm").unwrap_err();
        assert!(
            matches!(err, StateError::JournalWithoutState { .. }),
            "{err:?}"
        );
        assert!(!path.exists(), "no state file was written");
        assert!(journal_path(&path).exists(), "the journal is kept");
    }

    #[test]
    fn a_first_run_that_crashed_before_its_first_write_is_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = open(&path, "apply");
        store.record(vec![pending_update("a")]).unwrap();
        drop(store);
        assert!(!path.exists());
        let state = State::load(&path)
            .unwrap()
            .expect("the journal is the state");
        assert!(state.pending.contains_key("a"));
    }

    /// A reader that read the journal just before a writer folded it and another wrote again
    /// reads the pair again instead of reporting a journal that "does not belong".
    #[cfg(feature = "failpoints")]
    #[test]
    fn a_reader_racing_two_writes_reads_again_instead_of_failing() {
        let scenario = fail::FailScenario::setup();
        let (_dir, path) = state_with_journal();
        let writer_path = path.clone();
        let done = std::sync::atomic::AtomicBool::new(false);
        let done = std::sync::Arc::new(done);
        let once = done.clone();
        // Failpoints are process-wide, and other tests load states on other threads at the
        // same time: only this test's own read is raced.
        let reader = std::thread::current().id();
        fail::cfg_callback("state::load::between_journal_and_file", move || {
            if std::thread::current().id() != reader
                || once.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                return;
            }
            // Between the reader's two reads: a fold (serial 2), then a commit (serial 3).
            let mut store = open(&writer_path, "apply");
            store
                .commit(|s| {
                    s.pending.insert("b".into(), pending());
                })
                .unwrap();
        })
        .unwrap();
        let state = State::load(&path).unwrap().unwrap();
        assert!(
            done.load(std::sync::atomic::Ordering::SeqCst),
            "the race happened"
        );
        assert_eq!(state.serial, 3);
        assert!(state.pending.contains_key("a") && state.pending.contains_key("b"));
        fail::remove("state::load::between_journal_and_file");
        scenario.teardown();
    }

    /// A journal that keeps changing under a reader, each time not matching the file, is read
    /// again a bounded number of times (ten), then reported: never an endless loop, never a
    /// silent success.
    #[cfg(feature = "failpoints")]
    #[test]
    fn a_reader_gives_up_after_ten_changing_mismatches() {
        let scenario = fail::FailScenario::setup();
        let (_dir, path) = state_with_journal();
        let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = reads.clone();
        let journal = journal_path(&path);
        let foreign = |n: String| {
            let entry = crate::state::journal::JournalEntry {
                lineage: format!("another-{n}"),
                base_serial: 1,
                update: StateUpdate::ClearPending { name: "a".into() },
            };
            format!("{}\n", serde_json::to_string(&entry).unwrap())
        };
        std::fs::write(&journal, foreign("start".into())).unwrap();
        let reader = std::thread::current().id();
        fail::cfg_callback("state::load::between_journal_and_file", move || {
            if std::thread::current().id() != reader {
                return;
            }
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            assert!(n < 50, "the reader does not give up");
            // Another state's journal, different every time.
            std::fs::write(&journal, foreign(n.to_string())).unwrap();
        })
        .unwrap();
        let result = State::load(&path);
        fail::remove("state::load::between_journal_and_file");
        scenario.teardown();
        assert!(
            matches!(result, Err(StateError::JournalMismatch { .. })),
            "{result:?}"
        );
        // The first read and ten more.
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 11);
    }

    /// A mismatch that stays the same is reported at once: it is no race, read it again and
    /// it would only say the same.
    #[cfg(feature = "failpoints")]
    #[test]
    fn a_steady_mismatch_is_reported_after_one_read() {
        let scenario = fail::FailScenario::setup();
        let (_dir, path) = state_with_journal();
        let entry = crate::state::journal::JournalEntry {
            lineage: "another".into(),
            base_serial: 1,
            update: StateUpdate::ClearPending { name: "a".into() },
        };
        std::fs::write(
            journal_path(&path),
            format!("{}\n", serde_json::to_string(&entry).unwrap()),
        )
        .unwrap();
        let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = reads.clone();
        let reader = std::thread::current().id();
        fail::cfg_callback("state::load::between_journal_and_file", move || {
            if std::thread::current().id() == reader {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
        .unwrap();
        let result = State::load(&path);
        fail::remove("state::load::between_journal_and_file");
        scenario.teardown();
        assert!(
            matches!(result, Err(StateError::JournalMismatch { .. })),
            "{result:?}"
        );
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// Folding a journal that changed only pending creates (no record) writes them: every
    /// kind of change counts, not only a change of every kind at once.
    #[test]
    fn a_fold_of_pending_creates_alone_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let store = written(&path, "apply");
        drop(store);
        let before = State::load_file(&path).unwrap().unwrap();
        let mut store = open(&path, "apply");
        store.record(vec![pending_update("a")]).unwrap();
        store.compact().unwrap();
        drop(store);
        let after = State::load_file(&path).unwrap().unwrap();
        assert!(after.pending.contains_key("a"), "{after:?}");
        assert_eq!(after.instances, before.instances);
        assert_eq!(after.serial, before.serial + 1);
        assert!(!journal_path(&path).exists());
    }

    /// The audit entry a run ends with names the serial the state is written at.
    #[test]
    fn finish_records_the_serial_it_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = written(&path, "apply");
        store
            .commit(|s| {
                s.pending.insert("a".into(), pending());
            })
            .unwrap();
        let mut entry = HistoryEntry::new("apply", 2, 0, Vec::new());
        assert!(store
            .finish(&mut entry, |s| {
                s.pending.clear();
            })
            .unwrap()
            .is_none());
        drop(store);
        let state = State::load_file(&path).unwrap().unwrap();
        assert_eq!(state.serial, 3);
        assert_eq!(entry.serial_after, 3);
        let trail = crate::state::trail::read_file(&path).unwrap();
        assert_eq!(
            trail.last().unwrap().entry.as_ref().unwrap().serial_after,
            3
        );
    }

    /// `state push`: the pushed state is written, with its own serial when that is higher,
    /// else one more than the current serial (the serial only rises).
    #[test]
    fn replace_writes_the_pushed_state_and_the_serial_only_rises() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = written(&path, "push");
        store
            .commit(|s| {
                s.pending.insert("a".into(), pending());
            })
            .unwrap();
        assert_eq!(store.state().serial, 2);
        let mut pushed = store.state().clone();
        pushed.pending.clear();
        pushed.pending.insert("b".into(), pending());
        pushed.serial = 7;
        store.replace(pushed.clone()).unwrap();
        let on_disk = State::load_file(&path).unwrap().unwrap();
        assert_eq!(on_disk.serial, 7, "a newer pushed serial is kept");
        assert_eq!(on_disk.pending, pushed.pending);
        pushed.serial = 1;
        store.replace(pushed).unwrap();
        assert_eq!(
            State::load_file(&path).unwrap().unwrap().serial,
            8,
            "an older pushed serial becomes one more than the current one"
        );
    }

    /// A journal that cannot be removed after a fold is an error: left behind, it would be
    /// replayed again by every reader.
    #[test]
    fn a_journal_that_cannot_be_removed_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let mut store = written(&path, "apply");
        store.record(vec![pending_update("a")]).unwrap();
        // A non-empty folder in its place cannot be removed as a file.
        let journal = journal_path(&path);
        std::fs::remove_file(&journal).unwrap();
        std::fs::create_dir(&journal).unwrap();
        std::fs::write(journal.join("x"), b"x").unwrap();
        match store.compact() {
            Err(StateError::Write { path: named, .. }) => assert_eq!(named, journal),
            other => panic!("{other:?}"),
        }
    }

    /// A run that changed no record still anchors its audit entry: the state file is written
    /// with the new entry's digest.
    #[test]
    fn finish_without_changes_still_anchors_the_trail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let store = written(&path, "apply");
        drop(store);
        let before = State::load_file(&path).unwrap().unwrap();
        let mut store = open(&path, "apply");
        let mut entry = HistoryEntry::new("apply", 1, 0, Vec::new());
        assert!(store.finish(&mut entry, |_| {}).unwrap().is_none());
        drop(store);
        let after = State::load_file(&path).unwrap().unwrap();
        assert_eq!(after.instances, before.instances);
        assert!(after.history_sha256.is_some(), "{after:?}");
        assert_ne!(after.history_sha256, before.history_sha256);
        assert_eq!(after.serial, before.serial + 1);
    }
}
