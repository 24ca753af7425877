//! The audit trail as stored: exact lines, read without trusting them, and written so that
//! no entry is lost. An entry is sealed once (linked to the line before it, optionally signed)
//! and its exact bytes are what every digest, link and signature covers; a line that cannot be
//! written is kept with the state (`State::history_unwritten`) and written first by the next
//! command that can, after a cut line on a line of its own.

use std::io::Write;
use std::path::Path;

use super::history::{history_path, HistoryChange, HistoryEntry, CHAIN_START};
use super::model::State;
use super::signing::{SigningError, SigningKey};

/// One line of a trail as read: its exact bytes, and the entry they hold or why they hold none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailLine {
    /// Its place in the trail, counting from 1 (oldest first).
    pub number: usize,
    /// The bytes stored, without the line's newline.
    pub bytes: Vec<u8>,
    /// The entry, or why the line is not one (not UTF-8, cut, not an entry, unknown field).
    pub entry: Result<HistoryEntry, String>,
    /// Whether `bytes` are the bytes written. False only for PostgreSQL rows written before
    /// flexform kept them (schema 1), whose digest is of the entry as flexform serialises it.
    pub exact: bool,
}

impl TrailLine {
    /// The digest the next line links to and the state anchors.
    pub fn digest(&self) -> String {
        match (&self.entry, self.exact) {
            (Ok(entry), false) => entry.sha256(),
            _ => crate::support::hash::sha256_hex(&self.bytes),
        }
    }

    /// The line as text, for a stored line kept as a string (the bytes, lossily where they
    /// are not UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Parses one stored line (exact bytes).
pub fn parse_line(number: usize, bytes: &[u8], exact: bool) -> TrailLine {
    let entry = match std::str::from_utf8(bytes) {
        Err(e) => Err(format!(
            "it is not UTF-8 text (a bad byte at offset {})",
            e.valid_up_to()
        )),
        Ok(text) => serde_json::from_str::<HistoryEntry>(text).map_err(|e| e.to_string()),
    };
    TrailLine {
        number,
        bytes: bytes.to_vec(),
        entry,
        exact,
    }
}

/// Parses a trail file's bytes. Blank lines are skipped (they carry nothing and are not
/// counted); a last line without its newline is cut: an append that did not finish.
pub fn parse_file(bytes: &[u8]) -> Vec<TrailLine> {
    let mut lines = Vec::new();
    let mut rest = bytes;
    let mut number = 0;
    while !rest.is_empty() {
        let (line, complete, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], true, &rest[end + 1..]),
            None => (rest, false, &rest[rest.len()..]),
        };
        rest = next;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        number += 1;
        let mut parsed = parse_line(number, line, true);
        if !complete {
            let why = match &parsed.entry {
                Ok(_) => "it has no final newline".to_owned(),
                Err(e) => format!("it has no final newline, and {e}"),
            };
            parsed.entry = Err(format!("it is cut: an append that did not finish ({why})"));
        }
        lines.push(parsed);
    }
    lines
}

