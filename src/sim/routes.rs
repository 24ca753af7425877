//! The simulator's HTTP layer: the Flex API routes (the Plugins API's from `plugin_routes`)
//! behind a gate that counts, delays, rate-limits and fails requests, and the `/_sim/`
//! test-control routes.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::api::{authorize, method_not_allowed, resource_not_found, save, twilio_error};
use super::configuration::{self, CONFIGURATION_URL};
use super::model::{lock, rfc3339, ConfigurationPatchError, Counters, Faults, SimInstance};
use super::plugin_routes::{self, SERVICE_PREFIX};
use super::shared::Shared;
use super::token_bucket::retry_after_secs;

const CREATE_ROUTE: &str = "/v2/Instances";
const FETCH_ROUTE: &str = "/v2/Instances/{sid}";
const CONFIGURATION_ROUTE: &str = "/v1/Configuration";

type SharedState = State<Arc<Shared>>;

/// Every route, with request logging around all of them.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route(CREATE_ROUTE, post(create).fallback(method_not_allowed))
        .route(FETCH_ROUTE, get(fetch).fallback(method_not_allowed))
        .route(
            CONFIGURATION_ROUTE,
            get(discover)
                .post(update_configuration)
                .fallback(method_not_allowed),
        )
        .merge(plugin_routes::api())
        .route_layer(middleware::from_fn_with_state(Arc::clone(&shared), gate));
    let control = Router::new()
        .route("/_sim/instances", get(control_list))
        .route("/_sim/instances/{sid}", delete(control_delete))
        .route("/_sim/instances/{sid}/status", post(control_set_status))
        .route("/_sim/stats", get(control_stats))
        .route("/_sim/faults", get(control_faults).put(control_set_faults))
        .route(
            "/_sim/configuration/{account_sid}",
            get(control_configuration).patch(control_patch_configuration),
        )
        .merge(plugin_routes::control());
    api.merge(control)
        .fallback(not_found)
        .layer(middleware::from_fn(log_request))
        .with_state(shared)
}

/// Logs each request at debug level: method, path, status, time taken. Never headers, so never
/// the `Authorization` header.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "sim request"
    );
    response
}

/// In front of every Flex API route: count, delay by `latency`, refuse beyond the rate limit,
/// and fail the configured share of requests, all before the request is looked at.
async fn gate(State(shared): SharedState, request: Request, next: Next) -> Response {
    let counters = &shared.counters;
    Counters::bump(&counters.requests);
    // Only matched routes pass through here, so the path alone tells which one it is.
    let path = request.uri().path();
    match *request.method() {
        Method::POST if path == CREATE_ROUTE => Counters::bump(&counters.create_requests),
        Method::GET if path == CONFIGURATION_ROUTE => Counters::bump(&counters.discoveries),
        Method::POST if path == CONFIGURATION_ROUTE => {
            Counters::bump(&counters.configuration_updates)
        }
        Method::GET if path.starts_with("/v2/Instances/") => Counters::bump(&counters.gets),
        _ if path.starts_with(SERVICE_PREFIX) => Counters::bump(&counters.plugin_requests),
        _ => {}
    }
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    let refused = shared
        .bucket
        .as_ref()
        .and_then(|bucket| lock(bucket).try_take(Instant::now()).err());
    if let Some(wait) = refused {
        Counters::bump(&counters.rate_limited);
        let mut response = twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
        response
            .headers_mut()
            .insert(RETRY_AFTER, retry_after_secs(wait).into());
        return response;
    }
    if shared.fail_rate > 0.0 && lock(&shared.fault_rng).random::<f64>() < shared.fail_rate {
        Counters::bump(&counters.failed);
        return twilio_error(
            StatusCode::SERVICE_UNAVAILABLE,
            20503,
            "Service unavailable",
        );
    }
    next.run(request).await
}

