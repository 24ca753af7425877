//! The state document: what flexform has created or adopted, by instance name, with a lineage
//! and a serial, read and written as sorted, pretty-printed JSON; and [`StateUpdate`], the one
//! way the apply engine changes it.
//!
//! Reading never changes the file. Writing (see [`super::store`]) is atomic and durable.

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::error::StateError;
use crate::domain::sid::{AccountSid, InstanceSid};
use crate::domain::InstanceStatus;

/// The state format this binary reads and writes.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// The state document. Fields are declared in alphabetical order so that the JSON keys are
/// sorted and git diffs stay small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "flexform state")]
pub struct State {
    /// Version of flexform that last wrote this state.
    pub flexform_version: String,
    /// Format of this document; a newer one than the binary knows is refused.
    pub format_version: u32,
    /// SHA-256 of the newest entry of the audit trail: anchors its hash chain, so that a cut
    /// trail is detected (`flexform history verify`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_sha256: Option<String>,
    /// Audit-trail entries that could not be written to the trail when their run ended (a
    /// full disk, a file-size limit, a failing database insert), each as the exact line the
    /// trail will hold: kept here so that no change goes without its entry. The next command
    /// that can write the trail writes them first; until then `history verify` fails naming
    /// their serials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history_unwritten: Vec<String>,
    /// Recorded instances by name.
    pub instances: BTreeMap<String, InstanceRecord>,
    /// Identifies this state for its whole life; a saved plan only applies to the same lineage.
    pub lineage: String,
    /// Creates that were started but whose answer was never recorded (crash, timeout), by
    /// instance name. The next plan resolves each by discovery.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<String, PendingCreate>,
    /// Rises by one on every change of content.
    pub serial: u64,
}

/// How an instance came to be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// Created by `flexform apply`.
    Created,
    /// Found by discovery and recorded by `apply`.
    Adopted,
    /// Recorded by `flexform import`.
    Imported,
}

/// One recorded Flex instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceRecord {
    /// The account it belongs to.
    pub account_sid: AccountSid,
    /// `conversations.default` as sent at creation (absent: not sent, or not known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations_default: Option<bool>,
    /// Creation time reported by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_created: Option<String>,
    /// Last change reported by the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_updated: Option<String>,
    /// The instance SID.
    pub flex_instance_sid: InstanceSid,
    /// When flexform last looked at it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    /// How it came to be recorded.
    #[serde(default = "default_origin")]
    pub origin: Origin,
    /// Its status when last observed.
    pub status: InstanceStatus,
    /// The Flex configuration flexform manages on it: the SHA-256 of each managed path's
    /// value as last applied or verified (absent: none managed yet). A value that no longer
    /// has its digest changed outside flexform (`configuration_changed` drift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<crate::config::flex::AppliedConfiguration>,
    /// The Flex plugins release flexform made or verified on the account (absent: plugins
    /// not managed, or not released yet). An active release with another SID was made outside
    /// flexform (`release_changed` drift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Box<PluginsRecord>>,
}

/// The Flex plugins release of an instance, as flexform made or verified it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginsRecord {
    /// The release.
    pub release_sid: crate::domain::ReleaseSid,
    /// The configuration it released.
    pub configuration_sid: crate::domain::PluginConfigurationSid,
    /// The plugin versions it holds, by unique name.
    pub plugins: BTreeMap<String, ReleasedPlugin>,
}

/// One plugin version of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleasedPlugin {
    /// The version string.
    pub version: String,
    /// The plugin.
    pub plugin_sid: crate::domain::PluginSid,
    /// The version.
    pub plugin_version_sid: crate::domain::PluginVersionSid,
}

impl InstanceRecord {
    /// A record of `instance` as the API just described it.
    pub fn observed(
        instance: &crate::domain::Instance,
        origin: Origin,
        conversations_default: Option<bool>,
    ) -> Self {
        Self {
            account_sid: instance.account_sid.clone(),
            conversations_default,
            date_created: instance.date_created.clone(),
            date_updated: instance.date_updated.clone(),
            flex_instance_sid: instance.flex_instance_sid.clone(),
            observed_at: Some(crate::support::stamp::now_rfc3339()),
            origin,
            status: instance.status.clone(),
            configuration: None,
            plugins: None,
        }
    }
}

fn default_origin() -> Origin {
    Origin::Adopted
}

