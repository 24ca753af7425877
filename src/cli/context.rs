//! The run context that commands share: the async runtime, the API client and credentials
//! built from the flags, where the state is, and the read side of plan, drift and apply (load
//! the configuration and the state, observe, decide).

use anyhow::Context;

use super::args::NetArgs;
use super::progress::Progress;
use super::settings::Settings;
use crate::client::{ClientConfig, FlexClient, RetryPolicy};
use crate::config::credentials::{self, Credentials};
use crate::config::{Config, LoadedConfig};
use crate::plan::{self, Plan, PlanDocument};
use crate::state::{HistoryChange, HistoryEntry, LockWait, State, StateLocation, StateStore};
use crate::support::stop::{Interrupted, Stop};

/// Everything a plan was made from, and the plan.
#[derive(Debug)]
pub struct Planned {
    /// The configuration.
    pub config: LoadedConfig,
    /// The state as read (`None`: no state file yet).
    pub state: Option<State>,
    /// Credentials by instance name.
    pub credentials: std::collections::BTreeMap<String, Credentials>,
    /// The client used to observe (reused by apply).
    pub client: FlexClient,
    /// The decision.
    pub plan: Plan,
    /// The addresses `--target` named (empty: everything).
    pub targets: Vec<String>,
}

impl Planned {
    /// The plan as a document tied to its state and configuration.
    pub fn document(&self) -> PlanDocument {
        let mut document = PlanDocument::new(
            &self.plan,
            self.state.as_ref(),
            self.config.canonical_sha256.clone(),
        );
        document.targets = self.targets.clone();
        document
    }
}

/// Which instances to look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything in the configuration or the state (plan, apply).
    Everything,
    /// Only instances both configured and recorded (drift: configuration changes not yet
    /// applied are not drift).
    RecordedOnly,
}

/// Builds the API client from the global settings and network flags.
pub fn client(settings: &Settings, net: &NetArgs) -> anyhow::Result<FlexClient> {
    let config = ClientConfig {
        connect_timeout: net.connect_timeout,
        request_timeout: net.request_timeout,
        retry: RetryPolicy {
            max_attempts: net.max_attempts,
            ..RetryPolicy::default()
        },
        max_in_flight: usize::from(net.parallelism),
        ..ClientConfig::new(settings.endpoint.clone())
    };
    Ok(FlexClient::new(config)?)
}

/// Resolves every instance's credentials, or fails naming each missing variable, before any
/// request is sent.
pub fn resolve_credentials(
    config: &Config,
) -> anyhow::Result<std::collections::BTreeMap<String, Credentials>> {
    credentials::resolve_all(config).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(|e| format!("  - {e}")).collect();
        anyhow::anyhow!(
            "missing credentials; nothing was sent:\n{}",
            list.join("\n")
        )
    })
}

/// Credentials to resolve the interrupted creates of names no longer configured: those of a
/// configured instance on the same account, else the default profile. A name left without
/// any is reported by observation, which then blocks the plan.
pub(crate) fn orphan_pending_credentials(
    desired: &Config,
    state: &State,
    resolved: &std::collections::BTreeMap<String, Credentials>,
) -> Vec<(String, Credentials)> {
    state
        .pending
        .iter()
        .filter(|(name, _)| !desired.instances.contains_key(*name))
        .filter_map(|(name, pending)| {
            let same_account = desired.instances.iter().find(|(_, spec)| {
                spec.account_sid
                    .as_str()
                    .eq_ignore_ascii_case(pending.account_sid.as_str())
            });
            let found = match same_account {
                Some((other, _)) => resolved.get(other).cloned(),
                None => {
                    let spec = crate::config::InstanceSpec {
                        account_sid: pending.account_sid.clone(),
                        credentials: None,
                        conversations: None,
                        configuration: None,
                    };
                    credentials::resolve(desired, name, &spec).ok()
                }
            };
            found.map(|creds| (name.clone(), creds))
        })
        .collect()
}

/// Where the state is, from the configuration's `state:` section and `--state`.
pub fn state_location(
    settings: &Settings,
    config: Option<&Config>,
) -> anyhow::Result<StateLocation> {
    Ok(StateLocation::resolve(
        &settings.state_path,
        settings.state_explicit,
        &settings.config_path,
        config,
    )?)
}

/// The location for commands that may run without a configuration file (show, state): the
/// configuration decides the backend when it exists; otherwise the local state file.
pub fn state_location_without_config(settings: &Settings) -> anyhow::Result<StateLocation> {
    if settings.config_path.exists() {
        let config = Config::load(&settings.config_path)?;
        state_location(settings, Some(&config.config))
    } else {
        state_location(settings, None)
    }
}

