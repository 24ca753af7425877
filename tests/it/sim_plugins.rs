//! The simulator's Flex Plugins API over real HTTP: plugins, versions, configurations and
//! releases created with form bodies; Twilio's rules (duplicates 409, unknown SIDs 404, missing
//! parameters 400); paging; `Releases/Active`; the `/_sim/plugins/` controls and
//! `SimHandle::release_outside`; the counters, the plugin faults, the gate and the data file.
//! Every answer body is checked against Twilio's published schemas
//! (`schemas/twilio/flex.v1.plugins.json`), made strict: every property the schema lists, and
//! no other. Every request goes to 127.0.0.1.

use std::sync::LazyLock;
use std::time::Duration;

use flexform::domain::{ConfiguredPlugin, Plugin, PluginConfiguration, PluginVersion, Release};
use flexform::sim::{self, Faults, SimConfig, SimHandle, SimStats};
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::common::{self, http_client};

const PLUGIN: &str = "flex.v1.plugin";
const VERSION: &str = "flex.v1.plugin.plugin_version";
const CONFIGURATION: &str = "flex.v1.plugin_configuration";
const CONFIGURED: &str = "flex.v1.plugin_configuration.configured_plugin";
const RELEASE: &str = "flex.v1.plugin_release";

/// A simulator and a client for it, speaking the Plugins API with the pair `key:secret`.
struct Sim {
    handle: SimHandle,
    client: reqwest::Client,
}

/// An answer: its status and its JSON body.
type Answer = (StatusCode, Value);

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

    fn api(&self, method: Method, url: &str, account: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .basic_auth("key", Some("secret"))
            .header("I-Twilio-Auth-Account", account)
    }

    /// `GET /v1/PluginService{path}`.
    async fn get(&self, account: &str, path: &str) -> Answer {
        let url = self.url(&format!("/v1/PluginService{path}"));
        self.get_url(account, &url).await
    }

    /// `GET` of a whole URL, as a `next_page_url` gives it.
    async fn get_url(&self, account: &str, url: &str) -> Answer {
        read_answer(self.api(Method::GET, url, account).send().await.unwrap()).await
    }

    /// `POST /v1/PluginService{path}` with a form body (a name may repeat).
    async fn post(&self, account: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        let url = self.url(&format!("/v1/PluginService{path}"));
        let request = self.api(Method::POST, &url, account).form(form);
        read_answer(request.send().await.unwrap()).await
    }

    /// Creates a resource that must be created; its body, checked against `schema`.
    async fn created(
        &self,
        account: &str,
        path: &str,
        form: &[(&str, &str)],
        schema: &str,
    ) -> Value {
        let (status, body) = self.post(account, path, form).await;
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {body}");
        assert_valid(schema, &body);
        body
    }

    async fn plugin(&self, account: &str, name: &str) -> Value {
        self.created(account, "/Plugins", &[("UniqueName", name)], PLUGIN)
            .await
    }

    async fn version(&self, account: &str, plugin: &str, version: &str) -> Value {
        let url = format!("https://assets.example.test/{plugin}/{version}/bundle.js");
        let form = [
            ("Version", version),
            ("PluginUrl", url.as_str()),
            ("Private", "true"),
            ("Changelog", "notes"),
        ];
        self.created(
            account,
            &format!("/Plugins/{plugin}/Versions"),
            &form,
            VERSION,
        )
        .await
    }

    async fn configuration(&self, account: &str, name: &str, versions: &[&str]) -> Value {
        let entries: Vec<String> = versions
            .iter()
            .map(|sid| json!({"plugin_version": sid, "phase": 3}).to_string())
            .collect();
        let mut form = vec![("Name", name)];
        form.extend(entries.iter().map(|entry| ("Plugins", entry.as_str())));
        self.created(account, "/Configurations", &form, CONFIGURATION)
            .await
    }

    async fn release(&self, account: &str, configuration: &str) -> Value {
        let form = [("ConfigurationId", configuration)];
        self.created(account, "/Releases", &form, RELEASE).await
    }

    /// A request to a `/_sim/` control.
    fn control(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path))
    }
}

async fn read_answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let body = response.json().await.expect("a JSON answer");
    (status, body)
}

fn sid(body: &Value) -> &str {
    body["sid"].as_str().expect("a sid")
}

/// Asserts a classic Twilio error answer with this status and code; returns its message.
fn assert_twilio_error((status, body): &Answer, expected: StatusCode, code: u64) -> String {
    assert_eq!(*status, expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert_eq!(
        body["more_info"],
        format!("https://www.twilio.com/docs/errors/{code}")
    );
    body["message"].as_str().expect("a message").to_owned()
}

/// Twilio's Plugins API document (OpenAPI 3.0).
static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    let path = common::repo_root().join("schemas/twilio/flex.v1.plugins.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
});

