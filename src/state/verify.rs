//! `history verify` as a pure function: a trail's exact lines and the state checked against
//! each other, trusting nothing that can be checked. Every problem is reported (not only the
//! first), each naming its line or serials; a trail verifies only when there is none.
//! With allowed signers, every entry (from a serial on) must carry a valid SSH signature by
//! one of them.

use super::history::{HistoryEntry, CHAIN_START};
use super::model::State;
use super::signing::AllowedSigners;
use super::trail::{signed_message, TrailLine};

/// What signatures `verify` requires.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignaturePolicy<'a> {
    /// The keys allowed to sign (`--allowed-signers`); `None`: signatures are not required.
    pub allowed: Option<&'a AllowedSigners>,
    /// Entries whose run ended before this serial may be unsigned (`--signed-since`).
    pub signed_since: u64,
}

/// One thing wrong with a trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The trail line it is about, counting from 1; `None`: the trail or the state as a whole.
    pub line: Option<usize>,
    /// What is wrong and what it means, in one sentence.
    pub reason: String,
    /// Whether a run still at work looks the same (an entry waiting in the state, serials
    /// ahead of the newest entry): not held against the trail while a writer holds the lock.
    pub pending: bool,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// What `history verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verified {
    /// Lines in the trail.
    pub entries: usize,
    /// Entries before the chain began (written by an older flexform), accepted as they are.
    pub legacy: usize,
    /// Entries that carry a signature (checked against the allowed signers when given).
    pub signed: usize,
    /// Entries kept in the state because they could not be written to the trail.
    pub unwritten: usize,
    /// Everything wrong, in trail order; empty: the trail verifies.
    pub problems: Vec<Problem>,
    /// The run at work while the trail was read (it holds the state's lock): what it has not
    /// written yet is not held against the trail.
    pub in_progress: Option<String>,
}

