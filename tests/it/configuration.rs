//! Flex configuration as code, as users meet it: declared values planned as field-level diffs,
//! applied by merging into a fresh read (nobody's keys lost), refused when a managed value
//! changed since the plan, verified, recorded, and reported as drift when changed outside.

use std::time::Duration;

use crate::common::{self, account, database_url, workspace, ConfigBuilder, Test};
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

/// Issue 24's defects, end to end against the simulator.
mod never_lies {
    use super::*;

    fn drift_code(out: &common::Outcome) -> Option<i32> {
        out.code
    }

    /// A path removed from the block is no longer managed: its record goes (no POST), and a
    /// change of it outside flexform is not drift.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_removed_declaration_drops_its_record_and_never_drifts() {
        let t = project("ui_language: fr\nui_attributes:\n  logLevel: debug\n").await;
        applied(&t).await;
        t.write_config(&with_configuration("ui_attributes:\n  logLevel: debug\n"));
        let plan = t.run_read_only(&["plan", "--detailed-exitcode"]).await;
        plan.assert_exit(0)
            .assert_stdout_contains("No changes.")
            .assert_stdout_contains("Apply records the Flex configuration of flex_instance.a");
        let posts = t.stats().configuration_updates;
        let apply = t.run(&["apply", "--auto-approve"]).await;
        apply
            .assert_exit(0)
            .assert_stderr_contains("Recorded the Flex configuration of 1 instance");
        assert_eq!(t.stats().configuration_updates, posts, "nothing sent");
        let record = t.state().instances["a"].configuration.clone().unwrap();
        assert!(!record.0.contains_key("ui_language"), "{record:?}");
        assert!(record.0.contains_key("ui_attributes.logLevel"));
        let entry = t.history().pop().unwrap();
        assert_eq!(entry.changes[0].action, "record", "{entry:?}");
        // The console changes what flexform no longer manages: no drift.
        t.sim()
            .set_configuration(&account(1), json!({"ui_language": "de"}))
            .unwrap();
        let drift = t.run_read_only(&["drift"]).await;
        assert_eq!(drift_code(&drift), Some(0), "{drift:?}");
        // Nothing declared at all any more: the whole record goes.
        t.write_config(&ConfigBuilder::new().instance("a", &account(1)));
        t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
        assert!(t.state().instances["a"].configuration.is_none());
    }

    /// Changed in the console, then declared as the console has it: no drift (apply would
    /// change nothing), and apply records it, which arms drift for the next change.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_console_change_then_declared_is_no_drift_and_arms_the_next() {
        let t = project("ui_language: fr\n").await;
        applied(&t).await;
        t.sim()
            .set_configuration(&account(1), json!({"ui_language": "de"}))
            .unwrap();
        t.run_read_only(&["drift"]).await.assert_exit(2);
        t.write_config(&with_configuration("ui_language: de\n"));
        let drift = t.run_read_only(&["drift"]).await;
        assert_eq!(drift_code(&drift), Some(0), "{drift:?}");
        let posts = t.stats().configuration_updates;
        t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
        assert_eq!(t.stats().configuration_updates, posts, "nothing sent");
        t.run_read_only(&["drift"]).await.assert_exit(0);
        t.sim()
            .set_configuration(&account(1), json!({"ui_language": "es"}))
            .unwrap();
        let drift = t.run_read_only(&["drift"]).await;
        drift.assert_exit(2);
        assert!(
            format!("{}{}", drift.stdout, drift.stderr).contains("ui_language"),
            "{drift:?}"
        );
    }

    /// Declared values already in place from the first apply: recorded (no POST), so that a
    /// later console change is drift.
    #[tokio::test(flavor = "multi_thread")]
    async fn values_already_in_place_are_recorded_and_arm_drift() {
        let t = project("ui_language: fr\n").await;
        // The instance first, without a block; then a block with the values it has.
        t.write_config(&ConfigBuilder::new().instance("a", &account(1)));
        applied(&t).await;
        t.write_config(&with_configuration("ui_attributes:\n  logLevel: info\n"));
        assert_eq!(live(&t)["ui_attributes"]["logLevel"], "info");
        let posts = t.stats().configuration_updates;
        t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
        assert_eq!(t.stats().configuration_updates, posts, "nothing sent");
        assert!(t.state().instances["a"].configuration.is_some());
        let mut attributes = live(&t)["ui_attributes"].clone();
        attributes["logLevel"] = json!("debug");
        t.sim()
            .set_configuration(&account(1), json!({ "ui_attributes": attributes }))
            .unwrap();
        t.run_read_only(&["drift"]).await.assert_exit(2);
    }

    /// A create whose configuration POST took effect but was answered 500: counted created,
    /// with a failed configuration, in the summary, the events and the history (with the paths
    /// sent); the next apply records what is in place.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_created_instance_whose_configuration_fails_is_counted_created() {
        let t = project("ui_language: fr\n").await;
        t.sim().set_faults(flexform::sim::Faults {
            configuration_error_after_commit: 1,
            ..flexform::sim::Faults::default()
        });
        let apply = t.run(&["apply", "--auto-approve", "--json"]).await;
        apply.assert_exit(1);
        let events: Vec<serde_json::Value> = apply
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let complete = events
            .iter()
            .find(|e| e["type"] == "apply_complete")
            .unwrap_or_else(|| panic!("{events:#?}"));
        assert!(
            complete["configuration_error"]
                .as_str()
                .is_some_and(|e| e.contains("500")),
            "{complete:#}"
        );
        let summary = events.last().unwrap();
        assert_eq!(summary["created"], 1, "{summary:#}");
        assert_eq!(summary["failed"], 0, "{summary:#}");
        assert_eq!(summary["configuration_failed"], 1, "{summary:#}");
        let sid = t.sim_sid(&account(1));
        assert_eq!(t.state().instances["a"].flex_instance_sid.as_str(), sid);
        let change = &t.history().pop().unwrap().changes[0];
        assert_eq!(change.action, "create");
        assert!(
            change
                .outcome
                .starts_with("ok; its Flex configuration failed"),
            "{change:?}"
        );
        assert_eq!(change.configuration, ["ui_language"], "the paths sent");
        assert_eq!(live(&t)["ui_language"], "fr", "the update did apply");
        // The text summary says the same.
        let text = project("ui_language: fr\n").await;
        text.sim().set_faults(flexform::sim::Faults {
            configuration_error_after_commit: 1,
            ..flexform::sim::Faults::default()
        });
        let out = text.run(&["apply", "--auto-approve"]).await;
        out.assert_exit(1).assert_stdout_contains(
            "Apply finished with errors. Resources: 1 created (ready), 0 adopted, 0 failed, 1 with a failed configuration.",
        );
        // The next apply finds the value in place: it records it, nothing is sent.
        let posts = t.stats().configuration_updates;
        t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
        assert_eq!(t.stats().configuration_updates, posts);
        t.run_read_only(&["drift"]).await.assert_exit(0);
        assert!(t.state().instances["a"].configuration.is_some());
    }

    /// A saved update for an instance that was deleted and replaced outside flexform is
    /// refused: the configuration the account now has belongs to another instance.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_saved_update_never_lands_on_another_instance() {
        let t = project("ui_language: fr\n").await;
        applied(&t).await;
        let planned = t.sim_sid(&account(1));
        t.write_config(&with_configuration("ui_language: de\n"));
        t.run(&["plan", "--out", "plan.json"]).await.assert_exit(0);
        assert!(t.sim().delete_instance(&planned));
        let other = t.create_directly(&account(1), None).await;
        let posts = t.stats().configuration_updates;
        let apply = t.run(&["apply", "plan.json"]).await;
        apply
            .assert_exit(1)
            .assert_stderr_contains(&format!("belongs to {other}, not to {planned}"));
        assert_eq!(t.stats().configuration_updates, posts, "nothing sent");
        assert!(
            !t.history().pop().unwrap().changes[0]
                .outcome
                .starts_with("ok"),
            "not recorded as updated"
        );
    }

    /// Counts: a create that also configures is an update in the plan's summary, its JSON and
    /// Markdown, and the `Applying:` line.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_create_that_configures_counts_as_an_update_everywhere() {
        let t = project("ui_language: fr\n").await;
        let plan = t.run_read_only(&["plan"]).await;
        plan.assert_stdout_contains("Plan: 1 to create, 0 to adopt, 1 to update, 0 unchanged.");
        let json = t.run_read_only(&["plan", "--json"]).await.json();
        assert_eq!(json["summary"]["update"], 1);
        let md = t.run_read_only(&["plan", "--format", "markdown"]).await;
        md.assert_stdout_contains("| 1 | 0 | 0 | 1 | 0 | 0 |");
        let apply = t.run(&["apply", "--auto-approve"]).await;
        apply
            .assert_exit(0)
            .assert_stderr_contains("Applying: 1 to create, 0 to adopt, 0 to move, 1 to update.");
        apply.assert_stdout_contains("1 created (ready), 0 adopted, 1 updated, 0 failed");
    }

    /// Integers beyond 2^53 are sent exactly; beyond 64 bits (or decimals with more digits
    /// than a JSON number keeps) they are refused at validate, where they are.
    #[tokio::test(flavor = "multi_thread")]
    async fn big_numbers_keep_their_exact_value_or_are_refused() {
        let t = project("ui_attributes:\n  big: 12345678901234567890\n").await;
        applied(&t).await;
        assert_eq!(
            live(&t)["ui_attributes"]["big"].to_string(),
            "12345678901234567890"
        );
        t.write_config(&with_configuration(
            "ui_attributes:\n  huge: 123456789012345678901234567890\n",
        ));
        let out = t.run_read_only(&["validate"]).await;
        out.assert_exit(1)
            .assert_stderr_contains("flexform.yaml:7:15")
            .assert_stderr_contains("cannot be sent exactly");
    }

    /// List items are checked against the schema's item type, and keys with control
    /// characters are refused, each at its line.
    #[tokio::test(flavor = "multi_thread")]
    async fn list_items_and_control_character_keys_are_refused_where_they_are() {
        let t = project("serverless_service_sids: [1, {x: 2}]\n").await;
        let out = t.run_read_only(&["validate"]).await;
        out.assert_exit(1)
            .assert_stderr_contains("flexform.yaml:6:33")
            .assert_stderr_contains("invalid item 1 of `serverless_service_sids`: expected a string matching ^ZS[0-9a-fA-F]{32}$, found the number 1");
        t.write_config(&with_configuration("ui_attributes:\n  \"a\\nb\": 1\n"));
        let out = t.run_read_only(&["validate"]).await;
        out.assert_exit(1)
            .assert_stderr_contains("flexform.yaml:7:9")
            .assert_stderr_contains("contains a control character");
    }

    /// Only the case of `account_sid` changed: the same account, no refusal, no change.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_case_of_an_account_sid_is_not_a_move_between_accounts() {
        let t = project("ui_language: fr\n").await;
        let lower = account(0xabcdef);
        t.write_config(&ConfigBuilder::new().instance("a", &lower));
        applied(&t).await;
        let upper = format!("AC{}", lower[2..].to_uppercase());
        assert_ne!(upper, lower);
        t.write_config(&ConfigBuilder::new().instance("a", &upper));
        let plan = t.run_read_only(&["plan", "--detailed-exitcode"]).await;
        plan.assert_exit(0).assert_stdout_contains("No changes.");
        t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
        assert_eq!(t.sim().instances().len(), 1, "no second instance");
    }
}
