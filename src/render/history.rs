//! The audit trail for people and tools (`flexform history`): text, JSON, Markdown and CSV
//! from the entries [`crate::ops::history::select`] chose, the warnings about what could not
//! be read, and `history verify`'s verdict.

use std::fmt::Write;

use crate::ops::history::{History, Verification};
use crate::state::history::HistoryDocument;
use crate::state::{HistoryEntry, Verified};
use crate::support::text::{csv_cell, markdown_cell, markdown_link, plural_word, printable};

/// The warnings a read of the trail gives (stderr): each line that is not an entry, then the
/// entries still waiting in the state.
pub fn warnings(history: &History) -> Vec<String> {
    let mut warnings: Vec<String> = history
        .unreadable
        .iter()
        .map(|(number, message)| {
            format!(
                "history line {number} is not an entry ({message}); run `flexform history verify`"
            )
        })
        .collect();
    let waiting = history.waiting;
    if waiting > 0 {
        warnings.push(format!(
            "{waiting} {} could not be written to the trail yet and {} kept in the state (listed here); the next command that can write the trail writes {}",
            plural_word(waiting, "entry", "entries"),
            plural_word(waiting, "is", "are"),
            plural_word(waiting, "it", "them"),
        ));
    }
    warnings
}

/// The entries as JSON (a [`HistoryDocument`]).
pub fn json(entries: Vec<HistoryEntry>) -> String {
    let document = HistoryDocument {
        format_version: 1,
        entries,
    };
    let mut text = serde_json::to_string_pretty(&document).expect("a history always serializes");
    text.push('\n');
    text
}

/// Each change of an entry as one line: action, address, SID, outcome, configuration paths.
fn change_text(entry: &HistoryEntry) -> Vec<String> {
    entry
        .changes
        .iter()
        .map(|c| {
            let configuration = if c.configuration.is_empty() {
                String::new()
            } else {
                format!(" (configuration: {})", c.configuration.join(", "))
            };
            format!(
                "{} {} {} {}{configuration}",
                c.action,
                c.address,
                c.flex_instance_sid.as_deref().unwrap_or("-"),
                c.outcome
            )
        })
        .collect()
}

/// The entries for a terminal, each field made printable (a trail can be edited by hand).
pub fn human(entries: &[HistoryEntry]) -> String {
    let mut out = String::new();
    if entries.is_empty() {
        out.push_str("No history entries match.\n");
    }
    for entry in entries {
        let _ = writeln!(
            out,
            "{}  {}  by {} (serial {} -> {})",
            printable(&entry.time),
            printable(&entry.command),
            printable(&entry.who),
            entry.serial_before,
            entry.serial_after
        );
        let p = &entry.provenance;
        if let Some(url) = &p.run_url {
            let _ = writeln!(out, "  run:    {}", printable(url));
        }
        if let Some(commit) = &p.commit {
            let _ = writeln!(out, "  commit: {}", printable(commit));
        }
        if let Some(digest) = &p.plan_sha256 {
            let _ = writeln!(out, "  plan:   SHA-256 {digest}");
        }
        for change in change_text(entry) {
            let _ = writeln!(out, "  {}", printable(&change));
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} {}.",
        entries.len(),
        plural_word(entries.len(), "entry", "entries")
    );
    out
}

/// The entries as a Markdown table, newest first.
pub fn markdown(entries: &[HistoryEntry]) -> String {
    let mut out = String::from("### flexform history\n\n");
    let _ = writeln!(
        out,
        "{} {}, newest first.\n",
        entries.len(),
        plural_word(entries.len(), "entry", "entries")
    );
    out.push_str("| time | who | run | command | changes |\n| --- | --- | --- | --- | --- |\n");
    // Every cell escaped (`support::text`): `who` is `$USER@host`, an outcome can hold the
    // API's words, and a trail can be edited by hand.
    for entry in entries {
        let changes = change_text(entry)
            .iter()
            .map(|c| markdown_cell(c))
            .collect::<Vec<_>>()
            .join("<br>");
        let run = match &entry.provenance.run_url {
            Some(url) => markdown_link("run", url),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {run} | {} | {changes} |",
            markdown_cell(&entry.time),
            markdown_cell(&entry.who),
            markdown_cell(&entry.command),
        );
    }
    out
}

