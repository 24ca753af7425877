//! Proof of "never twice, never lost": apply dies at every step where a crash matters (the
//! failpoint matrix), and concurrent applies are killed or interrupted at random (chaos);
//! after the next run, every account has at most one instance, every instance the simulator
//! made is in the state, the serial never went down, and the state always parses.
//!
//! Needs the `failpoints` feature (`cargo test --features failpoints`, as `.ci/run` does).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::common::{
    self, account, database_url, workspace, ConfigBuilder, Outcome, S3Bucket, Test,
};
use flexform::sim::SimConfig;
use flexform::state::State;

/// Every point where apply can die, in the order a create meets them. Each is a row of the
/// README's "Guarantees" table.
const POINTS: &[&str] = &[
    // Any request's: the first is the plan's discovery, before anything is written.
    "client::before_send",
    "apply::before_pending",
    "state::journal::before_append",
    "state::journal::before_sync",
    "apply::after_pending_durable",
    "client::before_create_send",
    "client::after_create_send",
    "apply::after_create_answer",
    "apply::after_sid_durable",
    "state::fold::before_write",
    "state::backup::before_rename",
    "state::backup::after_rename",
    "state::file::before_rename",
    "state::file::after_rename",
    "state::fold::before_journal_remove",
];

/// The points around the PostgreSQL backend's compare-and-swap, and the create's own.
const PG_POINTS: &[&str] = &[
    "apply::after_pending_durable",
    "client::before_create_send",
    "client::after_create_send",
    "apply::after_create_answer",
    "apply::after_sid_durable",
    "state::pg::before_cas",
    "state::pg::after_cas",
];

/// The points around the S3 backend's conditional write of the state, and the create's own.
const S3_POINTS: &[&str] = &[
    "apply::after_pending_durable",
    "client::before_create_send",
    "client::after_create_send",
    "apply::after_create_answer",
    "apply::after_sid_durable",
    "state::s3::before_put",
    "state::s3::after_put",
];

/// A short request timeout keeps the in-flight window of an interrupted create short; a
/// killed run's S3 lock holds until its (2 s) lease runs out, so the next run waits for it.
const APPLY: &[&str] = &[
    "apply",
    "--auto-approve",
    "--request-timeout",
    "1s",
    "--lock-timeout",
    "30s",
];

/// The state's key in an S3 case's bucket.
const S3_KEY: &str = "crash/flexform.state.json";

/// `n` instances, in a PostgreSQL workspace when `pg` names one.
fn config(n: u32, pg: Option<&str>) -> ConfigBuilder {
    let base = match pg {
        Some(workspace) => ConfigBuilder::new().postgres(workspace),
        None => ConfigBuilder::new(),
    };
    instances(n, base)
}

/// `n` instances on `base`.
fn instances(n: u32, base: ConfigBuilder) -> ConfigBuilder {
    (1..=n).fold(base, |c, i| c.instance(&format!("i{i}"), &account(i)))
}

/// Where a crash matrix keeps its state.
#[derive(Clone, Copy)]
enum Place<'a> {
    Local,
    /// PostgreSQL at this URL.
    Postgres(&'a str),
    /// A fresh bucket on the test S3 server.
    S3,
}

/// The state as the next reader sees it, which must always parse; `None` before the first.
async fn read_state(t: &Test) -> Option<State> {
    if t.state_path().exists() || t.path("flexform.state.json.journal").exists() {
        return State::load(&t.state_path())
            .unwrap_or_else(|e| panic!("the state does not parse: {e}"));
    }
    let pull = t.run(&["state", "pull"]).await;
    pull.assert_exit(0);
    let state = State::from_bytes(std::path::Path::new("pull"), &pull.output.stdout)
        .unwrap_or_else(|e| panic!("the state does not parse: {e}"));
    // An empty workspace pulls as an empty state at serial 0.
    (state.serial > 0).then_some(state)
}

