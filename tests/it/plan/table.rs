//! Issue 4's table, row by row, with the exit codes of `plan --detailed-exitcode` and `drift`,
//! against wiremock and the simulator.

use std::time::Duration;

use flexform::sim::SimConfig;
use serde_json::json;
use wiremock::ResponseTemplate;

use super::json::{ActionJson, KindJson, SeverityJson, ViewJson};
use super::support::{
    discovery, fetch, instance_body, plan, plan_and_drift, ready_at_once, record, set_status,
    strict_server, with_sim, write_state, GO_SID, NO_CHANGES,
};
use crate::common::{self, account, ConfigBuilder, Test};

#[tokio::test(flavor = "multi_thread")]
async fn create_when_discovery_finds_nothing_against_wiremock() {
    let server = strict_server().await;
    let a = account(1);
    // plan human, plan --json, plan without --detailed-exitcode; drift observes nothing
    // because nothing is recorded.
    discovery(&a, None).expect(3).mount(&server).await;
    let t = Test::new().config(&ConfigBuilder::new().conversations("support", &a, Some(true)));

    let r = plan_and_drift(&t, &server.uri(), 2, 0).await;
    assert!(
        r.plan.stdout.contains("  + flex_instance \"support\" {")
            && r.plan
                .stdout
                .contains("# flex_instance.support will be created")
            && r.plan
                .stdout
                .contains("+ flex_instance_sid     = (known after apply)"),
        "{}",
        r.plan.stdout
    );
    assert!(
        r.plan
            .stdout
            .ends_with("Plan: 1 to create, 0 to adopt, 0 unchanged. Drift: 0.\n"),
        "{}",
        r.plan.stdout
    );
    let change = r.plan_json.change("support");
    assert_eq!(change.action, ActionJson::Create);
    assert_eq!(change.account_sid, a);
    assert_eq!(change.before, None);
    assert_eq!(
        change.after,
        Some(ViewJson {
            account_sid: a.clone(),
            conversations_default: Some(true),
            flex_instance_sid: None,
            status: None,
        })
    );
    assert!(r.plan_json.diagnostics.is_empty());

    // An unapplied configuration change is not drift.
    assert!(r.drift.stdout.starts_with("No drift"), "{:?}", r.drift);
    assert!(r.drift_json.resource_changes.is_empty());

    // Without --detailed-exitcode, changes still exit 0.
    let plain = plan(&t, &server.uri(), &[]).await;
    assert_eq!(plain.code, Some(0), "{plain:?}");
    assert!(!t.state_path().exists(), "plan created the state file");
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn adopt_when_discovery_finds_an_instance_against_wiremock() {
    let server = strict_server().await;
    let a = account(2);
    discovery(&a, Some(GO_SID)).expect(2).mount(&server).await;
    let t = Test::new().config(&ConfigBuilder::new().instance("support", &a));

    let r = plan_and_drift(&t, &server.uri(), 2, 0).await;
    let change = r.plan_json.change("support");
    assert_eq!(change.action, ActionJson::Adopt);
    assert_eq!(change.before, None);
    let after = change.after.as_ref().expect("adopt has an after");
    assert_eq!(after.flex_instance_sid.as_deref(), Some(GO_SID));
    assert_eq!(after.account_sid, a);
    assert!(
        change.reason.as_deref().unwrap_or("").contains("discovery"),
        "{change:?}"
    );
    assert_eq!(r.plan_json.summary.adopt, 1);
    assert!(
        r.plan.stdout.contains("  > flex_instance \"support\" {")
            && r.plan
                .stdout
                .contains(&format!("> flex_instance_sid     = \"{GO_SID}\"")),
        "{}",
        r.plan.stdout
    );
    assert!(
        r.plan
            .stdout
            .ends_with("Plan: 0 to create, 1 to adopt, 0 unchanged. Drift: 0.\n"),
        "{}",
        r.plan.stdout
    );
    assert!(r.drift_json.resource_changes.is_empty());
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_op_when_the_recorded_instance_is_ready() {
    let t = ready_at_once().await;
    let a = account(3);
    let sid = t.create_directly(&a, None).await;
    t.write_config(&ConfigBuilder::new().instance("support", &a));
    write_state(
        &t,
        &[("support", record(&a, &sid, "ready", "created", None))],
    );

    let r = plan_and_drift(&t, &t.sim().url(), 0, 0).await;
    assert_eq!(r.plan.stdout, format!("{NO_CHANGES}\n"));
    let change = r.plan_json.change("support");
    assert_eq!(change.action, ActionJson::Unchanged);
    assert_eq!(change.reason, None);
    assert_eq!(
        change.after.as_ref().unwrap().flex_instance_sid.as_deref(),
        Some(sid.as_str())
    );
    assert!(r.plan_json.diagnostics.is_empty());
    assert_eq!(
        r.drift.stdout,
        "No drift: 1 recorded instance matches reality.\n"
    );
    assert_eq!(r.drift_json.resource_changes.len(), 1);

    // One GET per run, never a discovery, never a POST but the set-up one.
    let stats = t.stats();
    assert_eq!(stats.gets, 4, "{stats:?}");
    assert_eq!(stats.discoveries, 0, "{stats:?}");
    assert_eq!(stats.create_requests, 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_op_with_info_while_the_instance_is_provisioning() {
    let t = with_sim(SimConfig {
        ready_after: Duration::from_secs(3600),
        ..SimConfig::default()
    })
    .await;
    let a = account(4);
    let sid = t.create_directly(&a, None).await;
    t.write_config(&ConfigBuilder::new().instance("support", &a));
    write_state(
        &t,
        &[(
            "support",
            record(&a, &sid, "creation-in-progress", "created", None),
        )],
    );

    let r = plan_and_drift(&t, &t.sim().url(), 0, 0).await;
    assert_eq!(r.plan_json.change("support").action, ActionJson::Unchanged);
    assert_eq!(
        r.plan_json.kinds("support"),
        vec![(SeverityJson::Info, KindJson::Provisioning)]
    );
    assert!(r
        .plan_json
        .diagnostic("support", KindJson::Provisioning)
        .message
        .contains(&sid));
    assert!(
        r.plan
            .stdout
            .contains("  i info flex_instance.support (provisioning): "),
        "{}",
        r.plan.stdout
    );
    assert!(r.plan.stdout.ends_with(&format!("{NO_CHANGES}\n")));
    assert_eq!(r.drift_json.summary.drift, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_outside_against_wiremock_404() {
    let server = strict_server().await;
    let a = account(5);
    fetch(&a, GO_SID)
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "code": 20404,
            "message": "The requested resource was not found",
            "more_info": "https://www.twilio.com/docs/errors/20404",
            "status": 404,
        })))
        .expect(4)
        .mount(&server)
        .await;
    let t = Test::new().config(&ConfigBuilder::new().instance("support", &a));
    write_state(
        &t,
        &[("support", record(&a, GO_SID, "ready", "created", None))],
    );

    let r = plan_and_drift(&t, &server.uri(), 2, 2).await;
    for doc in [&r.plan_json, &r.drift_json] {
        let change = doc.change("support");
        assert_eq!(change.action, ActionJson::Create);
        assert_eq!(
            change.before.as_ref().unwrap().flex_instance_sid.as_deref(),
            Some(GO_SID)
        );
        assert_eq!(change.after.as_ref().unwrap().flex_instance_sid, None);
        assert_eq!(
            doc.kinds("support"),
            vec![(SeverityJson::Drift, KindJson::DeletedOutside)]
        );
        assert_eq!(doc.summary.drift, 1);
    }
    assert!(
        r.plan
            .stdout
            .contains("  ! drift flex_instance.support (deleted_outside): ")
            && r.plan
                .stdout
                .ends_with("Plan: 1 to create, 0 to adopt, 0 unchanged. Drift: 1.\n"),
        "{}",
        r.plan.stdout
    );
    assert!(
        r.drift.stdout.contains("(deleted_outside)"),
        "{}",
        r.drift.stdout
    );
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_outside_against_the_simulator() {
    let t = ready_at_once().await;
    let (a, b, c) = (account(6), account(7), account(8));
    let forgotten = t.create_directly(&a, None).await;
    let deleted = t.create_directly(&b, None).await;
    let deleting = t.create_directly(&c, None).await;
    // Forgotten entirely, through the simulator's control endpoint: fetches answer 404.
    let response = common::http_client()
        .delete(format!("{}/_sim/instances/{forgotten}", t.sim().url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT);
    set_status(&t, &deleted, "deleted");
    set_status(&t, &deleting, "deletion-in-progress");
    t.write_config(
        &ConfigBuilder::new()
            .instance("forgotten", &a)
            .instance("deleted", &b)
            .instance("deleting", &c),
    );
    write_state(
        &t,
        &[
            (
                "forgotten",
                record(&a, &forgotten, "ready", "created", None),
            ),
            ("deleted", record(&b, &deleted, "ready", "created", None)),
            ("deleting", record(&c, &deleting, "ready", "created", None)),
        ],
    );

    let r = plan_and_drift(&t, &t.sim().url(), 2, 2).await;
    for doc in [&r.plan_json, &r.drift_json] {
        for name in ["forgotten", "deleted", "deleting"] {
            assert_eq!(doc.change(name).action, ActionJson::Create, "{name}");
            assert_eq!(
                doc.kinds(name),
                vec![(SeverityJson::Drift, KindJson::DeletedOutside)],
                "{name}"
            );
        }
        assert_eq!(doc.summary.create, 3);
        assert_eq!(doc.summary.drift, 3);
    }
    assert!(r
        .plan_json
        .diagnostic("forgotten", KindJson::DeletedOutside)
        .message
        .contains("404"));
    assert!(r
        .plan_json
        .diagnostic("deleting", KindJson::DeletedOutside)
        .message
        .contains("deletion-in-progress"));
    assert_eq!(t.stats().create_requests, 3, "only the set-up POSTs");
}

#[tokio::test(flavor = "multi_thread")]
async fn creation_failed_is_drift_and_creates_again() {
    let t = ready_at_once().await;
    let a = account(9);
    let sid = t.create_directly(&a, None).await;
    set_status(&t, &sid, "creation-failed");
    t.write_config(&ConfigBuilder::new().instance("support", &a));
    write_state(
        &t,
        &[(
            "support",
            record(&a, &sid, "creation-in-progress", "created", None),
        )],
    );

    let r = plan_and_drift(&t, &t.sim().url(), 2, 2).await;
    for doc in [&r.plan_json, &r.drift_json] {
        let change = doc.change("support");
        assert_eq!(change.action, ActionJson::Create);
        assert_eq!(
            change.before.as_ref().unwrap().status.as_deref(),
            Some("creation-failed"),
            "before shows what was observed"
        );
        assert_eq!(
            doc.kinds("support"),
            vec![(SeverityJson::Drift, KindJson::CreationFailed)]
        );
    }
    assert!(
        r.drift.stdout.contains("(creation_failed)"),
        "{}",
        r.drift.stdout
    );
    assert_eq!(t.stats().create_requests, 1, "only the set-up POST");
}

#[tokio::test(flavor = "multi_thread")]
async fn orphaned_is_plan_drift_but_not_a_drift_command_finding() {
    let t = ready_at_once().await;
    let (a, b) = (account(10), account(11));
    let kept = t.create_directly(&a, None).await;
    let retired = t.create_directly(&b, None).await;
    t.write_config(&ConfigBuilder::new().instance("kept", &a));
    write_state(
        &t,
        &[
            ("kept", record(&a, &kept, "ready", "created", None)),
            ("retired", record(&b, &retired, "ready", "created", None)),
        ],
    );

    // plan: the orphan is drift (exit 2). drift: it only checks instances both recorded and
    // configured, and a configuration change not yet applied is not drift (exit 0).
    let r = plan_and_drift(&t, &t.sim().url(), 2, 0).await;
    let change = r.plan_json.change("retired");
    assert_eq!(change.action, ActionJson::Unchanged);
    assert_eq!(change.after, None, "an orphan is no longer managed");
    assert_eq!(
        change.before.as_ref().unwrap().flex_instance_sid.as_deref(),
        Some(retired.as_str())
    );
    assert_eq!(
        r.plan_json.kinds("retired"),
        vec![(SeverityJson::Drift, KindJson::Orphaned)]
    );
    assert!(r
        .plan_json
        .diagnostic("retired", KindJson::Orphaned)
        .message
        .contains("flexform state rm retired"));
    assert_eq!(r.plan_json.change("kept").action, ActionJson::Unchanged);
    assert_eq!(r.plan_json.summary.drift, 1);
    assert!(
        r.plan
            .stdout
            .ends_with("Plan: 0 to create, 0 to adopt, 2 unchanged. Drift: 1.\n"),
        "{}",
        r.plan.stdout
    );

    assert!(r.drift.stdout.starts_with("No drift"), "{}", r.drift.stdout);
    assert_eq!(r.drift_json.summary.drift, 0);
    assert!(r.drift_json.diagnostics.is_empty());
    assert_eq!(
        r.drift_json
            .resource_changes
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["kept"]
    );
    // The orphan has no configuration, hence no credentials: it is never fetched.
    assert_eq!(t.stats().gets, 4, "one GET of `kept` per run");
}

#[tokio::test(flavor = "multi_thread")]
async fn account_mismatch_is_an_error_against_wiremock() {
    let server = strict_server().await;
    let (a, other) = (account(12), account(13));
    fetch(&a, GO_SID)
        .respond_with(
            ResponseTemplate::new(200).set_body_json(instance_body(GO_SID, &other, "ready")),
        )
        .expect(4)
        .mount(&server)
        .await;
    let t = Test::new().config(&ConfigBuilder::new().instance("support", &a));
    write_state(
        &t,
        &[("support", record(&a, GO_SID, "ready", "created", None))],
    );

    let r = plan_and_drift(&t, &server.uri(), 1, 1).await;
    for doc in [&r.plan_json, &r.drift_json] {
        assert_eq!(
            doc.kinds("support"),
            vec![(SeverityJson::Error, KindJson::AccountMismatch)]
        );
        let message = &doc.diagnostic("support", KindJson::AccountMismatch).message;
        assert!(
            message.contains(&other) && message.contains(&a),
            "{message}"
        );
        assert_eq!(doc.change("support").action, ActionJson::Unchanged);
    }
    assert!(
        r.plan
            .stdout
            .contains("  x error flex_instance.support (account_mismatch): "),
        "{}",
        r.plan.stdout
    );
    // A plan that could not be made never reads as "no changes" or "no drift".
    assert!(
        r.plan.stdout.contains("Plan failed: 1 error;") && !r.plan.stdout.contains("No changes"),
        "{}",
        r.plan.stdout
    );
    assert!(
        r.drift.stdout.contains("Drift check failed: 1 error;")
            && !r.drift.stdout.contains("No drift"),
        "{}",
        r.drift.stdout
    );
    server.verify().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn account_mismatch_between_state_and_config_against_the_simulator() {
    let t = ready_at_once().await;
    let (recorded_on, configured) = (account(14), account(15));
    let sid = t.create_directly(&recorded_on, None).await;
    t.write_config(&ConfigBuilder::new().instance("support", &configured));
    write_state(
        &t,
        &[(
            "support",
            record(&recorded_on, &sid, "ready", "created", None),
        )],
    );

    let r = plan_and_drift(&t, &t.sim().url(), 1, 1).await;
    assert_eq!(
        r.plan_json.kinds("support"),
        vec![(SeverityJson::Error, KindJson::AccountMismatch)]
    );
    assert!(r
        .plan_json
        .diagnostic("support", KindJson::AccountMismatch)
        .message
        .contains("flexform state rm support"));
    assert_eq!(t.stats().create_requests, 1);
}
