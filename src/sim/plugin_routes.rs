//! The Flex Plugins API over HTTP: `/v1/PluginService/…` (plugins, their versions,
//! configurations and the plugins they hold, releases and `Releases/Active`), behind the same
//! gate as every Flex API route, and its test controls under `/_sim/plugins/`. Each handler
//! authorizes, parses, takes the store's lock once and answers what
//! [`plugins`](super::plugins) decides.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use rand::rngs::StdRng;
use serde_json::Value;

use super::api::{authorize, method_not_allowed, resource_not_found, save, twilio_error};
use super::model::{lock, Counters, Faults};
use super::plugin_requests::{
    release_request, Form, NewConfiguration, NewPlugin, Page, Paging, PluginError, VersionRequest,
};
use super::plugins::PluginStore;
use super::shared::Shared;

/// What every Plugins API path starts with (the gate counts the requests under it).
pub(crate) const SERVICE_PREFIX: &str = "/v1/PluginService/";

type SharedState = State<Arc<Shared>>;

/// The Plugins API routes (the caller puts them behind the gate).
pub(super) fn api() -> Router<Arc<Shared>> {
    fn only(methods: MethodRouter<Arc<Shared>>) -> MethodRouter<Arc<Shared>> {
        methods.fallback(method_not_allowed)
    }
    Router::new()
        .route(
            "/v1/PluginService/Plugins",
            only(get(list_plugins).post(create_plugin)),
        )
        .route(
            "/v1/PluginService/Plugins/{plugin}",
            only(get(fetch_plugin)),
        )
        .route(
            "/v1/PluginService/Plugins/{plugin}/Versions",
            only(get(list_versions).post(create_version)),
        )
        .route(
            "/v1/PluginService/Plugins/{plugin}/Versions/{version}",
            only(get(fetch_version)),
        )
        .route(
            "/v1/PluginService/Configurations",
            only(get(list_configurations).post(create_configuration)),
        )
        .route(
            "/v1/PluginService/Configurations/{configuration}",
            only(get(fetch_configuration)),
        )
        .route(
            "/v1/PluginService/Configurations/{configuration}/Plugins",
            only(get(list_configured)),
        )
        .route(
            "/v1/PluginService/Configurations/{configuration}/Plugins/{plugin}",
            only(get(fetch_configured)),
        )
        .route(
            "/v1/PluginService/Releases",
            only(get(list_releases).post(create_release)),
        )
        .route(
            "/v1/PluginService/Releases/{release}",
            only(get(fetch_release)),
        )
}

/// The test controls of the Plugins API (no authentication, not counted, never delayed).
pub(super) fn control() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/plugins/{account}", get(control_plugins))
        .route("/_sim/plugins/{account}/release", post(control_release))
}

/// `GET /v1/PluginService/Plugins`.
async fn list_plugins(State(shared): SharedState, uri: Uri, headers: HeaderMap) -> Response {
    list(
        &shared,
        &uri,
        &headers,
        "plugins",
        |store, account, paging| Some(store.plugins(account, paging)),
    )
}

/// `GET /v1/PluginService/Plugins/{plugin}`: by SID or unique name.
async fn fetch_plugin(
    State(shared): SharedState,
    Path(plugin): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    fetch(&shared, &uri, &headers, |store, account| {
        store.plugin(account, &plugin)
    })
}

/// `POST /v1/PluginService/Plugins`.
async fn create_plugin(State(shared): SharedState, headers: HeaderMap, body: Bytes) -> Response {
    let commit = |store: &mut PluginStore, account: &str, new, now, rng: &mut StdRng| {
        store.create_plugin(account, new, now, rng)
    };
    let created = &shared.counters.plugin_creates;
    create(
        &shared,
        &headers,
        &body,
        created,
        NewPlugin::from_form,
        commit,
    )
    .await
}

/// `GET /v1/PluginService/Plugins/{plugin}/Versions`.
async fn list_versions(
    State(shared): SharedState,
    Path(plugin): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    list(
        &shared,
        &uri,
        &headers,
        "plugin_versions",
        |store, account, paging| store.versions(account, &plugin, paging),
    )
}

