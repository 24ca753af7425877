//! `flexform apply`, `import` and `state` as a user runs them, against the in-process Flex API
//! simulator: creates only where missing, never twice (crash, ambiguous answer, interrupt,
//! concurrent run), and a state file that records every SID and survives a failed write.
//!
//! Each test starts its own simulator on 127.0.0.1 inside the test's tokio runtime and runs the
//! real binary, with a clean environment, in its own temporary folder.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::{self, account, ConfigBuilder, Outcome, Running, Test, KEY, SECRET};
use flexform::sim::{Faults, SimConfig};
use flexform::state::{Origin, State};
use serde::Deserialize;

/// How long a simulated instance provisions; apply polls from 1 s.
const READY: Duration = Duration::from_millis(300);

/// Waits until the simulator has created `n` instances.
async fn wait_for_creates(project: &Test, n: u64) {
    project
        .wait_until(&format!("the simulator to see {n} creates"), || {
            project.stats().creates >= n
        })
        .await;
}

/// Runs `apply --auto-approve` and expects it to succeed.
async fn apply_ok(project: &Test, extra: &[&str]) -> Outcome {
    let mut args = vec!["apply", "--auto-approve"];
    args.extend_from_slice(extra);
    let output = project.run(&args).await;
    output.assert_exit(0);
    output
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_creates_every_missing_instance_and_records_each_sid() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let account_c: &str = &account(3);
    let project = Test::with_sim_ready_after(READY).await.config(
        &ConfigBuilder::new()
            .conversations("a", account_a, Some(true))
            .conversations("b", account_b, Some(false))
            .instance("c", account_c),
    );
    let output = apply_ok(&project, &[]).await;
    output.assert_stdout_contains(
        "Apply complete! Resources: 3 created (ready), 0 adopted, 0 failed.",
    );

    let stats = project.stats();
    assert_eq!(stats.create_requests, 3, "{stats:?}");
    assert_eq!(stats.creates, 3, "{stats:?}");
    assert_eq!(stats.discoveries, 3, "one discovery per account: {stats:?}");

    // The bodies: conversations.default as configured, and nothing when it is not configured.
    let mut sent: Vec<(String, Option<bool>)> = project
        .sim()
        .instances()
        .into_iter()
        .map(|i| (i.account_sid, i.conversations_default))
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        vec![
            (account_a.to_owned(), Some(true)),
            (account_b.to_owned(), Some(false)),
            (account_c.to_owned(), None)
        ]
    );

    let state = project.state();
    assert!(state.pending.is_empty(), "{state:?}");
    assert_eq!(state.instances.len(), 3);
    for (name, account, default) in [
        ("a", account_a, Some(true)),
        ("b", account_b, Some(false)),
        ("c", account_c, None),
    ] {
        let record = &state.instances[name];
        assert_eq!(record.account_sid.to_string(), account);
        assert_eq!(
            record.flex_instance_sid.to_string(),
            project.sim_sid(account)
        );
        assert_eq!(record.status.to_string(), "ready", "{name}");
        assert_eq!(record.origin, Origin::Created);
        assert_eq!(record.conversations_default, default);
    }

    let history = project.history();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].command, "apply");
    assert_eq!(history[0].changes.len(), 3);
    assert_eq!(history[0].serial_before, 0);
    assert_eq!(history[0].serial_after, state.serial);
    for change in &history[0].changes {
        assert_eq!(change.action, "create");
        assert_eq!(change.outcome, "ok");
        assert!(change.flex_instance_sid.is_some());
    }

    assert!(
        !project.path("flexform.state.json.backup").exists(),
        "no previous state, so no backup"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(project.state_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn second_apply_sends_no_post_and_plan_then_reports_no_changes() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let project = Test::with_sim_ready_after(READY).await.config(
        &ConfigBuilder::new()
            .instance("a", account_a)
            .conversations("b", account_b, Some(true)),
    );
    apply_ok(&project, &[]).await;
    let before = project.stats();
    let state_before = project.state_bytes();
    assert_eq!(before.create_requests, 2);

    let output = apply_ok(&project, &[]).await;
    output.assert_stdout_contains("No changes.");
    assert_eq!(project.stats().create_requests, before.create_requests);
    assert_eq!(project.state_bytes(), state_before, "nothing to record");
    assert_eq!(
        project.history().len(),
        1,
        "a run without changes adds no entry"
    );

    let output = project.run(&["plan", "--detailed-exitcode"]).await;
    output.assert_exit(0);
    assert_eq!(project.stats().create_requests, before.create_requests);
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_adopts_an_existing_instance_without_a_post() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    let existing = project.create_directly(account_a, None).await;
    assert_eq!(project.stats().create_requests, 1);

    let output = apply_ok(&project, &[]).await;
    output.assert_stdout_contains("will be adopted");
    assert_eq!(
        project.stats().create_requests,
        1,
        "flexform sent no POST for an account that has an instance"
    );
    let record = &project.state().instances["a"];
    assert_eq!(record.flex_instance_sid.to_string(), existing);
    assert_eq!(record.origin, Origin::Adopted);
    let history = project.history();
    assert_eq!(history[0].changes[0].action, "adopt");
    assert_eq!(
        history[0].changes[0].flex_instance_sid.as_deref(),
        Some(existing.as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plan_applies_without_prompt() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().conversations("a", account_a, Some(true)));
    let output = project.run(&["plan", "--out", "plan.json"]).await;
    output.assert_exit(0);
    assert_eq!(project.stats().create_requests, 0, "plan never creates");

    let output = project.run(&["apply", "plan.json"]).await;
    output.assert_exit(0);
    assert_eq!(project.stats().creates, 1);
    let record = &project.state().instances["a"];
    assert_eq!(
        record.flex_instance_sid.to_string(),
        project.sim_sid(account_a)
    );
    assert_eq!(
        project.sim().instances()[0].conversations_default,
        Some(true)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_saved_plan_is_refused_without_a_request() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    apply_ok(&project, &[]).await;
    project.write_config(
        &ConfigBuilder::new()
            .instance("a", account_a)
            .instance("b", account_b),
    );
    let output = project.run(&["plan", "--out", "plan.json"]).await;
    output.assert_exit(0);
    // The state changes after the plan was made.
    let previous = project.state_bytes();
    apply_ok(&project, &[]).await;
    assert_eq!(
        std::fs::read(project.path("flexform.state.json.backup")).unwrap(),
        previous,
        "the first write of a run backs up the previous state"
    );
    let before = project.stats();
    let state_before = project.state_bytes();

    let output = project.run(&["apply", "plan.json"]).await;
    output.assert_exit(1);
    output.assert_stderr_contains("Saved plan is stale");
    assert_eq!(project.stats(), before, "no request of any kind");
    assert_eq!(project.state_bytes(), state_before);
}

/// A saved plan is tied to what the configuration means, not to its bytes: a comment, blank
/// lines, quoting and key order leave it valid; a change of meaning makes it stale.
#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_survives_comments_and_formatting_but_not_a_change_of_meaning() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let project = Test::with_sim_ready_after(READY).await.config(
        &ConfigBuilder::new()
            .instance("a", account_a)
            .instance("b", account_b),
    );
    project
        .run(&["plan", "--out", "plan.json"])
        .await
        .assert_exit(0);
    // The same meaning, written differently.
    project.write(
        "flexform.yaml",
        &format!(
            "# reviewed in PR 42\nversion: 1\n\ninstances:\n  b: {{ account_sid: '{account_b}' }}   # second\n\n  a:\n    account_sid: \"{account_a}\"\n"
        ),
    );
    let same = project.run(&["apply", "plan.json"]).await;
    same.assert_exit(0);
    assert_eq!(project.stats().creates, 2);

    project
        .run(&["plan", "--out", "plan.json"])
        .await
        .assert_exit(0);
    project.write_config(
        &ConfigBuilder::new()
            .instance("a", account_a)
            .instance("b", account_b)
            .instance("c", &account(3)),
    );
    let before = project.stats();
    let changed = project.run(&["apply", "plan.json"]).await;
    changed.assert_exit(1);
    changed.assert_stderr_contains("Saved plan was made from a different configuration");
    assert_eq!(project.stats(), before, "no request of any kind");
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plan_from_before_the_first_state_is_stale_once_a_state_exists() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    let output = project.run(&["plan", "--out", "plan.json"]).await;
    output.assert_exit(0);
    apply_ok(&project, &[]).await;
    let before = project.stats();

    let output = project.run(&["apply", "plan.json"]).await;
    output.assert_exit(1);
    output.assert_stderr_contains("Saved plan is stale");
    assert_eq!(project.stats(), before, "no request of any kind");
    assert_eq!(project.stats().create_requests, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn saved_plan_of_another_lineage_is_refused_without_a_request() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    apply_ok(&project, &[]).await;
    project.write_config(
        &ConfigBuilder::new()
            .instance("a", account_a)
            .instance("b", account_b),
    );
    let output = project.run(&["plan", "--out", "plan.json"]).await;
    output.assert_exit(0);
    // Another state, same serial, other lineage: e.g. a state file of another estate.
    let mut state = project.state();
    state.lineage = "00000000-0000-4000-8000-000000000000".into();
    std::fs::write(project.state_path(), state.to_bytes()).unwrap();
    let before = project.stats();

    let output = project.run(&["apply", "plan.json"]).await;
    output.assert_exit(1);
    output.assert_stderr_contains("Saved plan does not match the given state");
    assert_eq!(project.stats(), before, "no request of any kind");
}

/// A saved plan is carried out as made (as Terraform does): an instance created outside
/// flexform since the plan meets the API's one-instance-per-account rule, a definite 409 that
/// records nothing and creates nothing; the next plan adopts the instance without a POST.
#[tokio::test(flavor = "multi_thread")]
async fn saved_plan_meets_an_instance_created_since_with_a_409_and_the_next_plan_adopts() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    let output = project.run(&["plan", "--out", "plan.json"]).await;
    output.assert_exit(0);
    let theirs = project.create_directly(account_a, None).await;

    let output = project.run(&["apply", "plan.json"]).await;
    output.assert_exit(1);
    output.assert_stderr_contains("20409");
    assert_eq!(project.stats().creates, 1, "only the one made above");
    let state = project.state();
    assert!(
        state.instances.is_empty() && state.pending.contains_key("a"),
        "a 409 means the account has an instance: the pending record stays: {state:?}"
    );

    let output = project.run(&["plan"]).await;
    output.assert_stdout_contains("will be adopted");
    let before = project.stats().create_requests;
    let output = project.run(&["apply", "--auto-approve"]).await;
    output.assert_exit(0);
    assert_eq!(
        project.stats().create_requests,
        before,
        "adopting sends no POST"
    );
    let record = &project.state().instances["a"];
    assert_eq!(record.flex_instance_sid.to_string(), theirs);
    assert_eq!(record.origin, Origin::Adopted);
}

/// An ambiguous create on an account without discovery: the pending record blocks the
/// instance, with the ways out, and no second POST is ever sent; `import` resolves it.
#[tokio::test(flavor = "multi_thread")]
async fn unresolved_pending_create_blocks_without_discovery_until_imported() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    project.sim().set_faults(Faults {
        discovery_unavailable: true,
        create_error_after_commit: 1,
        ..Faults::default()
    });
    let output = project.run(&["apply", "--auto-approve"]).await;
    output.assert_exit(1);
    assert_eq!(project.stats().create_requests, 1);
    assert!(project.state().pending.contains_key("a"));
    let created = project.sim_sid(account_a);

    let output = project.run(&["plan"]).await;
    output.assert_exit(1);
    let text = &output.stdout;
    assert!(
        text.contains("pending_create_unresolved")
            && text.contains("flexform import a")
            && text.contains("flexform state rm a"),
        "{text}"
    );
    let output = project.run(&["apply", "--auto-approve"]).await;
    output.assert_exit(1);
    assert_eq!(
        project.stats().create_requests,
        1,
        "never a blind second POST"
    );

    let output = project.run(&["import", "a", &created]).await;
    output.assert_exit(0);
    let state = project.state();
    assert!(state.pending.is_empty(), "{state:?}");
    assert_eq!(state.instances["a"].flex_instance_sid.to_string(), created);
    let output = project.run(&["plan", "--detailed-exitcode"]).await;
    output.assert_exit(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_without_terminal_or_auto_approve_refuses_before_any_request() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    let output = project.run(&["apply"]).await;
    output.assert_exit(1);
    output.assert_stderr_contains("--auto-approve");
    assert_eq!(project.stats().requests, 0);
    assert!(!project.state_path().exists());
}

/// Ambiguous failure: the simulator creates the instance, then answers 500
/// (`create_error_after_commit`), and discovery is unavailable, so apply cannot learn what
/// came of it. The other instance is created and recorded; the failed one keeps its pending
/// record, which the next plan resolves as adopt, with no second POST.
#[tokio::test(flavor = "multi_thread")]
async fn partial_failure_with_an_ambiguous_answer_records_the_success_and_adopts_later() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let project = Test::with_sim_ready_after(READY).await.config(
        &ConfigBuilder::new()
            .instance("a", account_a)
            .instance("b", account_b),
    );
    project.sim().set_faults(Faults {
        create_error_after_commit: 1,
        discovery_unavailable: true,
        ..Faults::default()
    });
    let output = project.run(&["apply", "--auto-approve"]).await;
    output.assert_exit(1);
    project.sim().set_faults(Faults::default());
    assert_eq!(project.stats().create_requests, 2);
    assert_eq!(project.stats().creates, 2);

    let state = project.state();
    assert_eq!(state.instances.len(), 1, "{state:?}");
    assert_eq!(state.pending.len(), 1, "{state:?}");
    let (ok_name, ok_record) = state.instances.iter().next().unwrap();
    let failed_name = state.pending.keys().next().unwrap().clone();
    assert_ne!(ok_name, &failed_name);
    let failed_account = if failed_name == "a" {
        account_a
    } else {
        account_b
    };
    assert_eq!(
        ok_record.flex_instance_sid.to_string(),
        project.sim_sid(&ok_record.account_sid.to_string())
    );
    let err = &output.stderr;
    assert!(
        err.contains(&format!("error: flex_instance.{failed_name}")) && err.contains("20500"),
        "each failure is listed with its Twilio error: {err}"
    );
    // The progress line of the failed change says why, not only "failed".
    assert!(
        err.lines().any(
            |l| l.starts_with(&format!("flex_instance.{failed_name}: failed: "))
                && l.contains("20500")
        ),
        "{err}"
    );
    output.assert_stdout_contains("1 created (ready), 0 adopted, 1 failed");

    let output = project.run(&["plan"]).await;
    output.assert_exit(0);
    output.assert_stdout_contains(&format!("flex_instance.{failed_name} will be adopted"));

    apply_ok(&project, &[]).await;
    assert_eq!(project.stats().create_requests, 2, "no second POST");
    let state = project.state();
    assert!(state.pending.is_empty());
    let record = &state.instances[&failed_name];
    assert_eq!(
        record.flex_instance_sid.to_string(),
        project.sim_sid(failed_account)
    );
    assert_eq!(record.origin, Origin::Adopted);
}

