//! What commands share on the command line's side of the library: the async runtime with
//! Ctrl-C and SIGTERM turned into a stop, the lock wait that says who holds the lock, and
//! planning with a progress line on the terminal. The operations themselves are in
//! [`crate::ops`].

use anyhow::Context;

use super::args::NetArgs;
use super::progress::Progress;
use super::settings::Settings;
use crate::ops::{Network, Planned, Planner, Scope};
use crate::state::LockWait;
use crate::support::stop::{Interrupted, Stop};

/// Loads, observes and plans in the settings' workspace, with a progress line on a terminal.
pub async fn make_plan(
    settings: &Settings,
    net: &NetArgs,
    scope: Scope,
    targets: &[String],
) -> anyhow::Result<Planned> {
    let workspace = settings.workspace();
    let network = Network::from(net);
    let progress = Progress::new(settings.out.shows_live_progress());
    let planner = Planner {
        workspace: &workspace,
        network: &network,
        progress: &progress,
    };
    Ok(planner.make_plan(scope, targets).await?)
}

/// How a writing command waits for the state lock: up to `timeout`, saying who holds it, and
/// stopping at once on Ctrl-C or SIGTERM.
pub fn lock_wait(settings: &Settings, timeout: std::time::Duration, stop: &Stop) -> LockWait {
    let out = settings.out;
    LockWait {
        timeout,
        stop: stop.clone(),
        on_wait: std::sync::Arc::new(move |holder: &str| {
            out.status(format!(
                "Waiting for the state lock, held by {holder} (up to {})…",
                humantime::format_duration(timeout)
            ))
        }),
        on_takeover: std::sync::Arc::new(move |what: &str| out.warn(what)),
    }
}

/// Runs a command's future on a fresh runtime with Ctrl-C and SIGTERM turned into `stop`. A
/// read-only command (`abort_on_stop`) ends at the first signal with [`Interrupted`]; a
/// writing command gets the stop and winds down itself. A second signal exits at once.
pub fn run_with_stop<T, F, Fut>(settings: &Settings, abort_on_stop: bool, f: F) -> anyhow::Result<T>
where
    F: FnOnce(Stop) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    runtime()?.block_on(async {
        let stop = super::signals::stop_on_signals(settings.out, abort_on_stop);
        let work = f(stop.clone());
        if !abort_on_stop {
            return work.await;
        }
        tokio::select! {
            result = work => result,
            _ = stop.requested() => Err(Interrupted("nothing was changed".to_owned()).into()),
        }
    })
}

/// The async runtime every command runs on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
