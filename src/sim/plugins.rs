//! The Flex Plugins API's resources as the simulator keeps them, per account: plugins (`FP…`,
//! known by unique name), their immutable versions (`FV…`), configurations (`FJ…`, immutable
//! sets of versions, one per plugin) and releases (`FK…`; the latest one is active). Twilio's
//! rules on them live here: no second plugin with a unique name and no second version string
//! per plugin (409), unknown SIDs (404), and the JSON bodies clients read (`url` and `links` as
//! in Twilio's OpenAPI examples). What requests ask for is read in `plugin_requests`. Pure and
//! synchronous: the store holds a [`PluginStore`], and `plugin_routes` calls it under the
//! store's lock, once per request.
//!
//! An account's resources are kept in creation order and searched linearly: an account has
//! tens of plugins, not thousands.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::model::rfc3339;
use super::plugin_requests::{
    ConfigEntry, NewConfiguration, NewPlugin, Page, Paging, PluginError, VersionRequest,
    DEFAULT_PHASE,
};
use crate::domain::plugin::NewVersion;
use crate::domain::sid::{PluginConfigurationSid, PluginSid, PluginVersionSid, ReleaseSid};

/// Where Twilio serves the Plugins API: resource `url`s and `links` name it, as Twilio's
/// examples do (the Configuration resource's `url` does the same).
pub(crate) const SERVICE_URL: &str = "https://flex-api.twilio.com/v1/PluginService";

/// A plugin as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PluginRecord {
    sid: PluginSid,
    unique_name: String,
    #[serde(default)]
    friendly_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    date_created: String,
    date_updated: String,
}

/// A plugin version as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct VersionRecord {
    sid: PluginVersionSid,
    plugin_sid: PluginSid,
    version: String,
    plugin_url: String,
    private: bool,
    #[serde(default)]
    changelog: Option<String>,
    #[serde(default)]
    validated: bool,
    date_created: String,
}

/// A configuration as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ConfigurationRecord {
    sid: PluginConfigurationSid,
    name: String,
    #[serde(default)]
    description: Option<String>,
    plugins: Vec<ConfigEntry>,
    date_created: String,
}

/// A release as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ReleaseRecord {
    sid: ReleaseSid,
    configuration_sid: PluginConfigurationSid,
    date_created: String,
}

/// One account's resources, each kind in creation order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct Account {
    plugins: Vec<PluginRecord>,
    versions: Vec<VersionRecord>,
    configurations: Vec<ConfigurationRecord>,
    releases: Vec<ReleaseRecord>,
}

/// What an account without any plugin resource reads.
static EMPTY: Account = Account {
    plugins: Vec::new(),
    versions: Vec::new(),
    configurations: Vec::new(),
    releases: Vec::new(),
};

/// A fresh SID: `prefix` and 32 lowercase hex digits drawn from `rng`.
fn fresh_sid<S>(rng: &mut impl Rng, prefix: &str) -> S
where
    S: std::str::FromStr,
    S::Err: std::fmt::Debug,
{
    format!("{prefix}{:032x}", rng.random::<u128>())
        .parse()
        .expect("a well-formed SID")
}

impl Account {
    /// A plugin by SID or, as Twilio's paths allow, by unique name.
    fn plugin(&self, id: &str) -> Option<&PluginRecord> {
        self.plugins
            .iter()
            .find(|p| p.sid.as_str().eq_ignore_ascii_case(id))
            .or_else(|| self.plugins.iter().find(|p| p.unique_name == id))
    }

    fn plugin_by_sid(&self, sid: &PluginSid) -> Option<&PluginRecord> {
        self.plugins.iter().find(|p| p.sid == *sid)
    }

    /// A version of `plugin` by SID or by version string.
    fn version(&self, plugin: &PluginSid, id: &str) -> Option<&VersionRecord> {
        let mine = || self.versions.iter().filter(|v| v.plugin_sid == *plugin);
        mine()
            .find(|v| v.sid.as_str().eq_ignore_ascii_case(id))
            .or_else(|| mine().find(|v| v.version == id))
    }

    fn version_by_sid(&self, sid: &PluginVersionSid) -> Option<&VersionRecord> {
        self.versions.iter().find(|v| v.sid == *sid)
    }

    fn configuration(&self, id: &str) -> Option<&ConfigurationRecord> {
        self.configurations
            .iter()
            .find(|c| c.sid.as_str().eq_ignore_ascii_case(id))
    }

