//! `StateError`: what can go wrong reading, writing or locking the state.

use std::path::PathBuf;

/// Errors of the state layer. None of them leaves the state file changed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The next write would need a serial above the highest a state can have.
    #[error("the state's serial is {serial}, and no higher one can be written: flexform never wraps a serial (every reader would take the next state for an older one). flexform adds one per write, so this serial was set by another tool or by hand: set \"serial\" back to the last one `flexform history` shows (for PostgreSQL, through `flexform state pull` and `state push --force`), or start a new state and `flexform import` each instance; nothing was written")]
    SerialExhausted {
        /// The current serial.
        serial: u64,
    },
    /// The state file exists but could not be read.
    #[error("cannot read state file {}: {source}", path.display())]
    Read {
        /// The state file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The state file is not valid state JSON. It is left untouched.
    #[error("{} {}:{line}:{column} is corrupt: {message}; it was not changed. {}",
        if is_journal(path) { "state journal" } else { "state file" },
        path.display(), restore_hint(path))]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The state was written by a newer flexform.
    #[error("state file {} has format_version {found}, newer than this flexform understands ({supported}); upgrade flexform. The file was not changed", path.display())]
    TooNew {
        /// The state file.
        path: PathBuf,
        /// Its format version.
        found: u64,
        /// The newest this binary reads.
        supported: u32,
    },
    /// Writing the state (or its backup or journal) failed; the file written is as it was.
    #[error("cannot write {}: {source}; that file is as it was before this write", path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process holds the state lock.
    #[error("state is locked by {holder}; wait for it to finish, or pass --lock-timeout to wait. If no flexform is running, `flexform force-unlock {id}` clears stale lock info")]
    Locked {
        /// Who holds it and since when, from the lock info.
        holder: String,
        /// The lock ID to pass to force-unlock.
        id: String,
    },
    /// A stop request (Ctrl-C, SIGTERM) ended the wait for the lock.
    #[error("stopped waiting for the state lock (held by {holder}); nothing was changed")]
    LockWaitStopped {
        /// Who holds it.
        holder: String,
    },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {}: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The journal beside the state was written for another state (the file was replaced,
    /// e.g. restored from a backup, after a run was interrupted).
    #[error("{} does not belong to {} (it was written for another lineage or serial: was the state restored after an interrupted run?). Nothing was changed. Move the journal aside to use the state as it is, or restore the state the journal belongs to", journal.display(), state.display())]
    JournalMismatch {
        /// The journal.
        journal: PathBuf,
        /// The state file.
        state: PathBuf,
    },
    /// A journal of a state at `base_serial` sits beside a state file that does not exist.
    #[error("{} holds updates to the state at serial {base_serial}, but {} does not exist (was it moved away, or not checked out?). Nothing was changed. Restore {} (e.g. `git checkout` it), or move the journal aside to start without a state", journal.display(), state.display(), state.display())]
    JournalWithoutState {
        /// The journal.
        journal: PathBuf,
        /// The missing state file.
        state: PathBuf,
        /// The serial of the state the journal was written for.
        base_serial: u64,
    },
    /// The database behind the state could not be used.
    #[error("{target}: {what} failed: {message}")]
    Database {
        /// Where: workspace and host, never the password.
        target: String,
        /// What was being done.
        what: String,
        /// The database's message.
        message: String,
    },
    /// A state write would replace a state of another lineage or an older serial.
    #[error("state {} changed under this run (expected serial {expected}, found {found}); nothing was written", path.display())]
    Conflict {
        /// The state.
        path: PathBuf,
        /// The serial this run read.
        expected: u64,
        /// The serial now stored.
        found: u64,
    },
    /// `--state` names a file while the configuration keeps the state in PostgreSQL.
    #[error("--state (or FLEXFORM_STATE) names a state file, but {} keeps the state in postgres (workspace `{workspace}`); drop --state", config.display())]
    StateFileWithPostgres {
        /// The configuration file.
        config: PathBuf,
        /// The workspace it names.
        workspace: String,
    },
    /// The object store behind the state (S3) could not be used.
    #[error("{target}: {what} failed: {message}")]
    ObjectStore {
        /// Where: the bucket, key and endpoint, never a credential.
        target: String,
        /// What was being done.
        what: String,
        /// The store's answer (its status and error code) or the transport's error.
        message: String,
    },
    /// `--state` names a file while the configuration keeps the state in S3.
    #[error("--state (or FLEXFORM_STATE) names a state file, but {} keeps the state in s3 ({target}); drop --state", config.display())]
    StateFileWithS3 {
        /// The configuration file.
        config: PathBuf,
        /// The bucket and key it names.
        target: String,
    },
    /// The store accepted a write its condition should have refused: it ignores conditional
    /// writes (or something between flexform and it strips their headers).
    #[error("{target} ignores conditional writes: a PUT with `{header}` that must be refused (412) was accepted. Without them two runs could overwrite each other's state, so flexform does not use this store; nothing was sent to Twilio. Use a store that implements S3's conditional writes (AWS S3, or a compatible server that does), and check that no proxy between flexform and it drops the `If-None-Match` and `If-Match` headers")]
    IgnoresConditions {
        /// The bucket, key and endpoint.
        target: String,
        /// The header that was ignored.
        header: String,
    },
    /// This run's lock was taken over (its lease ran out while the run was stalled), so it
    /// writes nothing more.
    #[error("the lock on {target} was taken over by {holder} after this run's lease ran out (the run was stalled for longer than `lock_lease`); nothing more is written by this run. Run again once that run has finished; raise `lock_lease` if runs stall this long")]
    LockLost {
        /// The bucket, key and endpoint.
        target: String,
        /// Who holds the lock now.
        holder: String,
    },
    /// This run's lease ran out before it could be renewed: another run may have taken the
    /// lock over, so this one writes nothing more.
    #[error("the lock on {target} was not renewed within its lease ({lease}): this run was stalled, or the store stopped answering, and another run may have taken the lock over; nothing more is written by this run. Run again (`flexform plan` shows what this run left); raise `lock_lease` if runs stall this long")]
    LeaseLapsed {
        /// The bucket, key and endpoint.
        target: String,
        /// The lease.
        lease: String,
    },
    /// The variable that must hold the PostgreSQL connection string is unset or empty.
    #[error("environment variable {variable} is not set: it must hold the PostgreSQL connection string (named by `state.url_env` in {})", config.display())]
    MissingDatabaseUrl {
        /// The variable named by `state.url_env`.
        variable: String,
        /// The configuration file.
        config: PathBuf,
    },
    /// `force-unlock` while a running process holds the lock.
    #[error("the lock is held by a running process: {holder}; it is released when that process ends. Nothing was changed")]
    LockHeld {
        /// Who holds it, from the lock info.
        holder: String,
    },
    /// `force-unlock` with an ID that is not the one in the lock info.
    #[error("lock ID {id} does not match the lock info ({holder}); nothing was changed")]
    LockIdMismatch {
        /// The ID given.
        id: String,
        /// The lock info found.
        holder: String,
    },
    /// Apply's state writer is gone, so nothing more can be recorded in this run.
    #[error("the state writer stopped; nothing more is recorded in this run")]
    WriterStopped,
    /// The audit trail could not be written at the end of a run. The state was written (every
    /// SID is recorded), with the entries that could not be written kept in it.
    #[error("cannot write the audit trail of {target}: {cause}. Every change is recorded in the state, and {entries} {verb} kept in the state and written first by the next command that can write the trail. Fix the cause (free space or quota, the file-size limit, the database's error), then run any command that writes the state (`flexform apply` with no changes does) and `flexform history verify`", verb = if *count == 1 { "is" } else { "are" })]
    TrailUnwritten {
        /// The trail (file, or workspace).
        target: String,
        /// Why it could not be written.
        cause: String,
        /// The entries waiting, described.
        entries: String,
        /// How many wait.
        count: usize,
    },
    /// The audit trail could not be read (a write needs its last line to link to).
    #[error("cannot read the audit trail of {target}: {cause}; nothing was changed")]
    TrailUnreadable {
        /// The trail (file, or workspace).
        target: String,
        /// Why.
        cause: String,
    },
    /// The signing key could not sign an entry.
    #[error(transparent)]
    Signing(#[from] super::signing::SigningError),
}

/// Whether `path` is a state file's journal (`<state>.journal`).
fn is_journal(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e == "journal")
}

/// What to do about a corrupt state file or journal, as it can be done.
fn restore_hint(path: &std::path::Path) -> String {
    let shown = path.display();
    if is_journal(path) {
        format!(
            "The journal holds what an interrupted run recorded (pending creates, SIDs) until the next run folds it into the state file; it has no backup. Fix that line by hand (one JSON record per line), or move the journal aside (`mv {shown} {shown}.damaged`) and run `flexform plan`: discovery finds every instance its lost lines recorded and proposes adopting it"
        )
    } else {
        format!("Restore it from {shown}.backup (the state before the last run that wrote it) or from version control")
    }
}

impl StateError {
    /// A parse error of `path`, 1-based as editors count, with the parser's message without
    /// its own "at line … column …" (the position is printed in front).
    pub fn corrupt(path: &std::path::Path, error: &serde_json::Error, line: Option<usize>) -> Self {
        let message = error.to_string();
        let message = match message.rsplit_once(" at line ") {
            Some((text, _)) => text.to_owned(),
            None => message,
        };
        StateError::Corrupt {
            path: path.to_owned(),
            line: line.unwrap_or(error.line()).max(1),
            column: error.column().max(1),
            message,
        }
    }
}