/// The plan is made while discovery is unavailable, someone creates the instance of `b`
/// meanwhile, and the POST for `b` is answered 409. `a` is still created and recorded; `b`
/// keeps its pending record (the account has an instance), which blocks it until resolved.
#[tokio::test(flavor = "multi_thread")]
async fn partial_failure_with_a_definite_error_records_the_success() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let project = Test::with_sim_ready_after(READY).await.config(
        &ConfigBuilder::new()
            .instance("a", account_a)
            .instance("b", account_b),
    );
    project.sim().set_faults(Faults {
        discovery_unavailable: true,
        ..Faults::default()
    });
    let output = project.run(&["plan", "--out", "plan.json"]).await;
    output.assert_exit(0);
    let theirs = project.create_directly(account_b, None).await;

    let output = project.run(&["apply", "plan.json"]).await;
    output.assert_exit(1);
    let err = &output.stderr;
    assert!(
        err.contains("error: flex_instance.b") && err.contains("20409"),
        "{err}"
    );
    assert_eq!(project.stats().creates, 2, "a, and b by someone else");
    let state = project.state();
    assert_eq!(
        state.instances["a"].flex_instance_sid.to_string(),
        project.sim_sid(account_a)
    );
    assert!(!state.instances.contains_key("b"));
    assert!(state.pending.contains_key("b"), "{state:?}");
    assert_eq!(project.sim_sid(account_b), theirs);
    // Discovery is back: the next apply adopts `b` without a POST.
    project.sim().set_faults(Faults::default());
    let before = project.stats().create_requests;
    let output = project.run(&["apply", "--auto-approve"]).await;
    output.assert_exit(0);
    assert_eq!(project.stats().create_requests, before);
    assert_eq!(
        project.state().instances["b"].flex_instance_sid.to_string(),
        theirs
    );
}

