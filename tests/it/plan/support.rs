//! What every plan test stands on: the project's state file written record by record, `plan`
//! and `drift` run read-only and checked against each other, and the servers they talk to (a
//! strict wiremock, or the simulator with the test key pair).

use std::time::Duration;

use flexform::sim::SimConfig;
use serde_json::{json, Value};
use wiremock::matchers::{any, basic_auth, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::json::{decode_plan, PlanJson};
use crate::common::{Outcome, Test, KEY, SECRET};

/// The lineage and serial of every state file the tests write.
pub(super) const LINEAGE: &str = "0f6c1c8e-5b5e-4a36-9d55-6f0e8b7c1a01";
/// The serial of every state file the tests write.
pub(super) const SERIAL: u64 = 7;
/// A SID wiremock answers with (the simulator draws its own).
pub(super) const GO_SID: &str = "GO0123456789abcdef0123456789abcdef";
/// What `plan` prints when there is nothing to do.
pub(super) const NO_CHANGES: &str = "No changes. Flex instances match the configuration.";

/// Writes the project's state file: a [`state_doc`] holding `records` by name.
pub(super) fn write_state(t: &Test, records: &[(&str, Value)]) {
    let mut text = serde_json::to_string_pretty(&state_doc(records)).unwrap();
    text.push('\n');
    t.write("flexform.state.json", &text);
}

/// SHA-256 of flexform.yaml's canonical form: the parsed configuration as compact JSON.
pub(super) fn config_canonical_sha256(t: &Test) -> String {
    use sha2::Digest;
    let config = flexform::config::Config::load(&t.path("flexform.yaml")).unwrap();
    let digest = sha2::Sha256::digest(serde_json::to_vec(&config.config).unwrap());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// One state record.
pub(super) fn record(
    account: &str,
    sid: &str,
    status: &str,
    origin: &str,
    conv: Option<bool>,
) -> Value {
    let mut r = json!({
        "account_sid": account,
        "date_created": "2026-01-01T00:00:00Z",
        "date_updated": "2026-01-01T00:00:00Z",
        "flex_instance_sid": sid,
        "observed_at": "2026-01-01T00:00:00Z",
        "origin": origin,
        "status": status,
    });
    if let Some(c) = conv {
        r["conversations_default"] = json!(c);
    }
    r
}

/// A state document holding `records` by name.
pub(super) fn state_doc(records: &[(&str, Value)]) -> Value {
    let instances: serde_json::Map<String, Value> = records
        .iter()
        .map(|(name, r)| ((*name).to_owned(), r.clone()))
        .collect();
    json!({
        "flexform_version": "0.1.0",
        "format_version": 1,
        "instances": instances,
        "lineage": LINEAGE,
        "serial": SERIAL,
    })
}

/// `flexform plan --endpoint URL ARGS`: read-only.
pub(super) async fn plan(t: &Test, url: &str, args: &[&str]) -> Outcome {
    let mut all = vec!["plan", "--endpoint", url];
    all.extend_from_slice(args);
    t.run_read_only(&all).await
}

/// `flexform drift ARGS` with FLEXFORM_ENDPOINT=URL: read-only.
pub(super) async fn drift(t: &Test, url: &str, args: &[&str]) -> Outcome {
    let mut all = vec!["drift"];
    all.extend_from_slice(args);
    t.run_read_only_with_env(&all, &[("FLEXFORM_ENDPOINT", Some(url))])
        .await
}

/// Both commands in both formats, checked against each other.
pub(super) struct Checked {
    pub(super) plan: Outcome,
    pub(super) plan_json: PlanJson,
    pub(super) drift: Outcome,
    pub(super) drift_json: PlanJson,
}

/// `plan --detailed-exitcode` (human and `--json`) and `drift` (human and `--json`), each
/// read-only; asserts the exit codes and that each JSON document matches the state it read.
pub(super) async fn plan_and_drift(
    t: &Test,
    url: &str,
    plan_code: i32,
    drift_code: i32,
) -> Checked {
    let human = plan(t, url, &["--detailed-exitcode"]).await;
    assert_eq!(
        human.code,
        Some(plan_code),
        "plan --detailed-exitcode: {human:?}"
    );
    let as_json = plan(t, url, &["--detailed-exitcode", "--json"]).await;
    assert_eq!(as_json.code, Some(plan_code), "plan --json: {as_json:?}");
    let plan_json = decode_plan(&as_json.stdout);

    let d = drift(t, url, &[]).await;
    assert_eq!(d.code, Some(drift_code), "drift: {d:?}");
    let d_json = drift(t, url, &["--json"]).await;
    assert_eq!(d_json.code, Some(drift_code), "drift --json: {d_json:?}");
    let drift_json = decode_plan(&d_json.stdout);

    // Progress goes to stderr only on a terminal; without errors, stderr stays empty.
    for run in [&human, &as_json, &d, &d_json] {
        assert!(
            run.code == Some(1) || run.stderr.is_empty(),
            "unexpected stderr: {run:?}"
        );
    }
    let has_state = t.state_path().exists();
    for doc in [&plan_json, &drift_json] {
        assert_eq!(doc.config_canonical_sha256, config_canonical_sha256(t));
        if has_state {
            assert_eq!(doc.state_lineage.as_deref(), Some(LINEAGE));
            assert_eq!(doc.state_serial, SERIAL);
            let state = flexform::state::State::load(&t.state_path())
                .unwrap()
                .unwrap();
            assert_eq!(doc.state_sha256, Some(state.content_sha256()));
        } else {
            assert_eq!(doc.state_lineage, None);
            assert_eq!(doc.state_serial, 0);
            assert_eq!(doc.state_sha256, None);
        }
    }
    Checked {
        plan: human,
        plan_json,
        drift: d,
        drift_json,
    }
}

/// A wiremock server where a POST (priority 1) and anything not mocked (priority 255) are
/// failures: plan and drift never create, and every request they send must be expected.
pub(super) async fn strict_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .with_priority(1)
        .named("POST: plan and drift never create")
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400))
        .expect(0)
        .with_priority(u8::MAX)
        .named("a request nobody expected")
        .mount(&server)
        .await;
    server
}

