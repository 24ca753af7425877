//! The configuration pass of the planner: for each instance with a declared `configuration:`,
//! compares the managed paths with what `GET /v1/Configuration` showed, purely.
//!
//! A managed path whose observed value differs from the declared one is a change: the entry
//! becomes an `update` (or the create, adopt or move carries it). A managed value that no
//! longer has the digest the state recorded changed outside flexform: `configuration_changed`
//! drift.

use crate::config::flex::{self, AppliedConfiguration};
use crate::config::Config;
use crate::state::State;

use super::model::{
    Action, Diagnostic, DiagnosticKind, FieldChange, Plan, ResourceChange, Severity,
};
use crate::observe::{ConfigObservation, ConfigObservations};

/// Adds the configuration changes and diagnostics of every instance of `plan` that declares
/// a configuration, from `observed` (see [`super::observe()`]).
pub fn configure(plan: &mut Plan, desired: &Config, state: &State, observed: &ConfigObservations) {
    let mut diagnostics = Vec::new();
    for change in &mut plan.changes {
        if change.after.is_none() {
            continue;
        }
        let record = recorded_configuration(change, state);
        let Some(declared) = desired
            .instances
            .get(&change.name)
            .and_then(|spec| spec.declared_configuration())
        else {
            // Nothing declared any more: nothing is managed, and the record goes (no POST).
            if record.is_some() {
                change.record_configuration = Some(AppliedConfiguration::default());
            }
            continue;
        };
        let managed = flex::managed(declared);
        let diagnostic = |severity, kind, message: String| Diagnostic {
            severity,
            kind,
            address: change.address.clone(),
            message,
        };
        let unseen = !matches!(
            observed.get(&change.name),
            Some(ConfigObservation::Observed(_) | ConfigObservation::Failed(_))
        );
        // A new instance, or one adopted before its configuration could be read (it is still
        // provisioning): apply sets every declared value once it is ready.
        if change.action == Action::Create || (change.action == Action::Adopt && unseen) {
            change.configuration = managed
                .into_iter()
                .map(|(path, after)| FieldChange {
                    path: path.to_string(),
                    before: None,
                    after,
                })
                .collect();
            continue;
        }
        match observed.get(&change.name) {
            None => {}
            Some(ConfigObservation::NotReady) => diagnostics.push(diagnostic(
                Severity::Info,
                DiagnosticKind::Provisioning,
                "its Flex configuration is planned once the instance is ready: plan again then"
                    .to_owned(),
            )),
            Some(ConfigObservation::Failed(why)) => diagnostics.push(diagnostic(
                Severity::Error,
                DiagnosticKind::ObserveFailed,
                format!("cannot read its Flex configuration: {why}"),
            )),
            Some(ConfigObservation::Observed(current)) => {
                // Drift: a path managed now that changed outside flexform and that apply sets
                // again (never one apply would leave as it is).
                let drifted = record.map_or_else(Vec::new, |r| r.drifted(&managed, current));
                if !drifted.is_empty() {
                    diagnostics.push(diagnostic(
                        Severity::Drift,
                        DiagnosticKind::ConfigurationChanged,
                        format!(
                            "its Flex configuration changed outside flexform: {}; apply sets the declared values again",
                            drifted.join(", ")
                        ),
                    ));
                }
                let fields: Vec<FieldChange> = managed
                    .iter()
                    .map(|(path, after)| FieldChange {
                        path: path.to_string(),
                        before: Some(path.value_in(current)),
                        after: after.clone(),
                    })
                    .collect();
                if fields.iter().any(FieldChange::changes) {
                    change.configuration = fields;
                    if change.action == Action::Unchanged {
                        change.action = Action::Update;
                        change.reason = Some("its Flex configuration differs".to_owned());
                    }
                } else if change.action == Action::Unchanged {
                    // Every declared value is in place: the record says so (no POST), which
                    // clears a drift apply need not fix and arms the check of the next one.
                    let target = AppliedConfiguration::of(&managed, current);
                    if record != Some(&target) {
                        change.record_configuration = Some(target);
                    }
                }
            }
        }
    }
    plan.diagnostics.extend(diagnostics);
    plan.diagnostics.sort_by(|a, b| a.address.cmp(&b.address));
}