/// An OpenAPI 3.0 schema as JSON Schema, made strict: references inlined, `nullable: true` as
/// `anyOf` with `null`, and every object that lists properties requiring all of them and
/// allowing no other (so that a property missing or added is caught).
fn strict(openapi: &Value) -> Value {
    let Some(object) = openapi.as_object() else {
        return openapi.clone();
    };
    if let Some(Value::String(reference)) = object.get("$ref") {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .expect("a local reference");
        return strict(&DOCUMENT["components"]["schemas"][name]);
    }
    let mut schema = Map::new();
    for (key, value) in object {
        let converted = match key.as_str() {
            "properties" => Value::Object(
                value
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, property)| (name.clone(), strict(property)))
                    .collect(),
            ),
            "items" => strict(value),
            "nullable" | "x-twilio" | "description" => continue,
            _ => value.clone(),
        };
        schema.insert(key.clone(), converted);
    }
    if let Some(Value::Object(properties)) = schema.get("properties") {
        let names: Vec<Value> = properties.keys().cloned().map(Value::from).collect();
        schema.insert("required".to_owned(), Value::from(names));
        schema.insert("additionalProperties".to_owned(), Value::Bool(false));
        schema.insert("type".to_owned(), Value::from("object"));
    }
    if object.get("nullable") == Some(&Value::Bool(true)) {
        json!({"anyOf": [Value::Object(schema), {"type": "null"}]})
    } else {
        Value::Object(schema)
    }
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("the converted schema compiles")
}

/// Asserts that `body` is a valid `schema` (a component of the document), strictly.
fn assert_valid(schema: &str, body: &Value) {
    let schema = strict(&DOCUMENT["components"]["schemas"][schema]);
    assert_no_errors(&validator(&schema), body);
}

/// Asserts that `body` is a valid answer to `GET path` (a path of the document, with its
/// parameters in braces), strictly: the list wrapper, its items and its `meta`.
fn assert_valid_list(path: &str, body: &Value) {
    let openapi = &DOCUMENT["paths"][path]["get"]["responses"]["200"]["content"]
        ["application/json"]["schema"];
    assert!(openapi.is_object(), "no GET {path} in the document");
    assert_no_errors(&validator(&strict(openapi)), body);
}