/// Definite refusal: `b`'s credentials are rejected (401) when its POST is sent. Nothing was
/// created, so its pending record is cleared; `a` is created and recorded; exit 1.
#[tokio::test(flavor = "multi_thread")]
async fn partial_failure_with_a_definite_refusal_clears_the_pending_record() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let project = Test::with_sim(SimConfig {
        ready_after: READY,
        credentials: Some((KEY.into(), SECRET.into())),
        ..SimConfig::default()
    })
    .await
    .env("B_KEY", KEY)
    .env("B_SECRET", SECRET)
    .config(
        &ConfigBuilder::new()
            .section("credentials:\n  bp:\n    key_env: B_KEY\n    secret_env: B_SECRET\n")
            .instance("a", account_a)
            .instance_with("b", account_b, "    credentials: bp\n"),
    );
    project
        .run(&["plan", "--out", "plan.json"])
        .await
        .assert_exit(0);
    let output = project
        .run_with_env(
            &["apply", "plan.json", "--no-wait"],
            &[("B_SECRET", Some("rotated-away"))],
        )
        .await;
    output.assert_exit(1);
    output.assert_stderr_contains("HTTP 401");
    let state = project.state();
    assert!(state.instances.contains_key("a"));
    assert!(!state.instances.contains_key("b"));
    assert!(state.pending.is_empty(), "{state:?}");
    assert_eq!(project.stats().creates, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_while_the_post_answer_is_held_then_plan_adopts_and_apply_sends_no_post() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    project.crash_during_held_create().await;
    let created = project.sim_sid(account_a);

    // The pending record was durable before the POST.
    let state = project.state();
    assert!(state.instances.is_empty(), "{state:?}");
    assert_eq!(state.pending["a"].account_sid.to_string(), account_a);

    let output = project.run(&["plan"]).await;
    output.assert_exit(0);
    let text = &output.stdout;
    assert!(
        text.contains("flex_instance.a will be adopted") && text.contains("> flex_instance \"a\""),
        "{text}"
    );
    assert!(text.contains(&created), "{text}");

    apply_ok(&project, &[]).await;
    assert_eq!(project.stats().create_requests, 1, "no second POST");
    let state = project.state();
    assert!(state.pending.is_empty());
    assert_eq!(state.instances["a"].flex_instance_sid.to_string(), created);
    assert_eq!(state.instances["a"].origin, Origin::Adopted);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_applies_at_once_one_proceeds_the_other_fails_at_once_naming_the_holder() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let hold = Duration::from_millis(2000);
    let project = Test::with_sim_ready_after(READY).await.config(
        &ConfigBuilder::new()
            .instance("a", account_a)
            .instance("b", account_b),
    );
    project.sim().set_faults(Faults {
        hold_create_response_ms: Some(hold.as_millis() as u64),
        ..Faults::default()
    });
    let args = ["apply", "--auto-approve"];
    let started = Instant::now();
    let first = project.spawn(&args);
    let second = project.spawn(&args);
    let timed = |child: Running| async move {
        let output = child.output().await;
        (output, started.elapsed())
    };
    let ((one, one_took), (two, two_took)) = tokio::join!(timed(first), timed(second));

    let codes = (one.code, two.code);
    let (winner, (loser, loser_took)) = match codes {
        (Some(0), Some(1)) => (one, (two, two_took)),
        (Some(1), Some(0)) => (two, (one, one_took)),
        _ => panic!("expected exactly one success: {codes:?}\n{one:?}\n{two:?}"),
    };
    assert!(
        loser_took < Duration::from_millis(1000),
        "the blocked run fails at once, well before the held create ({hold:?}): {loser_took:?}"
    );
    let err = &loser.stderr;
    assert!(
        err.contains("state is locked by")
            && err.contains("@")
            && err.contains("apply since")
            && err.contains("force-unlock"),
        "{err}"
    );
    winner.assert_stdout_contains("2 created");
    let stats = project.stats();
    assert_eq!(stats.create_requests, 2, "{stats:?}");
    assert_eq!(stats.creates, 2, "{stats:?}");
    let state = project.state();
    assert_eq!(
        state.instances["a"].flex_instance_sid.to_string(),
        project.sim_sid(account_a)
    );
    assert_eq!(
        state.instances["b"].flex_instance_sid.to_string(),
        project.sim_sid(account_b)
    );
}

