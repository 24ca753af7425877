//! The journal beside a local state file (`<state>.journal`): apply's updates, appended and
//! synced in groups, replayed by every reader and folded into the file by the next writer.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::StateError;
use super::model::{State, StateUpdate};

/// Reading a local state means reading its journal too: the loader lives beside the journal,
/// so that the state's model knows nothing of how it is stored.
impl State {
    /// Reads the state at `path` with any journaled updates applied (in memory only); a missing
    /// file without a journal is no state (`None`).
    pub fn load(path: &Path) -> Result<Option<State>, StateError> {
        // Without the lock, a writer may fold (and another may write again) between the two
        // reads: a journal that does not match the file it was read with is read again, and
        // only a mismatch that stays is an error.
        // At most this many reads (a bounded loop: a journal that keeps changing cannot keep
        // a reader here for ever).
        const READS: usize = 11;
        let mut mismatch = None;
        for _ in 0..READS {
            // The journal first: a writer folds it into the file before removing it, so
            // reading in this order never misses an update.
            let journal = read_journal(path)?;
            crate::failpoint!("state::load::between_journal_and_file");
            match Self::load_pair(path, journal.as_deref()) {
                // The journal changed meanwhile: a writer was at work; read the pair again.
                Err(e @ StateError::JournalMismatch { .. }) if read_journal(path)? != journal => {
                    mismatch = Some(e);
                }
                other => return other,
            }
        }
        Err(mismatch.expect("the loop runs at least once"))
    }