    /// A release by SID, or the active one (the latest) for `Active`.
    fn release(&self, id: &str) -> Option<&ReleaseRecord> {
        if id == "Active" {
            return self.releases.last();
        }
        self.releases
            .iter()
            .find(|r| r.sid.as_str().eq_ignore_ascii_case(id))
    }

    fn add_plugin(
        &mut self,
        new: NewPlugin,
        date: &str,
        rng: &mut impl Rng,
    ) -> Result<&PluginRecord, PluginError> {
        if let Some(existing) = self
            .plugins
            .iter()
            .find(|p| p.unique_name == new.unique_name)
        {
            return Err(PluginError::DuplicatePlugin {
                unique_name: new.unique_name,
                sid: existing.sid.clone(),
            });
        }
        self.plugins.push(PluginRecord {
            sid: fresh_sid(rng, "FP"),
            unique_name: new.unique_name,
            friendly_name: new.friendly_name,
            description: new.description,
            date_created: date.to_owned(),
            date_updated: date.to_owned(),
        });
        Ok(self.plugins.last().expect("just pushed"))
    }

    fn add_version(
        &mut self,
        plugin: &str,
        request: VersionRequest,
        date: &str,
        rng: &mut impl Rng,
    ) -> Result<&VersionRecord, PluginError> {
        let found = self.plugin(plugin).ok_or_else(|| PluginError::NotFound {
            what: "Flex Plugin",
            id: plugin.to_owned(),
        })?;
        let (plugin_sid, unique_name) = (found.sid.clone(), found.unique_name.clone());
        let new = request.new;
        if let Some(existing) = self
            .versions
            .iter()
            .find(|v| v.plugin_sid == plugin_sid && v.version == new.version)
        {
            return Err(PluginError::DuplicateVersion {
                plugin: unique_name,
                version: new.version,
                sid: existing.sid.clone(),
            });
        }
        self.versions.push(VersionRecord {
            sid: fresh_sid(rng, "FV"),
            plugin_sid,
            version: new.version,
            plugin_url: new.plugin_url,
            private: new.private,
            changelog: new.changelog,
            validated: request.validated,
            date_created: date.to_owned(),
        });
        Ok(self.versions.last().expect("just pushed"))
    }

    /// Adds a configuration of existing versions, at most one per plugin.
    fn add_configuration(
        &mut self,
        new: NewConfiguration,
        date: &str,
        rng: &mut impl Rng,
    ) -> Result<&ConfigurationRecord, PluginError> {
        let mut plugins: Vec<&PluginSid> = Vec::new();
        for entry in &new.plugins {
            let version = self
                .version_by_sid(&entry.plugin_version_sid)
                .ok_or_else(|| PluginError::NotFound {
                    what: "Flex Plugin Version",
                    id: entry.plugin_version_sid.to_string(),
                })?;
            if plugins.contains(&&version.plugin_sid) {
                let name = self
                    .plugin_by_sid(&version.plugin_sid)
                    .map_or("?", |p| p.unique_name.as_str());
                return Err(PluginError::Invalid {
                    parameter: "Plugins",
                    why: format!(
                        "a configuration holds one version per plugin, and plugin '{name}' \
                         ({}) appears twice",
                        version.plugin_sid
                    ),
                });
            }
            plugins.push(&version.plugin_sid);
        }
        self.configurations.push(ConfigurationRecord {
            sid: fresh_sid(rng, "FJ"),
            name: new.name,
            description: new.description,
            plugins: new.plugins,
            date_created: date.to_owned(),
        });
        Ok(self.configurations.last().expect("just pushed"))
    }

    fn add_release(
        &mut self,
        configuration: &str,
        date: &str,
        rng: &mut impl Rng,
    ) -> Result<&ReleaseRecord, PluginError> {
        let found = self
            .configuration(configuration)
            .ok_or_else(|| PluginError::NotFound {
                what: "Flex Plugin Configuration",
                id: configuration.to_owned(),
            })?;
        let configuration_sid = found.sid.clone();
        self.releases.push(ReleaseRecord {
            sid: fresh_sid(rng, "FK"),
            configuration_sid,
            date_created: date.to_owned(),
        });
        Ok(self.releases.last().expect("just pushed"))
    }

