//! The Flex API client: one reqwest client, typed operations, the retry policy, no globals.
//!
//! Every request carries HTTP Basic auth, `I-Twilio-Auth-Account`, `Accept: application/json`
//! and a `flexform/<version>` User-Agent. Reads are retried per [`retry::RetryPolicy`]; a create
//! that may have reached the server is never repeated and ends in
//! [`ApiError::OutcomeUnknown`].

pub(crate) mod api_error;
pub(crate) mod budget;
pub(crate) mod limiter;
pub(crate) mod plugins;
pub(crate) mod proxy;
pub(crate) mod retry;
pub(crate) mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;

pub use crate::domain::{Discovery, Fetched, Instance, InstanceStatus};
pub use api_error::{Answer, ApiError};
use limiter::Limiter;
pub use retry::RetryPolicy;
use retry::{Decision, Method, Outcome};

use crate::config::credentials::Credentials;
use crate::domain::sid::{AccountSid, InstanceSid};
use crate::support::stop::Stop;

/// Bounds on when a create may still be sent: never after a stop request, never after
/// `send_by`. Every send of a create happens before `send_by`, so the create cannot be in
/// flight after `send_by` plus the request timeout: the window a pending record records.
#[derive(Debug, Clone)]
pub struct SendGuard {
    /// Stop requests.
    pub stop: Stop,
    /// No attempt starts after this.
    pub send_by: Option<Instant>,
}

impl SendGuard {
    /// No bounds.
    pub fn unbounded() -> Self {
        Self {
            stop: Stop::never(),
            send_by: None,
        }
    }

    /// Why the next attempt must not be sent, if it must not.
    fn refuses(&self) -> Option<String> {
        if self.stop.is_requested() {
            return Some("a stop was requested (Ctrl-C or SIGTERM)".to_owned());
        }
        match self.send_by {
            Some(deadline) if Instant::now() >= deadline => {
                Some("its send window ended while it waited (rate limited); apply again".to_owned())
            }
            _ => None,
        }
    }
}

/// The default Flex API host.
pub const DEFAULT_ENDPOINT: &str = "https://flex-api.twilio.com";

/// How to build a [`FlexClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL, e.g. `https://flex-api.twilio.com` or a simulator's address.
    pub base_url: String,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, answer included.
    pub request_timeout: Duration,
    /// When to retry.
    pub retry: RetryPolicy,
    /// Most requests in flight at once (the adaptive limit never exceeds it).
    pub max_in_flight: usize,
    /// Shrink the number of requests in flight on 429/503 and grow it back slowly (AIMD).
    /// Off: always `max_in_flight` (for comparison in benchmarks).
    pub adaptive: bool,
    /// The variables that choose a proxy (`HTTPS_PROXY`, `NO_PROXY`, …; none: direct).
    pub env: crate::support::env::Env,
}

impl ClientConfig {
    /// Defaults for `base_url`: connect 10 s, request 30 s, the default retry policy, no proxy.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_in_flight: 10,
            adaptive: true,
            env: crate::support::env::Env::empty(),
        }
    }
}

/// Counters of what the client saw, for summaries and benchmarks.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Attempts sent.
    pub requests: AtomicU64,
    /// 429 answers received.
    pub rate_limited: AtomicU64,
    /// Retries made.
    pub retries: AtomicU64,
}

/// The Flex API client. Cheap to clone; clones share connections, limits and counters.
#[derive(Debug, Clone)]
pub struct FlexClient {
    http: reqwest::Client,
    base_url: String,
    /// ` via proxy URL` (no credentials) when requests go through a proxy, for `-v` lines.
    via: String,
    config: ClientConfig,
    stats: Arc<ClientStats>,
    limiter: Arc<Limiter>,
}

