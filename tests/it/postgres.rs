//! The PostgreSQL state backend against a real database: locking between processes, a killed
//! holder, independent workspaces, compare-and-swap conflicts, push/pull round trips, and clear
//! errors. Runs when FLEXFORM_TEST_DATABASE_URL is set (`.ci/run` sets it); skipped otherwise.

use std::time::Duration;

use crate::common::{account, database_url, workspace, ConfigBuilder, Test};
use flexform::config::secret::Secret;
use flexform::sim::Faults;
use flexform::state::postgres::{PgLocation, PgStore};
use flexform::state::State;
use flexform::state::StateError;

/// A project on a simulator, with FLEXFORM_DATABASE_URL=`url` and `config` (which names the
/// state workspace with [`ConfigBuilder::postgres`], or keeps a local state).
async fn project(url: &str, config: &ConfigBuilder) -> Test {
    Test::with_sim_ready_after(Duration::from_millis(200))
        .await
        .env("FLEXFORM_DATABASE_URL", url)
        .config(config)
}

/// `flexform state pull`, decoded.
async fn pull(t: &Test) -> State {
    let out = t.run(&["state", "pull"]).await;
    out.assert_exit(0);
    State::from_bytes(std::path::Path::new("pull"), &out.output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_records_in_postgres_and_plan_then_has_nothing_to_do() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let Some(url) = database_url("apply_records_in_postgres") else {
        return;
    };
    let p = project(
        &url,
        &ConfigBuilder::new()
            .postgres(&workspace())
            .instance("a", account_a)
            .instance("b", account_b),
    )
    .await;
    let out = p.run(&["apply", "--auto-approve"]).await;
    out.assert_exit(0);
    let out = p.run(&["plan", "--detailed-exitcode"]).await;
    out.assert_exit(0);
    let state = pull(&p).await;
    assert_eq!(state.instances.len(), 2);
    assert!(state.pending.is_empty());
    assert_eq!(p.stats().creates, 2);
    assert!(!p.state_path().exists(), "no local state with postgres");
    let out = p.run(&["drift"]).await;
    out.assert_exit(0);
    let out = p.run(&["state", "list"]).await;
    assert_eq!(out.stdout.lines().count(), 2);
    let out = p.run(&["state", "show", "a"]).await;
    assert!(
        out.stdout.contains("\"flex_instance_sid\""),
        "{}",
        out.stdout
    );
    let out = p.run(&["state", "rm", "b"]).await;
    out.assert_exit(0);
    let state = pull(&p).await;
    assert_eq!(state.instances.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(
        p.sim().instances().len(),
        2,
        "state rm leaves the instance itself alone"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_applies_on_one_workspace_one_proceeds_the_other_names_the_holder() {
    let account_a: &str = &account(1);
    let Some(url) = database_url("two_applies") else {
        return;
    };
    let p = project(
        &url,
        &ConfigBuilder::new()
            .postgres(&workspace())
            .instance("a", account_a),
    )
    .await;
    p.sim().set_faults(Faults {
        hold_create_response_ms: Some(2_000),
        ..Faults::default()
    });
    let first = p.spawn(&["apply", "--auto-approve", "--no-wait"]);
    p.wait_until("the first apply's create", || {
        p.stats().create_requests >= 1
    })
    .await;
    // `--lock-timeout` is 0s by default: the loser fails naming the holder instead of
    // waiting (had it waited for the release, it would have gone on and exited 0).
    let second = p.run(&["apply", "--auto-approve", "--no-wait"]).await;
    second.assert_exit(1);
    let err = &second.stderr;
    assert!(
        err.contains("locked by") && err.contains("apply since") && err.contains('@'),
        "{err}"
    );
    first.output().await.assert_exit(0);
    assert_eq!(p.stats().create_requests, 1, "each create once");
    assert_eq!(pull(&p).await.instances.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_holder_leaves_no_lock_behind() {
    let account_a: &str = &account(1);
    let Some(url) = database_url("killed_holder") else {
        return;
    };
    let p = project(
        &url,
        &ConfigBuilder::new()
            .postgres(&workspace())
            .instance("a", account_a),
    )
    .await;
    // SIGKILL while the create's answer is held: no cleanup runs; the database session simply
    // ends.
    p.crash_during_held_create().await;
    // With no wait allowed, success shows that no lock was left behind.
    let out = p
        .run(&["apply", "--auto-approve", "--lock-timeout", "0s"])
        .await;
    out.assert_exit(0);
    assert_eq!(
        p.stats().create_requests,
        1,
        "the pending create was adopted, not repeated"
    );
    let state = pull(&p).await;
    assert_eq!(
        state.instances["a"].flex_instance_sid.to_string(),
        p.sim().instances()[0].flex_instance_sid
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn workspaces_in_one_database_are_independent() {
    let account_a: &str = &account(1);
    let Some(url) = database_url("workspaces") else {
        return;
    };
    let one = project(
        &url,
        &ConfigBuilder::new()
            .postgres(&workspace())
            .instance("a", account_a),
    )
    .await;
    let two = project(
        &url,
        &ConfigBuilder::new()
            .postgres(&workspace())
            .instance("a", account_a),
    )
    .await;
    let out = one.run(&["apply", "--auto-approve", "--no-wait"]).await;
    out.assert_exit(0);
    let out = two.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(
        out.code,
        Some(2),
        "the other workspace still has everything to do"
    );
    assert_eq!(pull(&one).await.instances.len(), 1);
    // No state yet in the second workspace: an empty state document, exit 0.
    let empty = pull(&two).await;
    assert_eq!(empty.serial, 0);
    assert!(empty.instances.is_empty() && empty.pending.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_that_lost_a_race_fails_instead_of_overwriting() {
    let account_a: &str = &account(1);
    let Some(url) = database_url("cas") else {
        return;
    };
    let location = PgLocation {
        url: Secret::new(url.clone()),
        workspace: workspace(),
        env: flexform::support::env::Env::new(|name| std::env::var(name).ok()),
    };
    let mut store = PgStore::open(
        &location,
        "test",
        &flexform::state::LockWait::timeout(Duration::ZERO),
        &flexform::state::Audit::default(),
    )
    .await
    .unwrap();
    store.commit(|s| s.pending.clear()).await.unwrap();
    assert_eq!(store.state().serial, 1);
    // Another writer (bypassing the lock) moves the serial on.
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute(
            "UPDATE flexform_states SET serial = serial + 1 WHERE workspace = $1",
            &[&location.workspace],
        )
        .await
        .unwrap();
    let err = store
        .commit(|s| {
            s.lineage.push('x');
            s.pending.insert(
                "a".into(),
                flexform::state::PendingCreate {
                    account_sid: flexform::config::sid::AccountSid::parse(account_a).unwrap(),
                    address: "flex_instance.a".into(),
                    conversations_default: None,
                    started_at: "now".into(),
                    in_flight_until: None,
                    clock: None,
                },
            );
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StateError::Conflict {
                expected: 1,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let stored: i64 = client
        .query_one(
            "SELECT serial FROM flexform_states WHERE workspace = $1",
            &[&location.workspace],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 2, "the losing write changed nothing");
    store.release().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn push_and_pull_move_a_local_state_into_postgres_and_back() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let Some(url) = database_url("push_pull") else {
        return;
    };
    let local_config = ConfigBuilder::new()
        .instance("a", account_a)
        .instance("b", account_b);
    let postgres_config = local_config.clone().postgres(&workspace());
    let p = project(&url, &postgres_config).await;
    // A local estate first.
    p.write_config(&local_config);
    let out = p.run(&["apply", "--auto-approve"]).await;
    out.assert_exit(0);
    let local = p.state_bytes();
    // Move it: switch the configuration to postgres, push.
    p.write_config(&postgres_config);
    let out = p.run(&["state", "push", "flexform.state.json"]).await;
    out.assert_exit(0);
    // Pull gives back the local state as it was, but for its history anchor, which now names
    // the push's entry in this workspace's trail.
    let mut pulled = pull(&p).await;
    let mut pushed = State::from_bytes(std::path::Path::new("l"), &local).unwrap();
    assert_ne!(pulled.history_sha256, pushed.history_sha256);
    pulled.history_sha256 = None;
    pushed.history_sha256 = None;
    assert_eq!(pulled, pushed, "pull gives back the local state");
    let out = p.run(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(out.code, Some(0), "the moved estate needs nothing: {out:?}");
    // Pushing the same serial again is refused; --force replaces, and the serial still rises.
    let out = p.run(&["state", "push", "flexform.state.json"]).await;
    out.assert_exit(1);
    assert!(out.stderr.contains("not newer"), "{}", out.stderr);
    let out = p
        .run(&["state", "push", "flexform.state.json", "--force"])
        .await;
    out.assert_exit(0);
    let local_serial = State::from_bytes(std::path::Path::new("l"), &local)
        .unwrap()
        .serial;
    assert_eq!(pull(&p).await.serial, local_serial + 1);
    // Another lineage is refused.
    let mut foreign = State::empty();
    foreign.serial = 99;
    std::fs::write(p.path("foreign.json"), foreign.to_bytes()).unwrap();
    let out = p.run(&["state", "push", "foreign.json"]).await;
    out.assert_exit(1);
    assert!(out.stderr.contains("lineage"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_credentials_and_unreachable_databases_are_clear_and_never_show_the_password() {
    let account_a: &str = &account(1);
    let Some(url) = database_url("bad_credentials") else {
        return;
    };
    let p = project(
        &url,
        &ConfigBuilder::new()
            .postgres(&workspace())
            .instance("a", account_a),
    )
    .await;
    let parsed: tokio_postgres::Config = url.parse().unwrap();
    let user = parsed.get_user().unwrap_or("postgres").to_owned();
    let dbname = parsed.get_dbname().unwrap_or("postgres").to_owned();
    let port = parsed.get_ports().first().copied().unwrap_or(5432);
    let password = "Wr0ng-Passw0rd-4471";
    for bad in [
        format!("postgres://{user}:{password}@127.0.0.1:{port}/{dbname}"),
        format!("postgres://{user}:{password}@127.0.0.1:1/{dbname}?connect_timeout=2"),
    ] {
        let out = p
            .run_with_env(&["plan"], &[("FLEXFORM_DATABASE_URL", Some(&bad))])
            .await;
        out.assert_exit(1);
        let err = &out.stderr;
        assert!(err.contains("127.0.0.1"), "the host is named: {err}");
        assert!(
            !err.contains(password) && !out.stdout.contains(password),
            "{err}"
        );
        assert_eq!(
            p.stats().requests,
            0,
            "nothing sent to Flex when the state is unreadable"
        );
    }
    // A TLS mode that cannot be met is an error naming the mode and what to set, never the
    // password (each sslmode against a TLS server: tests/environment.rs).
    let tls = format!("{url}?sslmode=verify-full");
    let out = p
        .run_with_env(&["plan"], &[("FLEXFORM_DATABASE_URL", Some(&tls))])
        .await;
    out.assert_exit(1);
    assert!(out.stderr.contains("sslrootcert"), "{}", out.stderr);
    assert!(!out.stderr.contains("flexform-ci"), "{}", out.stderr);
    // --state is a local-file option.
    let out = p.run(&["plan", "--state", "x.json"]).await;
    out.assert_exit(1);
    assert!(out.stderr.contains("postgres"), "{}", out.stderr);
    // The variable must be set.
    let out = p
        .run_with_env(&["plan"], &[("FLEXFORM_DATABASE_URL", None)])
        .await;
    out.assert_exit(1);
    assert!(out.stderr.contains("FLEXFORM_DATABASE_URL"));
}

#[tokio::test(flavor = "multi_thread")]
async fn push_carries_an_interrupted_runs_journal_along() {
    let account_a: &str = &account(1);
    let Some(url) = database_url("push_journal") else {
        return;
    };
    let local_config = ConfigBuilder::new().instance("a", account_a);
    let postgres_config = local_config.clone().postgres(&workspace());
    let p = project(&url, &postgres_config).await;
    p.write_config(&local_config);
    p.crash_during_held_create().await;
    assert!(p.path("flexform.state.json.journal").exists());

    p.write_config(&postgres_config);
    let out = p.run(&["state", "push", "flexform.state.json"]).await;
    out.assert_exit(0);
    assert!(
        pull(&p).await.pending.contains_key("a"),
        "the pending create moved with the state"
    );
    let out = p.run(&["apply", "--auto-approve"]).await;
    out.assert_exit(0);
    assert_eq!(p.stats().create_requests, 1, "adopted, never sent twice");
}

/// A store of the workspace `location` names, holding its lock.
async fn open_store(location: &PgLocation) -> PgStore {
    PgStore::open(
        location,
        "test",
        &flexform::state::LockWait::timeout(Duration::ZERO),
        &flexform::state::Audit::default(),
    )
    .await
    .unwrap()
}

fn pending(until: Option<String>) -> flexform::state::PendingCreate {
    let account_a: &str = &account(1);
    flexform::state::PendingCreate {
        account_sid: flexform::config::sid::AccountSid::parse(account_a).unwrap(),
        address: "flex_instance.a".into(),
        conversations_default: None,
        started_at: "now".into(),
        in_flight_until: until,
        clock: None,
    }
}

/// The backup column holds the state as it was before the run: written by the run's first
/// write, kept by the later ones.
#[tokio::test(flavor = "multi_thread")]
async fn the_backup_is_the_state_before_the_run() {
    let Some(url) = database_url("pg_backup") else {
        return;
    };
    let location = PgLocation {
        url: Secret::new(url.clone()),
        workspace: workspace(),
        env: flexform::support::env::Env::new(|name| std::env::var(name).ok()),
    };
    let mut store = open_store(&location).await;
    store.commit(|s| s.pending.clear()).await.unwrap();
    store
        .commit(|s| {
            s.pending.insert("a".into(), pending(None));
        })
        .await
        .unwrap();
    // The run ends with its entry (a run without one gets a `recover` entry when the next
    // writer opens the workspace).
    let mut entry = flexform::state::HistoryEntry::new("apply", 0, 0, Vec::new());
    assert!(store.finish(&mut entry, |_| {}).await.unwrap().is_none());
    store.release().await;
    assert_eq!(open_store(&location).await.state().serial, 3);
    let mut store = open_store(&location).await;
    store.commit(|s| s.pending.clear()).await.unwrap();
    store
        .commit(|s| {
            s.pending.insert("b".into(), pending(None));
        })
        .await
        .unwrap();
    assert_eq!(store.state().serial, 5);
    // A commit that changes nothing writes nothing.
    assert!(!store.commit(|_| {}).await.unwrap());
    assert_eq!(store.state().serial, 5);
    // The run's audit entry names the serial it is written at.
    let mut entry = flexform::state::HistoryEntry::new("apply", 5, 0, Vec::new());
    assert!(store.finish(&mut entry, |_| {}).await.unwrap().is_none());
    assert_eq!(entry.serial_after, 6);
    assert_eq!(store.state().serial, 6);
    store.release().await;
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let backup_serial: String = client
        .query_one(
            "SELECT backup->>'serial' FROM flexform_states WHERE workspace = $1",
            &[&location.workspace],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(backup_serial, "3", "the state before the second run");
}

/// A pending create's in-flight window is moved onto the database's clock, never earlier
/// than the writer's own reckoning (rounded up to the second, as the record keeps seconds).
/// The database runs on this machine, so both clocks are the same here, and the database's
/// `now()` is read after the writer's: the window can only come out later, never earlier.
#[tokio::test(flavor = "multi_thread")]
async fn a_pending_window_moves_onto_the_database_clock_without_shrinking() {
    let Some(url) = database_url("pg_window") else {
        return;
    };
    let location = PgLocation {
        url: Secret::new(url.clone()),
        workspace: workspace(),
        env: flexform::support::env::Env::new(|name| std::env::var(name).ok()),
    };
    let mut store = open_store(&location).await;
    let until =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(60))
            .to_string();
    store
        .record(vec![flexform::state::StateUpdate::Pending {
            name: "a".into(),
            pending: pending(Some(until.clone())),
        }])
        .await
        .unwrap();
    let recorded = store.state().pending["a"].clone();
    store.release().await;
    assert_eq!(recorded.clock.as_deref(), Some("database"));
    let stored = humantime::parse_rfc3339(recorded.in_flight_until.as_deref().unwrap()).unwrap();
    let wanted = humantime::parse_rfc3339(&until).unwrap();
    assert!(
        stored >= wanted,
        "the window shrank: {until} became {:?}",
        recorded.in_flight_until
    );
}

/// A saved plan is valid only against the database row it was made from: once a crashed run
/// recorded anything in the row (here its pending create), applying the plan is refused as
/// stale and nothing is sent; the crashed run's record is kept for the next plan.
#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_stale_once_a_crashed_run_recorded_anything_in_the_database_row() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let Some(url) = database_url("pg_saved_plan_stale") else {
        return;
    };
    let ws = workspace();
    let p = project(
        &url,
        &ConfigBuilder::new().postgres(&ws).instance("a", account_a),
    )
    .await;
    p.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    p.write_config(
        &ConfigBuilder::new()
            .postgres(&ws)
            .instance("a", account_a)
            .instance("b", account_b),
    );
    p.run(&["plan", "--out", "plan.json"]).await.assert_exit(0);
    let planned = pull(&p).await;
    // A run dies after its create for `b` took effect: the row records its pending create.
    p.sim().set_faults(Faults {
        hold_create_response_ms: Some(3_600_000),
        ..Faults::default()
    });
    let mut child = p.spawn(&["apply", "--auto-approve"]);
    p.wait_until("b's create to be made", || p.stats().creates >= 2)
        .await;
    child.kill();
    let _ = child.output().await;
    p.sim().set_faults(Faults::default());
    let recorded = pull(&p).await;
    assert!(recorded.pending.contains_key("b"), "{recorded:?}");
    assert_ne!(recorded.pending, planned.pending, "the row changed");

    let creates = p.stats().create_requests;
    let apply = p.run(&["apply", "plan.json"]).await;
    apply.assert_exit(1);
    apply.assert_stderr_contains("Saved plan is stale");
    assert_eq!(p.stats().create_requests, creates, "nothing was sent");
    assert!(
        pull(&p).await.pending.contains_key("b"),
        "the crashed run's pending record is kept for the next plan"
    );
}

/// The audit trail in the `flexform_history` table keeps the same hash chain as the local
/// file: each entry records the configuration's SHA-256, and a row edited, or every row
/// deleted, in the database makes `history verify` exit 1 naming the entry.
#[tokio::test(flavor = "multi_thread")]
async fn an_edited_history_row_breaks_the_chain_and_provenance_is_in_the_table() {
    let account_a: &str = &account(1);
    let account_b: &str = &account(2);
    let Some(url) = database_url("pg_history_tamper") else {
        return;
    };
    let ws = workspace();
    let p = project(
        &url,
        &ConfigBuilder::new().postgres(&ws).instance("a", account_a),
    )
    .await;
    p.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let first_config = std::fs::read(p.path("flexform.yaml")).unwrap();
    p.write_config(
        &ConfigBuilder::new()
            .postgres(&ws)
            .instance("a", account_a)
            .instance("b", account_b),
    );
    p.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let second_config = std::fs::read(p.path("flexform.yaml")).unwrap();
    p.run(&["history", "verify"])
        .await
        .assert_exit(0)
        .assert_stdout_contains("2 entries, hash chain intact");

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT id, entry::text, entry->'provenance'->>'config_sha256' \
             FROM flexform_history WHERE workspace = $1 ORDER BY id",
            &[&ws],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let sha256 = |bytes: &[u8]| -> String {
        use sha2::Digest;
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    // Provenance: the digest of the configuration each run used.
    assert_eq!(
        rows[0].get::<_, Option<String>>(2),
        Some(sha256(&first_config))
    );
    assert_eq!(
        rows[1].get::<_, Option<String>>(2),
        Some(sha256(&second_config))
    );
    let first_id: i64 = rows[0].get(0);
    let first_line: String = client
        .query_one(
            "SELECT line FROM flexform_history WHERE id = $1",
            &[&first_id],
        )
        .await
        .unwrap()
        .get(0);

    // Someone with database access edits the first entry: the second no longer follows it.
    let edited = client
        .execute(
            "UPDATE flexform_history SET line = replace(line, '\"who\":\"', '\"who\":\"mallory-') \
             WHERE id = $1",
            &[&first_id],
        )
        .await
        .unwrap();
    assert_eq!(edited, 1);
    p.run(&["history", "verify"])
        .await
        .assert_exit(1)
        .assert_stdout_contains("line 2: it does not follow line 1")
        .assert_stderr_contains("does not verify");

    // Put back as it was: intact again. The digest is of the exact line the row keeps, so
    // the jsonb copy's key order never matters.
    client
        .execute(
            "UPDATE flexform_history SET line = $2 WHERE id = $1",
            &[&first_id, &first_line],
        )
        .await
        .unwrap();
    p.run(&["history", "verify"]).await.assert_exit(0);

    // The trail deleted from the table while the state anchors it.
    client
        .execute("DELETE FROM flexform_history WHERE workspace = $1", &[&ws])
        .await
        .unwrap();
    let out = p.run(&["history", "verify"]).await;
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    out.assert_exit(1)
        .assert_stdout_contains("missing or empty");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_writing_command_that_fails_under_the_lock_leaves_no_holder_behind() {
    let Some(url) = database_url("failed_writer_releases") else {
        return;
    };
    let ws = workspace();
    let p = project(
        &url,
        &ConfigBuilder::new()
            .postgres(&ws)
            .instance("a", &account(1))
            .instance("b", &account(2)),
    )
    .await;
    p.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    // Refused under the lock: `b` is taken.
    let out = p.run(&["state", "mv", "a", "b"]).await;
    out.assert_exit(1);
    assert!(out.stderr.contains("flex_instance.b"), "{}", out.stderr);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let holders: i64 = client
        .query_one(
            "SELECT count(*) FROM flexform_locks WHERE workspace = $1",
            &[&ws],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(holders, 0, "the failed run's lock row was left behind");
    // And the next writer is not told about a holder that is gone.
    let out = p.run(&["state", "mv", "a", "c"]).await;
    out.assert_exit(0);
    assert!(!out.stderr.contains("Waiting"), "{}", out.stderr);
}