    /// The configured plugins of `configuration`, in the order it lists them.
    fn configured(&self, account: &str, configuration: &ConfigurationRecord) -> Vec<Value> {
        configuration
            .plugins
            .iter()
            .filter_map(|entry| {
                let version = self.version_by_sid(&entry.plugin_version_sid)?;
                let plugin = self.plugin_by_sid(&version.plugin_sid)?;
                Some(configured_body(
                    account,
                    configuration,
                    entry,
                    version,
                    plugin,
                ))
            })
            .collect()
    }
}

/// Every account's plugin resources: what the simulator serves under `/v1/PluginService`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PluginStore {
    /// Each account's resources, by account SID.
    accounts: BTreeMap<String, Account>,
    /// Bumped by every change, so that the data file writer knows what is on disk.
    #[serde(skip)]
    changes: u64,
}

impl PluginStore {
    /// The number of changes so far (since it was loaded).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Whether no account has any plugin resource.
    pub fn is_empty(&self) -> bool {
        self.accounts.values().all(|account| *account == EMPTY)
    }

    fn account(&self, account: &str) -> &Account {
        self.accounts.get(account).unwrap_or(&EMPTY)
    }

    /// Runs `change` on the account's resources; a change that succeeds counts as one.
    fn change<T>(
        &mut self,
        account: &str,
        change: impl FnOnce(&mut Account, &str) -> Result<T, PluginError>,
        now: SystemTime,
    ) -> Result<T, PluginError> {
        let resources = self.accounts.entry(account.to_owned()).or_default();
        let changed = change(resources, &rfc3339(now));
        if changed.is_ok() {
            self.changes += 1;
        }
        changed
    }

    /// `POST /Plugins`: the new plugin's body, unless the unique name is taken.
    pub fn create_plugin(
        &mut self,
        account: &str,
        new: NewPlugin,
        now: SystemTime,
        rng: &mut impl Rng,
    ) -> Result<Value, PluginError> {
        let change = |a: &mut Account, date: &str| {
            a.add_plugin(new, date, rng)
                .map(|p| plugin_body(account, p))
        };
        self.change(account, change, now)
    }

    /// `POST /Plugins/{plugin}/Versions` (`plugin` a SID or a unique name): the new
    /// version's body, unless the plugin is unknown or already has that version string.
    pub fn create_version(
        &mut self,
        account: &str,
        plugin: &str,
        request: VersionRequest,
        now: SystemTime,
        rng: &mut impl Rng,
    ) -> Result<Value, PluginError> {
        let change = |a: &mut Account, date: &str| {
            a.add_version(plugin, request, date, rng)
                .map(|v| version_body(account, v))
        };
        self.change(account, change, now)
    }

    /// `POST /Configurations`: the new configuration's body, unless a version is unknown or
    /// two are of one plugin.
    pub fn create_configuration(
        &mut self,
        account: &str,
        new: NewConfiguration,
        now: SystemTime,
        rng: &mut impl Rng,
    ) -> Result<Value, PluginError> {
        let change = |a: &mut Account, date: &str| {
            a.add_configuration(new, date, rng)
                .map(|c| configuration_body(account, c))
        };
        self.change(account, change, now)
    }

    /// `POST /Releases`: the new release's body (it is now the active one), unless the
    /// configuration is unknown.
    pub fn create_release(
        &mut self,
        account: &str,
        configuration: &str,
        now: SystemTime,
        rng: &mut impl Rng,
    ) -> Result<Value, PluginError> {
        let change = |a: &mut Account, date: &str| {
            a.add_release(configuration, date, rng)
                .map(|r| release_body(account, r))
        };
        self.change(account, change, now)
    }

    /// Releases `plugins` (unique name, version string) as Twilio's CLI would: each plugin
    /// and version created when missing (a missing version's bundle at
    /// `https://assets.example.test/{name}/{version}/bundle.js`, private), then one
    /// configuration of exactly these versions (a name listed twice: the last one) and its
    /// release. Returns the release's body.
    pub fn release_outside(
        &mut self,
        account: &str,
        plugins: &[(String, String)],
        now: SystemTime,
        rng: &mut impl Rng,
    ) -> Value {
        let name = format!(
            "Autogenerated Release {}",
            now.duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
        );
        let change = |a: &mut Account, date: &str| {
            let mut entries: Vec<(PluginSid, ConfigEntry)> = Vec::new();
            for (unique_name, version) in plugins {
                let (plugin_sid, version_sid) = a.ensure_version(unique_name, version, date, rng);
                entries.retain(|(sid, _)| *sid != plugin_sid);
                let entry = ConfigEntry {
                    plugin_version_sid: version_sid,
                    phase: DEFAULT_PHASE,
                };
                entries.push((plugin_sid, entry));
            }
            let new = NewConfiguration {
                name,
                description: None,
                plugins: entries.into_iter().map(|(_, entry)| entry).collect(),
            };
            let configuration = a.add_configuration(new, date, rng)?.sid.to_string();
            a.add_release(&configuration, date, rng)
                .map(|r| release_body(account, r))
        };
        self.change(account, change, now)
            .expect("a configuration of existing versions, one per plugin, is accepted")
    }

