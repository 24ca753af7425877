//! The Terraform habits: a rename is a move (no adopt, no orphan, one record), `state mv`, one
//! address per instance, and `--target` for a partial plan.

use std::time::Duration;

use crate::common::{account, database_url, workspace, ConfigBuilder, Test};

/// A configuration on the backend `workspace` names: the local file (`None`) or a
/// PostgreSQL workspace.
fn on(workspace: &Option<String>) -> ConfigBuilder {
    match workspace {
        Some(w) => ConfigBuilder::new().postgres(w),
        None => ConfigBuilder::new(),
    }
}

/// A project on the local file (`None`), or on a fresh PostgreSQL workspace (`Some`), or
/// nothing when the test database is not there (said by `database_url`).
async fn project(postgres: Option<&str>) -> Option<(Test, Option<String>)> {
    let t = Test::with_sim_ready_after(Duration::ZERO).await;
    match postgres {
        None => Some((t, None)),
        Some(test) => {
            let url = database_url(test)?;
            Some((t.env("FLEXFORM_DATABASE_URL", &url), Some(workspace())))
        }
    }
}

/// The names the state records, on either backend (`state list --json`).
async fn recorded_names(t: &Test) -> Vec<String> {
    let list = t.run_read_only(&["state", "list", "--json"]).await;
    list.assert_exit(0);
    list.json()
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

async fn a_rename_is_one_move_and_leaves_one_record(postgres: Option<&str>) {
    let Some((t, ws)) = project(postgres).await else {
        return;
    };
    let t = t.config(&on(&ws).instance("team-a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let sid = t.sim_sid(&account(1));
    t.write_config(&on(&ws).instance("team-b", &account(1)));

    let plan = t.run_read_only(&["plan", "--json"]).await;
    plan.assert_exit(0);
    let doc = plan.json();
    let changes = doc["resource_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{doc:#}");
    assert_eq!(changes[0]["action"], "move");
    assert_eq!(changes[0]["address"], "flex_instance.team-b");
    assert_eq!(changes[0]["moved_from"], "flex_instance.team-a");
    assert_eq!(doc["summary"]["move"], 1);
    assert_eq!(doc["summary"]["adopt"], 0);
    assert!(
        doc["diagnostics"].as_array().unwrap().is_empty(),
        "no orphan"
    );
    let human = t.run_read_only(&["plan"]).await;
    human.assert_stdout_contains("# flex_instance.team-a has moved to flex_instance.team-b");
    human.assert_stdout_contains("1 to move");
    let md = t.run_read_only(&["plan", "--format", "markdown"]).await;
    md.assert_stdout_contains("| create | adopt | move | update | unchanged | drift |");
    md.assert_stdout_contains("| 0 | 0 | 1 | 0 | 0 | 0 |");

    let creates = t.stats().create_requests;
    let apply = t.run(&["apply", "--auto-approve"]).await;
    apply.assert_exit(0);
    apply.assert_stderr_contains("Applying: 0 to create, 0 to adopt, 1 to move.");
    assert_eq!(t.stats().create_requests, creates, "a move sends nothing");
    assert_eq!(recorded_names(&t).await, ["team-b"]);
    assert_eq!(sid_of(&t, "team-b").await, sid);
    t.run_read_only(&["plan", "--detailed-exitcode"])
        .await
        .assert_exit(0);
    t.run_read_only(&["drift"]).await.assert_exit(0);
    let history = t.run(&["history", "--format", "json"]).await.json();
    assert_eq!(history["entries"][0]["changes"][0]["action"], "move");
    // The instance's trail survives the rename: its create shows under either name, and the
    // report says when and by whom it was created.
    for name in ["team-a", "team-b"] {
        let mine = t
            .run(&["history", "--instance", name, "--format", "json"])
            .await
            .json();
        let actions: Vec<&str> = mine["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["changes"][0]["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["move", "create"], "{name}: {mine:#}");
    }
    let report = t.run(&["report", "--format", "json"]).await;
    report.assert_exit(0);
    let report = report.json();
    let row = &report["instances"][0];
    assert_eq!(row["address"], "flex_instance.team-b");
    assert!(row["since"].is_string(), "{row:#}");
    assert_eq!(row["changes"].as_array().unwrap().len(), 2, "{row:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rename_is_one_move_and_leaves_one_record_on_a_local_state() {
    a_rename_is_one_move_and_leaves_one_record(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rename_is_one_move_and_leaves_one_record_on_postgres() {
    a_rename_is_one_move_and_leaves_one_record(Some("rename on postgres")).await;
}

/// `--target` on the new name of a rename brings in the old one: a move, never an adopt that
/// would record one SID under two names.
async fn a_targeted_rename_is_still_a_move(postgres: Option<&str>) {
    let Some((t, ws)) = project(postgres).await else {
        return;
    };
    let t = t.config(
        &on(&ws)
            .instance("team-a", &account(1))
            .instance("other", &account(2)),
    );
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    t.write_config(
        &on(&ws)
            .instance("team-b", &account(1))
            .instance("other", &account(2)),
    );
    let plan = t
        .run_read_only(&["plan", "--json", "--target", "team-b"])
        .await;
    plan.assert_exit(0);
    let doc = plan.json();
    assert_eq!(doc["summary"]["move"], 1, "{doc:#}");
    assert_eq!(doc["summary"]["adopt"], 0, "{doc:#}");
    assert_eq!(
        doc["targets"],
        serde_json::json!(["flex_instance.team-a", "flex_instance.team-b"]),
        "the old name shares the account"
    );
    t.run(&["apply", "--auto-approve", "--target", "team-b"])
        .await
        .assert_exit(0);
    assert_eq!(recorded_names(&t).await, ["other", "team-b"]);
    t.run_read_only(&["plan", "--detailed-exitcode"])
        .await
        .assert_exit(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_targeted_rename_is_still_a_move_on_a_local_state() {
    a_targeted_rename_is_still_a_move(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_targeted_rename_is_still_a_move_on_postgres() {
    a_targeted_rename_is_still_a_move(Some("targeted rename on postgres")).await;
}

/// An instance has one address on every backend: `import` refuses a SID or an account
/// recorded under another name, and `state push` refuses a state recording one SID twice.
async fn import_and_push_keep_one_address(postgres: Option<&str>) {
    let Some((t, ws)) = project(postgres).await else {
        return;
    };
    let t = t.config(&on(&ws).instance("a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let a = t.sim_sid(&account(1));
    t.write_config(
        &on(&ws)
            .instance("a", &account(1))
            .instance("c", &account(3)),
    );
    // Same SID under another name.
    let import = t.run(&["import", "c", &a]).await;
    import.assert_exit(1);
    import.assert_stderr_contains("flex_instance.a");
    import.assert_stderr_contains("state mv");
    // Another SID, on an account recorded under another name (`a` now names another
    // account in the configuration, its record still names account 1).
    t.write_config(
        &on(&ws)
            .instance("a", &account(2))
            .instance("c", &account(1)),
    );
    let import = t
        .run(&["import", "c", "GOffffffffffffffffffffffffffffffff"])
        .await;
    import.assert_exit(1);
    import.assert_stderr_contains(&format!("account {} already has {a}", account(1)));
    import.assert_stderr_contains("flex_instance.a");
    t.write_config(&on(&ws).instance("a", &account(1)));
    // State push of a state that records one SID twice.
    let pulled = t.run_read_only(&["state", "pull"]).await;
    pulled.assert_exit(0);
    let mut doc = pulled.json();
    let copy = doc["instances"]["a"].clone();
    doc["instances"]["c"] = copy;
    doc["serial"] = serde_json::json!(doc["serial"].as_u64().unwrap() + 1);
    t.write("broken.json", &doc.to_string());
    let push = t.run(&["state", "push", "broken.json", "--force"]).await;
    push.assert_exit(1);
    push.assert_stderr_contains("under two addresses");
    push.assert_stderr_contains("nothing was pushed");
    assert_eq!(recorded_names(&t).await, ["a"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn import_and_push_keep_one_address_on_a_local_state() {
    import_and_push_keep_one_address(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn import_and_push_keep_one_address_on_postgres() {
    import_and_push_keep_one_address(Some("one address on postgres")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_instance_has_one_address() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await.config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2)),
    );
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let a = t.sim_sid(&account(1));
    // Import of a recorded SID under another name is refused.
    t.write_config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2))
            .instance("c", &account(3)),
    );
    let import = t.run(&["import", "c", &a]).await;
    import.assert_exit(1);
    import.assert_stderr_contains("flex_instance.a");
    import.assert_stderr_contains("state mv");
    // A state that records one SID under two names (as an older flexform could leave it) is
    // refused, naming both and how to fix it.
    let mut state = t.state();
    let mut copy = state.instances["a"].clone();
    copy.account_sid = flexform::config::sid::AccountSid::parse(&account(3)).unwrap();
    state.instances.insert("c".into(), copy);
    std::fs::write(t.state_path(), state.to_bytes()).unwrap();
    let plan = t.run_read_only(&["plan"]).await;
    plan.assert_exit(1);
    plan.assert_stderr_contains("flex_instance.a");
    plan.assert_stderr_contains("flex_instance.c");
    plan.assert_stderr_contains("state rm");
    t.run(&["apply", "--auto-approve"]).await.assert_exit(1);
    // The way out works on such a state.
    t.run(&["state", "rm", "c"]).await.assert_exit(0);
    t.run_read_only(&["plan"]).await.assert_exit(0);
}

/// The SID recorded under `name`, on either backend (`state show`).
async fn sid_of(t: &Test, name: &str) -> String {
    let shown = t.run(&["state", "show", name]).await;
    shown.assert_exit(0);
    shown.json()["flex_instance_sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn state_mv_moves_and_refuses_an_existing_name(t: &Test) {
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let a = sid_of(t, "a").await;
    t.run(&["state", "mv", "a", "flex_instance.a"])
        .await
        .assert_exit(1)
        .assert_stderr_contains("nothing to move");
    let refused = t.run(&["state", "mv", "a", "b"]).await;
    refused.assert_exit(1);
    refused.assert_stderr_contains("already recorded");
    let moved = t.run(&["state", "mv", "flex_instance.a", "renamed"]).await;
    moved.assert_exit(0);
    moved.assert_stdout_contains("Moved flex_instance.a to flex_instance.renamed");
    assert_eq!(sid_of(t, "renamed").await, a);
    t.run(&["state", "mv", "nope", "x"])
        .await
        .assert_exit(1)
        .assert_stderr_contains("no instance named `nope`");
    t.run(&["history", "verify"]).await.assert_exit(0);
    let history = t.run(&["history", "--format", "json"]).await.json();
    assert_eq!(history["entries"][0]["command"], "state mv");
    assert_eq!(history["entries"][0]["changes"][0]["action"], "move");
}

#[tokio::test(flavor = "multi_thread")]
async fn state_mv_on_a_local_state() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await.config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2)),
    );
    state_mv_moves_and_refuses_an_existing_name(&t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn state_mv_on_postgres() {
    let Some(url) = database_url("state mv on postgres") else {
        return;
    };
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .env("FLEXFORM_DATABASE_URL", &url)
        .config(
            &ConfigBuilder::new()
                .postgres(&workspace())
                .instance("a", &account(1))
                .instance("b", &account(2)),
        );
    state_mv_moves_and_refuses_an_existing_name(&t).await;
}

async fn target_observes_and_applies_only_the_targeted_instance(postgres: Option<&str>) {
    let Some((t, ws)) = project(postgres).await else {
        return;
    };
    let t = t.config(
        &on(&ws)
            .instance("a", &account(1))
            .instance("b", &account(2))
            .instance("c", &account(3)),
    );
    let plan = t
        .run_read_only(&["plan", "--json", "--target", "flex_instance.b"])
        .await;
    plan.assert_exit(0);
    let doc = plan.json();
    assert_eq!(doc["targets"], serde_json::json!(["flex_instance.b"]));
    assert_eq!(doc["resource_changes"].as_array().unwrap().len(), 1);
    assert_eq!(t.stats().discoveries, 1, "only the target was observed");
    let human = t.run_read_only(&["plan", "--target", "b"]).await;
    human.assert_stdout_contains("Partial plan: only flex_instance.b");

    let apply = t.run(&["apply", "--auto-approve", "--target", "b"]).await;
    apply.assert_exit(0);
    assert_eq!(t.sim().instances().len(), 1);
    t.sim_sid(&account(2));
    assert_eq!(recorded_names(&t).await, ["b"]);

    // A saved partial plan says so when shown and applied.
    t.run(&["plan", "--target", "c", "--out", "c.plan"])
        .await
        .assert_exit(0);
    t.run_read_only(&["show", "c.plan"])
        .await
        .assert_stdout_contains("Partial plan: only flex_instance.c");
    t.run(&["apply", "c.plan"])
        .await
        .assert_exit(0)
        .assert_stderr_contains("partial plan");

    // An unknown target names the close ones.
    let unknown = t
        .run_read_only(&["plan", "--target", "flex_instance.cc"])
        .await;
    unknown.assert_exit(1);
    unknown.assert_stderr_contains("unknown target `flex_instance.cc`");
    unknown.assert_stderr_contains("did you mean `flex_instance.c`");
    for command in [&["apply", "--auto-approve"][..], &["drift"]] {
        let unknown = t.run(&[command, &["--target", "cc"]].concat()).await;
        unknown.assert_exit(1);
        unknown.assert_stderr_contains("did you mean `flex_instance.c`");
    }

    // Repeated targets; drift says its report is partial, in every format.
    let drift = t
        .run_read_only(&["drift", "--target", "b", "--target", "flex_instance.c"])
        .await;
    drift.assert_exit(0);
    drift.assert_stdout_contains("Partial plan: only flex_instance.b, flex_instance.c");
    t.run_read_only(&["drift", "--format", "markdown", "--target", "b"])
        .await
        .assert_stdout_contains("Partial plan: only flex_instance.b");

    // A saved plan already says what it covers: --target with it is refused, nothing applied.
    t.run(&["plan", "--out", "all.plan"]).await.assert_exit(0);
    let both = t.run(&["apply", "all.plan", "--target", "a"]).await;
    both.assert_exit(1);
    both.assert_stderr_contains("--target");
    assert_eq!(t.sim().instances().len(), 2, "nothing applied");
}

#[tokio::test(flavor = "multi_thread")]
async fn target_observes_and_applies_only_the_targeted_instance_on_a_local_state() {
    target_observes_and_applies_only_the_targeted_instance(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn target_observes_and_applies_only_the_targeted_instance_on_postgres() {
    target_observes_and_applies_only_the_targeted_instance(Some("target on postgres")).await;
}

/// A target never creates beside another name's create still in flight on its account: the
/// name with the interrupted create is brought in, and its guard holds.
#[tokio::test(flavor = "multi_thread")]
async fn target_does_not_bypass_another_names_create_in_flight() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await;
    let mut state = flexform::state::State::empty();
    state.serial = 1;
    state.pending.insert(
        "team-a".to_owned(),
        flexform::state::PendingCreate {
            account_sid: flexform::config::sid::AccountSid::parse(&account(1)).unwrap(),
            address: "flex_instance.team-a".to_owned(),
            conversations_default: None,
            started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            in_flight_until: Some("2099-01-01T00:00:00Z".to_owned()),
            clock: None,
        },
    );
    std::fs::write(t.state_path(), state.to_bytes()).unwrap();
    t.write_config(&ConfigBuilder::new().instance("team-b", &account(1)));
    let plan = t.run_read_only(&["plan", "--target", "team-b"]).await;
    plan.assert_exit(1);
    plan.assert_stderr_contains("may still be in flight");
    t.run(&["apply", "--auto-approve", "--target", "team-b"])
        .await
        .assert_exit(1);
    assert_eq!(
        t.stats().create_requests,
        0,
        "no create beside one in flight"
    );
    assert!(
        t.state().pending.contains_key("team-a"),
        "the record is kept"
    );
}
