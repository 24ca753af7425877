//! `flexform history`: the audit trail from either backend, newest first, filtered by
//! instance and time, as text, JSON, Markdown or CSV; `flexform history verify` checks its hash
//! chain against the state.

use std::fmt::Write;
use std::time::SystemTime;

use anyhow::{bail, Context};

use crate::cli::args::{HistoryArgs, HistoryCommand, HistoryFormat};
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::plan::address;
use crate::state::history::{HistoryDocument, HistoryEntry};
use crate::support::text::{csv_cell, markdown_cell, markdown_link, plural_word, printable};

/// Prints or verifies the trail.
pub fn run(settings: &Settings, args: &HistoryArgs) -> anyhow::Result<ExitStatus> {
    let location = crate::ops::plan::state_location_without_config(&settings.workspace())?;
    let view = context::run_with_stop(settings, true, |_| async {
        Ok(location.read_audit().await?)
    })?;
    if let Some(HistoryCommand::Verify {
        allowed_signers,
        signed_since,
        ..
    }) = &args.command
    {
        let allowed = allowed_signers
            .as_deref()
            .map(crate::state::signing::AllowedSigners::load)
            .transpose()?;
        let policy = crate::state::SignaturePolicy {
            allowed: allowed.as_ref(),
            signed_since: *signed_since,
        };
        return Ok(verify(settings, &view, policy, &location.describe()));
    }
    let crate::state::AuditView { trail, state, .. } = view;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let mut entries = Vec::new();
    for line in trail {
        match line.entry {
            Ok(entry) => entries.push(entry),
            Err(message) => settings.out.warn(format!(
                "history line {} is not an entry ({message}); run `flexform history verify`",
                line.number
            )),
        }
    }
    // Entries the trail could not take wait in the state: they are part of the history.
    if let Some(state) = &state {
        let waiting = crate::state::trail::unwritten_entries(state);
        if !waiting.is_empty() {
            settings.out.warn(format!(
                "{} {} could not be written to the trail yet and {} kept in the state (listed here); the next command that can write the trail writes {}",
                waiting.len(),
                plural_word(waiting.len(), "entry", "entries"),
                plural_word(waiting.len(), "is", "are"),
                plural_word(waiting.len(), "it", "them"),
            ));
        }
        entries.extend(waiting);
    }
    let wanted = args.instance.as_deref().map(|name| {
        if name.starts_with("flex_instance.") {
            name.to_owned()
        } else {
            address(name)
        }
    });
    // The instance's own changes by position, across its renames and never another's that
    // took one of its names later (`state::changes_of`).
    let wanted = wanted.map(|wanted| crate::state::changes_of(&entries, &wanted, true));
    let mut entries: Vec<HistoryEntry> = entries
        .into_iter()
        .enumerate()
        .filter_map(|(index, mut entry)| {
            if let Some(wanted) = &wanted {
                // An entry that changed several instances shows only the one asked about.
                let mut position = 0;
                entry.changes.retain(|_| {
                    position += 1;
                    wanted.contains(&(index, position - 1))
                });
                if entry.changes.is_empty() {
                    return None;
                }
            }
            let recent = since.is_none_or(|since| {
                humantime::parse_rfc3339(&entry.time).is_ok_and(|time| time >= since)
            });
            recent.then_some(entry)
        })
        .collect();
    entries.reverse();
    let text = match args.format {
        HistoryFormat::Human => human(&entries),
        HistoryFormat::Json => {
            let document = HistoryDocument {
                format_version: 1,
                entries,
            };
            let mut text = serde_json::to_string_pretty(&document)?;
            text.push('\n');
            text
        }
        HistoryFormat::Markdown => markdown(&entries),
        HistoryFormat::Csv => csv(&entries)?,
    };
    settings.out.data(text);
    Ok(ExitStatus::Success)
}

