//! The audit report (`flexform report`) as JSON, Markdown and CSV, from the one
//! [`crate::ops::report::Report`] value.

use std::fmt::Write;

use crate::ops::report::Report;
use crate::support::text::{csv_cell, markdown_cell, markdown_code, markdown_link, plural_word};

/// The report as JSON (the value as it is).
pub fn json(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).expect("a report always serializes");
    text.push('\n');
    text
}

/// The trail's line of the Markdown report: intact, or the first problem and how many more.
fn trail_verdict(report: &Report) -> String {
    match &report.trail.broken {
        None => "hash chain intact".to_owned(),
        Some(why) => {
            let more = report.trail.problems.len().saturating_sub(1);
            let more = if more > 0 {
                format!(" (and {more} more: run `flexform history verify`)")
            } else {
                String::new()
            };
            format!("**BROKEN**: {}{more}", markdown_cell(why))
        }
    }
}

/// The report as Markdown: a header, a table of the instances, and each instance's changes.
pub fn markdown(report: &Report) -> String {
    let mut out = String::from("# flexform audit report\n\n");
    let _ = writeln!(out, "- Generated: {}", report.generated_at);
    let _ = writeln!(out, "- State: {}", markdown_cell(&report.state));
    let _ = writeln!(
        out,
        "- Audit trail: {} {}, {}\n",
        report.trail.entries,
        plural_word(report.trail.entries, "entry", "entries"),
        trail_verdict(report)
    );
    out.push_str(
        "| instance | account | SID | status | recorded | by | run | findings |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    // Every cell escaped (`support::text`): `by` is `$USER@host`, a status or a finding can
    // hold the API's words, and names come from a state that may have been edited by hand.
    for i in &report.instances {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} {} | {} | {} | {} |",
            markdown_code(&i.address),
            markdown_code(&i.account_sid),
            markdown_code(&i.flex_instance_sid),
            markdown_cell(&i.status),
            markdown_cell(&i.origin),
            markdown_cell(i.since.as_deref().unwrap_or("")),
            markdown_cell(i.by.as_deref().unwrap_or("")),
            i.run_url
                .as_deref()
                .map_or_else(String::new, |u| markdown_link("run", u)),
            if i.findings.is_empty() {
                "none".to_owned()
            } else {
                markdown_cell(&i.findings.join("; "))
            }
        );
    }
    // A list item ends at a line break too: the same escaping keeps each change one item.
    for i in report.instances.iter().filter(|i| !i.changes.is_empty()) {
        let _ = writeln!(out, "\n#### {}\n", markdown_code(&i.address));
        for c in &i.changes {
            let _ = writeln!(
                out,
                "- {} {} {} {} ({}){}",
                markdown_cell(&c.time),
                markdown_cell(&c.command),
                markdown_cell(&c.action),
                markdown_cell(c.flex_instance_sid.as_deref().unwrap_or("-")),
                markdown_cell(&c.outcome),
                c.run_url
                    .as_deref()
                    .map_or_else(String::new, |u| format!(" {}", markdown_link("run", u)))
            );
        }
    }
    out
}

/// The report as CSV: one row per recorded instance, every cell made safe for a spreadsheet
/// (`support::text::csv_cell`): `by` is `$USER@host`.
pub fn csv(report: &Report) -> Result<String, ::csv::Error> {
    let header = [
        "address",
        "account_sid",
        "flex_instance_sid",
        "status",
        "origin",
        "since",
        "by",
        "run_url",
        "changes",
        "findings",
        "trail_intact",
    ];
    let rows = report.instances.iter().map(|i| {
        let changes = i.changes.len().to_string();
        let findings = i.findings.join("; ");
        [
            i.address.as_str(),
            i.account_sid.as_str(),
            i.flex_instance_sid.as_str(),
            i.status.as_str(),
            i.origin.as_str(),
            i.since.as_deref().unwrap_or(""),
            i.by.as_deref().unwrap_or(""),
            i.run_url.as_deref().unwrap_or(""),
            changes.as_str(),
            findings.as_str(),
            if report.trail.intact { "true" } else { "false" },
        ]
        .iter()
        .map(|cell| csv_cell(cell).into_owned())
        .collect()
    });
    super::csv_document(&header, rows)
}
