//! The audit trail as read by `flexform history`: every entry (those still waiting in the
//! state included), narrowed to one instance's changes and to a time, newest first; and
//! `history verify`, the trail checked against itself, the state and the keys allowed to sign.

use std::path::Path;
use std::time::SystemTime;

use super::OpsError;
use crate::plan::address;
use crate::state::history::HistoryEntry;
use crate::state::signing::AllowedSigners;
use crate::state::{AuditView, SignaturePolicy, Verified};

/// Which entries `history` shows.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only this instance's changes (`NAME` or `flex_instance.NAME`), across its renames.
    pub instance: Option<String>,
    /// Only entries from this time on.
    pub since: Option<SystemTime>,
}

/// The entries a query selected, and what could not be read.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The entries that match, newest first.
    pub entries: Vec<HistoryEntry>,
    /// Trail lines that are not entries: their number and why.
    pub unreadable: Vec<(usize, String)>,
    /// How many entries wait in the state because the trail could not take them (they are
    /// among the entries read, before the query narrowed them).
    pub waiting: usize,
}

/// `--since`: an RFC 3339 time, or a duration back from `now` (`30d`, `12h`).
pub fn parse_since(text: &str, now: SystemTime) -> Result<SystemTime, OpsError> {
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(time);
    }
    let ago = humantime::parse_duration(text).map_err(|source| OpsError::BadSince {
        text: text.to_owned(),
        source,
    })?;
    now.checked_sub(ago)
        .ok_or_else(|| OpsError::SinceBefore1970 {
            text: text.to_owned(),
        })
}

/// The entries of `view` (the trail's, then those waiting in the state) that `query` selects,
/// newest first. With an instance, each entry keeps only that instance's changes, found by
/// position across its renames and never another's that took one of its names later
/// (`state::changes_of`); an entry left with none is dropped.
pub fn select(view: AuditView, query: &Query) -> History {
    let mut history = History::default();
    let mut entries = Vec::new();
    for line in view.trail {
        match line.entry {
            Ok(entry) => entries.push(entry),
            Err(message) => history.unreadable.push((line.number, message)),
        }
    }
    // Entries the trail could not take wait in the state: they are part of the history.
    if let Some(state) = &view.state {
        let waiting = crate::state::trail::unwritten_entries(state);
        history.waiting = waiting.len();
        entries.extend(waiting);
    }
    let wanted = query.instance.as_deref().map(|name| {
        let wanted = if name.starts_with("flex_instance.") {
            name.to_owned()
        } else {
            address(name)
        };
        crate::state::changes_of(&entries, &wanted, true)
    });
    history.entries = entries
        .into_iter()
        .enumerate()
        .filter_map(|(index, mut entry)| {
            if let Some(wanted) = &wanted {
                let mut position = 0;
                entry.changes.retain(|_| {
                    position += 1;
                    wanted.contains(&(index, position - 1))
                });
                if entry.changes.is_empty() {
                    return None;
                }
            }
            let recent = query.since.is_none_or(|since| {
                humantime::parse_rfc3339(&entry.time).is_ok_and(|time| time >= since)
            });
            recent.then_some(entry)
        })
        .collect();
    history.entries.reverse();
    history
}

/// What `history verify` is asked to require.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions<'a> {
    /// The allowed-signers file (`--allowed-signers`); `None`: signatures are not required.
    pub allowed_signers: Option<&'a Path>,
    /// Entries whose run ended before this serial may be unsigned (`--signed-since`).
    pub signed_since: u64,
}

/// What `history verify` found, with what it was asked to require.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The verdict.
    pub report: Verified,
    /// Whether the state records the newest entry's digest (an anchored trail).
    pub anchored: bool,
    /// Whether signatures were checked against allowed signers.
    pub signers_checked: bool,
    /// From which serial on entries had to be signed.
    pub signed_since: u64,
}

