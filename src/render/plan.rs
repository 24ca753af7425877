//! Views of a plan for people: the Terraform-like terminal view and a Markdown summary for
//! pull-request comments. Both are rendered from a [`PlanDocument`], like the JSON view.

use std::fmt::Write;

use similar::{ChangeTag, TextDiff};

use super::Style;
use crate::plan::{
    Action, Diagnostic, FieldChange, InstanceView, Plan, PlanDocument, ReleaseChange,
    ResourceChange, Severity,
};
use crate::support::text::{markdown_cell, markdown_code, plural};

/// The one-line summary: `Plan: 2 to create, 1 to adopt, 5 unchanged. Drift: 1.`,
/// `No changes. Flex instances match the configuration.`, or, when the plan has errors,
/// `Plan failed: 1 error; …` (never "no changes" for a plan that could not be made).
pub fn summary_line(doc: &PlanDocument) -> String {
    let s = doc.summary;
    let errors = error_count(doc);
    if errors > 0 {
        format!(
            "Plan failed: {errors} error{}; nothing can be applied until {} resolved.",
            plural(errors),
            if errors == 1 { "it is" } else { "they are" }
        )
    } else if s.create == 0
        && s.adopt == 0
        && s.moved == 0
        && s.update == 0
        && s.release == 0
        && s.drift == 0
    {
        "No changes. Flex instances match the configuration.".to_owned()
    } else {
        let moved = if s.moved > 0 {
            format!("{} to move, ", s.moved)
        } else {
            String::new()
        };
        let update = if s.update > 0 {
            format!("{} to update, ", s.update)
        } else {
            String::new()
        };
        let release = if s.release > 0 {
            format!("{} to release, ", s.release)
        } else {
            String::new()
        };
        format!(
            "Plan: {} to create, {} to adopt, {update}{release}{moved}{} unchanged. Drift: {}.",
            s.create, s.adopt, s.unchanged, s.drift
        )
    }
}

pub(crate) fn error_count(doc: &PlanDocument) -> usize {
    doc.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count()
}

/// The attributes of `view`, one per line. `unset` stands for a missing SID or status: in a
/// `before` view that is an instance not found (404), in an `after` view a value known after
/// apply.
fn attribute_lines(view: Option<&InstanceView>, unset: &str) -> String {
    let Some(v) = view else {
        return String::new();
    };
    format!(
        "account_sid           = \"{}\"\nconversations_default = {}\nflex_instance_sid     = {}\nstatus                = {}\n",
        v.account_sid,
        v.conversations_default
            .map_or_else(|| "(server default)".to_owned(), |d| d.to_string()),
        v.flex_instance_sid
            .as_ref()
            .map_or_else(|| unset.to_owned(), |s| format!("\"{s}\"")),
        v.status
            .as_ref()
            .map_or_else(|| unset.to_owned(), |s| format!("\"{s}\"")),
    )
}

fn block(out: &mut String, change: &ResourceChange, blocked: bool, style: Style) {
    let (symbol, verb) = match change.action {
        _ if blocked => (style.red("x"), ""),
        Action::Create => (style.green("+"), "will be created"),
        Action::Adopt => (style.cyan(">"), "will be adopted"),
        Action::Unchanged => (style.yellow("!"), "will not be changed"),
        Action::Move => (style.cyan("~"), "has moved"),
        Action::Update => (style.yellow("~"), "will be updated in-place"),
    };
    // A blocked change says why in its reason ("could not be observed: …") rather than
    // claiming it "will not be changed".
    let header = match (change.reason.as_deref(), blocked) {
        (Some(reason), true) => reason.to_owned(),
        (None, true) => "cannot be planned (see the errors)".to_owned(),
        (Some(reason), false) => format!("{verb} ({reason})"),
        (None, false) => verb.to_owned(),
    };
    match &change.moved_from {
        // Terraform's wording for a `moved` block.
        Some(old) => {
            let _ = writeln!(
                out,
                "  # {} has moved to {}",
                style.bold(old),
                style.bold(&change.address)
            );
        }
        None => {
            let _ = writeln!(out, "  # {} {header}", style.bold(&change.address));
        }
    }
    let _ = writeln!(out, "  {symbol} flex_instance \"{}\" {{", change.name);
    let before = attribute_lines(change.before.as_ref(), "(not found)");
    // An orphan stays in the state as it is: show its record, not a removal.
    let after = match &change.after {
        None if change.action == Action::Unchanged => before.clone(),
        after => attribute_lines(after.as_ref(), "(known after apply)"),
    };
    let diff = TextDiff::from_lines(&before, &after);
    for line in diff.iter_all_changes() {
        let text = line.value().trim_end_matches('\n');
        let rendered = match line.tag() {
            ChangeTag::Delete => style.red(&format!("- {text}")),
            ChangeTag::Insert => match change.action {
                Action::Adopt => style.cyan(&format!("> {text}")),
                _ => style.green(&format!("+ {text}")),
            },
            ChangeTag::Equal => format!("  {text}"),
        };
        let _ = writeln!(out, "      {rendered}");
    }
    for field in change.changed_fields() {
        field_lines(out, field, style);
    }
    if let Some(release) = &change.release {
        release_lines(out, release, style);
    }
    let _ = writeln!(out, "    }}");
    out.push('\n');
}