/// Makes a folder immutable (`chattr +i`) and undoes it on drop, so that the temporary folder
/// can be removed whatever happens.
struct Immutable(PathBuf);

impl Immutable {
    /// `None` when this system cannot make the folder refuse new files.
    fn new(dir: PathBuf) -> Option<Self> {
        let set = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        let guard = set.then(|| Self(dir.clone()));
        let probe = dir.join("probe");
        if std::fs::write(&probe, b"x").is_err() {
            return guard;
        }
        let _ = std::fs::remove_file(&probe);
        drop(guard);
        None
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

/// Read-only folder for users other than root.
struct ReadOnly(PathBuf);

impl ReadOnly {
    #[cfg(unix)]
    fn new(dir: PathBuf) -> Option<Self> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).ok()?;
        let guard = Self(dir.clone());
        let probe = dir.join("probe");
        if std::fs::write(&probe, b"x").is_err() {
            return Some(guard);
        }
        let _ = std::fs::remove_file(&probe);
        None
    }

    #[cfg(not(unix))]
    fn new(_dir: PathBuf) -> Option<Self> {
        None
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn state_write_failure_sends_nothing_and_leaves_the_previous_state_intact() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    apply_ok(&project, &[]).await;
    project.write_config(
        &ConfigBuilder::new()
            .instance("a", account_a)
            .instance("b", account_b),
    );
    let state_before = project.state_bytes();
    let before = project.stats();

    let dir = project.dir().to_owned();
    let immutable = Immutable::new(dir.clone());
    let read_only = if immutable.is_none() {
        ReadOnly::new(dir.clone())
    } else {
        None
    };
    if immutable.is_none() && read_only.is_none() {
        common::unavailable(
            "state_write_failure_sends_nothing",
            &format!(
                "cannot make {} refuse new files here (needs chattr as root, or a non-root user)",
                dir.display()
            ),
        );
        return;
    }

    let output = project.run(&["apply", "--auto-approve"]).await;
    drop(immutable);
    drop(read_only);
    output.assert_exit(1);
    let err = &output.stderr;
    assert!(
        err.contains("error: flex_instance.b")
            && err.contains("cannot write flexform.state.json")
            && err.contains("is as it was before this write")
            && err.contains("nothing was sent"),
        "{err}"
    );
    assert_eq!(
        project.stats().create_requests,
        before.create_requests,
        "no POST without a durable pending record"
    );
    assert_eq!(
        project.state_bytes(),
        state_before,
        "the state is unchanged"
    );
    assert!(project
        .sim()
        .instances()
        .iter()
        .all(|i| i.account_sid != account_b));
}

#[tokio::test(flavor = "multi_thread")]
async fn import_records_checks_the_account_and_state_commands_list_show_rm() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let other_account: &str = &account(0xff);
    let project = Test::with_sim_ready_after(READY).await.config(
        &ConfigBuilder::new()
            .instance("a", account_a)
            .instance("b", account_b),
    );
    let sid_a = project.create_directly(account_a, None).await;
    let sid_b = project.create_directly(account_b, None).await;
    let sid_other = project.create_directly(other_account, None).await;

