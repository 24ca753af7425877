//! The built-in Flex API simulator: a real HTTP server that behaves like the Flex Instances API
//! (`POST /v2/Instances`, `GET /v2/Instances/{sid}`), the Flex Configuration resource
//! (`GET` and `POST /v1/Configuration`) and the Flex Plugins API (`/v1/PluginService/…`), with
//! injectable faults and test-control endpoints under `/_sim/`. Users run it with `flexform sim` to try flexform offline; end-to-end tests and
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
//! The Plugins API keeps each account's plugins (`FP…`), versions (`FV…`), configurations
//! (`FJ…`) and releases (`FK…`). Creates are form-encoded POSTs answered `201`: a missing
//! required parameter is `400` naming it, a second plugin with a `UniqueName` or a second
//! `Version` for a plugin `409` (Twilio 20409), an unknown SID `404`, a configuration with two
//! versions of one plugin `400`. A plugin is read by SID or unique name, a version by SID or
//! version string; lists are paged (`PageSize` 1 to 1000, default 50; `Page`; `PageToken`) with
//! a `meta` whose page URLs lead back to the simulator. The latest release is the active one,
//! `GET /v1/PluginService/Releases/Active` (`404` without one).
//!
//! Every Flex API request takes the state lock once, for an O(1) operation (an O(n) one in the
//! account's plugin resources for the Plugins API), and never across an await; the data file is written off the async workers, one write serving every change
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
//! | `GET /_sim/plugins/{account_sid}` | `200`, everything the account holds under `/v1/PluginService` (see [`SimHandle::plugins`]) |
//! | `POST /_sim/plugins/{account_sid}/release` with `{"plugins": {"name": "version", …}}` | `201`, the release made out of band as Twilio's CLI would (see [`SimHandle::release_outside`]), or `400` |

mod api;
mod basic_auth;
mod configuration;
mod data_file;
mod handle;
mod model;
mod plugin_requests;
mod plugin_routes;
mod plugins;
mod routes;
mod shared;
mod sim_config;
mod store;
mod tls;
mod token_bucket;

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use data_file::DataFile;
use shared::Shared;
use store::Store;
use tls::TlsListener;
use token_bucket::TokenBucket;

pub use handle::SimHandle;
pub use model::{ConfigurationPatchError, Faults, SimInstance, SimStats};
pub use sim_config::SimConfig;
pub use tls::TlsFiles;

/// Starts the simulator: binds `config.listen` and serves in a background tokio task.
///
/// Fails when the configuration is out of range, the address cannot be bound, or the data file
/// cannot be read, parsed or written.
pub async fn spawn(config: SimConfig) -> io::Result<SimHandle> {
    config
        .validate()
        .map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
    let shared = Arc::new(shared_state(&config)?);
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
    let task = serve(
        listener,
        config.tls.as_ref(),
        Arc::clone(&shared),
        shutdown_rx,
    )?;
    tracing::debug!(%addr, "Flex API simulator listening");
    Ok(SimHandle::new(
        addr,
        config.tls.is_some(),
        shared,
        shutdown_tx,
        task,
    ))
}

/// What the handlers share, as `config` sets it up: the store loaded from the data file when
/// there is one, SIDs and faults drawn from `config.seed`.
fn shared_state(config: &SimConfig) -> io::Result<Shared> {
    let mut seeds = match config.seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_os_rng(),
    };
    let sid_rng = StdRng::seed_from_u64(seeds.random());
    let fault_rng = StdRng::seed_from_u64(seeds.random());

    let data = config.data.clone().map(DataFile::new);
    let store = match data.as_ref().map(DataFile::read).transpose()?.flatten() {
        Some(contents) => {
            Store::load(sid_rng, contents.instances, contents.plugins).map_err(|err| {
                let path = config.data.as_deref().unwrap_or(std::path::Path::new(""));
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {err}", path.display()),
                )
            })?
        }
        None => Store::new(sid_rng),
    };
    Ok(Shared {
        https: config.tls.is_some(),
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
        counters: model::Counters::default(),
        data,
    })
}

