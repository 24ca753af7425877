//! The simulator's memory: every instance with its Flex configuration changes, indexed by SID
//! and by account, with the one-instance-per-account rule, and every account's Flex plugin
//! resources ([`PluginStore`]). Pure and synchronous; the HTTP layer holds its lock only for
//! one operation.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::configuration;
use super::model::{rfc3339, SimInstance, CREATING, DELETED, READY};
use super::plugins::PluginStore;

/// One instance as stored (in memory and in the data file).
///
/// The move to `ready` is not stored: it is computed on every read from `ready_at_ms`, so that
/// 10,000 provisioning instances need no timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub flex_instance_sid: String,
    pub account_sid: String,
    pub status: String,
    pub date_created: String,
    pub date_updated: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations_default: Option<bool>,
    /// When a `creation-in-progress` instance turns `ready`, in milliseconds since the Unix
    /// epoch; `None` once its status has been set explicitly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at_ms: Option<u64>,
    /// The Flex configuration's top-level properties changed since the instance was created,
    /// each with its whole new value; the rest is the template (see [`configuration::whole`]).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub configuration_changes: Map<String, Value>,
}

impl Record {
    /// The instance as a client sees it at `now`.
    pub fn view(&self, now: SystemTime) -> SimInstance {
        let (status, date_updated) = match self.ready_at_ms {
            Some(at) if self.status == CREATING && millis(now) >= at => {
                (READY.to_owned(), rfc3339(from_millis(at)))
            }
            _ => (self.status.clone(), self.date_updated.clone()),
        };
        SimInstance {
            flex_instance_sid: self.flex_instance_sid.clone(),
            account_sid: self.account_sid.clone(),
            status,
            date_created: self.date_created.clone(),
            date_updated,
            conversations_default: self.conversations_default,
        }
    }

    /// The instance's whole Flex configuration as a client sees it at `now`.
    pub fn configuration(&self, now: SystemTime) -> Value {
        configuration::whole(&self.view(now), &self.configuration_changes)
    }

    /// Whether the instance occupies its account: a `deleted` instance does not, and neither
    /// does one whose provisioning failed (the account may try again, as flexform's plan does).
    fn is_live(&self) -> bool {
        self.status != DELETED && self.status != "creation-failed"
    }
}

/// Why a create was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conflict {
    /// The account's existing instance.
    pub existing_sid: String,
}

/// Why a data file's instances cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LoadError {
    /// A SID does not have the documented form.
    #[error("instance {index}: {message}")]
    BadSid {
        /// Position in the file, from 0.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// Two entries share a SID.
    #[error("instance {sid} appears twice")]
    DuplicateSid {
        /// The repeated SID.
        sid: String,
    },
    /// An account has two instances that are not `deleted`.
    #[error("account {account} has two instances that are not deleted: {first} and {second}")]
    TwoLive {
        /// The account.
        account: String,
        /// The earlier instance.
        first: String,
        /// The later instance.
        second: String,
    },
}

/// All instances. Every operation is O(1) or O(log n), except [`Store::snapshot`].
#[derive(Debug)]
pub(crate) struct Store {
    /// Instances in creation order, keyed by a sequence number.
    records: BTreeMap<u64, Record>,
    by_sid: HashMap<String, u64>,
    /// The account's newest instance; it may be `deleted`, which frees the account.
    by_account: HashMap<String, u64>,
    next_seq: u64,
    /// Bumped by every change, so that the data file writer knows what is on disk.
    version: u64,
    /// SIDs of instances and plugin resources are drawn from it.
    rng: StdRng,
    /// Every account's plugins, versions, configurations and releases.
    plugins: PluginStore,
}

impl Store {
    /// An empty store drawing SIDs from `rng`.
    pub fn new(rng: StdRng) -> Self {
        Self {
            records: BTreeMap::new(),
            by_sid: HashMap::new(),
            by_account: HashMap::new(),
            next_seq: 0,
            version: 0,
            rng,
            plugins: PluginStore::default(),
        }
    }

