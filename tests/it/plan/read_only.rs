//! Plan and drift are read-only (the state and its siblings byte for byte unchanged, no POST),
//! a corrupt or too-new state is an error that nothing overwrites, and missing profile
//! credentials fail before any request.

use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::support::{drift, plan, ready_at_once, record, state_doc, write_state, GO_SID};
use crate::common::{account, ConfigBuilder, Test, SECRET};

#[tokio::test(flavor = "multi_thread")]
async fn plan_and_drift_never_write_the_state_or_its_siblings() {
    let t = ready_at_once().await;
    let (a, b) = (account(16), account(17));
    let stale = t.create_directly(&a, None).await;
    t.write_config(
        &ConfigBuilder::new()
            .instance("stale", &a)
            .instance("missing", &b),
    );
    // The record is out of date (the instance is ready now): apply would refresh it; plan and
    // drift must not.
    write_state(
        &t,
        &[(
            "stale",
            record(&a, &stale, "creation-in-progress", "created", None),
        )],
    );
    let state_before = std::fs::read(t.state_path()).unwrap();
    let url = t.sim().url();
    // Every run below goes through `run_read_only`: same file names, same bytes.
    for args in [
        &["--detailed-exitcode"][..],
        &["--json"],
        &["--format", "markdown"],
        &["--format", "human", "--parallelism", "1"],
    ] {
        let r = plan(&t, &url, args).await;
        assert!(matches!(r.code, Some(0 | 2)), "{args:?}: {r:?}");
    }
    for args in [&[][..], &["--json"], &["--format", "markdown"]] {
        let r = drift(&t, &url, args).await;
        assert_eq!(r.code, Some(0), "{args:?}: {r:?}");
    }
    assert_eq!(std::fs::read(t.state_path()).unwrap(), state_before);
    let names: Vec<String> = t.files().into_keys().collect();
    assert_eq!(names, vec!["flexform.state.json", "flexform.yaml"]);
    let stats = t.stats();
    assert_eq!(stats.create_requests, 1, "only the set-up POST: {stats:?}");
    assert!(stats.gets > 0 && stats.discoveries > 0, "{stats:?}");

    // No state at all: plan and drift do not create one.
    let empty = Test::new().config(&ConfigBuilder::new().instance("missing", &b));
    assert_eq!(
        plan(&empty, &url, &["--detailed-exitcode"]).await.code,
        Some(2)
    );
    assert_eq!(drift(&empty, &url, &[]).await.code, Some(0));
    assert_eq!(
        empty.files().into_keys().collect::<Vec<_>>(),
        vec!["flexform.yaml"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_or_too_new_state_is_an_error_and_stays_byte_for_byte() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no request with an unreadable state")
        .mount(&server)
        .await;
    let a = account(18);
    let corrupt = format!(
        "{{\n  \"format_version\": 1,\n  \"instances\": {{\n    \"support\": {{ \"account_sid\": \"{a}\",\n  oops\n}}\n"
    );
    let mut too_new = state_doc(&[("support", record(&a, GO_SID, "ready", "created", None))]);
    too_new["format_version"] = json!(99);
    too_new["something_new"] = json!({"added": "by a newer flexform"});
    let too_new = serde_json::to_string_pretty(&too_new).unwrap();

    for (case, bytes, expected) in [
        ("corrupt", corrupt.as_str(), "is corrupt"),
        ("too new", too_new.as_str(), "format_version 99"),
    ] {
        let t = Test::new().config(&ConfigBuilder::new().instance("support", &a));
        t.write("flexform.state.json", bytes);
        let runs = [
            plan(&t, &server.uri(), &["--detailed-exitcode"]).await,
            plan(&t, &server.uri(), &["--json"]).await,
            drift(&t, &server.uri(), &[]).await,
            drift(&t, &server.uri(), &["--json"]).await,
            t.run_read_only(&["show"]).await,
        ];
        for r in &runs {
            assert_eq!(r.code, Some(1), "{case}: {r:?}");
            assert!(
                r.stderr.contains("flexform.state.json") && r.stderr.contains(expected),
                "{case}: the error names the file and the problem: {}",
                r.stderr
            );
            assert!(r.stdout.is_empty(), "{case}: {r:?}");
        }
        // Apply must not overwrite it either (it may leave its lock file, nothing else).
        let r = t
            .run(&["apply", "--auto-approve", "--endpoint", &server.uri()])
            .await;
        assert_eq!(r.code, Some(1), "{case}: apply: {r:?}");
        assert_eq!(
            std::fs::read(t.state_path()).unwrap(),
            bytes.as_bytes(),
            "{case}: apply changed the state"
        );
        assert!(
            !t.path("flexform.state.json.backup").exists(),
            "{case}: apply wrote a backup"
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_profile_credentials_fail_before_any_request() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no request without credentials")
        .mount(&server)
        .await;
    let (a, b) = (account(19), account(20));
    let t = Test::new().config(
        &ConfigBuilder::new()
            .section(
                "credentials:\n  emea:\n    key_env: FLEXFORM_TEST_EMEA_KEY\n    secret_env: FLEXFORM_TEST_EMEA_SECRET\n",
            )
            .instance_with("emea-support", &a, "    credentials: emea\n")
            .instance("default-one", &b),
    );
    write_state(
        &t,
        &[("emea-support", record(&a, GO_SID, "ready", "created", None))],
    );

    // Neither variable: the first one is named. The defaults are set, and not used instead.
    let r = plan(&t, &server.uri(), &["--detailed-exitcode"]).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr.contains("FLEXFORM_TEST_EMEA_KEY")
            && r.stderr.contains("emea-support")
            && r.stderr.contains("nothing was sent"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("default-one"),
        "only the failing instance: {}",
        r.stderr
    );
    let d = drift(&t, &server.uri(), &[]).await;
    assert_eq!(d.code, Some(1), "{d:?}");
    assert!(d.stderr.contains("FLEXFORM_TEST_EMEA_KEY"), "{}", d.stderr);

    // The key set, the secret not: the secret is named.
    let r = t
        .run_read_only_with_env(
            &["plan", "--detailed-exitcode", "--endpoint", &server.uri()],
            &[("FLEXFORM_TEST_EMEA_KEY", Some("SKemea"))],
        )
        .await;
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr.contains("FLEXFORM_TEST_EMEA_SECRET") && r.stderr.contains("`emea-support`"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(SECRET), "{}", r.stderr);

    assert!(server.received_requests().await.unwrap().is_empty());
    server.verify().await;
}