fn assert_no_errors(validator: &jsonschema::Validator, body: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{body:#}");
}

#[test]
fn the_strict_schemas_catch_what_they_must() {
    let plugin = json!({
        "sid": "FP0123456789abcdef0123456789abcdef",
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "unique_name": "a",
        "friendly_name": null,
        "description": null,
        "archived": false,
        "date_created": "2020-01-10T20:00:00Z",
        "date_updated": "2020-01-10T20:00:00Z",
        "url": "https://flex-api.twilio.com/v1/PluginService/Plugins/FP0123456789abcdef0123456789abcdef",
        "links": {"plugin_versions": "https://flex-api.twilio.com/v1/PluginService/Plugins/FP0123456789abcdef0123456789abcdef/Versions"},
    });
    let schema = validator(&strict(&DOCUMENT["components"]["schemas"][PLUGIN]));
    assert!(schema.is_valid(&plugin));
    let broken = |change: &dyn Fn(&mut Map<String, Value>)| {
        let mut body = plugin.as_object().unwrap().clone();
        change(&mut body);
        Value::Object(body)
    };
    for bad in [
        broken(&|b| {
            b.insert("sid".into(), "FV0123456789abcdef0123456789abcdef".into());
        }),
        broken(&|b| {
            b.remove("archived");
        }),
        broken(&|b| {
            b.insert("extra".into(), 1.into());
        }),
        broken(&|b| {
            b.insert("date_created".into(), "yesterday".into());
        }),
        broken(&|b| {
            b.insert("archived".into(), "no".into());
        }),
    ] {
        assert!(!schema.is_valid(&bad), "{bad}");
    }
    // A list: the items and the meta are held to their schemas too.
    let list = json!({"plugins": [plugin], "meta": {
        "page": 0, "page_size": 50, "first_page_url": "http://h/x", "previous_page_url": null,
        "url": "http://h/x", "next_page_url": null, "key": "plugins"}});
    let lists = validator(&strict(
        &DOCUMENT["paths"]["/v1/PluginService/Plugins"]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"],
    ));
    assert!(lists.is_valid(&list));
    let mut no_key = list.clone();
    no_key["meta"].as_object_mut().unwrap().remove("key");
    assert!(!lists.is_valid(&no_key));
    let mut bad_item = list;
    bad_item["plugins"][0]["sid"] = json!("nope");
    assert!(!lists.is_valid(&bad_item));
}

#[tokio::test]
async fn plugins_and_their_versions_are_created_and_read_back() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;
    let a = sim.plugin(account, "plugin-a").await;
    let a_sid = sid(&a).to_owned();
    assert_eq!(a["unique_name"], "plugin-a");
    assert_eq!(a["account_sid"], account);
    assert_eq!(
        a["url"],
        format!("https://flex-api.twilio.com/v1/PluginService/Plugins/{a_sid}")
    );
    assert_eq!(
        a["links"]["plugin_versions"],
        format!("{}/Versions", a["url"].as_str().unwrap())
    );
    let described = sim
        .created(
            account,
            "/Plugins",
            &[
                ("UniqueName", "plugin-b"),
                ("FriendlyName", "Plugin B"),
                ("Description", "the second"),
            ],
            PLUGIN,
        )
        .await;
    assert_eq!(
        (&described["friendly_name"], &described["description"]),
        (&json!("Plugin B"), &json!("the second"))
    );
    let b_sid = sid(&described).to_owned();

    // Read back by SID and by unique name, and as a list; the domain types read them.
    for id in [a_sid.as_str(), "plugin-a"] {
        let (status, body) = sim.get(account, &format!("/Plugins/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_valid(PLUGIN, &body);
        assert_eq!(body, a);
    }
    let (status, list) = sim.get(account, "/Plugins").await;
    assert_eq!(status, StatusCode::OK);
    assert_valid_list("/v1/PluginService/Plugins", &list);
    let plugins: Vec<Plugin> = serde_json::from_value(list["plugins"].clone()).unwrap();
    let names: Vec<&str> = plugins.iter().map(|p| p.unique_name.as_str()).collect();
    assert_eq!(names, ["plugin-a", "plugin-b"]);

    // Versions.
    let v1 = sim.version(account, &a_sid, "1.0.0").await;
    let v2 = sim.version(account, "plugin-a", "1.1.0").await;
    let b1 = sim.version(account, &b_sid, "0.1.0").await;
    assert_eq!(v1["plugin_sid"], a_sid.as_str());
    assert_eq!(
        (&v1["private"], &v1["changelog"]),
        (&json!(true), &json!("notes"))
    );
    assert_eq!(
        v1["url"],
        format!(
            "https://flex-api.twilio.com/v1/PluginService/Plugins/{a_sid}/Versions/{}",
            sid(&v1)
        )
    );
    let (status, list) = sim
        .get(account, &format!("/Plugins/{a_sid}/Versions"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_valid_list("/v1/PluginService/Plugins/{PluginSid}/Versions", &list);
    let versions: Vec<PluginVersion> =
        serde_json::from_value(list["plugin_versions"].clone()).unwrap();
    let listed: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
    assert_eq!(listed, ["1.0.0", "1.1.0"]);
    assert_eq!(list["meta"]["key"], "plugin_versions");
    for id in [sid(&v2), "1.1.0"] {
        let (status, body) = sim
            .get(account, &format!("/Plugins/{a_sid}/Versions/{id}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_valid(VERSION, &body);
        assert_eq!(body, v2);
    }

    // Each plugin lists its own versions only.
    let (_, list) = sim.get(account, "/Plugins/plugin-b/Versions").await;
    assert_eq!(list["plugin_versions"], json!([b1]));
}

/// What the configuration and release tests start from: `plugin-a` with versions 1.0.0 and
/// 1.1.0, `plugin-b` with 0.1.0.
struct Fixture {
    b: Value,
    v1: Value,
    v2: Value,
    b1: Value,
}

async fn fixture(sim: &Sim, account: &str) -> Fixture {
    sim.plugin(account, "plugin-a").await;
    let b = sim.plugin(account, "plugin-b").await;
    Fixture {
        v1: sim.version(account, "plugin-a", "1.0.0").await,
        v2: sim.version(account, "plugin-a", "1.1.0").await,
        b1: sim.version(account, "plugin-b", "0.1.0").await,
        b,
    }
}

#[tokio::test]
async fn configurations_and_releases_are_created_and_read_back() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;
    let Fixture { b, v1, v2, b1 } = fixture(&sim, account).await;
    let b_sid = sid(&b);
    // A configuration of a's 1.1.0 and b's 0.1.0, and the versions it holds.
    let configuration = sim
        .configuration(account, "first", &[sid(&v2), sid(&b1)])
        .await;
    let configuration_sid = sid(&configuration).to_owned();
    let parsed: PluginConfiguration = serde_json::from_value(configuration.clone()).unwrap();
    assert_eq!(parsed.name, "first");
    assert_eq!(
        configuration["links"]["plugins"],
        format!(
            "https://flex-api.twilio.com/v1/PluginService/Configurations/{configuration_sid}/Plugins"
        )
    );
    let (status, body) = sim
        .get(account, &format!("/Configurations/{configuration_sid}"))
        .await;
    assert_eq!((status, &body), (StatusCode::OK, &configuration));
    assert_valid(CONFIGURATION, &body);
    let (status, list) = sim
        .get(
            account,
            &format!("/Configurations/{configuration_sid}/Plugins"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_valid_list(
        "/v1/PluginService/Configurations/{ConfigurationSid}/Plugins",
        &list,
    );
    let configured: Vec<ConfiguredPlugin> =
        serde_json::from_value(list["plugins"].clone()).unwrap();
    let held: Vec<(&str, &str, &str)> = configured
        .iter()
        .map(|c| {
            (
                c.unique_name.as_str(),
                c.version.as_str(),
                c.plugin_version_sid.as_str(),
            )
        })
        .collect();
    assert_eq!(
        held,
        [
            ("plugin-a", "1.1.0", sid(&v2)),
            ("plugin-b", "0.1.0", sid(&b1))
        ]
    );
    assert_eq!(list["plugins"][0]["phase"], 3);
    assert_eq!(
        list["plugins"][0]["configuration_sid"],
        configuration_sid.as_str()
    );
    let (status, one) = sim
        .get(
            account,
            &format!("/Configurations/{configuration_sid}/Plugins/{b_sid}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_valid(CONFIGURED, &one);
    assert_eq!(one, list["plugins"][1]);
    let (status, list) = sim.get(account, "/Configurations").await;
    assert_eq!(status, StatusCode::OK);
    assert_valid_list("/v1/PluginService/Configurations", &list);
    assert_eq!(list["configurations"], json!([configuration]));

    // No release yet: none active. Then one, which is active, and a second, which takes over.
    let (status, body) = sim.get(account, "/Releases/Active").await;
    assert_twilio_error(&(status, body), StatusCode::NOT_FOUND, 20404);
    let release = sim.release(account, &configuration_sid).await;
    let parsed: Release = serde_json::from_value(release.clone()).unwrap();
    assert_eq!(parsed.configuration_sid.as_str(), configuration_sid);
    assert_eq!(
        release["url"],
        format!(
            "https://flex-api.twilio.com/v1/PluginService/Releases/{}",
            sid(&release)
        )
    );
    for id in [sid(&release), "Active"] {
        let (status, body) = sim.get(account, &format!("/Releases/{id}")).await;
        assert_eq!((status, &body), (StatusCode::OK, &release));
        assert_valid(RELEASE, &body);
    }
    let second = sim.configuration(account, "second", &[sid(&v1)]).await;
    let newer = sim.release(account, sid(&second)).await;
    let (_, active) = sim.get(account, "/Releases/Active").await;
    assert_eq!(active, newer);
    let (status, list) = sim.get(account, "/Releases").await;
    assert_eq!(status, StatusCode::OK);
    assert_valid_list("/v1/PluginService/Releases", &list);
    assert_eq!(list["releases"], json!([release, newer]));
    assert_eq!(sim.handle.plugins(account)["active"], newer);
}

#[tokio::test]
async fn duplicates_answer_409_and_unknown_sids_404() {
    let account: &str = &common::account(1);
    let other: &str = &common::account(2);
    let sim = Sim::with_defaults().await;
    let a = sim.plugin(account, "plugin-a").await;
    let a_sid = sid(&a).to_owned();
    let v1 = sim.version(account, &a_sid, "1.0.0").await;

    let duplicate = sim
        .post(account, "/Plugins", &[("UniqueName", "plugin-a")])
        .await;
    let message = assert_twilio_error(&duplicate, StatusCode::CONFLICT, 20409);
    assert!(
        message.contains("plugin-a") && message.contains(&a_sid),
        "{message}"
    );
    let form = [
        ("Version", "1.0.0"),
        ("PluginUrl", "https://x.test/other.js"),
    ];
    let duplicate = sim
        .post(account, &format!("/Plugins/{a_sid}/Versions"), &form)
        .await;
    let message = assert_twilio_error(&duplicate, StatusCode::CONFLICT, 20409);
    assert!(
        message.contains("1.0.0") && message.contains(sid(&v1)),
        "{message}"
    );
    // The same version string on another plugin, the same name on another account.
    let b = sim.plugin(account, "plugin-b").await;
    sim.version(account, sid(&b), "1.0.0").await;
    sim.plugin(other, "plugin-a").await;

    let missing = [
        "/Plugins/FP00000000000000000000000000000000",
        "/Plugins/no-such-plugin",
        "/Plugins/no-such-plugin/Versions",
        &format!("/Plugins/{a_sid}/Versions/FV00000000000000000000000000000000"),
        &format!("/Plugins/{a_sid}/Versions/9.9.9"),
        "/Configurations/FJ00000000000000000000000000000000",
        "/Configurations/FJ00000000000000000000000000000000/Plugins",
        "/Releases/FK00000000000000000000000000000000",
        "/Releases/Active",
    ];
    for path in missing {
        let answer = sim.get(account, path).await;
        let message = assert_twilio_error(&answer, StatusCode::NOT_FOUND, 20404);
        assert!(message.contains(path), "{path}: {message}");
    }
    // Another account sees nothing of the first's.
    for path in [
        format!("/Plugins/{a_sid}"),
        format!("/Plugins/{a_sid}/Versions/{}", sid(&v1)),
    ] {
        let answer = sim.get(other, &path).await;
        assert_twilio_error(&answer, StatusCode::NOT_FOUND, 20404);
    }
    let (_, list) = sim.get(other, "/Plugins").await;
    assert_eq!(list["plugins"].as_array().unwrap().len(), 1);

    // POSTs naming what does not exist.
    let form = [("Version", "2.0.0"), ("PluginUrl", "https://x.test/a.js")];
    let answer = sim.post(account, "/Plugins/nope/Versions", &form).await;
    assert_twilio_error(&answer, StatusCode::NOT_FOUND, 20404);
    let entry = json!({"plugin_version": "FV00000000000000000000000000000000"}).to_string();
    let answer = sim
        .post(
            account,
            "/Configurations",
            &[("Name", "x"), ("Plugins", &entry)],
        )
        .await;
    let message = assert_twilio_error(&answer, StatusCode::NOT_FOUND, 20404);
    assert!(
        message.contains("FV00000000000000000000000000000000"),
        "{message}"
    );
    let entry = json!({"plugin_version": sid(&v1)}).to_string();
    let answer = sim
        .post(
            other,
            "/Configurations",
            &[("Name", "x"), ("Plugins", &entry)],
        )
        .await;
    assert_twilio_error(&answer, StatusCode::NOT_FOUND, 20404);
    let form = [("ConfigurationId", "FJ00000000000000000000000000000000")];
    let answer = sim.post(account, "/Releases", &form).await;
    assert_twilio_error(&answer, StatusCode::NOT_FOUND, 20404);
    let everything = sim.handle.plugins(account);
    assert_eq!(everything["configurations"], json!([]));
    assert_eq!(everything["releases"], json!([]));
}

#[tokio::test]
async fn missing_parameters_and_bad_values_answer_400_and_create_nothing() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;
    let a = sim.plugin(account, "plugin-a").await;
    let versions = format!("/Plugins/{}/Versions", sid(&a));
    let v1 = sim.version(account, "plugin-a", "1.0.0").await;
    let before = sim.handle.plugins(account);

    // (path, form, the parameter the message names)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        ("/Plugins", vec![("FriendlyName", "x")], "UniqueName"),
        ("/Plugins", vec![("UniqueName", "")], "UniqueName"),
        (
            &versions,
            vec![("PluginUrl", "https://x.test/a.js")],
            "Version",
        ),
        (&versions, vec![("Version", "2.0.0")], "PluginUrl"),
        (
            &versions,
            vec![("Version", "2.0.0"), ("PluginUrl", "bundle.js")],
            "PluginUrl",
        ),
        (
            &versions,
            vec![
                ("Version", "2.0.0"),
                ("PluginUrl", "https://x.test/a.js"),
                ("Private", "maybe"),
            ],
            "Private",
        ),
        ("/Configurations", vec![("Plugins", "{}")], "Name"),
        (
            "/Configurations",
            vec![("Name", "x"), ("Plugins", "FV1")],
            "Plugins",
        ),
        (
            "/Configurations",
            vec![("Name", "x"), ("Plugins", "{\"phase\": 1}")],
            "Plugins",
        ),
        ("/Releases", vec![], "ConfigurationId"),
    ];
    for (path, form, parameter) in cases {
        let answer = sim.post(account, path, &form).await;
        let message = assert_twilio_error(&answer, StatusCode::BAD_REQUEST, 20001);
        assert!(message.contains(parameter), "{path} {form:?}: {message}");
    }
    let missing = sim.post(account, "/Plugins", &[]).await;
    assert_eq!(
        assert_twilio_error(&missing, StatusCode::BAD_REQUEST, 20001),
        "Missing required parameter UniqueName in the post body"
    );
    // Two versions of one plugin in a configuration.
    let v2 = sim.version(account, "plugin-a", "2.0.0").await;
    let entries: Vec<String> = [sid(&v1), sid(&v2)]
        .iter()
        .map(|sid| json!({"plugin_version": sid}).to_string())
        .collect();
    let answer = sim
        .post(
            account,
            "/Configurations",
            &[
                ("Name", "x"),
                ("Plugins", &entries[0]),
                ("Plugins", &entries[1]),
            ],
        )
        .await;
    let message = assert_twilio_error(&answer, StatusCode::BAD_REQUEST, 20001);
    assert!(message.contains("plugin-a"), "{message}");

    let after = sim.handle.plugins(account);
    assert_eq!(after["plugins"], before["plugins"]);
    assert_eq!(after["configurations"], json!([]));
    assert_eq!(
        after["versions"].as_array().unwrap().len(),
        2,
        "only 1.0.0 and 2.0.0"
    );
}

#[tokio::test]
async fn bodies_that_are_not_forms_bad_paging_and_strangers_are_refused() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;
    // A JSON body is not a form.
    let url = sim.url("/v1/PluginService/Plugins");
    let request = sim
        .api(Method::POST, &url, account)
        .json(&json!({"UniqueName": "x"}));
    let answer = read_answer(request.send().await.unwrap()).await;
    let message = assert_twilio_error(&answer, StatusCode::BAD_REQUEST, 20001);
    assert!(
        message.contains("application/x-www-form-urlencoded"),
        "{message}"
    );
    // Paging out of range.
    for query in ["PageSize=0", "PageSize=1001", "Page=x", "PageToken=nope"] {
        let answer = sim.get(account, &format!("/Plugins?{query}")).await;
        assert_twilio_error(&answer, StatusCode::BAD_REQUEST, 20001);
    }
    // As the other Flex API routes: Basic auth and the account header.
    let no_auth = sim
        .client
        .get(&url)
        .header("I-Twilio-Auth-Account", account);
    let answer = read_answer(no_auth.send().await.unwrap()).await;
    assert_twilio_error(&answer, StatusCode::UNAUTHORIZED, 20003);
    let no_account = sim.client.get(&url).basic_auth("key", Some("secret"));
    let answer = read_answer(no_account.send().await.unwrap()).await;
    let message = assert_twilio_error(&answer, StatusCode::BAD_REQUEST, 20001);
    assert!(message.contains("I-Twilio-Auth-Account"), "{message}");
    let delete = sim.api(Method::DELETE, &url, account).send().await.unwrap();
    assert_eq!(delete.status(), StatusCode::METHOD_NOT_ALLOWED);

    assert_eq!(sim.handle.plugins(account)["plugins"], json!([]));
}

#[tokio::test]
async fn lists_are_paged_and_their_next_page_urls_lead_back_here() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(sid(&sim.plugin(account, &format!("plugin-{n}")).await).to_owned());
    }
    // Followed as a client does: each page's next_page_url, until it is null.
    let mut url = sim.url("/v1/PluginService/Plugins?PageSize=2");
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let (status, page) = sim.get_url(account, &url).await;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        assert_valid_list("/v1/PluginService/Plugins", &page);
        let meta = &page["meta"];
        assert_eq!(
            (meta["page_size"].as_u64(), meta["key"].as_str()),
            (Some(2), Some("plugins"))
        );
        pages.push(meta["page"].as_u64().unwrap());
        for plugin in page["plugins"].as_array().unwrap() {
            seen.push(sid(plugin).to_owned());
        }
        assert!(
            meta["first_page_url"]
                .as_str()
                .unwrap()
                .starts_with(&sim.handle.url()),
            "{meta}"
        );
        match meta["next_page_url"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&sim.handle.url()), "{next}");
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, [0, 1, 2]);
    assert_eq!(seen, created, "every plugin once, in creation order");

    // By default 50 a page: one page, no next.
    let (_, page) = sim.get(account, "/Plugins").await;
    assert_eq!(page["meta"]["page_size"], 50);
    assert_eq!(page["meta"]["next_page_url"], Value::Null);
    assert_eq!(page["meta"]["previous_page_url"], Value::Null);
    assert_eq!(page["plugins"].as_array().unwrap().len(), 5);
    // Page alone, as the client counts.
    let (_, page) = sim.get(account, "/Plugins?PageSize=3&Page=1").await;
    let listed: Vec<&str> = page["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(sid)
        .collect();
    assert_eq!(listed, created[3..]);
    assert!(page["meta"]["previous_page_url"].is_string());

    // Versions and releases page the same way.
    for version in ["1.0.0", "1.0.1", "1.0.2"] {
        sim.version(account, "plugin-0", version).await;
    }
    let path = format!("/Plugins/{}/Versions?PageSize=2", created[0]);
    let (_, first) = sim.get(account, &path).await;
    assert_valid_list("/v1/PluginService/Plugins/{PluginSid}/Versions", &first);
    assert_eq!(first["plugin_versions"].as_array().unwrap().len(), 2);
    let next = first["meta"]["next_page_url"].as_str().unwrap().to_owned();
    let (_, last) = sim.get_url(account, &next).await;
    assert_eq!(last["plugin_versions"][0]["version"], "1.0.2");
    assert_eq!(last["meta"]["next_page_url"], Value::Null);
    let (_, releases) = sim.get(account, "/Releases?PageSize=1").await;
    assert_valid_list("/v1/PluginService/Releases", &releases);
    assert_eq!(releases["releases"], json!([]));
}

#[tokio::test]
async fn a_release_outside_flexform_is_active_and_shown_by_the_controls() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;
    let ours = sim.plugin(account, "plugin-a").await;
    let v1 = sim.version(account, "plugin-a", "1.0.0").await;

    sim.handle
        .release_outside(account, &[("plugin-a", "1.0.0"), ("plugin-c", "0.3.0")]);
    let (status, active) = sim.get(account, "/Releases/Active").await;
    assert_eq!(status, StatusCode::OK);
    assert_valid(RELEASE, &active);
    let configuration = active["configuration_sid"].as_str().unwrap().to_owned();
    let (_, list) = sim
        .get(account, &format!("/Configurations/{configuration}/Plugins"))
        .await;
    assert_valid_list(
        "/v1/PluginService/Configurations/{ConfigurationSid}/Plugins",
        &list,
    );
    let held: Vec<(&str, &str)> = list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["unique_name"].as_str().unwrap(),
                c["version"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(held, [("plugin-a", "1.0.0"), ("plugin-c", "0.3.0")]);
    assert_eq!(
        list["plugins"][0]["plugin_version_sid"],
        sid(&v1),
        "the existing version"
    );
    assert_eq!(list["plugins"][0]["plugin_sid"], sid(&ours));
    let (_, c) = sim.get(account, "/Plugins/plugin-c/Versions/0.3.0").await;
    assert_valid(VERSION, &c);
    assert_eq!(
        c["plugin_url"],
        "https://assets.example.test/plugin-c/0.3.0/bundle.js"
    );
    assert_eq!(c["private"], true);

    // Over HTTP: the same, from a JSON body; the answer is the release.
    let response = sim
        .control(Method::POST, &format!("/_sim/plugins/{account}/release"))
        .json(&json!({"plugins": {"plugin-c": "0.4.0"}}))
        .send()
        .await
        .unwrap();
    let (status, release) = read_answer(response).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_valid(RELEASE, &release);
    let (_, active) = sim.get(account, "/Releases/Active").await;
    assert_eq!(active, release);
    let bad = sim
        .control(Method::POST, &format!("/_sim/plugins/{account}/release"))
        .json(&json!({"plugins": ["plugin-c"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // Everything the account holds, from the handle and over HTTP; each part as the API has it.
    let everything = sim.handle.plugins(account);
    let response = sim
        .control(Method::GET, &format!("/_sim/plugins/{account}"))
        .send()
        .await
        .unwrap();
    let (status, over_http) = read_answer(response).await;
    assert_eq!((status, &over_http), (StatusCode::OK, &everything));
    for (key, schema) in [
        ("plugins", PLUGIN),
        ("versions", VERSION),
        ("releases", RELEASE),
    ] {
        for item in everything[key].as_array().unwrap() {
            assert_valid(schema, item);
        }
    }
    for configuration in everything["configurations"].as_array().unwrap() {
        let mut body = configuration.clone();
        let held = body.as_object_mut().unwrap().remove("plugins").unwrap();
        assert_valid(CONFIGURATION, &body);
        for configured in held.as_array().unwrap() {
            assert_valid(CONFIGURED, configured);
        }
    }
    assert_eq!(everything["active"], release);
    assert_eq!(everything["releases"].as_array().unwrap().len(), 2);
    assert_eq!(everything["plugins"].as_array().unwrap().len(), 2);
    assert_eq!(
        sim.handle.plugins(&common::account(2)),
        json!({"plugins": [], "versions": [], "configurations": [], "releases": [], "active": null})
    );
    // The controls are not counted.
    let stats = sim.handle.stats();
    assert_eq!((stats.release_creates, stats.configuration_creates), (0, 0));
}

#[tokio::test]
async fn the_stats_count_plugin_requests_and_what_they_created() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;
    let a = sim.plugin(account, "plugin-a").await; // 1
    let v1 = sim.version(account, sid(&a), "1.0.0").await; // 2
    let configuration = sim.configuration(account, "c", &[sid(&v1)]).await; // 3
    sim.release(account, sid(&configuration)).await; // 4
    let duplicate = sim
        .post(account, "/Plugins", &[("UniqueName", "plugin-a")])
        .await; // 5
    assert_eq!(duplicate.0, StatusCode::CONFLICT);
    sim.get(account, "/Plugins").await; // 6
    sim.get(account, "/Releases/Active").await; // 7
    sim.get(account, "/Plugins/nope").await; // 8
                                             // Not a Plugins API request, and not a route at all.
    sim.api(Method::GET, &sim.url("/v1/Configuration"), account)
        .send()
        .await
        .unwrap();
    sim.get(account, "/Plugins/x/Archive").await;

    let stats = sim.handle.stats();
    assert_eq!(stats.plugin_requests, 8);
    assert_eq!(
        stats.requests, 9,
        "every Flex API request, the plugin ones included"
    );
    assert_eq!(
        (
            stats.plugin_creates,
            stats.version_creates,
            stats.configuration_creates,
            stats.release_creates
        ),
        (1, 1, 1, 1)
    );
    // Over HTTP, each new counter under its name.
    let response = sim
        .control(Method::GET, "/_sim/stats")
        .send()
        .await
        .unwrap();
    let over_http: Value = response.json().await.unwrap();
    assert_eq!(
        serde_json::from_value::<SimStats>(over_http.clone()).unwrap(),
        sim.handle.stats()
    );
    for (field, count) in [
        ("plugin_requests", 8),
        ("plugin_creates", 1),
        ("version_creates", 1),
        ("configuration_creates", 1),
        ("release_creates", 1),
    ] {
        assert_eq!(over_http[field], count, "{field}");
    }
}

#[tokio::test]
async fn the_plugin_faults_fail_before_or_after_the_commit() {
    let account: &str = &common::account(1);
    let sim = Sim::with_defaults().await;

    // Before: 503, nothing created; a refused request does not use the fault up.
    sim.handle.set_faults(Faults {
        plugin_error_before_commit: 2,
        ..Faults::default()
    });
    let refused = sim.post(account, "/Plugins", &[]).await;
    assert_twilio_error(&refused, StatusCode::BAD_REQUEST, 20001);
    for _ in 0..2 {
        let failed = sim
            .post(account, "/Plugins", &[("UniqueName", "plugin-a")])
            .await;
        assert_twilio_error(&failed, StatusCode::SERVICE_UNAVAILABLE, 20503);
    }
    assert_eq!(sim.handle.plugins(account)["plugins"], json!([]));
    assert_eq!(sim.handle.stats().failed, 2);
    assert_eq!(sim.handle.stats().plugin_creates, 0);
    let a = sim.plugin(account, "plugin-a").await;

    // After: created all the same, answered 500; a retry meets the duplicate. Set over HTTP.
    let put = sim
        .control(Method::PUT, "/_sim/faults")
        .json(&json!({"plugin_error_after_commit": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::NO_CONTENT);
    let form = [("Version", "1.0.0"), ("PluginUrl", "https://x.test/a.js")];
    let versions = format!("/Plugins/{}/Versions", sid(&a));
    let lost = sim.post(account, &versions, &form).await;
    assert_twilio_error(&lost, StatusCode::INTERNAL_SERVER_ERROR, 20500);
    let (status, version) = sim.get(account, &format!("{versions}/1.0.0")).await;
    assert_eq!(status, StatusCode::OK, "the version was created");
    let retry = sim.post(account, &versions, &form).await;
    assert_twilio_error(&retry, StatusCode::CONFLICT, 20409);
    let entry = json!({"plugin_version": sid(&version)}).to_string();
    let lost = sim
        .post(
            account,
            "/Configurations",
            &[("Name", "c"), ("Plugins", &entry)],
        )
        .await;
    assert_twilio_error(&lost, StatusCode::INTERNAL_SERVER_ERROR, 20500);
    let configuration = sid(&sim.handle.plugins(account)["configurations"][0]).to_owned();
    let lost = sim
        .post(account, "/Releases", &[("ConfigurationId", &configuration)])
        .await;
    assert_twilio_error(&lost, StatusCode::INTERNAL_SERVER_ERROR, 20500);
    let (status, active) = sim.get(account, "/Releases/Active").await;
    assert_eq!(status, StatusCode::OK, "the release was made");
    assert_eq!(active["configuration_sid"], configuration.as_str());
    let stats = sim.handle.stats();
    assert_eq!(
        (
            stats.version_creates,
            stats.configuration_creates,
            stats.release_creates
        ),
        (1, 1, 1),
        "created, though answered 500"
    );
    // Used up: the next create is answered as usual.
    sim.plugin(account, "plugin-b").await;
    assert_eq!(sim.handle.stats().plugin_creates, 2);
    let faults: Faults = sim
        .control(Method::GET, "/_sim/faults")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults, Faults::default());
}

#[tokio::test]
async fn the_gate_rate_limits_and_fails_plugin_requests_too() {
    let account: &str = &common::account(1);
    let limited = Sim::start(SimConfig {
        rate_limit: Some(1.0),
        ..SimConfig::default()
    })
    .await;
    let (status, _) = limited.get(account, "/Plugins").await;
    assert_eq!(status, StatusCode::OK);
    let response = limited
        .api(
            Method::GET,
            &limited.url("/v1/PluginService/Plugins"),
            account,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let stats = limited.handle.stats();
    assert_eq!((stats.plugin_requests, stats.rate_limited), (2, 1));

    let failing = Sim::start(SimConfig {
        fail_rate: 1.0,
        ..SimConfig::default()
    })
    .await;
    let answer = failing
        .post(account, "/Plugins", &[("UniqueName", "plugin-a")])
        .await;
    assert_twilio_error(&answer, StatusCode::SERVICE_UNAVAILABLE, 20503);
    assert_eq!(failing.handle.plugins(account)["plugins"], json!([]));
    assert_eq!(failing.handle.stats().plugin_creates, 0);

    let slow = Sim::start(SimConfig {
        latency: Duration::from_millis(150),
        ..SimConfig::default()
    })
    .await;
    let started = std::time::Instant::now();
    slow.get(account, "/Releases").await;
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn the_data_file_keeps_plugins_across_restarts() {
    let account: &str = &common::account(1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.json");
    let config = SimConfig {
        data: Some(path.clone()),
        ..SimConfig::default()
    };
    let sim = Sim::start(config.clone()).await;
    let a = sim.plugin(account, "plugin-a").await;
    // Answered means written.
    assert!(std::fs::read_to_string(&path).unwrap().contains(sid(&a)));
    sim.version(account, "plugin-a", "1.0.0").await;
    sim.handle
        .release_outside(account, &[("plugin-b", "2.0.0")]);
    let before = sim.handle.plugins(account);
    sim.handle.shutdown().await;

    let again = Sim::start(config).await;
    assert_eq!(again.handle.plugins(account), before);
    let (_, active) = again.get(account, "/Releases/Active").await;
    assert_eq!(active, before["active"]);
    let duplicate = again
        .post(account, "/Plugins", &[("UniqueName", "plugin-a")])
        .await;
    assert_twilio_error(&duplicate, StatusCode::CONFLICT, 20409);
}