/// The entries as CSV: one row per change (an entry without changes: one row with the change
/// columns empty), every cell made safe for a spreadsheet (`support::text::csv_cell`): `who`
/// is `$USER@host`.
pub fn csv(entries: &[HistoryEntry]) -> Result<String, ::csv::Error> {
    let header = [
        "time",
        "who",
        "command",
        "run_url",
        "commit",
        "plan_sha256",
        "address",
        "action",
        "flex_instance_sid",
        "outcome",
        "configuration",
    ];
    let mut rows = Vec::new();
    for entry in entries {
        let p = &entry.provenance;
        let head = [
            entry.time.as_str(),
            entry.who.as_str(),
            entry.command.as_str(),
            p.run_url.as_deref().unwrap_or(""),
            p.commit.as_deref().unwrap_or(""),
            p.plan_sha256.as_deref().unwrap_or(""),
        ];
        if entry.changes.is_empty() {
            rows.push(row(head.iter().chain(["", "", "", "", ""].iter())));
        }
        for c in &entry.changes {
            // The configuration paths a change set, separated by spaces.
            let configuration = c.configuration.join(" ");
            let tail = [
                c.address.as_str(),
                c.action.as_str(),
                c.flex_instance_sid.as_deref().unwrap_or(""),
                c.outcome.as_str(),
                configuration.as_str(),
            ];
            rows.push(row(head.iter().chain(tail.iter())));
        }
    }
    super::csv_document(&header, rows)
}

/// A row of cells, each made safe for a spreadsheet.
fn row<'a>(cells: impl Iterator<Item = &'a &'a str>) -> Vec<String> {
    cells.map(|cell| csv_cell(cell).into_owned()).collect()
}

/// `history verify`'s verdict, in the order it is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Notes before the verdict (stderr).
    pub notes_before: Vec<String>,
    /// The verdict (stdout).
    pub document: String,
    /// The error that ends a failed verification (stderr); `None`: the trail verifies.
    pub error: Option<String>,
    /// Notes after the verdict (stderr).
    pub notes_after: Vec<String>,
}

/// The verdict on the trail of the state at `place`: every problem when it fails, else what
/// was checked.
pub fn verdict(verification: &Verification, place: &str) -> Verdict {
    let report = &verification.report;
    let mut notes_before = Vec::new();
    if let Some(holder) = &report.in_progress {
        notes_before.push(format!(
            "a run is at work on this state ({holder}): what it has not written yet is not held against the trail; verify again when it ends"
        ));
    }
    if !report.intact() {
        return failed(report, place, notes_before);
    }
    let mut line = format!(
        "History of {place} verified: {} {}, hash chain intact",
        report.entries,
        plural_word(report.entries, "entry", "entries")
    );
    if verification.anchored {
        line.push_str(", newest entry recorded in the state at its serial");
    }
    if verification.signers_checked {
        line.push_str(&if verification.signed_since > 0 {
            format!(
                ", every entry from serial {} on signed by an allowed key",
                verification.signed_since
            )
        } else {
            ", every entry signed by an allowed key".to_owned()
        });
    } else if report.signed > 0 {
        notes_before.push(format!(
            "{} {} signed; pass --allowed-signers FILE to check the signatures against the keys you trust",
            report.signed,
            plural_word(report.signed, "entry is", "entries are")
        ));
    }
    let notes_after = match report.legacy {
        0 => Vec::new(),
        1 => vec!["the first entry predates the hash chain (written by an older flexform) and is accepted as it is".to_owned()],
        n => vec![format!(
            "the first {n} entries predate the hash chain (written by an older flexform) and are accepted as they are"
        )],
    };
    Verdict {
        notes_before,
        document: format!("{line}.\n"),
        error: None,
        notes_after,
    }
}

