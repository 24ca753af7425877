//! The Flex API client against the built-in simulator: a full provisioning cycle, each of the
//! simulator's fault flags, and no secret in anything the binary prints at its most verbose.

use crate::common;
use std::time::{Duration, Instant};

use flexform::client::{
    ApiError, ClientConfig, Discovery, Fetched, FlexClient, InstanceStatus, RetryPolicy,
};
use flexform::config::credentials::Credentials;
use flexform::config::secret::Secret;
use flexform::config::sid::AccountSid;
use flexform::sim::{self, SimConfig};

const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

fn account() -> AccountSid {
    AccountSid::parse(ACCOUNT).unwrap()
}

fn credentials() -> Credentials {
    Credentials {
        username: "SKtest".into(),
        password: Secret::new("test-secret"),
        source: "test".into(),
    }
}

fn client(url: String, max_attempts: u32) -> FlexClient {
    FlexClient::new(ClientConfig {
        retry: RetryPolicy {
            max_attempts,
            base: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
        ..ClientConfig::new(url)
    })
    .unwrap()
}

#[tokio::test]
async fn full_cycle_create_in_progress_then_ready() {
    let sim = sim::spawn(SimConfig {
        ready_after: Duration::from_millis(300),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let client = client(sim.url(), 3);
    assert_eq!(
        client.discover(&account(), &credentials()).await.unwrap(),
        Discovery::None
    );
    let created = client
        .create_instance(&account(), &credentials(), Some(true))
        .await
        .unwrap();
    assert_eq!(created.status, InstanceStatus::CreationInProgress);
    assert_eq!(created.account_sid, account());
    assert_eq!(
        client.discover(&account(), &credentials()).await.unwrap(),
        Discovery::Found(created.flex_instance_sid.clone())
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    match client
        .get_instance(&account(), &credentials(), &created.flex_instance_sid)
        .await
        .unwrap()
    {
        Fetched::Found(instance) => assert_eq!(instance.status, InstanceStatus::Ready),
        Fetched::NotFound => panic!("the created instance is not found"),
    }
    // One instance per account: a second create is a definite 409, not an unknown outcome.
    let err = client
        .create_instance(&account(), &credentials(), None)
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
    client(sim.url(), 1)
        .discover(&account(), &credentials())
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
    let client = client(sim.url(), 3);
    let err = client
        .discover(&account(), &credentials())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    assert_eq!(
        sim.stats().discoveries,
        3,
        "a read is retried up to max_attempts"
    );
    let err = client
        .create_instance(&account(), &credentials(), None)
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
    let client = client(sim.url(), 6);
    let started = Instant::now();
    for _ in 0..4 {
        client.discover(&account(), &credentials()).await.unwrap();
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

#[test]
fn no_secret_reaches_any_output_at_the_most_verbose_level() {
    let secret = "Zq-very-recognisable-secret-9431";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(sim::spawn(SimConfig {
            ready_after: Duration::from_millis(100),
            credentials: Some(("SKgood".into(), secret.into())),
            ..SimConfig::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flexform.yaml"),
        format!(
            "version: 1\ncredentials:\n  bad:\n    key_env: BAD_KEY\n    secret_env: BAD_SECRET\ninstances:\n  good:\n    account_sid: {ACCOUNT}\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str], key: &str, pass: &str| {
        common::flexform()
            .current_dir(dir.path())
            .args(args)
            .args(["-vv", "--endpoint", &sim.url()])
            .env("TWILIO_API_KEY", key)
            .env("TWILIO_API_SECRET", pass)
            .output()
            .unwrap()
    };
    let mut outputs = Vec::new();
    // Succeeding calls: plan, apply, plan again.
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve"],
        &["plan", "--json"],
        &["drift"],
    ] {
        let out = run(args, "SKgood", secret);
        assert!(
            out.status.code() != Some(1) || args[0] == "drift",
            "{args:?}: {}",
            common::stderr(&out)
        );
        outputs.push(out);
    }
    // Failing calls: wrong secret (401), and a wrong key with the right secret.
    outputs.push(run(&["plan"], "SKgood", &format!("{secret}-wrong")));
    outputs.push(run(&["plan"], "SKwrong", secret));
    let last = outputs.last().unwrap();
    assert_eq!(last.status.code(), Some(1));
    assert!(common::stderr(last).contains("20003") || common::stderr(last).contains("401"));
    for out in &outputs {
        for stream in [common::stdout(out), common::stderr(out)] {
            assert!(!stream.contains(secret), "the secret leaked:\n{stream}");
            assert!(
                !stream.to_lowercase().contains("authorization"),
                "an auth header leaked:\n{stream}"
            );
        }
    }
    // The state and the history hold no secret either.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(secret));
    }
    drop(sim);
}