/// A plugins release: a header naming the release it replaces, then one line per plugin:
/// `~ b 1.0.0 -> 1.1.0 (new version)`, `+ c 1.0.0 (new plugin, new version)`, `- d 0.9.0 (left
/// out of the release)`, and the unchanged ones plainly.
fn release_lines(out: &mut String, release: &ReleaseChange, style: Style) {
    let replaces = match (&release.before, release.observed) {
        (Some(before), _) => format!("replaces release {before}"),
        (None, true) => "the account's first release".to_owned(),
        (None, false) => "once the instance is ready".to_owned(),
    };
    let _ = writeln!(
        out,
        "      {} plugins release ({replaces})",
        style.yellow("~")
    );
    for plugin in &release.plugins {
        let made = match (plugin.plugin_sid.is_some(), plugin.create_version.is_some()) {
            _ if plugin.after.is_none() => "left out of the release",
            (false, _) if !release.observed => "created if missing",
            (false, _) => "new plugin, new version",
            (true, true) => "new version",
            (true, false) => "existing version",
        };
        let line = match (&plugin.before, &plugin.after) {
            (Some(b), Some(a)) if b == a => format!("  {} {a}", plugin.name),
            (Some(b), Some(a)) => style.yellow(&format!("~ {} {b} -> {a} ({made})", plugin.name)),
            (None, Some(a)) => style.green(&format!("+ {} {a} ({made})", plugin.name)),
            (Some(b), None) => style.red(&format!("- {} {b} ({made})", plugin.name)),
            (None, None) => continue,
        };
        let _ = writeln!(out, "          {line}");
    }
}

/// One configuration path: `~ ui_language = "en" -> "en-GB"`, `+ path = value` (absent before,
/// or not known before the instance exists), `- path = value` (removed); an object or a list
/// is shown as a line diff of its pretty JSON.
fn field_lines(out: &mut String, field: &FieldChange, style: Style) {
    let before = field.before.as_ref().unwrap_or(&serde_json::Value::Null);
    let after = &field.after;
    let compound = |v: &serde_json::Value| v.is_object() || v.is_array();
    if compound(before) || compound(after) {
        let pretty = |v: &serde_json::Value| {
            if v.is_null() {
                String::new()
            } else {
                serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
            }
        };
        let (old, new) = (pretty(before), pretty(after));
        let symbol = match (before.is_null(), after.is_null()) {
            (true, _) => style.green("+"),
            (false, true) => style.red("-"),
            (false, false) => style.yellow("~"),
        };
        let _ = writeln!(out, "      {symbol} {} =", field.path);
        for line in TextDiff::from_lines(&old, &new).iter_all_changes() {
            let text = line.value().trim_end_matches('\n');
            let rendered = match line.tag() {
                ChangeTag::Delete => style.red(&format!("- {text}")),
                ChangeTag::Insert => style.green(&format!("+ {text}")),
                ChangeTag::Equal => format!("  {text}"),
            };
            let _ = writeln!(out, "          {rendered}");
        }
        return;
    }
    let line = match (before.is_null(), after.is_null()) {
        (true, _) => style.green(&format!("+ {} = {after}", field.path)),
        (false, true) => style.red(&format!("- {} = {before}", field.path)),
        (false, false) => style.yellow(&format!("~ {} = {before} -> {after}", field.path)),
    };
    let _ = writeln!(out, "      {line}");
}

/// `  ! drift flex_instance.a (deleted_outside): …`
pub(crate) fn diagnostic_line(out: &mut String, d: &Diagnostic, style: Style) {
    let mark = match d.severity {
        Severity::Error => style.red("x"),
        Severity::Drift | Severity::Warning => style.yellow("!"),
        Severity::Info => "i".to_owned(),
    };
    let _ = writeln!(
        out,
        "  {mark} {} {} ({}): {}",
        d.severity.as_str(),
        d.address,
        d.kind.as_str(),
        d.message
    );
}