/// A create that was started: written before the POST, replaced by the SID after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PendingCreate {
    /// The account the POST was for.
    pub account_sid: AccountSid,
    /// `flex_instance.<name>`.
    pub address: String,
    /// `conversations.default` as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations_default: Option<bool>,
    /// When the POST was about to be sent.
    pub started_at: String,
    /// The last moment the POST can be sent or processed (RFC 3339): the end of its send
    /// window plus the request timeout. Until then, "no instance" is not yet an answer.
    /// Absent in records of older versions: `started_at` plus 60 seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_until: Option<String>,
    /// Whose clock `in_flight_until` is on: `database` (the PostgreSQL backend's, which every
    /// reader of that state shares) or `host NAME` (the machine that wrote it). A reader on
    /// another clock allows for skew (see the README's "Never twice").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
}

/// One change to the state, as the apply engine records it (and as the journal stores it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum StateUpdate {
    /// A create is about to be sent.
    Pending {
        /// Instance name.
        name: String,
        /// The record.
        pending: PendingCreate,
    },
    /// A create definitely did not happen.
    ClearPending {
        /// Instance name.
        name: String,
    },
    /// An instance was created or adopted (replaces any pending record).
    Record {
        /// Instance name.
        name: String,
        /// The record.
        record: InstanceRecord,
    },
    /// A recorded instance is renamed (its record moves as it is).
    Move {
        /// The old name.
        from: String,
        /// The new name.
        to: String,
    },
    /// The managed Flex configuration of a recorded instance was applied (or verified).
    Configured {
        /// Instance name.
        name: String,
        /// The instance (ignored if the record now holds another).
        flex_instance_sid: InstanceSid,
        /// The digests of the managed values now (empty: none managed, the record goes).
        configuration: crate::config::flex::AppliedConfiguration,
    },
    /// The Flex plugins release of a recorded instance was made (or verified).
    Released {
        /// Instance name.
        name: String,
        /// The instance (ignored if the record now holds another).
        flex_instance_sid: InstanceSid,
        /// The release.
        plugins: PluginsRecord,
    },
    /// A recorded instance changed status.
    Status {
        /// Instance name.
        name: String,
        /// The instance (ignored if the record now holds another).
        flex_instance_sid: InstanceSid,
        /// Its new status.
        status: InstanceStatus,
        /// When the API says it changed.
        date_updated: Option<String>,
        /// When flexform saw it.
        observed_at: String,
    },
}

impl StateUpdate {
    /// Applies the change to `state`. Applying the same update twice has the same effect as
    /// once, so that a journal can be replayed safely.
    pub fn apply_to(self, state: &mut State) {
        match self {
            StateUpdate::Pending { name, pending } => {
                state.pending.insert(name, pending);
            }
            StateUpdate::ClearPending { name } => {
                state.pending.remove(&name);
            }
            StateUpdate::Record { name, record } => {
                // An account has one instance at most: once one is recorded, every interrupted
                // create on that account (under this name or an older one) is resolved.
                state.pending.retain(|pending_name, p| {
                    *pending_name != name
                        && !p
                            .account_sid
                            .as_str()
                            .eq_ignore_ascii_case(record.account_sid.as_str())
                });
                state.instances.insert(name, record);
            }
            StateUpdate::Move { from, to } => {
                if let Some(record) = state.instances.remove(&from) {
                    state.instances.insert(to, record);
                }
            }
            StateUpdate::Configured {
                name,
                flex_instance_sid,
                configuration,
            } => {
                if let Some(record) = state.instances.get_mut(&name) {
                    if record.flex_instance_sid == flex_instance_sid {
                        // Nothing managed any more: no record at all.
                        record.configuration =
                            (!configuration.0.is_empty()).then_some(configuration);
                    }
                }
            }
            StateUpdate::Released {
                name,
                flex_instance_sid,
                plugins,
            } => {
                if let Some(record) = state.instances.get_mut(&name) {
                    if record.flex_instance_sid == flex_instance_sid {
                        record.plugins = Some(Box::new(plugins));
                    }
                }
            }
            StateUpdate::Status {
                name,
                flex_instance_sid,
                status,
                date_updated,
                observed_at,
            } => {
                if let Some(record) = state.instances.get_mut(&name) {
                    if record.flex_instance_sid == flex_instance_sid {
                        record.status = status;
                        if date_updated.is_some() {
                            record.date_updated = date_updated;
                        }
                        record.observed_at = Some(observed_at);
                    }
                }
            }
        }
    }
}

/// The highest serial a state can have: PostgreSQL's `bigint`, so that every backend holds
/// every serial.
pub const MAX_SERIAL: u64 = i64::MAX as u64;

/// The serial after `serial`, or [`StateError::SerialExhausted`]: serials never wrap.
pub fn next_serial(serial: u64) -> Result<u64, super::StateError> {
    serial
        .checked_add(1)
        .filter(|next| *next <= MAX_SERIAL)
        .ok_or(super::StateError::SerialExhausted { serial })
}