/// Applies until it succeeds, waiting out the in-flight window of an interrupted create when
/// the plan says one may still be on its way (at most a few rounds).
async fn settle(t: &Test) -> Outcome {
    for _ in 0..5 {
        let outcome = t.run(APPLY).await;
        if outcome.code == Some(0) {
            return outcome;
        }
        assert!(
            outcome.stderr.contains("may still be in flight"),
            "the settling apply failed: {outcome:?}"
        );
        let until = read_state(t)
            .await
            .into_iter()
            .flat_map(|s| s.pending.into_values())
            .filter_map(|p| p.in_flight_until)
            .filter_map(|u| humantime::parse_rfc3339(&u).ok())
            .max()
            .expect("an in-flight pending record");
        if let Ok(wait) = until.duration_since(SystemTime::now()) {
            tokio::time::sleep(wait + Duration::from_millis(100)).await;
        }
    }
    panic!("apply never settled");
}

/// At most one instance per account, and every instance the simulator made is recorded.
async fn assert_invariants(t: &Test) {
    let state = read_state(t).await.expect("a state exists");
    let mut per_account: BTreeMap<String, usize> = BTreeMap::new();
    for instance in t.sim().instances() {
        *per_account.entry(instance.account_sid.clone()).or_default() += 1;
        assert!(
            state
                .instances
                .values()
                .any(|r| r.flex_instance_sid.as_str() == instance.flex_instance_sid),
            "{} on {} was made but is not in the state: {state:#?}",
            instance.flex_instance_sid,
            instance.account_sid
        );
    }
    for (account, count) in per_account {
        assert_eq!(count, 1, "{account} has {count} instances");
    }
    assert!(state.pending.is_empty(), "{:?}", state.pending);
    // No change without its entry: whatever the crash, the trail verifies once settled.
    let verified = t.run(&["history", "verify"]).await;
    assert_eq!(
        verified.code,
        Some(0),
        "the trail after a crash: {verified:?}"
    );
    // And every recorded SID is in an entry (a crashed run's records get a `recover` one).
    let listed = t.run(&["history", "--format", "json"]).await;
    listed.assert_exit(0);
    for record in state.instances.values() {
        assert!(
            listed.stdout.contains(record.flex_instance_sid.as_str()),
            "{} is recorded but in no entry: {}",
            record.flex_instance_sid,
            listed.stdout
        );
    }
}

/// The state file itself, without its journal.
fn state_file(t: &Test) -> State {
    serde_json::from_slice(&t.state_bytes()).expect("the state file parses")
}

/// Checks that apply died where `point` says, by what it left (the README's "what is on disk"
/// column): whether a pending record is durable, whether a create was sent or took effect, and
/// which file the fold had renamed. `before` is the simulator's count of create requests and
/// the state's serial before the crashed run.
fn assert_died_at(point: &str, t: &Test, after_crash: &State, before: (u64, u64)) {
    let (create_requests, serial) = before;
    let backup = t.path("flexform.state.json.backup").exists();
    let journal = t.path("flexform.state.json.journal").exists();
    let sent = t.stats().create_requests - create_requests;
    let unrecorded = t
        .sim()
        .instances()
        .into_iter()
        .filter(|i| {
            !after_crash
                .instances
                .values()
                .any(|r| r.flex_instance_sid.as_str() == i.flex_instance_sid)
        })
        .count();
    match point {
        "client::before_send"
        | "apply::before_pending"
        | "state::journal::before_append"
        | "state::pg::before_cas"
        | "state::s3::before_put" => {
            assert!(after_crash.pending.is_empty(), "{point}: {after_crash:?}");
            assert_eq!(sent, 0, "{point}: no create was sent");
        }
        "state::journal::before_sync"
        | "apply::after_pending_durable"
        | "client::before_create_send"
        | "state::pg::after_cas"
        | "state::s3::after_put" => {
            assert!(!after_crash.pending.is_empty(), "{point}: pending recorded");
            assert_eq!(sent, 0, "{point}: no create was sent");
        }
        "client::after_create_send" | "apply::after_create_answer" => {
            assert!(!after_crash.pending.is_empty(), "{point}: pending kept");
            assert!(unrecorded > 0, "{point}: an instance exists, unrecorded");
        }
        "apply::after_sid_durable" => {
            assert!(after_crash.instances.len() > 1, "{point}: the SID recorded");
        }
        "state::fold::before_write" | "state::backup::before_rename" => {
            assert!(!backup && journal, "{point}: no backup yet, the journal");
            assert_eq!(state_file(t).serial, serial, "{point}: the old file");
        }
        "state::backup::after_rename" | "state::file::before_rename" => {
            assert!(backup && journal, "{point}: the backup, the journal");
            assert_eq!(state_file(t).serial, serial, "{point}: the old file");
        }
        "state::file::after_rename" | "state::fold::before_journal_remove" => {
            assert!(journal, "{point}: the journal, already folded");
            assert_eq!(state_file(t).serial, serial + 1, "{point}: the new file");
        }
        _ => panic!("{point}: no expectation for this point"),
    }
}

