//! The plugins pass of the planner: for each instance that declares `plugins:`, compares the
//! declared plugin versions with the account's active release, purely.
//!
//! The declaration is authoritative: the active release must hold exactly the declared
//! versions. Any plugin added, changed or left out makes a release (the entry becomes an
//! `update`, or the create, adopt or move carries it), naming for each plugin and version
//! whether it exists or apply creates it. A declared URL that differs from an existing
//! version's is an error (versions are immutable). A release made outside flexform since the
//! one the state records is `release_changed` drift, when apply would release again.

use std::collections::BTreeMap;

use crate::domain::{ConfiguredPlugin, NewVersion};
use crate::observe::{PluginObservation, PluginObservations, PluginsSeen};
use crate::state::{PluginsRecord, ReleasedPlugin, State};

use super::model::{
    Action, Diagnostic, DiagnosticKind, Plan, PluginChange, ReleaseChange, ResourceChange, Severity,
};

/// The declared plugins of each instance that declares `plugins:`, by instance name, then by
/// unique name.
pub type DeclaredPlugins = BTreeMap<String, BTreeMap<String, NewVersion>>;

/// Adds the release, record and diagnostics of every instance of `plan` that declares plugins
/// (`declared`), from `observed`.
pub fn release(
    plan: &mut Plan,
    declared: &DeclaredPlugins,
    state: &State,
    observed: &PluginObservations,
) {
    let mut diagnostics = Vec::new();
    for change in &mut plan.changes {
        let Some(declared) = declared.get(&change.name) else {
            continue;
        };
        if change.after.is_none() {
            continue;
        }
        let diagnostic = |severity, kind, message: String| Diagnostic {
            severity,
            kind,
            address: change.address.clone(),
            message,
        };
        let seen = observed.get(&change.name);
        let unseen = !matches!(
            seen,
            Some(PluginObservation::Observed(_) | PluginObservation::Failed(_))
        );
        // A new instance, or one adopted before its plugins could be read: apply looks for
        // each plugin and version itself and releases once the instance is ready.
        if change.action == Action::Create || (change.action == Action::Adopt && unseen) {
            change.release = Some(Box::new(unobserved(declared)));
            continue;
        }
        match seen {
            None => {}
            Some(PluginObservation::NotReady) => diagnostics.push(diagnostic(
                Severity::Info,
                DiagnosticKind::Provisioning,
                "its Flex plugins are released once the instance is ready: plan again then"
                    .to_owned(),
            )),
            Some(PluginObservation::Failed(why)) => diagnostics.push(diagnostic(
                Severity::Error,
                DiagnosticKind::ObserveFailed,
                format!("cannot read its Flex plugins: {why}"),
            )),
            Some(PluginObservation::Observed(seen)) => {
                let record = recorded(change, state);
                let (release, errors) = compare(declared, seen);
                for message in errors {
                    diagnostics.push(diagnostic(
                        Severity::Error,
                        DiagnosticKind::ImmutableInputChanged,
                        message,
                    ));
                }
                decide(change, release, seen, record, &mut diagnostics);
            }
        }
    }
    plan.diagnostics.extend(diagnostics);
    plan.diagnostics.sort_by(|a, b| a.address.cmp(&b.address));
}

/// The release of an instance whose plugins were not read: every declared version, to be
/// looked for (and created if missing) by apply.
fn unobserved(declared: &BTreeMap<String, NewVersion>) -> ReleaseChange {
    ReleaseChange {
        observed: false,
        before: None,
        plugins: declared
            .iter()
            .map(|(name, version)| PluginChange {
                name: name.clone(),
                before: None,
                after: Some(version.version.clone()),
                plugin_sid: None,
                plugin_version_sid: None,
                create_version: Some(version.clone()),
            })
            .collect(),
    }
}