/// The serial a pushed state with serial `pushed` gets over a state at `current`: the pushed
/// one when higher, else the next; never above [`MAX_SERIAL`].
pub fn pushed_serial(pushed: u64, current: u64) -> Result<u64, super::StateError> {
    let serial = pushed.max(next_serial(current)?);
    if serial > MAX_SERIAL {
        return Err(super::StateError::SerialExhausted { serial });
    }
    Ok(serial)
}

impl State {
    /// Whether `other` records the same: the instances, the pending creates and the audit
    /// trail's anchor and waiting entries (what a write would change; not the serial).
    pub fn records_the_same_as(&self, other: &State) -> bool {
        self.instances == other.instances
            && self.pending == other.pending
            && self.history_sha256 == other.history_sha256
            && self.history_unwritten == other.history_unwritten
    }

    /// A new, empty state with a fresh lineage (serial 0: nothing written yet).
    pub fn empty() -> Self {
        Self {
            flexform_version: env!("CARGO_PKG_VERSION").to_owned(),
            format_version: STATE_FORMAT_VERSION,
            history_sha256: None,
            history_unwritten: Vec::new(),
            instances: BTreeMap::new(),
            lineage: uuid::Uuid::new_v4().to_string(),
            pending: BTreeMap::new(),
            serial: 0,
        }
    }

