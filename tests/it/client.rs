//! The Flex API client against a wiremock server: exact requests (method, path, auth, headers,
//! body), how answers are read, how errors render, what is retried and what is never repeated,
//! and that the secret never reaches an error message or a log line.

use std::io;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flexform::client::{user_agent, ApiError, Discovery, Fetched, InstanceStatus};
use flexform::config::sid::InstanceSid;
use serde_json::{json, Value};
use tracing_subscriber::util::SubscriberInitExt;
use wiremock::matchers::{basic_auth, body_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use crate::common::api::{
    account_sid, credentials, fast_retry, flex_client, flex_client_with_timeout,
};
use crate::common::{KEY, SECRET};

/// The instance wiremock answers with.
const INSTANCE: &str = "GO0123456789abcdef0123456789abcdef";

fn instance() -> InstanceSid {
    InstanceSid::parse(INSTANCE).unwrap()
}

fn instance_path() -> String {
    format!("/v2/Instances/{INSTANCE}")
}

/// The documented response body of both instance operations.
fn instance_body(status: &str) -> Value {
    json!({
        "flex_instance_sid": INSTANCE,
        "account_sid": account_sid().as_str(),
        "status": status,
        "date_created": "2016-08-01T22:10:40Z",
        "date_updated": "2016-08-01T22:10:40Z"
    })
}

/// `flexform/<version> (<os> <arch>)`, spelled out here so that a change to `user_agent()` shows.
fn expected_user_agent() -> String {
    format!(
        "flexform/{} ({} {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// A request as every call must send it: Basic auth, account header, User-Agent, Accept.
fn authed(verb: &str, route: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(route))
        .and(basic_auth(KEY, SECRET))
        .and(header("I-Twilio-Auth-Account", account_sid().as_str()))
        .and(header("User-Agent", expected_user_agent().as_str()))
        .and(header("Accept", "application/json"))
}

/// Read-only operations must never create anything.
async fn forbid_posts(server: &MockServer) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(server)
        .await;
}

fn twilio_error(code: u32, message: &str, status: u16) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status
    })
}

async fn request_count(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

// 1. create_instance

#[tokio::test]
async fn create_instance_sends_the_documented_request_with_conversations_default() {
    let server = MockServer::start().await;
    authed("POST", "/v2/Instances")
        .and(header("Content-Type", "application/json"))
        .and(body_json(json!({"conversations": {"default": true}})))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(instance_body("creation-in-progress")),
        )
        .expect(1)
        .mount(&server)
        .await;

    let created = flex_client(&server.uri(), fast_retry(3))
        .create_instance(&account_sid(), &credentials(), Some(true))
        .await
        .unwrap();

    assert_eq!(user_agent(), expected_user_agent());
    assert_eq!(created.flex_instance_sid, instance());
    assert_eq!(created.account_sid, account_sid());
    assert_eq!(created.status, InstanceStatus::CreationInProgress);
    assert_eq!(
        created.date_created.as_deref(),
        Some("2016-08-01T22:10:40Z")
    );
}

#[tokio::test]
async fn create_instance_without_conversations_sends_an_empty_object() {
    let server = MockServer::start().await;
    authed("POST", "/v2/Instances")
        .and(header("Content-Type", "application/json"))
        .and(body_json(json!({})))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(instance_body("creation-in-progress")),
        )
        .expect(1)
        .mount(&server)
        .await;

    let created = flex_client(&server.uri(), fast_retry(3))
        .create_instance(&account_sid(), &credentials(), None)
        .await
        .unwrap();

    assert_eq!(created.flex_instance_sid, instance());
    assert_eq!(created.status, InstanceStatus::CreationInProgress);
}

// 2. get_instance

#[tokio::test]
async fn get_instance_200_is_found() {
    let server = MockServer::start().await;
    forbid_posts(&server).await;
    authed("GET", &instance_path())
        .respond_with(ResponseTemplate::new(200).set_body_json(instance_body("ready")))
        .expect(1)
        .mount(&server)
        .await;

    let fetched = flex_client(&server.uri(), fast_retry(3))
        .get_instance(&account_sid(), &credentials(), &instance())
        .await
        .unwrap();

    let Fetched::Found(found) = fetched else {
        panic!("expected Found, got {fetched:?}");
    };
    assert_eq!(found.flex_instance_sid, instance());
    assert_eq!(found.account_sid, account_sid());
    assert_eq!(found.status, InstanceStatus::Ready);
}

