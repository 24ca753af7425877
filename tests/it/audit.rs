//! Audit: the trail (`flexform history` in every format, filtered), its tamper evidence
//! (`history verify`), the provenance of each run (pipeline run, commit, plan digest), and drift
//! as a CI test report (JUnit).

use std::time::Duration;

use crate::common::{self, account, database_url, workspace, ConfigBuilder, Outcome, Test};

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
        .assert_stdout_contains("line 2: it does not follow line 1");

    let mut deleted = original.clone();
    deleted.remove(1);
    rewrite(&t, &deleted);
    t.run_read_only(&["history", "verify"])
        .await
        .assert_exit(1)
        .assert_stdout_contains("line 2: it does not follow line 1");

    let mut swapped = original.clone();
    swapped.swap(1, 2);
    rewrite(&t, &swapped);
    t.run_read_only(&["history", "verify"])
        .await
        .assert_exit(1)
        .assert_stdout_contains("line 2: it does not follow line 1");

    rewrite(&t, &original[..2]);
    t.run_read_only(&["history", "verify"])
        .await
        .assert_exit(1)
        .assert_stdout_contains("the trail was cut");

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
    // In the JSON document itself (stdout), so a script has it, even with -q.
    let json = t
        .run_read_only(&["show", "plan.json", "--json", "-q"])
        .await;
    json.assert_exit(0);
    let shown = json.json();
    assert_eq!(shown["plan_file_sha256"], digest.as_str(), "{shown:#}");
    assert_eq!(json.stderr, "", "nothing on stderr with -q");

    t.run(&["apply", "plan.json"]).await.assert_exit(0);
    let entry = &t.history()[0];
    assert_eq!(
        entry.provenance.plan_sha256.as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(
        entry.provenance.plan_sha256.as_deref(),
        shown["plan_file_sha256"].as_str(),
        "show --json's digest is the history entry's"
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

/// The trail deleted or emptied while the state anchors its newest entry: `verify` says so and
/// exits 1 (it used to panic on the missing entry 0), and the report says the trail is broken.
#[tokio::test(flavor = "multi_thread")]
async fn verify_fails_cleanly_when_the_whole_trail_is_deleted_or_emptied() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await;
    estate(&t).await;
    let anchor = t
        .state()
        .history_sha256
        .expect("the state anchors the trail");
    let trail = t.path("flexform.state.json.history.jsonl");
    let original = std::fs::read_to_string(&trail).unwrap();

    let missing = |what: &'static str| {
        let anchor = anchor.clone();
        move |out: &Outcome| {
            assert!(!out.stderr.contains("panicked"), "{what}: {out:?}");
            out.assert_exit(1)
                .assert_stdout_contains("missing or empty")
                .assert_stdout_contains(&format!("anchors entry SHA-256 {anchor}"))
                .assert_stderr_contains("does not verify");
        }
    };
    std::fs::remove_file(&trail).unwrap();
    missing("deleted")(&t.run_read_only(&["history", "verify"]).await);
    let report = t.run_read_only(&["report", "--format", "json"]).await;
    report.assert_exit(0);
    let report = report.json();
    assert_eq!(report["trail"]["intact"], false, "{report:#}");
    assert!(
        report["trail"]["broken"]
            .as_str()
            .unwrap()
            .contains("missing or empty"),
        "{report:#}"
    );

    std::fs::write(&trail, "").unwrap();
    missing("emptied")(&t.run_read_only(&["history", "verify"]).await);
    std::fs::write(&trail, "\n\n").unwrap();
    missing("blank lines only")(&t.run_read_only(&["history", "verify"]).await);

    std::fs::write(&trail, original).unwrap();
    t.run_read_only(&["history", "verify"]).await.assert_exit(0);
}

