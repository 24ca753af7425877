//! The Flex API simulator over real HTTP: the create → ready cycle, the one-instance rule, auth,
//! discovery, the Flex Configuration resource (checked against Twilio's schema), every fault,
//! the `/_sim/` controls, the data file, and `flexform sim` as a user runs it. Every request goes
//! to 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use flexform::sim::{self, Faults, SimConfig, SimHandle, SimInstance, SimStats};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::{self, http_client, Outcome, Running, Test};

/// A simulator and a client for it, speaking the Flex API with the pair `key:secret`.
struct Sim {
    handle: SimHandle,
    client: reqwest::Client,
}

impl Sim {
    async fn start(config: SimConfig) -> Self {
        Self {
            handle: sim::spawn(config).await.expect("the simulator starts"),
            client: http_client(),
        }
    }

    async fn with_defaults() -> Self {
        Self::start(SimConfig::default()).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.url())
    }

    fn api(&self, method: reqwest::Method, path: &str, account: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .basic_auth("key", Some("secret"))
            .header("I-Twilio-Auth-Account", account)
    }

    async fn create(&self, account: &str, body: Value) -> reqwest::Response {
        self.api(reqwest::Method::POST, "/v2/Instances", account)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn fetch(&self, account: &str, sid: &str) -> reqwest::Response {
        self.api(
            reqwest::Method::GET,
            &format!("/v2/Instances/{sid}"),
            account,
        )
        .send()
        .await
        .unwrap()
    }

    async fn discover(&self, account: &str) -> reqwest::Response {
        self.api(reqwest::Method::GET, "/v1/Configuration", account)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/Configuration` with a JSON body.
    async fn update_configuration(&self, account: &str, body: Value) -> reqwest::Response {
        self.api(reqwest::Method::POST, "/v1/Configuration", account)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Creates an instance that must be created, and returns its SID.
    async fn created(&self, account: &str) -> String {
        let response = self.create(account, json!({})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["flex_instance_sid"].as_str().unwrap().to_owned()
    }

    async fn control(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }
}

/// Asserts a classic Twilio error body with this HTTP status and code; returns its message.
async fn assert_twilio_error(response: reqwest::Response, status: StatusCode, code: u64) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(
        body["more_info"],
        format!("https://www.twilio.com/docs/errors/{code}"),
        "{body}"
    );
    let message = body["message"].as_str().expect("a message").to_owned();
    assert!(!message.is_empty());
    message
}

fn is_instance_sid(sid: &str) -> bool {
    sid.len() == 34
        && sid.starts_with("GO")
        && sid[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_twilio_date(date: &str) -> bool {
    let b = date.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[tokio::test]
async fn an_instance_is_created_in_progress_then_turns_ready() {
    let account: &str = &common::account(1);
    // In progress for an hour: what a client sees right after the create does not depend on
    // how fast this machine is. (The turn to ready at `ready_after` is unit-tested on a fixed
    // clock in sim::store; below, a second simulator shows it end to end.)
    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await;
    let response = sim
        .create(account, json!({"conversations": {"default": true}}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let fields: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        fields,
        [
            "flex_instance_sid",
            "account_sid",
            "status",
            "date_created",
            "date_updated"
        ]
    );
    let sid = body["flex_instance_sid"].as_str().unwrap().to_owned();
    assert!(is_instance_sid(&sid), "{sid}");
    assert_eq!(body["account_sid"], account);
    assert_eq!(body["status"], "creation-in-progress");
    let created = body["date_created"].as_str().unwrap().to_owned();
    assert!(is_twilio_date(&created), "{created}");
    assert_eq!(body["date_updated"], created);

    let response = sim.fetch(account, &sid).await;
    assert_eq!(response.status(), StatusCode::OK);
    let now: Value = response.json().await.unwrap();
    assert_eq!(now["status"], "creation-in-progress");
    assert_eq!(now["flex_instance_sid"], sid);

    let stats = sim.handle.stats();
    assert_eq!(
        (
            stats.requests,
            stats.creates,
            stats.create_requests,
            stats.gets
        ),
        (2, 1, 1, 1)
    );

    // Ready after `ready_after`: polled until it turns, however long this machine takes.
    let quick = Sim::start(SimConfig {
        ready_after: Duration::from_millis(50),
        ..SimConfig::default()
    })
    .await;
    let body: Value = quick
        .create(account, json!({"conversations": {"default": true}}))
        .await
        .json()
        .await
        .unwrap();
    let sid = body["flex_instance_sid"].as_str().unwrap().to_owned();
    let created = body["date_created"].as_str().unwrap().to_owned();
    let ready = loop {
        let now: Value = quick.fetch(account, &sid).await.json().await.unwrap();
        if now["status"] == "ready" {
            break now;
        }
        assert_eq!(now["status"], "creation-in-progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ready["date_created"], created);
    let updated = ready["date_updated"].as_str().unwrap();
    assert!(is_twilio_date(updated) && updated >= created.as_str());
    assert_eq!(
        quick.handle.instances(),
        [SimInstance {
            flex_instance_sid: sid,
            account_sid: account.to_owned(),
            status: "ready".to_owned(),
            date_created: created,
            date_updated: updated.to_owned(),
            conversations_default: Some(true),
        }]
    );
}

#[tokio::test]
async fn a_second_create_for_the_same_account_is_a_conflict() {
    let account: &str = &common::account(1);
    let other_account: &str = &common::account(2);
    let sim = Sim::with_defaults().await;
    let first = sim.created(account).await;
    let message = assert_twilio_error(
        sim.create(account, json!({"conversations": {"default": false}}))
            .await,
        StatusCode::CONFLICT,
        20409,
    )
    .await;
    assert_eq!(message, "Flex instance already exists for this account");
    let other = sim.created(other_account).await;
    assert_ne!(first, other);
    let stats = sim.handle.stats();
    assert_eq!((stats.creates, stats.create_requests), (2, 3));
    assert_eq!(sim.handle.instances().len(), 2);
}

#[tokio::test]
async fn concurrent_creates_for_one_account_make_exactly_one_instance() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let request = sim
            .api(reqwest::Method::POST, "/v2/Instances", account)
            .json(&json!({}));
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        49
    );
    assert_eq!(sim.handle.instances().len(), 1);
    assert_eq!(sim.handle.stats().creates, 1);
}

#[tokio::test]
async fn an_instance_is_not_found_for_another_account_or_an_unknown_sid() {
    let account: &str = &common::account(1);
    let other_account: &str = &common::account(2);
    let sim = Sim::with_defaults().await;
    let sid = sim.created(account).await;
    assert_eq!(sim.fetch(account, &sid).await.status(), StatusCode::OK);
    let message = assert_twilio_error(
        sim.fetch(other_account, &sid).await,
        StatusCode::NOT_FOUND,
        20404,
    )
    .await;
    assert_eq!(
        message,
        format!("The requested resource /v2/Instances/{sid} was not found")
    );
    let unknown = format!("GO{}", "0".repeat(32));
    assert_twilio_error(
        sim.fetch(account, &unknown).await,
        StatusCode::NOT_FOUND,
        20404,
    )
    .await;
}

#[tokio::test]
async fn requests_without_acceptable_basic_auth_are_refused_and_change_nothing() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;
    let no_auth = sim
        .client
        .post(sim.url("/v2/Instances"))
        .header("I-Twilio-Auth-Account", account)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(no_auth.headers().contains_key("www-authenticate"));
    let message = assert_twilio_error(no_auth, StatusCode::UNAUTHORIZED, 20003).await;
    assert_eq!(message, "Authenticate");
    let empty_secret = sim
        .client
        .get(sim.url("/v1/Configuration"))
        .basic_auth("key", Some(""))
        .header("I-Twilio-Auth-Account", account)
        .send()
        .await
        .unwrap();
    assert_eq!(empty_secret.status(), StatusCode::UNAUTHORIZED);
    assert!(sim.handle.instances().is_empty());
    // Any non-empty pair is accepted when no credentials are configured.
    let any = sim
        .client
        .get(sim.url("/v1/Configuration"))
        .basic_auth("whoever", Some("whatever"))
        .header("I-Twilio-Auth-Account", account)
        .send()
        .await
        .unwrap();
    assert_eq!(any.status(), StatusCode::OK);

    let strict = Sim::start(SimConfig {
        credentials: Some(("SKkey".to_owned(), "right".to_owned())),
        ..SimConfig::default()
    })
    .await;
    let send = |user: &'static str, password: &'static str| {
        strict
            .client
            .post(strict.url("/v2/Instances"))
            .basic_auth(user, Some(password))
            .header("I-Twilio-Auth-Account", account)
            .json(&json!({}))
            .send()
    };
    assert_twilio_error(
        send("SKkey", "wrong").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        20003,
    )
    .await;
    assert_twilio_error(
        send("SKother", "right").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        20003,
    )
    .await;
    assert!(strict.handle.instances().is_empty());
    assert_eq!(
        send("SKkey", "right").await.unwrap().status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn a_missing_or_malformed_account_header_is_a_bad_request() {
    let sim = Sim::with_defaults().await;
    let missing = sim
        .client
        .post(sim.url("/v2/Instances"))
        .basic_auth("key", Some("secret"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let message = assert_twilio_error(missing, StatusCode::BAD_REQUEST, 20001).await;
    assert!(message.contains("I-Twilio-Auth-Account"), "{message}");
    for bad in [
        "ACnope",
        "GO0123456789abcdef0123456789abcdef",
        "AC0123456789abcdef0123456789abcdeg",
    ] {
        let message = assert_twilio_error(
            sim.create(bad, json!({})).await,
            StatusCode::BAD_REQUEST,
            20001,
        )
        .await;
        assert!(
            message.contains("I-Twilio-Auth-Account") && message.contains(bad),
            "{message}"
        );
    }
    assert!(sim.handle.instances().is_empty());
}

#[tokio::test]
async fn a_create_body_of_another_shape_is_a_bad_request() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;
    for body in [
        json!([]),
        json!({"conversations": true}),
        json!({"conversations": {"default": "yes"}}),
        json!({"friendly_name": "x"}),
    ] {
        let message = assert_twilio_error(
            sim.create(account, body.clone()).await,
            StatusCode::BAD_REQUEST,
            20001,
        )
        .await;
        assert!(
            message.starts_with("Invalid request body"),
            "{body}: {message}"
        );
    }
    let not_json = sim
        .api(reqwest::Method::POST, "/v2/Instances", account)
        .body("conversations=true")
        .send()
        .await
        .unwrap();
    assert_twilio_error(not_json, StatusCode::BAD_REQUEST, 20001).await;
    assert!(sim.handle.instances().is_empty());
    assert_eq!(sim.handle.stats().creates, 0);
}

#[tokio::test]
async fn discovery_reports_notstarted_then_inprogress_then_ok() {
    let account: &str = &common::account(1);
    let other_account: &str = &common::account(2);
    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await;
    let discovered = |response: reqwest::Response| async move {
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["account_sid"], account);
        assert_eq!(body["url"], "https://flex-api.twilio.com/v1/Configuration");
        (body["flex_instance_sid"].clone(), body["status"].clone())
    };
    assert_eq!(
        discovered(sim.discover(account).await).await,
        (Value::Null, json!("notstarted"))
    );
    let sid = sim.created(account).await;
    assert_eq!(
        discovered(sim.discover(account).await).await,
        (json!(sid), json!("inprogress"))
    );
    // Ready (set here, as the turn at `ready_after` is tested above): discovery says ok.
    assert!(sim.handle.set_status(&sid, "ready"));
    assert_eq!(
        discovered(sim.discover(account).await).await,
        (json!(sid), json!("ok"))
    );
    // Another account sees nothing of it.
    let other: Value = sim.discover(other_account).await.json().await.unwrap();
    assert_eq!(other["flex_instance_sid"], Value::Null);
    assert_eq!(sim.handle.stats().discoveries, 4);

    sim.handle.set_faults(Faults {
        discovery_unavailable: true,
        ..Faults::default()
    });
    let message =
        assert_twilio_error(sim.discover(account).await, StatusCode::NOT_FOUND, 20404).await;
    assert_eq!(
        message,
        "The requested resource /v1/Configuration was not found"
    );
    // Only discovery is affected.
    assert_eq!(sim.fetch(account, &sid).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let account: &str = &common::account(1);
    let latency = Duration::from_millis(300);
    let sim = Sim::start(SimConfig {
        latency,
        ..SimConfig::default()
    })
    .await;
    let started = Instant::now();
    assert_eq!(sim.discover(account).await.status(), StatusCode::OK);
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    let started = Instant::now();
    let unauthenticated = sim
        .client
        .get(sim.url("/v1/Configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_fail_rate_of_one_answers_503_and_a_failed_post_creates_nothing() {
    let account: &str = &common::account(1);
    let sim = Sim::start(SimConfig {
        fail_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let message = assert_twilio_error(
        sim.create(account, json!({})).await,
        StatusCode::SERVICE_UNAVAILABLE,
        20503,
    )
    .await;
    assert_eq!(message, "Service unavailable");
    assert_eq!(
        sim.discover(account).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(sim.handle.instances().is_empty());
    let stats = sim.handle.stats();
    assert_eq!(
        (
            stats.failed,
            stats.creates,
            stats.create_requests,
            stats.requests
        ),
        (2, 0, 1, 2)
    );
}

#[tokio::test]
async fn a_fail_rate_fails_a_share_of_requests_reproducibly_with_a_seed() {
    async fn outcomes(seed: u64) -> Vec<bool> {
        let account: &str = &common::account(1);
        let sim = Sim::start(SimConfig {
            fail_rate: 0.5,
            seed: Some(seed),
            ..SimConfig::default()
        })
        .await;
        let mut failed = Vec::new();
        for _ in 0..40 {
            failed.push(sim.discover(account).await.status() == StatusCode::SERVICE_UNAVAILABLE);
        }
        assert_eq!(
            sim.handle.stats().failed,
            failed.iter().filter(|f| **f).count() as u64
        );
        failed
    }
    let first = outcomes(11).await;
    let failures = first.iter().filter(|f| **f).count();
    assert!((5..=35).contains(&failures), "{failures} of 40 failed");
    assert_eq!(outcomes(11).await, first);
}

#[tokio::test]
async fn beyond_the_rate_limit_requests_get_429_with_retry_after() {
    let account: &str = &common::account(1);
    let sim = Sim::start(SimConfig {
        rate_limit: Some(2.0),
        ..SimConfig::default()
    })
    .await;
    let mut ok = 0;
    let mut limited = 0;
    let started = Instant::now();
    for _ in 0..10 {
        let response = sim.discover(account).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry_after >= 1);
            assert_twilio_error(response, StatusCode::TOO_MANY_REQUESTS, 20429).await;
            limited += 1;
        } else {
            assert_eq!(response.status(), StatusCode::OK);
            ok += 1;
        }
    }
    // The bucket holds 2 tokens and refills 2 a second, however slow this machine is.
    let refilled = (started.elapsed().as_secs_f64() * 2.0).ceil() as u64;
    assert!(ok >= 2 && ok <= 2 + refilled, "{ok} let through");
    assert!(limited >= 1);
    assert_eq!(sim.handle.stats().rate_limited, limited);
    assert_eq!(sim.handle.stats().requests, 10);
}

#[tokio::test]
async fn a_held_create_response_leaves_a_created_instance_its_client_never_learned() {
    let account: &str = &common::account(1);
    let other_account: &str = &common::account(2);
    let sim = Sim::with_defaults().await;
    sim.handle.set_faults(Faults {
        hold_create_response_ms: Some(3_000),
        ..Faults::default()
    });
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = impatient
        .post(sim.url("/v2/Instances"))
        .basic_auth("key", Some("secret"))
        .header("I-Twilio-Auth-Account", account)
        .json(&json!({}))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let instances = sim.handle.instances();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].account_sid, account);
    assert_eq!(sim.handle.stats().creates, 1);

    // A patient client gets its answer after the hold.
    sim.handle.set_faults(Faults {
        hold_create_response_ms: Some(400),
        ..Faults::default()
    });
    let started = Instant::now();
    sim.created(other_account).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(sim.handle.stats().creates, 2);
}

#[tokio::test]
async fn an_error_after_commit_answers_500_but_the_instance_exists() {
    let account: &str = &common::account(1);
    let other_account: &str = &common::account(2);
    let sim = Sim::with_defaults().await;
    let put = sim
        .control(reqwest::Method::PUT, "/_sim/faults")
        .await
        .json(&json!({"create_error_after_commit": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::NO_CONTENT);
    assert_twilio_error(
        sim.create(account, json!({})).await,
        StatusCode::INTERNAL_SERVER_ERROR,
        20500,
    )
    .await;
    let instances = sim.handle.instances();
    assert_eq!(instances.len(), 1);
    assert_eq!(sim.handle.stats().creates, 1);
    let discovered: Value = sim.discover(account).await.json().await.unwrap();
    assert_eq!(
        discovered["flex_instance_sid"],
        instances[0].flex_instance_sid
    );
    assert_eq!(
        sim.create(account, json!({})).await.status(),
        StatusCode::CONFLICT
    );
    // The fault was for one create only.
    sim.created(other_account).await;
    let faults: Faults = sim
        .control(reqwest::Method::GET, "/_sim/faults")
        .await
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults.create_error_after_commit, 0);
}

#[tokio::test]
async fn control_endpoints_list_set_status_delete_and_report() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;
    let sid = sim.created(account).await;
    let listed: Vec<SimInstance> = sim
        .control(reqwest::Method::GET, "/_sim/instances")
        .await
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed, sim.handle.instances());
    assert_eq!(listed[0].flex_instance_sid, sid);

    let set_status = |sid: String, body: Value| {
        let request = sim
            .client
            .post(sim.url(&format!("/_sim/instances/{sid}/status")))
            .json(&body);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(
        set_status(sid.clone(), json!({"status": "creation-failed"})).await,
        StatusCode::NO_CONTENT
    );
    let fetched: Value = sim.fetch(account, &sid).await.json().await.unwrap();
    assert_eq!(fetched["status"], "creation-failed");
    assert_eq!(
        set_status(format!("GO{}", "0".repeat(32)), json!({"status": "ready"})).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        set_status(sid.clone(), json!({"state": "ready"})).await,
        StatusCode::BAD_REQUEST
    );

    // `deleted` frees the account; the old instance can still be fetched.
    assert!(sim.handle.set_status(&sid, "deleted"));
    let discovered: Value = sim.discover(account).await.json().await.unwrap();
    assert_eq!(discovered["status"], "notstarted");
    let second = sim.created(account).await;
    let old: Value = sim.fetch(account, &sid).await.json().await.unwrap();
    assert_eq!(old["status"], "deleted");

    // DELETE forgets it entirely.
    let delete = |sid: String| {
        let request = sim
            .client
            .delete(sim.url(&format!("/_sim/instances/{sid}")));
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(delete(second.clone()).await, StatusCode::NO_CONTENT);
    assert_eq!(delete(second.clone()).await, StatusCode::NOT_FOUND);
    assert_eq!(
        sim.fetch(account, &second).await.status(),
        StatusCode::NOT_FOUND
    );
    sim.created(account).await;
    assert!(sim.handle.delete_instance(&sid));
    assert!(!sim.handle.delete_instance(&sid));
    assert!(!sim.handle.set_status(&sid, "ready"));
    assert_eq!(sim.handle.instances().len(), 1);

    // Stats over HTTP equal the handle's, and control requests are not counted.
    let stats: SimStats = sim
        .control(reqwest::Method::GET, "/_sim/stats")
        .await
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats, sim.handle.stats());
    assert_eq!(
        (stats.requests, stats.creates, stats.gets, stats.discoveries),
        (7, 3, 3, 1)
    );

    let bad_faults = sim
        .control(reqwest::Method::PUT, "/_sim/faults")
        .await
        .json(&json!({"hold_create_response": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_faults.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_twilio_errors() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;
    let unknown = sim
        .api(reqwest::Method::GET, "/v2/Nothing", account)
        .send()
        .await
        .unwrap();
    assert_twilio_error(unknown, StatusCode::NOT_FOUND, 20404).await;
    let wrong_method = sim
        .api(reqwest::Method::DELETE, "/v2/Instances", account)
        .send()
        .await
        .unwrap();
    assert_twilio_error(wrong_method, StatusCode::METHOD_NOT_ALLOWED, 20004).await;
}

#[tokio::test]
async fn a_seed_makes_instance_sids_reproducible() {
    async fn first_sid(seed: Option<u64>) -> String {
        let account: &str = &common::account(1);
        Sim::start(SimConfig {
            seed,
            ..SimConfig::default()
        })
        .await
        .created(account)
        .await
    }
    assert_eq!(first_sid(Some(42)).await, first_sid(Some(42)).await);
    assert_ne!(first_sid(Some(42)).await, first_sid(Some(43)).await);
    assert_ne!(first_sid(None).await, first_sid(None).await);
}

#[tokio::test]
async fn the_data_file_keeps_instances_across_restarts() {
    let account: &str = &common::account(1);
    let other_account: &str = &common::account(2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.json");
    let config = SimConfig {
        ready_after: Duration::from_secs(3600),
        data: Some(path.clone()),
        ..SimConfig::default()
    };
    let sim = Sim::start(config.clone()).await;
    let first = sim.created(account).await;
    // Answered means written: the file holds the instance before any shutdown.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&first), "{text}");
    let second = sim.created(other_account).await;
    assert!(sim.handle.set_status(&second, "creation-failed"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("creation-failed"), "{text}");
    let before = sim.handle.instances();
    sim.handle.shutdown().await;

    let again = Sim::start(config).await;
    assert_eq!(again.handle.instances(), before);
    let fetched: Value = again.fetch(account, &first).await.json().await.unwrap();
    assert_eq!(fetched["status"], "creation-in-progress");
    assert_eq!(
        again.create(account, json!({})).await.status(),
        StatusCode::CONFLICT
    );
    // A control DELETE is written too.
    let deleted = again
        .client
        .delete(again.url(&format!("/_sim/instances/{first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(!std::fs::read_to_string(&path).unwrap().contains(&first));
}

#[tokio::test]
async fn a_data_file_that_does_not_parse_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.json");
    std::fs::write(&path, "{ not json").unwrap();
    let err = sim::spawn(SimConfig {
        data: Some(path),
        ..SimConfig::default()
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("sim.json"), "{err}");
}

/// Starts `flexform sim ARGS` on a free port from `t`'s folder and returns it with the URL from
/// its first line.
#[cfg(unix)]
async fn start_flexform_sim(t: &Test, args: &[&str]) -> (Running, String) {
    let mut all = vec!["sim", "--listen", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut child = t.spawn(&all);
    let stdout = child.take_stdout();
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let url = first_line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {first_line:?}"))
        .to_owned();
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("url: {url}"))
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    (child, url)
}

/// Sends `signal` (`-TERM`, `-INT`) with `kill` and waits (10 s at most) for the exit: the exit
/// code (`None` when killed by the signal) and everything written on stderr.
#[cfg(unix)]
async fn stop_with(child: Running, signal: &str) -> (Option<i32>, String) {
    let killed = std::process::Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let out = tokio::time::timeout(Duration::from_secs(10), child.output())
        .await
        .unwrap_or_else(|_| panic!("flexform sim ignored {signal}"));
    (out.code, out.stderr)
}

#[cfg(unix)]
#[tokio::test]
async fn flexform_sim_prints_its_url_serves_and_stops_on_sigterm() {
    let account: &str = &common::account(1);
    let t = Test::new();
    let (child, url) = start_flexform_sim(&t, &["--ready-after", "100ms"]).await;
    let client = http_client();
    let created: Value = client
        .post(format!("{url}/v2/Instances"))
        .basic_auth("key", Some("secret"))
        .header("I-Twilio-Auth-Account", account)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["status"], "creation-in-progress");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sid = created["flex_instance_sid"].as_str().unwrap();
    let fetched: Value = client
        .get(format!("{url}/v2/Instances/{sid}"))
        .basic_auth("key", Some("secret"))
        .header("I-Twilio-Auth-Account", account)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["status"], "ready");

    let (code, stderr) = stop_with(child, "-TERM").await;
    assert_eq!(code, Some(0), "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("export FLEXFORM_ENDPOINT={url}")),
        "{stderr}"
    );
    assert!(stderr.contains("TWILIO_API_KEY"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test]
async fn flexform_sim_handles_a_signal_sent_as_soon_as_it_announces_its_url() {
    for signal in ["-TERM", "-INT"] {
        let (child, _url) = start_flexform_sim(&Test::new(), &[]).await;
        let (code, stderr) = stop_with(child, signal).await;
        assert_eq!(code, Some(0), "{signal}, stderr:\n{stderr}");
    }
}

#[test]
fn flexform_sim_refuses_out_of_range_flags() {
    for (flag, name) in [
        ("--fail-rate=2", "--fail-rate"),
        ("--rate-limit=0", "--rate-limit"),
    ] {
        let out = Test::new().run_blocking(&["sim", "--listen", "127.0.0.1:0", flag]);
        out.assert_exit(1).assert_stderr_contains(name);
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}

#[tokio::test]
async fn a_failed_provisioning_frees_the_account_for_a_new_create() {
    let account: &str = &common::account(1);
    // flexform's plan proposes a new create after creation-failed; the simulator allows it.
    let sim = Sim::with_defaults().await;
    let first = sim.created(account).await;
    assert!(sim.handle.set_status(&first, "creation-failed"));
    let discovered: Value = sim.discover(account).await.json().await.unwrap();
    assert_eq!(discovered["flex_instance_sid"], Value::Null);
    let second = sim.created(account).await;
    assert_ne!(first, second);
    let old: Value = sim.fetch(account, &first).await.json().await.unwrap();
    assert_eq!(old["status"], "creation-failed");
}

/// `FLEXFORM_SIM_SECRET` without `--key` does not keep the simulator from starting: it starts,
/// says the secret is not used, and accepts any non-empty credentials.
#[cfg(unix)]
#[test]
fn a_sim_secret_without_a_key_starts_the_simulator_with_a_warning() {
    let mut child =
        Test::new()
            .env("FLEXFORM_SIM_SECRET", "s3cret")
            .spawn(&["sim", "--listen", "127.0.0.1:0"]);
    let mut first_line = String::new();
    BufReader::new(child.take_stdout())
        .read_line(&mut first_line)
        .unwrap();
    let running = first_line.starts_with("listening on http://127.0.0.1:");
    // SAFETY: plain FFI call on a child this test started and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out: Outcome = child.output_blocking();
    assert!(running, "first line {first_line:?}; {out:?}");
    out.assert_exit(0).assert_stderr_contains(
        "warning: a secret is set (--secret or FLEXFORM_SIM_SECRET) but --key is not",
    );
}

/// Twilio's published `flex.v1.configuration` (vendored), turned from OpenAPI 3.0 into JSON
/// Schema: `nullable: true` becomes `anyOf` with `null`, the `status` enum reference is inlined.
/// With the names of its properties.
fn twilio_configuration_schema() -> (jsonschema::Validator, Vec<String>) {
    let path = common::repo_root().join("schemas/twilio/flex.v1.configuration.json");
    let document: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let schemas = &document["components"]["schemas"];
    fn to_json_schema(openapi: &Value, schemas: &Value) -> Value {
        let mut schema = openapi.as_object().expect("a schema object").clone();
        if let Some(Value::String(reference)) = schema.remove("$ref") {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .expect("a local reference");
            return to_json_schema(&schemas[name], schemas);
        }
        if schema.remove("nullable") == Some(Value::Bool(true)) {
            json!({"anyOf": [Value::Object(schema), {"type": "null"}]})
        } else {
            Value::Object(schema)
        }
    }
    let mut schema = to_json_schema(&schemas["flex.v1.configuration"], schemas);
    let properties = schema["properties"].as_object_mut().unwrap();
    let names: Vec<String> = properties.keys().cloned().collect();
    for property in properties.values_mut() {
        *property = to_json_schema(property, schemas);
    }
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the converted schema compiles");
    (validator, names)
}

/// Asserts that `answer` validates against Twilio's schema and holds every property it lists,
/// and nothing else.
fn assert_twilio_configuration(answer: &Value, what: &str) {
    let (validator, names) = twilio_configuration_schema();
    let errors: Vec<String> = validator
        .iter_errors(answer)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{answer:#}");
    let fields = answer.as_object().expect("an object");
    for name in &names {
        assert!(fields.contains_key(name), "{what} lacks {name}: {answer:#}");
    }
    for field in fields.keys() {
        assert!(
            names.contains(field),
            "{what} has {field}, not in the schema"
        );
    }
}

#[tokio::test]
async fn the_configuration_answers_validate_against_twilios_schema() {
    let account: &str = &common::account(1);
    // The schema conversion itself catches what it must.
    let (validator, _) = twilio_configuration_schema();
    assert!(validator.is_valid(&json!({"status": "ok", "ui_language": null})));
    for bad in [
        json!({"status": "ready"}),
        json!({"ui_language": 5}),
        json!({"date_created": "yesterday"}),
        json!({"flex_instance_sid": "GO123"}),
    ] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }

    let sim = Sim::start(SimConfig {
        ready_after: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await;
    let sid = sim.created(account).await;
    let response = sim.discover(account).await;
    assert_eq!(response.status(), StatusCode::OK);
    let provisioning: Value = response.json().await.unwrap();
    assert_twilio_configuration(&provisioning, "a provisioning instance's configuration");
    assert_eq!(provisioning["status"], "inprogress");
    assert_eq!(provisioning["account_sid"], account);
    assert_eq!(provisioning["flex_instance_sid"], sid.as_str());
    assert!(is_twilio_date(
        provisioning["date_created"].as_str().unwrap()
    ));
    assert_eq!(provisioning["ui_language"], "en");
    assert_eq!(provisioning["call_recording_enabled"], false);
    assert!(provisioning["ui_attributes"].as_object().unwrap().len() >= 2);
    assert_eq!(sim.handle.configuration(account).unwrap(), provisioning);

    assert!(sim.handle.set_status(&sid, "ready"));
    let ready: Value = sim.discover(account).await.json().await.unwrap();
    assert_twilio_configuration(&ready, "a ready instance's configuration");
    assert_eq!(ready["status"], "ok");
    assert!(is_twilio_date(ready["date_updated"].as_str().unwrap()));

    let response = sim
        .update_configuration(
            account,
            json!({"account_sid": account, "ui_language": "fr", "crm_type": null}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    assert_twilio_configuration(&updated, "the answer to an update");
}

#[tokio::test]
async fn an_update_sets_simple_properties_and_replaces_json_ones_whole() {
    let account: &str = &common::account(1);
    let other_account: &str = &common::account(2);
    let sim = Sim::with_defaults().await;
    sim.created(account).await;
    let before = sim.handle.configuration(account).unwrap();
    assert_eq!(
        before["ui_attributes"]["colorTheme"]["baseName"],
        "GreyLight"
    );
    let response = sim
        .update_configuration(
            account,
            json!({
                "account_sid": account,
                "call_recording_enabled": true,
                "ui_language": "fr",
                "ui_attributes": {"logLevel": "debug"},
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["call_recording_enabled"], true);
    assert_eq!(updated["ui_language"], "fr");
    // Replaced whole: `colorTheme`, not sent, is gone.
    assert_eq!(updated["ui_attributes"], json!({"logLevel": "debug"}));
    assert!(is_twilio_date(updated["date_updated"].as_str().unwrap()));
    assert!(updated["date_updated"].as_str() >= before["date_updated"].as_str());
    // Everything else is as it was.
    let mut unchanged = updated.clone();
    for name in [
        "call_recording_enabled",
        "ui_language",
        "ui_attributes",
        "date_updated",
    ] {
        unchanged[name] = before[name].clone();
    }
    assert_eq!(unchanged, before);
    // What the answer shows is what GET shows from now on.
    let fetched: Value = sim.discover(account).await.json().await.unwrap();
    assert_eq!(fetched, updated);

    // `null` clears; another account's configuration is untouched and an account without an
    // instance has none to update.
    let cleared: Value = sim
        .update_configuration(
            account,
            json!({"account_sid": account, "ui_attributes": null}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["ui_attributes"], Value::Null);
    let none = sim
        .update_configuration(
            other_account,
            json!({"account_sid": other_account, "ui_language": "de"}),
        )
        .await;
    assert_twilio_error(none, StatusCode::NOT_FOUND, 20404).await;
    assert!(sim.handle.configuration(other_account).is_none());

    let stats = sim.handle.stats();
    assert_eq!(
        (
            stats.configuration_updates,
            stats.discoveries,
            stats.requests
        ),
        (3, 1, 5)
    );
}

#[tokio::test]
async fn refused_updates_answer_400_and_change_nothing() {
    let account: &str = &common::account(1);
    let other_account: &str = &common::account(2);
    let sim = Sim::with_defaults().await;
    sim.created(account).await;
    let before = sim.handle.configuration(account).unwrap();

    let refused = |body: Value| sim.update_configuration(account, body);
    let missing = refused(json!({"ui_language": "fr"})).await;
    let message = assert_twilio_error(missing, StatusCode::BAD_REQUEST, 20001).await;
    assert!(message.contains("account_sid"), "{message}");
    let mismatched = refused(json!({"account_sid": other_account, "ui_language": "fr"})).await;
    let message = assert_twilio_error(mismatched, StatusCode::BAD_REQUEST, 20001).await;
    assert!(
        message.contains(other_account) && message.contains(account),
        "{message}"
    );
    let read_only = refused(json!({
        "account_sid": account,
        "ui_language": "fr",
        "runtime_domain": "https://evil.example",
        "flex_service_instance_sid": "IS00000000000000000000000000000000",
    }))
    .await;
    let message = assert_twilio_error(read_only, StatusCode::BAD_REQUEST, 20001).await;
    assert!(
        message.contains("runtime_domain") && message.contains("flex_service_instance_sid"),
        "{message}"
    );
    let unknown = refused(json!({"account_sid": account, "ui_langauge": "fr"})).await;
    let message = assert_twilio_error(unknown, StatusCode::BAD_REQUEST, 20001).await;
    assert!(message.contains("ui_langauge"), "{message}");
    for (name, value) in [
        ("ui_language", json!(7)),
        ("call_recording_enabled", json!("true")),
        ("integrations", json!({"name": "x"})),
        ("ui_attributes", json!(["logLevel"])),
    ] {
        let response = refused(json!({"account_sid": account, name: value})).await;
        let message = assert_twilio_error(response, StatusCode::BAD_REQUEST, 20001).await;
        assert!(message.contains(name), "{message}");
    }
    let not_an_object = refused(json!([account])).await;
    assert_twilio_error(not_an_object, StatusCode::BAD_REQUEST, 20001).await;
    let form = sim
        .api(reqwest::Method::POST, "/v1/Configuration", account)
        .form(&[("account_sid", account), ("ui_language", "fr")])
        .send()
        .await
        .unwrap();
    let message = assert_twilio_error(form, StatusCode::BAD_REQUEST, 20001).await;
    assert!(message.contains("application/json"), "{message}");
    let unauthenticated = sim
        .client
        .post(sim.url("/v1/Configuration"))
        .header("I-Twilio-Auth-Account", account)
        .json(&json!({"account_sid": account, "ui_language": "fr"}))
        .send()
        .await
        .unwrap();
    assert_twilio_error(unauthenticated, StatusCode::UNAUTHORIZED, 20003).await;

    assert_eq!(sim.handle.configuration(account).unwrap(), before);
    assert_eq!(sim.handle.stats().configuration_updates, 11);
}

#[tokio::test]
async fn the_control_endpoint_changes_a_configuration_out_of_band() {
    let account: &str = &common::account(1);
    let other_account: &str = &common::account(2);
    let sim = Sim::with_defaults().await;
    let sid = sim.created(account).await;
    let control = |method: reqwest::Method, account: &str| {
        sim.client
            .request(method, sim.url(&format!("/_sim/configuration/{account}")))
    };

    let shown: Value = control(reqwest::Method::GET, account)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown, sim.handle.configuration(account).unwrap());
    let response = control(reqwest::Method::PATCH, account)
        .json(&json!({"ui_attributes": {"someone": "else"}, "ui_language": "de", "custom": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["ui_attributes"], json!({"someone": "else"}));
    assert_eq!(patched["ui_language"], "de");
    assert_eq!(patched["custom"], 1);
    let fetched: Value = sim.discover(account).await.json().await.unwrap();
    assert_eq!(fetched, patched);
    assert_eq!(fetched["flex_instance_sid"], sid.as_str());

    // The handle does the same.
    let changed = sim
        .handle
        .set_configuration(account, json!({"crm_enabled": true}))
        .unwrap();
    assert_eq!(changed["crm_enabled"], true);
    assert_eq!(changed["ui_language"], "de");
    let fetched: Value = sim.discover(account).await.json().await.unwrap();
    assert_eq!(fetched["crm_enabled"], true);
    assert_eq!(
        sim.handle.set_configuration(account, json!([1])),
        Err(sim::ConfigurationPatchError::NotAnObject { found: "an array" })
    );
    assert!(matches!(
        sim.handle.set_configuration(other_account, json!({})),
        Err(sim::ConfigurationPatchError::NoInstance { .. })
    ));

    // 404 without a live instance, 400 for a body that is not an object; never counted.
    let status = |response: reqwest::Response| response.status();
    assert_eq!(
        status(
            control(reqwest::Method::GET, other_account)
                .send()
                .await
                .unwrap()
        ),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(
            control(reqwest::Method::PATCH, other_account)
                .json(&json!({}))
                .send()
                .await
                .unwrap()
        ),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(
            control(reqwest::Method::PATCH, account)
                .body("[]")
                .send()
                .await
                .unwrap()
        ),
        StatusCode::BAD_REQUEST
    );
    let stats = sim.handle.stats();
    assert_eq!((stats.requests, stats.configuration_updates), (3, 0));

    // Deleting the instance takes its configuration with it.
    assert!(sim.handle.delete_instance(&sid));
    assert!(sim.handle.configuration(account).is_none());
    sim.created(account).await;
    assert_eq!(
        sim.handle.configuration(account).unwrap()["ui_language"],
        "en"
    );
}

#[tokio::test]
async fn the_data_file_keeps_configuration_changes() {
    let account: &str = &common::account(1);
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig {
        data: Some(dir.path().join("sim.json")),
        ..SimConfig::default()
    };
    let sim = Sim::start(config.clone()).await;
    sim.created(account).await;
    let response = sim
        .update_configuration(
            account,
            json!({"account_sid": account, "ui_attributes": {"logLevel": "debug"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    sim.handle.shutdown().await;
    let again = Sim::start(config).await;
    assert_eq!(again.handle.configuration(account).unwrap(), updated);
}