#[tokio::test]
async fn get_instance_404_is_not_found_not_an_error() {
    let server = MockServer::start().await;
    forbid_posts(&server).await;
    authed("GET", &instance_path())
        .respond_with(ResponseTemplate::new(404).set_body_json(twilio_error(
            20404,
            "The requested resource was not found",
            404,
        )))
        .expect(1)
        .mount(&server)
        .await;

    let fetched = flex_client(&server.uri(), fast_retry(3))
        .get_instance(&account_sid(), &credentials(), &instance())
        .await
        .unwrap();

    assert_eq!(fetched, Fetched::NotFound);
}

// 3. discover

async fn discover_with(response: ResponseTemplate) -> Result<Discovery, ApiError> {
    let server = MockServer::start().await;
    forbid_posts(&server).await;
    authed("GET", "/v1/Configuration")
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    flex_client(&server.uri(), fast_retry(3))
        .discover(&account_sid(), &credentials())
        .await
}

#[tokio::test]
async fn discover_reads_the_instance_sid_from_the_configuration() {
    let found = discover_with(ResponseTemplate::new(200).set_body_json(json!({
        "account_sid": account_sid().as_str(),
        "flex_instance_sid": INSTANCE,
        "status": "ok",
        "ui_version": "2.0"
    })))
    .await
    .unwrap();
    assert_eq!(found, Discovery::Found(instance()));
}

#[tokio::test]
async fn discover_null_sid_is_none() {
    let none = discover_with(ResponseTemplate::new(200).set_body_json(json!({
        "account_sid": account_sid().as_str(),
        "flex_instance_sid": null,
        "status": "notstarted"
    })))
    .await
    .unwrap();
    assert_eq!(none, Discovery::None);
}

#[tokio::test]
async fn discover_404_is_unavailable() {
    let unavailable = discover_with(ResponseTemplate::new(404).set_body_json(twilio_error(
        20404,
        "Not found",
        404,
    )))
    .await
    .unwrap();
    assert_eq!(unavailable, Discovery::Unavailable);
}

// 4. Error rendering, through the client

#[tokio::test]
async fn classic_401_renders_code_message_link_and_hint() {
    let server = MockServer::start().await;
    authed("GET", &instance_path())
        .respond_with(ResponseTemplate::new(401).set_body_json(twilio_error(
            20003,
            "Authenticate",
            401,
        )))
        .expect(1) // a 401 is final: never retried
        .mount(&server)
        .await;

    let err = flex_client(&server.uri(), fast_retry(3))
        .get_instance(&account_sid(), &credentials(), &instance())
        .await
        .unwrap_err();

    assert!(matches!(err, ApiError::Twilio { .. }), "{err:?}");
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.code(), Some(20003));
    let text = err.to_string();
    let head = format!(
        "Twilio API error 20003 (HTTP 401) on GET /v2/Instances/{INSTANCE}: Authenticate (https://www.twilio.com/docs/errors/20003)"
    );
    assert!(text.starts_with(&head), "{text}");
    let hint = &text[head.len()..];
    assert!(
        hint.starts_with("; ") && hint.contains("credentials"),
        "no hint: {text}"
    );
}

#[tokio::test]
async fn api_standards_v1_error_renders_code_and_message() {
    let server = MockServer::start().await;
    authed("GET", &instance_path())
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "code": 20403,
            "message": "Forbidden",
            "httpStatusCode": 403,
            "params": {},
            "userError": true
        })))
        .expect(1)
        .mount(&server)
        .await;

    let err = flex_client(&server.uri(), fast_retry(3))
        .get_instance(&account_sid(), &credentials(), &instance())
        .await
        .unwrap_err();

    assert!(matches!(err, ApiError::Twilio { .. }), "{err:?}");
    assert_eq!(err.code(), Some(20403));
    assert_eq!(err.status(), Some(403));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "Twilio API error 20403 (HTTP 403) on GET /v2/Instances/{INSTANCE}: Forbidden (https://www.twilio.com/docs/errors/20403)"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn newer_errors_array_renders_its_first_item() {
    let server = MockServer::start().await;
    // A 429 is retried; once the attempts are spent the error body is what the user sees.
    authed("POST", "/v2/Instances")
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "0")
                .set_body_json(json!({"errors": [{
                    "code": 45780,
                    "message": "Too many concurrent requests",
                    "infoUrl": "https://www.twilio.com/docs/errors/45780",
                    "context": {}
                }]})),
        )
        .expect(2)
        .mount(&server)
        .await;

    let err = flex_client(&server.uri(), fast_retry(2))
        .create_instance(&account_sid(), &credentials(), Some(true))
        .await
        .unwrap_err();

    assert!(matches!(err, ApiError::Twilio { .. }), "{err:?}");
    assert_eq!(err.code(), Some(45780));
    let text = err.to_string();
    assert!(
        text.starts_with(
            "Twilio API error 45780 (HTTP 429) on POST /v2/Instances: Too many concurrent requests (https://www.twilio.com/docs/errors/45780)"
        ),
        "{text}"
    );
    assert!(text.contains("rate limiting"), "no hint: {text}");
}