/// Kills apply at each of `points` over a fresh estate, then settles and checks.
async fn crash_matrix(points: &[&str], place: Place<'_>) {
    for point in points {
        let mut t = Test::with_sim_ready_after(Duration::ZERO).await;
        let base = match place {
            Place::Local => ConfigBuilder::new(),
            Place::Postgres(url) => {
                t = t.env("FLEXFORM_DATABASE_URL", url);
                ConfigBuilder::new().postgres(&workspace())
            }
            Place::S3 => {
                let bucket = S3Bucket::new("crash matrix on s3")
                    .await
                    .expect("the caller checked for the S3 server");
                t = t.s3_credentials();
                ConfigBuilder::new().s3(&bucket, S3_KEY, "2s")
            }
        };
        t.write_config(&instances(1, base.clone()));
        // A state that exists, so that the crash meets a backup, a journal and a fold.
        t.run(APPLY).await.assert_exit(0);
        let serial_before = read_state(&t).await.unwrap().serial;
        let creates_before = t.stats().create_requests;
        t.write_config(&instances(3, base));

        let crashed = t
            .run_with_env(APPLY, &[("FAILPOINTS", Some(&format!("{point}=panic")))])
            .await;
        assert_eq!(
            crashed.code, None,
            "{point}: apply should have died there: {crashed:?}"
        );
        assert!(
            crashed.stderr.contains(&format!("failpoint {point} panic")),
            "{point}: {crashed:?}"
        );
        let after_crash = read_state(&t).await.expect("the state survives");
        assert_died_at(point, &t, &after_crash, (creates_before, serial_before));
        assert!(
            after_crash.serial >= serial_before,
            "{point}: serial went down"
        );

        settle(&t).await;
        let state = read_state(&t).await.unwrap();
        assert!(
            state.serial >= after_crash.serial,
            "{point}: serial went down"
        );
        assert_eq!(state.instances.len(), 3, "{point}: {state:#?}");
        assert_invariants(&t).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_dies_at_every_crash_point_and_the_next_run_neither_duplicates_nor_loses() {
    crash_matrix(POINTS, Place::Local).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_on_postgres_dies_around_the_compare_and_swap_and_the_next_run_recovers() {
    let Some(url) = database_url("crash matrix on postgres") else {
        return;
    };
    crash_matrix(PG_POINTS, Place::Postgres(&url)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_on_s3_dies_around_the_conditional_write_and_the_next_run_recovers() {
    if S3Bucket::new("crash matrix on s3").await.is_none() {
        return;
    }
    crash_matrix(S3_POINTS, Place::S3).await;
}

/// The final fold failing is an error of the run, and nothing recorded is lost: the next run
/// folds the journal in.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_final_fold_is_not_reported_as_complete_and_the_next_run_folds_it() {
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .config(&config(2, None));
    let outcome = t
        .run_with_env(APPLY, &[("FAILPOINTS", Some("state::fold::fail=return"))])
        .await;
    outcome.assert_exit(1);
    assert!(
        !outcome.stdout.contains("Apply complete!"),
        "a failed fold is not complete: {outcome:?}"
    );
    outcome.assert_stdout_contains("Apply finished with errors.");
    outcome.assert_stderr_contains("kept in the journal");
    assert_eq!(
        read_state(&t).await.unwrap().instances.len(),
        2,
        "readers see the journal"
    );
    let next = t.run(APPLY).await;
    next.assert_exit(0);
    assert!(!t.path("flexform.state.json.journal").exists());
    assert_invariants(&t).await;
}

/// Where apply waits out the settle period after a create answered with a 5xx; reached only
/// with a fault, so it has its own test below.
const SETTLING: &str = "apply::settling";

/// Killed during the settle period after an answered 5xx: the pending record holds the short
/// settle deadline (not the minute an unanswered create gets), and the next plan, once it is
/// over, resolves it by discovery: adopt when the create took effect, create when it did not.
#[tokio::test(flavor = "multi_thread")]
async fn apply_killed_during_the_settle_period_leaves_a_pending_record_the_next_plan_resolves() {
    let pg = database_url("kill during the settle period on postgres");
    for url in [None, pg] {
        for (after_commit, expected) in [(true, "adopt"), (false, "create")] {
            let ws = url.as_ref().map(|_| workspace());
            let mut t = Test::with_sim_ready_after(Duration::ZERO).await;
            if let Some(url) = &url {
                t = t.env("FLEXFORM_DATABASE_URL", url);
            }
            t.write_config(&config(1, ws.as_deref()));
            t.sim().set_faults(flexform::sim::Faults {
                create_error_after_commit: u32::from(after_commit),
                create_error_before_commit: u32::from(!after_commit),
                ..flexform::sim::Faults::default()
            });
            let crashed = t
                .run_with_env(
                    &["apply", "--auto-approve", "--settle-period", "2s"],
                    &[("FAILPOINTS", Some(&format!("{SETTLING}=panic")))],
                )
                .await;
            assert_eq!(crashed.code, None, "died while settling: {crashed:?}");
            let state = read_state(&t).await.expect("the state survives");
            let until = humantime::parse_rfc3339(
                state.pending["i1"]
                    .in_flight_until
                    .as_deref()
                    .expect("a window"),
            )
            .unwrap();
            let left = until.duration_since(SystemTime::now()).unwrap_or_default();
            assert!(
                left <= Duration::from_secs(4),
                "the settle deadline, not the whole window: {left:?}"
            );
            tokio::time::sleep(left + Duration::from_millis(200)).await;
            t.sim().set_faults(flexform::sim::Faults::default());
            let plan = t.run_read_only(&["plan", "--json"]).await;
            plan.assert_exit(0);
            assert_eq!(
                plan.json()["resource_changes"][0]["action"],
                expected,
                "{:?}",
                plan.stdout
            );
            t.run(APPLY).await.assert_exit(0);
            assert_eq!(t.stats().creates, 1);
            assert_invariants(&t).await;
        }
    }
}

/// The README's "Guarantees" table has one row per crash point tested here, naming the
/// backends it is tested on, and no other.
#[test]
fn the_readme_guarantees_table_is_the_crash_points_tested_here() {
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    let section = readme
        .split("### Guarantees")
        .nth(1)
        .expect("a Guarantees section");
    let rows: Vec<(String, String)> = section
        .lines()
        .skip_while(|l| !l.starts_with("| ---"))
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let points: Vec<&str> = cells[1]
                .split('`')
                .skip(1)
                .step_by(2)
                .filter(|p| p.contains("::"))
                .collect();
            assert_eq!(points.len(), 1, "one failpoint per row: {row}");
            (points[0].to_owned(), cells[4].to_owned())
        })
        .collect();
    let mut expected: Vec<(String, String)> = Vec::new();
    for point in POINTS
        .iter()
        .chain(PG_POINTS)
        .chain(S3_POINTS)
        .chain(&["state::fold::fail", SETTLING])
    {
        let local = POINTS.contains(point) || ["state::fold::fail", SETTLING].contains(point);
        let pg = PG_POINTS.contains(point) || *point == SETTLING;
        let s3 = S3_POINTS.contains(point);
        let on: Vec<&str> = [(local, "local"), (pg, "PostgreSQL"), (s3, "S3")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        if !expected.iter().any(|(p, _)| p == point) {
            expected.push(((*point).to_owned(), on.join(", ")));
        }
    }
    let mut found = rows.clone();
    found.sort();
    expected.sort();
    assert_eq!(found, expected, "README rows: {rows:#?}");
}

/// Three applies at a time on one state, one of them killed or interrupted at a random moment
/// each round, the configuration growing every round; then one settling apply.
async fn chaos(t: &Test, rounds: u32, base: ConfigBuilder) {
    use rand::{Rng, SeedableRng};
    let seed = rand::random::<u64>();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut last_serial = 0;
    for round in 1..=rounds {
        t.write_config(&instances(round * 2, base.clone()));
        let mut runs: Vec<_> = (0..3).map(|_| t.spawn(APPLY)).collect();
        let victim = rng.random_range(0..runs.len());
        let hard = rng.random_bool(0.5);
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
        if hard {
            runs[victim].kill();
        } else {
            // SAFETY: plain FFI call on a child this test started and has not reaped.
            unsafe { libc::kill(runs[victim].id() as libc::pid_t, libc::SIGINT) };
        }
        for (i, run) in runs.into_iter().enumerate() {
            let outcome = run.output().await;
            // Any run may find another run's create still in flight and refuse (exit 1);
            // the victim may also have been stopped (signal or 130) or finished first.
            let refused_in_flight =
                outcome.code == Some(1) && outcome.stderr.contains("may still be in flight");
            let stopped = i == victim && (outcome.code.is_none() || outcome.code == Some(130));
            assert!(
                outcome.code == Some(0) || refused_in_flight || stopped,
                "seed {seed} round {round} (victim {victim}, run {i}): {outcome:?}"
            );
            let serial = read_state(t).await.map_or(0, |s| s.serial);
            assert!(serial >= last_serial, "seed {seed}: the serial went down");
            last_serial = serial;
        }
    }
    settle(t).await;
    assert_eq!(
        read_state(t).await.unwrap().instances.len(),
        (rounds * 2) as usize,
        "seed {seed}"
    );
    assert_invariants(t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chaos_on_a_local_state() {
    let t = Test::with_sim(SimConfig {
        ready_after: Duration::from_millis(300),
        latency: Duration::from_millis(30),
        ..SimConfig::default()
    })
    .await;
    chaos(&t, 4, ConfigBuilder::new()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chaos_on_a_postgres_state() {
    let Some(url) = database_url("chaos on postgres") else {
        return;
    };
    let t = Test::with_sim(SimConfig {
        ready_after: Duration::from_millis(300),
        latency: Duration::from_millis(30),
        ..SimConfig::default()
    })
    .await
    .env("FLEXFORM_DATABASE_URL", &url);
    chaos(&t, 4, ConfigBuilder::new().postgres(&workspace())).await;
}

/// On S3 a killed run's lock stays until its lease runs out: the other runs wait it out and
/// take it over (`--lock-timeout`), then resolve what the killed run left.
#[tokio::test(flavor = "multi_thread")]
async fn chaos_on_an_s3_state() {
    let Some(bucket) = S3Bucket::new("chaos on s3").await else {
        return;
    };
    let t = Test::with_sim(SimConfig {
        ready_after: Duration::from_millis(300),
        latency: Duration::from_millis(30),
        ..SimConfig::default()
    })
    .await
    .s3_credentials();
    chaos(&t, 4, ConfigBuilder::new().s3(&bucket, S3_KEY, "5s")).await;
}
