//! A running simulator as its owner sees it: [`SimHandle`], what [`spawn`](super::spawn)
//! returns, with its address, its counters, the test controls and its shutdown.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::model::{ConfigurationPatchError, Faults, SimInstance, SimStats};
use super::shared::Shared;

/// How long [`SimHandle::shutdown`] lets answers in flight finish before cutting connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running simulator. Dropping it stops the server at once; [`SimHandle::shutdown`] lets
/// answers in flight finish first.
pub struct SimHandle {
    addr: SocketAddr,
    https: bool,
    shared: Arc<Shared>,
    shutdown_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl SimHandle {
    /// The handle of a server listening on `addr` (over HTTPS when `https`), serving `shared`
    /// in `task` until `shutdown_tx` is sent or dropped.
    pub(super) fn new(
        addr: SocketAddr,
        https: bool,
        shared: Arc<Shared>,
        shutdown_tx: oneshot::Sender<()>,
        task: JoinHandle<io::Result<()>>,
    ) -> Self {
        Self {
            addr,
            https,
            shared,
            shutdown_tx: Some(shutdown_tx),
            task: Some(task),
        }
    }
}

impl SimHandle {
    /// The address it listens on, with the port actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give flexform, e.g. `http://127.0.0.1:8787` (a wildcard listen address
    /// is replaced by the loopback one, which a client can connect to).
    pub fn url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// The counters so far.
    pub fn stats(&self) -> SimStats {
        self.shared.counters.snapshot()
    }

    /// Replaces every fault.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.set_faults(faults);
    }

    /// Sets an instance's status for good (it no longer turns `ready` by itself); `deleted`
    /// frees its account for a new create. Returns whether the instance exists. With a data
    /// file, the change is on disk when this returns (it blocks for the write).
    pub fn set_status(&self, sid: &str, status: &str) -> bool {
        let found = self.shared.set_status(sid, status);
        self.save_blocking();
        found
    }

    /// Forgets an instance entirely: fetches answer 404 and its account may create again.
    /// Returns whether it existed. With a data file, the change is on disk when this returns.
    pub fn delete_instance(&self, sid: &str) -> bool {
        let found = self.shared.delete_instance(sid);
        self.save_blocking();
        found
    }

    /// Every instance, in creation order, with its status as clients see it now.
    pub fn instances(&self) -> Vec<SimInstance> {
        self.shared.instances()
    }

    /// The whole Flex configuration of the account's live instance, as `GET /v1/Configuration`
    /// answers it now; `None` when the account has no live instance.
    pub fn configuration(&self, account: &str) -> Option<serde_json::Value> {
        self.shared.configuration(account)
    }

    /// Changes a configuration out of band, as someone in Twilio's console would: each
    /// top-level property of `patch` (a JSON object; any property, unchecked) replaces the
    /// current one whole, and `date_updated` becomes now unless `patch` sets it. Returns the
    /// new whole configuration. With a data file, the change is on disk when this returns.
    pub fn set_configuration(
        &self,
        account: &str,
        patch: serde_json::Value,
    ) -> Result<serde_json::Value, ConfigurationPatchError> {
        let changed = self.shared.patch_configuration(account, patch)?;
        self.save_blocking();
        Ok(changed)
    }

    /// Releases Flex plugins out of band, as someone running Twilio's CLI would: for each
    /// (unique name, version) the plugin and the version are created when missing (the
    /// bundle at `https://assets.example.test/{name}/{version}/bundle.js`, private), then one
    /// configuration of exactly these versions (a name listed twice: its last version) and one
    /// release, which becomes the account's active one. Not counted in [`SimHandle::stats`].
    /// With a data file, the change is on disk when this returns.
    pub fn release_outside(&self, account: &str, plugins: &[(&str, &str)]) {
        let plugins: Vec<(String, String)> = plugins
            .iter()
            .map(|&(name, version)| (name.to_owned(), version.to_owned()))
            .collect();
        self.shared.release_outside(account, &plugins);
        self.save_blocking();
    }

    /// Everything the simulator holds for the account under `/v1/PluginService`, each resource
    /// as the API shows it: `plugins`, `versions`, `configurations` (each with the configured
    /// `plugins` it holds), `releases` (oldest first) and `active` (the latest release, or
    /// null).
    pub fn plugins(&self, account: &str) -> serde_json::Value {
        self.shared.plugins(account)
    }

    /// Stops accepting connections, lets answers in flight finish (for up to 5 s), then stops.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(err))) => tracing::warn!("simulator server stopped with: {err}"),
                Ok(Err(join)) => tracing::warn!("simulator server task failed: {join}"),
                Err(_) => {
                    tracing::warn!("answers still in flight after {SHUTDOWN_GRACE:?}: cut");
                    task.abort();
                }
            }
        }
    }

    fn save_blocking(&self) {
        if let Err(err) = self.shared.save() {
            tracing::error!("simulator data file: {err}");
        }
    }
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.addr)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