/// `--since`: an RFC 3339 time, or a duration back from now (`30d`, `12h`).
fn parse_since(text: &str) -> anyhow::Result<SystemTime> {
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Ok(time);
    }
    let ago = humantime::parse_duration(text).with_context(|| {
        format!("--since {text:?} is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor a duration (30d, 12h)")
    })?;
    match SystemTime::now().checked_sub(ago) {
        Some(time) => Ok(time),
        None => bail!("--since {text:?} reaches back before 1970"),
    }
}

/// Checks the trail against itself and the state and prints the verdict on stdout: exit 0
/// intact, 1 listing every problem.
fn verify(
    settings: &Settings,
    view: &crate::state::AuditView,
    policy: crate::state::SignaturePolicy<'_>,
    location: &str,
) -> ExitStatus {
    let report = crate::state::verify_view(view, policy);
    let state = view.state.as_ref();
    if let Some(holder) = &report.in_progress {
        settings.out.note(format!(
            "a run is at work on this state ({holder}): what it has not written yet is not held against the trail; verify again when it ends"
        ));
    }
    let out = &settings.out;
    let entries = format!(
        "{} {}",
        report.entries,
        plural_word(report.entries, "line", "lines")
    );
    if !report.intact() {
        let mut text = format!(
            "History of {location} FAILED verification ({entries}, {} {}):\n",
            report.problems.len(),
            plural_word(report.problems.len(), "problem", "problems")
        );
        for problem in &report.problems {
            let _ = writeln!(text, "  - {problem}");
        }
        out.data(text);
        out.error(format!(
            "the history of {location} does not verify ({} {}, listed above)",
            report.problems.len(),
            plural_word(report.problems.len(), "problem", "problems")
        ));
        return ExitStatus::Failure;
    }
    let mut line = format!(
        "History of {location} verified: {} {}, hash chain intact",
        report.entries,
        plural_word(report.entries, "entry", "entries")
    );
    if state.is_some_and(|s| s.history_sha256.is_some()) {
        line.push_str(", newest entry recorded in the state at its serial");
    }
    if policy.allowed.is_some() {
        line.push_str(&if policy.signed_since > 0 {
            format!(
                ", every entry from serial {} on signed by an allowed key",
                policy.signed_since
            )
        } else {
            ", every entry signed by an allowed key".to_owned()
        });
    } else if report.signed > 0 {
        out.note(format!(
            "{} {} signed; pass --allowed-signers FILE to check the signatures against the keys you trust",
            report.signed,
            plural_word(report.signed, "entry is", "entries are")
        ));
    }
    out.data_line(format!("{line}."));
    if report.legacy > 0 {
        out.note(if report.legacy == 1 {
            "the first entry predates the hash chain (written by an older flexform) and is accepted as it is".to_owned()
        } else {
            format!(
                "the first {} entries predate the hash chain (written by an older flexform) and are accepted as they are",
                report.legacy
            )
        });
    }
    ExitStatus::Success
}

/// The pipeline run as a Markdown link, or nothing.
fn run_link(entry: &HistoryEntry) -> String {
    match &entry.provenance.run_url {
        Some(url) => markdown_link("run", url),
        None => String::new(),
    }
}

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

fn human(entries: &[HistoryEntry]) -> String {
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

fn markdown(entries: &[HistoryEntry]) -> String {
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
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            markdown_cell(&entry.time),
            markdown_cell(&entry.who),
            run_link(entry),
            markdown_cell(&entry.command),
            changes
        );
    }
    out
}

/// One row per change (an entry without changes: one row with the change columns empty),
/// every cell made safe for a spreadsheet (`support::text::csv_cell`): `who` is `$USER@host`.
fn csv(entries: &[HistoryEntry]) -> anyhow::Result<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record([
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
    ])?;
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
            writer.write_record(
                head.iter()
                    .chain(["", "", "", "", ""].iter())
                    .map(|cell| csv_cell(cell).into_owned()),
            )?;
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
            writer.write_record(
                head.iter()
                    .chain(tail.iter())
                    .map(|cell| csv_cell(cell).into_owned()),
            )?;
        }
    }
    let bytes = writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(String::from_utf8(bytes)?)
}