/// The configuration the state records for the instance `change` is about.
fn recorded_configuration<'s>(
    change: &ResourceChange,
    state: &'s State,
) -> Option<&'s AppliedConfiguration> {
    change.record_in(state)?.configuration.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sid::{AccountSid, InstanceSid};
    use crate::domain::InstanceStatus;
    use crate::plan::{InstanceView, ResourceChange};
    use crate::state::{InstanceRecord, Origin};
    use serde_json::json;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const SID: &str = "GO0123456789abcdef0123456789abcdef";

    fn desired(configuration: serde_json::Value) -> Config {
        let yaml = format!(
            "version: 1\ninstances:\n  a:\n    account_sid: {ACCOUNT}\n    configuration: {configuration}\n"
        );
        Config::parse(&yaml).unwrap()
    }

    fn view(sid: Option<&str>) -> InstanceView {
        InstanceView {
            account_sid: AccountSid::parse(ACCOUNT).unwrap(),
            conversations_default: None,
            flex_instance_sid: sid.map(|s| InstanceSid::parse(s).unwrap()),
            status: sid.map(|_| InstanceStatus::Ready),
        }
    }

    fn plan_of(action: Action) -> Plan {
        let sid = (action != Action::Create).then_some(SID);
        Plan {
            changes: vec![ResourceChange {
                address: "flex_instance.a".into(),
                name: "a".into(),
                account_sid: AccountSid::parse(ACCOUNT).unwrap(),
                action,
                reason: None,
                before: (action == Action::Unchanged).then(|| view(sid)),
                after: Some(view(sid)),
                moved_from: None,
                configuration: Vec::new(),
                record_configuration: None,
                release: None,
                record_release: None,
            }],
            diagnostics: Vec::new(),
        }
    }

    fn recorded(configuration: Option<AppliedConfiguration>) -> State {
        let mut state = State::empty();
        state.instances.insert(
            "a".into(),
            InstanceRecord {
                account_sid: AccountSid::parse(ACCOUNT).unwrap(),
                conversations_default: None,
                date_created: None,
                date_updated: None,
                flex_instance_sid: InstanceSid::parse(SID).unwrap(),
                observed_at: None,
                origin: Origin::Created,
                status: InstanceStatus::Ready,
                configuration,
                plugins: None,
            },
        );
        state
    }

    fn observed(value: serde_json::Value) -> ConfigObservations {
        [("a".to_owned(), ConfigObservation::Observed(value))].into()
    }

    #[test]
    fn a_differing_managed_path_makes_an_unchanged_instance_an_update() {
        let desired =
            desired(json!({"ui_language": "en-GB", "ui_attributes": {"logLevel": "debug"}}));
        let mut plan = plan_of(Action::Unchanged);
        let current =
            json!({"ui_language": "en-GB", "ui_attributes": {"logLevel": "info", "other": 1}});
        configure(&mut plan, &desired, &recorded(None), &observed(current));
        let change = &plan.changes[0];
        assert_eq!(change.action, Action::Update);
        let changed: Vec<_> = change.changed_fields().map(|f| f.path.as_str()).collect();
        assert_eq!(changed, ["ui_attributes.logLevel"]);
        // Every managed path is carried, with what was observed: apply checks them all.
        assert_eq!(change.configuration.len(), 2);
        assert_eq!(plan.summary().update, 1);
        assert!(plan.diagnostics.is_empty(), "no record, no drift");
    }

    #[test]
    fn matching_values_change_nothing_and_undeclared_keys_never_count() {
        let desired = desired(json!({"ui_attributes": {"logLevel": "debug", "gone": null}}));
        let mut plan = plan_of(Action::Unchanged);
        let current = json!({"ui_attributes": {"logLevel": "debug", "other": 2}});
        configure(&mut plan, &desired, &recorded(None), &observed(current));
        assert_eq!(plan.changes[0].action, Action::Unchanged);
        assert!(plan.changes[0].configuration.is_empty());
    }

    #[test]
    fn a_create_carries_every_declared_value_to_apply_once_ready() {
        let desired = desired(json!({"ui_language": "fr"}));
        let mut plan = plan_of(Action::Create);
        configure(
            &mut plan,
            &desired,
            &State::empty(),
            &ConfigObservations::new(),
        );
        let change = &plan.changes[0];
        assert_eq!(change.action, Action::Create);
        assert_eq!(change.configuration[0].before, None);
        assert_eq!(change.configuration[0].after, json!("fr"));
        // A configuration POST is planned: counted as an update too.
        assert_eq!(plan.summary().update, 1);
    }

    #[test]
    fn a_recorded_value_changed_outside_flexform_is_drift_naming_the_paths() {
        let desired = desired(json!({"ui_language": "fr", "crm_enabled": false}));
        let applied = json!({"ui_language": "fr", "crm_enabled": false});
        let record = AppliedConfiguration::of(
            &flex::managed(desired.instances["a"].declared_configuration().unwrap()),
            &applied,
        );
        let mut plan = plan_of(Action::Unchanged);
        let now = json!({"ui_language": "de", "crm_enabled": false});
        configure(&mut plan, &desired, &recorded(Some(record)), &observed(now));
        let d = &plan.diagnostics[0];
        assert_eq!(d.kind, DiagnosticKind::ConfigurationChanged);
        assert_eq!(d.severity, Severity::Drift);
        assert!(d.message.contains("ui_language"), "{}", d.message);
        assert!(!d.message.contains("crm_enabled"), "{}", d.message);
        assert_eq!(plan.changes[0].action, Action::Update);
        assert_eq!(plan.summary().drift, 1);
    }

    #[test]
    fn a_declared_change_with_reality_as_recorded_is_an_update_not_drift() {
        let old = desired(json!({"ui_language": "fr"}));
        let record = AppliedConfiguration::of(
            &flex::managed(old.instances["a"].declared_configuration().unwrap()),
            &json!({"ui_language": "fr"}),
        );
        let new = desired(json!({"ui_language": "de"}));
        let mut plan = plan_of(Action::Unchanged);
        configure(
            &mut plan,
            &new,
            &recorded(Some(record)),
            &observed(json!({"ui_language": "fr"})),
        );
        assert_eq!(plan.changes[0].action, Action::Update);
        assert!(plan.diagnostics.is_empty(), "{:?}", plan.diagnostics);
    }

    #[test]
    fn an_adopt_whose_configuration_was_not_read_carries_the_declared_values() {
        let desired = desired(json!({"ui_language": "fr"}));
        let mut plan = plan_of(Action::Adopt);
        let waiting = [("a".to_owned(), ConfigObservation::NotReady)].into();
        configure(&mut plan, &desired, &State::empty(), &waiting);
        let change = &plan.changes[0];
        assert_eq!(change.action, Action::Adopt);
        assert_eq!(change.configuration.len(), 1);
        assert_eq!(
            change.configuration[0].before, None,
            "nothing observed to protect"
        );
        assert!(plan.diagnostics.is_empty(), "{:?}", plan.diagnostics);
        // Read: only a difference is carried.
        let mut plan = plan_of(Action::Adopt);
        configure(
            &mut plan,
            &desired,
            &State::empty(),
            &observed(json!({"ui_language": "fr"})),
        );
        assert!(plan.changes[0].configuration.is_empty());
    }

    #[test]
    fn a_failed_read_is_an_error_and_a_provisioning_instance_waits() {
        let desired = desired(json!({"ui_language": "fr"}));
        let mut plan = plan_of(Action::Unchanged);
        let failed = [("a".to_owned(), ConfigObservation::Failed("HTTP 500".into()))].into();
        configure(&mut plan, &desired, &recorded(None), &failed);
        assert!(plan.has_errors());
        assert!(plan.diagnostics[0].message.contains("HTTP 500"));
        let mut plan = plan_of(Action::Unchanged);
        let waiting = [("a".to_owned(), ConfigObservation::NotReady)].into();
        configure(&mut plan, &desired, &recorded(None), &waiting);
        assert!(!plan.has_errors());
        assert_eq!(plan.diagnostics[0].severity, Severity::Info);
        assert_eq!(plan.changes[0].action, Action::Unchanged);
    }

    /// The decision table of what is managed now: each row a declaration, a record and an
    /// observation, and what the plan says (action, drift, record written without a POST).
    #[test]
    fn drift_and_records_follow_what_is_declared_now() {
        let m = |d: &serde_json::Value| {
            flex::managed(
                desired(d.clone()).instances["a"]
                    .declared_configuration()
                    .unwrap(),
            )
        };
        let both = json!({"ui_language": "fr", "ui_attributes": {"logLevel": "debug"}});
        let applied = json!({"ui_language": "fr", "ui_attributes": {"logLevel": "debug"}});
        let record_of =
            |d: &serde_json::Value, v: &serde_json::Value| Some(AppliedConfiguration::of(&m(d), v));
        struct Row {
            what: &'static str,
            declared: Option<serde_json::Value>,
            record: Option<AppliedConfiguration>,
            observed: serde_json::Value,
            action: Action,
            drift: bool,
            records: Option<Vec<&'static str>>,
        }
        let only_level = json!({"ui_attributes": {"logLevel": "debug"}});
        let rows = [
            Row {
                what: "as applied: nothing to do",
                declared: Some(both.clone()),
                record: record_of(&both, &applied),
                observed: applied.clone(),
                action: Action::Unchanged,
                drift: false,
                records: None,
            },
            Row {
                what: "a path no longer declared: its record goes, a change of it is no drift",
                declared: Some(only_level.clone()),
                record: record_of(&both, &applied),
                observed: json!({"ui_language": "de", "ui_attributes": {"logLevel": "debug"}}),
                action: Action::Unchanged,
                drift: false,
                records: Some(vec!["ui_attributes.logLevel"]),
            },
            Row {
                what: "changed outside, then declared as it is now: no drift, recorded",
                declared: Some(
                    json!({"ui_language": "de", "ui_attributes": {"logLevel": "debug"}}),
                ),
                record: record_of(&both, &applied),
                observed: json!({"ui_language": "de", "ui_attributes": {"logLevel": "debug"}}),
                action: Action::Unchanged,
                drift: false,
                records: Some(vec!["ui_attributes.logLevel", "ui_language"]),
            },
            Row {
                what: "changed outside, declared as before: drift and an update",
                declared: Some(both.clone()),
                record: record_of(&both, &applied),
                observed: json!({"ui_language": "de", "ui_attributes": {"logLevel": "debug"}}),
                action: Action::Update,
                drift: true,
                records: None,
            },
            Row {
                what: "in place, never recorded: recorded (arms drift), no update",
                declared: Some(both.clone()),
                record: None,
                observed: applied.clone(),
                action: Action::Unchanged,
                drift: false,
                records: Some(vec!["ui_attributes.logLevel", "ui_language"]),
            },
            Row {
                what: "not in place, never recorded: an update, no drift",
                declared: Some(both.clone()),
                record: None,
                observed: json!({"ui_language": "en", "ui_attributes": {"logLevel": "info"}}),
                action: Action::Update,
                drift: false,
                records: None,
            },
            Row {
                what: "nothing declared any more: the record goes",
                declared: None,
                record: record_of(&both, &applied),
                observed: applied.clone(),
                action: Action::Unchanged,
                drift: false,
                records: Some(vec![]),
            },
        ];
        for row in rows {
            let config = match &row.declared {
                Some(d) => desired(d.clone()),
                None => Config::parse(&format!(
                    "version: 1\ninstances:\n  a:\n    account_sid: {ACCOUNT}\n"
                ))
                .unwrap(),
            };
            let mut plan = plan_of(Action::Unchanged);
            configure(
                &mut plan,
                &config,
                &recorded(row.record),
                &observed(row.observed),
            );
            let change = &plan.changes[0];
            assert_eq!(change.action, row.action, "{}", row.what);
            let drifted = plan
                .diagnostics
                .iter()
                .any(|d| d.kind == DiagnosticKind::ConfigurationChanged);
            assert_eq!(drifted, row.drift, "{}: {:?}", row.what, plan.diagnostics);
            let records = change
                .record_configuration
                .as_ref()
                .map(|r| r.0.keys().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(records, row.records, "{}", row.what);
        }
    }
}