    /// A plugin by SID or unique name.
    pub fn plugin(&self, account: &str, id: &str) -> Option<Value> {
        let found = self.account(account).plugin(id)?;
        Some(plugin_body(account, found))
    }

    /// A page of the account's plugins.
    pub fn plugins(&self, account: &str, paging: Paging) -> Page {
        Page::of(&self.account(account).plugins, paging, |p| {
            plugin_body(account, p)
        })
    }

    /// A version (by SID or version string) of a plugin (by SID or unique name).
    pub fn version(&self, account: &str, plugin: &str, id: &str) -> Option<Value> {
        let resources = self.account(account);
        let plugin = resources.plugin(plugin)?;
        let found = resources.version(&plugin.sid, id)?;
        Some(version_body(account, found))
    }

    /// A page of a plugin's versions, in creation order; `None` when the plugin is unknown.
    pub fn versions(&self, account: &str, plugin: &str, paging: Paging) -> Option<Page> {
        let resources = self.account(account);
        let plugin = resources.plugin(plugin)?;
        let versions: Vec<&VersionRecord> = resources
            .versions
            .iter()
            .filter(|v| v.plugin_sid == plugin.sid)
            .collect();
        Some(Page::of(&versions, paging, |v| version_body(account, v)))
    }

    /// A configuration by SID.
    pub fn configuration(&self, account: &str, id: &str) -> Option<Value> {
        let found = self.account(account).configuration(id)?;
        Some(configuration_body(account, found))
    }

    /// A page of the account's configurations.
    pub fn configurations(&self, account: &str, paging: Paging) -> Page {
        Page::of(&self.account(account).configurations, paging, |c| {
            configuration_body(account, c)
        })
    }

    /// A page of the plugin versions a configuration holds; `None` when it is unknown.
    pub fn configured_plugins(
        &self,
        account: &str,
        configuration: &str,
        paging: Paging,
    ) -> Option<Page> {
        let resources = self.account(account);
        let found = resources.configuration(configuration)?;
        let configured = resources.configured(account, found);
        Some(Page::of(&configured, paging, Value::clone))
    }

    /// The version of `plugin` (SID or unique name) a configuration holds.
    pub fn configured_plugin(
        &self,
        account: &str,
        configuration: &str,
        plugin: &str,
    ) -> Option<Value> {
        let resources = self.account(account);
        let found = resources.configuration(configuration)?;
        let plugin = resources.plugin(plugin)?;
        resources
            .configured(account, found)
            .into_iter()
            .find(|body| body["plugin_sid"] == plugin.sid.as_str())
    }

    /// A release by SID, or the active one for `Active`.
    pub fn release(&self, account: &str, id: &str) -> Option<Value> {
        let found = self.account(account).release(id)?;
        Some(release_body(account, found))
    }

    /// A page of the account's releases, oldest first.
    pub fn releases(&self, account: &str, paging: Paging) -> Page {
        Page::of(&self.account(account).releases, paging, |r| {
            release_body(account, r)
        })
    }

    /// Everything the account holds, as the API shows it: `plugins`, `versions`,
    /// `configurations` (each with its configured `plugins`), `releases` (oldest first) and
    /// `active` (the latest release, or null).
    pub fn everything(&self, account: &str) -> Value {
        let resources = self.account(account);
        let configurations: Vec<Value> = resources
            .configurations
            .iter()
            .map(|c| {
                let mut body = configuration_body(account, c);
                body["plugins"] = Value::from(resources.configured(account, c));
                body
            })
            .collect();
        json!({
            "plugins": resources.plugins.iter().map(|p| plugin_body(account, p)).collect::<Vec<_>>(),
            "versions": resources.versions.iter().map(|v| version_body(account, v)).collect::<Vec<_>>(),
            "configurations": configurations,
            "releases": resources.releases.iter().map(|r| release_body(account, r)).collect::<Vec<_>>(),
            "active": resources.releases.last().map(|r| release_body(account, r)),
        })
    }
}

