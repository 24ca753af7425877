//! The built-in Flex API simulator: a real HTTP server that behaves like the Flex Instances API
//! (`POST /v2/Instances`, `GET /v2/Instances/{sid}`) and the Flex Configuration resource
//! (`GET` and `POST /v1/Configuration`), with injectable faults and test-control endpoints under
//! `/_sim/`. Users run it with `flexform sim` to try flexform offline; end-to-end tests and
//! benchmarks start it in-process with [`spawn`].
//!
//! Flex API behaviour: Basic auth (any non-empty pair, or only [`SimConfig::credentials`]) and
//! an `I-Twilio-Auth-Account` header are required; one instance per account unless its status is
//! `deleted` (else `409`); an instance is `creation-in-progress` until
//! [`SimConfig::ready_after`] has elapsed, then `ready`; an instance of another account is `404`.
//! `GET /v1/Configuration` answers a short `notstarted` body without a live instance, else the
//! instance's whole configuration (Twilio's example answer with the instance's SIDs and dates),
//! `ok` when it is `ready` and `inprogress` for any other status. `POST /v1/Configuration` takes
//! a JSON object naming the header's account as `account_sid` and known, writable properties of
//! the right types; each property sent is replaced whole (a JSON-typed one too: no merge).
//! Errors are Twilio's classic body (`code`, `message`, `more_info`, `status`).
//!
//! Every Flex API request takes the state lock once, for an O(1) operation, and never across an
//! await; the data file is written off the async workers, one write serving every change
//! waiting for it.
//!
//! Test-control endpoints (no authentication, not counted in [`SimStats`], never delayed or
//! failed by faults):
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /_sim/instances` | `200`, JSON array of every [`SimInstance`] |
//! | `POST /_sim/instances/{sid}/status` with `{"status": "creation-failed"}` | `204`, or `404` |
//! | `DELETE /_sim/instances/{sid}` | `204`, or `404`; the instance is forgotten entirely |
//! | `GET /_sim/stats` | `200`, [`SimStats`] as JSON |
//! | `GET /_sim/faults` | `200`, the current [`Faults`] as JSON |
//! | `PUT /_sim/faults` with a [`Faults`] JSON object | `204`; replaces every fault |
//! | `GET /_sim/configuration/{account_sid}` | `200`, the whole configuration, or `404` |
//! | `PATCH /_sim/configuration/{account_sid}` with a JSON object | `200`, the configuration with those top-level properties replaced (any property, `date_updated` now unless given), or `400`, `404` |

mod basic_auth;
mod configuration;
mod data_file;
mod routes;
mod store;
mod tls;
mod token_bucket;

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use data_file::DataFile;
use store::Store;
pub use tls::TlsFiles;
use tls::TlsListener;
use token_bucket::TokenBucket;

/// How long [`SimHandle::shutdown`] lets answers in flight finish before cutting connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How the simulator behaves. Build it with struct update syntax over [`SimConfig::default`].
#[derive(Clone)]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free port. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// How long a new instance stays `creation-in-progress` before it turns `ready`. Default 2 s.
    pub ready_after: Duration,
    /// Delay added to every Flex API answer (test-control endpoints are not delayed).
    pub latency: Duration,
    /// Share of Flex API requests answered 503 before anything else happens, from 0.0 to 1.0.
    pub fail_rate: f64,
    /// Share of `POST /v2/Instances` answered 503 (Twilio 20503) without creating, from 0.0
    /// to 1.0.
    pub create_fail_rate: f64,
    /// Flex API requests per second beyond which requests are answered 429 with `Retry-After`.
    pub rate_limit: Option<f64>,
    /// The only accepted Basic auth (user, password); `None` accepts any non-empty pair.
    pub credentials: Option<(String, String)>,
    /// Seed for instance SIDs and fault injection; `None` draws from the operating system.
    pub seed: Option<u64>,
    /// JSON file that keeps the instances across restarts: loaded on start when it exists,
    /// rewritten durably after every change, before the change is answered.
    pub data: Option<PathBuf>,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            ready_after: Duration::from_secs(2),
            latency: Duration::ZERO,
            fail_rate: 0.0,
            create_fail_rate: 0.0,
            rate_limit: None,
            credentials: None,
            seed: None,
            data: None,
            tls: None,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("listen", &self.listen)
            .field("ready_after", &self.ready_after)
            .field("latency", &self.latency)
            .field("fail_rate", &self.fail_rate)
            .field("create_fail_rate", &self.create_fail_rate)
            .field("rate_limit", &self.rate_limit)
            .field(
                "credentials",
                &self
                    .credentials
                    .as_ref()
                    .map(|(user, _)| (user.as_str(), "<redacted>")),
            )
            .field("seed", &self.seed)
            .field("data", &self.data)
            .field("tls", &self.tls)
            .finish()
    }
}

impl SimConfig {
    /// Checks the values that have a range; the error says which and why.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.fail_rate) {
            return Err(format!(
                "fail rate must be between 0.0 and 1.0, found {}",
                self.fail_rate
            ));
        }
        if !(0.0..=1.0).contains(&self.create_fail_rate) {
            return Err(format!(
                "create fail rate must be between 0.0 and 1.0, found {}",
                self.create_fail_rate
            ));
        }
        if let Some(rate) = self.rate_limit {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!(
                    "rate limit must be a number of requests per second above 0, found {rate}"
                ));
            }
        }
        if let Some((user, password)) = &self.credentials {
            if user.is_empty() || password.is_empty() {
                return Err("the accepted key and secret must not be empty".to_owned());
            }
        }
        Ok(())
    }
}

/// Counters since the simulator started. Only Flex API requests count, never `/_sim/` ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Requests answered 503 by the fail rate, and creates answered 503 or 502 by the create
    /// fail rate and the faults that create nothing.
    pub failed: u64,
}

/// Faults that can be switched on while the simulator runs ([`SimHandle::set_faults`] or
/// `PUT /_sim/faults`).
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
}

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

/// Why a configuration cannot be changed out of band ([`SimHandle::set_configuration`] or
/// `PATCH /_sim/configuration/{account_sid}`).
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

/// Lock a mutex, ignoring poisoning: every critical section leaves the data consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Atomic counters behind [`SimStats`].
#[derive(Debug, Default)]
struct Counters {
    connections: Arc<AtomicU64>,
    requests: AtomicU64,
    creates: AtomicU64,
    create_requests: AtomicU64,
    gets: AtomicU64,
    discoveries: AtomicU64,
    configuration_updates: AtomicU64,
    rate_limited: AtomicU64,
    failed: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> SimStats {
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
        }
    }
}

/// Everything the request handlers share. Each piece has its own short-lived lock. Not
/// `Debug`: it holds the accepted secret.
struct Shared {
    ready_after: Duration,
    latency: Duration,
    fail_rate: f64,
    create_fail_rate: f64,
    credentials: Option<(String, String)>,
    store: Mutex<Store>,
    faults: Mutex<Faults>,
    bucket: Option<Mutex<TokenBucket>>,
    /// Draws for `fail_rate`; apart from the SID generator so that seeded SIDs do not depend on
    /// how many requests were failed.
    fault_rng: Mutex<StdRng>,
    counters: Counters,
    data: Option<DataFile>,
}

impl Shared {
    /// Writes the data file if there is one (blocking).
    fn save(&self) -> io::Result<()> {
        match &self.data {
            Some(file) => file.save(&self.store),
            None => Ok(()),
        }
    }

    /// Writes the data file, off the async worker threads. When it returns `Ok`, every change
    /// made before the call is on disk.
    async fn save_async(self: &Arc<Self>) -> io::Result<()> {
        if self.data.is_none() {
            return Ok(());
        }
        let shared = Arc::clone(self);
        tokio::task::spawn_blocking(move || shared.save())
            .await
            .unwrap_or_else(|join| Err(io::Error::other(join)))
    }

    fn set_status(&self, sid: &str, status: &str) -> bool {
        lock(&self.store).set_status(sid, status, SystemTime::now())
    }

    fn delete_instance(&self, sid: &str) -> bool {
        lock(&self.store).remove(sid)
    }

    fn instances(&self) -> Vec<SimInstance> {
        lock(&self.store).views(SystemTime::now())
    }

    fn configuration(&self, account: &str) -> Option<serde_json::Value> {
        lock(&self.store).configuration(account, SystemTime::now())
    }

    /// Replaces the top-level properties in `patch`; `date_updated` becomes now unless the
    /// patch sets it.
    fn patch_configuration(
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
            .or_insert_with(|| store::rfc3339(now).into());
        lock(&self.store)
            .change_configuration(account, changes, now)
            .ok_or_else(|| ConfigurationPatchError::NoInstance {
                account: account.to_owned(),
            })
    }

    fn faults(&self) -> Faults {
        lock(&self.faults).clone()
    }

    fn set_faults(&self, faults: Faults) {
        *lock(&self.faults) = faults;
    }
}

/// Starts the simulator: binds `config.listen` and serves in a background tokio task.
///
/// Fails when the configuration is out of range, the address cannot be bound, or the data file
/// cannot be read, parsed or written.
pub async fn spawn(config: SimConfig) -> io::Result<SimHandle> {
    config
        .validate()
        .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
    let mut seeds = match config.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    };
    let sid_rng = StdRng::seed_from_u64(seeds.random());
    let fault_rng = StdRng::seed_from_u64(seeds.random());

    let data = config.data.clone().map(DataFile::new);
    let store = match data.as_ref().map(DataFile::read).transpose()?.flatten() {
        Some(records) => Store::load(sid_rng, records).map_err(|err| {
            let path = config.data.as_deref().unwrap_or(std::path::Path::new(""));
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {err}", path.display()),
            )
        })?,
        None => Store::new(sid_rng),
    };
    let shared = Arc::new(Shared {
        ready_after: config.ready_after,
        latency: config.latency,
        fail_rate: config.fail_rate,
        create_fail_rate: config.create_fail_rate,
        credentials: config.credentials.clone(),
        store: Mutex::new(store),
        faults: Mutex::new(Faults::default()),
        bucket: config
            .rate_limit
            .map(|rate| Mutex::new(TokenBucket::new(rate, Instant::now()))),
        fault_rng: Mutex::new(fault_rng),
        counters: Counters::default(),
        data,
    });
    // Write the file once now, so that a folder that does not exist fails here rather than on
    // the first create.
    shared.save_async().await?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("cannot listen on {}: {err}", config.listen),
            )
        })?;
    let addr = listener.local_addr()?;
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let app = routes::router(Arc::clone(&shared));
    let connections = Arc::clone(&shared.counters.connections);
    let stop = async {
        let _ = shutdown_rx.await;
    };
    let task = match &config.tls {
        Some(files) => {
            let tls = TlsListener::new(listener, files.server_config()?, connections)?;
            tokio::spawn(async move { axum::serve(tls, app).with_graceful_shutdown(stop).await })
        }
        None => {
            use axum::serve::ListenerExt;
            let counted = listener.tap_io(move |_| {
                connections.fetch_add(1, Ordering::Relaxed);
            });
            tokio::spawn(
                async move { axum::serve(counted, app).with_graceful_shutdown(stop).await },
            )
        }
    };
    tracing::debug!(%addr, "Flex API simulator listening");
    Ok(SimHandle {
        addr,
        https: config.tls.is_some(),
        shared,
        shutdown_tx: Some(shutdown_tx),
        task: Some(task),
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let config = SimConfig {
            credentials: Some(("SKkey".to_owned(), "hunter2".to_owned())),
            ..SimConfig::default()
        };
        let text = format!("{config:?}");
        assert!(
            text.contains("SKkey") && text.contains("<redacted>"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn defaults_are_as_documented() {
        let config = SimConfig::default();
        assert_eq!(config.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.ready_after, Duration::from_secs(2));
        assert_eq!(config.latency, Duration::ZERO);
        assert_eq!(config.fail_rate, 0.0);
        assert!(config.rate_limit.is_none() && config.credentials.is_none());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn validate_rejects_out_of_range_values() {
        for fail_rate in [-0.1, 1.5, f64::NAN] {
            let config = SimConfig {
                fail_rate,
                ..SimConfig::default()
            };
            assert!(config.validate().unwrap_err().contains("fail rate"));
        }
        for rate in [0.0, -1.0, f64::INFINITY, f64::NAN] {
            let config = SimConfig {
                rate_limit: Some(rate),
                ..SimConfig::default()
            };
            assert!(config.validate().unwrap_err().contains("rate limit"));
        }
        let config = SimConfig {
            credentials: Some(("key".to_owned(), String::new())),
            ..SimConfig::default()
        };
        assert!(config.validate().is_err());
    }

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