    /// Reads the state file alone; a missing file is `None`.
    pub fn load_file(path: &Path) -> Result<Option<State>, StateError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Self::from_bytes(path, &bytes).map(Some)
    }

    /// Parses state bytes read from `path` (named in errors).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<State, StateError> {
        // Check the format version first, so that a newer state is reported as such rather
        // than as whatever field it added or changed.
        let probe: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| StateError::corrupt(path, &e, None))?;
        if let Some(version) = probe.get("format_version").and_then(|v| v.as_u64()) {
            if version > u64::from(STATE_FORMAT_VERSION) {
                return Err(StateError::TooNew {
                    path: path.to_owned(),
                    found: version,
                    supported: STATE_FORMAT_VERSION,
                });
            }
        }
        serde_json::from_slice(bytes).map_err(|e| StateError::corrupt(path, &e, None))
    }

    /// SHA-256 of what the state records (lineage, instances, pending creates), whatever its
    /// serial and whether a journal still holds part of it: a saved plan applies only to
    /// exactly the content it was made from.
    pub fn content_sha256(&self) -> String {
        #[derive(Serialize)]
        struct Content<'a> {
            lineage: &'a str,
            instances: &'a BTreeMap<String, InstanceRecord>,
            pending: &'a BTreeMap<String, PendingCreate>,
        }
        // Streamed into the hash: no copy of a large state is made.
        let mut hasher = crate::support::hash::Sha256Writer::default();
        serde_json::to_writer(
            &mut hasher,
            &Content {
                lineage: &self.lineage,
                instances: &self.instances,
                pending: &self.pending,
            },
        )
        .expect("a state always serializes");
        hasher.hex()
    }

    /// The document as written to disk: pretty JSON with a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("state always serializes");
        bytes.push(b'\n');
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state file that exists but cannot be read is an error naming it, never "no state"
    /// (which would let the next plan create what the file records).
    #[test]
    fn a_state_file_that_cannot_be_read_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        assert!(State::load_file(&path).unwrap().is_none(), "absent: none");
        std::fs::create_dir(&path).unwrap();
        match State::load_file(&path) {
            Err(StateError::Read { path: named, .. }) => assert_eq!(named, path),
            other => panic!("{other:?}"),
        }
    }

    /// The content digest changes with what is recorded, and only with that.
    #[test]
    fn the_content_digest_follows_the_records_not_the_serial() {
        let mut state = State::empty();
        let digest = state.content_sha256();
        assert_eq!(digest.len(), 64);
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()));
        state.serial += 5;
        state.history_sha256 = Some("x".into());
        assert_eq!(
            state.content_sha256(),
            digest,
            "serial and trail do not count"
        );
        state.pending.insert(
            "a".into(),
            PendingCreate {
                account_sid: AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap(),
                address: "flex_instance.a".into(),
                conversations_default: None,
                started_at: "now".into(),
                in_flight_until: None,
                clock: None,
            },
        );
        let with_pending = state.content_sha256();
        assert_ne!(with_pending, digest);
        let mut other = state.clone();
        other.lineage = "another".into();
        assert_ne!(other.content_sha256(), with_pending);
    }

    #[test]
    fn keys_are_written_sorted() {
        let mut state = State::empty();
        state.instances.insert(
            "a".into(),
            InstanceRecord {
                account_sid: AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap(),
                conversations_default: Some(true),
                date_created: Some("2026-01-01T00:00:00Z".into()),
                date_updated: Some("2026-01-01T00:00:00Z".into()),
                flex_instance_sid: InstanceSid::parse("GO0123456789abcdef0123456789abcdef")
                    .unwrap(),
                observed_at: Some("2026-01-01T00:00:00Z".into()),
                origin: Origin::Created,
                status: InstanceStatus::Ready,
                configuration: None,
                plugins: None,
            },
        );
        let text = String::from_utf8(state.to_bytes()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        fn check(v: &serde_json::Value) {
            if let Some(map) = v.as_object() {
                let keys: Vec<_> = map.keys().collect();
                let mut sorted = keys.clone();
                sorted.sort();
                assert_eq!(keys, sorted);
                map.values().for_each(check);
            }
        }
        check(&value);
        assert_eq!(
            State::from_bytes(Path::new("s"), text.as_bytes()).unwrap(),
            state
        );
    }

    /// A configuration record lands on the instance it was made for, never on another one
    /// recorded under that name since.
    #[test]
    fn a_configuration_record_applies_only_to_its_instance() {
        let sid = InstanceSid::parse("GO0123456789abcdef0123456789abcdef").unwrap();
        let mut state = State::empty();
        state.instances.insert(
            "a".into(),
            InstanceRecord {
                account_sid: AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap(),
                conversations_default: None,
                date_created: None,
                date_updated: None,
                flex_instance_sid: sid.clone(),
                observed_at: None,
                origin: Origin::Created,
                status: InstanceStatus::Ready,
                configuration: None,
                plugins: None,
            },
        );
        let record = crate::config::flex::AppliedConfiguration(
            [("ui_language".to_owned(), "digest".to_owned())].into(),
        );
        let configured = |sid: &InstanceSid| StateUpdate::Configured {
            name: "a".into(),
            flex_instance_sid: sid.clone(),
            configuration: record.clone(),
        };
        let other = InstanceSid::parse("GOffffffffffffffffffffffffffffffff").unwrap();
        configured(&other).apply_to(&mut state);
        assert_eq!(state.instances["a"].configuration, None);
        configured(&sid).apply_to(&mut state);
        assert_eq!(state.instances["a"].configuration, Some(record.clone()));
        // Replaying it changes nothing.
        let once = state.clone();
        configured(&sid).apply_to(&mut state);
        assert_eq!(state, once);
    }

    #[test]
    fn corrupt_and_too_new_are_distinct_errors() {
        let err = State::from_bytes(
            Path::new("s.json"),
            b"{\n  \"format_version\": 1,\n  oops\n}",
        )
        .unwrap_err();
        assert!(
            matches!(err, StateError::Corrupt { line: 3, .. }),
            "{err:?}"
        );
        let err = State::from_bytes(
            Path::new("s.json"),
            br#"{"format_version": 7, "whatever": []}"#,
        )
        .unwrap_err();
        assert!(
            matches!(err, StateError::TooNew { found: 7, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn unknown_fields_are_refused_rather_than_lost_on_the_next_write() {
        let mut doc = serde_json::to_value(State::empty()).unwrap();
        doc["extra"] = serde_json::json!(5);
        let err = State::from_bytes(Path::new("s.json"), doc.to_string().as_bytes()).unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("extra"), "{err}");
    }

    #[test]
    fn a_record_resolves_every_interrupted_create_on_its_account_and_only_those() {
        let account = |n: u8| AccountSid::parse(&format!("AC{:032x}", n)).unwrap();
        let pending = |n: u8| PendingCreate {
            account_sid: account(n),
            address: "flex_instance.x".into(),
            conversations_default: None,
            started_at: "2026-01-01T00:00:00Z".into(),
            in_flight_until: None,
            clock: None,
        };
        let mut state = State::empty();
        state.pending.insert("old-name".into(), pending(1));
        state.pending.insert("other".into(), pending(2));
        let record = InstanceRecord {
            account_sid: account(1),
            conversations_default: None,
            date_created: None,
            date_updated: None,
            flex_instance_sid: InstanceSid::parse("GO0123456789abcdef0123456789abcdef").unwrap(),
            observed_at: None,
            origin: Origin::Adopted,
            status: InstanceStatus::Ready,
            configuration: None,
            plugins: None,
        };
        StateUpdate::Record {
            name: "new-name".into(),
            record,
        }
        .apply_to(&mut state);
        assert!(state.instances.contains_key("new-name"));
        assert!(
            !state.pending.contains_key("old-name"),
            "same account: resolved"
        );
        assert!(state.pending.contains_key("other"), "another account: kept");
    }
}
