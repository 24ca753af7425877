//! State on S3 against a real S3 protocol on loopback (moto's server, started by `.ci/run`):
//! apply, pull and a clean plan with everything in the bucket; the lock (a blocked run, a
//! renewed lease, a killed runner's lease taken over and its create resolved, force-unlock);
//! a lost update refused; push and pull between backends; history verify; wrong credentials;
//! a proxy that strips the condition headers refused before anything reaches Twilio.

use std::time::Duration;

use flexform::sim::{Faults, SimConfig};
use flexform::state::State;

use crate::common::{account, s3_proxy, ConfigBuilder, S3Bucket, S3Fault, Test, S3_SECRET};

const KEY: &str = "emea-prod/flexform.state.json";

fn fast_sim() -> SimConfig {
    SimConfig {
        ready_after: Duration::ZERO,
        ..SimConfig::default()
    }
}

/// A project on a simulator whose state is `KEY` in a fresh bucket (lease `lease`), with
/// `instances` accounts.
async fn project(
    test: &str,
    sim: SimConfig,
    lease: &str,
    instances: u32,
) -> Option<(Test, S3Bucket)> {
    let bucket = S3Bucket::new(test).await?;
    let mut config = ConfigBuilder::new().s3(&bucket, KEY, lease);
    for n in 1..=instances {
        config = config.instance(&format!("i{n}"), &account(n));
    }
    let t = Test::with_sim(sim).await.s3_credentials().config(&config);
    Some((t, bucket))
}

async fn bucket_state(bucket: &S3Bucket) -> State {
    let bytes = bucket.get(KEY).await.expect("the state is in the bucket");
    serde_json::from_slice(&bytes).expect("the state parses")
}

