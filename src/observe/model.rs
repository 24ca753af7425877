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