/// The User-Agent every request carries.
pub fn user_agent() -> String {
    format!(
        "flexform/{} ({} {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// The endpoint `given` as a URL without user and password, and as the base URL requests
/// go to; refused unless it is HTTP or HTTPS.
fn endpoint(given: &str) -> Result<(reqwest::Url, String), ApiError> {
    let mut parsed = reqwest::Url::parse(given).map_err(|e| ApiError::InvalidEndpoint {
        endpoint: proxy::redacted_endpoint(given),
        reason: e.to_string(),
    })?;
    // A user:password in the endpoint would only be dropped for the instance's credentials
    // (every request sends those): it is removed here, so that no error or log shows it.
    if !parsed.username().is_empty() || parsed.password().is_some() {
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        tracing::warn!(
            "the user and password in the endpoint are ignored: every request authenticates with its instance's credentials"
        );
    }
    let base_url = parsed.as_str().trim_end_matches('/').to_owned();
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ApiError::InvalidEndpoint {
            endpoint: base_url,
            reason: format!("the scheme is {}", parsed.scheme()),
        });
    }
    Ok((parsed, base_url))
}

/// A client that cannot be set up for the endpoint `base_url`, and why.
fn setup_error(base_url: &str, reason: String) -> ApiError {
    ApiError::InvalidEndpoint {
        endpoint: base_url.to_owned(),
        reason,
    }
}

/// TLS for `base_url`: the system's trust store (or `SSL_CERT_FILE` / `SSL_CERT_DIR`), else
/// built-in roots; HTTP/2 offered.
fn tls_config(base_url: &str) -> Result<rustls::ClientConfig, rustls::Error> {
    let trust = crate::support::tls::system_trust();
    tracing::debug!("trusting {:?} for {base_url}", trust.source);
    let mut tls = crate::support::tls::client_config(
        crate::support::tls::Verify::Full(trust.roots.clone()),
        None,
    )?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

/// The HTTP client: through `proxy` when there is one, never following redirects, with the
/// timeouts of `config` and at most one connection per request in flight.
fn http_client(
    config: &ClientConfig,
    base_url: &str,
    proxy: Option<&str>,
    tls: rustls::ClientConfig,
) -> Result<reqwest::Client, ApiError> {
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let mut builder = reqwest::Client::builder().no_proxy();
    if let Some(proxy_url) = proxy {
        tracing::debug!(
            "requests to {base_url} go through proxy {}",
            proxy::redacted(proxy_url)
        );
        builder = builder.proxy(reqwest::Proxy::all(proxy_url).map_err(|e| {
            setup_error(
                base_url,
                format!(
                    "the proxy {} cannot be used: {e}",
                    proxy::redacted(proxy_url)
                ),
            )
        })?);
    }
    builder
        .use_preconfigured_tls(tls)
        .user_agent(user_agent())
        .default_headers(headers)
        // Never follow redirects: a followed 302 turns a create into a read that "succeeds",
        // and a followed 307 would send the create twice.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .pool_max_idle_per_host(config.max_in_flight.max(1))
        // At most one connection (TLS handshake) per request in flight.
        .connector_layer(budget::ConnectionBudget::new(config.max_in_flight))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| setup_error(base_url, format!("cannot set up the HTTP client: {e}")))
}