fn lock_key() -> String {
    format!("{KEY}.lock")
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_pull_and_a_clean_second_plan_with_everything_in_the_bucket() {
    let Some((t, bucket)) = project("apply on s3", fast_sim(), "30s", 2).await else {
        return;
    };
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert_eq!(t.stats().creates, 2);

    let pulled = t.run(&["state", "pull"]).await;
    pulled.assert_exit(0);
    let state: State = serde_json::from_str(&pulled.stdout).expect("state pull prints the state");
    assert_eq!(state.instances.len(), 2);
    assert_eq!(state, bucket_state(&bucket).await);
    t.run(&["plan", "--detailed-exitcode"]).await.assert_exit(0);

    // State, trail and (after a second writing run) backup live in the bucket; the lock was
    // deleted on release (by a run with nothing to do too), the conditions probe too; nothing
    // beside the configuration.
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    t.run(&["state", "mv", "i2", "renamed"])
        .await
        .assert_exit(0);
    let keys = bucket.keys().await;
    assert_eq!(
        keys,
        vec![
            KEY.to_owned(),
            format!("{KEY}.backup"),
            format!("{KEY}.history.jsonl")
        ]
    );
    let files: Vec<_> = std::fs::read_dir(t.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files, vec!["flexform.yaml".to_owned()]);

    t.run(&["history", "verify"]).await.assert_exit(0);
    t.run(&["report"]).await.assert_exit(0);
    t.run(&["state", "list"])
        .await
        .assert_exit(0)
        .assert_stdout_contains("i1\t");
    t.run(&["state", "show", "renamed"]).await.assert_exit(0);
    let sid = bucket_state(&bucket).await.instances["renamed"]
        .flex_instance_sid
        .to_string();
    t.run(&["state", "rm", "renamed"]).await.assert_exit(0);
    assert_eq!(bucket_state(&bucket).await.instances.len(), 1);
    t.run(&["import", "i2", &sid]).await.assert_exit(0);
    assert_eq!(
        bucket_state(&bucket).await.instances["i2"]
            .flex_instance_sid
            .to_string(),
        sid
    );
    t.run(&["history", "verify"]).await.assert_exit(0);
    let history = t.run(&["history"]).await;
    history.assert_exit(0);
    for command in ["apply", "state mv", "state rm", "import"] {
        history.assert_stdout_contains(&format!("  {command}  "));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn state_pull_of_a_key_not_yet_written_prints_an_empty_state() {
    let Some((t, bucket)) = project("pull on s3", fast_sim(), "30s", 1).await else {
        return;
    };
    let pulled = t.run(&["state", "pull"]).await;
    pulled.assert_exit(0);
    let state: State = serde_json::from_str(&pulled.stdout).expect("an empty state");
    assert!(state.instances.is_empty());
    assert_eq!(state.serial, 0);
    assert!(bucket.keys().await.is_empty(), "a read wrote nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_concurrent_applies_one_blocked_the_lease_renewed_no_duplicate() {
    let Some((t, bucket)) = project("concurrent applies on s3", fast_sim(), "4s", 3).await else {
        return;
    };
    // The creates' answers are held 12 s: the first apply runs past several 4 s leases.
    t.sim().set_faults(Faults {
        hold_create_response_ms: Some(12_000),
        ..Faults::default()
    });
    let first = t.spawn(&["apply", "--auto-approve"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while bucket.get(&lock_key()).await.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first apply never took the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Past the first lease: only a renewed lock still holds.
    tokio::time::sleep(Duration::from_millis(6_000)).await;
    let second = t.run(&["apply", "--auto-approve"]).await;
    second.assert_exit(1).assert_stderr_contains("locked by");
    assert!(
        second.stderr.contains("apply since") && second.stderr.contains("lease until"),
        "the blocked run names the holder and its lease: {second:?}"
    );
    first.output().await.assert_exit(0);
    assert_eq!(t.stats().creates, 3, "no duplicate create");
    assert_eq!(bucket_state(&bucket).await.instances.len(), 3);
    assert!(
        bucket.get(&lock_key()).await.is_none(),
        "the lock is deleted on release"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_runners_lease_is_taken_over_and_its_pending_create_resolved() {
    let Some((t, bucket)) = project("killed runner on s3", fast_sim(), "10s", 1).await else {
        return;
    };
    t.crash_during_held_create().await;
    let lock = bucket
        .get(&lock_key())
        .await
        .expect("the killed run left its lock");
    let lock: serde_json::Value = serde_json::from_slice(&lock).unwrap();
    assert_eq!(lock["operation"], "apply");
    assert!(bucket_state(&bucket).await.pending.contains_key("i1"));

    // While the lease runs, the lock holds; with --lock-timeout the run waits it out.
    let blocked = t.run(&["apply", "--auto-approve"]).await;
    blocked.assert_exit(1).assert_stderr_contains("locked by");
    let taken = t
        .run(&["apply", "--auto-approve", "--lock-timeout", "20s"])
        .await;
    taken
        .assert_exit(0)
        .assert_stderr_contains("took over the lock");
    assert_eq!(
        t.stats().creates,
        1,
        "the pending create was resolved, not repeated"
    );
    let state = bucket_state(&bucket).await;
    assert!(state.pending.is_empty());
    assert_eq!(
        state.instances["i1"].flex_instance_sid.to_string(),
        t.sim_sid(&account(1))
    );
    t.run(&["plan", "--detailed-exitcode"]).await.assert_exit(0);
    t.run(&["history", "verify"]).await.assert_exit(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn force_unlock_clears_a_killed_runners_lock_by_its_id_only() {
    let Some((t, bucket)) = project("force-unlock on s3", fast_sim(), "10m", 1).await else {
        return;
    };
    t.crash_during_held_create().await;
    let lock = bucket
        .get(&lock_key())
        .await
        .expect("the killed run left its lock");
    let id = serde_json::from_slice::<serde_json::Value>(&lock).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let blocked = t.run(&["apply", "--auto-approve"]).await;
    blocked
        .assert_exit(1)
        .assert_stderr_contains(&format!("flexform force-unlock {id}"));
    t.run(&["force-unlock", "not-the-id"]).await.assert_exit(1);
    assert!(bucket.get(&lock_key()).await.is_some());
    t.run(&["force-unlock", &id]).await.assert_exit(0);
    assert!(bucket.get(&lock_key()).await.is_none());
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert_eq!(t.stats().creates, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_update_is_refused_and_nothing_is_merged() {
    let Some((t, bucket)) = project("lost update on s3", fast_sim(), "30s", 1).await else {
        return;
    };
    t.sim().set_faults(Faults {
        hold_create_response_ms: Some(3_000),
        ..Faults::default()
    });
    let run = t.spawn(&["apply", "--auto-approve"]);
    // The run wrote its pending create before its POST; another writer (one that ignores
    // flexform's lock) replaces the state meanwhile.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut theirs = loop {
        if let Some(bytes) = bucket.get(KEY).await {
            let state: State = serde_json::from_slice(&bytes).unwrap();
            if state.pending.contains_key("i1") {
                break state;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no pending create was written"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    theirs.serial += 10;
    let theirs = serde_json::to_vec_pretty(&theirs).unwrap();
    bucket.put(KEY, &theirs).await;

    let outcome = run.output().await;
    outcome
        .assert_exit(1)
        .assert_stderr_contains(&format!("s3://{}/{KEY}", bucket.bucket))
        .assert_stderr_contains("412");
    assert_eq!(
        bucket.get(KEY).await.unwrap(),
        theirs,
        "the other writer's state stands, not merged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn push_and_pull_move_an_estate_from_a_file_to_s3_and_back() {
    let Some(bucket) = S3Bucket::new("push and pull on s3").await else {
        return;
    };
    let local = ConfigBuilder::new().instance("i1", &account(1));
    let t = Test::with_sim(fast_sim())
        .await
        .s3_credentials()
        .config(&local);
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let recorded = t.state();

    t.write_config(&local.clone().s3(&bucket, KEY, "30s"));
    t.run(&["state", "push", "flexform.state.json"])
        .await
        .assert_exit(0);
    assert_eq!(bucket_state(&bucket).await.instances, recorded.instances);
    t.run(&["plan", "--detailed-exitcode"]).await.assert_exit(0);
    t.run(&["history", "verify"]).await.assert_exit(0);

    // And back: pull from S3 into a file, which the local backend then serves.
    let pulled = t.run(&["state", "pull"]).await;
    pulled.assert_exit(0);
    t.write("from-s3.json", &pulled.stdout);
    t.write_config(&local);
    std::fs::remove_file(t.state_path()).unwrap();
    t.run(&["state", "push", "from-s3.json"])
        .await
        .assert_exit(0);
    assert_eq!(t.state().instances, recorded.instances);
    t.run(&["plan", "--detailed-exitcode"]).await.assert_exit(0);
}

/// A state object that does not parse is an error naming it, its line and its backup object,
/// for reading and writing commands alike; it is never overwritten.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_state_object_is_named_with_its_line_and_backup_and_left_alone() {
    let Some((t, bucket)) = project("corrupt state on s3", fast_sim(), "30s", 1).await else {
        return;
    };
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let corrupt = b"{\n  \"serial\": \"three\"\n}\n".to_vec();
    bucket.put(KEY, &corrupt).await;
    let url = format!("s3://{}/{KEY}", bucket.bucket);
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve"],
        &["state", "pull"],
    ] {
        let outcome = t.run(args).await;
        outcome
            .assert_exit(1)
            .assert_stderr_contains(&format!("state file {url}:2:"))
            .assert_stderr_contains(&format!("Restore it from {url}.backup"));
    }
    assert_eq!(bucket.get(KEY).await.unwrap(), corrupt, "left as it was");
    assert!(
        bucket.get(&lock_key()).await.is_none(),
        "no lock left behind"
    );
    assert_eq!(t.stats().creates, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn history_verify_on_s3_finds_a_changed_line() {
    let Some((t, bucket)) = project("verify on s3", fast_sim(), "30s", 1).await else {
        return;
    };
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    t.run(&["history", "verify"]).await.assert_exit(0);
    let trail_key = format!("{KEY}.history.jsonl");
    let trail = String::from_utf8(bucket.get(&trail_key).await.unwrap()).unwrap();
    let tampered = trail.replacen("\"apply\"", "\"import\"", 1);
    assert_ne!(trail, tampered);
    bucket.put(&trail_key, tampered.as_bytes()).await;
    let verdict = t.run(&["history", "verify"]).await;
    assert_ne!(verdict.code, Some(0), "{verdict:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_are_a_clear_error_and_the_secret_is_never_printed() {
    let endpoint = match std::env::var("FLEXFORM_TEST_S3_AUTH_ENDPOINT") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            return crate::common::unavailable(
                "wrong credentials on s3",
                "FLEXFORM_TEST_S3_AUTH_ENDPOINT is not set (scripts/components.sh: start_moto)",
            )
        }
    };
    let config = ConfigBuilder::new()
        .section(&format!(
            "state:\n  backend: s3\n  bucket: acme-flexform\n  key: {KEY}\n  endpoint: {endpoint}\n"
        ))
        .instance("i1", &account(1));
    let t = Test::with_sim(fast_sim())
        .await
        .s3_credentials()
        .config(&config);
    for args in [
        &["apply", "--auto-approve", "-vv"][..],
        &["plan", "-vv"],
        &["state", "pull"],
    ] {
        let outcome = t.run(args).await;
        outcome
            .assert_exit(1)
            .assert_stderr_contains(&format!("s3://acme-flexform/{KEY}"))
            .assert_stderr_contains(&endpoint)
            .assert_stderr_contains("InvalidAccessKeyId")
            .assert_stderr_contains("check the AWS credentials");
        assert!(
            !outcome.stderr.contains(S3_SECRET) && !outcome.stdout.contains(S3_SECRET),
            "the secret was printed: {outcome:?}"
        );
    }
    assert_eq!(t.stats().requests, 0, "nothing reached Twilio");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_that_strips_the_condition_headers_is_refused_before_twilio() {
    let Some(bucket) = S3Bucket::new("stripping proxy on s3").await else {
        return;
    };
    let proxy = s3_proxy(bucket.endpoint.clone(), S3Fault::StripConditions).await;
    let config = ConfigBuilder::new()
        .section(&format!(
            "state:\n  backend: s3\n  bucket: {}\n  key: {KEY}\n  endpoint: {proxy}\n",
            bucket.bucket
        ))
        .instance("i1", &account(1));
    let t = Test::with_sim(fast_sim())
        .await
        .s3_credentials()
        .config(&config);
    let outcome = t.run(&["apply", "--auto-approve"]).await;
    outcome
        .assert_exit(1)
        .assert_stderr_contains("ignores conditional writes")
        .assert_stderr_contains("If-None-Match")
        .assert_stderr_contains(&proxy);
    assert_eq!(t.stats().requests, 0, "nothing was sent to Twilio");
    assert!(
        bucket.keys().await.is_empty(),
        "no state, lock or probe left: {:?}",
        bucket.keys().await
    );
    // Straight to the store, the same bucket is used.
    t.write_config(
        &ConfigBuilder::new()
            .s3(&bucket, KEY, "30s")
            .instance("i1", &account(1)),
    );
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
}

/// Two runs meet the same expired lock at once: both read it, both wait at the failpoint
/// before taking it over (so that their takeovers overlap), both send `If-Match` on the
/// expired lock's ETag: only one can win; the other finds the winner's live lock and is
/// blocked. Nothing is created twice.
#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn of_two_runs_taking_over_one_expired_lock_only_one_wins() {
    let Some((t, bucket)) = project("two takers on s3", fast_sim(), "30s", 2).await else {
        return;
    };
    let expired = serde_json::json!({
        "id": "dead-run", "who": "ci@gone", "where": "process 1", "operation": "apply",
        "created": "2026-01-01T00:00:00Z", "expires": "2026-01-01T00:00:30Z",
        "flexform_version": "0.1.0"
    });
    bucket
        .put(&lock_key(), &serde_json::to_vec(&expired).unwrap())
        .await;
    let pause = [("FAILPOINTS", Some("state::s3::before_takeover=sleep(2000)"))];
    let runs = [
        t.command_with_env(&["apply", "--auto-approve"], &pause),
        t.command_with_env(&["apply", "--auto-approve"], &pause),
    ]
    .map(|mut command| command.spawn().expect("flexform starts"));
    let outcomes: Vec<_> = runs
        .into_iter()
        .map(|child| crate::common::Outcome::from(child.wait_with_output().unwrap()))
        .collect();
    let took_over: Vec<_> = outcomes
        .iter()
        .filter(|o| o.stderr.contains("took over the lock") && o.stderr.contains("ci@gone"))
        .collect();
    assert_eq!(
        took_over.len(),
        1,
        "exactly one run took the lock over: {outcomes:?}"
    );
    took_over[0].assert_exit(0);
    let loser = outcomes
        .iter()
        .find(|o| !o.stderr.contains("took over"))
        .unwrap();
    loser
        .assert_exit(1)
        .assert_stderr_contains("locked by")
        .assert_stderr_contains("apply since");
    assert!(
        !loser.stderr.contains("ci@gone"),
        "names the winner: {loser:?}"
    );
    assert_eq!(t.stats().creates, 2, "each account's instance once");
    assert!(bucket.get(&lock_key()).await.is_none());
}

/// A write that lands but whose answer is lost (a gateway's 500) is read back, found written,
/// and the run carries on: neither resent blindly (which would meet its own write's 412 and
/// take it for another writer's) nor reported as failed.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_write_whose_answer_is_lost_is_read_back_not_resent() {
    let Some(bucket) = S3Bucket::new("lost answers on s3").await else {
        return;
    };
    let proxy = s3_proxy(bucket.endpoint.clone(), S3Fault::LoseStateWriteAnswers).await;
    let config = ConfigBuilder::new()
        .section(&format!(
            "state:\n  backend: s3\n  bucket: {}\n  key: {KEY}\n  endpoint: {proxy}\n",
            bucket.bucket
        ))
        .instance("i1", &account(1))
        .instance("i2", &account(2));
    let t = Test::with_sim(fast_sim())
        .await
        .s3_credentials()
        .config(&config);
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert_eq!(t.stats().creates, 2);
    let state = bucket_state(&bucket).await;
    assert_eq!(state.instances.len(), 2);
    assert!(state.pending.is_empty() && state.history_unwritten.is_empty());
    t.run(&["plan", "--detailed-exitcode"]).await.assert_exit(0);
    t.run(&["history", "verify"]).await.assert_exit(0);
}

/// A run stalled past its lease (SIGSTOP, as a suspended VM) whose lock another run took over
/// and wrote under: resumed, it writes nothing more and says why; what it made is found and
/// adopted by the next run.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_run_whose_lock_was_taken_over_writes_nothing_more() {
    let Some((t, bucket)) = project("stalled run on s3", fast_sim(), "2s", 1).await else {
        return;
    };
    t.sim().set_faults(Faults {
        hold_create_response_ms: Some(6_000),
        ..Faults::default()
    });
    let stalled = t.spawn(&["apply", "--auto-approve"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !bucket_state_has_pending(&bucket).await {
        assert!(
            std::time::Instant::now() < deadline,
            "no pending create was written"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SAFETY: plain FFI calls on a child this test started and has not reaped.
    unsafe { libc::kill(stalled.id() as libc::pid_t, libc::SIGSTOP) };
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    // Another run takes the lock over and forgets the interrupted create.
    let other = t.run(&["state", "rm", "i1", "--lock-timeout", "20s"]).await;
    other
        .assert_exit(0)
        .assert_stderr_contains("took over the lock");
    let theirs = bucket.get(KEY).await.unwrap();
    unsafe { libc::kill(stalled.id() as libc::pid_t, libc::SIGCONT) };
    let outcome = stalled.output().await;
    outcome.assert_exit(1);
    assert!(
        outcome.stderr.contains("was taken over by")
            || outcome.stderr.contains("was not renewed within its lease"),
        "{outcome:?}"
    );
    assert_eq!(
        bucket.get(KEY).await.unwrap(),
        theirs,
        "nothing more was written"
    );
    // The instance it made is found by discovery and adopted; nothing is made twice.
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert_eq!(t.stats().creates, 1);
    assert_eq!(bucket_state(&bucket).await.instances.len(), 1);
}

async fn bucket_state_has_pending(bucket: &S3Bucket) -> bool {
    match bucket.get(KEY).await {
        Some(bytes) => serde_json::from_slice::<State>(&bytes)
            .map(|s| !s.pending.is_empty())
            .unwrap_or(false),
        None => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn push_moves_an_estate_from_postgres_to_s3() {
    let Some(url) = crate::common::database_url("postgres to s3") else {
        return;
    };
    let Some(bucket) = S3Bucket::new("postgres to s3").await else {
        return;
    };
    let estate = ConfigBuilder::new().instance("i1", &account(1));
    let t = Test::with_sim(fast_sim())
        .await
        .s3_credentials()
        .env("FLEXFORM_DATABASE_URL", &url)
        .config(&estate.clone().postgres(&crate::common::workspace()));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let pulled = t.run(&["state", "pull"]).await;
    pulled.assert_exit(0);
    t.write("estate.json", &pulled.stdout);
    t.write_config(&estate.s3(&bucket, KEY, "30s"));
    t.run(&["state", "push", "estate.json"])
        .await
        .assert_exit(0);
    let on_s3 = bucket_state(&bucket).await;
    let from_pg: State = serde_json::from_str(&pulled.stdout).unwrap();
    assert_eq!(on_s3.instances, from_pg.instances);
    assert_eq!(on_s3.lineage, from_pg.lineage);
    t.run(&["plan", "--detailed-exitcode"]).await.assert_exit(0);
    t.run(&["history", "verify"]).await.assert_exit(0);
}

/// HTTPS to the store, trusted through the system's store (`SSL_CERT_FILE` naming a CA made
/// with openssl), through a real proxy (tinyproxy, `HTTPS_PROXY`, CONNECT), as a pipeline behind a
/// corporate proxy reaches S3.
#[tokio::test(flavor = "multi_thread")]
async fn https_to_the_store_through_a_real_proxy_trusting_the_systems_certificates() {
    let Some((bucket, ca)) = S3Bucket::new_tls("s3 over https through a proxy").await else {
        return;
    };
    let Some(proxy) = crate::environment::Tinyproxy::start() else {
        return crate::common::unavailable(
            "s3 over https through a proxy",
            "tinyproxy is not installed (.ci/run installs it)",
        );
    };
    let config = ConfigBuilder::new()
        .s3(&bucket, KEY, "30s")
        .instance("i1", &account(1));
    let t = Test::with_sim(fast_sim())
        .await
        .s3_credentials()
        .config(&config);
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let ca = ca.to_str().unwrap();
    let untrusted = t
        .run_with_env(
            &["apply", "--auto-approve"],
            &[("HTTPS_PROXY", Some(&proxy_url))],
        )
        .await;
    untrusted
        .assert_exit(1)
        .assert_stderr_contains(&format!("s3://{}/{KEY}", bucket.bucket))
        .assert_stderr_contains("set SSL_CERT_FILE");
    assert_eq!(
        t.stats().requests,
        0,
        "nothing reached Twilio: {untrusted:?}"
    );
    let vars = [
        ("HTTPS_PROXY", Some(proxy_url.as_str())),
        ("SSL_CERT_FILE", Some(ca)),
    ];
    t.run_with_env(&["apply", "--auto-approve"], &vars)
        .await
        .assert_exit(0);
    assert_eq!(bucket_state(&bucket).await.instances.len(), 1);
    t.run_with_env(&["plan", "--detailed-exitcode"], &vars)
        .await
        .assert_exit(0);
    let port = bucket.endpoint.rsplit(':').next().unwrap();
    assert!(
        proxy.log().contains(&format!("CONNECT 127.0.0.1:{port}")),
        "the requests to the store did not go through the proxy: {}",
        proxy.log()
    );
}

/// Against real AWS, opt-in: FLEXFORM_TEST_AWS_S3_BUCKET names a bucket the ambient AWS
/// credentials may write (with AWS_REGION); the state goes under a fresh prefix
/// `flexform-test-<uuid>/`, left for inspection. Skipped unless set (also in CI: it needs the
/// network and an AWS account).
#[tokio::test(flavor = "multi_thread")]
async fn live_aws_apply_and_a_clean_plan() {
    let Ok(bucket) = std::env::var("FLEXFORM_TEST_AWS_S3_BUCKET") else {
        eprintln!("skipped live AWS test: FLEXFORM_TEST_AWS_S3_BUCKET is not set");
        return;
    };
    let key = format!("flexform-test-{}/flexform.state.json", uuid::Uuid::new_v4());
    let config = ConfigBuilder::new()
        .section(&format!(
            "state:\n  backend: s3\n  bucket: {bucket}\n  key: {key}\n"
        ))
        .instance("i1", &account(1));
    let mut t = Test::with_sim(fast_sim()).await.config(&config);
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "HOME",
    ] {
        if let Ok(value) = std::env::var(name) {
            t = t.env(name, &value);
        }
    }
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    t.run(&["plan", "--detailed-exitcode"]).await.assert_exit(0);
    t.run(&["history", "verify"]).await.assert_exit(0);
    t.run(&["state", "rm", "i1"]).await.assert_exit(0);
}
