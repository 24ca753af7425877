//! Audit: the trail (`flexform history` in every format, filtered), its tamper evidence
//! (`history verify`), the provenance of each run (pipeline run, commit, plan digest), and drift
//! as a CI test report (JUnit).

mod common;

use std::time::Duration;

use common::{account, database_url, workspace, ConfigBuilder, Outcome, Test};

/// The GitHub variables of a pipeline run.
const GITHUB: &[(&str, &str)] = &[
    ("GITHUB_SERVER_URL", "https://github.com"),
    ("GITHUB_REPOSITORY", "acme/flex-estate"),
    ("GITHUB_RUN_ID", "4242"),
    ("GITHUB_SHA", "0123abcd"),
];

fn with_github(t: Test) -> Test {
    GITHUB.iter().fold(t, |t, (k, v)| t.env(k, v))
}

/// apply two instances, import a third made outside flexform, forget one: three entries.
async fn estate(t: &Test) {
    t.write_config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2)),
    );
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let c = t.create_directly(&account(3), None).await;
    t.write_config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2))
            .instance("c", &account(3)),
    );
    t.run(&["import", "c", &c]).await.assert_exit(0);
    t.run(&["state", "rm", "b"]).await.assert_exit(0);
}

fn history_json(out: &Outcome) -> serde_json::Value {
    out.assert_exit(0);
    let doc = out.json();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("schemas/flexform.history.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    doc
}

fn commands(doc: &serde_json::Value) -> Vec<String> {
    doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["command"].as_str().unwrap().to_owned())
        .collect()
}

async fn history_in_every_format(t: &Test) {
    let all = history_json(&t.run_read_only(&["history", "--format", "json"]).await);
    assert_eq!(
        commands(&all),
        ["state rm", "import", "apply"],
        "newest first"
    );
    let entry = &all["entries"][2];
    assert_eq!(
        entry["provenance"]["run_url"],
        "https://github.com/acme/flex-estate/actions/runs/4242"
    );
    assert_eq!(entry["provenance"]["commit"], "0123abcd");
    assert!(entry["provenance"]["config_sha256"].is_string());
    let creates = entry["changes"].as_array().unwrap();
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[0]["outcome"], "ok");
    assert!(creates[0]["flex_instance_sid"]
        .as_str()
        .unwrap()
        .starts_with("GO"));

    // Filters: by instance, by time.
    let c = history_json(
        &t.run_read_only(&["history", "--format", "json", "--instance", "c"])
            .await,
    );
    assert_eq!(commands(&c), ["import"]);
    let b = history_json(
        &t.run_read_only(&[
            "history",
            "--format",
            "json",
            "--instance",
            "flex_instance.b",
        ])
        .await,
    );
    assert_eq!(commands(&b), ["state rm", "apply"]);
    let recent = history_json(
        &t.run_read_only(&["history", "--format", "json", "--since", "30d"])
            .await,
    );
    assert_eq!(commands(&recent).len(), 3);
    let future = history_json(
        &t.run_read_only(&[
            "history",
            "--format",
            "json",
            "--since",
            "2099-01-01T00:00:00Z",
        ])
        .await,
    );
    assert!(commands(&future).is_empty());
    t.run_read_only(&["history", "--since", "last tuesday"])
        .await
        .assert_exit(1)
        .assert_stderr_contains("--since");

    // Human and Markdown: time, who, the run (a link in Markdown), each change with its SID.
    let human = t.run_read_only(&["history"]).await;
    human.assert_exit(0);
    human.assert_stdout_contains("run:    https://github.com/acme/flex-estate/actions/runs/4242");
    human.assert_stdout_contains("rm flex_instance.b GO");
    let md = t.run_read_only(&["history", "--format", "markdown"]).await;
    md.assert_exit(0);
    md.assert_stdout_contains("[run](https://github.com/acme/flex-estate/actions/runs/4242)");
    md.assert_stdout_contains("| time | who | run | command | changes |");

    // CSV: one row per change.
    let csv = t.run_read_only(&["history", "--format", "csv"]).await;
    csv.assert_exit(0);
    let mut reader = ::csv::Reader::from_reader(csv.stdout.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 4, "{}", csv.stdout);
    assert_eq!(&rows[0][2], "state rm");
    assert_eq!(&rows[0][6], "flex_instance.b");

    t.run_read_only(&["history", "verify"])
        .await
        .assert_exit(0)
        .assert_stdout_contains("hash chain intact");
}