impl Account {
    /// The plugin named `unique_name` and its version `version`, each created when missing
    /// (for [`PluginStore::release_outside`]).
    fn ensure_version(
        &mut self,
        unique_name: &str,
        version: &str,
        date: &str,
        rng: &mut impl Rng,
    ) -> (PluginSid, PluginVersionSid) {
        let plugin_sid = match self.plugins.iter().find(|p| p.unique_name == unique_name) {
            Some(plugin) => plugin.sid.clone(),
            None => {
                let new = NewPlugin {
                    unique_name: unique_name.to_owned(),
                    friendly_name: None,
                    description: None,
                };
                let added = self.add_plugin(new, date, rng).expect("the name is free");
                added.sid.clone()
            }
        };
        let existing = self
            .versions
            .iter()
            .find(|v| v.plugin_sid == plugin_sid && v.version == version);
        let version_sid = match existing {
            Some(found) => found.sid.clone(),
            None => {
                let request = VersionRequest {
                    new: NewVersion {
                        version: version.to_owned(),
                        plugin_url: format!(
                            "https://assets.example.test/{unique_name}/{version}/bundle.js"
                        ),
                        private: true,
                        changelog: None,
                    },
                    validated: false,
                };
                let added = self
                    .add_version(plugin_sid.as_str(), request, date, rng)
                    .expect("the version is free");
                added.sid.clone()
            }
        };
        (plugin_sid, version_sid)
    }
}

/// `flex.v1.plugin`.
fn plugin_body(account: &str, plugin: &PluginRecord) -> Value {
    let url = format!("{SERVICE_URL}/Plugins/{}", plugin.sid);
    json!({
        "sid": plugin.sid,
        "account_sid": account,
        "unique_name": plugin.unique_name,
        "friendly_name": plugin.friendly_name,
        "description": plugin.description,
        "archived": false,
        "date_created": plugin.date_created,
        "date_updated": plugin.date_updated,
        "url": url,
        "links": {"plugin_versions": format!("{url}/Versions")},
    })
}

/// `flex.v1.plugin.plugin_version`.
fn version_body(account: &str, version: &VersionRecord) -> Value {
    json!({
        "sid": version.sid,
        "account_sid": account,
        "plugin_sid": version.plugin_sid,
        "version": version.version,
        "plugin_url": version.plugin_url,
        "changelog": version.changelog,
        "private": version.private,
        "archived": false,
        "validated": version.validated,
        "date_created": version.date_created,
        "url": format!("{SERVICE_URL}/Plugins/{}/Versions/{}", version.plugin_sid, version.sid),
    })
}

/// `flex.v1.plugin_configuration`.
fn configuration_body(account: &str, configuration: &ConfigurationRecord) -> Value {
    let url = format!("{SERVICE_URL}/Configurations/{}", configuration.sid);
    json!({
        "sid": configuration.sid,
        "account_sid": account,
        "name": configuration.name,
        "description": configuration.description,
        "archived": false,
        "date_created": configuration.date_created,
        "url": url,
        "links": {"plugins": format!("{url}/Plugins")},
    })
}

/// `flex.v1.plugin_configuration.configured_plugin`.
fn configured_body(
    account: &str,
    configuration: &ConfigurationRecord,
    entry: &ConfigEntry,
    version: &VersionRecord,
    plugin: &PluginRecord,
) -> Value {
    json!({
        "account_sid": account,
        "configuration_sid": configuration.sid,
        "plugin_sid": plugin.sid,
        "plugin_version_sid": version.sid,
        "phase": entry.phase,
        "plugin_url": version.plugin_url,
        "unique_name": plugin.unique_name,
        "plugin_archived": false,
        "friendly_name": plugin.friendly_name,
        "description": plugin.description,
        "version": version.version,
        "plugin_version_archived": false,
        "changelog": version.changelog,
        "private": version.private,
        "date_created": configuration.date_created,
        "url": format!("{SERVICE_URL}/Configurations/{}/Plugins/{}", configuration.sid, plugin.sid),
    })
}

