//! Flex plugins as code, as users meet it against the simulator: the first release, a version
//! bump of one of two plugins (exactly one version, one configuration and one release sent),
//! a plugin left out, what was deployed beforehand reused, an immutable URL refused with
//! nothing sent, a release from "the CLI" reported as drift and healed, a saved plan refused
//! after one, and no Plugins API request at all when nothing declares plugins.

use std::time::Duration;

use crate::common::{account, ConfigBuilder, Test};
use flexform::sim::SimConfig;

fn url(name: &str, version: &str) -> String {
    format!("https://assets.example.test/{name}/{version}/bundle.js")
}

/// Instance `a` on account 1 declaring `plugins` (unique name, version).
fn declaring(plugins: &[(&str, &str)]) -> ConfigBuilder {
    let mut block = String::from("    plugins:\n");
    for (name, version) in plugins {
        block.push_str(&format!(
            "      {name}:\n        version: \"{version}\"\n        url: {}\n",
            url(name, version)
        ));
    }
    ConfigBuilder::new().instance_with("a", &account(1), &block)
}

/// A ready simulator and a project declaring `plugins`.
async fn project(plugins: &[(&str, &str)]) -> Test {
    let t = Test::with_sim(SimConfig {
        ready_after: Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    t.write_config(&declaring(plugins));
    t
}

/// The versions the account's active release holds, by unique name, from the simulator.
fn active(t: &Test) -> Vec<(String, String)> {
    let all = t.sim().plugins(&account(1));
    let Some(configuration) = all["active"]["configuration_sid"].as_str() else {
        return Vec::new();
    };
    let configurations = all["configurations"].as_array().expect("configurations");
    let released = configurations
        .iter()
        .find(|c| c["sid"] == configuration)
        .expect("the active release's configuration");
    let mut held: Vec<(String, String)> = released["plugins"]
        .as_array()
        .expect("its plugins")
        .iter()
        .map(|p| {
            (
                p["unique_name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    held.sort();
    held
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// The POSTs of each kind the simulator took: plugins, versions, configurations, releases.
fn posts(t: &Test) -> (u64, u64, u64, u64) {
    let s = t.stats();
    (
        s.plugin_creates,
        s.version_creates,
        s.configuration_creates,
        s.release_creates,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_release_creates_each_plugin_and_version_and_a_second_plan_is_clean() {
    let t = project(&[("queue-tools", "1.0.0"), ("wallboard", "2.1.0")]).await;
    let plan = t.run_read_only(&["plan"]).await;
    plan.assert_exit(0);
    plan.assert_stdout_contains("plugins release");
    plan.assert_stdout_contains("+ queue-tools 1.0.0");
    plan.assert_stdout_contains("1 to release");

    let apply = t.run(&["apply", "--auto-approve"]).await;
    apply.assert_exit(0);
    assert_eq!(
        active(&t),
        pairs(&[("queue-tools", "1.0.0"), ("wallboard", "2.1.0")])
    );
    assert_eq!(posts(&t), (2, 2, 1, 1));
    let record = t.state().instances["a"].plugins.clone().expect("recorded");
    assert_eq!(record.plugins["wallboard"].version, "2.1.0");
    let history = t.history();
    let change = &history.last().unwrap().changes[0];
    assert!(
        change.outcome.contains("plugins released: "),
        "{}",
        change.outcome
    );

    let again = t.run_read_only(&["plan", "--detailed-exitcode"]).await;
    again.assert_exit(0);
    again.assert_stdout_contains("No changes.");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_bump_of_one_of_two_plugins_sends_one_version_one_configuration_one_release() {
    let t = project(&[("a-plugin", "1.0.0"), ("b-plugin", "1.0.0")]).await;
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let before = posts(&t);
    t.write_config(&declaring(&[("a-plugin", "1.0.0"), ("b-plugin", "1.1.0")]));

    let plan = t.run_read_only(&["plan", "--detailed-exitcode"]).await;
    plan.assert_exit(2);
    plan.assert_stdout_contains("~ b-plugin 1.0.0 -> 1.1.0 (new version)");
    let json = t.run_read_only(&["plan", "--json"]).await.json();
    let release = &json["resource_changes"][0]["release"];
    assert_eq!(release["observed"], true);
    assert_eq!(release["plugins"][1]["before"], "1.0.0");
    assert_eq!(release["plugins"][1]["after"], "1.1.0");
    assert!(release["plugins"][1]["create_version"].is_object());
    assert_eq!(json["summary"]["release"], 1);

    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let after = posts(&t);
    assert_eq!(
        (
            after.0 - before.0,
            after.1 - before.1,
            after.2 - before.2,
            after.3 - before.3
        ),
        (0, 1, 1, 1),
        "exactly 0 plugin, 1 version, 1 configuration and 1 release POSTs"
    );
    assert_eq!(
        active(&t),
        pairs(&[("a-plugin", "1.0.0"), ("b-plugin", "1.1.0")])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_left_out_of_the_declaration_leaves_the_release() {
    let t = project(&[("a-plugin", "1.0.0"), ("b-plugin", "1.0.0")]).await;
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    t.write_config(&declaring(&[("a-plugin", "1.0.0")]));
    let plan = t.run_read_only(&["plan"]).await;
    plan.assert_stdout_contains("- b-plugin 1.0.0 (left out of the release)");
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert_eq!(active(&t), pairs(&[("a-plugin", "1.0.0")]));
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_and_versions_deployed_beforehand_are_reused() {
    let t = Test::with_sim(SimConfig {
        ready_after: Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    t.write_config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    // Deployed and released by Twilio's CLI before flexform managed the plugins.
    t.sim()
        .release_outside(&account(1), &[("a-plugin", "1.0.0")]);
    t.write_config(&declaring(&[("a-plugin", "1.0.0")]));
    let before = posts(&t);
    let plan = t.run_read_only(&["plan", "--detailed-exitcode"]).await;
    plan.assert_exit(0);
    plan.assert_stdout_contains("records the active plugins release");
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    // Already the declared set: recorded, nothing sent.
    assert_eq!(posts(&t), before);
    assert!(t.state().instances["a"].plugins.is_some());
    t.run_read_only(&["plan", "--detailed-exitcode"])
        .await
        .assert_exit(0);

    // A version deployed (and since replaced) beforehand is reused too.
    t.sim()
        .release_outside(&account(1), &[("a-plugin", "1.1.0")]);
    t.sim()
        .release_outside(&account(1), &[("a-plugin", "1.0.0")]);
    t.write_config(&declaring(&[("a-plugin", "1.1.0")]));
    let before = posts(&t);
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let after = posts(&t);
    assert_eq!(
        (
            after.0 - before.0,
            after.1 - before.1,
            after.2 - before.2,
            after.3 - before.3
        ),
        (0, 0, 1, 1)
    );
    assert_eq!(active(&t), pairs(&[("a-plugin", "1.1.0")]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declared_url_that_differs_from_an_existing_version_is_refused_with_nothing_sent() {
    let t = project(&[("a-plugin", "1.0.0")]).await;
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let before = posts(&t);
    t.write(
        "flexform.yaml",
        &declaring(&[("a-plugin", "1.0.0")])
            .yaml()
            .replace("assets.example.test", "cdn.example.test"),
    );
    let plan = t.run_read_only(&["plan"]).await;
    plan.assert_exit(1);
    plan.assert_stderr_contains("versions are immutable");
    let apply = t.run(&["apply", "--auto-approve"]).await;
    apply.assert_exit(1);
    assert_eq!(posts(&t), before, "nothing sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_from_the_cli_is_drift_and_apply_heals_it() {
    let t = project(&[("a-plugin", "1.0.0")]).await;
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    t.sim()
        .release_outside(&account(1), &[("a-plugin", "0.9.0")]);

    let drift = t.run_read_only(&["drift"]).await;
    drift.assert_exit(2);
    drift.assert_stdout_contains("release_changed");
    let junit = t.run_read_only(&["drift", "--format", "junit"]).await;
    junit.assert_stdout_contains("release_changed");
    let report = t.run_read_only(&["report", "--format", "markdown"]).await;
    report.assert_stdout_contains("release_changed");

    let plan = t.run_read_only(&["plan", "--detailed-exitcode"]).await;
    plan.assert_exit(2);
    plan.assert_stdout_contains("~ a-plugin 0.9.0 -> 1.0.0");
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert_eq!(active(&t), pairs(&[("a-plugin", "1.0.0")]));
    t.run_read_only(&["drift"]).await.assert_exit(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_refused_after_a_release_from_the_cli_with_nothing_sent() {
    let t = project(&[("a-plugin", "1.0.0")]).await;
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    t.write_config(&declaring(&[("a-plugin", "1.1.0")]));
    t.run(&["plan", "--out", "plan.json"]).await.assert_exit(0);
    t.sim()
        .release_outside(&account(1), &[("a-plugin", "0.9.0")]);
    let before = posts(&t);
    let apply = t.run(&["apply", "plan.json"]).await;
    apply.assert_exit(1);
    apply.assert_stderr_contains("changed since the plan");
    let after = posts(&t);
    assert_eq!(
        (after.1, after.2, after.3),
        (before.1, before.2, before.3),
        "no version, configuration or release sent"
    );
    assert_eq!(active(&t), pairs(&[("a-plugin", "0.9.0")]));
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_declaring_plugins_sends_no_plugins_api_request() {
    let t = Test::with_sim(SimConfig {
        ready_after: Duration::ZERO,
        ..SimConfig::default()
    })
    .await;
    t.write_config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    t.run_read_only(&["plan"]).await.assert_exit(0);
    t.run_read_only(&["drift"]).await.assert_exit(0);
    assert_eq!(t.stats().plugin_requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_releases_its_plugins_once_ready_in_the_same_apply() {
    let t = project(&[("a-plugin", "1.0.0")]).await;
    let plan = t.run_read_only(&["plan"]).await;
    plan.assert_stdout_contains("once the instance is ready");
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert_eq!(active(&t), pairs(&[("a-plugin", "1.0.0")]));
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_lost_after_each_create_are_resolved_by_looking_with_nothing_made_twice() {
    let t = project(&[("a-plugin", "1.0.0")]).await;
    // The instance first, so that the faults meet the plugin, version, configuration and
    // release POSTs only.
    t.write_config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    t.write_config(&declaring(&[("a-plugin", "1.0.0")]));
    // Each of the four POSTs takes effect, then answers 500.
    t.sim().set_faults(flexform::sim::Faults {
        plugin_error_after_commit: 4,
        ..flexform::sim::Faults::default()
    });
    let apply = t.run(&["apply", "--auto-approve"]).await;
    apply.assert_exit(0);
    assert_eq!(posts(&t), (1, 1, 1, 1), "each sent once, never again");
    assert_eq!(active(&t), pairs(&[("a-plugin", "1.0.0")]));
    let record = t.state().instances["a"].plugins.clone().expect("recorded");
    assert_eq!(record.plugins["a-plugin"].version, "1.0.0");
    t.run_read_only(&["plan", "--detailed-exitcode"])
        .await
        .assert_exit(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_refused_before_it_took_effect_fails_the_release_and_the_next_apply_finishes_it() {
    let t = project(&[("a-plugin", "1.0.0")]).await;
    t.write_config(&ConfigBuilder::new().instance("a", &account(1)));
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    t.write_config(&declaring(&[("a-plugin", "1.0.0")]));
    // The plugin POST answers 503 and creates nothing: looked for, not found, not resent.
    t.sim().set_faults(flexform::sim::Faults {
        plugin_error_before_commit: 1,
        ..flexform::sim::Faults::default()
    });
    let apply = t.run(&["apply", "--auto-approve"]).await;
    apply.assert_exit(1);
    apply.assert_stderr_contains("plugins release");
    assert_eq!(
        active(&t),
        Vec::<(String, String)>::new(),
        "nothing released"
    );
    // The next apply makes what is missing: one plugin, one version, one release in all.
    t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    assert_eq!(posts(&t), (1, 1, 1, 1));
    assert_eq!(active(&t), pairs(&[("a-plugin", "1.0.0")]));
}

/// Where a release can die, in the order apply meets them.
#[cfg(feature = "failpoints")]
const RELEASE_POINTS: &[&str] = &[
    "apply::release::after_plugin_answer",
    "apply::release::after_version_answer",
    "apply::release::after_configuration_answer",
    "apply::release::after_release_answer",
];

/// Apply dies after each Plugins API answer; the next apply finishes the release without
/// making any plugin, version or release twice, and the state records it.
#[cfg(feature = "failpoints")]
#[tokio::test(flavor = "multi_thread")]
async fn a_release_killed_after_any_answer_is_finished_by_the_next_apply_without_duplicates() {
    for point in RELEASE_POINTS {
        let t = project(&[]).await;
        t.write_config(&ConfigBuilder::new().instance("a", &account(1)));
        t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
        t.write_config(&declaring(&[("a-plugin", "1.0.0"), ("b-plugin", "2.0.0")]));
        let crashed = t
            .run_with_env(
                &["apply", "--auto-approve"],
                &[("FAILPOINTS", Some(&format!("{point}=panic")))],
            )
            .await;
        assert_eq!(
            crashed.code, None,
            "{point}: apply should have died: {crashed:?}"
        );
        t.run(&["apply", "--auto-approve"]).await.assert_exit(0);
        let (plugins, versions, configurations, releases) = posts(&t);
        assert_eq!((plugins, versions), (2, 2), "{point}: made once each");
        assert!(
            configurations <= 2,
            "{point}: {configurations} configurations"
        );
        // Died before its release: one release in all. Died after it: the release made is the
        // active one, and the next plan records it without a request.
        assert_eq!(releases, 1, "{point}: releases");
        assert_eq!(
            active(&t),
            pairs(&[("a-plugin", "1.0.0"), ("b-plugin", "2.0.0")]),
            "{point}"
        );
        assert!(
            t.state().instances["a"].plugins.is_some(),
            "{point}: recorded"
        );
        t.run_read_only(&["plan", "--detailed-exitcode"])
            .await
            .assert_exit(0);
    }
}