/// Loads, observes and plans.
pub async fn make_plan(
    settings: &Settings,
    net: &NetArgs,
    scope: Scope,
    targets: &[String],
) -> anyhow::Result<Planned> {
    let config = Config::load(&settings.config_path)?;
    let location = state_location(settings, Some(&config.config))?;
    let state = location.load().await?;
    let clocks = crate::observe::Clocks {
        local: std::time::SystemTime::now(),
        shared: location.shared_now().await?,
    };
    plan_against(settings, net, config, state, &clocks, scope, targets).await
}

/// The names `targets` (`NAME` or `flex_instance.NAME`) select; an unknown one is an error that
/// lists close names.
fn target_names(targets: &[String], config: &Config, state: &State) -> anyhow::Result<Vec<String>> {
    let known: Vec<&str> = config
        .instances
        .keys()
        .chain(state.instances.keys())
        .chain(state.pending.keys())
        .map(String::as_str)
        .collect();
    targets
        .iter()
        .map(|target| {
            let name = target.strip_prefix("flex_instance.").unwrap_or(target);
            if known.contains(&name) {
                return Ok(name.to_owned());
            }
            let hint = crate::support::text::suggest(name, &known)
                .map_or_else(String::new, |s| format!("; did you mean `flex_instance.{s}`?"));
            anyhow::bail!(
                "unknown target `{target}`: no instance of that name in the configuration or the state{hint}"
            )
        })
        .collect()
}

/// The targeted names and every name that shares an account with one of them (configured,
/// recorded or with an interrupted create): a rename's old name, or another name's create
/// still in flight on the same account, decides what may be done for a target, as
/// Terraform's `-target` brings in what a target depends on. Sorted, without duplicates.
fn with_account_partners(targeted: Vec<String>, config: &Config, state: &State) -> Vec<String> {
    let accounts_of = |name: &str| -> Vec<String> {
        let configured = config.instances.get(name).map(|s| &s.account_sid);
        let recorded = state.instances.get(name).map(|r| &r.account_sid);
        let pending = state.pending.get(name).map(|p| &p.account_sid);
        [configured, recorded, pending]
            .into_iter()
            .flatten()
            .map(|a| a.as_str().to_ascii_lowercase())
            .collect()
    };
    let every_name: std::collections::BTreeSet<&String> = config
        .instances
        .keys()
        .chain(state.instances.keys())
        .chain(state.pending.keys())
        .collect();
    let mut names: std::collections::BTreeSet<String> = targeted.into_iter().collect();
    loop {
        let accounts: std::collections::BTreeSet<String> =
            names.iter().flat_map(|n| accounts_of(n)).collect();
        let before = names.len();
        names.extend(
            every_name
                .iter()
                .filter(|n| accounts_of(n).iter().any(|a| accounts.contains(a)))
                .map(|n| (*n).clone()),
        );
        if names.len() == before {
            return names.into_iter().collect();
        }
    }
}

/// Refuses a state that records one instance, or one account, under two names.
pub fn check_one_address(state: &State) -> anyhow::Result<()> {
    let mut seen: std::collections::BTreeMap<String, &str> = std::collections::BTreeMap::new();
    for (name, record) in &state.instances {
        // Compared without case (SIDs are hex), named as recorded.
        for (key, shown) in [
            (
                format!(
                    "instance {}",
                    record.flex_instance_sid.as_str().to_ascii_lowercase()
                ),
                format!("instance {}", record.flex_instance_sid),
            ),
            (
                format!(
                    "account {}",
                    record.account_sid.as_str().to_ascii_lowercase()
                ),
                format!("account {}", record.account_sid),
            ),
        ] {
            if let Some(first) = seen.insert(key, name) {
                let first_sid = &state.instances[first].flex_instance_sid;
                anyhow::bail!(
                    "the state records {shown} under two addresses, flex_instance.{first} ({first_sid}) and flex_instance.{name} ({}): an instance has one address. Keep the record of the account's actual instance (`flexform state show NAME` and the Twilio console tell which) and forget the other with `flexform state rm NAME`",
                    record.flex_instance_sid
                );
            }
        }
    }
    Ok(())
}