/// `POST /v2/Instances`.
async fn create(State(shared): SharedState, headers: HeaderMap, body: Bytes) -> Response {
    let rate_limited = lock(&shared.faults).create_rate_limited_secs;
    if let Some(secs) = rate_limited {
        Counters::bump(&shared.counters.rate_limited);
        let mut response = twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
        response.headers_mut().insert(RETRY_AFTER, secs.into());
        return response;
    }
    let account = match authorize(&shared, &headers) {
        Ok(account) => account,
        Err(rejection) => return rejection.into_response(),
    };
    let conversations_default = match parse_create_body(&body) {
        Ok(value) => value,
        Err(message) => return twilio_error(StatusCode::BAD_REQUEST, 20001, message),
    };
    if let Some(response) = refuse_create(&shared) {
        Counters::bump(&shared.counters.failed);
        return response;
    }
    let now = SystemTime::now();
    let created = lock(&shared.store)
        .create(&account, conversations_default, now, shared.ready_after)
        .map(|record| record.view(now));
    let Ok(instance) = created else {
        return twilio_error(
            StatusCode::CONFLICT,
            20409,
            "Flex instance already exists for this account",
        );
    };
    Counters::bump(&shared.counters.creates);
    let (hold, error_after_commit) = {
        let mut faults = lock(&shared.faults);
        let error = faults.create_error_after_commit > 0;
        if error {
            faults.create_error_after_commit -= 1;
        }
        (faults.hold_create_response_ms, error)
    };
    if let Err(response) = save(&shared).await {
        return response;
    }
    if let Some(ms) = hold {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if error_after_commit {
        return twilio_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal Server Error",
        );
    }
    (StatusCode::CREATED, Json(InstanceBody::from(&instance))).into_response()
}

/// The answer to a create that the faults or the create fail rate fail before anything is
/// created: a gateway's HTML 502, or Twilio's 503.
fn refuse_create(shared: &Shared) -> Option<Response> {
    let (gateway, before) = {
        let mut faults = lock(&shared.faults);
        let before = faults.create_error_before_commit > 0;
        if before {
            faults.create_error_before_commit -= 1;
        }
        (faults.create_gateway_error, before)
    };
    if gateway {
        let page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";
        return Some(
            (
                StatusCode::BAD_GATEWAY,
                [(axum::http::header::CONTENT_TYPE, "text/html")],
                page,
            )
                .into_response(),
        );
    }
    let drawn = shared.create_fail_rate > 0.0
        && lock(&shared.fault_rng).random::<f64>() < shared.create_fail_rate;
    (before || drawn).then(|| {
        twilio_error(
            StatusCode::SERVICE_UNAVAILABLE,
            20503,
            "Service unavailable",
        )
    })
}

/// `GET /v2/Instances/{sid}`: 404 also when the instance belongs to another account.
async fn fetch(
    State(shared): SharedState,
    Path(sid): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let account = match authorize(&shared, &headers) {
        Ok(account) => account,
        Err(rejection) => return rejection.into_response(),
    };
    let now = SystemTime::now();
    let instance = lock(&shared.store)
        .get(&sid)
        .filter(|record| record.account_sid == account)
        .map(|record| record.view(now));
    match instance {
        Some(instance) => (StatusCode::OK, Json(InstanceBody::from(&instance))).into_response(),
        None => resource_not_found(uri.path()),
    }
}

/// `GET /v1/Configuration`: the whole configuration of the account's live instance, or a
/// `notstarted` body without one (what discovery reads).
async fn discover(State(shared): SharedState, uri: Uri, headers: HeaderMap) -> Response {
    let account = match authorize(&shared, &headers) {
        Ok(account) => account,
        Err(rejection) => return rejection.into_response(),
    };
    let (unavailable, lag) = {
        let faults = lock(&shared.faults);
        (faults.discovery_unavailable, faults.discovery_lag_ms)
    };
    if unavailable {
        return resource_not_found(uri.path());
    }
    let hidden = lag.is_some_and(|ms| {
        lock(&shared.store)
            .live_for_account(&account)
            .and_then(|record| humantime::parse_rfc3339(&record.date_created).ok())
            .is_some_and(|created| SystemTime::now() < created + Duration::from_millis(ms))
    });
    let body = shared
        .configuration(&account)
        .filter(|_| !hidden)
        .unwrap_or_else(|| {
            serde_json::json!({
                "account_sid": account,
                "flex_instance_sid": null,
                "status": "notstarted",
                "date_created": null,
                "date_updated": null,
                "url": CONFIGURATION_URL,
            })
        });
    (StatusCode::OK, Json(body)).into_response()
}

