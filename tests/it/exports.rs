//! What flexform exports for other programs and people: CSV an auditor opens in a spreadsheet
//! and Markdown tables posted to pull requests stay what they say whatever text reaches them
//! (`$USER`, a hand-edited state's names and statuses, the API's words), and an instance's
//! trail (`history --instance`, `report`) is its own, never that of another instance that took
//! one of its names later.

use std::time::Duration;

use crate::common::{account, database_url, workspace, ConfigBuilder, Outcome, Test};

/// A `$USER` that is a spreadsheet formula, ends a Markdown cell, breaks the line and opens a
/// code span.
const HOSTILE_USER: &str = "=HYPERLINK(\"http://x\")|x\nuser-after-newline`tick";

/// A state name no configuration could hold (names are checked in flexform.yaml, `state mv`
/// and `import`), as a hand-edited state can: it ends a cell, opens a code span, breaks a line.
const HOSTILE_NAME: &str = "x|y`z\nname-after-newline";

/// The cells of a Markdown table row as GitHub splits it: at every `|` no backslash escapes.
fn cells(row: &str) -> usize {
    let mut pipes: usize = 0;
    let mut chars = row.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '|' => pipes += 1,
            _ => {}
        }
    }
    pipes.saturating_sub(1)
}

/// Every table of `markdown` as (header cells, rows); asserts that each row has its header's
/// cells and ends with an unescaped `|` (a row cut by a raw newline does not).
#[track_caller]
fn tables(markdown: &str) -> Vec<(usize, Vec<String>)> {
    let lines: Vec<&str> = markdown.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let is_table = lines[i].starts_with('|')
            && lines
                .get(i + 1)
                .is_some_and(|l| l.starts_with("| ---") || l.starts_with("| :--"));
        if !is_table {
            i += 1;
            continue;
        }
        let header = cells(lines[i]);
        assert!(header > 0, "{}", lines[i]);
        let mut rows = Vec::new();
        i += 2;
        while i < lines.len() && lines[i].starts_with('|') {
            let row = lines[i];
            assert_eq!(
                cells(row),
                header,
                "a row with other cells than its header:\n{row}\nin:\n{markdown}"
            );
            assert!(
                row.ends_with(" |") && !row.ends_with("\\|"),
                "a row cut short:\n{row}\nin:\n{markdown}"
            );
            rows.push(row.to_owned());
            i += 1;
        }
        found.push((header, rows));
    }
    found
}

/// Asserts that `markdown` has tables, all whole, and that no line of it begins with what
/// followed a newline in the text put in (it would be a raw newline: a row cut in two).
#[track_caller]
fn assert_whole_tables(what: &str, out: &Outcome) -> Vec<(usize, Vec<String>)> {
    let found = tables(&out.stdout);
    assert!(!found.is_empty(), "{what}: no table in:\n{out:?}");
    for line in out.stdout.lines() {
        assert!(
            !line.starts_with("user-after-newline") && !line.starts_with("name-after-newline"),
            "{what}: a raw newline from user text:\n{}",
            out.stdout
        );
    }
    found
}

/// Rows of `markdown`'s tables that hold `text`.
fn rows_with(found: &[(usize, Vec<String>)], text: &str) -> Vec<String> {
    found
        .iter()
        .flat_map(|(_, rows)| rows.iter())
        .filter(|row| row.contains(text))
        .cloned()
        .collect()
}