/// `flex.v1.plugin_release`.
fn release_body(account: &str, release: &ReleaseRecord) -> Value {
    json!({
        "sid": release.sid,
        "account_sid": account,
        "configuration_sid": release.configuration_sid,
        "date_created": release.date_created,
        "url": format!("{SERVICE_URL}/Releases/{}", release.sid),
    })
}

#[cfg(test)]
mod tests {
    use super::super::plugin_requests::Form;
    use super::*;
    use axum::http::StatusCode;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::time::Duration;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const OTHER: &str = "ACfedcba9876543210fedcba9876543210";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn form(text: &str) -> Form {
        Form::parse(text.as_bytes()).unwrap()
    }

    fn new_plugin(name: &str) -> NewPlugin {
        NewPlugin::from_form(&form(&format!("UniqueName={name}"))).unwrap()
    }

    fn new_version(version: &str) -> VersionRequest {
        VersionRequest::from_form(&form(&format!(
            "Version={version}&PluginUrl=https%3A%2F%2Fx.test%2F{version}.js&Private=true"
        )))
        .unwrap()
    }

    fn sid_of(body: &Value) -> String {
        body["sid"].as_str().unwrap().to_owned()
    }

    /// A store holding, for ACCOUNT, plugin `a` with versions 1.0.0 and 2.0.0 and plugin `b`
    /// with 1.0.0; the SIDs of those versions.
    fn populated(rng: &mut StdRng) -> (PluginStore, [String; 3]) {
        let mut store = PluginStore::default();
        for name in ["a", "b"] {
            store
                .create_plugin(ACCOUNT, new_plugin(name), at(0), rng)
                .unwrap();
        }
        let mut version = |plugin: &str, version: &str| {
            sid_of(
                &store
                    .create_version(ACCOUNT, plugin, new_version(version), at(1), rng)
                    .unwrap(),
            )
        };
        let sids = [
            version("a", "1.0.0"),
            version("a", "2.0.0"),
            version("b", "1.0.0"),
        ];
        (store, sids)
    }

    fn configuration(name: &str, versions: &[&str]) -> NewConfiguration {
        let mut text = format!("Name={name}");
        for sid in versions {
            text.push_str(&format!(
                "&Plugins=%7B%22plugin_version%22%3A%22{sid}%22%7D"
            ));
        }
        NewConfiguration::from_form(&form(&text)).unwrap()
    }