impl FlexClient {
    /// Builds a client; fails only on an unusable base URL or TLS setup.
    pub fn new(config: ClientConfig) -> Result<Self, ApiError> {
        let (parsed, base_url) = endpoint(config.base_url.trim_end_matches('/'))?;
        let tls = tls_config(&base_url)
            .map_err(|e| setup_error(&base_url, format!("cannot set up TLS: {e}")))?;
        // One endpoint, so one proxy decision, made here and logged with -v.
        let proxy =
            proxy::proxy_for(&parsed, &|name| config.env.get(name)).map(|p| proxy::normalized(&p));
        let http = http_client(&config, &base_url, proxy.as_deref(), tls)?;
        let via = proxy.as_deref().map_or_else(String::new, |p| {
            format!(" via proxy {}", proxy::redacted(p))
        });
        let limiter = Arc::new(Limiter::new(config.max_in_flight.max(1), config.adaptive));
        Ok(Self {
            http,
            base_url,
            via,
            config,
            stats: Arc::default(),
            limiter,
        })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Counters of what this client (and its clones) saw.
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// The adaptive concurrency limiter shared by this client's requests.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// `POST /v2/Instances`: starts provisioning Flex on `account`.
    pub async fn create_instance(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        conversations_default: Option<bool>,
    ) -> Result<Instance, ApiError> {
        self.create_instance_guarded(
            account,
            credentials,
            conversations_default,
            &SendGuard::unbounded(),
        )
        .await
    }

    /// [`FlexClient::create_instance`], sent only while `guard` allows: a stop request or the
    /// end of the send window ends it with [`ApiError::NotSent`] before the next attempt.
    pub async fn create_instance_guarded(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        conversations_default: Option<bool>,
        guard: &SendGuard,
    ) -> Result<Instance, ApiError> {
        let path = "/v2/Instances";
        let body = match conversations_default {
            Some(default) => serde_json::json!({"conversations": {"default": default}}),
            None => serde_json::json!({}),
        };
        let (status, bytes) = self
            .execute(
                Method::Post,
                path,
                account,
                credentials,
                Some(Body::Json(body)),
                Some(guard),
            )
            .await?;
        if status.is_success() {
            // The server said yes: the instance exists even if the answer cannot be read, so a
            // garbled success is an unknown outcome (resolved by discovery), never "nothing".
            parse_instance("POST", path, status, &bytes).map_err(|e| ApiError::OutcomeUnknown {
                method: "POST",
                path: path.to_owned(),
                cause: e.to_string(),
                answer: api_error::Answer::Unreadable {
                    status: status.as_u16(),
                },
            })
        } else {
            Err(api_error::from_response("POST", path, status, &bytes))
        }
    }

    /// `GET /v2/Instances/{sid}`: the instance, or [`Fetched::NotFound`] on 404.
    pub async fn get_instance(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        sid: &InstanceSid,
    ) -> Result<Fetched, ApiError> {
        let path = format!("/v2/Instances/{sid}");
        let (status, bytes) = self
            .execute(Method::Get, &path, account, credentials, None, None)
            .await?;
        match status {
            StatusCode::OK => parse_instance("GET", &path, status, &bytes).map(Fetched::Found),
            StatusCode::NOT_FOUND => Ok(Fetched::NotFound),
            _ => Err(api_error::from_response("GET", &path, status, &bytes)),
        }
    }

    /// `GET /v1/Configuration`: the account's existing instance, if any.
    pub async fn discover(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
    ) -> Result<Discovery, ApiError> {
        let path = "/v1/Configuration";
        let (status, bytes) = self
            .execute(Method::Get, path, account, credentials, None, None)
            .await?;
        match status {
            StatusCode::OK => {
                let body: wire::ConfigurationBody =
                    serde_json::from_slice(&bytes).map_err(|e| ApiError::InvalidResponse {
                        method: "GET",
                        path: path.to_owned(),
                        status: status.as_u16(),
                        reason: format!("not a Flex configuration: {e}"),
                        excerpt: api_error::excerpt(&bytes),
                    })?;
                match body.flex_instance_sid {
                    None => Ok(Discovery::None),
                    Some(text) => InstanceSid::parse(&text)
                        .map(Discovery::Found)
                        .map_err(|e| ApiError::InvalidResponse {
                            method: "GET",
                            path: path.to_owned(),
                            status: status.as_u16(),
                            reason: e.to_string(),
                            excerpt: api_error::excerpt(&bytes),
                        }),
                }
            }
            StatusCode::NOT_FOUND => Ok(Discovery::Unavailable),
            _ => Err(api_error::from_response("GET", path, status, &bytes)),
        }
    }

    /// `GET /v1/Configuration`: the account's Flex configuration, reduced to `status` and the
    /// top-level `properties` (a JSON object). Only those are parsed: a whole configuration
    /// is a few kilobytes of JSON that a plan over thousands of instances need not hold. With
    /// a `guard`, no attempt starts after a stop request.
    pub async fn fetch_configuration(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        properties: &[&str],
        guard: Option<&SendGuard>,
    ) -> Result<serde_json::Value, ApiError> {
        let path = "/v1/Configuration";
        let (status, bytes) = self
            .execute(Method::Get, path, account, credentials, None, guard)
            .await?;
        if !status.is_success() {
            return Err(api_error::from_response("GET", path, status, &bytes));
        }
        let invalid = |reason: String| ApiError::InvalidResponse {
            method: "GET",
            path: path.to_owned(),
            status: status.as_u16(),
            reason: format!("not a Flex configuration: {reason}"),
            excerpt: api_error::excerpt(&bytes),
        };
        let raw: std::collections::HashMap<String, &serde_json::value::RawValue> =
            serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        let mut kept = serde_json::Map::new();
        // Which instance the configuration belongs to is kept too: an update checks it.
        for name in ["status", "flex_instance_sid"].iter().chain(properties) {
            if let Some(value) = raw.get(*name) {
                let value =
                    serde_json::from_str(value.get()).map_err(|e| invalid(e.to_string()))?;
                kept.insert((*name).to_owned(), value);
            }
        }
        Ok(serde_json::Value::Object(kept))
    }

    /// `POST /v1/Configuration` with the account's `account_sid` and `properties` (each a whole
    /// top-level value: Twilio replaces a JSON-typed property with what is sent). Sent only
    /// while `guard` allows. Returns the configuration as Twilio answers it.
    pub async fn update_configuration(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        properties: serde_json::Map<String, serde_json::Value>,
        guard: &SendGuard,
    ) -> Result<serde_json::Value, ApiError> {
        let path = "/v1/Configuration";
        let mut body = serde_json::Map::new();
        body.insert("account_sid".to_owned(), account.canonical().into());
        body.extend(properties);
        let (status, bytes) = self
            .execute(
                Method::Post,
                path,
                account,
                credentials,
                Some(Body::Json(serde_json::Value::Object(body))),
                Some(guard),
            )
            .await?;
        configuration_answer("POST", path, status, &bytes)
    }

    /// Sends one logical request, retrying as the policy says. Returns the final status and
    /// body; interpreting them is the caller's job.
    async fn execute(
        &self,
        method: Method,
        path: &str,
        account: &AccountSid,
        credentials: &Credentials,
        body: Option<Body>,
        guard: Option<&SendGuard>,
    ) -> Result<(StatusCode, bytes::Bytes), ApiError> {
        let call = Call {
            method,
            method_name: match method {
                Method::Get => "GET",
                Method::Post => "POST",
            },
            path,
            url: format!("{}{}", self.base_url, path),
            account,
            credentials,
            body,
            guard,
            stop: guard.map_or_else(Stop::never, |g| g.stop.clone()),
        };
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let permit = self.slot(&call).await?;
            let sent = self.send(&call, attempt).await;
            permit.finish(match sent.outcome {
                Outcome::Status { code, .. } => limiter::Signal::from_status(code),
                _ => limiter::Signal::Neutral,
            });
            match self
                .config
                .retry
                .decide(method, sent.outcome, attempt, rand::random::<f64>())
            {
                Decision::RetryAfter(delay) => self.wait_to_retry(&call, delay).await?,
                Decision::Stop => {
                    return sent.result.map_err(|err| {
                        self.transport_error(call.method_name, path, sent.outcome, &err)
                    });
                }
                Decision::OutcomeUnknown => return Err(self.outcome_unknown(&call, &sent)),
            }
        }
    }