/// One record of a CSV export, by its header's column names.
fn csv_rows(out: &Outcome) -> Vec<std::collections::BTreeMap<String, String>> {
    out.assert_exit(0);
    let mut reader = csv::Reader::from_reader(out.stdout.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_user_name_is_text_in_csv_and_one_cell_in_markdown() {
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .env("USER", HOSTILE_USER)
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert!(
        t.history()[0].who.starts_with(HOSTILE_USER),
        "the trail keeps who ran it as it is: {:?}",
        t.history()[0].who
    );

    // CSV: the formula is a text cell (OWASP: a leading `'`), everything after it intact.
    let history = csv_rows(&t.run_read_only(&["history", "--format", "csv"]).await);
    assert_eq!(history.len(), 1, "{history:?}");
    assert!(
        history[0]["who"].starts_with(&format!("'{HOSTILE_USER}@")),
        "{history:?}"
    );
    let report = csv_rows(&t.run_read_only(&["report", "--format", "csv"]).await);
    assert_eq!(report.len(), 1, "{report:?}");
    assert!(
        report[0]["by"].starts_with(&format!("'{HOSTILE_USER}@")),
        "{report:?}"
    );
    // A cell that is no formula is left as it is.
    assert_eq!(report[0]["address"], "flex_instance.a");

    // Markdown: one row per entry, with its header's cells, on one line.
    let md = t.run_read_only(&["history", "--format", "markdown"]).await;
    md.assert_exit(0);
    let found = assert_whole_tables("history", &md);
    let rows = rows_with(&found, "HYPERLINK");
    assert_eq!(rows.len(), 1, "{}", md.stdout);
    assert!(
        rows[0].contains("\\|x<br>user-after-newline\\`tick"),
        "{}",
        rows[0]
    );
    let md = t.run_read_only(&["report"]).await;
    md.assert_exit(0);
    let found = assert_whole_tables("report", &md);
    assert_eq!(rows_with(&found, "HYPERLINK").len(), 1, "{}", md.stdout);
}

/// Names and a status from a hand-edited state reach every table: plan, a saved plan's show,
/// and the state's show.
#[tokio::test(flavor = "multi_thread")]
async fn a_hand_edited_state_cannot_break_a_plan_or_state_table() {
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    // The name a configuration cannot hold is refused where flexform takes names...
    t.run(&["state", "mv", "a", HOSTILE_NAME])
        .await
        .assert_exit(1)
        .assert_stderr_contains("invalid instance name");
    // ...but a state file is what it is.
    let mut state: serde_json::Value = serde_json::from_slice(&t.state_bytes()).unwrap();
    let instances = state["instances"].as_object_mut().unwrap();
    let mut record = instances.remove("a").unwrap();
    record["status"] = "weird|status\r\nstatus-after-newline`".into();
    instances.insert(HOSTILE_NAME.to_owned(), record);
    t.write(
        "flexform.state.json",
        &serde_json::to_string_pretty(&state).unwrap(),
    );

    let shown = t.run_read_only(&["show", "--format", "markdown"]).await;
    shown.assert_exit(0);
    let found = assert_whole_tables("show (state)", &shown);
    let rows = rows_with(&found, "name-after-newline");
    assert_eq!(rows.len(), 1, "{}", shown.stdout);
    // Not in a code span (a backtick in it would end the span), escaped as text instead.
    assert!(
        rows[0].starts_with("| flex_instance.x\\|y\\`z<br>name-after-newline |"),
        "{}",
        rows[0]
    );
    assert!(
        rows[0].contains("weird\\|status<br>status-after-newline\\`"),
        "{}",
        rows[0]
    );

    // The plan renames it to `a` (same account): its reason names the old address.
    let plan = t.run_read_only(&["plan", "--format", "markdown"]).await;
    let found = assert_whole_tables("plan", &plan);
    assert!(
        !rows_with(&found, "name-after-newline").is_empty(),
        "the hostile name reaches a plan row: {plan:?}"
    );
    let out = t.run(&["plan", "--out", "plan.json"]).await;
    assert!(matches!(out.code, Some(0 | 2)), "{out:?}");
    let shown = t
        .run_read_only(&["show", "plan.json", "--format", "markdown"])
        .await;
    shown.assert_exit(0);
    let found = assert_whole_tables("show (plan)", &shown);
    assert!(
        !rows_with(&found, "name-after-newline").is_empty(),
        "{}",
        shown.stdout
    );
}

/// The repro on either backend: `a` renamed to `b`, then a new `a` on another
/// account. `b`'s trail is the first instance's; `a`'s is the new one's.
async fn a_renamed_instance_keeps_its_own_trail(t: Test, on: impl Fn() -> ConfigBuilder) {
    t.write_config(&on().instance("a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let first = t.sim_sid(&account(1));
    t.write_config(&on().instance("b", &account(1)));
    t.run(&["apply", "--auto-approve"])
        .await
        .assert_exit(0)
        .assert_stderr_contains("1 to move");
    t.write_config(&on().instance("b", &account(1)).instance("a", &account(2)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let second = t.sim_sid(&account(2));

    let sids = |changes: &[serde_json::Value]| -> Vec<String> {
        changes
            .iter()
            .map(|c| c["flex_instance_sid"].as_str().unwrap_or("-").to_owned())
            .collect()
    };
    let history = |name: &'static str| {
        let t = &t;
        async move {
            let out = t
                .run_read_only(&["history", "--format", "json", "--instance", name])
                .await;
            out.assert_exit(0);
            let doc = out.json();
            // Newest first, as printed; oldest first here, as the report lists them.
            let mut changes: Vec<serde_json::Value> = doc["entries"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|e| e["changes"].as_array().unwrap().clone())
                .collect();
            changes.reverse();
            changes
        }
    };
    let b = history("b").await;
    assert_eq!(sids(&b), [first.as_str(), first.as_str()], "{b:#?}");
    assert_eq!(b[0]["address"], "flex_instance.a", "its create, under a");
    assert_eq!(b[1]["outcome"], "ok (moved from flex_instance.a)");
    let a = history("a").await;
    assert_eq!(sids(&a), [second.as_str()], "{a:#?}");

    let out = t.run_read_only(&["report", "--format", "json"]).await;
    out.assert_exit(0);
    let report = out.json();
    let changes = |address: &str| -> Vec<serde_json::Value> {
        report["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["address"] == address)
            .unwrap_or_else(|| panic!("no {address}: {report:#}"))["changes"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert_eq!(
        sids(&changes("flex_instance.b")),
        [first.as_str(), first.as_str()],
        "{report:#}"
    );
    assert_eq!(
        sids(&changes("flex_instance.a")),
        [second.as_str()],
        "{report:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renamed_instance_keeps_its_own_trail_when_another_takes_its_name() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await;
    a_renamed_instance_keeps_its_own_trail(t, ConfigBuilder::new).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renamed_instance_keeps_its_own_trail_on_postgres() {
    let Some(url) = database_url("a renamed instance's trail on postgres") else {
        return;
    };
    let ws = workspace();
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .env("FLEXFORM_DATABASE_URL", &url);
    a_renamed_instance_keeps_its_own_trail(t, || ConfigBuilder::new().postgres(&ws)).await;
}
