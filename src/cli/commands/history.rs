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
use crate::state::history::{self, HistoryDocument, HistoryEntry};
use crate::support::text::plural_word;

/// Prints or verifies the trail.
pub fn run(settings: &Settings, args: &HistoryArgs) -> anyhow::Result<ExitStatus> {
    let location = context::state_location_without_config(settings)?;
    let (trail, state) = context::run_with_stop(settings, true, |_| async {
        Ok((location.read_history().await?, location.load().await?))
    })?;
    if let Some(HistoryCommand::Verify { .. }) = args.command {
        let anchor = state.as_ref().and_then(|s| s.history_sha256.as_deref());
        return Ok(verify(settings, &trail, anchor, &location.describe()));
    }
    let since = args.since.as_deref().map(parse_since).transpose()?;
    let mut entries = Vec::new();
    for (index, read) in trail.into_iter().enumerate() {
        match read {
            Ok(entry) => entries.push(entry),
            Err(message) => settings.out.warn(format!(
                "history entry {} does not parse ({message}); run `flexform history verify`",
                index + 1
            )),
        }
    }
    let wanted = args.instance.as_deref().map(|name| {
        if name.starts_with("flex_instance.") {
            name.to_owned()
        } else {
            address(name)
        }
    });
    // The instance under every address it had (renames), so that its whole trail shows.
    let wanted: Option<Vec<String>> =
        wanted.map(|wanted| crate::state::addresses_of(entries.iter(), &wanted, true));
    entries.retain(|entry| {
        let recent = since.is_none_or(|since| {
            humantime::parse_rfc3339(&entry.time).is_ok_and(|time| time >= since)
        });
        let about = wanted
            .as_ref()
            .is_none_or(|wanted| entry.changes.iter().any(|c| wanted.contains(&c.address)));
        recent && about
    });
    // An entry that changed several instances shows only the one asked about.
    if let Some(wanted) = &wanted {
        for entry in &mut entries {
            entry.changes.retain(|c| wanted.contains(&c.address));
        }
    }
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

/// Checks the chain and prints the verdict: exit 0 intact, 1 naming the first broken entry.
fn verify(
    settings: &Settings,
    trail: &[history::ReadEntry],
    anchor: Option<&str>,
    location: &str,
) -> ExitStatus {
    let report = history::verify(trail, anchor);
    let out = &settings.out;
    if let Some(broken) = &report.broken {
        // Entry 0: the trail has no entry at all, though the state anchors one.
        let Some(index) = broken.entry.checked_sub(1) else {
            out.error(format!(
                "the history of {location} is missing or empty, but the state anchors entry SHA-256 {}: the trail was deleted or emptied",
                anchor.unwrap_or("?")
            ));
            return ExitStatus::Failure;
        };
        let about = trail
            .get(index)
            .and_then(|r| r.as_ref().ok())
            .map_or_else(String::new, |e| format!(" ({} {})", e.time, e.command));
        out.error(format!(
            "history entry {}{about} of {location} breaks the chain: {}",
            broken.entry, broken.reason
        ));
        return ExitStatus::Failure;
    }
    let mut line = format!(
        "History of {location} verified: {} {}, hash chain intact",
        report.entries,
        plural_word(report.entries, "entry", "entries")
    );
    if anchor.is_some() {
        line.push_str(", newest entry recorded in the state");
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
    if report.unconfirmed > 0 {
        out.warn(format!(
            "the last {} {} came after the newest one the state records: a run died between writing its entry and the state, or they were added since",
            report.unconfirmed,
            plural_word(report.unconfirmed, "entry", "entries")
        ));
    }
    ExitStatus::Success
}

/// The pipeline run as a Markdown link, or who ran it.
fn run_link(entry: &HistoryEntry) -> String {
    match &entry.provenance.run_url {
        Some(url) => format!("[run]({url})"),
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
            entry.time, entry.command, entry.who, entry.serial_before, entry.serial_after
        );
        let p = &entry.provenance;
        if let Some(url) = &p.run_url {
            let _ = writeln!(out, "  run:    {url}");
        }
        if let Some(commit) = &p.commit {
            let _ = writeln!(out, "  commit: {commit}");
        }
        if let Some(digest) = &p.plan_sha256 {
            let _ = writeln!(out, "  plan:   SHA-256 {digest}");
        }
        for change in change_text(entry) {
            let _ = writeln!(out, "  {change}");
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
    for entry in entries {
        let changes = change_text(entry)
            .iter()
            .map(|c| c.replace('|', "\\|"))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            entry.time,
            entry.who,
            run_link(entry),
            entry.command,
            changes
        );
    }
    out
}

/// One row per change (an entry without changes: one row with the change columns empty).
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
            writer.write_record(head.iter().chain(["", "", "", "", ""].iter()))?;
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
            writer.write_record(head.iter().chain(tail.iter()))?;
        }
    }
    let bytes = writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(String::from_utf8(bytes)?)
}
