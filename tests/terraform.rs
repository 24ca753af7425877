//! The Terraform habits: a rename is a move (no adopt, no orphan, one record), `state mv`, one
//! address per instance, and `--target` for a partial plan.

mod common;

use std::time::Duration;

use common::{account, database_url, workspace, ConfigBuilder, Test};

#[tokio::test(flavor = "multi_thread")]
async fn a_rename_is_one_move_and_leaves_one_record() {
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .config(&ConfigBuilder::new().instance("team-a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let sid = t.sim_sid(&account(1));
    t.write_config(&ConfigBuilder::new().instance("team-b", &account(1)));

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
    md.assert_stdout_contains("move");

    let creates = t.stats().create_requests;
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert_eq!(t.stats().create_requests, creates, "a move sends nothing");
    let state = t.state();
    assert_eq!(state.instances.len(), 1, "{state:?}");
    assert_eq!(state.instances["team-b"].flex_instance_sid.as_str(), sid);
    t.run_read_only(&["plan", "--detailed-exitcode"])
        .await
        .assert_exit(0);
    t.run_read_only(&["drift"]).await.assert_exit(0);
    let last = t.history().pop().unwrap();
    assert_eq!(last.changes[0].action, "move");
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

#[tokio::test(flavor = "multi_thread")]
async fn target_observes_and_applies_only_the_targeted_instance() {
    let t = Test::with_sim_ready_after(Duration::ZERO).await.config(
        &ConfigBuilder::new()
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
    assert_eq!(t.state().instances.len(), 1);

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
}