/// The line that says a plan is partial (`--target`), or nothing.
pub fn partial_note(doc: &PlanDocument) -> Option<String> {
    (!doc.targets.is_empty()).then(|| {
        format!(
            "Partial plan: only {} (--target); the other instances were not looked at.",
            doc.targets.join(", ")
        )
    })
}

/// The terminal view of a plan.
pub fn human(doc: &PlanDocument, style: Style) -> String {
    let mut out = String::new();
    if let Some(note) = partial_note(doc) {
        let _ = writeln!(out, "{}\n", style.bold(&note));
    }
    let flagged: std::collections::HashSet<&str> = doc
        .diagnostics
        .iter()
        .filter(|d| d.severity >= Severity::Warning)
        .map(|d| d.address.as_str())
        .collect();
    let blocked: std::collections::HashSet<&str> = doc
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| d.address.as_str())
        .collect();
    let shown: Vec<&ResourceChange> = doc
        .resource_changes
        .iter()
        .filter(|c| c.action != Action::Unchanged || flagged.contains(c.address.as_str()))
        .collect();
    if !shown.is_empty() || !doc.diagnostics.is_empty() {
        out.push_str(&legend(doc, style));
    }
    if !shown.is_empty() {
        out.push_str("flexform will perform the following actions:\n\n");
        for change in shown {
            block(
                &mut out,
                change,
                blocked.contains(change.address.as_str()),
                style,
            );
        }
    }
    if !doc.diagnostics.is_empty() {
        out.push_str("Diagnostics:\n");
        for d in &doc.diagnostics {
            diagnostic_line(&mut out, d, style);
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}", style.bold(&summary_line(doc)));
    if let Some(note) = records_note(doc) {
        let _ = writeln!(out, "{note}");
    }
    out
}

/// What apply records without sending anything, when it records anything: the
/// configuration of instances whose declared values are in place, or no longer declared.
pub fn records_note(doc: &PlanDocument) -> Option<String> {
    let of = |recorded: fn(&ResourceChange) -> bool| -> Vec<&str> {
        doc.resource_changes
            .iter()
            .filter(|c| recorded(c))
            .map(|c| c.address.as_str())
            .collect()
    };
    let configurations = of(|c| c.record_configuration.is_some());
    let releases = of(|c| c.record_release.is_some());
    let mut notes = Vec::new();
    if !configurations.is_empty() {
        notes.push(format!(
            "Apply records the Flex configuration of {} without sending anything: the declared values are in place (or are no longer declared).",
            configurations.join(", ")
        ));
    }
    if !releases.is_empty() {
        notes.push(format!(
            "Apply records the active plugins release of {} without sending anything: it holds the declared versions.",
            releases.join(", ")
        ));
    }
    (!notes.is_empty()).then(|| notes.join("\n"))
}

/// A Markdown summary for pull-request comments: counts, then one row per change or drift.
pub fn markdown(doc: &PlanDocument, title: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### {title}\n");
    if let Some(note) = partial_note(doc) {
        let _ = writeln!(out, "> {note}\n");
    }
    let _ = writeln!(out, "**{}**\n", summary_line(doc));
    let s = doc.summary;
    let _ = writeln!(
        out,
        "| create | adopt | move | update | unchanged | drift |\n| ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} | {} |\n",
        s.create, s.adopt, s.moved, s.update, s.unchanged, s.drift
    );
    let rows: Vec<String> = doc
        .resource_changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .map(|c| {
            let sid = c
                .after
                .as_ref()
                .and_then(|a| a.flex_instance_sid.as_ref())
                .map_or_else(
                    || "(known after apply)".to_owned(),
                    |s| markdown_code(s.as_str()),
                );
            let action = match c.action {
                Action::Create => "➕ create",
                Action::Adopt => "🔗 adopt",
                Action::Unchanged => "unchanged",
                Action::Move => "🔀 move",
                Action::Update => "✏️ update",
            };
            // Every cell escaped (`support::text`): a reason can quote a name from a
            // hand-edited state, and an API's words.
            format!(
                "| {} | {action} | {} | {sid} | {} |",
                markdown_code(&c.address),
                markdown_code(c.account_sid.as_str()),
                markdown_cell(c.reason.as_deref().unwrap_or(""))
            )
        })
        .chain(
            doc.diagnostics
                .iter()
                .filter(|d| d.severity > Severity::Info)
                .map(|d| diagnostic_row(doc, d)),
        )
        .collect();
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "| address | action | account | SID | note |\n| --- | --- | --- | --- | --- |"
        );
        for row in rows {
            let _ = writeln!(out, "{row}");
        }
    }
    // Plugins releases, one block per instance.
    for change in &doc.resource_changes {
        let Some(release) = &change.release else {
            continue;
        };
        let mut lines = String::new();
        release_lines(&mut lines, release, Style::new(false));
        let _ = writeln!(
            out,
            "\n{} plugins:\n\n```diff\n{}```",
            markdown_code(&change.address),
            dedent(&lines)
        );
    }
    // Field-level configuration diffs, one block per instance.
    for change in &doc.resource_changes {
        if change.changed_fields().next().is_none() {
            continue;
        }
        let mut lines = String::new();
        for field in change.changed_fields() {
            field_lines(&mut lines, field, Style::new(false));
        }
        let _ = writeln!(
            out,
            "\n{} configuration:\n\n```diff\n{}```",
            markdown_code(&change.address),
            dedent(&lines)
        );
    }
    out
}

