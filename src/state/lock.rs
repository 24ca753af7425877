//! `StateLock`: an exclusive lock on `<state>.lock`, held for a whole apply, import or state rm.
//!
//! The lock is the operating system's (`File::try_lock`) on a sibling file that is never
//! deleted, so a killed process never leaves a lock behind; the file's content only says who
//! holds it, for the message a blocked run prints.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::error::StateError;
use crate::support::stop::Stop;

/// Who holds a lock, written into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Random ID, for `flexform force-unlock`.
    pub id: String,
    /// The command holding it: apply, import, state rm.
    pub operation: String,
    /// `user@host`.
    pub who: String,
    /// When it was taken (RFC 3339).
    pub created: String,
    /// flexform version of the holder.
    pub flexform_version: String,
}

impl LockInfo {
    /// Info for a lock taken now by `who` (`user@host`) for `operation`.
    pub fn new(operation: &str, who: &str) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_owned(),
            who: who.to_owned(),
            created: crate::support::stamp::now_rfc3339(),
            flexform_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    /// `who (operation since created, lock ID id)`, for a blocked run's message.
    pub fn describe(&self) -> String {
        format!(
            "{} ({} since {}, lock ID {})",
            self.who, self.operation, self.created, self.id
        )
    }
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    /// What the lock file says (shown by `Debug`).
    #[cfg_attr(not(test), allow(dead_code))]
    info: LockInfo,
}

/// The lock file beside a state file.
pub fn lock_path(state_path: &Path) -> PathBuf {
    crate::support::fs::sibling(state_path, ".lock")
}

fn open(path: &Path) -> Result<File, StateError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| StateError::Lock {
            path: path.to_owned(),
            source,
        })
}

fn read_info(file: &mut File) -> Option<LockInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Who holds the lock of `state_path` now, if anyone (a read-only look: the lock file is
/// neither created nor written, and the lock is let go at once if it was free).
pub fn holder(state_path: &Path) -> Option<String> {
    let mut file = OpenOptions::new()
        .read(true)
        .open(lock_path(state_path))
        .ok()?;
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(_) => Some(describe_holder(holder_info(&mut file).as_ref())),
    }
}

/// The holder's info. A holder writes it right after taking the lock, so a run that lost the
/// race by a hair can find the file still empty: look again briefly before saying "no info".
fn holder_info(file: &mut File) -> Option<LockInfo> {
    for _ in 0..10 {
        if let Some(info) = read_info(file) {
            return Some(info);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    read_info(file)
}

/// How long to wait for a lock another process holds, and what interrupts the wait.
#[derive(Clone)]
pub struct LockWait {
    /// Give up after this long (zero: try once).
    pub timeout: Duration,
    /// A stop request ends the wait at once.
    pub stop: Stop,
    /// Told once, with the holder, when the lock is busy and the wait begins.
    pub on_wait: Arc<dyn Fn(&str) + Send + Sync>,
    /// Told, with what happened, when the lock of a run whose lease ran out is taken over
    /// (S3's leased lock): a warning for the user.
    pub on_takeover: Arc<dyn Fn(&str) + Send + Sync>,
}

impl LockWait {
    /// Wait up to `timeout`, silently, uninterrupted.
    pub fn timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            stop: Stop::never(),
            on_wait: Arc::new(|_| {}),
            on_takeover: Arc::new(|_| {}),
        }
    }
}

impl std::fmt::Debug for LockWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockWait")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `holder (operation since …, lock ID …)`, or a stand-in when the holder wrote no info.
fn describe_holder(info: Option<&LockInfo>) -> String {
    info.map_or_else(
        || "another flexform process (no lock info)".to_owned(),
        LockInfo::describe,
    )
}