/// Entries written before the hash chain (no `prev_sha256`) are a legacy prefix: verify
/// accepts them, exits 0 and says so.
#[tokio::test(flavor = "multi_thread")]
async fn verify_accepts_a_legacy_prefix_and_says_so() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await;
    // What an older flexform wrote: no links, no provenance.
    let legacy = |serial: u64| {
        serde_json::json!({
            "time": format!("2025-01-0{serial}T00:00:00Z"), "who": "ci@old-runner", "ci": {},
            "command": "state push", "serial_before": serial - 1, "serial_after": serial,
            "changes": []
        })
        .to_string()
    };
    std::fs::write(
        t.path("flexform.state.json.history.jsonl"),
        format!("{}\n{}\n", legacy(1), legacy(2)),
    )
    .unwrap();
    t.write_config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let trail = t.history();
    assert_eq!(trail.len(), 3);
    assert!(trail[1].prev_sha256.is_none());
    assert_eq!(
        trail[2].prev_sha256.as_deref(),
        Some(trail[1].sha256().as_str()),
        "the chain starts from the last legacy entry"
    );

    let out = t.run_read_only(&["history", "verify"]).await;
    out.assert_exit(0)
        .assert_stdout_contains("3 entries, hash chain intact")
        .assert_stderr_contains("the first 2 entries predate the hash chain");

    // One legacy entry: said in the singular.
    let lines: Vec<String> = lines(&t);
    let one = Test::with_sim_ready_after(Duration::ZERO).await;
    std::fs::write(
        one.path("flexform.state.json.history.jsonl"),
        format!("{}\n", legacy(1)),
    )
    .unwrap();
    one.write_config(&ConfigBuilder::new().instance("a", &account(1)));
    one.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let out = one.run_read_only(&["history", "verify"]).await;
    out.assert_exit(0)
        .assert_stderr_contains("the first entry predates the hash chain");

    // A link-less entry after the chain began is not legacy: it breaks the chain.
    let mut late = lines.clone();
    late.push(legacy(3));
    rewrite(&t, &late);
    t.run_read_only(&["history", "verify"])
        .await
        .assert_exit(1)
        .assert_stdout_contains("line 4: it carries no link");
}

/// `--instance NAME` shows only NAME's changes, also from an entry that changed others.
#[tokio::test(flavor = "multi_thread")]
async fn history_for_one_instance_shows_only_its_changes() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await;
    estate(&t).await;
    let all = history_json(&t.run_read_only(&["history", "--format", "json"]).await);
    let apply = &all["entries"][2];
    assert_eq!(apply["changes"].as_array().unwrap().len(), 2, "a and b");

    let a = history_json(
        &t.run_read_only(&["history", "--format", "json", "--instance", "a"])
            .await,
    );
    assert_eq!(commands(&a), ["apply"]);
    let addresses: Vec<&str> = a["entries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["changes"].as_array().unwrap())
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["flex_instance.a"]);

    let b_sid = apply["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "flex_instance.b")
        .and_then(|c| c["flex_instance_sid"].as_str())
        .unwrap();
    let human = t.run_read_only(&["history", "--instance", "a"]).await;
    human
        .assert_exit(0)
        .assert_stdout_contains("flex_instance.a GO");
    assert!(
        !human.stdout.contains("flex_instance.b"),
        "{}",
        human.stdout
    );
    assert!(!human.stdout.contains(b_sid), "{}", human.stdout);
    let md = t
        .run_read_only(&["history", "--instance", "a", "--format", "markdown"])
        .await;
    md.assert_exit(0)
        .assert_stdout_contains("flex_instance.a GO");
    assert!(!md.stdout.contains("flex_instance.b"), "{}", md.stdout);

    let csv = t
        .run_read_only(&["history", "--instance", "a", "--format", "csv"])
        .await;
    csv.assert_exit(0);
    let mut reader = ::csv::Reader::from_reader(csv.stdout.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1, "{}", csv.stdout);
    assert_eq!(&rows[0][6], "flex_instance.a");

    // b: the apply (its create only) and the state rm.
    let b = history_json(
        &t.run_read_only(&["history", "--format", "json", "--instance", "b"])
            .await,
    );
    assert_eq!(commands(&b), ["state rm", "apply"]);
    for entry in b["entries"].as_array().unwrap() {
        for change in entry["changes"].as_array().unwrap() {
            assert_eq!(change["address"], "flex_instance.b", "{b:#}");
        }
    }
}

