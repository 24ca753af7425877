//! What every request handler and the [`SimHandle`](super::SimHandle) share: the settings,
//! the store, the faults, the rate limit and the counters, each behind its own short-lived
//! lock, and the data file that keeps the store.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;

use super::configuration;
use super::data_file::DataFile;
use super::model::{lock, rfc3339, ConfigurationPatchError, Counters, Faults, SimInstance};
use super::store::Store;
use super::token_bucket::TokenBucket;

/// Everything the request handlers share. Each piece has its own short-lived lock. Not
/// `Debug`: it holds the accepted secret.
pub(crate) struct Shared {
    /// Whether it serves HTTPS (list answers link to their next page with the scheme).
    pub https: bool,
    pub ready_after: Duration,
    pub latency: Duration,
    pub fail_rate: f64,
    pub create_fail_rate: f64,
    pub credentials: Option<(String, String)>,
    pub store: Mutex<Store>,
    pub faults: Mutex<Faults>,
    pub bucket: Option<Mutex<TokenBucket>>,
    /// Draws for `fail_rate`; apart from the SID generator so that seeded SIDs do not depend on
    /// how many requests were failed.
    pub fault_rng: Mutex<StdRng>,
    pub counters: Counters,
    pub data: Option<DataFile>,
}

impl Shared {
    /// Writes the data file if there is one (blocking).
    pub fn save(&self) -> io::Result<()> {
        match &self.data {
            Some(file) => file.save(&self.store),
            None => Ok(()),
        }
    }

    /// Writes the data file, off the async worker threads. When it returns `Ok`, every change
    /// made before the call is on disk.
    pub async fn save_async(self: &Arc<Self>) -> io::Result<()> {
        if self.data.is_none() {
            return Ok(());
        }
        let shared = Arc::clone(self);
        tokio::task::spawn_blocking(move || shared.save())
            .await
            .unwrap_or_else(|join| Err(io::Error::other(join)))
    }

    /// Sets an instance's status for good; whether it exists.
    pub fn set_status(&self, sid: &str, status: &str) -> bool {
        lock(&self.store).set_status(sid, status, SystemTime::now())
    }

    /// Forgets an instance entirely; whether it existed.
    pub fn delete_instance(&self, sid: &str) -> bool {
        lock(&self.store).remove(sid)
    }

    /// Every instance as clients see it now, in creation order.
    pub fn instances(&self) -> Vec<SimInstance> {
        lock(&self.store).views(SystemTime::now())
    }

    /// The whole configuration of the account's live instance now, if it has one.
    pub fn configuration(&self, account: &str) -> Option<serde_json::Value> {
        lock(&self.store).configuration(account, SystemTime::now())
    }

    /// Replaces the top-level properties in `patch`; `date_updated` becomes now unless the
    /// patch sets it.
    pub fn patch_configuration(
        &self,
        account: &str,
        patch: serde_json::Value,
    ) -> Result<serde_json::Value, ConfigurationPatchError> {
        let serde_json::Value::Object(mut changes) = patch else {
            return Err(ConfigurationPatchError::NotAnObject {
                found: configuration::json_type(&patch),
            });
        };
        let now = SystemTime::now();
        changes
            .entry("date_updated")
            .or_insert_with(|| rfc3339(now).into());
        lock(&self.store)
            .change_configuration(account, changes, now)
            .ok_or_else(|| ConfigurationPatchError::NoInstance {
                account: account.to_owned(),
            })
    }

    /// Everything the account holds under `/v1/PluginService`, as the API shows it.
    pub fn plugins(&self, account: &str) -> serde_json::Value {
        lock(&self.store).plugins().everything(account)
    }

    /// Releases `plugins` (unique name, version string) for the account out of band, as
    /// Twilio's CLI would; the release's body.
    pub fn release_outside(
        &self,
        account: &str,
        plugins: &[(String, String)],
    ) -> serde_json::Value {
        let now = SystemTime::now();
        lock(&self.store)
            .change_plugins(|store, rng| store.release_outside(account, plugins, now, rng))
    }

    /// The faults now.
    pub fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    /// Replaces every fault.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }
}
