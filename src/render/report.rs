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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::report::{ChangeReport, InstanceReport, TrailCheck};

    fn report(problems: &[&str]) -> Report {
        Report {
            format_version: 1,
            generated_at: "2026-01-02T00:00:00Z".into(),
            state: "s|tate.json".into(),
            trail: TrailCheck {
                entries: 2,
                intact: problems.is_empty(),
                broken: problems.first().map(|p| (*p).to_owned()),
                problems: problems.iter().map(|p| (*p).to_owned()).collect(),
            },
            instances: vec![
                InstanceReport {
                    address: "flex_instance.a".into(),
                    account_sid: "AC1".into(),
                    flex_instance_sid: "GO1".into(),
                    status: "ready".into(),
                    origin: "created".into(),
                    since: Some("2026-01-01T00:00:00Z".into()),
                    by: Some("-eve|<b>@host".into()),
                    run_url: Some("https://ci.example/runs/1".into()),
                    changes: vec![ChangeReport {
                        time: "2026-01-01T00:00:00Z".into(),
                        command: "apply".into(),
                        action: "create".into(),
                        flex_instance_sid: Some("GO1".into()),
                        outcome: "failed: line\nbreak".into(),
                        run_url: None,
                    }],
                    findings: vec!["drift: x".into(), "error: y".into()],
                },
                InstanceReport {
                    address: "flex_instance.b".into(),
                    account_sid: "AC2".into(),
                    flex_instance_sid: "GO2".into(),
                    status: "ready (as recorded: not observed)".into(),
                    origin: "imported".into(),
                    since: None,
                    by: None,
                    run_url: None,
                    changes: Vec::new(),
                    findings: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn markdown_escapes_every_cell_and_lists_each_instances_changes_one_item_each() {
        let text = markdown(&report(&[]));
        assert_eq!(
            text,
            "# flexform audit report\n\n- Generated: 2026-01-02T00:00:00Z\n- State: s\\|tate.json\n- Audit trail: 2 entries, hash chain intact\n\n\
             | instance | account | SID | status | recorded | by | run | findings |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n\
             | `flex_instance.a` | `AC1` | `GO1` | ready | created 2026-01-01T00:00:00Z | -eve\\|\\<b\\>@host | [run](https://ci.example/runs/1) | drift: x; error: y |\n\
             | `flex_instance.b` | `AC2` | `GO2` | ready (as recorded: not observed) | imported  |  |  | none |\n\
             \n#### `flex_instance.a`\n\n- 2026-01-01T00:00:00Z apply create GO1 (failed: line<br>break)\n"
        );
    }

    #[test]
    fn markdown_calls_a_broken_trail_broken_with_its_first_problem_and_how_many_more() {
        let text = markdown(&report(&["line 2: bad | link", "no anchor"]));
        assert!(
            text.contains("- Audit trail: 2 entries, **BROKEN**: line 2: bad \\| link (and 1 more: run `flexform history verify`)\n"),
            "{text}"
        );
        let text = markdown(&report(&["only one"]));
        assert!(text.contains("**BROKEN**: only one\n"), "{text}");
    }

    #[test]
    fn csv_has_a_row_per_instance_with_the_trails_verdict_and_defuses_formulas() {
        let text = csv(&report(&["bad"])).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "address,account_sid,flex_instance_sid,status,origin,since,by,run_url,changes,findings,trail_intact",
                "flex_instance.a,AC1,GO1,ready,created,2026-01-01T00:00:00Z,'-eve|<b>@host,https://ci.example/runs/1,1,drift: x; error: y,false",
                "flex_instance.b,AC2,GO2,ready (as recorded: not observed),imported,,,,0,,false",
            ]
        );
    }

    #[test]
    fn json_is_the_report_as_it_is() {
        let text = json(&report(&[]));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["format_version"], 1);
        assert_eq!(value["instances"][1]["since"], serde_json::Value::Null);
        assert_eq!(value["trail"]["intact"], true);
        assert!(text.ends_with("}\n"));
    }
}
