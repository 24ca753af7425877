//! The Flex API client against the built-in simulator: a full provisioning cycle, each of the
//! simulator's fault flags, and no secret in anything the binary prints at its most verbose.

use std::time::{Duration, Instant};

use flexform::client::{ApiError, Discovery, Fetched, InstanceStatus};
use flexform::sim::{self, SimConfig};

use crate::common::api::{account_sid, credentials, fast_retry, flex_client};
use crate::common::{account, ConfigBuilder, Outcome, Test};

#[tokio::test]
async fn full_cycle_create_in_progress_then_ready() {
    let sim = sim::spawn(SimConfig {
        ready_after: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = flex_client(&sim.url(), fast_retry(3));
    assert_eq!(
        client
            .discover(&account_sid(), &credentials())
            .await
            .unwrap(),
        Discovery::None
    );
    let created = client
        .create_instance(&account_sid(), &credentials(), Some(true))
        .await
        .unwrap();
    assert_eq!(created.status, InstanceStatus::CreationInProgress);
    assert_eq!(created.account_sid, account_sid());
    assert_eq!(
        client
            .discover(&account_sid(), &credentials())
            .await
            .unwrap(),
        Discovery::Found(created.flex_instance_sid.clone())
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    match client
        .get_instance(&account_sid(), &credentials(), &created.flex_instance_sid)
        .await
        .unwrap()
    {
        Fetched::Found(instance) => assert_eq!(instance.status, InstanceStatus::Ready),
        Fetched::NotFound => panic!("the created instance is not found"),
    }
    // One instance per account: a second create is a definite 409, not an unknown outcome.
    let err = client
        .create_instance(&account_sid(), &credentials(), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409), "{err}");
    assert_eq!(sim.stats().creates, 1);
}

#[tokio::test]
async fn latency_is_felt_by_every_request() {
    let sim = sim::spawn(SimConfig {
        latency: Duration::from_millis(150),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let started = Instant::now();
    flex_client(&sim.url(), fast_retry(1))
        .discover(&account_sid(), &credentials())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn fail_rate_retries_reads_and_never_repeats_a_create() {
    let sim = sim::spawn(SimConfig {
        fail_rate: 1.0,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = flex_client(&sim.url(), fast_retry(3));
    let err = client
        .discover(&account_sid(), &credentials())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    assert_eq!(
        sim.stats().discoveries,
        3,
        "a read is retried up to max_attempts"
    );
    let err = client
        .create_instance(&account_sid(), &credentials(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err:?}");
    assert_eq!(
        sim.stats().create_requests,
        1,
        "a create answered 503 is never repeated"
    );
    assert_eq!(sim.stats().creates, 0);
}

#[tokio::test]
async fn rate_limit_answers_are_waited_out_and_retried() {
    let sim = sim::spawn(SimConfig {
        rate_limit: Some(2.0),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = flex_client(&sim.url(), fast_retry(6));
    let started = Instant::now();
    for _ in 0..4 {
        client
            .discover(&account_sid(), &credentials())
            .await
            .unwrap();
    }
    let stats = sim.stats();
    assert!(stats.rate_limited >= 1, "{stats:?}");
    assert_eq!(
        client
            .stats()
            .rate_limited
            .load(std::sync::atomic::Ordering::Relaxed),
        stats.rate_limited
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After was not honoured"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_reaches_any_output_at_the_most_verbose_level() {
    let secret = "Zq-very-recognisable-secret-9431";
    let t = Test::with_sim(SimConfig {
        ready_after: Duration::from_millis(100),
        credentials: Some(("SKgood".into(), secret.into())),
        ..SimConfig::default()
    })
    .await
    .config(
        &ConfigBuilder::new()
            .section("credentials:\n  bad:\n    key_env: BAD_KEY\n    secret_env: BAD_SECRET\n")
            .instance("good", &account(1)),
    );
    /// `flexform ARGS -vv --endpoint URL` with the key pair `key`, `pass`.
    async fn run(t: &Test, args: &[&str], key: &str, pass: &str) -> Outcome {
        let url = t.url();
        let mut all = args.to_vec();
        all.extend(["-vv", "--endpoint", &url]);
        let pair = [
            ("TWILIO_API_KEY", Some(key)),
            ("TWILIO_API_SECRET", Some(pass)),
        ];
        t.run_with_env(&all, &pair).await
    }
    let mut outputs = Vec::new();
    // Succeeding calls: plan, apply, plan again.
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve"],
        &["plan", "--json"],
        &["drift"],
    ] {
        let out = run(&t, args, "SKgood", secret).await;
        assert!(
            out.code != Some(1) || args[0] == "drift",
            "{args:?}: {out:?}"
        );
        outputs.push(out);
    }
    // Failing calls: wrong secret (401), and a wrong key with the right secret.
    outputs.push(run(&t, &["plan"], "SKgood", &format!("{secret}-wrong")).await);
    outputs.push(run(&t, &["plan"], "SKwrong", secret).await);
    let last = outputs.last().unwrap();
    last.assert_exit(1);
    assert!(last.stderr.contains("20003") || last.stderr.contains("401"));
    for out in &outputs {
        for stream in [&out.stdout, &out.stderr] {
            assert!(!stream.contains(secret), "the secret leaked:\n{stream}");
            assert!(
                !stream.to_lowercase().contains("authorization"),
                "an auth header leaked:\n{stream}"
            );
        }
    }
    // The state and the history hold no secret either.
    for bytes in t.files().values() {
        assert!(!String::from_utf8_lossy(bytes).contains(secret));
    }
}