/// The release that makes `seen`'s account hold exactly `declared`, and the errors that
/// forbid it (a declared URL that differs from an existing version's).
fn compare(
    declared: &BTreeMap<String, NewVersion>,
    seen: &PluginsSeen,
) -> (ReleaseChange, Vec<String>) {
    let released: BTreeMap<&str, &ConfiguredPlugin> = seen
        .released
        .iter()
        .map(|p| (p.unique_name.as_str(), p))
        .collect();
    let mut errors = Vec::new();
    let mut immutable = |name: &str, version: &str, existing: &str, declared: &str| {
        if existing != declared {
            errors.push(format!(
                "plugin {name} version {version} exists with url {existing}, not {declared}: versions are immutable, so declare a new version to release another bundle"
            ));
        }
    };
    let mut plugins = Vec::new();
    for (name, want) in declared {
        let active = released.get(name.as_str());
        let mut entry = PluginChange {
            name: name.clone(),
            before: active.map(|p| p.version.clone()),
            after: Some(want.version.clone()),
            plugin_sid: None,
            plugin_version_sid: None,
            create_version: None,
        };
        match active {
            Some(active) if active.version == want.version => {
                immutable(name, &want.version, &active.plugin_url, &want.plugin_url);
                entry.plugin_sid = Some(active.plugin_sid.clone());
                entry.plugin_version_sid = Some(active.plugin_version_sid.clone());
            }
            _ => {
                let existing = seen.plugins.get(name).and_then(Option::as_ref);
                entry.plugin_sid = existing
                    .map(|p| p.plugin.sid.clone())
                    .or_else(|| active.map(|a| a.plugin_sid.clone()));
                let version =
                    existing.and_then(|p| p.versions.iter().find(|v| v.version == want.version));
                match version {
                    Some(version) => {
                        immutable(name, &want.version, &version.plugin_url, &want.plugin_url);
                        entry.plugin_version_sid = Some(version.sid.clone());
                    }
                    None => entry.create_version = Some(want.clone()),
                }
            }
        }
        plugins.push(entry);
    }
    for (name, active) in &released {
        if !declared.contains_key(*name) {
            plugins.push(PluginChange {
                name: (*name).to_owned(),
                before: Some(active.version.clone()),
                after: None,
                plugin_sid: Some(active.plugin_sid.clone()),
                plugin_version_sid: Some(active.plugin_version_sid.clone()),
                create_version: None,
            });
        }
    }
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    let release = ReleaseChange {
        observed: true,
        before: seen.active.as_ref().map(|r| r.sid.clone()),
        plugins,
    };
    (release, errors)
}

/// Puts `release` on `change` when it changes anything (with drift when the active release
/// is not the recorded one), else the record of the active release when the state's differs.
fn decide(
    change: &mut ResourceChange,
    release: ReleaseChange,
    seen: &PluginsSeen,
    record: Option<&PluginsRecord>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let differs = seen.active.is_none() || release.changed().next().is_some();
    if !differs {
        // The active release holds the declared versions: recorded as it is (no request).
        let target = record_of(seen);
        if target.is_some() && record != target.as_ref() {
            change.record_release = target.map(Box::new);
        }
        return;
    }
    if let (Some(record), Some(active)) = (record, &seen.active) {
        if record.release_sid != active.sid {
            diagnostics.push(Diagnostic {
                severity: Severity::Drift,
                kind: DiagnosticKind::ReleaseChanged,
                address: change.address.clone(),
                message: format!(
                    "its Flex plugins were released outside flexform (release {}, not {}): {}; apply releases the declared versions again",
                    active.sid,
                    record.release_sid,
                    describe(&release)
                ),
            });
        }
    }
    if change.action == Action::Unchanged {
        change.action = Action::Update;
        change.reason = Some("its Flex plugins release differs".to_owned());
    }
    change.release = Some(Box::new(release));
}

/// The record of `seen`'s active release.
fn record_of(seen: &PluginsSeen) -> Option<PluginsRecord> {
    let active = seen.active.as_ref()?;
    Some(PluginsRecord {
        release_sid: active.sid.clone(),
        configuration_sid: active.configuration_sid.clone(),
        plugins: seen
            .released
            .iter()
            .map(|p| {
                (
                    p.unique_name.clone(),
                    ReleasedPlugin {
                        version: p.version.clone(),
                        plugin_sid: p.plugin_sid.clone(),
                        plugin_version_sid: p.plugin_version_sid.clone(),
                    },
                )
            })
            .collect(),
    })
}

