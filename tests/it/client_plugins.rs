//! The client's Plugins API methods against a wiremock server: the exact form bodies and
//! headers of the four creates, paging along `meta.next_page_url`, 404 as "none", 409 as
//! "already exists", what is retried and what is never repeated; and the requests and answers
//! checked against Twilio's OpenAPI description (`schemas/twilio/flex.v1.plugins.json`): every
//! answer a mock gives is Twilio's own example or validates against its schema, and every form
//! key sent is one the operation declares.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use flexform::client::{Answer, ApiError, SendGuard};
use flexform::domain::sid::{PluginConfigurationSid, PluginSid, PluginVersionSid};
use flexform::domain::{NewVersion, PluginVersion};
use serde_json::{json, Value};
use wiremock::matchers::{
    basic_auth, body_string, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

use crate::common::api::{account_sid, credentials, fast_retry, flex_client};
use crate::common::{repo_root, KEY, SECRET};

/// The SIDs of Twilio's examples.
const PLUGIN: &str = "FPaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const VERSION: &str = "FVaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const CONFIGURATION: &str = "FJaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const RELEASE: &str = "FKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// The OpenAPI paths of the operations the client uses.
const PLUGINS: &str = "/v1/PluginService/Plugins";
const PLUGIN_BY_SID: &str = "/v1/PluginService/Plugins/{Sid}";
const VERSIONS: &str = "/v1/PluginService/Plugins/{PluginSid}/Versions";
const CONFIGURATIONS: &str = "/v1/PluginService/Configurations";
const CONFIGURED: &str = "/v1/PluginService/Configurations/{ConfigurationSid}/Plugins";
const RELEASES: &str = "/v1/PluginService/Releases";
const RELEASE_BY_SID: &str = "/v1/PluginService/Releases/{Sid}";

const FORM: &str = "application/x-www-form-urlencoded";

fn versions_path() -> String {
    format!("/v1/PluginService/Plugins/{PLUGIN}/Versions")
}

fn configured_path() -> String {
    format!("/v1/PluginService/Configurations/{CONFIGURATION}/Plugins")
}

fn plugin_sid() -> PluginSid {
    PluginSid::parse(PLUGIN).unwrap()
}

fn configuration_sid() -> PluginConfigurationSid {
    PluginConfigurationSid::parse(CONFIGURATION).unwrap()
}

fn version_sid(n: u32) -> PluginVersionSid {
    PluginVersionSid::parse(&format!("FV{n:032x}")).unwrap()
}

// The OpenAPI description

/// The vendored extract of Twilio's `twilio_flex_v1.json`.
fn openapi() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let path = repo_root().join("schemas/twilio/flex.v1.plugins.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    })
}

/// The operation `verb` (`get`, `post`) of the OpenAPI path `template`.
fn operation(template: &str, verb: &str) -> &'static Value {
    let found = &openapi()["paths"][template][verb];
    assert!(found.is_object(), "no {verb} {template} in the OpenAPI");
    found
}

/// The JSON content of the answer `status` of an operation.
fn response(template: &str, verb: &str, status: u16) -> &'static Value {
    &operation(template, verb)["responses"][status.to_string()]["content"]["application/json"]
}

/// Twilio's example answer `name` of an operation.
fn example(template: &str, verb: &str, status: u16, name: &str) -> Value {
    let found = response(template, verb, status)["examples"][name]["value"].clone();
    assert!(found.is_object(), "no example {name} of {verb} {template}");
    found
}

/// An OpenAPI 3.0 schema as JSON Schema: references inlined, `nullable: true` as `anyOf` with
/// `null`, all the way down.
fn to_json_schema(schema: &Value) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    if let Some(Value::String(reference)) = object.get("$ref") {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .expect("a local reference");
        return to_json_schema(&openapi()["components"]["schemas"][name]);
    }
    let mut schema = serde_json::Map::new();
    for (key, value) in object {
        let value = match key.as_str() {
            "properties" => Value::Object(
                value
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, property)| (name.clone(), to_json_schema(property)))
                    .collect(),
            ),
            "items" => to_json_schema(value),
            _ => value.clone(),
        };
        schema.insert(key.clone(), value);
    }
    if schema.remove("nullable") == Some(Value::Bool(true)) {
        json!({"anyOf": [Value::Object(schema), {"type": "null"}]})
    } else {
        Value::Object(schema)
    }
}