    let output = project.run(&["import", "a", &sid_a]).await;
    output.assert_exit(0);
    let record = &project.state().instances["a"];
    assert_eq!(record.flex_instance_sid.to_string(), sid_a);
    assert_eq!(record.origin, Origin::Imported);

    let state_before = project.state_bytes();
    let unknown = "GO0123456789abcdef0123456789abcdef";
    let output = project.run(&["import", "b", unknown]).await;
    output.assert_exit(1);
    output.assert_stderr_contains("does not exist");
    let output = project.run(&["import", "b", &sid_other]).await;
    output.assert_exit(1);
    assert_eq!(project.state_bytes(), state_before, "nothing recorded");

    let output = project.run(&["import", "b", &sid_b]).await;
    output.assert_exit(0);

    let output = project.run(&["state", "list"]).await;
    output.assert_exit(0);
    let text = &output.stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("a") && lines[0].contains(account_a) && lines[0].contains(&sid_a),
        "{text}"
    );
    assert!(
        lines[1].starts_with("b") && lines[1].contains(account_b) && lines[1].contains(&sid_b),
        "{text}"
    );

    let output = project.run(&["state", "show", "a"]).await;
    output.assert_exit(0);
    let shown = output.json();
    assert_eq!(shown["flex_instance_sid"], sid_a.as_str());
    assert_eq!(shown["account_sid"], account_a);

    let requests = project.stats().requests;
    // What flexform could change; the status moves on by itself as provisioning goes.
    let identity = |project: &Test| -> Vec<(String, String, String)> {
        project
            .sim()
            .instances()
            .into_iter()
            .map(|i| (i.flex_instance_sid, i.account_sid, i.date_created))
            .collect()
    };
    let sim_before = identity(&project);
    let output = project.run(&["state", "rm", "a"]).await;
    output.assert_exit(0);
    let state = project.state();
    assert!(!state.instances.contains_key("a"));
    assert!(state.instances.contains_key("b"));
    assert_eq!(project.stats().requests, requests, "rm sends nothing");
    assert_eq!(identity(&project), sim_before, "the instance is untouched");

    let history = project.history();
    let commands: Vec<&str> = history.iter().map(|e| e.command.as_str()).collect();
    assert_eq!(commands, ["import", "import", "state rm"]);
    let rm = &history[2];
    assert_eq!(rm.changes[0].action, "rm");
    assert_eq!(
        rm.changes[0].flex_instance_sid.as_deref(),
        Some(sid_a.as_str())
    );
    assert_eq!(rm.serial_after, rm.serial_before + 1);
}

/// `apply --json` events, decoded strictly so that a schema change is a deliberate one.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[allow(dead_code)] // fields are read through Debug in failure messages
enum JsonEvent {
    ApplyStart {
        create: usize,
        adopt: usize,
        #[serde(rename = "move")]
        moved: usize,
        update: usize,
    },
    Recorded {
        address: String,
        action: String,
        flex_instance_sid: String,
        elapsed_seconds: f64,
    },
    ApplyComplete {
        address: String,
        action: String,
        flex_instance_sid: String,
        ready: bool,
        still_provisioning: Option<String>,
        configuration_error: Option<String>,
        elapsed_seconds: f64,
    },
    ApplyNotStarted {
        address: String,
        action: String,
    },
    ApplyErrored {
        address: String,
        action: String,
        flex_instance_sid: Option<String>,
        error: String,
    },
    StatusChange {
        address: String,
        flex_instance_sid: String,
        status: String,
        elapsed_seconds: f64,
    },
    OutcomeUnknown {
        address: String,
        error: String,
        answered: bool,
        look_in_seconds: f64,
    },
    CreateConflict {
        address: String,
        error: String,
    },
    ChangeSummary {
        created: usize,
        ready: usize,
        still_provisioning: usize,
        adopted: usize,
        moved: usize,
        updated: usize,
        failed: usize,
        configuration_failed: usize,
        not_started: usize,
    },
}

impl JsonEvent {
    /// The address of a terminal event (the one event that ends a change).
    fn terminal_address(&self) -> Option<&str> {
        match self {
            JsonEvent::ApplyComplete { address, .. }
            | JsonEvent::ApplyErrored { address, .. }
            | JsonEvent::ApplyNotStarted { address, .. } => Some(address),
            _ => None,
        }
    }
}

/// Each address has exactly one terminal event.
fn assert_one_terminal_event_per_address(events: &[JsonEvent], addresses: &[&str]) {
    let mut terminal: Vec<&str> = events
        .iter()
        .filter_map(JsonEvent::terminal_address)
        .collect();
    terminal.sort_unstable();
    assert_eq!(terminal, addresses, "{events:?}");
}