/// Observes and plans for a configuration and a state already loaded (apply loads the state
/// under its lock).
pub async fn plan_against(
    settings: &Settings,
    net: &NetArgs,
    config: LoadedConfig,
    state: Option<State>,
    clocks: &crate::observe::Clocks,
    scope: Scope,
    targets: &[String],
) -> anyhow::Result<Planned> {
    let empty = State::empty();
    let full_state = state.as_ref().unwrap_or(&empty);
    check_one_address(full_state)?;
    let targeted = target_names(targets, &config.config, full_state)?;
    let targeted = if targeted.is_empty() {
        targeted
    } else {
        with_account_partners(targeted, &config.config, full_state)
    };
    // Drift and --target look at a narrowed copy; plan and apply at the state as it is.
    let narrowed = match scope {
        Scope::Everything if targeted.is_empty() => None,
        Scope::Everything => Some((config.config.clone(), full_state.clone())),
        Scope::RecordedOnly => {
            let desired = plan::drift::desired(&config.config, full_state);
            let view = plan::drift::state_view(&desired, full_state);
            Some((desired, view))
        }
    };
    let narrowed = narrowed.map(|(mut desired, mut view)| {
        if !targeted.is_empty() {
            desired.instances.retain(|name, _| targeted.contains(name));
            view.instances.retain(|name, _| targeted.contains(name));
            view.pending.retain(|name, _| targeted.contains(name));
        }
        (desired, view)
    });
    let (desired, state_ref) = match &narrowed {
        Some((desired, view)) => (desired, view),
        None => (&config.config, full_state),
    };
    let mut credentials = resolve_credentials(desired)?;
    credentials.extend(orphan_pending_credentials(desired, state_ref, &credentials));
    let client = client(settings, net).context("cannot set up the Flex API client")?;
    let progress = Progress::new(settings.out.shows_live_progress());
    progress.start(desired.instances.len() as u64, "observing");
    let (observed, configurations) = crate::observe::observe(
        &client,
        desired,
        state_ref,
        &credentials,
        usize::from(net.parallelism),
        clocks,
        &|| progress.inc(),
    )
    .await;
    progress.finish();
    let mut plan = plan::plan(desired, state_ref, &observed);
    plan::configure(&mut plan, desired, state_ref, &configurations);
    Ok(Planned {
        targets: targeted
            .iter()
            .map(|name| crate::plan::address(name))
            .collect(),
        config,
        state,
        credentials,
        client,
        plan,
    })
}

/// What one run did, for the audit trail.
pub struct RunRecord<'a> {
    /// apply, import, state rm, state push.
    pub command: &'a str,
    /// The serial when the run opened the state.
    pub serial_before: u64,
    /// What changed.
    pub changes: Vec<HistoryChange>,
    /// SHA-256 of the configuration file, when the run read one.
    pub config_sha256: Option<String>,
    /// SHA-256 of the saved plan file, when one was applied.
    pub plan_sha256: Option<String>,
}

/// The key every audit-trail entry of a writing run is signed with: the OpenSSH Ed25519
/// private key file that `FLEXFORM_SIGNING_KEY` names (unset or empty: entries are unsigned).
pub fn audit() -> Result<crate::state::Audit, crate::state::signing::SigningError> {
    let signer = match std::env::var_os("FLEXFORM_SIGNING_KEY").filter(|v| !v.is_empty()) {
        Some(path) => Some(std::sync::Arc::new(
            crate::state::signing::SigningKey::load(std::path::Path::new(&path))?,
        )),
        None => None,
    };
    Ok(crate::state::Audit { signer })
}

/// Opens the state for a writing command under its lock, with the run's signing key: the
/// trail catches up first (see [`StateStore::open`]).
pub async fn open_store(
    location: &crate::state::StateLocation,
    operation: &str,
    wait: &LockWait,
) -> anyhow::Result<StateStore> {
    let audit = audit()?;
    Ok(StateStore::open(location, operation, wait, &audit).await?)
}

/// Ends a writing run: its audit-trail entry (with its provenance: the digests, the pipeline
/// run, the commit), then one state write with `change` and the entry's digest. A trail that
/// cannot be written is the run's error ([`crate::state::StateError::TrailUnwritten`]), after
/// the state was written with the entry kept in it; a state that cannot be written is too.
pub async fn finish_run(
    store: &mut StateStore,
    run: RunRecord<'_>,
    change: impl FnOnce(&mut State),
) -> Result<(), crate::state::StateError> {
    let mut entry = HistoryEntry::new(run.command, run.serial_before, 0, run.changes);
    entry.provenance = crate::state::Provenance::from_env(
        &|name| std::env::var(name).ok(),
        run.config_sha256,
        run.plan_sha256,
    );
    match store.finish(&mut entry, change).await? {
        Some(unwritten) => Err(unwritten),
        None => Ok(()),
    }
}

/// `state push`'s [`finish_run`]: the entry, then the pushed state anchored to it, in one
/// write (so the pushed document moves as it is, but for its anchor).
pub async fn finish_push(
    store: &mut StateStore,
    serial_before: u64,
    pushed: State,
) -> Result<(), crate::state::StateError> {
    // What the pushed document changes, listed like any other run's changes.
    let changes = crate::state::trail::changes_between(store.state(), &pushed, "pushed");
    let mut entry = HistoryEntry::new("state push", serial_before, 0, changes);
    entry.provenance =
        crate::state::Provenance::from_env(&|name| std::env::var(name).ok(), None, None);
    match store.finish_push(&mut entry, pushed).await? {
        Some(unwritten) => Err(unwritten),
        None => Ok(()),
    }
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