/// An instance deleted outside flexform: the report shows what was observed (not found, or
/// the status `deleted`), not the `ready` it was recorded as.
#[tokio::test(flavor = "multi_thread")]
async fn the_report_shows_an_instance_deleted_outside_as_observed() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await.config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2)),
    );
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let a = t.sim_sid(&account(1));
    let b = t.sim_sid(&account(2));
    assert!(t.sim().delete_instance(&a));
    assert!(t.sim().set_status(&b, "deleted"));

    let out = t.run_read_only(&["report", "--format", "json"]).await;
    out.assert_exit(0);
    let report = out.json();
    let instances = report["instances"].as_array().unwrap();
    let status = |address: &str| {
        let i = instances
            .iter()
            .find(|i| i["address"] == address)
            .unwrap_or_else(|| panic!("{address}: {report:#}"));
        (
            i["status"].as_str().unwrap().to_owned(),
            i["findings"].to_string(),
        )
    };
    let (status_a, findings_a) = status("flex_instance.a");
    assert_eq!(status_a, "not found (404): deleted outside flexform");
    assert!(findings_a.contains("deleted_outside"), "{findings_a}");
    let (status_b, findings_b) = status("flex_instance.b");
    assert_eq!(status_b, "deleted (deleted outside flexform)");
    assert!(findings_b.contains("deleted_outside"), "{findings_b}");

    let md = t.run_read_only(&["report"]).await;
    md.assert_exit(0).assert_stdout_contains(&format!(
        "| `{a}` | not found (404): deleted outside flexform |"
    ));
    assert!(!md.stdout.contains("| ready |"), "{}", md.stdout);
    let csv = t.run_read_only(&["report", "--format", "csv"]).await;
    csv.assert_exit(0)
        .assert_stdout_contains("not found (404): deleted outside flexform");

    // An instance that cannot be observed (it belongs to another account than configured now):
    // its recorded status, marked as such.
    t.write_config(
        &ConfigBuilder::new()
            .instance("a", &account(3))
            .instance("b", &account(2)),
    );
    let out = t.run_read_only(&["report", "--format", "json"]).await;
    out.assert_exit(1).assert_stderr_contains("flex_instance.a");
    let report = out.json();
    let a = &report["instances"][0];
    assert_eq!(a["address"], "flex_instance.a", "{report:#}");
    assert_eq!(
        a["status"], "ready (as recorded: not observed)",
        "{report:#}"
    );
}

/// An instance that cannot be checked is a JUnit `<error>`, next to another's `<failure>`:
/// neither hides the other.
#[tokio::test(flavor = "multi_thread")]
async fn drift_as_junit_reports_an_error_as_an_error_beside_a_drift() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await.config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2))
            .instance("c", &account(3)),
    );
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert!(t.sim().delete_instance(&t.sim_sid(&account(2))));
    // c's recorded instance now belongs to another account than configured.
    t.write_config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2))
            .instance("c", &account(4)),
    );
    let out = t.run_read_only(&["drift", "--format", "junit"]).await;
    out.assert_exit(1);
    let report = quick_junit::Report::deserialize_from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JUnit XML ({e}): {}", out.stdout));
    let status: Vec<(String, Option<quick_junit::NonSuccessKind>)> = report
        .test_suites
        .iter()
        .flat_map(|s| s.test_cases.iter())
        .map(|c| {
            let kind = match &c.status {
                quick_junit::TestCaseStatus::NonSuccess { kind, .. } => Some(*kind),
                _ => None,
            };
            (c.name.as_str().to_owned(), kind)
        })
        .collect();
    use quick_junit::NonSuccessKind::{Error, Failure};
    assert_eq!(
        status,
        [
            ("flex_instance.a".to_owned(), None),
            ("flex_instance.b".to_owned(), Some(Failure)),
            ("flex_instance.c".to_owned(), Some(Error)),
        ],
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("deleted_outside"), "{}", out.stdout);
    assert!(out.stdout.contains("account_mismatch"), "{}", out.stdout);
}