#[tokio::test(flavor = "multi_thread")]
async fn history_lists_every_run_with_its_provenance_in_every_format() {
    let t = with_github(Test::with_sim_ready_after(Duration::ZERO).await);
    estate(&t).await;
    history_in_every_format(&t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn history_on_postgres_lists_and_verifies_the_same() {
    let Some(url) = database_url("history on postgres") else {
        return;
    };
    let ws = workspace();
    let t = with_github(Test::with_sim_ready_after(Duration::ZERO).await)
        .env("FLEXFORM_DATABASE_URL", &url);
    // The workspace is named in every configuration `estate` writes.
    let config = |instances: &[(&str, u32)]| {
        instances
            .iter()
            .fold(ConfigBuilder::new().postgres(&ws), |c, (name, n)| {
                c.instance(name, &account(*n))
            })
    };
    t.write_config(&config(&[("a", 1), ("b", 2)]));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let c = t.create_directly(&account(3), None).await;
    t.write_config(&config(&[("a", 1), ("b", 2), ("c", 3)]));
    t.run(&["import", "c", &c]).await.assert_exit(0);
    t.run(&["state", "rm", "b"]).await.assert_exit(0);
    history_in_every_format(&t).await;
}

/// The trail's lines, to tamper with.
fn lines(t: &Test) -> Vec<String> {
    std::fs::read_to_string(t.path("flexform.state.json.history.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn rewrite(t: &Test, lines: &[String]) {
    std::fs::write(
        t.path("flexform.state.json.history.jsonl"),
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_names_the_entry_an_edit_a_deletion_a_swap_or_a_cut_breaks() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await;
    estate(&t).await;
    let original = lines(&t);
    assert_eq!(original.len(), 3);
    t.run_read_only(&["history", "verify"]).await.assert_exit(0);

    let mut edited = original.clone();
    edited[0] = edited[0].replacen("\"who\":\"", "\"who\":\"mallory-", 1);
    assert_ne!(edited, original);
    rewrite(&t, &edited);
    t.run_read_only(&["history", "verify"])
        .await
        .assert_exit(1)
        .assert_stderr_contains("history entry 2");

    let mut deleted = original.clone();
    deleted.remove(1);
    rewrite(&t, &deleted);
    t.run_read_only(&["history", "verify"])
        .await
        .assert_exit(1)
        .assert_stderr_contains("history entry 2");

    let mut swapped = original.clone();
    swapped.swap(1, 2);
    rewrite(&t, &swapped);
    t.run_read_only(&["history", "verify"])
        .await
        .assert_exit(1)
        .assert_stderr_contains("history entry 2");

    rewrite(&t, &original[..2]);
    t.run_read_only(&["history", "verify"])
        .await
        .assert_exit(1)
        .assert_stderr_contains("cut");

    rewrite(&t, &original);
    t.run_read_only(&["history", "verify"]).await.assert_exit(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn applying_a_saved_plan_records_the_digest_that_show_prints() {
    let t = with_github(Test::with_sim_ready_after(Duration::ZERO).await)
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run(&["plan", "--out", "plan.json"]).await.assert_exit(0);
    let shown = t.run_read_only(&["show", "plan.json"]).await;
    shown.assert_exit(0);
    let digest = shown
        .stdout
        .split("SHA-256 ")
        .nth(1)
        .and_then(|rest| rest.get(..64))
        .unwrap_or_else(|| panic!("no digest: {shown:?}"))
        .to_owned();
    let md = t
        .run_read_only(&["show", "plan.json", "--format", "markdown"])
        .await;
    md.assert_stdout_contains(&format!("Plan file SHA-256: `{digest}`"));
    let json = t.run_read_only(&["show", "plan.json", "--json"]).await;
    json.json();
    json.assert_stderr_contains(&digest);

    t.run(&["apply", "plan.json"]).await.assert_exit(0);
    let entry = &t.history()[0];
    assert_eq!(
        entry.provenance.plan_sha256.as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(entry.provenance.commit.as_deref(), Some("0123abcd"));
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_as_junit_has_a_case_per_instance_and_a_failure_per_drift() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await.config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2))
            .instance("c", &account(3)),
    );
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert!(t.sim().delete_instance(&t.sim_sid(&account(2))));
    let out = t.run_read_only(&["drift", "--format", "junit"]).await;
    out.assert_exit(2);
    let report = quick_junit::Report::deserialize_from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JUnit XML ({e}): {}", out.stdout));
    let cases: Vec<_> = report
        .test_suites
        .iter()
        .flat_map(|s| s.test_cases.iter())
        .collect();
    assert_eq!(cases.len(), 3);
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| !matches!(c.status, quick_junit::TestCaseStatus::Success { .. }))
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["flex_instance.b"]);
    assert!(out.stdout.contains("deleted_outside"), "{}", out.stdout);
    let clean = t.run(&["apply", "--auto-approve"]).await;
    clean.assert_exit(0);
    t.run_read_only(&["drift", "--format", "junit"])
        .await
        .assert_exit(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_shows_both_sids_history_and_the_current_state() {
    let t = with_github(Test::with_sim_ready_after(Duration::ZERO).await)
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let first = t.sim_sid(&account(1));
    assert!(t.sim().delete_instance(&first));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let second = t.sim_sid(&account(1));
    assert_ne!(first, second);

    let out = t.run_read_only(&["report", "--format", "json"]).await;
    out.assert_exit(0);
    let report = out.json();
    assert_eq!(report["trail"]["intact"], true, "{report:#}");
    let instance = &report["instances"][0];
    assert_eq!(instance["address"], "flex_instance.a");
    assert_eq!(instance["flex_instance_sid"], second.as_str());
    assert_eq!(instance["status"], "ready");
    assert_eq!(
        instance["run_url"],
        "https://github.com/acme/flex-estate/actions/runs/4242"
    );
    let sids: Vec<&str> = instance["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["flex_instance_sid"].as_str())
        .collect();
    assert_eq!(
        sids,
        [first.as_str(), second.as_str()],
        "both SIDs' history"
    );

    let md = t.run_read_only(&["report"]).await;
    md.assert_exit(0);
    md.assert_stdout_contains("# flexform audit report");
    md.assert_stdout_contains(&second);
    md.assert_stdout_contains(&first);
    md.assert_stdout_contains("hash chain intact");
    let csv = t.run_read_only(&["report", "--format", "csv"]).await;
    csv.assert_exit(0);
    assert_eq!(csv.stdout.lines().count(), 2, "{}", csv.stdout);
}
