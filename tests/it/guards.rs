//! Never twice, never lost: the guards flexform adds on top of Twilio's one-instance-per-account
//! rule, Ctrl-C and SIGTERM meaning stop in every phase, and an apply that resolves its own
//! unknown outcomes.

use std::io::BufRead;
use std::time::Duration;

use crate::common::{self, account, ConfigBuilder, Outcome, Running, Test};
use flexform::sim::{Faults, SimConfig};
use flexform::state::{PendingCreate, State};

/// The longest a process may take to end after it was told to stop: far above what stopping
/// takes, far below what not stopping would (the waits these tests set up last an hour).
const STOPS_WITHIN: Duration = Duration::from_secs(30);

fn send(child: &Running, signal: libc::c_int) {
    // SAFETY: plain FFI call on a child process this test started and has not reaped.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    assert_eq!(sent, 0, "the signal was delivered");
}

/// Waits for the child to end, failing the test if it is still running after [`STOPS_WITHIN`].
async fn ended(child: Running) -> Outcome {
    tokio::time::timeout(STOPS_WITHIN, child.output())
        .await
        .expect("the process ended soon after it was told to stop")
}

/// Forwards the child's stderr, line by line, so that a test can wait for a line.
fn stderr_lines(child: &mut Running) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let stderr = child.take_stderr();
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Waits for a stderr line containing `text`; every line seen so far is returned.
async fn line_with(
    lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
    text: &str,
) -> Vec<String> {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(STOPS_WITHIN, async {
        while let Some(line) = lines.recv().await {
            let hit = line.contains(text);
            seen.push(line);
            if hit {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "no stderr line with {text:?}: {seen:#?}");
    seen
}

/// Writes a state holding one pending create for `name` on `account`, in flight until
/// `in_flight_until`, as an apply killed mid-create leaves it.
fn write_pending(t: &Test, name: &str, account: &str, in_flight_until: &str) {
    let mut state = State::empty();
    state.serial = 1;
    state.pending.insert(
        name.to_owned(),
        PendingCreate {
            account_sid: flexform::config::sid::AccountSid::parse(account).unwrap(),
            address: format!("flex_instance.{name}"),
            conversations_default: None,
            started_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            in_flight_until: Some(in_flight_until.to_owned()),
            clock: None,
        },
    );
    std::fs::write(t.state_path(), state.to_bytes()).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Ctrl-C and SIGTERM
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_waiting_for_provisioning_stops_at_once_with_the_sid_recorded() {
    let t = Test::with_sim_ready_after(Duration::from_secs(3600))
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    let mut child = t.spawn(&["apply", "--auto-approve", "--wait-timeout", "1h"]);
    let mut lines = stderr_lines(&mut child);
    line_with(&mut lines, "creation-in-progress").await;
    send(&child, libc::SIGTERM);
    let outcome = ended(child).await;
    outcome.assert_exit(130);
    let state = t.state();
    let record = &state.instances["a"];
    assert_eq!(record.flex_instance_sid.as_str(), t.sim_sid(&account(1)));
    assert_eq!(record.status.as_str(), "creation-in-progress");
    assert!(!t.path("flexform.state.json.journal").exists(), "folded");
    let plan = t.run_read_only(&["plan", "--detailed-exitcode"]).await;
    plan.assert_exit(0);
    plan.assert_stdout_contains("still being provisioned");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_while_waiting_for_the_lock_ends_the_wait_at_once_and_sends_nothing() {
    let t = Test::with_sim(SimConfig::default())
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    // Another process holds the lock (here: this test, with the operating system's lock).
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(t.path("flexform.state.json.lock"))
        .unwrap();
    held.try_lock().unwrap();
    let mut child = t.spawn(&["apply", "--auto-approve", "--lock-timeout", "1h"]);
    let mut lines = stderr_lines(&mut child);
    line_with(&mut lines, "Waiting for the state lock").await;
    send(&child, libc::SIGINT);
    let outcome = ended(child).await;
    outcome.assert_exit(130);
    assert_eq!(t.stats().requests, 0, "nothing was sent");
    assert!(!t.state_path().exists(), "nothing was written");
    drop(held);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_while_observing_ends_plan_with_130_and_nothing_on_stdout() {
    let t = Test::with_sim(SimConfig {
        latency: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await
    .config(&ConfigBuilder::new().instance("a", &account(1)));
    let child = t.spawn(&["plan"]);
    t.wait_until("the discovery to reach the simulator", || {
        t.stats().requests >= 1
    })
    .await;
    send(&child, libc::SIGINT);
    let outcome = ended(child).await;
    outcome.assert_exit(130);
    assert_eq!(outcome.stdout, "", "no partial plan");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_while_apply_observes_ends_it_with_130_and_sends_no_create() {
    let t = Test::with_sim(SimConfig {
        latency: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await
    .config(&ConfigBuilder::new().instance("a", &account(1)));
    let mut child = t.spawn(&["apply", "--auto-approve"]);
    let mut lines = stderr_lines(&mut child);
    t.wait_until("the discovery to reach the simulator", || {
        t.stats().requests >= 1
    })
    .await;
    send(&child, libc::SIGINT);
    line_with(&mut lines, "stopped while observing").await;
    let outcome = ended(child).await;
    outcome.assert_exit(130);
    assert_eq!(t.stats().create_requests, 0, "nothing was created");
    let recorded = t.state_path().exists().then(|| t.state());
    assert!(
        recorded
            .as_ref()
            .is_none_or(|s| s.instances.is_empty() && s.pending.is_empty()),
        "nothing was recorded: {recorded:?}"
    );
}

/// The PostgreSQL advisory lock's wait ends on a signal too: another apply holds the lock
/// (stuck observing), the second waits, and Ctrl-C ends the wait at once with 130.
#[tokio::test(flavor = "multi_thread")]
async fn a_signal_while_waiting_for_the_postgres_lock_ends_the_wait_with_130() {
    let Some(url) = common::database_url("signal during the postgres lock wait") else {
        return;
    };
    let t = Test::with_sim(SimConfig {
        latency: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await
    .env("FLEXFORM_DATABASE_URL", &url)
    .config(
        &ConfigBuilder::new()
            .postgres(&common::workspace())
            .instance("a", &account(1)),
    );
    let holder = t.spawn(&["apply", "--auto-approve"]);
    t.wait_until("the first apply to hold the lock and observe", || {
        t.stats().requests >= 1
    })
    .await;
    let mut waiter = t.spawn(&["apply", "--auto-approve", "--lock-timeout", "1h"]);
    let mut lines = stderr_lines(&mut waiter);
    line_with(&mut lines, "Waiting for the state lock").await;
    send(&waiter, libc::SIGINT);
    let outcome = ended(waiter).await;
    outcome.assert_exit(130);
    assert_eq!(t.stats().requests, 1, "the waiter sent nothing");
    send(&holder, libc::SIGINT);
    ended(holder).await.assert_exit(130);
    assert_eq!(t.stats().create_requests, 0);
}

/// The same on S3, where the lock is an object: the waiter ends with 130 and leaves the
/// holder's lock alone; the holder, stopped by a signal too, deletes its lock on the way out.
#[tokio::test(flavor = "multi_thread")]
async fn a_signal_while_waiting_for_the_s3_lock_ends_the_wait_and_the_holder_releases_it() {
    let Some(bucket) = common::S3Bucket::new("signal during the s3 lock wait").await else {
        return;
    };
    let key = "guards/flexform.state.json";
    let t = Test::with_sim(SimConfig {
        latency: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await
    .s3_credentials()
    .config(
        &ConfigBuilder::new()
            .s3(&bucket, key, "4s")
            .instance("a", &account(1)),
    );
    let holder = t.spawn(&["apply", "--auto-approve"]);
    t.wait_until("the first apply to hold the lock and observe", || {
        t.stats().requests >= 1
    })
    .await;
    let lock = format!("{key}.lock");
    let held = bucket.get(&lock).await.expect("the holder's lock");
    let mut waiter = t.spawn(&["apply", "--auto-approve", "--lock-timeout", "1h"]);
    let mut lines = stderr_lines(&mut waiter);
    line_with(&mut lines, "Waiting for the state lock").await;
    // Past the holder's first lease: it renews, so the waiter keeps waiting.
    tokio::time::sleep(Duration::from_secs(5)).await;
    send(&waiter, libc::SIGINT);
    let outcome = ended(waiter).await;
    outcome.assert_exit(130);
    assert!(!outcome.stderr.contains("took over"), "{outcome:?}");
    let renewed = bucket.get(&lock).await.expect("the holder's lock stays");
    let id =
        |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).unwrap()["id"].clone();
    assert_eq!(id(&renewed), id(&held), "the same holder");
    assert_ne!(renewed, held, "renewed: a later expiry");
    assert_eq!(t.stats().requests, 1, "the waiter sent nothing");
    send(&holder, libc::SIGINT);
    ended(holder).await.assert_exit(130);
    assert!(bucket.get(&lock).await.is_none(), "released on the way out");
    assert_eq!(t.stats().create_requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_during_a_429_backoff_sends_no_create_and_forgets_the_pending_record() {
    // One request per 40 s: the discovery takes it, the create meets a 429 and waits.
    let t = Test::with_sim(SimConfig {
        rate_limit: Some(0.025),
        ..SimConfig::default()
    })
    .await
    .config(&ConfigBuilder::new().instance("a", &account(1)));
    let mut child = t.spawn(&["apply", "--auto-approve", "--request-timeout", "60s"]);
    let mut lines = stderr_lines(&mut child);
    t.wait_until("the create to meet a 429", || t.stats().rate_limited >= 1)
        .await;
    send(&child, libc::SIGINT);
    let seen = line_with(&mut lines, "Interrupted").await;
    let outcome = ended(child).await;
    outcome.assert_exit(130);
    let stats = t.stats();
    assert_eq!(
        stats.create_requests, 1,
        "only the refused create: {stats:?}"
    );
    assert_eq!(stats.creates, 0);
    let state = t.state();
    assert!(state.pending.is_empty(), "{state:?}");
    assert!(
        seen.iter()
            .any(|l| l.contains("not started: flex_instance.a")),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_exits_at_once_and_the_next_plan_adopts_what_was_on_the_wire() {
    let t = Test::with_sim(SimConfig::default())
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.sim().set_faults(Faults {
        hold_create_response_ms: Some(3_600_000),
        ..Faults::default()
    });
    let mut child = t.spawn(&["apply", "--auto-approve"]);
    let mut lines = stderr_lines(&mut child);
    t.wait_until("the create to be made", || t.stats().creates >= 1)
        .await;
    send(&child, libc::SIGINT);
    line_with(&mut lines, "Interrupt received").await;
    send(&child, libc::SIGINT);
    let outcome = ended(child).await;
    outcome.assert_exit(130);
    t.sim().set_faults(Faults::default());
    // The pending record was durable before the POST; the next plan resolves it.
    assert!(t.state().pending.contains_key("a"));
    let plan = t.run_read_only(&["plan", "--json"]).await;
    plan.assert_exit(0);
    assert_eq!(plan.json()["resource_changes"][0]["action"], "adopt");
}

// ---------------------------------------------------------------------------------------------
// Unknown outcomes resolve in the same run
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_create_answered_500_after_it_took_effect_is_adopted_in_the_same_run() {
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.sim().set_faults(Faults {
        create_error_after_commit: 1,
        ..Faults::default()
    });
    let outcome = t
        .run(&["apply", "--auto-approve", "--request-timeout", "1s"])
        .await;
    outcome.assert_exit(0);
    outcome.assert_stderr_contains("leaves its outcome open");
    assert_eq!(t.stats().create_requests, 1, "never sent twice");
    let state = t.state();
    assert_eq!(
        state.instances["a"].flex_instance_sid.as_str(),
        t.sim_sid(&account(1))
    );
    assert!(state.pending.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_that_met_503s_converge_in_one_apply_with_one_instance_per_account() {
    let t = Test::with_sim(SimConfig {
        ready_after: Duration::ZERO,
        fail_rate: 0.4,
        seed: Some(7),
        ..SimConfig::default()
    })
    .await
    .config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2))
            .instance("c", &account(3)),
    );
    let outcome = t
        .run(&[
            "apply",
            "--auto-approve",
            "--request-timeout",
            "1s",
            "--settle-period",
            "1s",
        ])
        .await;
    outcome.assert_exit(0);
    let state = t.state();
    for n in 1..=3 {
        let sid = t.sim_sid(&account(n)); // exactly one instance on the account
        assert!(
            state
                .instances
                .values()
                .any(|r| r.flex_instance_sid.as_str() == sid),
            "{sid} is recorded"
        );
    }
    assert!(state.pending.is_empty());
    assert!(t.stats().failed > 0, "the fail rate was felt");
}

/// A create rate limited past its send window (one request timeout) is given up unsent: the
/// 429 was never processed, so nothing was created, the pending record is cleared, and the
/// next run creates it.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_rate_limited_past_its_send_window_is_not_sent_and_the_next_run_creates_it() {
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    // Retry-After 1 s with a 1 s send window: the retry would come after the window ended,
    // whatever the machine's speed (the window starts before the first send).
    t.sim().set_faults(Faults {
        create_rate_limited_secs: Some(1),
        ..Faults::default()
    });
    let outcome = t
        .run(&["apply", "--auto-approve", "--request-timeout", "1s"])
        .await;
    outcome.assert_exit(1);
    outcome.assert_stderr_contains("its send window ended");
    outcome.assert_stderr_contains("nothing was created");
    let stats = t.stats();
    assert_eq!(
        stats.create_requests, 1,
        "no create sent after the window: {stats:?}"
    );
    assert_eq!(stats.creates, 0);
    let state = t.state();
    assert!(
        state.pending.is_empty(),
        "a create never processed leaves no pending record: {state:?}"
    );
    assert!(state.instances.is_empty());

    t.sim().set_faults(Faults::default());
    let plan = t.run_read_only(&["plan", "--json"]).await;
    plan.assert_exit(0);
    assert_eq!(plan.json()["resource_changes"][0]["action"], "create");
    t.run(&["apply", "--auto-approve", "--request-timeout", "1s"])
        .await
        .assert_exit(0);
    let state = t.state();
    assert_eq!(
        state.instances["a"].flex_instance_sid.as_str(),
        t.sim_sid(&account(1))
    );
    assert!(state.pending.is_empty());
    assert_eq!(t.stats().creates, 1);
    t.run_read_only(&["plan", "--detailed-exitcode"])
        .await
        .assert_exit(0);
}

// ---------------------------------------------------------------------------------------------
// Answered 5xx: settle, look, send again; within a budget
// ---------------------------------------------------------------------------------------------

/// One test workspace on each backend: the local state file, PostgreSQL when the test
/// database is there and S3 when the test server is (else each says it was skipped).
async fn on_each_backend(test: &str, sim: SimConfig, instances: &[(&str, String)]) -> Vec<Test> {
    let mut places = vec![(ConfigBuilder::new(), Test::with_sim(sim.clone()).await)];
    if let Some(url) = common::database_url(test) {
        let t = Test::with_sim(sim.clone())
            .await
            .env("FLEXFORM_DATABASE_URL", &url);
        places.push((ConfigBuilder::new().postgres(&common::workspace()), t));
    }
    if let Some(bucket) = common::S3Bucket::new(&format!("{test} (s3)")).await {
        let t = Test::with_sim(sim.clone()).await.s3_credentials();
        places.push((
            ConfigBuilder::new().s3(&bucket, "guards/flexform.state.json", "30s"),
            t,
        ));
    }
    places
        .into_iter()
        .map(|(mut config, t)| {
            for (name, account) in instances {
                config = config.instance(name, account);
            }
            t.config(&config)
        })
        .collect()
}

/// The state as read through flexform (either backend).
async fn pulled(t: &Test) -> State {
    let pull = t.run(&["state", "pull"]).await;
    pull.assert_exit(0);
    State::from_bytes(std::path::Path::new("pull"), &pull.output.stdout).unwrap()
}

/// An apply that settles in a second, as these tests run it.
const SETTLE_1S: &[&str] = &["apply", "--auto-approve", "--settle-period", "1s"];

/// Exactly one instance on each account, and it is the one recorded under its name.
async fn assert_one_each(t: &Test, names: &[(&str, String)]) -> State {
    let state = pulled(t).await;
    for (name, account) in names {
        assert_eq!(
            t.sim()
                .instances()
                .iter()
                .filter(|i| &i.account_sid == account)
                .count(),
            1,
            "{account}"
        );
        assert_eq!(
            state.instances[*name].flex_instance_sid.as_str(),
            t.sim_sid(account)
        );
    }
    assert!(state.pending.is_empty(), "{state:?}");
    state
}

#[tokio::test(flavor = "multi_thread")]
async fn creates_answered_503_before_creating_are_sent_again_after_the_settle_period() {
    let names = [("a", account(1))];
    for t in on_each_backend("answered 503 on postgres", fast_sim(), &names).await {
        t.sim().set_faults(Faults {
            create_error_before_commit: 2,
            ..Faults::default()
        });
        let started = std::time::Instant::now();
        let outcome = t.run(SETTLE_1S).await;
        outcome.assert_exit(0);
        // Seconds, not the minute the in-flight window of an unanswered create would take.
        assert!(started.elapsed() < Duration::from_secs(30), "{outcome:?}");
        outcome.assert_stderr_contains("leaves its outcome open");
        outcome.assert_stderr_contains("looking again in 1s");
        assert!(
            !outcome.stderr.contains("waiting up to"),
            "an answered create is not waited out: {outcome:?}"
        );
        let stats = t.stats();
        assert_eq!((stats.create_requests, stats.creates), (3, 1), "{stats:?}");
        assert_one_each(&t, &names).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_answered_500_after_creating_is_found_after_the_settle_period_and_recorded() {
    let names = [("a", account(1)), ("b", account(2))];
    for t in on_each_backend("answered 500 on postgres", fast_sim(), &names).await {
        t.sim().set_faults(Faults {
            create_error_after_commit: 2,
            ..Faults::default()
        });
        let outcome = t.run(SETTLE_1S).await;
        outcome.assert_exit(0);
        let stats = t.stats();
        assert_eq!(
            (stats.create_requests, stats.creates),
            (2, 2),
            "never sent twice: {stats:?}"
        );
        let state = assert_one_each(&t, &names).await;
        assert_eq!(
            state.instances["a"].origin,
            flexform::state::Origin::Created
        );
    }
}

/// The first create took effect but was answered 500, and discovery lags behind it, so the
/// look after the settle period finds nothing and the create is sent again: Twilio refuses it
/// (409, one instance per account), and apply finds the first by discovery and adopts it, in
/// the same run.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_sent_again_and_refused_409_adopts_the_instance_in_the_same_run() {
    let names = [("a", account(1))];
    for t in on_each_backend("409 on a resend on postgres", fast_sim(), &names).await {
        t.sim().set_faults(Faults {
            create_error_after_commit: 1,
            discovery_lag_ms: Some(4_000),
            ..Faults::default()
        });
        let outcome = t.run(SETTLE_1S).await;
        outcome.assert_exit(0);
        outcome.assert_stderr_contains("20409");
        outcome.assert_stderr_contains("an earlier one took effect; adopting it");
        let stats = t.stats();
        assert_eq!((stats.create_requests, stats.creates), (2, 1), "{stats:?}");
        let state = assert_one_each(&t, &names).await;
        assert_eq!(
            state.instances["a"].origin,
            flexform::state::Origin::Adopted
        );
        t.run_read_only(&["plan", "--detailed-exitcode"])
            .await
            .assert_exit(0);
    }
}

/// A gateway that answers every create with an HTML 502: apply gives up after eight answers
/// in a row that did not come from Twilio, in well under a minute with the default settle
/// period, naming the gateway and what the next run does; the pending record stays, and once
/// the gateway is fixed the next run creates the instance.
#[tokio::test(flavor = "multi_thread")]
async fn creates_every_one_answered_by_a_gateway_give_up_naming_it_and_the_next_run_creates() {
    let t = Test::with_sim(fast_sim())
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.sim().set_faults(Faults {
        create_gateway_error: true,
        ..Faults::default()
    });
    let outcome = t.run(SETTLE_1S).await;
    outcome.assert_exit(1);
    outcome.assert_stderr_contains("gave up after 8 creates");
    outcome.assert_stderr_contains("the last answer was HTML 502 from a gateway");
    outcome.assert_stderr_contains("check the proxy or gateway");
    outcome.assert_stderr_contains("the next `flexform apply` looks again by discovery");
    assert_eq!(t.stats().create_requests, 8);
    assert_eq!(t.stats().creates, 0);
    assert!(t.state().pending.contains_key("a"));

    t.sim().set_faults(Faults::default());
    // The last create's settle period (rounded up to the second) is over.
    tokio::time::sleep(Duration::from_secs(2)).await;
    t.run(SETTLE_1S).await.assert_exit(0);
    assert_one_each(&t, &[("a", account(1))]).await;
}

/// Twilio answering every create 503: apply sends again within `--create-budget`, then gives
/// up naming the last answer (HTTP status and Twilio code) and what the next run does.
#[tokio::test(flavor = "multi_thread")]
async fn ambiguous_creates_give_up_after_the_create_budget_naming_the_last_answer() {
    let t = Test::with_sim(SimConfig {
        create_fail_rate: 1.0,
        ..fast_sim()
    })
    .await
    .config(&ConfigBuilder::new().instance("a", &account(1)));
    let started = std::time::Instant::now();
    let outcome = t
        .run(&[
            "apply",
            "--auto-approve",
            "--settle-period",
            "1s",
            "--create-budget",
            "3s",
        ])
        .await;
    outcome.assert_exit(1);
    assert!(started.elapsed() < Duration::from_secs(30), "{outcome:?}");
    outcome.assert_stderr_contains("the last answer was HTTP 503 with Twilio code 20503");
    outcome.assert_stderr_contains("--create-budget allows it longer");
    let sent = t.stats().create_requests;
    assert!(
        (2..=4).contains(&sent),
        "sent again within the budget: {sent}"
    );
    assert_eq!(t.stats().creates, 0);
}

/// A create that got no answer (it timed out: it may still be on its way) is not given the
/// short settle period: apply waits out the whole in-flight window before it looks.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_without_an_answer_waits_out_the_whole_window_not_the_settle_period() {
    let t = Test::with_sim(fast_sim())
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.sim().set_faults(Faults {
        hold_create_response_ms: Some(3_000),
        ..Faults::default()
    });
    let outcome = t
        .run(&[
            "apply",
            "--auto-approve",
            "--request-timeout",
            "1s",
            "--settle-period",
            "1s",
            "--json",
        ])
        .await;
    outcome.assert_exit(0);
    let unknown = outcome
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["type"] == "outcome_unknown")
        .expect("an outcome_unknown event");
    assert_eq!(unknown["answered"], false, "{unknown}");
    let window = unknown["look_in_seconds"].as_f64().unwrap();
    assert!(
        window > 1.0,
        "send window + request timeout, not 1s: {window}"
    );
    assert_eq!(t.stats().create_requests, 1, "found, never sent twice");
    assert_one_each(&t, &[("a", account(1))]).await;
}

fn fast_sim() -> SimConfig {
    SimConfig {
        ready_after: Duration::ZERO,
        ..SimConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Pending creates are resolved on their own account
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_create_interrupted_before_the_account_changed_is_found_on_its_own_account() {
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.crash_during_held_create().await;
    let made = t.sim_sid(&account(1));
    // The configuration now names another account.
    t.write_config(&ConfigBuilder::new().instance("a", &account(2)));
    let plan = t.run_read_only(&["plan", "--json"]).await;
    plan.assert_exit(0);
    let doc = plan.json();
    let change = &doc["resource_changes"][0];
    assert_eq!(change["action"], "adopt", "{doc:#}");
    assert_eq!(change["account_sid"], account(1).as_str());
    assert_eq!(change["after"]["flex_instance_sid"], made.as_str());
    assert_eq!(doc["diagnostics"][0]["kind"], "account_mismatch");
    assert_eq!(t.stats().create_requests, 1);

    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let state = t.state();
    assert_eq!(state.instances["a"].flex_instance_sid.as_str(), made);
    assert_eq!(state.instances["a"].account_sid.as_str(), account(1));
    assert!(state.pending.is_empty());
    assert_eq!(t.stats().create_requests, 1, "no create on the new account");
    // From now on the recorded account differs from the configured one: an error until fixed.
    let drift = t.run_read_only(&["drift"]).await;
    drift.assert_exit(1);
    drift.assert_stderr_contains("account_sid");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rename_does_not_bypass_a_create_still_in_flight() {
    let t = Test::with_sim(SimConfig::default()).await;
    // `team-a`'s create on the account may still be on its way to Twilio.
    write_pending(&t, "team-a", &account(1), "2099-01-01T00:00:00Z");
    t.write_config(&ConfigBuilder::new().instance("team-b", &account(1)));
    let plan = t.run_read_only(&["plan"]).await;
    plan.assert_exit(1);
    plan.assert_stderr_contains("may still be in flight");
    plan.assert_stderr_contains(&account(1));
    let apply = t.run(&["apply", "--auto-approve"]).await;
    apply.assert_exit(1);
    assert_eq!(
        t.stats().create_requests,
        0,
        "no create beside one in flight"
    );
}

/// The in-flight guard of an interrupted create watches the account it was made for, not the
/// one the configuration names now: the message names the old account, and nothing is created
/// on the new one.
#[tokio::test(flavor = "multi_thread")]
async fn a_create_still_in_flight_on_its_old_account_blocks_a_create_on_the_new_one() {
    let t = Test::with_sim(SimConfig::default()).await;
    let (old, new) = (account(1), account(2));
    write_pending(&t, "a", &old, "2099-01-01T00:00:00Z");
    t.write_config(&ConfigBuilder::new().instance("a", &new));
    let plan = t.run_read_only(&["plan"]).await;
    plan.assert_exit(1);
    let in_flight: Vec<&str> = plan
        .stderr
        .lines()
        .filter(|l| l.contains("may still be in flight"))
        .collect();
    assert!(!in_flight.is_empty(), "{plan:?}");
    for line in &in_flight {
        assert!(
            line.contains(&old) && !line.contains(&new),
            "names the create's own account: {line}"
        );
    }
    let apply = t.run(&["apply", "--auto-approve"]).await;
    apply.assert_exit(1);
    apply.assert_stderr_contains("may still be in flight");
    assert_eq!(t.stats().create_requests, 0, "nothing created on {new}");
    assert!(t.sim().instances().is_empty());
    assert!(t.state().pending.contains_key("a"), "the record is kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_interrupted_under_a_removed_name_is_still_recorded() {
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.crash_during_held_create().await;
    let made = t.sim_sid(&account(1));
    t.write_config(&ConfigBuilder::new().instance("other", &account(5)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let state = t.state();
    assert_eq!(state.instances["a"].flex_instance_sid.as_str(), made);
    assert!(state.pending.is_empty());
    assert_eq!(t.stats().creates, 2, "`other` created, nothing twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pending_record_holds_the_window_the_request_timeout_implies() {
    let t = Test::with_sim(SimConfig::default())
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.sim().set_faults(Faults {
        hold_create_response_ms: Some(3_600_000),
        ..Faults::default()
    });
    let mut child = t.spawn(&["apply", "--auto-approve", "--request-timeout", "90s"]);
    t.wait_until("the create to be made", || t.stats().creates >= 1)
        .await;
    child.kill();
    let _ = child.output().await;
    let state = t.state();
    let pending = &state.pending["a"];
    let started = humantime::parse_rfc3339(&pending.started_at).unwrap();
    let until = humantime::parse_rfc3339(pending.in_flight_until.as_deref().unwrap()).unwrap();
    let window = until.duration_since(started).unwrap();
    // The send window (one request timeout) plus the request timeout, rounded up.
    assert!(
        window >= Duration::from_secs(180) && window <= Duration::from_secs(182),
        "{window:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The state beside its journal
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_journal_beside_a_moved_state_file_is_an_error_and_nothing_is_written() {
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    t.write_config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2)),
    );
    t.sim().set_faults(Faults {
        hold_create_response_ms: Some(3_600_000),
        ..Faults::default()
    });
    let mut child = t.spawn(&["apply", "--auto-approve"]);
    t.wait_until("b's create to be made", || t.stats().creates >= 2)
        .await;
    child.kill();
    let _ = child.output().await;
    assert!(t.path("flexform.state.json.journal").exists());
    std::fs::rename(t.state_path(), t.path("moved.json")).unwrap();

    let list = t.run(&["state", "list"]).await;
    list.assert_exit(1);
    list.assert_stderr_contains("flexform.state.json.journal");
    list.assert_stderr_contains("does not exist");
    assert_eq!(list.stdout, "");
    let rm = t.run(&["state", "rm", "b"]).await;
    rm.assert_exit(1);
    assert!(!t.state_path().exists(), "nothing was written");
}

// ---------------------------------------------------------------------------------------------
// Saved plans
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_stale_once_a_crashed_run_recorded_anything_in_the_journal() {
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    t.write_config(
        &ConfigBuilder::new()
            .instance("a", &account(1))
            .instance("b", &account(2)),
    );
    t.run(&["plan", "--out", "plan.json"]).await.assert_exit(0);
    // A run crashes after its create for `b` took effect: the journal records it, the state
    // file's serial is what the plan saw.
    let serial = t.state().serial;
    t.sim().set_faults(Faults {
        hold_create_response_ms: Some(3_600_000),
        ..Faults::default()
    });
    let mut child = t.spawn(&["apply", "--auto-approve"]);
    t.wait_until("b's create to be made", || t.stats().creates >= 2)
        .await;
    child.kill();
    let _ = child.output().await;
    t.sim().set_faults(Faults::default());
    assert!(t.path("flexform.state.json.journal").exists());
    let on_disk: State = serde_json::from_slice(&t.state_bytes()).unwrap();
    assert_eq!(on_disk.serial, serial, "the file itself did not change");

    let creates = t.stats().create_requests;
    let apply = t.run(&["apply", "plan.json"]).await;
    apply.assert_exit(1);
    apply.assert_stderr_contains("Saved plan is stale");
    assert_eq!(t.stats().create_requests, creates, "nothing was sent");
    assert!(
        t.state().pending.contains_key("b"),
        "the crashed run's pending record is kept for the next plan"
    );
}

/// `flexform apply 2>&1 | tee log` when Ctrl-C also ends `tee`: stderr is closed before the
/// first signal is reported. The signal is still honoured, the state folded, the run recorded.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_with_a_closed_stderr_still_stops_and_records_the_run() {
    let t = Test::with_sim_ready_after(Duration::from_secs(3600))
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    let mut child = t.spawn(&["apply", "--auto-approve", "--wait-timeout", "1h"]);
    drop(child.take_stderr());
    t.wait_until("the create to be made", || t.stats().creates >= 1)
        .await;
    t.wait_until("the SID to be recorded", || {
        State::load(&t.state_path())
            .ok()
            .flatten()
            .is_some_and(|s| s.instances.contains_key("a"))
    })
    .await;
    send(&child, libc::SIGINT);
    let outcome = ended(child).await;
    outcome.assert_exit(130);
    assert!(!t.path("flexform.state.json.journal").exists(), "folded");
    assert_eq!(t.history().len(), 1, "the run is in the audit trail");
    assert_eq!(
        t.state().instances["a"].flex_instance_sid.as_str(),
        t.sim_sid(&account(1))
    );
}