impl StateLock {
    /// Takes the lock for `operation` (held by `who`), retrying with backoff until the wait's timeout (zero:
    /// try once), or until a stop is requested.
    pub fn acquire(
        state_path: &Path,
        operation: &str,
        who: &str,
        wait: &LockWait,
    ) -> Result<Self, StateError> {
        let path = lock_path(state_path);
        let mut file = open(&path)?;
        let deadline = Instant::now() + wait.timeout;
        let mut delay = Duration::from_millis(50);
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        let info = holder_info(&mut file);
                        // No holder wrote info: an audit's look at the lock (`holder`), held
                        // for an instant. Gone by now, it is no reason to refuse.
                        if info.is_none() && file.try_lock().is_ok() {
                            break;
                        }
                        return Err(StateError::Locked {
                            holder: describe_holder(info.as_ref()),
                            id: info.map_or_else(|| "<ID>".to_owned(), |i| i.id),
                        });
                    }
                    if !told {
                        told = true;
                        (wait.on_wait)(&describe_holder(holder_info(&mut file).as_ref()));
                    }
                    // Sleep in short slices, so that a stop request ends the wait at once.
                    let until = Instant::now() + delay.min(deadline - Instant::now());
                    loop {
                        if wait.stop.is_requested() {
                            return Err(StateError::LockWaitStopped {
                                holder: describe_holder(read_info(&mut file).as_ref()),
                            });
                        }
                        let left = until.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        std::thread::sleep(left.min(Duration::from_millis(20)));
                    }
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(TryLockError::Error(source)) => return Err(StateError::Lock { path, source }),
            }
        }
        let info = LockInfo::new(operation, who);
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(
                serde_json::to_string_pretty(&info)
                    .expect("lock info serializes")
                    .as_bytes(),
            )?;
            file.write_all(b"\n")?;
            file.sync_all()
        };
        write(&mut file).map_err(|source| StateError::Lock {
            path: path.clone(),
            source,
        })?;
        Ok(Self { file, info })
    }

    /// The holder's info.
    #[cfg(test)]
    pub fn info(&self) -> &LockInfo {
        &self.info
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Clear the info so that nobody is named as holder after we are gone; the OS lock goes
        // with the file handle.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Outcome of `force-unlock`.
#[derive(Debug, PartialEq, Eq)]
pub enum ForceUnlock {
    /// Stale lock info was cleared.
    Cleared,
    /// There was no lock info to clear.
    NothingToClear,
}

/// Clears stale lock info with ID `id`; refuses while a process holds the lock.
pub fn force_unlock(state_path: &Path, id: &str) -> Result<ForceUnlock, StateError> {
    let path = lock_path(state_path);
    let lock_error = |source| StateError::Lock {
        path: path.clone(),
        source,
    };
    let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ForceUnlock::NothingToClear)
        }
        Err(e) => return Err(lock_error(e)),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let holder =
                read_info(&mut file).map_or_else(|| "another process".to_owned(), |i| i.describe());
            return Err(StateError::LockHeld { holder });
        }
        Err(TryLockError::Error(e)) => return Err(lock_error(e)),
    }
    let result = match read_info(&mut file) {
        None => Ok(ForceUnlock::NothingToClear),
        Some(info) if info.id == id => file
            .set_len(0)
            .and_then(|_| file.sync_all())
            .map(|_| ForceUnlock::Cleared)
            .map_err(|source| StateError::Write {
                path: path.clone(),
                source,
            }),
        Some(info) => Err(StateError::LockIdMismatch {
            id: id.to_owned(),
            holder: info.describe(),
        }),
    };
    let _ = file.unlock();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_fails_at_once_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let held = StateLock::acquire(
            &state,
            "apply",
            "tester@host",
            &LockWait::timeout(Duration::ZERO),
        )
        .unwrap();
        let err = StateLock::acquire(
            &state,
            "import",
            "tester@host",
            &LockWait::timeout(Duration::ZERO),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&held.info().who), "{text}");
        assert!(text.contains("apply since"), "{text}");
        assert!(text.contains(&held.info().id), "{text}");
        assert!(matches!(
            force_unlock(&state, &held.info().id),
            Err(StateError::LockHeld { .. })
        ));
        drop(held);
        let again = StateLock::acquire(
            &state,
            "apply",
            "tester@host",
            &LockWait::timeout(Duration::ZERO),
        )
        .unwrap();
        drop(again);
        assert!(lock_path(&state).exists(), "the lock file is never deleted");
    }

    #[test]
    fn lock_timeout_waits_for_release() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let held = StateLock::acquire(
            &state,
            "apply",
            "tester@host",
            &LockWait::timeout(Duration::ZERO),
        )
        .unwrap();
        let released = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = released.clone();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            drop(held);
        });
        // Waiting is allowed: the second acquire succeeds, and only once the first let go.
        let second = StateLock::acquire(
            &state,
            "import",
            "tester@host",
            &LockWait::timeout(Duration::from_secs(600)),
        )
        .unwrap();
        assert!(
            released.load(std::sync::atomic::Ordering::SeqCst),
            "acquired while the first holder still held the lock"
        );
        assert_eq!(second.info().operation, "import");
        releaser.join().unwrap();
    }

    #[test]
    fn force_unlock_clears_only_matching_stale_info() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let info = LockInfo {
            id: "abc".into(),
            operation: "apply".into(),
            who: "ci@runner".into(),
            created: "2026-01-01T00:00:00Z".into(),
            flexform_version: "0.1.0".into(),
        };
        std::fs::write(lock_path(&state), serde_json::to_string(&info).unwrap()).unwrap();
        assert!(matches!(
            force_unlock(&state, "nope"),
            Err(StateError::LockIdMismatch { .. })
        ));
        assert!(matches!(
            force_unlock(&state, "abc"),
            Ok(ForceUnlock::Cleared)
        ));
        assert_eq!(std::fs::read(lock_path(&state)).unwrap().len(), 0);
    }
}