impl Verified {
    /// Whether the trail verifies (what `history verify`'s exit code 0 and `report` say).
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

fn problem(line: Option<usize>, reason: impl Into<String>) -> Problem {
    Problem {
        line,
        reason: reason.into(),
        pending: false,
    }
}

/// A problem a run still at work also shows.
fn pending(reason: impl Into<String>) -> Problem {
    Problem {
        pending: true,
        ..problem(None, reason)
    }
}

/// Checks `trail` (oldest first, exact lines) against itself, against `state` (its anchor,
/// serial and unwritten entries; `None`: there is no state) and, when given, the allowed
/// signers.
pub fn verify(trail: &[TrailLine], state: Option<&State>, policy: SignaturePolicy<'_>) -> Verified {
    let mut report = Verified {
        entries: trail.len(),
        ..Verified::default()
    };
    chain(trail, policy, &mut report);
    let Some(state) = state else {
        if !trail.is_empty() {
            report.problems.push(problem(
                None,
                format!(
                    "there is no state, but the trail holds {} {}: the state was deleted or moved",
                    trail.len(),
                    crate::support::text::plural_word(trail.len(), "line", "lines")
                ),
            ));
        }
        return report;
    };
    let newest = against_state(trail, state, policy, &mut report);
    let problems = &mut report.problems;
    let newest_serial = newest.as_ref().map_or(0, |e| e.serial_after);
    if newest.is_some() && newest_serial != state.serial {
        problems.push(if state.serial > newest_serial {
            // What a run still at work (between its records and its entry) looks like too.
            pending(format!(
                "the state is at serial {} but the newest entry ends at serial {newest_serial}: serials {} to {} have no entry (a run died before writing it, or the state was changed outside flexform); the next command that writes the state records what it finds",
                state.serial,
                newest_serial.saturating_add(1),
                state.serial
            ))
        } else {
            problem(
                None,
                format!(
                    "the newest entry ends at serial {newest_serial}, but the state is only at serial {}: the state was replaced by an older one",
                    state.serial
                ),
            )
        });
    }
    if policy.allowed.is_some() && policy.signed_since > newest_serial.max(state.serial) {
        problems.push(problem(
            None,
            format!(
                "--signed-since {} is after the newest entry (serial {}): no entry would be checked",
                policy.signed_since,
                newest_serial.max(state.serial)
            ),
        ));
    }
    report
}

/// [`verify`] of what an audit read ([`super::store::AuditView`]): an interrupted run's journal
/// (changes without an entry yet) is a problem; while a run holds the lock, what it has not
/// written yet (`Problem::pending`) is not.
pub fn verify_view(view: &super::store::AuditView, policy: SignaturePolicy<'_>) -> Verified {
    let mut report = verify(&view.trail, view.state.as_ref(), policy);
    match &view.writer {
        Some(holder) => {
            report.problems.retain(|p| !p.pending);
            report.in_progress = Some(holder.clone());
        }
        None if view.journal => report.problems.push(pending(
            "a journal beside the state holds changes an interrupted run recorded, which no entry lists yet: the next command that writes the state folds them in with a `recover` entry",
        )),
        None => {}
    }
    report
}

/// The trail against itself: every line an entry, each linked to the line before it (over a
/// cut fragment; a link over whole lines names those lines as inserted), serials that follow
/// each other from 0, signatures.
fn chain(trail: &[TrailLine], policy: SignaturePolicy<'_>, report: &mut Verified) {
    let mut walk = Chain::default();
    for (index, line) in trail.iter().enumerate() {
        let digest = line.digest();
        match &line.entry {
            Err(why) => {
                report.problems.push(problem(
                    Some(line.number),
                    format!("it is not a history entry: {why}"),
                ));
                walk.previous_broken = true;
                // Its serials are unknown: the next entry's are not held against the one before.
                walk.last_chained = None;
            }
            Ok(entry) => {
                walk.entry(trail, index, entry, report);
                signature(
                    &mut report.signed,
                    &mut report.problems,
                    Some(line.number),
                    line,
                    policy,
                );
                walk.last_good = Some(digest.clone());
                walk.previous_broken = false;
            }
        }
        walk.seen.insert(digest.clone(), index);
        walk.previous = Some(digest);
    }
}

/// How far [`chain`] has come: what it knows of the lines before the one it checks.
#[derive(Default)]
struct Chain<'t> {
    /// Each line's digest, to its index: what a link may point to.
    seen: std::collections::HashMap<String, usize>,
    /// The digest of the line before.
    previous: Option<String>,
    /// The digest of the last line that was an entry.
    last_good: Option<String>,
    /// Whether the line before was not an entry (a cut fragment, an edit).
    previous_broken: bool,
    /// Whether an entry with a link was seen: from there on every entry must carry one.
    chained: bool,
    /// The last entry of the chain, with its line number: the next one's serials follow it.
    last_chained: Option<(usize, &'t HistoryEntry)>,
}

impl<'t> Chain<'t> {
    /// Checks the entry at `index`: where the trail begins, its link (or the legacy entries
    /// before the chain), its serials.
    fn entry(
        &mut self,
        trail: &'t [TrailLine],
        index: usize,
        entry: &'t HistoryEntry,
        report: &mut Verified,
    ) {
        let number = trail[index].number;
        if index == 0 && entry.serial_before != 0 {
            report.problems.push(problem(
                Some(number),
                format!(
                    "the trail begins at serial {}: serials 1 to {} have no entry (the start of the trail was cut)",
                    entry.serial_before, entry.serial_before
                ),
            ));
        }
        match &entry.prev_sha256 {
            None if !self.chained => report.legacy += 1,
            None => report.problems.push(problem(
                Some(number),
                "it carries no link to the line before it, inside the chain",
            )),
            Some(prev) => {
                self.link(trail, index, prev, &mut report.problems);
                self.chained = true;
                self.serials(number, entry, &mut report.problems);
            }
        }
    }