#[tokio::test]
async fn html_502_after_retries_renders_the_status_line() {
    let server = MockServer::start().await;
    authed("GET", &instance_path())
        .respond_with(ResponseTemplate::new(502).set_body_raw(
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
            "text/html",
        ))
        .expect(2)
        .mount(&server)
        .await;

    let err = flex_client(&server.uri(), fast_retry(2))
        .get_instance(&account_sid(), &credentials(), &instance())
        .await
        .unwrap_err();

    assert!(matches!(err, ApiError::Http { status: 502, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("HTTP 502 Bad Gateway on GET /v2/Instances/{INSTANCE}")
    );
}

#[tokio::test]
async fn garbage_200_is_invalid_response_with_a_200_char_excerpt() {
    let server = MockServer::start().await;
    // 1000 characters, some of them two bytes long, so that a byte-based cut would show.
    let body: String = (0..1000)
        .map(|i| {
            if i % 10 == 9 {
                'é'
            } else {
                char::from(b'0' + (i % 10) as u8)
            }
        })
        .collect();
    authed("GET", &instance_path())
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json"))
        .expect(1)
        .mount(&server)
        .await;

    let err = flex_client(&server.uri(), fast_retry(3))
        .get_instance(&account_sid(), &credentials(), &instance())
        .await
        .unwrap_err();

    let ApiError::InvalidResponse {
        status, excerpt, ..
    } = &err
    else {
        panic!("expected InvalidResponse, got {err:?}");
    };
    assert_eq!(*status, 200);
    let first_200: String = body.chars().take(200).collect();
    assert_eq!(excerpt.chars().count(), 200);
    assert_eq!(*excerpt, first_200);
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "unexpected response to GET /v2/Instances/{INSTANCE} (HTTP 200): "
        )),
        "{text}"
    );
    assert!(text.contains(&format!("{first_200:?}")), "{text}");
    let first_201: String = body.chars().take(201).collect();
    assert!(
        !text.contains(&first_201),
        "more than 200 characters quoted: {text}"
    );
}

#[tokio::test]
async fn invalid_sid_in_a_200_is_invalid_response() {
    let server = MockServer::start().await;
    let mut bad = instance_body("ready");
    bad["flex_instance_sid"] = json!("GOnot-a-sid");
    authed("GET", &instance_path())
        .respond_with(ResponseTemplate::new(200).set_body_json(bad))
        .expect(1)
        .mount(&server)
        .await;
    authed("GET", "/v1/Configuration")
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"flex_instance_sid": "GOnot-a-sid"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = flex_client(&server.uri(), fast_retry(3));

    let err = client
        .get_instance(&account_sid(), &credentials(), &instance())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::InvalidResponse { status: 200, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("invalid Flex instance SID"),
        "{err}"
    );

    let err = client
        .discover(&account_sid(), &credentials())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::InvalidResponse { status: 200, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("invalid Flex instance SID"),
        "{err}"
    );
}

// 5. Retries