    /// A store holding `records`, checked as a data file must be, and `plugins`.
    pub fn load(
        rng: StdRng,
        records: Vec<Record>,
        plugins: PluginStore,
    ) -> Result<Self, LoadError> {
        let mut store = Self::new(rng);
        store.plugins = plugins;
        for (index, record) in records.into_iter().enumerate() {
            for (sid, prefix) in [
                (&record.flex_instance_sid, "GO"),
                (&record.account_sid, "AC"),
            ] {
                if !is_sid(sid, prefix) {
                    return Err(LoadError::BadSid {
                        index,
                        message: format!(
                            "expected `{prefix}` followed by 32 hexadecimal digits, found {sid:?}"
                        ),
                    });
                }
            }
            if store.by_sid.contains_key(&record.flex_instance_sid) {
                return Err(LoadError::DuplicateSid {
                    sid: record.flex_instance_sid,
                });
            }
            if record.is_live() {
                if let Some(other) = store.live_for_account(&record.account_sid) {
                    return Err(LoadError::TwoLive {
                        account: record.account_sid.clone(),
                        first: other.flex_instance_sid.clone(),
                        second: record.flex_instance_sid,
                    });
                }
            }
            store.insert(record);
        }
        Ok(store)
    }

    fn insert(&mut self, record: Record) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_sid.insert(record.flex_instance_sid.clone(), seq);
        let newest_is_live = self
            .by_account
            .get(&record.account_sid)
            .and_then(|s| self.records.get(s))
            .is_some_and(Record::is_live);
        if record.is_live() || !newest_is_live {
            self.by_account.insert(record.account_sid.clone(), seq);
        }
        self.records.insert(seq, record);
        self.version += 1;
    }

    /// The number of changes so far.
    pub fn version(&self) -> u64 {
        self.version + self.plugins.changes()
    }

    /// Every account's plugin resources.
    pub fn plugins(&self) -> &PluginStore {
        &self.plugins
    }

    /// Runs `change` on the plugin resources, with SIDs drawn from the store's generator.
    pub fn change_plugins<T>(
        &mut self,
        change: impl FnOnce(&mut PluginStore, &mut StdRng) -> T,
    ) -> T {
        change(&mut self.plugins, &mut self.rng)
    }

    /// The instance with this SID, whatever its account.
    pub fn get(&self, sid: &str) -> Option<&Record> {
        self.by_sid.get(sid).and_then(|seq| self.records.get(seq))
    }

    /// The account's live instance (not `deleted`, not `creation-failed`), if any.
    pub fn live_for_account(&self, account: &str) -> Option<&Record> {
        self.by_account
            .get(account)
            .and_then(|seq| self.records.get(seq))
            .filter(|r| r.is_live())
    }

    /// Creates the account's instance, unless it already has a live one.
    pub fn create(
        &mut self,
        account: &str,
        conversations_default: Option<bool>,
        now: SystemTime,
        ready_after: Duration,
    ) -> Result<&Record, Conflict> {
        if let Some(existing) = self.live_for_account(account) {
            return Err(Conflict {
                existing_sid: existing.flex_instance_sid.clone(),
            });
        }
        let sid = loop {
            let sid = format!("GO{:032x}", self.rng.random::<u128>());
            if !self.by_sid.contains_key(&sid) {
                break sid;
            }
        };
        let stamp = rfc3339(now);
        let ready_at = now.checked_add(ready_after).unwrap_or(now);
        self.insert(Record {
            flex_instance_sid: sid.clone(),
            account_sid: account.to_owned(),
            status: CREATING.to_owned(),
            date_created: stamp.clone(),
            date_updated: stamp,
            conversations_default,
            ready_at_ms: Some(millis(ready_at)),
            configuration_changes: Map::new(),
        });
        Ok(self.get(&sid).expect("just inserted"))
    }

    /// Sets an instance's status for good (it no longer turns `ready` by itself).
    pub fn set_status(&mut self, sid: &str, status: &str, now: SystemTime) -> bool {
        let Some(&seq) = self.by_sid.get(sid) else {
            return false;
        };
        let record = self.records.get_mut(&seq).expect("indexed");
        record.status = status.to_owned();
        record.ready_at_ms = None;
        record.date_updated = rfc3339(now);
        self.version += 1;
        true
    }

    /// The whole Flex configuration of the account's live instance at `now`, if it has one.
    pub fn configuration(&self, account: &str, now: SystemTime) -> Option<Value> {
        self.live_for_account(account)
            .map(|record| record.configuration(now))
    }

    /// Replaces top-level properties of the configuration of the account's live instance, each
    /// with the whole value given; the new whole configuration at `now`, or `None` when the
    /// account has no live instance.
    pub fn change_configuration(
        &mut self,
        account: &str,
        changes: Map<String, Value>,
        now: SystemTime,
    ) -> Option<Value> {
        let seq = *self.by_account.get(account)?;
        let record = self.records.get_mut(&seq).filter(|r| r.is_live())?;
        record.configuration_changes.extend(changes);
        self.version += 1;
        Some(record.configuration(now))
    }

    /// Forgets an instance entirely: fetches answer 404 and its account may create again.
    pub fn remove(&mut self, sid: &str) -> bool {
        let Some(seq) = self.by_sid.remove(sid) else {
            return false;
        };
        let record = self.records.remove(&seq).expect("indexed");
        if self.by_account.get(&record.account_sid) == Some(&seq) {
            self.by_account.remove(&record.account_sid);
        }
        self.version += 1;
        true
    }

    /// Every instance as a client sees it at `now`, in creation order.
    pub fn views(&self, now: SystemTime) -> Vec<SimInstance> {
        self.records.values().map(|r| r.view(now)).collect()
    }

    /// Every stored record, in creation order, for the data file.
    pub fn snapshot(&self) -> Vec<Record> {
        self.records.values().cloned().collect()
    }
}

fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix)
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn from_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
    const OTHER: &str = "ACfedcba9876543210fedcba9876543210";

    fn store() -> Store {
        Store::new(StdRng::seed_from_u64(7))
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    #[test]
    fn a_new_instance_turns_ready_once_ready_after_has_elapsed() {
        let mut s = store();
        let sid = s
            .create(ACCOUNT, Some(true), at(0), Duration::from_secs(2))
            .unwrap()
            .flex_instance_sid
            .clone();
        assert!(is_sid(&sid, "GO") && sid[2..].bytes().all(|b| !b.is_ascii_uppercase()));
        let before = s.get(&sid).unwrap().view(at(1));
        assert_eq!(before.status, CREATING);
        assert_eq!(before.date_created, "2023-11-14T22:13:20Z");
        assert_eq!(before.date_updated, before.date_created);
        assert_eq!(before.conversations_default, Some(true));
        let after = s.get(&sid).unwrap().view(at(5));
        assert_eq!(after.status, READY);
        assert_eq!(after.date_updated, "2023-11-14T22:13:22Z");
        assert_eq!(s.get(&sid).unwrap().view(at(2)).status, READY);
    }

    #[test]
    fn one_live_instance_per_account_and_deleted_frees_the_account() {
        let mut s = store();
        let first = s
            .create(ACCOUNT, None, at(0), Duration::ZERO)
            .unwrap()
            .flex_instance_sid
            .clone();
        assert_eq!(
            s.create(ACCOUNT, None, at(1), Duration::ZERO).unwrap_err(),
            Conflict {
                existing_sid: first.clone()
            }
        );
        assert!(s.create(OTHER, None, at(1), Duration::ZERO).is_ok());
        assert!(s.set_status(&first, DELETED, at(2)));
        assert!(s.live_for_account(ACCOUNT).is_none());
        let second = s
            .create(ACCOUNT, None, at(3), Duration::ZERO)
            .unwrap()
            .flex_instance_sid
            .clone();
        assert_ne!(first, second);
        assert_eq!(s.get(&first).unwrap().status, DELETED);
        assert_eq!(
            s.live_for_account(ACCOUNT).unwrap().flex_instance_sid,
            second
        );
    }

    #[test]
    fn set_status_sticks_and_remove_forgets() {
        let mut s = store();
        let sid = s
            .create(ACCOUNT, None, at(0), Duration::from_secs(1))
            .unwrap()
            .flex_instance_sid
            .clone();
        let v = s.version();
        assert!(s.set_status(&sid, "creation-failed", at(0)));
        assert!(s.version() > v);
        assert_eq!(s.get(&sid).unwrap().view(at(100)).status, "creation-failed");
        assert!(!s.set_status("GO0", "ready", at(0)));
        assert!(s.remove(&sid));
        assert!(!s.remove(&sid));
        assert!(s.get(&sid).is_none() && s.live_for_account(ACCOUNT).is_none());
        assert!(s.create(ACCOUNT, None, at(1), Duration::ZERO).is_ok());
    }

    #[test]
    fn load_round_trips_and_rejects_inconsistent_files() {
        let mut s = store();
        s.create(ACCOUNT, None, at(0), Duration::ZERO).unwrap();
        s.create(OTHER, Some(false), at(1), Duration::ZERO).unwrap();
        let records = s.snapshot();
        let loaded = Store::load(
            StdRng::seed_from_u64(1),
            records.clone(),
            PluginStore::default(),
        )
        .unwrap();
        assert_eq!(loaded.snapshot(), records);
        assert!(loaded.live_for_account(OTHER).is_some());

        let mut twice = records.clone();
        twice.push(records[0].clone());
        assert!(matches!(
            Store::load(StdRng::seed_from_u64(1), twice, PluginStore::default()),
            Err(LoadError::DuplicateSid { .. })
        ));
        let mut two_live = records.clone();
        let mut again = records[0].clone();
        again.flex_instance_sid = format!("GO{}", "a".repeat(32));
        two_live.push(again);
        assert!(matches!(
            Store::load(StdRng::seed_from_u64(1), two_live, PluginStore::default()),
            Err(LoadError::TwoLive { .. })
        ));
        let mut bad = records;
        bad[1].account_sid = "ACnope".to_owned();
        assert!(matches!(
            Store::load(StdRng::seed_from_u64(1), bad, PluginStore::default()),
            Err(LoadError::BadSid { index: 1, .. })
        ));
    }

    #[test]
    fn configuration_changes_stay_with_the_live_instance_and_go_with_it() {
        let mut s = store();
        assert!(s.configuration(ACCOUNT, at(0)).is_none());
        let sid = s
            .create(ACCOUNT, None, at(0), Duration::from_secs(2))
            .unwrap()
            .flex_instance_sid
            .clone();
        let fresh = s.configuration(ACCOUNT, at(1)).unwrap();
        assert_eq!(fresh["status"], "inprogress");
        assert_eq!(fresh["flex_instance_sid"], sid.as_str());
        assert_eq!(s.configuration(ACCOUNT, at(3)).unwrap()["status"], "ok");

        let v = s.version();
        let mut changes = Map::new();
        changes.insert("ui_language".to_owned(), Value::from("fr"));
        let changed = s.change_configuration(ACCOUNT, changes, at(4)).unwrap();
        assert!(s.version() > v);
        assert_eq!(changed["ui_language"], "fr");
        assert_eq!(s.configuration(ACCOUNT, at(5)).unwrap(), changed);
        assert!(s.configuration(OTHER, at(5)).is_none());
        assert!(s.change_configuration(OTHER, Map::new(), at(5)).is_none());

        // Kept across a data file round trip.
        let loaded = Store::load(
            StdRng::seed_from_u64(1),
            s.snapshot(),
            PluginStore::default(),
        )
        .unwrap();
        assert_eq!(loaded.configuration(ACCOUNT, at(5)).unwrap(), changed);

        // A deleted instance's configuration is no longer served; a new instance starts afresh.
        assert!(s.set_status(&sid, DELETED, at(6)));
        assert!(s.configuration(ACCOUNT, at(6)).is_none());
        assert!(s.change_configuration(ACCOUNT, Map::new(), at(6)).is_none());
        s.create(ACCOUNT, None, at(7), Duration::ZERO).unwrap();
        assert_eq!(
            s.configuration(ACCOUNT, at(7)).unwrap()["ui_language"],
            "en"
        );
    }

    #[test]
    fn seeded_stores_draw_the_same_sids() {
        let sid = |seed| {
            Store::new(StdRng::seed_from_u64(seed))
                .create(ACCOUNT, None, at(0), Duration::ZERO)
                .unwrap()
                .flex_instance_sid
                .clone()
        };
        assert_eq!(sid(3), sid(3));
        assert_ne!(sid(3), sid(4));
    }
}