/// `GET /v1/Configuration` for `account`, with the documented headers and Basic auth.
pub(super) fn discovery(account: &str, sid: Option<&str>) -> Mock {
    Mock::given(method("GET"))
        .and(path("/v1/Configuration"))
        .and(header("I-Twilio-Auth-Account", account))
        .and(basic_auth(KEY, SECRET))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "account_sid": account,
            "flex_instance_sid": sid,
            "status": if sid.is_some() { "ok" } else { "notstarted" },
            "url": "https://flex-api.twilio.com/v1/Configuration",
        })))
}

/// `GET /v2/Instances/{sid}` for `account`, with the documented headers and Basic auth.
pub(super) fn fetch(account: &str, sid: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!("/v2/Instances/{sid}")))
        .and(header("I-Twilio-Auth-Account", account))
        .and(basic_auth(KEY, SECRET))
}

/// The body of `GET /v2/Instances/{sid}`.
pub(super) fn instance_body(sid: &str, account: &str, status: &str) -> Value {
    json!({
        "flex_instance_sid": sid,
        "account_sid": account,
        "status": status,
        "date_created": "2026-01-01T00:00:00Z",
        "date_updated": "2026-01-01T00:00:00Z",
    })
}

/// A project with a simulator that accepts only the test key pair. The project adds no
/// `--endpoint` of its own: `plan` passes it, `drift` reads FLEXFORM_ENDPOINT.
pub(super) async fn with_sim(config: SimConfig) -> Test {
    Test::with_sim(SimConfig {
        credentials: Some((KEY.to_owned(), SECRET.to_owned())),
        ..config
    })
    .await
    .no_endpoint()
}

/// [`with_sim`] whose instances turn ready at once.
pub(super) async fn ready_at_once() -> Test {
    with_sim(SimConfig {
        ready_after: Duration::ZERO,
        ..SimConfig::default()
    })
    .await
}

/// Sets the status of the simulator's instance `sid`.
pub(super) fn set_status(t: &Test, sid: &str, status: &str) {
    assert!(t.sim().set_status(sid, status), "no instance {sid}");
}