/// The plugins a release changes, in words: `a 1.0.0 -> 1.1.0, b left out`.
pub fn describe(release: &ReleaseChange) -> String {
    release
        .changed()
        .map(|p| match (&p.before, &p.after) {
            (Some(before), Some(after)) => format!("{} {before} -> {after}", p.name),
            (None, Some(after)) => format!("{} {after} added", p.name),
            (Some(before), None) => format!("{} {before} left out", p.name),
            (None, None) => p.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plugins release the state records for the instance `change` is about.
fn recorded<'s>(change: &ResourceChange, state: &'s State) -> Option<&'s PluginsRecord> {
    change.record_in(state)?.plugins.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        AccountSid, InstanceSid, InstanceStatus, Plugin, PluginConfigurationSid, PluginVersion,
        Release, ReleaseSid,
    };
    use crate::observe::SeenPlugin;
    use crate::plan::model::InstanceView;
    use crate::state::{InstanceRecord, Origin};

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const INSTANCE: &str = "GO0123456789abcdef0123456789abcdef";

    fn sid<T: std::str::FromStr>(prefix: &str, n: u32) -> T
    where
        T::Err: std::fmt::Debug,
    {
        format!("{prefix}{n:032x}").parse().unwrap()
    }

    fn url(name: &str, version: &str) -> String {
        format!("https://assets.example.test/{name}/{version}/bundle.js")
    }

    fn declared(plugins: &[(&str, &str)]) -> DeclaredPlugins {
        let versions = plugins
            .iter()
            .map(|(name, version)| {
                (
                    (*name).to_owned(),
                    NewVersion {
                        version: (*version).to_owned(),
                        plugin_url: url(name, version),
                        private: true,
                        changelog: None,
                    },
                )
            })
            .collect();
        [("a".to_owned(), versions)].into()
    }

    /// Plugin `n` of the account is named `names[n]`.
    fn configured(n: u32, name: &str, version: &str) -> ConfiguredPlugin {
        ConfiguredPlugin {
            plugin_sid: sid("FP", n),
            plugin_version_sid: sid("FV", n * 100 + version.len() as u32),
            unique_name: name.to_owned(),
            version: version.to_owned(),
            plugin_url: url(name, version),
        }
    }

    fn release_sid(n: u32) -> ReleaseSid {
        sid("FK", n)
    }

    fn seen(release: Option<u32>, released: Vec<ConfiguredPlugin>) -> PluginsSeen {
        PluginsSeen {
            active: release.map(|n| Release {
                sid: release_sid(n),
                configuration_sid: sid::<PluginConfigurationSid>("FJ", n),
            }),
            released,
            plugins: BTreeMap::new(),
        }
    }

    fn plan(action: Action) -> Plan {
        let view = InstanceView {
            account_sid: AccountSid::parse(ACCOUNT).unwrap(),
            conversations_default: None,
            flex_instance_sid: (action != Action::Create)
                .then(|| InstanceSid::parse(INSTANCE).unwrap()),
            status: Some(InstanceStatus::Ready),
        };
        Plan {
            changes: vec![ResourceChange {
                address: "flex_instance.a".into(),
                name: "a".into(),
                account_sid: AccountSid::parse(ACCOUNT).unwrap(),
                action,
                reason: None,
                before: (action != Action::Create).then(|| view.clone()),
                after: Some(view),
                moved_from: None,
                configuration: Vec::new(),
                record_configuration: None,
                release: None,
                record_release: None,
            }],
            diagnostics: Vec::new(),
        }
    }

    fn state(record: Option<PluginsRecord>) -> State {
        let mut state = State::empty();
        state.instances.insert(
            "a".into(),
            InstanceRecord {
                account_sid: AccountSid::parse(ACCOUNT).unwrap(),
                conversations_default: None,
                date_created: None,
                date_updated: None,
                flex_instance_sid: InstanceSid::parse(INSTANCE).unwrap(),
                observed_at: None,
                origin: Origin::Created,
                status: InstanceStatus::Ready,
                configuration: None,
                plugins: record.map(Box::new),
            },
        );
        state
    }

    fn run(
        action: Action,
        declared: &DeclaredPlugins,
        state: &State,
        observed: PluginObservation,
    ) -> Plan {
        let mut p = plan(action);
        release(
            &mut p,
            declared,
            state,
            &[("a".to_owned(), observed)].into(),
        );
        p
    }

    fn versions(release: &ReleaseChange) -> Vec<(&str, Option<&str>, Option<&str>)> {
        release
            .plugins
            .iter()
            .map(|p| (p.name.as_str(), p.before.as_deref(), p.after.as_deref()))
            .collect()
    }

    #[test]
    fn the_first_release_creates_what_does_not_exist_and_reuses_what_does() {
        let mut observed = seen(None, Vec::new());
        observed.plugins.insert(
            "old".into(),
            Some(SeenPlugin {
                plugin: Plugin {
                    sid: sid("FP", 7),
                    unique_name: "old".into(),
                },
                versions: vec![PluginVersion {
                    sid: sid("FV", 70),
                    plugin_sid: sid("FP", 7),
                    version: "2.0.0".into(),
                    plugin_url: url("old", "2.0.0"),
                    private: true,
                }],
            }),
        );
        observed.plugins.insert("new".into(), None);
        let p = run(
            Action::Unchanged,
            &declared(&[("new", "1.0.0"), ("old", "2.0.0")]),
            &state(None),
            PluginObservation::Observed(observed),
        );
        let change = &p.changes[0];
        assert_eq!(change.action, Action::Update);
        let release = change.release.as_ref().unwrap();
        assert!(release.observed);
        assert_eq!(release.before, None);
        assert_eq!(
            versions(release),
            [("new", None, Some("1.0.0")), ("old", None, Some("2.0.0"))]
        );
        let (new, old) = (&release.plugins[0], &release.plugins[1]);
        assert_eq!((&new.plugin_sid, &new.plugin_version_sid), (&None, &None));
        assert!(new.create_version.is_some());
        assert_eq!(old.plugin_sid, Some(sid("FP", 7)));
        assert_eq!(old.plugin_version_sid, Some(sid("FV", 70)));
        assert_eq!(old.create_version, None);
        assert_eq!(p.summary().release, 1);
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    }

    #[test]
    fn a_version_bump_changes_one_plugin_and_keeps_the_other() {
        let mut observed = seen(
            Some(1),
            vec![configured(1, "a", "1.0.0"), configured(2, "b", "1.0.0")],
        );
        observed.plugins.insert(
            "b".into(),
            Some(SeenPlugin {
                plugin: Plugin {
                    sid: sid("FP", 2),
                    unique_name: "b".into(),
                },
                versions: Vec::new(),
            }),
        );
        let p = run(
            Action::Unchanged,
            &declared(&[("a", "1.0.0"), ("b", "1.1.0")]),
            &state(None),
            PluginObservation::Observed(observed),
        );
        let release = p.changes[0].release.as_ref().unwrap();
        assert_eq!(release.before, Some(release_sid(1)));
        assert_eq!(
            versions(release),
            [
                ("a", Some("1.0.0"), Some("1.0.0")),
                ("b", Some("1.0.0"), Some("1.1.0"))
            ]
        );
        let b = &release.plugins[1];
        assert_eq!(b.plugin_sid, Some(sid("FP", 2)), "the plugin exists");
        assert!(b.create_version.is_some(), "its new version does not");
        assert_eq!(describe(release), "b 1.0.0 -> 1.1.0");
    }

    #[test]
    fn a_plugin_left_out_of_the_declaration_is_left_out_of_the_release() {
        let observed = seen(
            Some(1),
            vec![configured(1, "a", "1.0.0"), configured(2, "b", "1.0.0")],
        );
        let p = run(
            Action::Unchanged,
            &declared(&[("a", "1.0.0")]),
            &state(None),
            PluginObservation::Observed(observed),
        );
        let release = p.changes[0].release.as_ref().unwrap();
        assert_eq!(
            versions(release),
            [
                ("a", Some("1.0.0"), Some("1.0.0")),
                ("b", Some("1.0.0"), None)
            ]
        );
        assert_eq!(describe(release), "b 1.0.0 left out");
    }

    #[test]
    fn the_declared_set_already_active_is_recorded_without_a_release() {
        let observed = seen(Some(3), vec![configured(1, "a", "1.0.0")]);
        let p = run(
            Action::Unchanged,
            &declared(&[("a", "1.0.0")]),
            &state(None),
            PluginObservation::Observed(observed.clone()),
        );
        let change = &p.changes[0];
        assert_eq!(change.action, Action::Unchanged);
        assert_eq!(change.release, None);
        let record = change.record_release.clone().unwrap();
        assert_eq!(record.release_sid, release_sid(3));
        assert_eq!(record.plugins["a"].version, "1.0.0");
        // Once recorded, nothing more.
        let p = run(
            Action::Unchanged,
            &declared(&[("a", "1.0.0")]),
            &state(Some(*record)),
            PluginObservation::Observed(observed),
        );
        assert_eq!(p.changes[0].record_release, None);
        assert!(!p.has_changes());
    }

    #[test]
    fn a_release_made_outside_flexform_is_drift_and_is_released_again() {
        let recorded = record_of(&seen(Some(1), vec![configured(1, "a", "1.0.0")]));
        let observed = seen(Some(2), vec![configured(1, "a", "0.9.0")]);
        let p = run(
            Action::Unchanged,
            &declared(&[("a", "1.0.0")]),
            &state(recorded.clone()),
            PluginObservation::Observed(observed),
        );
        let d = &p.diagnostics[0];
        assert_eq!(
            (d.severity, d.kind),
            (Severity::Drift, DiagnosticKind::ReleaseChanged)
        );
        assert!(d.message.contains("a 0.9.0 -> 1.0.0"), "{}", d.message);
        assert_eq!(p.summary().drift, 1);
        assert_eq!(p.changes[0].action, Action::Update);
        // An outside release of the declared set itself is recorded, not drift.
        let p = run(
            Action::Unchanged,
            &declared(&[("a", "1.0.0")]),
            &state(recorded),
            PluginObservation::Observed(seen(Some(2), vec![configured(1, "a", "1.0.0")])),
        );
        assert!(p.diagnostics.is_empty());
        assert_eq!(
            p.changes[0].record_release.as_ref().unwrap().release_sid,
            release_sid(2)
        );
    }

    #[test]
    fn a_declared_url_that_differs_from_an_existing_versions_is_an_error() {
        let mut declared = declared(&[("a", "1.0.0")]);
        declared
            .get_mut("a")
            .unwrap()
            .get_mut("a")
            .unwrap()
            .plugin_url = "https://elsewhere.example.test/a.js".into();
        let p = run(
            Action::Unchanged,
            &declared,
            &state(None),
            PluginObservation::Observed(seen(Some(1), vec![configured(1, "a", "1.0.0")])),
        );
        let d = &p.diagnostics[0];
        assert_eq!(
            (d.severity, d.kind),
            (Severity::Error, DiagnosticKind::ImmutableInputChanged)
        );
        assert!(d.message.contains("declare a new version"), "{}", d.message);
        assert!(p.has_errors());
    }

    #[test]
    fn a_new_instance_releases_every_declared_version_once_ready_and_failures_are_errors() {
        let p = run(
            Action::Create,
            &declared(&[("a", "1.0.0")]),
            &State::empty(),
            PluginObservation::NotReady,
        );
        let release = p.changes[0].release.as_ref().unwrap();
        assert!(!release.observed);
        assert_eq!(versions(release), [("a", None, Some("1.0.0"))]);
        let p = run(
            Action::Unchanged,
            &declared(&[("a", "1.0.0")]),
            &state(None),
            PluginObservation::Failed("HTTP 500".into()),
        );
        assert_eq!(p.diagnostics[0].kind, DiagnosticKind::ObserveFailed);
        assert!(p.has_errors());
        let p = run(
            Action::Unchanged,
            &declared(&[("a", "1.0.0")]),
            &state(None),
            PluginObservation::NotReady,
        );
        assert_eq!(p.diagnostics[0].severity, Severity::Info);
        assert_eq!(p.changes[0].release, None);
    }

    #[test]
    fn an_adopt_releases_unobserved_until_its_plugins_are_read_then_as_observed() {
        // Adopted before its plugins could be read (still provisioning): apply looks itself.
        let p = run(
            Action::Adopt,
            &declared(&[("a", "1.0.0")]),
            &State::empty(),
            PluginObservation::NotReady,
        );
        assert!(!p.changes[0].release.as_ref().unwrap().observed);
        // Adopted with its plugins read: the release is decided on what was seen.
        let p = run(
            Action::Adopt,
            &declared(&[("a", "1.0.0")]),
            &State::empty(),
            PluginObservation::Observed(seen(Some(1), vec![configured(1, "a", "0.9.0")])),
        );
        let release = p.changes[0].release.as_ref().unwrap();
        assert!(release.observed);
        assert_eq!(release.before, Some(release_sid(1)));
        assert_eq!(p.changes[0].action, Action::Adopt);
        // And an adopt whose plugins could not be read is an error, not a blind release.
        let p = run(
            Action::Adopt,
            &declared(&[("a", "1.0.0")]),
            &State::empty(),
            PluginObservation::Failed("HTTP 500".into()),
        );
        assert_eq!(p.changes[0].release, None);
        assert!(p.has_errors());
    }

    #[test]
    fn nothing_declared_is_left_alone() {
        let p = run(
            Action::Unchanged,
            &DeclaredPlugins::new(),
            &state(None),
            PluginObservation::Observed(seen(Some(1), vec![configured(1, "a", "1.0.0")])),
        );
        assert_eq!(p.changes[0].release, None);
        assert_eq!(p.changes[0].record_release, None);
        assert!(!p.has_changes());
    }
}