/// `POST /v1/Configuration`: sets the properties sent, each replaced whole, on the account's
/// live instance; answers the whole updated configuration.
async fn update_configuration(
    State(shared): SharedState,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account = match authorize(&shared, &headers) {
        Ok(account) => account,
        Err(rejection) => return rejection.into_response(),
    };
    if !is_json(&headers) {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            20001,
            "Invalid request: Content-Type must be application/json (the Configuration \
             resource takes a JSON object)",
        );
    }
    let mut changes = match configuration::parse_update(&body, &account) {
        Ok(changes) => changes,
        Err(err) => return twilio_error(StatusCode::BAD_REQUEST, 20001, err.to_string()),
    };
    let now = SystemTime::now();
    changes.insert("date_updated".to_owned(), rfc3339(now).into());
    let updated = lock(&shared.store).change_configuration(&account, changes, now);
    let Some(configuration) = updated else {
        return resource_not_found(uri.path());
    };
    if let Err(response) = save(&shared).await {
        return response;
    }
    let error_after_commit = {
        let mut faults = lock(&shared.faults);
        let error = faults.configuration_error_after_commit > 0;
        if error {
            faults.configuration_error_after_commit -= 1;
        }
        error
    };
    if error_after_commit {
        return twilio_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal server error (simulated after the update was applied)",
        );
    }
    (StatusCode::OK, Json(configuration)).into_response()
}

/// Whether the request says its body is JSON (`application/json`, parameters allowed).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// `GET /_sim/instances`.
async fn control_list(State(shared): SharedState) -> Json<Vec<SimInstance>> {
    Json(shared.instances())
}

/// What `POST /_sim/instances/{sid}/status` takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: String,
}

/// `POST /_sim/instances/{sid}/status`.
async fn control_set_status(
    State(shared): SharedState,
    Path(sid): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let status = match serde_json::from_slice::<StatusBody>(&body) {
        Ok(body) => body.status,
        Err(err) => {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                20001,
                format!("expected {{\"status\": \"…\"}}: {err}"),
            )
        }
    };
    let found = shared.set_status(&sid, &status);
    control_answer(&shared, found, uri.path()).await
}

/// `DELETE /_sim/instances/{sid}`.
async fn control_delete(State(shared): SharedState, Path(sid): Path<String>, uri: Uri) -> Response {
    let found = shared.delete_instance(&sid);
    control_answer(&shared, found, uri.path()).await
}

/// `204` once the change is saved, or `404` when there was nothing to change.
async fn control_answer(shared: &Arc<Shared>, found: bool, path: &str) -> Response {
    if !found {
        return resource_not_found(path);
    }
    match save(shared).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(response) => response,
    }
}

/// `GET /_sim/stats`.
async fn control_stats(State(shared): SharedState) -> Response {
    Json(shared.counters.snapshot()).into_response()
}

/// `GET /_sim/faults`.
async fn control_faults(State(shared): SharedState) -> Json<Faults> {
    Json(shared.faults())
}

/// `PUT /_sim/faults`.
async fn control_set_faults(State(shared): SharedState, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => {
            shared.set_faults(faults);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(err) => twilio_error(
            StatusCode::BAD_REQUEST,
            20001,
            format!("invalid faults: {err}"),
        ),
    }
}

/// `GET /_sim/configuration/{account_sid}`.
async fn control_configuration(
    State(shared): SharedState,
    Path(account): Path<String>,
    uri: Uri,
) -> Response {
    match shared.configuration(&account) {
        Some(configuration) => (StatusCode::OK, Json(configuration)).into_response(),
        None => resource_not_found(uri.path()),
    }
}