#[tokio::test]
async fn retry_after_on_429_is_honoured() {
    let server = MockServer::start().await;
    authed("GET", &instance_path())
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    authed("GET", &instance_path())
        .respond_with(ResponseTemplate::new(200).set_body_json(instance_body("ready")))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    // A 1 ms backoff base: only Retry-After can make the client wait a whole second.
    let client = flex_client(&server.uri(), fast_retry(3));

    let started = Instant::now();
    let fetched = client
        .get_instance(&account_sid(), &credentials(), &instance())
        .await
        .unwrap();
    let elapsed = started.elapsed();

    assert!(matches!(fetched, Fetched::Found(_)), "{fetched:?}");
    assert!(
        elapsed >= Duration::from_millis(900),
        "retried after {elapsed:?}"
    );
    assert_eq!(request_count(&server).await, 2);
    let stats = client.stats();
    assert_eq!(
        stats
            .rate_limited
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(stats.retries.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn get_is_retried_on_503_until_it_succeeds() {
    let server = MockServer::start().await;
    authed("GET", &instance_path())
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&server)
        .await;
    authed("GET", &instance_path())
        .respond_with(ResponseTemplate::new(200).set_body_json(instance_body("ready")))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;

    let fetched = flex_client(&server.uri(), fast_retry(5))
        .get_instance(&account_sid(), &credentials(), &instance())
        .await
        .unwrap();

    assert!(matches!(fetched, Fetched::Found(_)), "{fetched:?}");
    assert_eq!(request_count(&server).await, 3);
}

#[tokio::test]
async fn post_answered_500_is_sent_once_and_outcome_unknown() {
    let server = MockServer::start().await;
    authed("POST", "/v2/Instances")
        .respond_with(ResponseTemplate::new(500).set_body_json(twilio_error(
            20500,
            "Internal Server Error",
            500,
        )))
        .expect(1)
        .mount(&server)
        .await;

    let err = flex_client(&server.uri(), fast_retry(5))
        .create_instance(&account_sid(), &credentials(), Some(true))
        .await
        .unwrap_err();

    assert!(
        matches!(err, ApiError::OutcomeUnknown { method: "POST", .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("may have been created"), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn post_answered_429_is_retried_and_succeeds() {
    let server = MockServer::start().await;
    authed("POST", "/v2/Instances")
        .and(body_json(json!({"conversations": {"default": true}})))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    authed("POST", "/v2/Instances")
        .and(body_json(json!({"conversations": {"default": true}})))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(instance_body("creation-in-progress")),
        )
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;

    let created = flex_client(&server.uri(), fast_retry(3))
        .create_instance(&account_sid(), &credentials(), Some(true))
        .await
        .unwrap();

    assert_eq!(created.flex_instance_sid, instance());
    assert_eq!(request_count(&server).await, 2);
}

#[tokio::test]
async fn get_that_times_out_is_a_timeout() {
    let server = MockServer::start().await;
    authed("GET", &instance_path())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(instance_body("ready"))
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = flex_client_with_timeout(&server.uri(), fast_retry(1), Duration::from_millis(200));

    // The answer comes after 3 s; a 200 ms request timeout turns it into a timeout error
    // (without it, the request would succeed).
    let err = client
        .get_instance(&account_sid(), &credentials(), &instance())
        .await
        .unwrap_err();

    assert!(
        matches!(err, ApiError::Timeout { method: "GET", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn post_that_times_out_is_sent_once_and_outcome_unknown() {
    let server = MockServer::start().await;
    authed("POST", "/v2/Instances")
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(instance_body("creation-in-progress"))
                .set_delay(Duration::from_secs(3)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = flex_client_with_timeout(&server.uri(), fast_retry(5), Duration::from_millis(200));

    let err = client
        .create_instance(&account_sid(), &credentials(), Some(true))
        .await
        .unwrap_err();

    assert!(
        matches!(err, ApiError::OutcomeUnknown { method: "POST", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(request_count(&server).await, 1);
}

#[tokio::test]
async fn closed_port_is_a_connect_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = flex_client(&format!("http://127.0.0.1:{port}"), fast_retry(2));

    let err = client
        .get_instance(&account_sid(), &credentials(), &instance())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Connect { method: "GET", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("cannot connect to http://127.0.0.1:"),
        "{err}"
    );

    // Nothing was sent, so a create that cannot connect is not ambiguous.
    let err = client
        .create_instance(&account_sid(), &credentials(), Some(true))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Connect { method: "POST", .. }),
        "{err:?}"
    );
}

// 6. No secret leaks

/// Standard base64 with padding, enough to compute a Basic credential.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A log sink shared with the test.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[test]
fn local_base64_matches_known_values() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(
        base64(b"Aladdin:open sesame"),
        "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
}

/// Runs [`secret_check_alone`] in a process of its own: tracing caches each callsite's interest
/// for the whole process, so in this one binary another test's thread can leave a callsite
/// disabled for the thread-local subscriber the check captures with (seen as a missing
/// `GET … -> 200` line on a loaded machine).
#[test]
fn the_secret_never_reaches_errors_or_logs() {
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "client::secret_check_alone",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ALONE, "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Set when [`secret_check_alone`] runs in its own process.
const ALONE: &str = "FLEXFORM_TEST_SECRET_CHECK_ALONE";

/// The check of [`the_secret_never_reaches_errors_or_logs`]; it does nothing unless that test
/// started it (current_thread: the default subscriber below is thread-local).
#[tokio::test(flavor = "current_thread")]
async fn secret_check_alone() {
    if std::env::var_os(ALONE).is_none() {
        return;
    }
    let capture = Capture::default();
    let writer = capture.clone();
    // `set_default` through SubscriberInitExt also forwards `log` records (reqwest's) here.
    let guard = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish()
        .set_default();

    let server = MockServer::start().await;
    let unauthorized = "GO0123456789abcdef0123456789abcde1";
    let missing = "GO0123456789abcdef0123456789abcde2";
    let slow = "GO0123456789abcdef0123456789abcde3";
    authed("GET", &instance_path())
        .respond_with(ResponseTemplate::new(200).set_body_json(instance_body("ready")))
        .mount(&server)
        .await;
    authed("GET", &format!("/v2/Instances/{unauthorized}"))
        .respond_with(ResponseTemplate::new(401).set_body_json(twilio_error(
            20003,
            "Authenticate",
            401,
        )))
        .mount(&server)
        .await;
    authed("GET", &format!("/v2/Instances/{missing}"))
        .respond_with(ResponseTemplate::new(404).set_body_json(twilio_error(
            20404,
            "Not found",
            404,
        )))
        .mount(&server)
        .await;
    authed("GET", &format!("/v2/Instances/{slow}"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    authed("POST", "/v2/Instances")
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let client = flex_client_with_timeout(&server.uri(), fast_retry(2), Duration::from_millis(200));
    let creds = credentials();
    let sid = |s: &str| InstanceSid::parse(s).unwrap();

    let found = client
        .get_instance(&account_sid(), &creds, &instance())
        .await
        .unwrap();
    assert!(matches!(found, Fetched::Found(_)), "{found:?}");
    let not_found = client
        .get_instance(&account_sid(), &creds, &sid(missing))
        .await
        .unwrap();
    assert_eq!(not_found, Fetched::NotFound);
    let errors = [
        client
            .get_instance(&account_sid(), &creds, &sid(unauthorized))
            .await
            .unwrap_err(),
        client
            .create_instance(&account_sid(), &creds, Some(true))
            .await
            .unwrap_err(),
        client
            .get_instance(&account_sid(), &creds, &sid(slow))
            .await
            .unwrap_err(),
    ];
    assert!(
        matches!(errors[0], ApiError::Twilio { status: 401, .. }),
        "{:?}",
        errors[0]
    );
    assert!(
        matches!(errors[1], ApiError::OutcomeUnknown { .. }),
        "{:?}",
        errors[1]
    );
    assert!(
        matches!(errors[2], ApiError::Timeout { .. }),
        "{:?}",
        errors[2]
    );

    drop(guard);
    let log = capture.text();

    // The capture really saw the client's events, or the checks below would prove nothing.
    assert!(
        log.contains(&format!("GET /v2/Instances/{INSTANCE} -> 200")),
        "{log}"
    );
    assert!(log.contains("POST /v2/Instances -> 500"), "{log}");

    let authorization = server.received_requests().await.unwrap()[0]
        .headers
        .get("Authorization")
        .expect("an Authorization header")
        .to_str()
        .unwrap()
        .to_owned();
    let encoded = base64(format!("{KEY}:{SECRET}").as_bytes());
    assert_eq!(authorization, format!("Basic {encoded}"));

    let mut texts: Vec<String> = errors
        .iter()
        .flat_map(|e| [e.to_string(), format!("{e:?}"), format!("{e:#?}")])
        .collect();
    texts.push(log);
    texts.push(format!("{client:?}"));
    texts.push(format!("{creds:?}"));
    for text in &texts {
        for needle in [SECRET, encoded.as_str(), authorization.as_str()] {
            assert!(!text.contains(needle), "{needle:?} leaked into:\n{text}");
        }
    }
}

#[tokio::test]
async fn garbled_201_is_an_unknown_outcome_not_a_failure() {
    // A 201 means the instance exists: an unreadable body must not read as "nothing created".
    let server = MockServer::start().await;
    authed("POST", "/v2/Instances")
        .respond_with(ResponseTemplate::new(201).set_body_string("<html>proxy</html>"))
        .expect(1)
        .mount(&server)
        .await;
    let err = flex_client(&server.uri(), fast_retry(5))
        .create_instance(&account_sid(), &credentials(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::OutcomeUnknown { .. }), "{err:?}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start().await;
    authed("POST", "/v2/Instances")
        .respond_with(
            ResponseTemplate::new(302).insert_header("Location", instance_path().as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(instance_body("ready")))
        .expect(0)
        .mount(&server)
        .await;
    let err = flex_client(&server.uri(), fast_retry(5))
        .create_instance(&account_sid(), &credentials(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Http { status: 302, .. }), "{err:?}");
}