    /// Checks that the entry at `index` links to the line before it, or over a cut fragment
    /// to the last entry; a link to an earlier line names the lines between as inserted.
    fn link(
        &mut self,
        trail: &'t [TrailLine],
        index: usize,
        prev: &str,
        problems: &mut Vec<Problem>,
    ) {
        let number = trail[index].number;
        let expected = self.previous.as_deref().unwrap_or(CHAIN_START);
        let over_broken =
            self.previous_broken && prev == self.last_good.as_deref().unwrap_or(CHAIN_START);
        if prev == expected || over_broken {
            return;
        }
        match self.seen.get(prev) {
            // It links to an earlier line: the lines between were put there.
            Some(&at) => {
                // Its serials follow the line it links to.
                self.last_chained = trail[at].entry.as_ref().ok().map(|e| (trail[at].number, e));
                for skipped in &trail[at + 1..index] {
                    if skipped.entry.is_ok() {
                        problems.push(problem(
                            Some(skipped.number),
                            format!(
                                "it is not part of the chain: line {number} links over it to line {}; it was inserted",
                                trail[at].number
                            ),
                        ));
                    }
                }
            }
            None => problems.push(problem(
                Some(number),
                format!(
                    "it does not follow line {}: a line before it was edited, deleted or moved, or it was",
                    number - 1
                ),
            )),
        }
    }