/// Serves every route on `listener` (over HTTPS with `tls`) in a background task, counting
/// connections, until `shutdown` is sent or dropped.
fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<&TlsFiles>,
    shared: Arc<Shared>,
    shutdown: oneshot::Receiver<()>,
) -> io::Result<JoinHandle<io::Result<()>>> {
    let connections = Arc::clone(&shared.counters.connections);
    let app = routes::router(shared);
    let stop = async {
        let _ = shutdown.await;
    };
    let task = match tls {
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
    Ok(task)
}

#[cfg(test)]
mod tests {
    //! The shape of `sim` itself: submodules use each other through their own names, never an
    //! item of this file, and never in a circle. Read from the sources the compiler reads.

    use std::collections::BTreeMap;

    /// This file; its `mod` lines must name exactly the modules of [`MODULES`].
    const PARENT: &str = include_str!("mod.rs");

    /// Every submodule with its source.
    const MODULES: [(&str, &str); 15] = [
        ("api", include_str!("api.rs")),
        ("basic_auth", include_str!("basic_auth.rs")),
        ("configuration", include_str!("configuration.rs")),
        ("data_file", include_str!("data_file.rs")),
        ("handle", include_str!("handle.rs")),
        ("model", include_str!("model.rs")),
        ("plugin_requests", include_str!("plugin_requests.rs")),
        ("plugin_routes", include_str!("plugin_routes.rs")),
        ("plugins", include_str!("plugins.rs")),
        ("routes", include_str!("routes.rs")),
        ("shared", include_str!("shared.rs")),
        ("sim_config", include_str!("sim_config.rs")),
        ("store", include_str!("store.rs")),
        ("tls", include_str!("tls.rs")),
        ("token_bucket", include_str!("token_bucket.rs")),
    ];

    /// What follows each `super::` in a module's code: its comments and its tests left out.
    fn super_paths(source: &str) -> Vec<&str> {
        let code = source
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or(source);
        code.lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .flat_map(|line| line.split("super::").skip(1))
            .map(|rest| {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .collect()
    }

    /// Each module with the sibling modules it uses.
    fn graph() -> BTreeMap<&'static str, Vec<&'static str>> {
        MODULES
            .iter()
            .map(|&(name, source)| {
                let mut uses = super_paths(source);
                uses.sort_unstable();
                uses.dedup();
                (name, uses)
            })
            .collect()
    }

    #[test]
    fn every_submodule_is_read_here() {
        let mut declared: Vec<&str> = PARENT
            .lines()
            .filter_map(|line| line.strip_prefix("mod ")?.strip_suffix(';'))
            .collect();
        declared.sort_unstable();
        let listed: Vec<&str> = MODULES.iter().map(|&(name, _)| name).collect();
        assert_eq!(declared, listed, "add the new module to MODULES");
    }

    #[test]
    fn submodules_import_only_sibling_modules() {
        let siblings: Vec<&str> = MODULES.iter().map(|&(name, _)| name).collect();
        for (module, uses) in graph() {
            for used in uses {
                assert!(
                    siblings.contains(&used),
                    "sim::{module} uses `super::{used}`: name the sibling module that holds \
                     it (shared types go in model.rs), one `use super::module::..` per module"
                );
            }
            let source = MODULES.iter().find(|&&(name, _)| name == module).unwrap().1;
            assert!(
                !source.contains("crate::sim"),
                "sim::{module} uses crate::sim"
            );
        }
    }

    #[test]
    fn submodules_use_each_other_without_a_circle() {
        let graph = graph();
        assert!(graph["model"].is_empty(), "model uses {:?}", graph["model"]);
        assert!(!graph["configuration"].contains(&"store"));
        // Depth-first from each module; a module met again on the current path closes a circle.
        fn visit<'a>(
            graph: &BTreeMap<&'a str, Vec<&'a str>>,
            module: &'a str,
            path: &mut Vec<&'a str>,
        ) {
            if path.contains(&module) {
                path.push(module);
                panic!("modules of sim in a circle: {}", path.join(" -> "));
            }
            path.push(module);
            for &used in &graph[module] {
                visit(graph, used, path);
            }
            path.pop();
        }
        for &module in graph.keys() {
            visit(&graph, module, &mut Vec::new());
        }
    }
}
