//! The journal beside a local state file (`<state>.journal`): apply's updates, appended and
//! synced in groups, replayed by every reader and folded into the file by the next writer.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::StateError;
use super::model::{State, StateUpdate};

/// One line of `<state>.journal`: an update and the state it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Lineage of the state file the update applies to.
    pub lineage: String,
    /// Serial of the state file the update applies to.
    pub base_serial: u64,
    /// The update.
    pub update: StateUpdate,
}

/// The journal beside a state file: updates made since the file was last written, replayed by
/// every reader and folded into the file by the next writer.
pub fn journal_path(state_path: &Path) -> PathBuf {
    crate::support::fs::sibling(state_path, ".journal")
}

/// Reads the journal of `state_path`, if any (`None` when there is none).
pub fn read_journal(state_path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    let path = journal_path(state_path);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Read { path, source }),
    }
}

/// Parses journal bytes. Only a last line without its newline can be torn (a crash
/// mid-append: it was never acknowledged, so nothing depended on it); any complete line that
/// does not parse (damage, or an update a newer flexform wrote) is an error, never skipped.
fn parse_journal(path: &Path, bytes: &[u8]) -> Result<Vec<JournalEntry>, StateError> {
    let mut entries = Vec::new();
    let complete = bytes.ends_with(b"\n");
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let last = lines.len() - 1;
    for (index, line) in lines.iter().enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<JournalEntry>(line) {
            Ok(entry) => entries.push(entry),
            Err(_) if index == last && !complete => break,
            Err(e) => {
                return Err(StateError::Corrupt {
                    path: path.to_owned(),
                    line: index + 1,
                    column: e.column(),
                    message: e.to_string(),
                })
            }
        }
    }
    Ok(entries)
}

/// Applies the journal of `state_path` (its bytes, read beforehand) to `state`, read from that
/// file (`state_existed`) or empty. Returns whether anything was applied. A journal already
/// folded into this file (the run died between writing the file and removing the journal) is
/// recognised and skipped; a journal written for another state is an error.
pub fn replay_journal(
    state_path: &Path,
    journal: &[u8],
    state: &mut State,
    state_existed: bool,
) -> Result<bool, StateError> {
    let path = journal_path(state_path);
    let entries = parse_journal(&path, journal)?;
    let Some(first) = entries.first() else {
        return Ok(false);
    };
    let mismatch = || StateError::JournalMismatch {
        journal: path.clone(),
        state: state_path.to_owned(),
    };
    if entries
        .iter()
        .any(|e| e.lineage != first.lineage || e.base_serial != first.base_serial)
    {
        return Err(mismatch());
    }
    if state_existed {
        if first.lineage != state.lineage {
            return Err(mismatch());
        }
        if first.base_serial + 1 == state.serial {
            // Folded already? Replaying a fold onto its own result changes nothing (every
            // update sets absolute values); if it would change something, this file is not
            // that fold, and the journal's records must not be dropped silently.
            let mut again = state.clone();
            for entry in &entries {
                entry.update.clone().apply_to(&mut again);
            }
            return if again.instances == state.instances && again.pending == state.pending {
                Ok(false)
            } else {
                Err(mismatch())
            };
        }
        if first.base_serial != state.serial {
            return Err(mismatch());
        }
    } else {
        // Only a run that crashed before its first write of a new state leaves a journal
        // without a file (its base serial is 0). Any other journal belongs to a file that is
        // gone (moved away, or not checked out): taking the journal for the whole state would
        // lose every record the file held, and the next write would lower the serial.
        if first.base_serial != 0 {
            return Err(StateError::JournalWithoutState {
                journal: path.clone(),
                state: state_path.to_owned(),
                base_serial: first.base_serial,
            });
        }
        // A run that crashed before its first write: the journal's lineage is the state's.
        state.lineage = first.lineage.clone();
        state.serial = first.base_serial;
    }
    for entry in entries {
        entry.update.apply_to(state);
    }
    Ok(true)
}
