//! What observation saw, by instance name: the snapshot the planner decides on.

use std::collections::BTreeMap;

use crate::domain::{Discovery, Fetched};

/// What was seen for one instance name, gathered before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// `GET /v2/Instances/{recorded SID}` answered.
    Fetched(Fetched),
    /// `GET /v1/Configuration` answered (no SID recorded).
    Discovered(Discovery),
    /// An interrupted create made for another account than the configured one, or for a name
    /// no longer configured, looked for on the account it was made for.
    PendingElsewhere {
        /// What discovery found on the account the create was made for.
        made: Discovery,
        /// When nothing was found there and the name is configured: what discovery found on
        /// the configured account.
        configured: Option<Discovery>,
    },
    /// Observation failed; the message says why (HTTP status, Twilio code).
    Failed(String),
    /// Not observed (an orphan: no configuration, hence no credentials).
    Skipped,
}

/// Everything observed, by instance name.
pub type Observations = BTreeMap<String, Observation>;

/// What `GET /v1/Configuration` showed of an instance with a declared configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigObservation {
    /// The whole configuration of a ready instance.
    Observed(serde_json::Value),
    /// The instance is not ready: its configuration is managed once it is.
    NotReady,
    /// The read failed; the message says why.
    Failed(String),
}

/// Configurations observed, by instance name.
pub type ConfigObservations = BTreeMap<String, ConfigObservation>;

/// What the Plugins API showed of an instance that declares `plugins:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginObservation {
    /// The account's active release, and the declared plugins it does not hold at their
    /// declared version.
    Observed(PluginsSeen),
    /// The instance is not ready: its plugins are released once it is.
    NotReady,
    /// A read failed; the message says why.
    Failed(String),
}

/// The Flex plugins of one account, as far as a plan needs them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginsSeen {
    /// The active release (`None`: the account has never released).
    pub active: Option<crate::domain::Release>,
    /// The plugin versions the active release holds.
    pub released: Vec<crate::domain::ConfiguredPlugin>,
    /// Each declared plugin that the active release does not hold at its declared version:
    /// the plugin with its versions, or `None` when no plugin has that unique name.
    pub plugins: BTreeMap<String, Option<SeenPlugin>>,
}

/// A plugin that exists, with its versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenPlugin {
    /// The plugin.
    pub plugin: crate::domain::Plugin,
    /// Its versions.
    pub versions: Vec<crate::domain::PluginVersion>,
}

/// Plugins observed, by instance name.
pub type PluginObservations = BTreeMap<String, PluginObservation>;