/// `PATCH /_sim/configuration/{account_sid}`: the body's top-level properties replace the
/// current ones, unchecked.
async fn control_patch_configuration(
    State(shared): SharedState,
    Path(account): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let patch = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(patch) => patch,
        Err(err) => {
            return twilio_error(
                StatusCode::BAD_REQUEST,
                20001,
                format!("expected a JSON object of configuration properties: {err}"),
            )
        }
    };
    match shared.patch_configuration(&account, patch) {
        Ok(configuration) => match save(&shared).await {
            Ok(()) => (StatusCode::OK, Json(configuration)).into_response(),
            Err(response) => response,
        },
        Err(ConfigurationPatchError::NoInstance { .. }) => resource_not_found(uri.path()),
        Err(err @ ConfigurationPatchError::NotAnObject { .. }) => {
            twilio_error(StatusCode::BAD_REQUEST, 20001, err.to_string())
        }
    }
}

/// Any path that is not a route.
async fn not_found(uri: Uri) -> Response {
    resource_not_found(uri.path())
}

/// `conversations.default` from a create body, which must be `{}` or
/// `{"conversations": {"default": bool}}`, or why the body is refused.
fn parse_create_body(body: &[u8]) -> Result<Option<bool>, String> {
    let refuse = |why: String| {
        format!(
            "Invalid request body: {why}; expected {{}} or \
             {{\"conversations\": {{\"default\": true}}}}"
        )
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|err| refuse(format!("not JSON ({err})")))?;
    let Some(fields) = value.as_object() else {
        return Err(refuse("not a JSON object".to_owned()));
    };
    if let Some(unknown) = fields.keys().find(|k| *k != "conversations") {
        return Err(refuse(format!("unknown field `{unknown}`")));
    }
    let Some(conversations) = fields.get("conversations") else {
        return Ok(None);
    };
    let Some(conversations) = conversations.as_object() else {
        return Err(refuse("`conversations` is not an object".to_owned()));
    };
    if let Some(unknown) = conversations.keys().find(|k| *k != "default") {
        return Err(refuse(format!("unknown field `conversations.{unknown}`")));
    }
    match conversations.get("default") {
        Some(serde_json::Value::Bool(default)) => Ok(Some(*default)),
        Some(_) => Err(refuse(
            "`conversations.default` is not a boolean".to_owned(),
        )),
        None => Err(refuse("missing field `conversations.default`".to_owned())),
    }
}

/// The instance resource as the API returns it.
#[derive(Serialize)]
struct InstanceBody<'a> {
    flex_instance_sid: &'a str,
    account_sid: &'a str,
    status: &'a str,
    date_created: &'a str,
    date_updated: &'a str,
}

impl<'a> From<&'a SimInstance> for InstanceBody<'a> {
    fn from(instance: &'a SimInstance) -> Self {
        Self {
            flex_instance_sid: &instance.flex_instance_sid,
            account_sid: &instance.account_sid,
            status: &instance.status,
            date_created: &instance.date_created,
            date_updated: &instance.date_updated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_json_content_types_are_json() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("text/plain"));
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn create_bodies_are_empty_or_conversations_default() {
        assert_eq!(parse_create_body(b"{}"), Ok(None));
        assert_eq!(
            parse_create_body(br#"{"conversations": {"default": true}}"#),
            Ok(Some(true))
        );
        assert_eq!(
            parse_create_body(br#"{"conversations": {"default": false}}"#),
            Ok(Some(false))
        );
        for bad in [
            &b""[..],
            b"not json",
            b"[]",
            br#"{"conversation": {"default": true}}"#,
            br#"{"conversations": {}}"#,
            br#"{"conversations": {"default": "yes"}}"#,
            br#"{"conversations": {"default": true, "x": 1}}"#,
            br#"{"conversations": null}"#,
            br#"{"conversations": [true]}"#,
        ] {
            let err = parse_create_body(bad).unwrap_err();
            assert!(err.starts_with("Invalid request body"), "{err}");
        }
    }
}