/// Reads the trail beside a local state file (empty: no file).
pub fn read_file(state_path: &Path) -> std::io::Result<Vec<TrailLine>> {
    match std::fs::read(history_path(state_path)) {
        Ok(bytes) => Ok(parse_file(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The entries of a trail that parse, oldest first (for listings; `verify` reports the rest).
pub fn entries(trail: &[TrailLine]) -> Vec<HistoryEntry> {
    trail.iter().filter_map(|l| l.entry.clone().ok()).collect()
}

/// The entries kept in a state because the trail could not be written, parsed.
pub fn unwritten_entries(state: &State) -> Vec<HistoryEntry> {
    state
        .history_unwritten
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

/// The lines a run writes at its end: the entries still waiting in the state, then `entry`,
/// sealed after them. It links to the last entry the state vouches for: the last waiting one,
/// else the anchored line (never to lines added after it: a forged line is not taken into
/// the chain), else, for a trail the state never anchored (an older flexform's), the trail's
/// last line (`trail_last`; `Err`: it could not be read).
pub fn seal_after(
    trail_last: Result<Option<&TrailLine>, ()>,
    state: &State,
    entry: &mut HistoryEntry,
    signer: Option<&SigningKey>,
) -> Result<Vec<String>, SigningError> {
    let unwritten = &state.history_unwritten;
    let prev = match (unwritten.last(), &state.history_sha256, trail_last) {
        (Some(line), _, _) => crate::support::hash::sha256_hex(line.as_bytes()),
        (None, Some(anchor), _) => anchor.clone(),
        (None, None, Ok(Some(last))) => last.digest(),
        (None, None, _) => CHAIN_START.to_owned(),
    };
    let mut lines = unwritten.clone();
    lines.push(seal(entry, prev, signer)?);
    Ok(lines)
}

/// Records in `state` what an append of `lines` did: the newest line written becomes the
/// anchor, and the rest wait in the state.
pub fn settle(state: &mut State, lines: &[String], written: usize) {
    if written > 0 {
        state.history_sha256 = Some(crate::support::hash::sha256_hex(
            lines[written - 1].as_bytes(),
        ));
    }
    state.history_unwritten = lines[written..].to_vec();
}

/// The error of a run whose trail could not be written: `lines[written..]` wait in the state.
pub fn unwritten_error(
    target: String,
    cause: String,
    lines: &[String],
    written: usize,
) -> super::error::StateError {
    super::error::StateError::TrailUnwritten {
        target,
        cause,
        entries: describe_lines(&lines[written..]),
        count: lines.len() - written,
    }
}

/// The key whose prefix starts an entry's signature: always the last field of a signed line.
const SIGNATURE_KEY: &str = ",\"signature\":\"";

/// Seals `entry`: links it to `prev`, names the signing key and signs it. Returns the exact
/// line to store (no newline). The signature covers the line as it would stand unsigned,
/// followed by a newline: what `sed -E 's/,"signature":"[^"]*"}$/}/'` makes of the stored line.
pub fn seal(
    entry: &mut HistoryEntry,
    prev: String,
    signer: Option<&SigningKey>,
) -> Result<String, SigningError> {
    entry.prev_sha256 = Some(prev);
    entry.signature = None;
    entry.signer = signer.map(SigningKey::fingerprint);
    let unsigned = entry.to_line();
    let Some(key) = signer else {
        return Ok(unsigned);
    };
    let signature = key.sign(format!("{unsigned}\n").as_bytes())?;
    entry.signature = Some(signature);
    let line = entry.to_line();
    debug_assert_eq!(
        signed_message(&line).as_deref(),
        Some(&*format!("{unsigned}\n"))
    );
    Ok(line)
}

/// The bytes a signed line's signature covers: the line without its signature field,
/// followed by a newline. `None`: the line carries no signature as its last field.
pub fn signed_message(line: &str) -> Option<String> {
    let at = line.rfind(SIGNATURE_KEY)?;
    let value = line[at + SIGNATURE_KEY.len()..].strip_suffix("\"}")?;
    if value.contains('"') {
        return None;
    }
    Some(format!("{}}}\n", &line[..at]))
}

/// One line for messages about an entry: its serials, command and changes.
pub fn describe(entry: &HistoryEntry) -> String {
    let changes: Vec<String> = entry
        .changes
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c.action,
                c.address,
                c.flex_instance_sid.as_deref().unwrap_or("-")
            )
        })
        .collect();
    let changes = if changes.is_empty() {
        "no changes".to_owned()
    } else {
        changes.join(", ")
    };
    format!(
        "the {} entry for serials {} -> {} ({changes})",
        entry.command, entry.serial_before, entry.serial_after
    )
}

/// Describes stored lines that wait to be written.
pub fn describe_lines(lines: &[String]) -> String {
    lines
        .iter()
        .map(|line| match serde_json::from_str::<HistoryEntry>(line) {
            Ok(entry) => describe(&entry),
            Err(_) => "an entry that does not parse".to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Appends `lines` to the trail beside a local state file, each durably (written and synced
/// on its own, so that a failure leaves a known prefix written). A cut last line is closed by
/// a newline first, so the first new line starts on a line of its own. A line that already
/// stands among the trail's last lines (an earlier append whose sync failed after its bytes
/// landed) is not written twice. Returns how many of `lines` are now in the trail, and the
/// error that stopped the rest.
pub fn append_file(state_path: &Path, lines: &[String]) -> (usize, Option<std::io::Error>) {
    let path = history_path(state_path);
    let existing = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return (0, Some(e)),
    };
    let tail: Vec<&[u8]> = existing
        .split(|&b| b == b'\n')
        .rev()
        .skip(1) // the part after the last newline: empty, or a cut line
        .take(lines.len() + 1)
        .collect();
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(&path) {
        Ok(file) => file,
        Err(e) => return (0, Some(e)),
    };
    let mut needs_newline = !existing.is_empty() && !existing.ends_with(b"\n");
    for (index, line) in lines.iter().enumerate() {
        if !needs_newline && tail.contains(&line.as_bytes()) {
            continue;
        }
        let mut bytes = Vec::with_capacity(line.len() + 2);
        if needs_newline {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        if let Err(e) = file.write_all(&bytes).and_then(|()| file.sync_all()) {
            return (index, Some(e));
        }
        needs_newline = false;
    }
    (lines.len(), None)
}

/// The note of a `recover` entry's changes.
pub const INTERRUPTED: &str = "recorded by an interrupted run";

/// At a writer's open, on a backend without a journal: when the state (which exists) moved
/// past the serial its trail's newest entry vouches for (`last`, anchored by the state), that
/// serial: a run died after recording, before its entry. `None`: nothing to recover (or the
/// trail does not show what the state vouches for, which `verify` reports).
pub fn unvouched(state: &State, exists: bool, last: Option<&TrailLine>) -> Option<u64> {
    let vouched = match last {
        None if state.history_sha256.is_none() => 0,
        None => return None,
        Some(last) => match &last.entry {
            Ok(newest) if state.history_sha256.as_deref() == Some(last.digest().as_str()) => {
                newest.serial_after
            }
            _ => return None,
        },
    };
    (exists && state.serial > vouched).then_some(vouched)
}

/// The `recover` entry for what an interrupted run recorded after serial `vouched`: the
/// changes from `backup` (the state its first write kept, used only if it is at `vouched`;
/// nothing before the first entry) to `state`.
pub fn recover_entry(
    runner: &super::history::Runner,
    vouched: u64,
    backup: Option<State>,
    state: &State,
) -> HistoryEntry {
    let before = match vouched {
        0 => Some(State::empty()),
        _ => backup.filter(|b| b.serial == vouched),
    };
    let changes = before.map_or_else(Vec::new, |before| {
        changes_between(&before, state, INTERRUPTED)
    });
    HistoryEntry::by(runner, "recover", vouched, 0, changes)
}

/// The changes between two states, as history lines: what a `recover` entry lists (the
/// records an interrupted run left, `note` "recorded by an interrupted run") and what a
/// `state push` entry lists (`note` "pushed"), so that no recorded change goes without its
/// entry.
pub fn changes_between(before: &State, after: &State, note: &str) -> Vec<HistoryChange> {
    let ok = format!("ok ({note})");
    let mut changes = Vec::new();
    for (name, record) in &after.instances {
        let address = format!("flex_instance.{name}");
        let sid = record.flex_instance_sid.to_string();
        match before.instances.get(name) {
            Some(old) if old.flex_instance_sid == record.flex_instance_sid => {
                if old.configuration != record.configuration {
                    let mut change = HistoryChange::ok(address, "record", Some(sid));
                    change.outcome = ok.clone();
                    changes.push(change);
                }
            }
            _ => {
                let moved_from = before
                    .instances
                    .iter()
                    .find(|(n, r)| {
                        *n != name
                            && r.flex_instance_sid == record.flex_instance_sid
                            && !after.instances.contains_key(*n)
                    })
                    .map(|(n, _)| n.clone());
                let change = match moved_from {
                    Some(old) => {
                        let mut change = HistoryChange::ok(address, "move", Some(sid));
                        change.outcome = format!("ok (moved from flex_instance.{old})");
                        change
                    }
                    None => {
                        let action = match record.origin {
                            super::model::Origin::Created => "create",
                            super::model::Origin::Adopted => "adopt",
                            super::model::Origin::Imported => "import",
                        };
                        let mut change = HistoryChange::ok(address, action, Some(sid));
                        change.outcome = ok.clone();
                        change
                    }
                };
                changes.push(change);
            }
        }
    }
    for (name, record) in &before.instances {
        let gone = !after.instances.contains_key(name);
        let moved = after
            .instances
            .values()
            .any(|r| r.flex_instance_sid == record.flex_instance_sid);
        if gone && !moved {
            let mut change = HistoryChange::ok(
                format!("flex_instance.{name}"),
                "rm",
                Some(record.flex_instance_sid.to_string()),
            );
            change.outcome = ok.clone();
            changes.push(change);
        }
    }
    for name in after.pending.keys() {
        if !before.pending.contains_key(name) {
            let mut change = HistoryChange::ok(format!("flex_instance.{name}"), "create", None);
            change.outcome = format!(
                "outcome unknown ({note}: a create may have been sent; the next plan resolves it by discovery)"
            );
            changes.push(change);
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_last_line_and_bad_bytes_are_lines_that_hold_no_entry() {
        let good = HistoryEntry::new("apply", 0, 1, Vec::new()).to_line();
        let mut bytes = format!("{good}\n\n").into_bytes();
        bytes.extend_from_slice(b"\xff\xfe\n");
        bytes.extend_from_slice(&good.as_bytes()[..20]);
        let lines = parse_file(&bytes);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].entry.is_ok());
        assert_eq!(lines[1].number, 2);
        assert!(lines[1].entry.as_ref().unwrap_err().contains("UTF-8"));
        assert!(lines[2].entry.as_ref().unwrap_err().contains("cut"));
        // A complete entry without its newline is cut too: its append did not finish.
        let lines = parse_file(good.as_bytes());
        assert!(lines[0].entry.as_ref().unwrap_err().contains("cut"));
    }

    #[test]
    fn digests_are_of_the_exact_bytes_stored() {
        let entry = HistoryEntry::new("apply", 0, 1, Vec::new());
        let spaced = serde_json::to_string_pretty(&entry)
            .unwrap()
            .replace('\n', "");
        let line = parse_line(1, spaced.as_bytes(), true);
        assert!(line.entry.is_ok());
        assert_eq!(
            line.digest(),
            crate::support::hash::sha256_hex(spaced.as_bytes())
        );
        assert_ne!(line.digest(), entry.sha256());
        // A row of schema 1 (bytes re-serialised by the database) keeps the old rule.
        let legacy = parse_line(1, spaced.as_bytes(), false);
        assert_eq!(legacy.digest(), entry.sha256());
    }

    #[test]
    fn unknown_fields_are_refused_in_entries_and_changes() {
        let mut entry = HistoryEntry::new(
            "apply",
            0,
            1,
            vec![HistoryChange::ok("flex_instance.a".into(), "create", None)],
        );
        entry.prev_sha256 = Some(CHAIN_START.into());
        let line = entry.to_line();
        let forged = line.replace("\"action\":", "\"approved_by\":\"cfo\",\"action\":");
        assert!(parse_line(1, forged.as_bytes(), true).entry.is_err());
        let forged = line.replacen('{', "{\"approved_by\":\"cfo\",", 1);
        assert!(parse_line(1, forged.as_bytes(), true).entry.is_err());
    }

    #[test]
    fn a_state_past_the_serial_its_newest_entry_vouches_for_gets_a_recover_entry_from_there() {
        let mut entry = HistoryEntry::new("apply", 0, 3, Vec::new());
        let line = seal(&mut entry, CHAIN_START.to_owned(), None).unwrap();
        let last = parse_line(1, line.as_bytes(), true);
        let mut state = State::empty();
        state.serial = 5;
        state.history_sha256 = Some(last.digest());
        // Past serial 3: a run recorded after its entry's serial, then died.
        assert_eq!(unvouched(&state, true, Some(&last)), Some(3));
        // At it: nothing to recover; no state (nothing recorded): nothing either.
        state.serial = 3;
        assert_eq!(unvouched(&state, true, Some(&last)), None);
        assert_eq!(unvouched(&state, false, Some(&last)), None);
        // An anchor the trail's last line does not match: verify's to report, not recover's.
        state.serial = 5;
        state.history_sha256 = Some("0".repeat(64));
        assert_eq!(unvouched(&state, true, Some(&last)), None);
        // No trail and no anchor: everything since the start.
        state.history_sha256 = None;
        assert_eq!(unvouched(&state, true, None), Some(0));

        let runner = crate::state::history::Runner::default();
        let mut after = State::empty();
        after.serial = 5;
        let record = serde_json::json!({
            "account_sid": "AC0123456789abcdef0123456789abcdef",
            "flex_instance_sid": "GO0123456789abcdef0123456789abcdef",
            "origin": "created", "status": "ready"
        });
        after
            .instances
            .insert("a".into(), serde_json::from_value(record).unwrap());
        let from_start = recover_entry(&runner, 0, None, &after);
        assert_eq!(from_start.command, "recover");
        assert_eq!(from_start.changes.len(), 1, "{from_start:?}");
        let mut backup = State::empty();
        backup.serial = 3;
        let since_backup = recover_entry(&runner, 3, Some(backup.clone()), &after);
        assert_eq!(since_backup.changes.len(), 1, "{since_backup:?}");
        backup.serial = 2;
        let unknown = recover_entry(&runner, 3, Some(backup), &after);
        assert!(
            unknown.changes.is_empty(),
            "a backup of another serial is not used: {unknown:?}"
        );
    }

    #[test]
    fn an_unsigned_seal_links_and_names_no_key() {
        let mut entry = HistoryEntry::new("apply", 0, 1, Vec::new());
        let line = seal(&mut entry, "ab".repeat(32), None).unwrap();
        assert_eq!(entry.prev_sha256.as_deref(), Some(&*"ab".repeat(32)));
        assert!(!line.contains("signature"), "{line}");
        assert_eq!(signed_message(&line), None);
    }

    #[test]
    fn the_signed_message_is_the_line_without_its_signature() {
        let line = r#"{"time":"t","prev_sha256":"x","signer":"SHA256:k","signature":"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"}"#;
        assert_eq!(
            signed_message(line).as_deref(),
            Some("{\"time\":\"t\",\"prev_sha256\":\"x\",\"signer\":\"SHA256:k\"}\n")
        );
        assert_eq!(signed_message(r#"{"signature":"a"}"#), None);
    }

    #[test]
    fn appends_close_a_cut_line_and_never_write_a_line_twice() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        std::fs::write(history_path(&state), b"{\"cut").unwrap();
        let lines = vec!["{\"a\":1}".to_owned(), "{\"b\":2}".to_owned()];
        assert_eq!(append_file(&state, &lines).0, 2);
        // Again: both stand among the last lines already (an append whose sync failed).
        assert_eq!(append_file(&state, &lines).0, 2);
        let text = std::fs::read_to_string(history_path(&state)).unwrap();
        assert_eq!(text, "{\"cut\n{\"a\":1}\n{\"b\":2}\n");
    }
}
