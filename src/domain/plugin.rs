//! Flex plugins as the Plugins API describes them (`/v1/PluginService`): a plugin (`FP…`, by
//! its unique name), its immutable versions (`FV…`), a configuration (`FJ…`, an immutable set
//! of versions) and a release (`FK…`, which makes a configuration active; the latest release
//! of an account is the active one). The client parses into these types, the simulator serves
//! them, and the planner decides on them.

use serde::{Deserialize, Serialize};

use super::sid::{PluginConfigurationSid, PluginSid, PluginVersionSid, ReleaseSid};

/// A plugin (`flex.v1.plugin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plugin {
    /// Its SID.
    pub sid: PluginSid,
    /// Its unique name (by convention the plugin's folder name): how flexform declares it.
    pub unique_name: String,
}

/// A plugin version (`flex.v1.plugin.plugin_version`); immutable once created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginVersion {
    /// Its SID.
    pub sid: PluginVersionSid,
    /// The plugin it belongs to.
    pub plugin_sid: PluginSid,
    /// The version string (semver by convention).
    pub version: String,
    /// Where the bundle is served from.
    pub plugin_url: String,
    /// Whether the bundle needs authentication to be fetched.
    pub private: bool,
}

/// What a new plugin version is created with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// The version string.
    pub version: String,
    /// Where the bundle is served from (https).
    pub plugin_url: String,
    /// Whether the bundle needs authentication to be fetched.
    pub private: bool,
    /// Release notes, if any.
    pub changelog: Option<String>,
}

/// One plugin version a configuration holds
/// (`flex.v1.plugin_configuration.configured_plugin`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfiguredPlugin {
    /// The plugin.
    pub plugin_sid: PluginSid,
    /// The version.
    pub plugin_version_sid: PluginVersionSid,
    /// The plugin's unique name.
    pub unique_name: String,
    /// The version string.
    pub version: String,
    /// The version's bundle URL.
    pub plugin_url: String,
}

/// A plugin configuration (`flex.v1.plugin_configuration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginConfiguration {
    /// Its SID.
    pub sid: PluginConfigurationSid,
    /// Its name.
    pub name: String,
}

/// A release (`flex.v1.plugin_release`): it made `configuration_sid` active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// Its SID.
    pub sid: ReleaseSid,
    /// The configuration it released.
    pub configuration_sid: PluginConfigurationSid,
}
