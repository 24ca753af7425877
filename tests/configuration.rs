//! Flex configuration as code, as users meet it: declared values planned as field-level diffs,
//! applied by merging into a fresh read (nobody's keys lost), refused when a managed value
//! changed since the plan, verified, recorded, and reported as drift when changed outside.

mod common;

use std::time::Duration;

use common::{account, database_url, workspace, ConfigBuilder, Test};
use flexform::sim::SimConfig;
use serde_json::json;

/// A ready simulator and a project whose instance `a` declares `configuration` (YAML lines,
/// indented under `configuration:`).
async fn project(configuration: &str) -> Test {
    let t = Test::with_sim(SimConfig {
        ready_after: Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    t.write_config(&with_configuration(configuration));
    t
}

fn with_configuration(configuration: &str) -> ConfigBuilder {
    let block: String = configuration
        .lines()
        .map(|l| format!("      {l}\n"))
        .collect();
    ConfigBuilder::new().instance_with("a", &account(1), &format!("    configuration:\n{block}"))
}

/// The simulator's configuration of account 1.
fn live(t: &Test) -> serde_json::Value {
    t.sim()
        .configuration(&account(1))
        .expect("the account has an instance")
}

const DECLARED: &str = "ui_language: en-GB\ncall_recording_enabled: true\nui_attributes:\n  logLevel: debug\n  colorTheme:\n    baseName: GreyDark\n  legacy: null\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_create_is_configured_in_the_same_apply_keeping_undeclared_keys() {
    let t = project(DECLARED).await;
    let plan = t.run_read_only(&["plan"]).await;
    plan.assert_exit(0);
    plan.assert_stdout_contains("+ ui_language = \"en-GB\"");
    plan.assert_stdout_contains("+ ui_attributes.colorTheme.baseName = \"GreyDark\"");

    let apply = t.run(&["apply", "--auto-approve"]).await;
    apply.assert_exit(0);
    let config = live(&t);
    assert_eq!(config["ui_language"], "en-GB");
    assert_eq!(config["call_recording_enabled"], true);
    assert_eq!(config["ui_attributes"]["logLevel"], "debug");
    assert_eq!(
        config["ui_attributes"]["colorTheme"]["baseName"],
        "GreyDark"
    );
    assert!(config["ui_attributes"].get("legacy").is_none());
    assert_eq!(t.stats().configuration_updates, 1, "one POST");

    // The state records a digest per managed path; history names the paths set.
    let state = t.state();
    let record = state.instances["a"].configuration.as_ref().unwrap();
    assert!(
        record.0.contains_key("ui_attributes.logLevel"),
        "{record:?}"
    );
    let history = t.history();
    let create = &history.last().unwrap().changes[0];
    assert_eq!(create.action, "create");
    assert!(
        create.configuration.contains(&"ui_language".to_owned()),
        "{create:?}"
    );

    let again = t.run_read_only(&["plan", "--detailed-exitcode"]).await;
    again.assert_exit(0);
    again.assert_stdout_contains("No changes.");
}

/// An applied instance whose configuration then changes in the simulator (out of band).
async fn applied(t: &Test) {
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_declaration_is_a_field_level_update_that_merges_and_null_removes() {
    let t = project("ui_attributes:\n  logLevel: info\n").await;
    applied(&t).await;
    t.sim()
        .set_configuration(
            &account(1),
            json!({"ui_attributes": {"logLevel": "info", "theirs": {"keep": true}, "legacy": 1}}),
        )
        .unwrap();
    t.write_config(&with_configuration(
        "ui_language: fr\nui_attributes:\n  logLevel: debug\n  legacy: null\n",
    ));
    let plan = t.run_read_only(&["plan", "--detailed-exitcode"]).await;
    plan.assert_exit(2);
    plan.assert_stdout_contains("flex_instance.a will be updated in-place");
    plan.assert_stdout_contains("~ ui_attributes.logLevel = \"info\" -> \"debug\"");
    plan.assert_stdout_contains("- ui_attributes.legacy = 1");
    plan.assert_stdout_contains("Plan: 0 to create, 0 to adopt, 1 to update, 0 unchanged.");
    assert!(
        !plan.stdout.contains("theirs"),
        "undeclared keys are not shown"
    );

    let json = t.run_read_only(&["plan", "--json"]).await.json();
    let change = &json["resource_changes"][0];
    assert_eq!(change["action"], "update");
    let paths: Vec<&str> = change["configuration"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "ui_attributes.legacy",
            "ui_attributes.logLevel",
            "ui_language"
        ]
    );

    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let config = live(&t);
    assert_eq!(config["ui_language"], "fr");
    assert_eq!(
        config["ui_attributes"],
        json!({"logLevel": "debug", "theirs": {"keep": true}}),
        "undeclared keys kept, null removed"
    );
    let history = t.history();
    let update = &history.last().unwrap().changes[0];
    assert_eq!(update.action, "update");
    assert_eq!(
        update.configuration,
        [
            "ui_attributes.legacy",
            "ui_attributes.logLevel",
            "ui_language"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_managed_value_changed_between_plan_and_apply_is_refused_with_nothing_sent() {
    let t = project("ui_language: en\n").await;
    applied(&t).await;
    t.write_config(&with_configuration("ui_language: fr\n"));
    t.run(&["plan", "--out", "plan.json"]).await.assert_exit(0);
    // A colleague changes the managed value after the review.
    t.sim()
        .set_configuration(&account(1), json!({"ui_language": "de"}))
        .unwrap();
    let before = t.stats().configuration_updates;
    let apply = t.run(&["apply", "plan.json"]).await;
    apply.assert_exit(1);
    apply.assert_stderr_contains("changed since the plan (ui_language)");
    apply.assert_stderr_contains("plan again");
    assert_eq!(t.stats().configuration_updates, before, "nothing sent");
    assert_eq!(live(&t)["ui_language"], "de", "the colleague's value stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unmanaged_key_changed_between_plan_and_apply_is_kept() {
    let t = project("ui_attributes:\n  logLevel: info\n").await;
    applied(&t).await;
    t.write_config(&with_configuration("ui_attributes:\n  logLevel: debug\n"));
    t.run(&["plan", "--out", "plan.json"]).await.assert_exit(0);
    let mut attributes = live(&t)["ui_attributes"].clone();
    attributes["colleague"] = json!("added after the plan");
    t.sim()
        .set_configuration(&account(1), json!({ "ui_attributes": attributes }))
        .unwrap();
    t.run(&["apply", "plan.json"]).await.assert_exit(0);
    let config = live(&t);
    assert_eq!(config["ui_attributes"]["logLevel"], "debug");
    assert_eq!(config["ui_attributes"]["colleague"], "added after the plan");
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_reports_a_managed_value_changed_outside_flexform() {
    let t = project("ui_language: en-GB\ncrm_enabled: false\n").await;
    applied(&t).await;
    t.run_read_only(&["drift"]).await.assert_exit(0);
    t.sim()
        .set_configuration(&account(1), json!({"ui_language": "es"}))
        .unwrap();
    let drift = t.run_read_only(&["drift"]).await;
    drift.assert_exit(2);
    let text = format!("{}{}", drift.stdout, drift.stderr);
    assert!(text.contains("configuration_changed"), "{text}");
    assert!(text.contains("ui_language"), "{text}");
    assert!(!text.contains("crm_enabled"), "{text}");
    let json = t.run_read_only(&["drift", "--json"]).await;
    json.assert_exit(2);
    assert!(
        json.stdout.contains("\"configuration_changed\""),
        "{}",
        json.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_plan_json_with_an_update_validates_against_the_plan_schema() {
    let t = project("ui_language: en\n").await;
    applied(&t).await;
    t.write_config(&with_configuration("ui_language: fr\n"));
    let plan = t.run_read_only(&["plan", "--json"]).await.json();
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("schemas/flexform.plan.schema.json"))
            .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&plan)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{plan:#}");
    assert_eq!(plan["summary"]["update"], 1);
    assert_eq!(
        plan["resource_changes"][0]["configuration"][0]["before"],
        "en"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn markdown_plans_show_the_field_diffs() {
    let t = project("ui_language: en\n").await;
    applied(&t).await;
    t.write_config(&with_configuration("ui_language: fr\n"));
    let md = t.run_read_only(&["plan", "--format", "markdown"]).await;
    md.assert_stdout_contains("| create | adopt | move | update | unchanged | drift |");
    md.assert_stdout_contains("```diff\n~ ui_language = \"en\" -> \"fr\"\n```");
}

/// Twilio answers the POST but the configuration does not hold the declared value afterwards
/// (a wiremock server that ignores updates): apply says which paths, and records nothing of
/// the configuration.
#[tokio::test(flavor = "multi_thread")]
async fn an_update_that_does_not_take_is_an_error_naming_the_paths() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    let sid = "GO0123456789abcdef0123456789abcdef";
    let configuration = json!({
        "account_sid": account(1),
        "flex_instance_sid": sid,
        "status": "ok",
        "ui_language": "en",
        "ui_attributes": {"logLevel": "info"},
    });
    Mock::given(method("GET"))
        .and(path("/v1/Configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&configuration))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/Configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&configuration))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v2/Instances/{sid}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "flex_instance_sid": sid,
            "account_sid": account(1),
            "status": "ready",
            "date_created": "2016-08-01T22:10:40Z",
            "date_updated": "2016-08-01T22:10:40Z"
        })))
        .mount(&server)
        .await;
    let t = Test::new().endpoint(&server.uri());
    t.write_config(&with_configuration(
        "ui_language: fr\nui_attributes:\n  logLevel: info\n",
    ));
    let apply = t.run(&["apply", "--auto-approve"]).await;
    apply.assert_exit(1);
    apply.assert_stderr_contains("does not hold the declared value of ui_language");
    let record = &t.state().instances["a"];
    assert_eq!(
        record.flex_instance_sid.as_str(),
        sid,
        "the adopt is recorded"
    );
    assert!(
        record.configuration.is_none(),
        "no digest of a value that did not take"
    );
    // The POST carried the account and the whole value of the changed property only.
    let posts: Vec<serde_json::Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(
        posts,
        [json!({"account_sid": account(1), "ui_language": "fr"})]
    );
}

/// On the PostgreSQL backend too: the digests are recorded with the instance, and an
/// out-of-band change is drift.
#[tokio::test(flavor = "multi_thread")]
async fn the_configuration_record_and_its_drift_on_postgres() {
    let Some(url) = database_url("configuration on postgres") else {
        return;
    };
    let t = Test::with_sim(SimConfig {
        ready_after: Duration::ZERO,
        ..SimConfig::default()
    })
    .await
    .env("FLEXFORM_DATABASE_URL", &url);
    let config = with_configuration("ui_language: en-GB\nui_attributes:\n  logLevel: debug\n")
        .postgres(&workspace());
    t.write_config(&config);
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let pulled = t.run_read_only(&["state", "pull"]).await;
    pulled.assert_exit(0);
    let digests = &pulled.json()["instances"]["a"]["configuration"];
    assert!(digests["ui_attributes.logLevel"].is_string(), "{digests}");
    assert!(digests["ui_language"].is_string(), "{digests}");
    t.run_read_only(&["drift"]).await.assert_exit(0);
    t.sim()
        .set_configuration(&account(1), json!({"ui_attributes": {"logLevel": "warn"}}))
        .unwrap();
    let drift = t.run_read_only(&["drift", "--json"]).await;
    drift.assert_exit(2);
    assert!(
        drift.stdout.contains("ui_attributes.logLevel"),
        "{}",
        drift.stdout
    );
}

/// An instance made outside flexform and still provisioning: adopted, waited for, then
/// configured in the same apply (its configuration could not be read when planning).
#[tokio::test(flavor = "multi_thread")]
async fn an_adopted_instance_still_provisioning_is_configured_once_ready() {
    let t = Test::with_sim(SimConfig {
        ready_after: Duration::from_millis(1500),
        ..SimConfig::default()
    })
    .await;
    t.write_config(&with_configuration("ui_language: fr\n"));
    t.create_directly(&account(1), None).await;
    let plan = t.run_read_only(&["plan"]).await;
    plan.assert_exit(0);
    plan.assert_stdout_contains("will be adopted");
    plan.assert_stdout_contains("+ ui_language = \"fr\"");
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert_eq!(live(&t)["ui_language"], "fr");
    assert!(t.state().instances["a"].configuration.is_some());
}
