//! The simulator's shared vocabulary: the types and helpers several of its modules use (an
//! instance as clients see it, its statuses, the faults, the counters, dates, the lock). It
//! uses no other module of `sim`, so every module may use it without a circle.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Status of an instance whose provisioning is still running.
pub(crate) const CREATING: &str = "creation-in-progress";
/// Status of a provisioned instance.
pub(crate) const READY: &str = "ready";
/// Status of an instance that no longer counts against its account's one-instance limit.
pub(crate) const DELETED: &str = "deleted";

/// An instance as the simulator holds it, with its status as clients see it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimInstance {
    /// `GO` and 32 lowercase hex digits.
    pub flex_instance_sid: String,
    /// The account that owns it.
    pub account_sid: String,
    /// `creation-in-progress` until `ready_after` has elapsed, then `ready`, unless it was set.
    pub status: String,
    /// When it was created, `YYYY-MM-DDTHH:MM:SSZ`.
    pub date_created: String,
    /// When its status last changed, `YYYY-MM-DDTHH:MM:SSZ`.
    pub date_updated: String,
    /// `conversations.default` as sent on create; `None` when it was not sent.
    pub conversations_default: Option<bool>,
}

/// Faults that can be switched on while the simulator runs ([`SimHandle::set_faults`] or
/// `PUT /_sim/faults`).
///
/// [`SimHandle::set_faults`]: super::SimHandle::set_faults
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// After creating an instance, wait this many milliseconds before answering the POST, so
    /// that a client killed meanwhile never learns the SID.
    pub hold_create_response_ms: Option<u64>,
    /// The next N POSTs that create an instance answer 500 all the same: an ambiguous outcome.
    pub create_error_after_commit: u32,
    /// `GET /v1/Configuration` answers 404 for every account, as if the endpoint were absent.
    pub discovery_unavailable: bool,
    /// Every `POST /v2/Instances` answers 429 with this `Retry-After` (seconds) and creates
    /// nothing, as a rate limit that outlasts the client's patience.
    pub create_rate_limited_secs: Option<u64>,
    /// The next N `POST /v1/Configuration` are applied but answer 500 all the same: a
    /// configuration update whose outcome the client cannot know.
    pub configuration_error_after_commit: u32,
    /// The next N `POST /v2/Instances` answer 503 (Twilio 20503) and create nothing: a bad
    /// minute at Twilio.
    pub create_error_before_commit: u32,
    /// Every `POST /v2/Instances` is answered with a gateway's HTML 502 page and creates
    /// nothing, as a corporate gateway failing in front of Twilio.
    pub create_gateway_error: bool,
    /// Discovery (`GET /v1/Configuration`) does not show an instance until it is this many
    /// milliseconds old, as an API whose reads lag behind its writes.
    pub discovery_lag_ms: Option<u64>,
    /// The next N Plugins API POSTs that would create something (a plugin, a version, a
    /// configuration or a release) create it and answer 500 all the same: an ambiguous outcome.
    pub plugin_error_after_commit: u32,
    /// The next N Plugins API POSTs that would create something answer 503 (Twilio 20503) and
    /// create nothing.
    pub plugin_error_before_commit: u32,
}

/// Counters since the simulator started. Only Flex API requests count, never `/_sim/` ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimStats {
    /// Connections accepted (with HTTPS, each one a TLS handshake).
    pub connections: u64,
    /// Flex API requests received, whatever their answer.
    pub requests: u64,
    /// `POST /v2/Instances` that created an instance (including those answered 500 by the
    /// `create_error_after_commit` fault).
    pub creates: u64,
    /// `POST /v2/Instances` received, whatever their answer.
    pub create_requests: u64,
    /// `GET /v2/Instances/{sid}` received.
    pub gets: u64,
    /// `GET /v1/Configuration` received.
    pub discoveries: u64,
    /// `POST /v1/Configuration` received, whatever their answer.
    pub configuration_updates: u64,
    /// Requests answered 429 by the rate limit or the `create_rate_limited_secs` fault.
    pub rate_limited: u64,
    /// Requests answered 503 by the fail rate, creates answered 503 or 502 by the create fail
    /// rate and the faults that create nothing, and Plugins API POSTs answered 503 by
    /// `plugin_error_before_commit`.
    pub failed: u64,
    /// Plugins API requests received (every path under `/v1/PluginService/`), whatever their
    /// answer.
    pub plugin_requests: u64,
    /// `POST /v1/PluginService/Plugins` that created a plugin (including those answered 500 by
    /// the `plugin_error_after_commit` fault, as for the counts below).
    pub plugin_creates: u64,
    /// `POST /v1/PluginService/Plugins/{plugin}/Versions` that created a version.
    pub version_creates: u64,
    /// `POST /v1/PluginService/Configurations` that created a configuration.
    pub configuration_creates: u64,
    /// `POST /v1/PluginService/Releases` that created a release.
    pub release_creates: u64,
}

/// Atomic counters behind [`SimStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Shared with the listener, which counts each connection it accepts.
    pub connections: Arc<AtomicU64>,
    pub requests: AtomicU64,
    pub creates: AtomicU64,
    pub create_requests: AtomicU64,
    pub gets: AtomicU64,
    pub discoveries: AtomicU64,
    pub configuration_updates: AtomicU64,
    pub rate_limited: AtomicU64,
    pub failed: AtomicU64,
    pub plugin_requests: AtomicU64,
    pub plugin_creates: AtomicU64,
    pub version_creates: AtomicU64,
    pub configuration_creates: AtomicU64,
    pub release_creates: AtomicU64,
}

impl Counters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> SimStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SimStats {
            connections: get(&self.connections),
            requests: get(&self.requests),
            creates: get(&self.creates),
            create_requests: get(&self.create_requests),
            gets: get(&self.gets),
            discoveries: get(&self.discoveries),
            configuration_updates: get(&self.configuration_updates),
            rate_limited: get(&self.rate_limited),
            failed: get(&self.failed),
            plugin_requests: get(&self.plugin_requests),
            plugin_creates: get(&self.plugin_creates),
            version_creates: get(&self.version_creates),
            configuration_creates: get(&self.configuration_creates),
            release_creates: get(&self.release_creates),
        }
    }
}

/// Why a configuration cannot be changed out of band ([`SimHandle::set_configuration`] or
/// `PATCH /_sim/configuration/{account_sid}`).
///
/// [`SimHandle::set_configuration`]: super::SimHandle::set_configuration
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigurationPatchError {
    /// The account has no live instance (none, or only `deleted` or `creation-failed` ones).
    #[error("account {account} has no live Flex instance, so no configuration")]
    NoInstance {
        /// The account.
        account: String,
    },
    /// The patch is not a JSON object.
    #[error("a configuration patch must be a JSON object of top-level properties, found {found}")]
    NotAnObject {
        /// What was given instead, e.g. "an array".
        found: &'static str,
    },
}

/// `YYYY-MM-DDTHH:MM:SSZ`, as Twilio writes dates.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// Lock a mutex, ignoring poisoning: every critical section leaves the data consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_decode_from_partial_json_and_reject_typos() {
        let faults: Faults = serde_json::from_str(r#"{"create_error_after_commit": 2}"#).unwrap();
        assert_eq!(
            faults,
            Faults {
                create_error_after_commit: 2,
                ..Faults::default()
            }
        );
        assert!(serde_json::from_str::<Faults>(r#"{"discovery_unavailabel": true}"#).is_err());
    }
}
