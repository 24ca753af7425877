//! The views of one plan: the `--json` document of the mixed estate, the human snapshots,
//! Markdown, a saved plan shown as `plan` showed it, and one vocabulary (the glossary) across
//! every view.

use std::time::Duration;

use serde_json::Value;

use super::estate::{mixed_estate, redact_sids};
use super::json::{decode_plan, plan_schema, ActionJson, KindJson, SeverityJson, SummaryJson};
use super::support::{drift, plan, plan_and_drift, ready_at_once, record, write_state, LINEAGE};
use crate::common::{account, ConfigBuilder, Test, KEY, SECRET};

#[tokio::test(flavor = "multi_thread")]
async fn mixed_plan_json_covers_every_row_of_the_table() {
    let e = mixed_estate().await;
    let r = plan_and_drift(&e.t, &e.t.sim().url(), 2, 2).await;
    let doc = &r.plan_json;
    use ActionJson::*;
    use KindJson as K;
    use SeverityJson as S;
    type Row = (&'static str, ActionJson, Vec<(SeverityJson, KindJson)>);
    let expected: Vec<Row> = vec![
        ("adopt-me", Adopt, vec![]),
        ("brand-new", Create, vec![]),
        (
            "deleted-outside",
            Create,
            vec![(S::Drift, K::DeletedOutside)],
        ),
        (
            "failed-provisioning",
            Create,
            vec![(S::Drift, K::CreationFailed)],
        ),
        (
            "immutable-changed",
            Unchanged,
            vec![(S::Warning, K::ImmutableInputChanged)],
        ),
        (
            "needs-attention",
            Unchanged,
            vec![(S::Warning, K::NeedsAttention)],
        ),
        ("provisioning", Unchanged, vec![(S::Info, K::Provisioning)]),
        ("retired", Unchanged, vec![(S::Drift, K::Orphaned)]),
        ("steady", Unchanged, vec![]),
    ];
    assert_eq!(doc.resource_changes.len(), expected.len());
    for (name, action, kinds) in &expected {
        assert_eq!(doc.change(name).action, *action, "{name}");
        assert_eq!(&doc.kinds(name), kinds, "{name}");
    }
    assert_eq!(
        doc.summary,
        SummaryJson {
            create: 3,
            adopt: 1,
            unchanged: 5,
            moved: 0,
            update: 0,
            release: 0,
            drift: 3
        }
    );
    assert_eq!(
        doc.change("adopt-me")
            .after
            .as_ref()
            .unwrap()
            .flex_instance_sid
            .as_deref(),
        Some(e.sids["adopt-me"].as_str())
    );
    // drift: only recorded and configured instances; reality drift only.
    let d = &r.drift_json;
    assert_eq!(
        d.summary,
        SummaryJson {
            create: 2,
            adopt: 0,
            unchanged: 4,
            moved: 0,
            update: 0,
            release: 0,
            drift: 2
        }
    );
    assert!(d
        .resource_changes
        .iter()
        .all(|c| c.name != "adopt-me" && c.name != "brand-new" && c.name != "retired"));
    let stats = e.t.stats();
    assert_eq!(stats.create_requests, 8, "only the set-up POSTs: {stats:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn human_plan_snapshot_with_creates_adopt_drift_and_warnings() {
    let e = mixed_estate().await;
    let r = plan(&e.t, &e.t.sim().url(), &["--detailed-exitcode"]).await;
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stdout.contains(&e.sids["adopt-me"]), "{}", r.stdout);
    insta::assert_snapshot!("human_plan_mixed", redact_sids(&r.stdout));

    let d = drift(&e.t, &e.t.sim().url(), &[]).await;
    assert_eq!(d.code, Some(2), "{d:?}");
    insta::assert_snapshot!("human_drift_mixed", redact_sids(&d.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn human_plan_snapshot_without_changes() {
    let t = ready_at_once().await;
    let (a, b) = (account(30), account(31));
    let first = t.create_directly(&a, Some(true)).await;
    let second = t.create_directly(&b, None).await;
    t.write_config(
        &ConfigBuilder::new()
            .conversations("first", &a, Some(true))
            .instance("second", &b),
    );
    write_state(
        &t,
        &[
            ("first", record(&a, &first, "ready", "created", Some(true))),
            ("second", record(&b, &second, "ready", "adopted", None)),
        ],
    );
    let r = plan(&t, &t.sim().url(), &["--detailed-exitcode"]).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    insta::assert_snapshot!("human_plan_no_changes", redact_sids(&r.stdout));
    let d = drift(&t, &t.sim().url(), &[]).await;
    assert_eq!(d.code, Some(0), "{d:?}");
    insta::assert_snapshot!("human_drift_no_changes", redact_sids(&d.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn markdown_has_the_summary_and_one_row_per_change_or_drift() {
    let e = mixed_estate().await;
    let r = plan(
        &e.t,
        &e.t.sim().url(),
        &["--format", "markdown", "--detailed-exitcode"],
    )
    .await;
    assert_eq!(r.code, Some(2), "{r:?}");
    let md = &r.stdout;
    assert!(
        md.contains("**Plan: 3 to create, 1 to adopt, 5 unchanged. Drift: 3.**"),
        "{md}"
    );
    assert!(md.contains("| 3 | 1 | 0 | 0 | 5 | 3 |"), "{md}");
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| `flex_instance."))
        .collect();
    let row = |name: &str, what: &str| -> &str {
        rows.iter()
            .copied()
            .find(|l| l.starts_with(&format!("| `flex_instance.{name}` |")) && l.contains(what))
            .unwrap_or_else(|| panic!("no `{what}` row for {name} in:\n{md}"))
    };
    assert!(row("adopt-me", "adopt").contains(&format!("`{}`", e.sids["adopt-me"])));
    assert!(row("brand-new", "create").contains("(known after apply)"));
    for (name, kind) in [
        ("deleted-outside", "drift: deleted_outside"),
        ("failed-provisioning", "drift: creation_failed"),
        ("retired", "drift: orphaned"),
        ("immutable-changed", "warning: immutable_input_changed"),
        ("needs-attention", "warning: needs_attention"),
    ] {
        assert!(
            row(name, kind).contains(&format!("`{}`", e.sids[name])),
            "{name}: the row shows the recorded SID:\n{md}"
        );
    }
    // 4 changes (3 creates, 1 adopt) + 5 warnings and drift; info is not a row.
    assert_eq!(rows.len(), 9, "{md}");
    assert!(!md.contains("`flex_instance.provisioning`"), "{md}");

    let d = drift(&e.t, &e.t.sim().url(), &["--format", "markdown"]).await;
    assert_eq!(d.code, Some(2), "{d:?}");
    assert!(d.stdout.contains("### flexform drift"), "{}", d.stdout);
    assert!(d.stdout.contains("drift: deleted_outside"), "{}", d.stdout);
    assert!(!d.stdout.contains("orphaned"), "{}", d.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plan_shows_the_same_as_plan() {
    let e = mixed_estate().await;
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("plan.json");
    let out_arg = out.to_str().unwrap();
    let r = plan(&e.t, &e.t.sim().url(), &["--out", out_arg]).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let saved_text = std::fs::read_to_string(&out).unwrap();
    assert!(!saved_text.contains(SECRET) && !saved_text.contains(KEY));
    let saved = decode_plan(&saved_text);
    assert_eq!(saved.summary.create, 3);
    assert_eq!(saved.state_lineage.as_deref(), Some(LINEAGE));

    let shown = e.t.run_read_only(&["show", out_arg]).await;
    assert_eq!(shown.code, Some(0), "{shown:?}");
    // The file's digest first (what the audit trail records when it is applied), then the
    // plan exactly as `plan` rendered it.
    let digest: String = {
        use sha2::Digest;
        sha2::Sha256::digest(saved_text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(
        shown.stdout,
        format!("Saved plan {out_arg} (SHA-256 {digest})\n\n{}", r.stdout),
        "show FILE renders the same as plan did"
    );
    let shown_json = e.t.run_read_only(&["show", out_arg, "--json"]).await;
    assert_eq!(shown_json.code, Some(0), "{shown_json:?}");
    // The saved document, plus the file's digest (valid against the plan schema).
    let mut shown_value: Value = serde_json::from_str(&shown_json.stdout).unwrap();
    assert!(
        plan_schema().is_valid(&shown_value),
        "{}",
        shown_json.stdout
    );
    let shown_digest = shown_value
        .as_object_mut()
        .unwrap()
        .remove("plan_file_sha256");
    assert_eq!(shown_digest, Some(Value::String(digest.clone())));
    assert_eq!(
        shown_value,
        serde_json::from_str::<Value>(&saved_text).unwrap()
    );
    let gets = e.t.stats().gets;
    assert!(gets > 0);
    // show reads no network.
    let md =
        e.t.run_read_only(&["show", out_arg, "--format", "markdown"])
            .await;
    md.assert_exit(0);
    assert!(
        md.stdout.starts_with("### flexform plan\n")
            && md.stdout.contains("**Plan: 3 to create")
            && md
                .stdout
                .ends_with(&format!("\nPlan file SHA-256: `{digest}`\n")),
        "{}",
        md.stdout
    );
    assert_eq!(e.t.stats().gets, gets);
}

/// The text plan explains its symbols; the drift report's Markdown is a drift report (not a
/// plan); the state renders as JSON records and as a Markdown table; drift findings say
/// `drift` in every view.
#[tokio::test(flavor = "multi_thread")]
async fn every_view_speaks_the_glossary() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await.config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2)),
    );
    let plan = t.run_read_only(&["plan"]).await;
    plan.assert_exit(0);
    assert!(
        plan.stdout
            .starts_with("Symbols used below:\n  + create\n\n"),
        "{}",
        plan.stdout
    );
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);

    let list = t.run_read_only(&["state", "list", "--json"]).await;
    list.assert_exit(0);
    let records = list.json();
    assert_eq!(
        records.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(
        records["a"]["flex_instance_sid"].as_str().unwrap(),
        t.sim_sid(&account(1))
    );
    let table = t.run_read_only(&["show", "--format", "markdown"]).await;
    table.assert_exit(0);
    assert!(
        table.stdout.starts_with("### flexform state\n")
            && table
                .stdout
                .contains("| address | account | SID | status | origin |")
            && table.stdout.contains(&format!(
                "| `flex_instance.a` | `{}` | `{}` | ready | created |",
                account(1),
                t.sim_sid(&account(1))
            ))
            && !table.stdout.contains('\t'),
        "{}",
        table.stdout
    );

    assert!(t.sim().delete_instance(&t.sim_sid(&account(2))));
    let md = t.run_read_only(&["drift", "--format", "markdown"]).await;
    md.assert_exit(2);
    assert!(
        md.stdout.starts_with(
            "### flexform drift\n\n**Drift: 1 of 2 recorded instances no longer matches reality.**\n"
        ) && md.stdout.contains("| `flex_instance.b` | ⚠️ drift: deleted_outside |")
            && !md.stdout.contains("Plan"),
        "{}",
        md.stdout
    );
    let human = t.run_read_only(&["drift"]).await;
    assert!(
        human
            .stdout
            .contains("  ! drift flex_instance.b (deleted_outside): "),
        "{}",
        human.stdout
    );
    let json = t.run_read_only(&["drift", "--json"]).await;
    let doc = json.json();
    assert_eq!(doc["format_version"], 2);
    assert_eq!(doc["diagnostics"][0]["severity"], "drift");
    assert_eq!(doc["resource_changes"][0]["action"], "unchanged");
    assert_eq!(doc["summary"]["unchanged"], 1);
}