    /// Waits for a slot among the requests in flight, unless a stop comes first or the guard
    /// refuses the attempt.
    async fn slot(&self, call: &Call<'_>) -> Result<limiter::Permit<'_>, ApiError> {
        let permit = tokio::select! {
            permit = self.limiter.acquire() => permit,
            _ = call.stop.requested() => {
                return Err(call.not_sent("a stop was requested (Ctrl-C or SIGTERM)"))
            }
        };
        if let Some(reason) = call.guard.and_then(SendGuard::refuses) {
            return Err(call.not_sent(reason));
        }
        Ok(permit)
    }

    /// Sends one attempt and reads its answer, counting and logging it.
    async fn send(&self, call: &Call<'_>, attempt: u32) -> Attempt {
        let (method_name, path) = (call.method_name, call.path);
        crate::failpoint!("client::before_send");
        // A create about to be sent: its pending record is durable, nothing is on the wire.
        crate::failpoint!("client::before_create_send", if call.method == Method::Post);
        let request = self.request(call);
        let started = Instant::now();
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let result = async {
            let response = budget::sending(request.send()).await?;
            // A create on the wire: Twilio answered (the instance may exist), and flexform
            // has neither read the answer nor recorded a SID.
            crate::failpoint!("client::after_create_send", if call.method == Method::Post);
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
            let bytes = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, retry_after, bytes))
        }
        .await;
        let elapsed = started.elapsed();
        match result {
            Ok((status, retry_after, bytes)) => {
                tracing::debug!(
                    "{method_name} {path} -> {} in {} ms (attempt {attempt}, account {}){}",
                    status.as_u16(),
                    elapsed.as_millis(),
                    call.account,
                    self.via
                );
                if status == StatusCode::TOO_MANY_REQUESTS {
                    self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                }
                Attempt {
                    outcome: Outcome::Status {
                        code: status.as_u16(),
                        retry_after,
                    },
                    result: Ok((status, bytes)),
                }
            }
            Err(err) => {
                tracing::debug!(
                    "{method_name} {path} -> failed in {} ms (attempt {attempt}){}: {}",
                    elapsed.as_millis(),
                    self.via,
                    describe(&err)
                );
                Attempt {
                    outcome: failure_outcome(&err),
                    result: Err(err),
                }
            }
        }
    }

    /// The HTTP request of `call`: its method, URL, credentials, account header and body.
    fn request(&self, call: &Call<'_>) -> reqwest::RequestBuilder {
        let request = match call.method {
            Method::Get => self.http.get(&call.url),
            Method::Post => self.http.post(&call.url),
        }
        .basic_auth(
            &call.credentials.username,
            Some(call.credentials.password.expose()),
        )
        // As Twilio issues it, whatever the case it was written in.
        .header("I-Twilio-Auth-Account", call.account.canonical());
        match &call.body {
            Some(Body::Json(body)) => request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_string()),
            // `form` sets `application/x-www-form-urlencoded` and keeps repeated keys.
            Some(Body::Form(fields)) => request.form(fields),
            None => request,
        }
    }

    /// Waits `delay` before the next attempt, unless a stop comes first.
    async fn wait_to_retry(&self, call: &Call<'_>, delay: Duration) -> Result<(), ApiError> {
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            "{} {}: retrying in {} ms",
            call.method_name,
            call.path,
            delay.as_millis()
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => Ok(()),
            _ = call.stop.requested() => Err(call.not_sent(
                "a stop was requested (Ctrl-C or SIGTERM) while it waited to retry",
            )),
        }
    }

    /// The error of a request that may have taken effect although its answer says otherwise,
    /// or says nothing.
    fn outcome_unknown(&self, call: &Call<'_>, sent: &Attempt) -> ApiError {
        let (method_name, path) = (call.method_name, call.path);
        let (cause, class) = match &sent.result {
            Ok((status, bytes)) => {
                let error = api_error::from_response(method_name, path, *status, bytes);
                let twilio = matches!(error, ApiError::Twilio { .. });
                let class =
                    api_error::Answer::of_error(status.as_u16(), bytes, error.code(), twilio);
                (error.to_string(), class)
            }
            Err(err) => (
                self.transport_error(method_name, path, sent.outcome, err)
                    .to_string(),
                api_error::Answer::None,
            ),
        };
        ApiError::OutcomeUnknown {
            method: method_name,
            path: path.to_owned(),
            cause,
            answer: class,
        }
    }

    fn transport_error(
        &self,
        method: &'static str,
        path: &str,
        outcome: Outcome,
        err: &reqwest::Error,
    ) -> ApiError {
        match outcome {
            Outcome::TimedOut => ApiError::Timeout {
                method,
                path: path.to_owned(),
                after: self.config.request_timeout,
            },
            Outcome::ConnectionLost => ApiError::ConnectionLost {
                method,
                path: path.to_owned(),
                endpoint: self.base_url.clone(),
                reason: describe(err),
            },
            _ => {
                let reason = describe(err);
                match crate::support::tls::untrusted_hint(&reason) {
                    Some(hint) => ApiError::Untrusted {
                        host: reqwest::Url::parse(&self.base_url)
                            .ok()
                            .and_then(|u| u.host_str().map(str::to_owned))
                            .unwrap_or_else(|| self.base_url.clone()),
                        reason,
                        hint,
                    },
                    None => ApiError::Connect {
                        method,
                        path: path.to_owned(),
                        endpoint: self.base_url.clone(),
                        reason,
                    },
                }
            }
        }
    }
}