fn parse_events(stdout: &str) -> Vec<JsonEvent> {
    stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not an event: {line}: {e}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_json_prints_one_event_per_line() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let project = Test::with_sim_ready_after(READY).await.config(
        &ConfigBuilder::new()
            .instance("a", account_a)
            .instance("b", account_b),
    );
    let existing = project.create_directly(account_b, None).await;
    let output = apply_ok(&project, &["--json"]).await;
    let events = parse_events(&output.stdout);

    assert!(
        matches!(
            events.first(),
            Some(JsonEvent::ApplyStart {
                create: 1,
                adopt: 1,
                moved: 0,
                update: 0
            })
        ),
        "{events:?}"
    );
    assert!(
        matches!(
            events.last(),
            Some(JsonEvent::ChangeSummary {
                created: 1,
                ready: 1,
                still_provisioning: 0,
                adopted: 1,
                moved: 0,
                updated: 0,
                failed: 0,
                configuration_failed: 0,
                not_started: 0,
            })
        ),
        "{events:?}"
    );
    let created = project.sim_sid(account_a);
    let complete = |address: &str| {
        events.iter().find_map(|e| match e {
            JsonEvent::ApplyComplete {
                address: a,
                action,
                flex_instance_sid,
                ready: true,
                still_provisioning: None,
                configuration_error: None,
                elapsed_seconds,
            } if a == address => {
                Some((action.clone(), flex_instance_sid.clone(), *elapsed_seconds))
            }
            _ => None,
        })
    };
    let (action, sid, elapsed) = complete("flex_instance.a").expect("a completes");
    assert_eq!(
        (action.as_str(), sid.as_str()),
        ("create", created.as_str())
    );
    assert!(elapsed >= 0.0);
    let (action, sid, _) = complete("flex_instance.b").expect("b completes");
    assert_eq!(
        (action.as_str(), sid.as_str()),
        ("adopt", existing.as_str())
    );
    let statuses: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            JsonEvent::StatusChange {
                address,
                flex_instance_sid,
                status,
                elapsed_seconds,
            } if address == "flex_instance.a" => {
                assert_eq!(flex_instance_sid, &created);
                assert!(*elapsed_seconds >= 0.0);
                Some(status.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(statuses, ["creation-in-progress", "ready"], "{events:?}");
    assert_one_terminal_event_per_address(&events, &["flex_instance.a", "flex_instance.b"]);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, JsonEvent::ApplyErrored { .. })),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_json_reports_a_failed_change() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    // The create's outcome is unknown, and discovery cannot tell what came of it.
    project.sim().set_faults(Faults {
        create_error_after_commit: 1,
        discovery_unavailable: true,
        ..Faults::default()
    });
    let output = project.run(&["apply", "--auto-approve", "--json"]).await;
    output.assert_exit(1);
    let events = parse_events(&output.stdout);
    let errored: Vec<(&str, &str, &str)> = events
        .iter()
        .filter_map(|e| match e {
            JsonEvent::ApplyErrored {
                address,
                action,
                error,
                flex_instance_sid,
            } => {
                // The create's outcome is unknown: no SID is known to flexform yet.
                assert_eq!(flex_instance_sid, &None);
                Some((address.as_str(), action.as_str(), error.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(errored.len(), 1, "{events:?}");
    // Apply tried to learn what came of the create before it gave up on it.
    assert!(
        events.iter().any(|e| matches!(
            e,
            JsonEvent::OutcomeUnknown { address, error, answered: true, look_in_seconds }
                if address == "flex_instance.a" && error.contains("20500")
                    && *look_in_seconds <= 5.0
        )),
        "{events:?}"
    );
    let (address, action, error) = errored[0];
    assert_eq!((address, action), ("flex_instance.a", "create"));
    assert!(
        error.contains("unknown") && error.contains("20500"),
        "{error}"
    );
    assert!(
        matches!(
            events.last(),
            Some(JsonEvent::ChangeSummary {
                created: 0,
                adopted: 0,
                failed: 1,
                ..
            })
        ),
        "{events:?}"
    );
    assert_one_terminal_event_per_address(&events, &["flex_instance.a"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_wait_records_the_instance_in_progress_and_returns_at_once() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(Duration::from_secs(10))
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    // Instances turn ready only after 10 minutes here: no wait is shown by no polling at all.
    apply_ok(&project, &["--no-wait"]).await;
    assert_eq!(project.stats().gets, 0, "no polling: {:?}", project.stats());
    let record = &project.state().instances["a"];
    assert_eq!(
        record.flex_instance_sid.to_string(),
        project.sim_sid(account_a)
    );
    assert_eq!(record.status.to_string(), "creation-in-progress");
}

/// A wait that runs out is an error of the run (exit 1), but the summary counts what
/// happened: both instances were created and recorded, and are still provisioning; none
/// failed. In `--json`, each address ends with one `apply_complete` saying so.
#[tokio::test(flavor = "multi_thread")]
async fn wait_timeout_is_an_error_that_says_the_instance_is_recorded() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let project = Test::with_sim_ready_after(Duration::from_secs(600))
        .await
        .config(
            &ConfigBuilder::new()
                .instance("a", account_a)
                .instance("b", account_b),
        );
    let output = project
        .run(&["apply", "--auto-approve", "--wait-timeout", "1s"])
        .await;
    output.assert_exit(1);
    output.assert_stdout_contains(
        "Apply finished with errors. Resources: 2 created (still provisioning), 0 adopted, 0 failed.",
    );
    let err = &output.stderr;
    assert!(
        err.contains("flex_instance.a: GO")
            && err.contains("is created and recorded but still provisioning after 1s"),
        "{err}"
    );
    let state = project.state();
    let record = &state.instances["a"];
    assert_eq!(
        record.flex_instance_sid.to_string(),
        project.sim_sid(account_a)
    );
    assert_eq!(record.status.to_string(), "creation-in-progress");
    assert!(state.pending.is_empty());

    let project = Test::with_sim_ready_after(Duration::from_secs(600))
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    let output = project
        .run(&["apply", "--auto-approve", "--wait-timeout", "1s", "--json"])
        .await;
    output.assert_exit(1);
    let events = parse_events(&output.stdout);
    assert_one_terminal_event_per_address(&events, &["flex_instance.a"]);
    assert!(
        events.iter().any(|e| matches!(
            e,
            JsonEvent::ApplyComplete { ready: false, still_provisioning: Some(why), .. }
                if why == "wait_timed_out"
        )),
        "{events:?}"
    );
    assert!(
        matches!(
            events.last(),
            Some(JsonEvent::ChangeSummary {
                created: 1,
                ready: 0,
                still_provisioning: 1,
                failed: 0,
                ..
            })
        ),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn creation_failed_while_waiting_is_recorded_and_the_next_plan_proposes_create() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(Duration::from_secs(60))
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    let child = project.spawn(&["apply", "--auto-approve"]);
    wait_for_creates(&project, 1).await;
    let sid = project.sim_sid(account_a);
    assert!(project.sim().set_status(&sid, "creation-failed"));
    let output = child.output().await;
    output.assert_exit(1);
    let err = &output.stderr;
    assert!(
        err.contains("error: flex_instance.a") && err.contains("creation-failed"),
        "{err}"
    );
    let record = &project.state().instances["a"];
    assert_eq!(record.flex_instance_sid.to_string(), sid);
    assert_eq!(record.status.to_string(), "creation-failed");
    // The audit trail names the instance that was created, though its provisioning failed.
    let history = project.history();
    let change = &history.last().unwrap().changes[0];
    assert_eq!(change.flex_instance_sid.as_deref(), Some(sid.as_str()));
    assert!(change.outcome.starts_with("failed: "), "{change:?}");

    let output = project.run(&["plan", "--json"]).await;
    output.assert_exit(0);
    let plan = output.json();
    let change = &plan["resource_changes"][0];
    assert_eq!(change["address"], "flex_instance.a");
    assert_eq!(change["action"], "create");
    let kinds: Vec<&str> = plan["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["address"] == "flex_instance.a")
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"creation_failed"), "{plan}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_create_in_flight_starts_no_other_and_exits_130() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let project = Test::with_sim_ready_after(READY).await.config(
        &ConfigBuilder::new()
            .instance("a", account_a)
            .instance("b", account_b),
    );
    project.sim().set_faults(Faults {
        hold_create_response_ms: Some(1500),
        ..Faults::default()
    });
    let child = project.spawn(&["apply", "--auto-approve", "--parallelism", "1"]);
    wait_for_creates(&project, 1).await;
    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.output().await;
    output.assert_exit(130);

    let stats = project.stats();
    assert_eq!(stats.create_requests, 1, "no new create after SIGTERM");
    let state = project.state();
    assert!(state.pending.is_empty(), "{state:?}");
    assert_eq!(state.instances.len(), 1, "{state:?}");
    let (done, record) = state.instances.iter().next().unwrap();
    let account = record.account_sid.to_string();
    assert_eq!(
        record.flex_instance_sid.to_string(),
        project.sim_sid(&account)
    );
    let undone = if done == "a" { "b" } else { "a" };
    let err = &output.stderr;
    assert!(
        err.contains(&format!("not started: flex_instance.{undone}")),
        "{err}"
    );
    // The summary counts what happened: one created, none failed, one not started.
    output.assert_stdout_contains(
        "Apply interrupted. Resources: 1 created (still provisioning), 0 adopted, 0 failed, 1 not started.",
    );
    let history = project.history();
    assert_eq!(history.len(), 1);
    assert!(history[0].changes.iter().any(
        |c| c.address == format!("flex_instance.{undone}") && c.outcome.contains("not started")
    ));
}

/// A recreate (after the recorded instance was deleted outside flexform) whose answer is lost:
/// the pending record sits beside the old record, and discovery, not the old SID, decides.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_recreate_over_an_old_record_is_adopted_not_repeated() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    project
        .run(&["apply", "--auto-approve"])
        .await
        .assert_exit(0);
    let old = project.sim_sid(account_a);
    assert!(project.sim().delete_instance(&old));
    project.sim().set_faults(Faults {
        create_error_after_commit: 1,
        discovery_unavailable: true,
        ..Faults::default()
    });
    let output = project.run(&["apply", "--auto-approve"]).await;
    output.assert_exit(1);
    let state = project.state();
    assert!(state.pending.contains_key("a"), "{state:?}");
    assert_eq!(state.instances["a"].flex_instance_sid.to_string(), old);
    let new = project.sim_sid(account_a);
    project.sim().set_faults(Faults::default());

    let output = project.run(&["plan"]).await;
    output.assert_stdout_contains("will be adopted");
    let before = project.stats().create_requests;
    project
        .run(&["apply", "--auto-approve"])
        .await
        .assert_exit(0);
    assert_eq!(project.stats().create_requests, before, "no second POST");
    let state = project.state();
    assert_eq!(state.instances["a"].flex_instance_sid.to_string(), new);
    assert!(state.pending.is_empty());
    project
        .run(&["plan", "--detailed-exitcode"])
        .await
        .assert_exit(0);
}

/// After a crash, `plan --out` reads the journal without folding it; the apply that folds it
/// must still accept that plan (the content the plan saw is exactly what it folds in).
#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_made_after_a_crash_is_not_stale() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    project.crash_during_held_create().await;
    assert!(project.path("flexform.state.json.journal").exists());

    project
        .run(&["plan", "--out", "plan.json"])
        .await
        .assert_exit(0);
    let before = project.stats().create_requests;
    let output = project.run(&["apply", "plan.json"]).await;
    output.assert_exit(0);
    assert_eq!(
        project.stats().create_requests,
        before,
        "adopted, not created again"
    );
    assert_eq!(
        project.state().instances["a"].flex_instance_sid.to_string(),
        project.sim_sid(account_a)
    );
}

/// A pending create younger than a request can live may still be on its way to Twilio:
/// discovery saying "none" is no answer yet, and the plan waits rather than create again.
#[tokio::test(flavor = "multi_thread")]
async fn a_recent_pending_create_is_not_recreated_while_it_may_be_in_flight() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    let write_pending = |started_at: String| {
        let mut state = State::empty();
        state.pending.insert(
            "a".into(),
            flexform::state::PendingCreate {
                account_sid: flexform::config::sid::AccountSid::parse(account_a).unwrap(),
                address: "flex_instance.a".into(),
                conversations_default: None,
                started_at,
                in_flight_until: None,
                clock: None,
            },
        );
        std::fs::write(project.state_path(), state.to_bytes()).unwrap();
    };
    let now = std::time::SystemTime::now();
    write_pending(humantime::format_rfc3339_seconds(now).to_string());
    let output = project.run(&["plan", "--detailed-exitcode"]).await;
    output.assert_exit(1);
    output.assert_stdout_contains("may still be in flight");
    let output = project.run(&["apply", "--auto-approve"]).await;
    output.assert_exit(1);
    assert_eq!(
        project.stats().create_requests,
        0,
        "nothing sent while it may be in flight"
    );

    write_pending(humantime::format_rfc3339_seconds(now - Duration::from_secs(300)).to_string());
    let output = project.run(&["plan"]).await;
    output.assert_stdout_contains("an interrupted create did not take effect");
}

// ---------------------------------------------------------------------------------------------
// Rough edges: one address syntax, serials that never wrap, a corrupt journal's way out
// ---------------------------------------------------------------------------------------------

/// `state show`, `state rm`, `state mv` and `import` take an instance as `NAME` or as its
/// address `flex_instance.NAME`, as `--target` and `history --instance` do.
#[tokio::test(flavor = "multi_thread")]
async fn every_state_command_takes_the_address_as_well_as_the_name() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    apply_ok(&project, &[]).await;
    let sid = project.sim_sid(account_a);
    let show = project.run(&["state", "show", "flex_instance.a"]).await;
    show.assert_exit(0);
    show.assert_stdout_contains(&sid);
    project
        .run(&["state", "mv", "flex_instance.a", "flex_instance.b"])
        .await
        .assert_exit(0);
    assert!(project.state().instances.contains_key("b"));
    let rm = project.run(&["state", "rm", "flex_instance.b"]).await;
    rm.assert_exit(0);
    assert!(project.state().instances.is_empty());
    project
        .run(&["import", "flex_instance.a", &sid])
        .await
        .assert_exit(0);
    assert_eq!(
        project.state().instances["a"].flex_instance_sid.as_str(),
        sid
    );
}

/// Serials never wrap: a state at the highest serial is refused by the next command that
/// would write it (exit 1, nothing sent, nothing written), and serials near it are printed
/// as integers in the history.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_at_the_highest_serial_is_refused_and_serials_print_as_integers() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    apply_ok(&project, &[]).await;
    let set_serial = |serial: u64| {
        let mut doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(project.state_path()).unwrap()).unwrap();
        doc["serial"] = serial.into();
        std::fs::write(
            project.state_path(),
            serde_json::to_vec_pretty(&doc).unwrap(),
        )
        .unwrap();
    };
    set_serial(u64::MAX);
    let before = std::fs::read(project.state_path()).unwrap();
    let requests = project.stats().requests;
    for args in [
        &["apply", "--auto-approve"][..],
        &["state", "rm", "a"],
        &["state", "mv", "a", "b"],
    ] {
        let output = project.run(args).await;
        output.assert_exit(1);
        output.assert_stderr_contains("18446744073709551615, and no higher one can be written");
        output.assert_stderr_contains("nothing was written");
        assert_eq!(
            std::fs::read(project.state_path()).unwrap(),
            before,
            "{args:?}"
        );
    }
    assert_eq!(project.stats().requests, requests, "nothing sent");

    let highest = i64::MAX as u64;
    set_serial(highest - 1);
    project.run(&["state", "mv", "a", "b"]).await.assert_exit(0);
    assert_eq!(project.state().serial, highest);
    let history = project.run(&["history", "--format", "json"]).await;
    history.assert_exit(0);
    let entry = &history.json()["entries"][0];
    assert_eq!(
        entry["serial_before"].as_u64(),
        Some(highest - 1),
        "{entry}"
    );
    assert_eq!(entry["serial_after"].as_u64(), Some(highest), "{entry}");
    history.assert_stdout_contains(&format!("\"serial_after\": {highest}"));
    let output = project.run(&["state", "rm", "b"]).await;
    output.assert_exit(1);
    output.assert_stderr_contains("no higher one can be written");
}

/// A corrupt journal's error says what works: there is no journal backup, so it names the
/// journal, the line, and the way out (fix the line, or move the journal aside and plan).
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_journal_says_what_to_do_that_works() {
    let account_a: &str = &account(1);
    let project = Test::with_sim_ready_after(READY)
        .await
        .config(&ConfigBuilder::new().instance("a", account_a));
    apply_ok(&project, &[]).await;
    let journal = project.path("flexform.state.json.journal");
    std::fs::write(&journal, "{\"lineage\": oops\n{}\n").unwrap();
    let output = project.run(&["plan"]).await;
    output.assert_exit(1);
    let err = &output.stderr;
    assert!(
        err.contains("state journal") && err.contains("flexform.state.json.journal:1:"),
        "{err}"
    );
    assert!(!err.contains(".journal.backup"), "no such file: {err}");
    output.assert_stderr_contains(".journal.damaged");
    // What it says works: the journal moved aside, plan runs and finds the instance.
    std::fs::rename(
        &journal,
        project.path("flexform.state.json.journal.damaged"),
    )
    .unwrap();
    project
        .run(&["plan", "--detailed-exitcode"])
        .await
        .assert_exit(0);
}