    /// The state file read now, with `journal` (read just before) applied.
    fn load_pair(path: &Path, journal: Option<&[u8]>) -> Result<Option<State>, StateError> {
        let file = Self::load_file(path)?;
        let existed = file.is_some();
        let mut state = file.unwrap_or_else(State::empty);
        let replayed = match journal {
            Some(bytes) => replay_journal(path, bytes, &mut state, existed)?,
            None => false,
        };
        Ok((existed || replayed).then_some(state))
    }
}

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
            Err(e) => return Err(StateError::corrupt(path, &e, Some(index + 1))),
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
        if first.base_serial.checked_add(1) == Some(state.serial) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sid::{AccountSid, InstanceSid};
    use crate::domain::InstanceStatus;
    use crate::state::{InstanceRecord, Origin};

    const LINEAGE: &str = "lineage-1";
    const SID: &str = "GO0123456789abcdef0123456789abcdef";
    const OTHER_SID: &str = "GOfedcba9876543210fedcba9876543210";

    fn record(sid: &str) -> InstanceRecord {
        InstanceRecord {
            account_sid: AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap(),
            conversations_default: None,
            date_created: None,
            date_updated: None,
            flex_instance_sid: InstanceSid::parse(sid).unwrap(),
            observed_at: None,
            origin: Origin::Created,
            status: InstanceStatus::CreationInProgress,
            configuration: None,
            plugins: None,
        }
    }

    fn status(sid: &str, status: &str) -> StateUpdate {
        StateUpdate::Status {
            name: "a".into(),
            flex_instance_sid: InstanceSid::parse(sid).unwrap(),
            status: InstanceStatus::parse(status),
            date_updated: Some("later".into()),
            observed_at: "now".into(),
        }
    }

    fn line(lineage: &str, base_serial: u64, update: StateUpdate) -> String {
        let entry = JournalEntry {
            lineage: lineage.into(),
            base_serial,
            update,
        };
        format!("{}\n", serde_json::to_string(&entry).unwrap())
    }

    /// A state at serial 3 of LINEAGE that records `a` as SID, provisioning.
    fn state() -> State {
        let mut state = State::empty();
        state.lineage = LINEAGE.into();
        state.serial = 3;
        state.instances.insert("a".into(), record(SID));
        state
    }

    fn replay(journal: &str, state: &mut State) -> Result<bool, StateError> {
        replay_journal(Path::new("/x/s.json"), journal.as_bytes(), state, true)
    }

    #[test]
    fn a_journal_is_replayed_onto_its_own_state() {
        let mut s = state();
        let journal = line(LINEAGE, 3, status(SID, "ready"));
        assert!(replay(&journal, &mut s).unwrap());
        assert_eq!(s.instances["a"].status, InstanceStatus::Ready);
        assert_eq!(s.instances["a"].date_updated.as_deref(), Some("later"));
    }

    /// Entries that disagree on their lineage, or on their base serial, or on both, belong to
    /// no single state: the journal is refused whichever of the two differs.
    #[test]
    fn entries_that_mix_lineages_or_base_serials_are_refused() {
        let first = line(LINEAGE, 3, status(SID, "ready"));
        for (case, second) in [
            ("lineage only", line("lineage-2", 3, status(SID, "ready"))),
            ("base serial only", line(LINEAGE, 4, status(SID, "ready"))),
            ("both", line("lineage-2", 4, status(SID, "ready"))),
        ] {
            let mut s = state();
            let before = s.clone();
            let err = replay(&format!("{first}{second}"), &mut s).unwrap_err();
            assert!(
                matches!(err, StateError::JournalMismatch { .. }),
                "{case}: {err:?}"
            );
            assert_eq!(s, before, "{case}: nothing applied");
        }
    }

    /// A damaged line in the middle of a complete (newline-terminated) journal is an error
    /// naming its line, not skipped: the lines after it may hold SIDs.
    #[test]
    fn a_corrupt_middle_line_is_refused_with_its_line_number() {
        let journal = format!(
            "{}{{\"lineage\": oops\n{}",
            line(LINEAGE, 3, status(SID, "ready")),
            line(LINEAGE, 3, status(SID, "creation-failed"))
        );
        let mut s = state();
        match replay(&journal, &mut s).unwrap_err() {
            StateError::Corrupt { line, column, .. } => {
                assert_eq!(line, 2);
                assert!(column >= 1);
            }
            other => panic!("{other:?}"),
        }
        // The same in a journal whose last line is torn: the damage in the middle is still
        // an error, not taken for the torn end.
        let torn_end = format!(
            "{}{{\"lineage\": oops\n{}{{\"lineage\": oo",
            line(LINEAGE, 3, status(SID, "ready")),
            line(LINEAGE, 3, status(SID, "creation-failed"))
        );
        let mut s = state();
        assert!(matches!(
            replay(&torn_end, &mut s).unwrap_err(),
            StateError::Corrupt { line: 2, .. }
        ));
        // Only a torn *last* line (no newline) is taken as a crash mid-append.
        let torn = format!(
            "{}{{\"lineage\": oo",
            line(LINEAGE, 3, status(SID, "ready"))
        );
        let mut s = state();
        assert!(replay(&torn, &mut s).unwrap());
        assert_eq!(s.instances["a"].status, InstanceStatus::Ready);
    }

    /// A status update names the SID it observed: it changes the record only while the record
    /// holds that SID (a newer create may have replaced it).
    #[test]
    fn a_status_update_for_another_sid_changes_nothing() {
        let mut s = state();
        let before = s.clone();
        let journal = line(LINEAGE, 3, status(OTHER_SID, "ready"));
        replay(&journal, &mut s).unwrap();
        assert_eq!(s.instances, before.instances);
    }

    /// A journal that cannot be read for any reason other than its absence is an error naming
    /// it: treating it as "no journal" would hide the SIDs it records.
    #[test]
    fn a_journal_that_cannot_be_read_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let state_path = dir.path().join("s.json");
        assert!(read_journal(&state_path).unwrap().is_none(), "absent: none");
        // A directory where the journal should be: reading it fails (as a permission error
        // would), and the error names the path.
        std::fs::create_dir(journal_path(&state_path)).unwrap();
        match read_journal(&state_path) {
            Err(StateError::Read { path, .. }) => assert_eq!(path, journal_path(&state_path)),
            other => panic!("{other:?}"),
        }
        // The same through the store: loading the state fails rather than ignoring it.
        std::fs::write(&state_path, state().to_bytes()).unwrap();
        let err = State::load(&state_path).unwrap_err();
        assert!(err.to_string().contains("s.json.journal"), "{err}");
    }
}