/// The reasons `answer` does not validate against the schema of an operation's answer.
fn schema_errors(template: &str, verb: &str, status: u16, answer: &Value) -> Vec<String> {
    let schema = to_json_schema(&response(template, verb, status)["schema"]);
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the converted schema compiles");
    validator
        .iter_errors(answer)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

/// A mock's answer: `body` with `status`, after checking that it validates against the
/// schema Twilio documents for that answer.
fn answer(template: &str, verb: &str, status: u16, body: Value) -> ResponseTemplate {
    let errors = schema_errors(template, verb, status, &body);
    assert!(
        errors.is_empty(),
        "{verb} {template} {status}: {errors:#?}\n{body:#}"
    );
    ResponseTemplate::new(status).set_body_json(body)
}

// Mocks

/// A request as every call must send it: Basic auth, the account header, JSON accepted.
fn authed(verb: &str, route: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(route))
        .and(basic_auth(KEY, SECRET))
        .and(header("I-Twilio-Auth-Account", account_sid().as_str()))
        .and(header("Accept", "application/json"))
}

/// A create as it must be sent: [`authed`], a form body, exactly `body`.
fn form_post(route: &str, body: &str) -> MockBuilder {
    authed("POST", route)
        .and(header("Content-Type", FORM))
        .and(body_string(body))
}

/// Reads must never create anything.
async fn forbid_posts(server: &MockServer) {
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(server)
        .await;
}

fn twilio_error(code: u32, message: &str, status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status
    }))
}

