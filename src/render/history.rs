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