/// The verdict on a trail that does not verify: every problem.
fn failed(report: &Verified, place: &str, notes_before: Vec<String>) -> Verdict {
    let problems = format!(
        "{} {}",
        report.problems.len(),
        plural_word(report.problems.len(), "problem", "problems")
    );
    let mut document = format!(
        "History of {place} FAILED verification ({} {}, {problems}):\n",
        report.entries,
        plural_word(report.entries, "line", "lines"),
    );
    for problem in &report.problems {
        let _ = writeln!(document, "  - {problem}");
    }
    Verdict {
        notes_before,
        document,
        error: Some(format!(
            "the history of {place} does not verify ({problems}, listed above)"
        )),
        notes_after: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::history::Provenance;
    use crate::state::{HistoryChange, Problem};

    fn entry(who: &str, changes: Vec<HistoryChange>) -> HistoryEntry {
        HistoryEntry {
            time: "2026-01-01T00:00:00Z".into(),
            who: who.into(),
            ci: Default::default(),
            command: "apply".into(),
            serial_before: 3,
            serial_after: 4,
            changes,
            provenance: Provenance {
                run_url: Some("https://ci.example/runs/1".into()),
                commit: Some("abc123".into()),
                ..Provenance::default()
            },
            prev_sha256: None,
            signer: None,
            signature: None,
        }
    }

    fn configured() -> HistoryChange {
        let mut change = HistoryChange::ok("flex_instance.a".into(), "update", Some("GO1".into()));
        change.configuration = vec!["ui_attributes.x".into(), "ui_attributes.y".into()];
        change
    }

    #[test]
    fn text_lists_each_entry_with_its_provenance_and_changes_and_counts_them() {
        let text = human(&[entry("ana@host", vec![configured()])]);
        assert_eq!(
            text,
            "2026-01-01T00:00:00Z  apply  by ana@host (serial 3 -> 4)\n  run:    https://ci.example/runs/1\n  commit: abc123\n  update flex_instance.a GO1 ok (configuration: ui_attributes.x, ui_attributes.y)\n\n1 entry.\n"
        );
        assert_eq!(human(&[]), "No history entries match.\n0 entries.\n");
    }

    #[test]
    fn text_shows_control_characters_of_a_hand_edited_trail_as_printable_text() {
        let text = human(&[entry("ana\x1b[31m@host", Vec::new())]);
        assert!(!text.contains('\x1b'), "{text:?}");
    }

    #[test]
    fn markdown_escapes_every_cell_and_links_the_run() {
        let text = markdown(&[entry("a|b<i>@host", vec![configured(), configured()])]);
        let row = text.lines().last().unwrap();
        assert_eq!(
            row,
            "| 2026-01-01T00:00:00Z | a\\|b\\<i\\>@host | [run](https://ci.example/runs/1) | apply | update flex_instance.a GO1 ok (configuration: ui_attributes.x, ui_attributes.y)<br>update flex_instance.a GO1 ok (configuration: ui_attributes.x, ui_attributes.y) |"
        );
        assert!(
            text.starts_with("### flexform history\n\n1 entry, newest first.\n\n"),
            "{text}"
        );
    }

    #[test]
    fn csv_has_a_row_per_change_or_one_for_an_entry_without_and_defuses_formulas() {
        let text = csv(&[
            entry("=HYPERLINK(\"x\")", vec![configured()]),
            entry("ana@host", Vec::new()),
        ])
        .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "time,who,command,run_url,commit,plan_sha256,address,action,flex_instance_sid,outcome,configuration",
                "2026-01-01T00:00:00Z,\"'=HYPERLINK(\"\"x\"\")\",apply,https://ci.example/runs/1,abc123,,flex_instance.a,update,GO1,ok,ui_attributes.x ui_attributes.y",
                "2026-01-01T00:00:00Z,ana@host,apply,https://ci.example/runs/1,abc123,,,,,,",
            ]
        );
    }

    #[test]
    fn warnings_name_each_unreadable_line_then_the_entries_waiting_in_the_state() {
        let history = History {
            entries: Vec::new(),
            unreadable: vec![(2, "cut".into())],
            waiting: 2,
        };
        assert_eq!(
            warnings(&history),
            [
                "history line 2 is not an entry (cut); run `flexform history verify`",
                "2 entries could not be written to the trail yet and are kept in the state (listed here); the next command that can write the trail writes them",
            ]
        );
        assert!(warnings(&History::default()).is_empty());
    }

    fn verification(report: Verified) -> Verification {
        Verification {
            report,
            anchored: true,
            signers_checked: false,
            signed_since: 0,
        }
    }

    #[test]
    fn a_failed_verification_lists_every_problem_on_stdout_and_ends_in_an_error() {
        let report = Verified {
            entries: 3,
            problems: vec![
                Problem {
                    line: Some(2),
                    reason: "bad link".into(),
                    pending: false,
                },
                Problem {
                    line: None,
                    reason: "no anchor".into(),
                    pending: false,
                },
            ],
            in_progress: Some("bob".into()),
            ..Verified::default()
        };
        let verdict = verdict(&verification(report), "s.json");
        assert_eq!(
            verdict.document,
            "History of s.json FAILED verification (3 lines, 2 problems):\n  - line 2: bad link\n  - no anchor\n"
        );
        assert_eq!(
            verdict.error.as_deref(),
            Some("the history of s.json does not verify (2 problems, listed above)")
        );
        assert_eq!(verdict.notes_before.len(), 1);
        assert!(verdict.notes_before[0].contains("(bob)"));
        assert!(verdict.notes_after.is_empty());
    }

    #[test]
    fn an_intact_trail_says_what_was_checked_and_notes_unchecked_signatures_and_legacy_lines() {
        let report = Verified {
            entries: 1,
            signed: 2,
            legacy: 1,
            ..Verified::default()
        };
        let verdict = verdict(&verification(report.clone()), "s.json");
        assert_eq!(
            verdict.document,
            "History of s.json verified: 1 entry, hash chain intact, newest entry recorded in the state at its serial.\n"
        );
        assert_eq!(verdict.error, None);
        assert_eq!(
            verdict.notes_before,
            ["2 entries are signed; pass --allowed-signers FILE to check the signatures against the keys you trust"]
        );
        assert_eq!(
            verdict.notes_after,
            ["the first entry predates the hash chain (written by an older flexform) and is accepted as it is"]
        );
        let checked = Verification {
            anchored: false,
            signers_checked: true,
            signed_since: 7,
            report,
        };
        let verdict = super::verdict(&checked, "s.json");
        assert_eq!(
            verdict.document,
            "History of s.json verified: 1 entry, hash chain intact, every entry from serial 7 on signed by an allowed key.\n"
        );
        assert!(verdict.notes_before.is_empty());
    }
}