/// A form body decoded into its pairs, in order.
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let text = std::str::from_utf8(body).expect("a form body is ASCII");
    reqwest::Url::parse(&format!("http://form.invalid/?{text}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn new_version(private: bool, changelog: Option<&str>) -> NewVersion {
    NewVersion {
        version: "1.0.0".into(),
        plugin_url: "https://sample.twil.io/plugin.js".into(),
        private,
        changelog: changelog.map(str::to_owned),
    }
}

// 1. The creates: exact bodies and headers

#[tokio::test]
async fn create_plugin_sends_the_unique_name_as_a_form() {
    let server = MockServer::start().await;
    form_post(PLUGINS, "UniqueName=unique-name")
        .respond_with(answer(
            PLUGINS,
            "post",
            201,
            example(PLUGINS, "post", 201, "create"),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let plugin = flex_client(&server.uri(), fast_retry(3))
        .create_plugin(
            &account_sid(),
            &credentials(),
            "unique-name",
            &SendGuard::unbounded(),
        )
        .await
        .unwrap();

    assert_eq!(plugin.sid, plugin_sid());
    assert_eq!(plugin.unique_name, "unique-name");
}

#[tokio::test]
async fn a_unique_name_is_form_encoded() {
    let server = MockServer::start().await;
    form_post(PLUGINS, "UniqueName=my+plugin%26co%3D%C3%A9")
        .respond_with(answer(
            PLUGINS,
            "post",
            201,
            example(PLUGINS, "post", 201, "create"),
        ))
        .expect(1)
        .mount(&server)
        .await;

    flex_client(&server.uri(), fast_retry(3))
        .create_plugin(
            &account_sid(),
            &credentials(),
            "my plugin&co=é",
            &SendGuard::unbounded(),
        )
        .await
        .unwrap();

    let sent = &server.received_requests().await.unwrap()[0];
    assert_eq!(
        form_pairs(&sent.body),
        [("UniqueName".to_owned(), "my plugin&co=é".to_owned())]
    );
}

#[tokio::test]
async fn create_plugin_version_sends_version_url_private_and_the_changelog_when_given() {
    let url = "https%3A%2F%2Fsample.twil.io%2Fplugin.js";
    let cases = [
        (
            new_version(true, Some("the changelog")),
            format!("Version=1.0.0&PluginUrl={url}&Private=true&Changelog=the+changelog"),
        ),
        (
            new_version(false, None),
            format!("Version=1.0.0&PluginUrl={url}&Private=false"),
        ),
    ];
    for (version, body) in cases {
        let server = MockServer::start().await;
        form_post(&versions_path(), &body)
            .respond_with(answer(
                VERSIONS,
                "post",
                201,
                example(VERSIONS, "post", 201, "create"),
            ))
            .expect(1)
            .mount(&server)
            .await;

        let created = flex_client(&server.uri(), fast_retry(3))
            .create_plugin_version(
                &account_sid(),
                &credentials(),
                &plugin_sid(),
                &version,
                &SendGuard::unbounded(),
            )
            .await
            .unwrap();

        assert_eq!(
            created,
            PluginVersion {
                sid: PluginVersionSid::parse(VERSION).unwrap(),
                plugin_sid: plugin_sid(),
                version: "1.0.0".into(),
                plugin_url: "https://sample.twil.io/plugin.js".into(),
                private: true,
            }
        );
    }
}

#[tokio::test]
async fn create_plugin_configuration_sends_one_plugins_value_per_version() {
    let plugins = |n: u32| format!("Plugins=%7B%22plugin_version%22%3A%22FV{n:032x}%22%7D");
    let cases = [
        (
            vec![version_sid(1), version_sid(2)],
            format!("Name=flexform+1&{}&{}", plugins(1), plugins(2)),
        ),
        (vec![], "Name=flexform+1".to_owned()),
    ];
    for (versions, body) in cases {
        let server = MockServer::start().await;
        form_post(CONFIGURATIONS, &body)
            .respond_with(answer(
                CONFIGURATIONS,
                "post",
                201,
                example(CONFIGURATIONS, "post", 201, "create"),
            ))
            .expect(1)
            .mount(&server)
            .await;

        let created = flex_client(&server.uri(), fast_retry(3))
            .create_plugin_configuration(
                &account_sid(),
                &credentials(),
                "flexform 1",
                &versions,
                &SendGuard::unbounded(),
            )
            .await
            .unwrap();

        assert_eq!(created.sid, configuration_sid());
        assert_eq!(created.name, "some name");
        let sent = &server.received_requests().await.unwrap()[0];
        let values: Vec<Value> = form_pairs(&sent.body)
            .into_iter()
            .filter(|(key, _)| key == "Plugins")
            .map(|(_, value)| serde_json::from_str(&value).unwrap())
            .collect();
        let expected: Vec<Value> = versions
            .iter()
            .map(|sid| json!({"plugin_version": sid.as_str()}))
            .collect();
        assert_eq!(values, expected);
    }
}

#[tokio::test]
async fn create_release_sends_the_configuration_id() {
    let server = MockServer::start().await;
    form_post(RELEASES, &format!("ConfigurationId={CONFIGURATION}"))
        .respond_with(answer(
            RELEASES,
            "post",
            201,
            example(RELEASES, "post", 201, "create"),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let release = flex_client(&server.uri(), fast_retry(3))
        .create_release(
            &account_sid(),
            &credentials(),
            &configuration_sid(),
            &SendGuard::unbounded(),
        )
        .await
        .unwrap();

    assert_eq!(release.sid.as_str(), RELEASE);
    assert_eq!(release.configuration_sid, configuration_sid());
}

// 2. Reads of one resource: 404 is "none"

#[tokio::test]
async fn find_plugin_reads_the_plugin_by_its_unique_name() {
    let server = MockServer::start().await;
    forbid_posts(&server).await;
    authed("GET", "/v1/PluginService/Plugins/unique-name")
        .respond_with(answer(
            PLUGIN_BY_SID,
            "get",
            200,
            example(PLUGIN_BY_SID, "get", 200, "fetch"),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let found = flex_client(&server.uri(), fast_retry(3))
        .find_plugin(&account_sid(), &credentials(), "unique-name")
        .await
        .unwrap()
        .expect("the plugin");

    assert_eq!(found.sid, plugin_sid());
    assert_eq!(found.unique_name, "unique-name");
}

#[tokio::test]
async fn find_plugin_404_is_none_and_the_name_is_one_path_segment() {
    let server = MockServer::start().await;
    forbid_posts(&server).await;
    authed("GET", "/v1/PluginService/Plugins/a%20b%2Fc%3F")
        .respond_with(twilio_error(
            20404,
            "The requested resource was not found",
            404,
        ))
        .expect(1)
        .mount(&server)
        .await;

    let found = flex_client(&server.uri(), fast_retry(3))
        .find_plugin(&account_sid(), &credentials(), "a b/c?")
        .await
        .unwrap();

    assert_eq!(found, None);
}

#[tokio::test]
async fn active_release_reads_releases_active() {
    let server = MockServer::start().await;
    forbid_posts(&server).await;
    authed("GET", "/v1/PluginService/Releases/Active")
        .respond_with(answer(
            RELEASE_BY_SID,
            "get",
            200,
            example(RELEASE_BY_SID, "get", 200, "fetchActive"),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let active = flex_client(&server.uri(), fast_retry(3))
        .active_release(&account_sid(), &credentials())
        .await
        .unwrap()
        .expect("a release");

    assert_eq!(active.sid.as_str(), RELEASE);
    assert_eq!(active.configuration_sid, configuration_sid());
}

#[tokio::test]
async fn active_release_404_is_none() {
    let server = MockServer::start().await;
    forbid_posts(&server).await;
    authed("GET", "/v1/PluginService/Releases/Active")
        .respond_with(twilio_error(
            20404,
            "The requested resource was not found",
            404,
        ))
        .expect(1)
        .mount(&server)
        .await;

    let active = flex_client(&server.uri(), fast_retry(3))
        .active_release(&account_sid(), &credentials())
        .await
        .unwrap();

    assert_eq!(active, None);
}

#[tokio::test]
async fn a_read_whose_answer_is_not_the_resource_is_an_invalid_response() {
    let server = MockServer::start().await;
    authed("GET", "/v1/PluginService/Releases/Active")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"sid": "GO1"})))
        .expect(1)
        .mount(&server)
        .await;

    let err = flex_client(&server.uri(), fast_retry(3))
        .active_release(&account_sid(), &credentials())
        .await
        .unwrap_err();

    assert!(
        matches!(err, ApiError::InvalidResponse { status: 200, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not a plugin release"), "{err}");
}

// 3. Lists: every page, along meta.next_page_url, never to another host

/// A list answer: `items` under `key`, and `next` as `meta.next_page_url`, shaped as Twilio's
/// example of that list.
fn page(template: &str, key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut page = example(template, "get", 200, "readFull");
    page[key] = Value::Array(items);
    page["meta"]["next_page_url"] = next.map_or(Value::Null, Value::String);
    page
}

/// A plugin version numbered `n`, as Twilio's example of one.
fn version_item(n: u32) -> Value {
    let mut item = example(VERSIONS, "post", 201, "create");
    item["sid"] = json!(version_sid(n).as_str());
    item["version"] = json!(format!("1.{n}.0"));
    item
}

#[tokio::test]
async fn plugin_versions_reads_every_page_and_follows_next_page_url_on_our_host() {
    let server = MockServer::start().await;
    forbid_posts(&server).await;
    // Twilio's next_page_url names Twilio's host: only its query is used, against ours.
    let next = format!(
        "https://flex-api.twilio.com{}?PageSize=50&Page=1&PageToken=PT1",
        versions_path()
    );
    authed("GET", &versions_path())
        .and(query_param("PageSize", "50"))
        .and(query_param_is_missing("PageToken"))
        .respond_with(answer(
            VERSIONS,
            "get",
            200,
            page(
                VERSIONS,
                "plugin_versions",
                vec![version_item(1), version_item(2)],
                Some(next),
            ),
        ))
        .expect(1)
        .mount(&server)
        .await;
    authed("GET", &versions_path())
        .and(query_param("PageToken", "PT1"))
        .and(query_param("Page", "1"))
        .respond_with(answer(
            VERSIONS,
            "get",
            200,
            page(VERSIONS, "plugin_versions", vec![version_item(3)], None),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let versions = flex_client(&server.uri(), fast_retry(3))
        .plugin_versions(&account_sid(), &credentials(), &plugin_sid())
        .await
        .unwrap();

    let read: Vec<(&str, &str)> = versions
        .iter()
        .map(|v| (v.sid.as_str(), v.version.as_str()))
        .collect();
    let expected: Vec<(String, String)> = (1..=3)
        .map(|n| (version_sid(n).as_str().to_owned(), format!("1.{n}.0")))
        .collect();
    let expected: Vec<(&str, &str)> = expected
        .iter()
        .map(|(s, v)| (s.as_str(), v.as_str()))
        .collect();
    assert_eq!(read, expected);
    assert!(versions
        .iter()
        .all(|v| v.plugin_sid == plugin_sid() && v.private));
}

/// A configured plugin numbered `n`. Twilio's own example of this list names its version
/// `PV…`, which the schema's pattern (`^FV…`) refuses: the items here are built instead, and
/// validated like every answer.
fn configured_item(n: u32) -> Value {
    json!({
        "account_sid": account_sid().as_str(),
        "configuration_sid": CONFIGURATION,
        "plugin_sid": format!("FP{n:032x}"),
        "plugin_version_sid": version_sid(n).as_str(),
        "phase": 3,
        "plugin_url": format!("https://assets.example.test/plugin-{n}/1.0.{n}/bundle.js"),
        "unique_name": format!("plugin-{n}"),
        "plugin_archived": false,
        "friendly_name": format!("plugin {n}"),
        "description": "a plugin",
        "version": format!("1.0.{n}"),
        "plugin_version_archived": false,
        "changelog": null,
        "private": true,
        "date_created": "2020-01-10T20:00:00Z",
        "url": format!(
            "https://flex-api.twilio.com/v1/PluginService/Configurations/{CONFIGURATION}/Plugins/FP{n:032x}"
        )
    })
}

#[tokio::test]
async fn configured_plugins_reads_every_page() {
    let server = MockServer::start().await;
    forbid_posts(&server).await;
    let next = format!(
        "https://flex-api.twilio.com{}?PageSize=50&Page=1&PageToken=PT1",
        configured_path()
    );
    authed("GET", &configured_path())
        .and(query_param("PageSize", "50"))
        .and(query_param_is_missing("PageToken"))
        .respond_with(answer(
            CONFIGURED,
            "get",
            200,
            page(CONFIGURED, "plugins", vec![configured_item(1)], Some(next)),
        ))
        .expect(1)
        .mount(&server)
        .await;
    authed("GET", &configured_path())
        .and(query_param("PageToken", "PT1"))
        .respond_with(answer(
            CONFIGURED,
            "get",
            200,
            page(CONFIGURED, "plugins", vec![configured_item(2)], None),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let configured = flex_client(&server.uri(), fast_retry(3))
        .configured_plugins(&account_sid(), &credentials(), &configuration_sid())
        .await
        .unwrap();

    let names: Vec<(&str, &str, &str)> = configured
        .iter()
        .map(|c| {
            (
                c.unique_name.as_str(),
                c.version.as_str(),
                c.plugin_url.as_str(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            (
                "plugin-1",
                "1.0.1",
                "https://assets.example.test/plugin-1/1.0.1/bundle.js"
            ),
            (
                "plugin-2",
                "1.0.2",
                "https://assets.example.test/plugin-2/1.0.2/bundle.js"
            ),
        ]
    );
    assert_eq!(configured[1].plugin_version_sid, version_sid(2));
    assert_eq!(
        configured[1].plugin_sid,
        PluginSid::parse(&format!("FP{:032x}", 2)).unwrap()
    );
}

#[tokio::test]
async fn a_next_page_url_to_another_list_or_back_to_a_read_page_is_refused() {
    let elsewhere = "https://flex-api.twilio.com/v1/PluginService/Releases?Page=1".to_owned();
    let again = format!("https://flex-api.twilio.com{}?PageSize=50", versions_path());
    for next in [elsewhere, again] {
        let server = MockServer::start().await;
        authed("GET", &versions_path())
            .respond_with(answer(
                VERSIONS,
                "get",
                200,
                page(VERSIONS, "plugin_versions", vec![], Some(next.clone())),
            ))
            .expect(1)
            .mount(&server)
            .await;

        let err = flex_client(&server.uri(), fast_retry(3))
            .plugin_versions(&account_sid(), &credentials(), &plugin_sid())
            .await
            .unwrap_err();

        assert!(
            matches!(err, ApiError::InvalidResponse { .. }),
            "{next}: {err:?}"
        );
        assert!(
            err.to_string().contains("is not a further page of"),
            "{err}"
        );
    }
}

// 4. Errors of the creates: what exists, what is unknown, what is retried

#[tokio::test]
async fn a_409_is_already_exists() {
    let server = MockServer::start().await;
    form_post(PLUGINS, "UniqueName=unique-name")
        .respond_with(twilio_error(
            20409,
            "A plugin with UniqueName unique-name already exists",
            409,
        ))
        .expect(1)
        .mount(&server)
        .await;
    form_post(
        &versions_path(),
        "Version=1.0.0&PluginUrl=https%3A%2F%2Fsample.twil.io%2Fplugin.js&Private=true",
    )
    .respond_with(twilio_error(20409, "Version 1.0.0 already exists", 409))
    .expect(1)
    .mount(&server)
    .await;
    let client = flex_client(&server.uri(), fast_retry(3));
    let guard = SendGuard::unbounded();

    let plugin = client
        .create_plugin(&account_sid(), &credentials(), "unique-name", &guard)
        .await
        .unwrap_err();
    let version = client
        .create_plugin_version(
            &account_sid(),
            &credentials(),
            &plugin_sid(),
            &new_version(true, None),
            &guard,
        )
        .await
        .unwrap_err();

    for err in [plugin, version] {
        assert!(err.is_already_exists(), "{err:?}");
        assert_eq!(err.code(), Some(20409));
        assert!(err.to_string().contains("already exists"), "{err}");
    }
}

/// The four creates, each against `server` with a body the mocks of this section accept.
async fn every_create(server: &MockServer) -> Vec<Result<(), ApiError>> {
    let client = flex_client(&server.uri(), fast_retry(5));
    let (account, credentials) = (account_sid(), credentials());
    let guard = SendGuard::unbounded();
    vec![
        client
            .create_plugin(&account, &credentials, "unique-name", &guard)
            .await
            .map(drop),
        client
            .create_plugin_version(
                &account,
                &credentials,
                &plugin_sid(),
                &new_version(false, None),
                &guard,
            )
            .await
            .map(drop),
        client
            .create_plugin_configuration(&account, &credentials, "c", &[version_sid(1)], &guard)
            .await
            .map(drop),
        client
            .create_release(&account, &credentials, &configuration_sid(), &guard)
            .await
            .map(drop),
    ]
}

/// The routes of the four creates.
fn create_routes() -> [String; 4] {
    [
        PLUGINS.to_owned(),
        versions_path(),
        CONFIGURATIONS.to_owned(),
        RELEASES.to_owned(),
    ]
}

#[tokio::test]
async fn a_500_on_a_create_is_an_unknown_outcome_and_never_repeated() {
    let server = MockServer::start().await;
    for route in create_routes() {
        authed("POST", &route)
            .and(header("Content-Type", FORM))
            .respond_with(twilio_error(20500, "Internal Server Error", 500))
            .expect(1)
            .mount(&server)
            .await;
    }

    let results = every_create(&server).await;

    let said = [
        "the plugin may have been created",
        "the plugin version may have been created",
        "the plugin configuration may have been created",
        "the release may have been created and made active",
    ];
    for (result, said) in results.into_iter().zip(said) {
        let err = result.unwrap_err();
        assert!(
            matches!(err, ApiError::OutcomeUnknown { method: "POST", .. }),
            "{err:?}"
        );
        assert_eq!(
            err.answer(),
            Some(Answer::Twilio {
                status: 500,
                code: Some(20500)
            })
        );
        assert!(err.to_string().ends_with(said), "{err}");
    }
}

#[tokio::test]
async fn a_429_on_a_create_is_retried() {
    let server = MockServer::start().await;
    let answers = [
        (PLUGINS, example(PLUGINS, "post", 201, "create")),
        (VERSIONS, example(VERSIONS, "post", 201, "create")),
        (
            CONFIGURATIONS,
            example(CONFIGURATIONS, "post", 201, "create"),
        ),
        (RELEASES, example(RELEASES, "post", 201, "create")),
    ];
    for (route, (template, created)) in create_routes().into_iter().zip(answers) {
        authed("POST", &route)
            .respond_with(twilio_error(20429, "Too Many Requests", 429))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
        authed("POST", &route)
            .and(header("Content-Type", FORM))
            .respond_with(answer(template, "post", 201, created))
            .expect(1)
            .mount(&server)
            .await;
    }

    for result in every_create(&server).await {
        result.unwrap();
    }
}

#[tokio::test]
async fn a_create_whose_success_cannot_be_read_is_an_unknown_outcome() {
    let server = MockServer::start().await;
    form_post(RELEASES, &format!("ConfigurationId={CONFIGURATION}"))
        .respond_with(ResponseTemplate::new(201).set_body_string("<html>ok</html>"))
        .expect(1)
        .mount(&server)
        .await;

    let err = flex_client(&server.uri(), fast_retry(3))
        .create_release(
            &account_sid(),
            &credentials(),
            &configuration_sid(),
            &SendGuard::unbounded(),
        )
        .await
        .unwrap_err();

    assert!(
        matches!(err, ApiError::OutcomeUnknown { method: "POST", .. }),
        "{err:?}"
    );
    assert_eq!(err.answer(), Some(Answer::Unreadable { status: 201 }));
    assert!(err.to_string().contains("not a plugin release"), "{err}");
}

// 5. The requests against the OpenAPI description

/// Asserts that the form `pairs` sent to the OpenAPI path `template` is a body the operation
/// declares: a form, every key one of its properties (only arrays repeated), every value of
/// its property's type, every required property sent.
fn assert_form_declared(template: &str, content_type: &str, pairs: &[(String, String)]) {
    let body = &operation(template, "post")["requestBody"]["content"];
    assert!(body[FORM].is_object(), "{template} takes no form");
    assert_eq!(content_type, FORM, "{template}");
    let schema = &body[FORM]["schema"];
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (key, value) in pairs {
        let property = &schema["properties"][key];
        assert!(property.is_object(), "{template}: {key} is not declared");
        *counts.entry(key).or_default() += 1;
        match property["type"].as_str() {
            Some("boolean") => assert!(value == "true" || value == "false", "{key}={value}"),
            Some("string") if property["format"] == "uri" => {
                reqwest::Url::parse(value).unwrap_or_else(|e| panic!("{key}={value}: {e}"));
            }
            Some("string") => {}
            Some("array") => {
                // Twilio's example: each value a JSON object naming a plugin version.
                let example = &body[FORM]["examples"]["create"]["value"][key][0];
                let example: Value = serde_json::from_str(example.as_str().unwrap()).unwrap();
                let item: Value = serde_json::from_str(value).unwrap();
                let item = item.as_object().expect("a JSON object");
                assert!(item.keys().all(|k| example.get(k).is_some()), "{value}");
                assert!(item["plugin_version"].as_str().unwrap().starts_with("FV"));
            }
            other => panic!("{template}: {key} has type {other:?}"),
        }
    }
    for (key, count) in &counts {
        let array = schema["properties"][*key]["type"] == "array";
        assert!(array || *count == 1, "{template}: {key} sent {count} times");
    }
    for required in schema["required"].as_array().into_iter().flatten() {
        let required = required.as_str().unwrap();
        assert!(
            counts.contains_key(required),
            "{template}: {required} not sent"
        );
    }
}

#[tokio::test]
async fn every_create_sends_a_body_its_openapi_operation_declares() {
    let server = MockServer::start().await;
    let templates = [PLUGINS, VERSIONS, CONFIGURATIONS, RELEASES];
    for (route, template) in create_routes().into_iter().zip(templates) {
        authed("POST", &route)
            .respond_with(answer(
                template,
                "post",
                201,
                example(template, "post", 201, "create"),
            ))
            .expect(2)
            .mount(&server)
            .await;
    }
    let client = flex_client(&server.uri(), fast_retry(3));
    let (account, credentials) = (account_sid(), credentials());
    let guard = SendGuard::unbounded();

    every_create(&server)
        .await
        .into_iter()
        .for_each(|r| r.unwrap());
    // The other shapes: a changelog, several versions.
    client
        .create_plugin(&account, &credentials, "second", &guard)
        .await
        .unwrap();
    client
        .create_plugin_version(
            &account,
            &credentials,
            &plugin_sid(),
            &new_version(true, Some("notes")),
            &guard,
        )
        .await
        .unwrap();
    let versions = [version_sid(1), version_sid(2), version_sid(3)];
    client
        .create_plugin_configuration(&account, &credentials, "c", &versions, &guard)
        .await
        .unwrap();
    client
        .create_release(&account, &credentials, &configuration_sid(), &guard)
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 8);
    for request in &requests {
        let index = create_routes()
            .iter()
            .position(|route| route == request.url.path())
            .expect("a create route");
        let content_type = request.headers["content-type"].to_str().unwrap();
        assert_form_declared(templates[index], content_type, &form_pairs(&request.body));
    }
}

#[test]
fn the_answers_of_the_examples_validate_and_the_checks_catch_what_they_must() {
    for (template, verb, status, name) in [
        (PLUGINS, "post", 201, "create"),
        (PLUGIN_BY_SID, "get", 200, "fetch"),
        (VERSIONS, "post", 201, "create"),
        (VERSIONS, "get", 200, "readFull"),
        (CONFIGURATIONS, "post", 201, "create"),
        (RELEASES, "post", 201, "create"),
        (RELEASE_BY_SID, "get", 200, "fetchActive"),
    ] {
        let errors = schema_errors(
            template,
            verb,
            status,
            &example(template, verb, status, name),
        );
        assert!(errors.is_empty(), "{verb} {template} {name}: {errors:#?}");
    }
    // The schema conversion catches a wrong SID kind, type and format.
    let mut wrong = example(RELEASES, "post", 201, "create");
    wrong["configuration_sid"] = json!(VERSION);
    assert!(!schema_errors(RELEASES, "post", 201, &wrong).is_empty());
    let mut wrong = example(VERSIONS, "post", 201, "create");
    wrong["private"] = json!("yes");
    assert!(!schema_errors(VERSIONS, "post", 201, &wrong).is_empty());
    let mut wrong = page(VERSIONS, "plugin_versions", vec![version_item(1)], None);
    wrong["plugin_versions"][0]["date_created"] = json!("yesterday");
    assert!(!schema_errors(VERSIONS, "get", 200, &wrong).is_empty());
    // And the form check refuses an undeclared key and a missing required one.
    let undeclared = std::panic::catch_unwind(|| {
        assert_form_declared(PLUGINS, FORM, &[("Name".into(), "x".into())])
    });
    assert!(undeclared.is_err());
    let missing = std::panic::catch_unwind(|| {
        assert_form_declared(VERSIONS, FORM, &[("Version".into(), "1.0.0".into())])
    });
    assert!(missing.is_err());
}

/// The extract is Twilio's document unchanged: where the whole document is at hand (the
/// project's shared folder beside the repository), its parts are compared.
#[test]
fn the_vendored_extract_is_twilios_document_unchanged() {
    let whole = repo_root().join("../shared/vendor/twilio-oai/twilio_flex_v1.json");
    let Ok(text) = std::fs::read_to_string(&whole) else {
        eprintln!("skipped: {} is not here", whole.display());
        return;
    };
    let whole: Value = serde_json::from_str(&text).unwrap();
    let extract = openapi();
    assert_eq!(extract["openapi"], whole["openapi"]);
    assert_eq!(extract["info"], whole["info"]);
    for (name, schema) in extract["components"]["schemas"].as_object().unwrap() {
        assert_eq!(schema, &whole["components"]["schemas"][name], "{name}");
    }
    for (route, item) in extract["paths"].as_object().unwrap() {
        assert_eq!(item, &whole["paths"][route], "{route}");
    }
}