/// `GET /v1/PluginService/Plugins/{plugin}/Versions/{version}`: by SID or version string.
async fn fetch_version(
    State(shared): SharedState,
    Path((plugin, version)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    fetch(&shared, &uri, &headers, |store, account| {
        store.version(account, &plugin, &version)
    })
}

/// `POST /v1/PluginService/Plugins/{plugin}/Versions`.
async fn create_version(
    State(shared): SharedState,
    Path(plugin): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let commit = |store: &mut PluginStore, account: &str, request, now, rng: &mut StdRng| {
        store.create_version(account, &plugin, request, now, rng)
    };
    let created = &shared.counters.version_creates;
    create(
        &shared,
        &headers,
        &body,
        created,
        VersionRequest::from_form,
        commit,
    )
    .await
}

/// `GET /v1/PluginService/Configurations`.
async fn list_configurations(State(shared): SharedState, uri: Uri, headers: HeaderMap) -> Response {
    list(
        &shared,
        &uri,
        &headers,
        "configurations",
        |store, account, paging| Some(store.configurations(account, paging)),
    )
}

/// `GET /v1/PluginService/Configurations/{configuration}`.
async fn fetch_configuration(
    State(shared): SharedState,
    Path(configuration): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    fetch(&shared, &uri, &headers, |store, account| {
        store.configuration(account, &configuration)
    })
}

/// `POST /v1/PluginService/Configurations`.
async fn create_configuration(
    State(shared): SharedState,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let commit = |store: &mut PluginStore, account: &str, new, now, rng: &mut StdRng| {
        store.create_configuration(account, new, now, rng)
    };
    let created = &shared.counters.configuration_creates;
    let parse = NewConfiguration::from_form;
    create(&shared, &headers, &body, created, parse, commit).await
}

/// `GET /v1/PluginService/Configurations/{configuration}/Plugins`.
async fn list_configured(
    State(shared): SharedState,
    Path(configuration): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    list(
        &shared,
        &uri,
        &headers,
        "plugins",
        |store, account, paging| store.configured_plugins(account, &configuration, paging),
    )
}

/// `GET /v1/PluginService/Configurations/{configuration}/Plugins/{plugin}`.
async fn fetch_configured(
    State(shared): SharedState,
    Path((configuration, plugin)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    fetch(&shared, &uri, &headers, |store, account| {
        store.configured_plugin(account, &configuration, &plugin)
    })
}

/// `GET /v1/PluginService/Releases`.
async fn list_releases(State(shared): SharedState, uri: Uri, headers: HeaderMap) -> Response {
    list(
        &shared,
        &uri,
        &headers,
        "releases",
        |store, account, paging| Some(store.releases(account, paging)),
    )
}

/// `GET /v1/PluginService/Releases/{release}`: by SID, or `Active` for the latest (`404` when
/// the account has no release).
async fn fetch_release(
    State(shared): SharedState,
    Path(release): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    fetch(&shared, &uri, &headers, |store, account| {
        store.release(account, &release)
    })
}

/// `POST /v1/PluginService/Releases`.
async fn create_release(State(shared): SharedState, headers: HeaderMap, body: Bytes) -> Response {
    let commit =
        |store: &mut PluginStore, account: &str, configuration: String, now, rng: &mut StdRng| {
            store.create_release(account, &configuration, now, rng)
        };
    let created = &shared.counters.release_creates;
    create(&shared, &headers, &body, created, release_request, commit).await
}

/// A list answer: the page `read` gives of the account's resources, or `404` when it gives
/// none (the parent resource is unknown).
fn list(
    shared: &Shared,
    uri: &Uri,
    headers: &HeaderMap,
    key: &str,
    read: impl FnOnce(&PluginStore, &str, Paging) -> Option<Page>,
) -> Response {
    let account = match authorize(shared, headers) {
        Ok(account) => account,
        Err(rejection) => return rejection.into_response(),
    };
    let paging = match Paging::from_query(uri.query()) {
        Ok(paging) => paging,
        Err(err) => return refused(&err),
    };
    let page = read(lock(&shared.store).plugins(), &account, paging);
    match page {
        Some(page) => {
            let base = base_url(shared, uri, headers);
            let answer = page.answer(key, paging, &base, uri.path());
            (StatusCode::OK, Json(answer)).into_response()
        }
        None => resource_not_found(uri.path()),
    }
}

/// A fetch answer: what `read` finds for the account, or `404`.
fn fetch(
    shared: &Shared,
    uri: &Uri,
    headers: &HeaderMap,
    read: impl FnOnce(&PluginStore, &str) -> Option<Value>,
) -> Response {
    let account = match authorize(shared, headers) {
        Ok(account) => account,
        Err(rejection) => return rejection.into_response(),
    };
    match read(lock(&shared.store).plugins(), &account) {
        Some(body) => (StatusCode::OK, Json(body)).into_response(),
        None => resource_not_found(uri.path()),
    }
}

/// A create: authorize, `parse` the form, let the `plugin_error_before_commit` fault refuse
/// it, `commit` under the store's lock, count it in `created`, save, let the
/// `plugin_error_after_commit` fault turn the answer into a 500, answer `201` with the body.
async fn create<T>(
    shared: &Arc<Shared>,
    headers: &HeaderMap,
    body: &[u8],
    created: &AtomicU64,
    parse: impl FnOnce(&Form) -> Result<T, PluginError>,
    commit: impl FnOnce(
        &mut PluginStore,
        &str,
        T,
        SystemTime,
        &mut StdRng,
    ) -> Result<Value, PluginError>,
) -> Response {
    let account = match authorize(shared, headers) {
        Ok(account) => account,
        Err(rejection) => return rejection.into_response(),
    };
    let content_type = headers.get(CONTENT_TYPE).map(|value| {
        value
            .to_str()
            .map_or_else(|_| "(not text)".to_owned(), str::to_owned)
    });
    let request = match Form::from_body(content_type.as_deref(), body).and_then(|f| parse(&f)) {
        Ok(request) => request,
        Err(err) => return refused(&err),
    };
    if take_fault(shared, |faults| &mut faults.plugin_error_before_commit) {
        Counters::bump(&shared.counters.failed);
        return twilio_error(
            StatusCode::SERVICE_UNAVAILABLE,
            20503,
            "Service unavailable",
        );
    }
    let now = SystemTime::now();
    let committed =
        lock(&shared.store).change_plugins(|store, rng| commit(store, &account, request, now, rng));
    let body = match committed {
        Ok(body) => body,
        Err(err) => return refused(&err),
    };
    Counters::bump(created);
    if let Err(response) = save(shared).await {
        return response;
    }
    if take_fault(shared, |faults| &mut faults.plugin_error_after_commit) {
        return twilio_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal server error (simulated after the resource was created)",
        );
    }
    (StatusCode::CREATED, Json(body)).into_response()
}

/// Twilio's error body for a refused request.
fn refused(err: &PluginError) -> Response {
    twilio_error(err.status(), err.code(), err.to_string())
}

/// Uses one of a counted fault's N; whether there was one left.
fn take_fault(shared: &Shared, count: impl FnOnce(&mut Faults) -> &mut u32) -> bool {
    let mut faults = lock(&shared.faults);
    let left = count(&mut faults);
    let hit = *left > 0;
    if hit {
        *left -= 1;
    }
    hit
}

/// The scheme and host the client reached, e.g. `http://127.0.0.1:8787`, so that the page
/// links of a list answer lead back here (`localhost` when the request names no valid host).
fn base_url(shared: &Shared, uri: &Uri, headers: &HeaderMap) -> String {
    let scheme = if shared.https { "https" } else { "http" };
    let host = uri
        .authority()
        .map(|authority| authority.as_str().to_owned())
        .or_else(|| {
            headers
                .get(HOST)
                .and_then(|value| value.to_str().ok())
                .filter(|host| host.parse::<Authority>().is_ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{scheme}://{host}")
}

/// `GET /_sim/plugins/{account}`: everything the account holds.
async fn control_plugins(State(shared): SharedState, Path(account): Path<String>) -> Response {
    (StatusCode::OK, Json(shared.plugins(&account))).into_response()
}

/// `POST /_sim/plugins/{account}/release` with `{"plugins": {"name": "version", …}}`: a
/// release made out of band, as Twilio's CLI would; answers `201` with the release.
async fn control_release(
    State(shared): SharedState,
    Path(account): Path<String>,
    body: Bytes,
) -> Response {
    let plugins = match release_outside_body(&body) {
        Ok(plugins) => plugins,
        Err(message) => return twilio_error(StatusCode::BAD_REQUEST, 20001, message),
    };
    let release = shared.release_outside(&account, &plugins);
    match save(&shared).await {
        Ok(()) => (StatusCode::CREATED, Json(release)).into_response(),
        Err(response) => response,
    }
}

/// The (unique name, version) pairs of a `/_sim/plugins/{account}/release` body, in order.
fn release_outside_body(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let expected = "expected {\"plugins\": {\"unique-name\": \"version\", …}}";
    let value: Value =
        serde_json::from_slice(body).map_err(|err| format!("{expected}: not JSON ({err})"))?;
    let fields = value
        .as_object()
        .filter(|fields| fields.len() == 1)
        .and_then(|fields| fields.get("plugins"))
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{expected}, found {value}"))?;
    fields
        .iter()
        .map(|(name, version)| match version.as_str() {
            Some(version) if !name.is_empty() && !version.is_empty() => {
                Ok((name.clone(), version.to_owned()))
            }
            _ => Err(format!("{expected}: {name:?} has {version}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_outside_bodies_name_plugins_and_versions() {
        assert_eq!(
            release_outside_body(br#"{"plugins": {"b": "2.0.0", "a": "1.0.0"}}"#),
            Ok(vec![
                ("b".to_owned(), "2.0.0".to_owned()),
                ("a".to_owned(), "1.0.0".to_owned())
            ])
        );
        assert_eq!(release_outside_body(br#"{"plugins": {}}"#), Ok(vec![]));
        for bad in [
            &b"nope"[..],
            b"[]",
            br#"{"plugin": {}}"#,
            br#"{"plugins": {"a": 1}}"#,
            br#"{"plugins": {"a": ""}}"#,
            br#"{"plugins": {}, "other": 1}"#,
        ] {
            let message = release_outside_body(bad).unwrap_err();
            assert!(message.starts_with("expected"), "{message}");
        }
    }
}