/// What a request sends.
enum Body {
    /// A JSON document (`application/json`): the Flex instance and configuration APIs.
    Json(serde_json::Value),
    /// Form fields in order (`application/x-www-form-urlencoded`), a key repeated once per
    /// value: the Plugins API.
    Form(Vec<(&'static str, String)>),
}

/// One logical request as [`FlexClient::execute`] sends it, attempt after attempt.
struct Call<'a> {
    method: Method,
    /// `GET` or `POST`, for messages.
    method_name: &'static str,
    path: &'a str,
    url: String,
    account: &'a AccountSid,
    credentials: &'a Credentials,
    body: Option<Body>,
    guard: Option<&'a SendGuard>,
    /// The guard's stop requests (none without a guard).
    stop: Stop,
}

impl Call<'_> {
    /// The error of a request not sent, and why.
    fn not_sent(&self, reason: impl Into<String>) -> ApiError {
        ApiError::NotSent {
            method: self.method_name,
            path: self.path.to_owned(),
            reason: reason.into(),
        }
    }
}

/// What one attempt came to: how the retry policy sees it, and the answer or the failure.
struct Attempt {
    outcome: Outcome,
    result: Result<(StatusCode, bytes::Bytes), reqwest::Error>,
}

/// How the retry policy sees a request that got no answer.
fn failure_outcome(err: &reqwest::Error) -> Outcome {
    if err.is_connect() && crate::support::tls::untrusted_hint(&describe(err)).is_some() {
        Outcome::Untrusted
    } else if err.is_connect() {
        Outcome::ConnectFailed
    } else if err.is_timeout() {
        Outcome::TimedOut
    } else {
        Outcome::ConnectionLost
    }
}

/// A reqwest error and its chain of causes, in one line.
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn parse_instance(
    method: &'static str,
    path: &str,
    status: StatusCode,
    bytes: &[u8],
) -> Result<Instance, ApiError> {
    serde_json::from_slice::<Instance>(bytes).map_err(|e| ApiError::InvalidResponse {
        method,
        path: path.to_owned(),
        status: status.as_u16(),
        reason: format!("not a Flex instance: {e}"),
        excerpt: api_error::excerpt(bytes),
    })
}

/// A Flex configuration answer: a JSON object on 2xx, the API's error otherwise.
fn configuration_answer(
    method: &'static str,
    path: &str,
    status: StatusCode,
    bytes: &[u8],
) -> Result<serde_json::Value, ApiError> {
    if !status.is_success() {
        return Err(api_error::from_response(method, path, status, bytes));
    }
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value) if value.is_object() => Ok(value),
        Ok(_) => Err("not a JSON object".to_owned()),
        Err(e) => Err(e.to_string()),
    }
    .map_err(|reason| ApiError::InvalidResponse {
        method,
        path: path.to_owned(),
        status: status.as_u16(),
        reason: format!("not a Flex configuration: {reason}"),
        excerpt: api_error::excerpt(bytes),
    })
}