/// Checks the trail of `view` against itself, the state, and (when given) the allowed signers.
pub fn verify(view: &AuditView, options: VerifyOptions<'_>) -> Result<Verification, OpsError> {
    let allowed = options
        .allowed_signers
        .map(AllowedSigners::load)
        .transpose()?;
    let policy = SignaturePolicy {
        allowed: allowed.as_ref(),
        signed_since: options.signed_since,
    };
    Ok(Verification {
        report: crate::state::verify_view(view, policy),
        anchored: view
            .state
            .as_ref()
            .is_some_and(|s| s.history_sha256.is_some()),
        signers_checked: allowed.is_some(),
        signed_since: options.signed_since,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::history::Provenance;
    use crate::state::trail::TrailLine;
    use crate::state::{HistoryChange, State};

    fn entry(time: &str, changes: &[(&str, &str, &str)]) -> HistoryEntry {
        HistoryEntry {
            time: time.to_owned(),
            who: "ana@host".to_owned(),
            ci: Default::default(),
            command: "apply".to_owned(),
            serial_before: 0,
            serial_after: 1,
            changes: changes
                .iter()
                .map(|(addr, action, sid)| {
                    HistoryChange::ok((*addr).to_owned(), action, Some((*sid).to_owned()))
                })
                .collect(),
            provenance: Provenance::default(),
            prev_sha256: None,
            signer: None,
            signature: None,
        }
    }

    fn line(number: usize, entry: Result<HistoryEntry, String>) -> TrailLine {
        TrailLine {
            number,
            bytes: Vec::new(),
            entry,
            exact: true,
        }
    }

    fn view(lines: Vec<TrailLine>, state: Option<State>) -> AuditView {
        AuditView {
            trail: lines,
            state,
            journal: false,
            writer: None,
        }
    }

    fn times(history: &History) -> Vec<&str> {
        history.entries.iter().map(|e| e.time.as_str()).collect()
    }

    #[test]
    fn since_takes_a_time_or_a_duration_back_from_now_and_names_the_flag_when_neither() {
        let now = humantime::parse_rfc3339("2026-11-02T00:00:00Z").unwrap();
        assert_eq!(
            parse_since("2026-11-01T00:00:00Z", now).unwrap(),
            humantime::parse_rfc3339("2026-11-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_since("12h", now).unwrap(),
            now - Duration::from_secs(12 * 3600)
        );
        let err = parse_since("yesterday", now).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--since \"yesterday\" is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor a duration (30d, 12h)"
        );
        assert!(std::error::Error::source(&err).is_some());
        let err = parse_since("400000000000years", SystemTime::UNIX_EPOCH).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--since \"400000000000years\" reaches back before 1970"
        );
    }

    #[test]
    fn entries_come_newest_first_with_unreadable_lines_reported_and_waiting_entries_included() {
        let mut state = State::empty();
        state.history_unwritten =
            vec![serde_json::to_string(&entry("2026-01-03T00:00:00Z", &[])).unwrap()];
        let history = select(
            view(
                vec![
                    line(1, Ok(entry("2026-01-01T00:00:00Z", &[]))),
                    line(2, Err("cut".to_owned())),
                    line(3, Ok(entry("2026-01-02T00:00:00Z", &[]))),
                ],
                Some(state),
            ),
            &Query::default(),
        );
        assert_eq!(
            times(&history),
            [
                "2026-01-03T00:00:00Z",
                "2026-01-02T00:00:00Z",
                "2026-01-01T00:00:00Z"
            ]
        );
        assert_eq!(history.unreadable, [(2, "cut".to_owned())]);
        assert_eq!(history.waiting, 1);
    }

    #[test]
    fn since_keeps_entries_from_that_time_on_and_drops_those_without_a_readable_time() {
        let lines = vec![
            line(1, Ok(entry("2026-01-01T00:00:00Z", &[]))),
            line(2, Ok(entry("not a time", &[]))),
            line(3, Ok(entry("2026-01-02T00:00:00Z", &[]))),
            line(4, Ok(entry("2026-01-03T00:00:00Z", &[]))),
        ];
        let query = Query {
            since: Some(humantime::parse_rfc3339("2026-01-02T00:00:00Z").unwrap()),
            ..Query::default()
        };
        let history = select(view(lines, None), &query);
        assert_eq!(
            times(&history),
            ["2026-01-03T00:00:00Z", "2026-01-02T00:00:00Z"]
        );
    }

    #[test]
    fn an_instance_keeps_only_its_own_changes_in_either_address_form_across_a_move() {
        let sid_a = "GO00000000000000000000000000000001";
        let sid_b = "GO00000000000000000000000000000002";
        let mut moved = entry(
            "2026-01-03T00:00:00Z",
            &[("flex_instance.c", "move", sid_a)],
        );
        moved.changes[0].outcome = "ok (moved from flex_instance.a)".to_owned();
        let lines = || {
            let moved = moved.clone();
            vec![
                line(
                    1,
                    Ok(entry(
                        "2026-01-01T00:00:00Z",
                        &[
                            ("flex_instance.a", "create", sid_a),
                            ("flex_instance.b", "create", sid_b),
                        ],
                    )),
                ),
                line(
                    2,
                    Ok(entry(
                        "2026-01-02T00:00:00Z",
                        &[("flex_instance.b", "create", sid_b)],
                    )),
                ),
                line(3, Ok(moved)),
            ]
        };
        for name in ["a", "flex_instance.a"] {
            let query = Query {
                instance: Some(name.to_owned()),
                ..Query::default()
            };
            let history = select(view(lines(), None), &query);
            // The entry that also created `b` shows only `a`'s change; the entry about `b`
            // alone is dropped; the SID follows `a` to its next address.
            assert_eq!(
                times(&history),
                ["2026-01-03T00:00:00Z", "2026-01-01T00:00:00Z"],
                "{name}"
            );
            assert_eq!(history.entries[1].changes.len(), 1);
            assert_eq!(history.entries[1].changes[0].address, "flex_instance.a");
        }
    }

    #[test]
    fn verify_reports_an_anchor_and_checks_signers_only_when_given_a_file() {
        let mut state = State::empty();
        state.history_sha256 = Some("0".repeat(64));
        let checked = verify(&view(Vec::new(), Some(state)), VerifyOptions::default()).unwrap();
        assert!(checked.anchored);
        assert!(!checked.signers_checked);
        let missing = VerifyOptions {
            allowed_signers: Some(Path::new("/nonexistent/allowed_signers")),
            signed_since: 3,
        };
        let err = verify(&view(Vec::new(), None), missing).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/allowed_signers"),
            "{err}"
        );
    }
}