/// `text` without the indentation its lines share.
fn dedent(text: &str) -> String {
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.lines()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect()
}

/// A Markdown table row for a diagnostic: `| address | ⚠️ drift: deleted_outside | … |`.
pub(crate) fn diagnostic_row(doc: &PlanDocument, d: &Diagnostic) -> String {
    let icon = match d.severity {
        Severity::Error => "❌",
        Severity::Drift | Severity::Warning => "⚠️",
        Severity::Info => "ℹ️",
    };
    let (account, sid) = doc
        .resource_changes
        .iter()
        .find(|c| c.address == d.address)
        .map_or_else(
            || (String::new(), String::new()),
            |c| {
                (
                    markdown_code(c.account_sid.as_str()),
                    c.before
                        .as_ref()
                        .and_then(|b| b.flex_instance_sid.as_ref())
                        .map_or_else(String::new, |s| markdown_code(s.as_str())),
                )
            },
        );
    // The message often quotes the API's answer: escaped like every cell (`support::text`).
    format!(
        "| {} | {icon} {}: {} | {account} | {sid} | {} |",
        markdown_code(&d.address),
        d.severity.as_str(),
        d.kind.as_str(),
        markdown_cell(&d.message)
    )
}

/// The symbols a plan uses, explained (Terraform's "Resource actions are indicated with the
/// following symbols"): only those that appear in `doc`, in a fixed order.
pub fn legend(doc: &PlanDocument, style: Style) -> String {
    let shown = |a: Action| doc.resource_changes.iter().any(|c| c.action == a);
    let severity = |s: Severity| doc.diagnostics.iter().any(|d| d.severity == s);
    let entries = [
        (shown(Action::Create), style.green("+"), "create"),
        (
            shown(Action::Adopt),
            style.cyan(">"),
            "adopt (record an existing instance)",
        ),
        (
            shown(Action::Move),
            style.cyan("~"),
            "move (record under a new name)",
        ),
        (
            doc.resource_changes
                .iter()
                .any(|c| c.changed_fields().next().is_some()),
            style.yellow("~"),
            "update in-place (Flex configuration: `~` changes a value, `+` sets one, `-` removes a key)",
        ),
        (
            doc.resource_changes.iter().any(|c| c.release.is_some()),
            style.yellow("~"),
            "plugins release (`+` adds a plugin, `~` changes its version, `-` leaves it out)",
        ),
        (
            severity(Severity::Error),
            style.red("x"),
            "error: cannot be planned; apply refuses the plan",
        ),
        (
            severity(Severity::Drift) || severity(Severity::Warning),
            style.yellow("!"),
            "drift or warning: needs a look, does not stop apply",
        ),
        (severity(Severity::Info), "i".to_owned(), "info"),
    ];
    let mut out = String::new();
    for (used, symbol, meaning) in entries {
        if used {
            let _ = writeln!(out, "  {symbol} {meaning}");
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("Symbols used below:\n{out}\n")
    }
}
/// Each error of the plan as one line for stderr (`flex_instance.a: …`): `plan`, `drift`,
/// `report` and a refused `apply` print them, so that the reason is in the job's log.
pub fn error_lines(plan: &Plan) -> Vec<String> {
    plan.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{}: {}", d.address, d.message))
        .collect()
}