    #[test]
    fn sids_have_their_prefixes_and_resources_their_links() {
        let rng = &mut StdRng::seed_from_u64(1);
        let (mut store, [v1, ..]) = populated(rng);
        let plugin = store.plugin(ACCOUNT, "a").unwrap();
        let plugin_sid = sid_of(&plugin);
        let is_sid = |sid: &str, prefix: &str| {
            sid.len() == 34
                && sid.starts_with(prefix)
                && sid[2..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        assert!(is_sid(&plugin_sid, "FP"), "{plugin_sid}");
        assert!(is_sid(&v1, "FV"), "{v1}");
        assert_eq!(plugin["account_sid"], ACCOUNT);
        assert_eq!(plugin["date_created"], "2023-11-14T22:13:20Z");
        assert_eq!(
            plugin["url"],
            format!("https://flex-api.twilio.com/v1/PluginService/Plugins/{plugin_sid}")
        );
        assert_eq!(
            plugin["links"]["plugin_versions"],
            format!("https://flex-api.twilio.com/v1/PluginService/Plugins/{plugin_sid}/Versions")
        );
        let configuration = store
            .create_configuration(ACCOUNT, configuration("c", &[&v1]), at(2), rng)
            .unwrap();
        let configuration_sid = sid_of(&configuration);
        assert!(is_sid(&configuration_sid, "FJ"));
        assert_eq!(
            configuration["links"]["plugins"],
            format!("{}/Plugins", configuration["url"].as_str().unwrap())
        );
        let release = store
            .create_release(ACCOUNT, &configuration_sid, at(3), rng)
            .unwrap();
        assert!(is_sid(&sid_of(&release), "FK"));
        assert_eq!(release["configuration_sid"], configuration_sid.as_str());
    }

    #[test]
    fn unique_names_and_version_strings_are_taken_once() {
        let rng = &mut StdRng::seed_from_u64(2);
        let (mut store, [v1, ..]) = populated(rng);
        let a = sid_of(&store.plugin(ACCOUNT, "a").unwrap());
        let before = store.changes();
        let err = store
            .create_plugin(ACCOUNT, new_plugin("a"), at(5), rng)
            .unwrap_err();
        assert_eq!((err.status(), err.code()), (StatusCode::CONFLICT, 20409));
        assert!(err.to_string().contains(&a), "{err}");
        let err = store
            .create_version(ACCOUNT, &a, new_version("1.0.0"), at(5), rng)
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::CONFLICT);
        assert!(
            err.to_string().contains(&v1) && err.to_string().contains("1.0.0"),
            "{err}"
        );
        assert_eq!(store.changes(), before, "a refused create changes nothing");
        // The same version string for another plugin, the same name on another account.
        assert!(store
            .create_version(ACCOUNT, "b", new_version("2.0.0"), at(5), rng)
            .is_ok());
        assert!(store
            .create_plugin(OTHER, new_plugin("a"), at(5), rng)
            .is_ok());
        assert_eq!(store.changes(), before + 2);
    }

    #[test]
    fn unknown_sids_are_not_found_and_accounts_are_apart() {
        let rng = &mut StdRng::seed_from_u64(3);
        let (mut store, [v1, _, b1]) = populated(rng);
        let unknown_version = "FV00000000000000000000000000000000";
        let err = store
            .create_version(ACCOUNT, "nope", new_version("1.0.0"), at(5), rng)
            .unwrap_err();
        assert_eq!((err.status(), err.code()), (StatusCode::NOT_FOUND, 20404));
        let err = store
            .create_configuration(ACCOUNT, configuration("c", &[unknown_version]), at(5), rng)
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        assert!(err.to_string().contains(unknown_version), "{err}");
        let err = store
            .create_release(ACCOUNT, "FJ00000000000000000000000000000000", at(5), rng)
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        // Another account sees none of it.
        assert!(store.plugin(OTHER, "a").is_none());
        assert!(store
            .create_configuration(OTHER, configuration("c", &[&v1]), at(5), rng)
            .is_err());
        assert!(store
            .versions(OTHER, "a", Paging::from_query(None).unwrap())
            .is_none());
        // One version per plugin in a configuration.
        let a2 = sid_of(&store.version(ACCOUNT, "a", "2.0.0").unwrap());
        let err = store
            .create_configuration(ACCOUNT, configuration("c", &[&v1, &b1, &a2]), at(5), rng)
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(err.to_string().contains("'a'"), "{err}");
    }

    #[test]
    fn plugins_and_versions_are_found_by_sid_or_by_name() {
        let rng = &mut StdRng::seed_from_u64(4);
        let (store, [v1, v2, _]) = populated(rng);
        let a = store.plugin(ACCOUNT, "a").unwrap();
        assert_eq!(
            store.plugin(ACCOUNT, a["sid"].as_str().unwrap()),
            Some(a.clone())
        );
        // SIDs compare without case, as Twilio's do.
        let upper = a["sid"].as_str().unwrap().to_uppercase();
        assert_eq!(store.plugin(ACCOUNT, &upper), Some(a.clone()));
        assert!(store.plugin(ACCOUNT, "c").is_none());
        assert_eq!(sid_of(&store.version(ACCOUNT, "a", "2.0.0").unwrap()), v2);
        assert_eq!(sid_of(&store.version(ACCOUNT, "a", &v1).unwrap()), v1);
        assert!(
            store.version(ACCOUNT, "b", &v1).is_none(),
            "another plugin's version"
        );
        let versions = store
            .versions(
                ACCOUNT,
                a["sid"].as_str().unwrap(),
                Paging::from_query(None).unwrap(),
            )
            .unwrap();
        assert_eq!(versions.items.len(), 2);
        assert!(!versions.more);
    }

    #[test]
    fn the_latest_release_is_active() {
        let rng = &mut StdRng::seed_from_u64(5);
        let (mut store, [v1, v2, b1]) = populated(rng);
        assert!(store.release(ACCOUNT, "Active").is_none());
        let first = sid_of(
            &store
                .create_configuration(ACCOUNT, configuration("one", &[&v1, &b1]), at(2), rng)
                .unwrap(),
        );
        let second = sid_of(
            &store
                .create_configuration(ACCOUNT, configuration("two", &[&v2]), at(3), rng)
                .unwrap(),
        );
        let r1 = store.create_release(ACCOUNT, &first, at(4), rng).unwrap();
        assert_eq!(store.release(ACCOUNT, "Active"), Some(r1.clone()));
        let r2 = store.create_release(ACCOUNT, &second, at(5), rng).unwrap();
        assert_eq!(store.release(ACCOUNT, "Active"), Some(r2.clone()));
        assert_eq!(store.release(ACCOUNT, &sid_of(&r1)), Some(r1));
        assert!(store.release(OTHER, "Active").is_none());
        // Releasing an older configuration again makes it active again.
        let r3 = store.create_release(ACCOUNT, &first, at(6), rng).unwrap();
        assert_eq!(store.release(ACCOUNT, "Active").unwrap()["sid"], r3["sid"]);
        let all = Paging::from_query(None).unwrap();
        assert_eq!(store.releases(ACCOUNT, all).items.len(), 3);

        let configured = store.configured_plugins(ACCOUNT, &first, all).unwrap();
        let names: Vec<&str> = configured
            .items
            .iter()
            .map(|c| c["unique_name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(configured.items[0]["plugin_version_sid"], v1.as_str());
        assert_eq!(configured.items[0]["version"], "1.0.0");
        assert_eq!(configured.items[0]["configuration_sid"], first.as_str());
        assert_eq!(
            store.configured_plugin(ACCOUNT, &first, "b").unwrap()["plugin_version_sid"],
            b1.as_str()
        );
        assert!(store.configured_plugin(ACCOUNT, &second, "b").is_none());
    }

    #[test]
    fn a_release_outside_creates_what_is_missing_and_releases_exactly_that() {
        let rng = &mut StdRng::seed_from_u64(6);
        let (mut store, [v1, ..]) = populated(rng);
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|&(n, v)| (n.to_owned(), v.to_owned()))
                .collect()
        };
        let release = store.release_outside(
            ACCOUNT,
            &pairs(&[("a", "1.0.0"), ("c", "0.1.0"), ("c", "0.2.0")]),
            at(10),
            rng,
        );
        assert_eq!(store.release(ACCOUNT, "Active"), Some(release.clone()));
        let all = store.everything(ACCOUNT);
        assert_eq!(all["active"], release);
        assert_eq!(all["plugins"].as_array().unwrap().len(), 3, "c was created");
        let configuration = all["configurations"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert!(configuration["name"]
            .as_str()
            .unwrap()
            .starts_with("Autogenerated Release 1700000010"));
        let held: Vec<(&str, &str)> = configuration["plugins"]
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
        assert_eq!(
            held,
            [("a", "1.0.0"), ("c", "0.2.0")],
            "exactly these, the last c"
        );
        assert_eq!(
            configuration["plugins"][0]["plugin_version_sid"],
            v1.as_str()
        );
        let c = store.version(ACCOUNT, "c", "0.1.0").unwrap();
        assert_eq!(
            c["plugin_url"],
            "https://assets.example.test/c/0.1.0/bundle.js"
        );
        assert_eq!(c["private"], true);

        // Nothing to create the second time: the same versions, a new configuration.
        let versions = all["versions"].as_array().unwrap().len();
        store.release_outside(ACCOUNT, &pairs(&[("c", "0.2.0")]), at(11), rng);
        let again = store.everything(ACCOUNT);
        assert_eq!(again["versions"].as_array().unwrap().len(), versions);
        assert_eq!(again["releases"].as_array().unwrap().len(), 2);
        assert_eq!(
            store.everything(OTHER),
            json!({"plugins": [], "versions": [], "configurations": [], "releases": [], "active": null})
        );
    }

    #[test]
    fn the_store_round_trips_through_json_and_is_empty_until_used() {
        let mut store = PluginStore::default();
        assert!(store.is_empty());
        let rng = &mut StdRng::seed_from_u64(7);
        // A refused create leaves it empty.
        assert!(store
            .create_version(ACCOUNT, "x", new_version("1.0.0"), at(0), rng)
            .is_err());
        assert!(store.is_empty());
        store.release_outside(ACCOUNT, &[("a".to_owned(), "1.0.0".to_owned())], at(1), rng);
        assert!(!store.is_empty());
        let text = serde_json::to_string(&store).unwrap();
        let loaded: PluginStore = serde_json::from_str(&text).unwrap();
        assert_eq!(loaded.everything(ACCOUNT), store.everything(ACCOUNT));
        assert!(serde_json::from_str::<PluginStore>(
            r#"{"accounts": {"AC0123456789abcdef0123456789abcdef": {"plugins": [{"sid": "nope"}]}}}"#
        )
        .is_err());
    }
}