    /// Checks that a chained entry raises the serial, starting where the last chained entry
    /// ended; it becomes the last chained entry.
    fn serials(&mut self, number: usize, entry: &'t HistoryEntry, problems: &mut Vec<Problem>) {
        // Every run's write raises the serial: an entry that does not is not one
        // flexform wrote (and could hide between two real ones).
        if entry.serial_after <= entry.serial_before {
            problems.push(problem(
                Some(number),
                format!(
                    "it ends at serial {}, not after its start at serial {}: flexform never writes such an entry",
                    entry.serial_after, entry.serial_before
                ),
            ));
        }
        if let Some((at, before)) = self.last_chained {
            if entry.serial_before != before.serial_after {
                problems.push(problem(
                    Some(number),
                    format!(
                        "it starts at serial {}, but line {at} ended at serial {}: {}",
                        entry.serial_before,
                        before.serial_after,
                        if entry.serial_before > before.serial_after {
                            "the state changed without an entry, or entries were deleted"
                        } else {
                            "entries were moved or replayed"
                        }
                    ),
                ));
            }
        }
        self.last_chained = Some((number, entry));
    }
}

/// The lines after the anchored one (at `at`): the entries the state keeps waiting, already
/// appended but not yet recorded as written (and the fragments of their cut appends), are in
/// place (`written` counts them); any other line was added after the state was written.
fn report_tail(
    trail: &[TrailLine],
    at: usize,
    waiting: &[TrailLine],
    written: &mut usize,
    problems: &mut Vec<Problem>,
) {
    for line in &trail[at + 1..] {
        let next = waiting.get(*written).map(|w| w.bytes.as_slice());
        if next == Some(line.bytes.as_slice()) {
            *written += 1;
            continue;
        }
        let fragment = line.entry.is_err() && next.is_some_and(|n| n.starts_with(&line.bytes));
        if !fragment {
            problems.push(problem(
                Some(line.number),
                format!(
                    "it and every line after it come after line {}, the newest entry the state records: they were added after the state was written",
                    trail[at].number
                ),
            ));
            return;
        }
    }
}

/// The trail against the state: the anchor is the trail's last line (or lines after it are
/// entries the state keeps waiting, written but not yet settled), every entry waiting in the
/// state follows it. Returns the newest entry the state vouches for.
fn against_state(
    trail: &[TrailLine],
    state: &State,
    policy: SignaturePolicy<'_>,
    report: &mut Verified,
) -> Option<HistoryEntry> {
    let waiting: Vec<TrailLine> = state
        .history_unwritten
        .iter()
        .map(|text| super::trail::parse_line(0, text.as_bytes(), true))
        .collect();
    report.unwritten = waiting.len();
    let problems = &mut report.problems;
    // Without an anchor, the trail's last entry stands for the newest (its serial is checked).
    let mut newest: Option<HistoryEntry> = trail.iter().rev().find_map(|l| l.entry.clone().ok());
    // How many of the waiting entries the trail holds already (after the anchored line).
    let mut written = 0;
    match state.history_sha256.as_deref() {
        None if state.serial > 0 => problems.push(problem(
            None,
            if trail.is_empty() {
                format!("the state is at serial {} but there is no trail, and the state anchors no entry: the trail was deleted and the state's anchor (history_sha256) removed, or the first run died before its entry (the next command that writes the state records what it did)", state.serial)
            } else {
                format!("the state is at serial {} but anchors no entry (history_sha256 is missing): the anchor was removed", state.serial)
            },
        )),
        None => {}
        Some(anchor) if trail.is_empty() => problems.push(problem(
            None,
            format!("the trail is missing or empty, but the state anchors entry SHA-256 {anchor}: the trail was deleted or emptied"),
        )),
        Some(anchor) => match trail.iter().rposition(|l| l.digest() == anchor) {
            Some(at) => {
                newest = trail[at].entry.clone().ok();
                report_tail(trail, at, &waiting, &mut written, problems);
            }
            None => {
                newest = None;
                problems.push(problem(
                    Some(trail[trail.len() - 1].number),
                    "the state anchors an entry the trail does not hold: the trail was cut, or its last entry edited",
                ));
            }
        },
    }
    let mut link = state.history_sha256.clone();
    for (index, line) in waiting.iter().enumerate() {
        match &line.entry {
            Ok(entry) => {
                if index >= written {
                    problems.push(pending(
                        format!(
                            "the trail is missing {}: it could not be written when its run ended and waits in the state; the next command that can write the trail writes it",
                            super::trail::describe(entry)
                        ),
                    ));
                    signature(&mut report.signed, problems, None, line, policy);
                }
                if link
                    .as_deref()
                    .is_some_and(|l| entry.prev_sha256.as_deref() != Some(l))
                {
                    problems.push(problem(
                        None,
                        format!("{} does not follow the trail's newest entry: the state or the trail was edited", super::trail::describe(entry)),
                    ));
                }
                newest = Some(entry.clone());
            }
            Err(why) => problems.push(problem(
                None,
                format!("an entry waiting in the state is not a history entry: {why}"),
            )),
        }
        link = Some(line.digest());
    }
    newest
}

/// Checks one entry's signature against the policy, counting it when present.
fn signature(
    signed: &mut usize,
    problems: &mut Vec<Problem>,
    number: Option<usize>,
    line: &TrailLine,
    policy: SignaturePolicy<'_>,
) {
    let Ok(entry) = &line.entry else { return };
    let what = || match number {
        Some(_) => format!(
            "the entry for serials {} -> {}",
            entry.serial_before, entry.serial_after
        ),
        None => super::trail::describe(entry),
    };
    if entry.signature.is_some() {
        *signed += 1;
    }
    let Some(allowed) = policy.allowed else {
        return;
    };
    if entry.serial_after < policy.signed_since {
        return;
    }
    let Some(armored) = &entry.signature else {
        problems.push(problem(
            number,
            format!(
                "{} is not signed, but every entry must be signed by an allowed key{}",
                what(),
                if policy.signed_since > 0 {
                    format!(" from serial {} on", policy.signed_since)
                } else {
                    String::new()
                }
            ),
        ));
        return;
    };
    let text = line.text();
    let Some(message) = signed_message(&text) else {
        problems.push(problem(
            number,
            format!("{}: its signature is not the line's last field", what()),
        ));
        return;
    };
    let at = humantime::parse_rfc3339(&entry.time).ok();
    if let Err(why) = allowed.verify(message.as_bytes(), armored, at) {
        problems.push(problem(
            number,
            format!("{} is wrongly signed: {why}", what()),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::trail::{parse_file, seal};

    /// A trail of `n` entries as flexform writes them, and the state that anchors it.
    fn written(n: usize) -> (Vec<String>, State) {
        let mut lines: Vec<String> = Vec::new();
        for i in 0..n {
            let mut entry = HistoryEntry::new("apply", i as u64, i as u64 + 1, Vec::new());
            entry.time = format!("2026-01-01T00:00:0{i}Z");
            let prev = lines.last().map_or(CHAIN_START.to_owned(), |l| {
                crate::support::hash::sha256_hex(l.as_bytes())
            });
            lines.push(seal(&mut entry, prev, None).unwrap());
        }
        let mut state = State::empty();
        state.serial = n as u64;
        state.history_sha256 = lines
            .last()
            .map(|l| crate::support::hash::sha256_hex(l.as_bytes()));
        (lines, state)
    }

    fn check(lines: &[String], state: Option<&State>) -> Verified {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        verify(
            &parse_file(text.as_bytes()),
            state,
            SignaturePolicy::default(),
        )
    }

    fn lines_of(report: &Verified) -> Vec<Option<usize>> {
        report.problems.iter().map(|p| p.line).collect()
    }

    #[test]
    fn an_untouched_trail_verifies() {
        let (lines, state) = written(4);
        let report = check(&lines, Some(&state));
        assert!(report.intact(), "{:?}", report.problems);
        assert_eq!((report.entries, report.legacy), (4, 0));
        // No state, no trail: nothing to contradict.
        assert!(check(&[], None).intact());
        assert!(check(&[], Some(&State::empty())).intact());
    }

    #[test]
    fn edits_deletions_swaps_and_cuts_name_their_line() {
        let (lines, state) = written(4);
        let mut edited = lines.clone();
        edited[1] = edited[1].replace("\"apply\"", "\"import\"");
        assert_eq!(lines_of(&check(&edited, Some(&state))), [Some(3)]);
        let mut deleted = lines.clone();
        deleted.remove(1);
        let report = check(&deleted, Some(&state));
        assert_eq!(report.problems[0].line, Some(2), "{:?}", report.problems);
        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        assert_eq!(check(&swapped, Some(&state)).problems[0].line, Some(2));
        let cut = &lines[..3];
        let report = check(cut, Some(&state));
        assert!(
            report.problems[0].reason.contains("cut"),
            "{:?}",
            report.problems
        );
        let mut last_edited = lines.clone();
        last_edited[3] = last_edited[3].replace("\"apply\"", "\"import\"");
        assert!(!check(&last_edited, Some(&state)).intact());
    }

    #[test]
    fn a_cut_trail_with_its_anchor_removed_is_broken() {
        let (lines, mut state) = written(3);
        state.history_sha256 = None;
        let report = check(&lines[..1], Some(&state));
        assert!(!report.intact());
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.reason.contains("anchors no entry")),
            "{:?}",
            report.problems
        );
        // And the serial says so too: the newest entry ends at 1, the state is at 3.
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.reason.contains("serials 2 to 3 have no entry")),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn a_deleted_trail_is_broken_with_or_without_its_anchor() {
        let (_, state) = written(2);
        let report = check(&[], Some(&state));
        assert!(report.problems[0].reason.contains("missing or empty"));
        let mut bare = state.clone();
        bare.history_sha256 = None;
        let report = check(&[], Some(&bare));
        assert!(
            report.problems[0].reason.contains("no trail"),
            "{:?}",
            report.problems
        );
        // A deleted state with its trail left is broken too.
        let (lines, _) = written(2);
        assert!(check(&lines, None).problems[0].reason.contains("no state"));
    }

    #[test]
    fn lines_after_the_anchored_one_are_broken() {
        let (mut lines, state) = written(3);
        // A correctly chained forged entry appended after the anchored one.
        let mut forged = HistoryEntry::new("apply", 3, 4, Vec::new());
        let prev = crate::support::hash::sha256_hex(lines[2].as_bytes());
        lines.push(seal(&mut forged, prev, None).unwrap());
        let report = check(&lines, Some(&state));
        assert_eq!(lines_of(&report), [Some(4)], "{:?}", report.problems);
        assert!(report.problems[0].reason.contains("added after"));
    }

    #[test]
    fn an_unknown_field_breaks_its_line() {
        let (mut lines, state) = written(2);
        lines[0] = lines[0].replacen('{', "{\"approved_by\":\"cfo\",", 1);
        let report = check(&lines, Some(&state));
        assert_eq!(report.problems[0].line, Some(1));
        assert!(
            report.problems[0].reason.contains("approved_by"),
            "{:?}",
            report.problems
        );
    }

    #[test]
    fn a_cut_line_is_the_only_broken_one_when_the_next_entry_links_over_it() {
        let (lines, state) = written(2);
        // Line 2 was cut by a full disk, then written whole by the next command.
        let text = format!("{}\n{}\n{}\n", lines[0], &lines[1][..30], lines[1]);
        let report = verify(
            &parse_file(text.as_bytes()),
            Some(&state),
            SignaturePolicy::default(),
        );
        assert_eq!(lines_of(&report), [Some(2)], "{:?}", report.problems);
        // Linked to the fragment itself (an append after a crash): the same.
        let (mut lines, _) = written(1);
        lines.push(lines[0][..30].to_owned());
        let mut next = HistoryEntry::new("apply", 1, 2, Vec::new());
        let prev = crate::support::hash::sha256_hex(lines[1].as_bytes());
        lines.push(seal(&mut next, prev, None).unwrap());
        let mut state = State::empty();
        state.serial = 2;
        state.history_sha256 = Some(crate::support::hash::sha256_hex(lines[2].as_bytes()));
        assert_eq!(lines_of(&check(&lines, Some(&state))), [Some(2)]);
    }

    #[test]
    fn unwritten_entries_and_serial_gaps_name_their_serials() {
        let (lines, mut state) = written(2);
        let mut waiting = HistoryEntry::new("apply", 2, 3, Vec::new());
        let line = seal(&mut waiting, state.history_sha256.clone().unwrap(), None).unwrap();
        state.history_unwritten = vec![line];
        state.serial = 3;
        let report = check(&lines, Some(&state));
        assert_eq!(report.unwritten, 1);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(report.problems[0].reason.contains("serials 2 -> 3"));
        // The state moved on without an entry.
        let (lines, mut state) = written(2);
        state.serial = 5;
        let report = check(&lines, Some(&state));
        assert!(report.problems[0]
            .reason
            .contains("serials 3 to 5 have no entry"));
        // Entries that do not follow each other's serials.
        let (mut lines, _) = written(2);
        let mut skipping = HistoryEntry::new("apply", 4, 5, Vec::new());
        let prev = crate::support::hash::sha256_hex(lines[1].as_bytes());
        lines.push(seal(&mut skipping, prev, None).unwrap());
        let mut state = State::empty();
        state.serial = 5;
        state.history_sha256 = Some(crate::support::hash::sha256_hex(lines[2].as_bytes()));
        let report = check(&lines, Some(&state));
        assert_eq!(lines_of(&report), [Some(3)], "{:?}", report.problems);
    }

    #[test]
    fn older_entries_without_links_are_a_legacy_prefix_only() {
        let legacy = HistoryEntry::new("apply", 0, 1, Vec::new()).to_line();
        let mut chained = HistoryEntry::new("import", 1, 2, Vec::new());
        let prev = crate::support::hash::sha256_hex(legacy.as_bytes());
        let chained = seal(&mut chained, prev, None).unwrap();
        let mut state = State::empty();
        state.serial = 2;
        state.history_sha256 = Some(crate::support::hash::sha256_hex(chained.as_bytes()));
        let report = check(&[legacy.clone(), chained.clone()], Some(&state));
        assert_eq!(report.legacy, 1);
        assert!(report.intact(), "{:?}", report.problems);
        // A link-less entry after the chain began is a break.
        let report = check(&[legacy.clone(), chained, legacy.clone()], None);
        assert_eq!(report.problems[0].line, Some(3));
        // A state that anchors nothing is broken even over an older flexform's trail: a cut
        // trail with its links and anchor removed would look just like one. The first write
        // of this version anchors it.
        let mut old = State::empty();
        old.serial = 1;
        let report = check(std::slice::from_ref(&legacy), Some(&old));
        assert!(
            report.problems[0].reason.contains("anchors no entry"),
            "{:?}",
            report.problems
        );
        // And a trail must begin at serial 0: its start cut is seen.
        let mut late = HistoryEntry::new("apply", 2, 3, Vec::new());
        let late = seal(&mut late, CHAIN_START.into(), None).unwrap();
        let mut state = State::empty();
        state.serial = 3;
        state.history_sha256 = Some(crate::support::hash::sha256_hex(late.as_bytes()));
        let report = check(&[late], Some(&state));
        assert_eq!(lines_of(&report), [Some(1)], "{:?}", report.problems);
        assert!(report.problems[0].reason.contains("begins at serial 2"));
    }

    #[test]
    fn a_line_linked_over_is_named_inserted_and_the_entry_after_it_is_not_blamed() {
        let (mut lines, state) = written(2);
        // Someone appends a chained line; the next run links to the anchored entry, over it.
        let mut forged = HistoryEntry::new("import", 2, 3, Vec::new());
        let prev = crate::support::hash::sha256_hex(lines[1].as_bytes());
        lines.push(seal(&mut forged, prev.clone(), None).unwrap());
        let mut next = HistoryEntry::new("apply", 2, 3, Vec::new());
        lines.push(seal(&mut next, prev, None).unwrap());
        let mut state = state;
        state.serial = 3;
        state.history_sha256 = Some(crate::support::hash::sha256_hex(lines[3].as_bytes()));
        let report = check(&lines, Some(&state));
        assert_eq!(lines_of(&report), [Some(3)], "{:?}", report.problems);
        assert!(report.problems[0].reason.contains("inserted"));
    }

    #[test]
    fn entries_the_state_keeps_that_are_already_appended_are_in_place() {
        // A run appended its entry and has not recorded that yet (or died right there).
        let (mut lines, mut state) = written(2);
        let mut waiting = HistoryEntry::new("apply", 2, 3, Vec::new());
        let line = seal(&mut waiting, state.history_sha256.clone().unwrap(), None).unwrap();
        state.history_unwritten = vec![line.clone()];
        state.serial = 3;
        lines.push(line[..20].to_owned());
        lines.push(line);
        let report = check(&lines, Some(&state));
        // Only the cut fragment is a problem; the appended entry is where it should be.
        assert_eq!(lines_of(&report), [Some(3)], "{:?}", report.problems);
    }

    #[test]
    fn signed_since_past_the_newest_entry_checks_nothing_and_says_so() {
        let (lines, state) = written(2);
        let allowed =
            crate::state::signing::AllowedSigners::parse(std::path::Path::new("allowed"), "")
                .unwrap();
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let policy = SignaturePolicy {
            allowed: Some(&allowed),
            signed_since: 99,
        };
        let report = verify(&parse_file(text.as_bytes()), Some(&state), policy);
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.reason.contains("--signed-since 99")),
            "{:?}",
            report.problems
        );
    }
}
