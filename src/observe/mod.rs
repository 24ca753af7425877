//! The observe stage: look at every configured instance concurrently (GET the recorded SID,
//! or discover the account), and finish all of it before anything is decided. It reads the
//! network through the client and the state it is given; it decides nothing and writes nothing.
//! Its result ([`model`]) is what the planner decides on; [`window`] says whether an interrupted
//! create may still be in flight.

pub mod model;
pub mod plugins;
pub mod window;

use std::collections::BTreeMap;

use futures::StreamExt;

use crate::client::FlexClient;
use crate::config::credentials::Credentials;
use crate::config::Config;
use crate::domain::sid::AccountSid;
use crate::domain::{Discovery, Fetched, InstanceStatus};
use crate::state::{PendingCreate, State};
pub use model::{
    ConfigObservation, ConfigObservations, Observation, Observations, PluginObservation,
    PluginObservations, PluginsSeen, SeenPlugin,
};
pub use window::Clocks;
use window::{in_flight_message, still_in_flight};

/// What to look at for one instance name.
enum Lookup<'a> {
    /// `GET /v2/Instances/{sid}` on the account.
    Fetch(&'a AccountSid, crate::domain::sid::InstanceSid),
    /// Discovery on the configured account, an interrupted create's account being the same;
    /// with the SID of the record that create replaces, which is not its result.
    Discover(
        &'a AccountSid,
        Option<&'a PendingCreate>,
        Option<&'a crate::domain::sid::InstanceSid>,
    ),
    /// An interrupted create made for another account than the one configured (or for a name
    /// no longer configured: `configured` is `None`).
    Pending(&'a PendingCreate, Option<&'a AccountSid>),
}

/// Observes every instance of `config` (recorded ones by SID, the others by discovery) and
/// every interrupted create in `state`, on the account it was made for, at most
/// `parallelism` requests at a time. Recorded instances no longer configured are not observed
/// (nothing is decided for them). `credentials` holds a pair for every configured name and
/// for every interrupted create of a name no longer configured; a name without one is
/// [`Observation::Failed`]. Failures never panic or end the observation early. `clocks` are
/// what an in-flight window is compared with; `observed_one` is called as each name is done.
///
/// Every configured instance that declares a `configuration:` block and exists (recorded and
/// ready, or found by discovery) also has its `GET /v1/Configuration` read, right after the
/// instance in the same slot, so that the two reads of a plan overlap across instances. The
/// configuration's own `status` says whether the instance is ready.
pub async fn observe(
    client: &FlexClient,
    config: &Config,
    state: &State,
    credentials: &BTreeMap<String, Credentials>,
    parallelism: usize,
    clocks: &Clocks,
    observed_one: &(dyn Fn() + Sync),
) -> Snapshot {
    let configured = config.instances.iter().map(|(name, spec)| {
        let pending = state.pending.get(name);
        let lookup = match (pending, state.instances.get(name)) {
            (Some(p), _)
                if !p
                    .account_sid
                    .as_str()
                    .eq_ignore_ascii_case(spec.account_sid.as_str()) =>
            {
                Lookup::Pending(p, Some(&spec.account_sid))
            }
            // An interrupted create is resolved by discovery, even over an older record.
            (Some(p), record) => Lookup::Discover(
                &spec.account_sid,
                Some(p),
                record.map(|r| &r.flex_instance_sid),
            ),
            (None, Some(record)) => {
                Lookup::Fetch(&spec.account_sid, record.flex_instance_sid.clone())
            }
            (None, None) => Lookup::Discover(&spec.account_sid, None, None),
        };
        (name, lookup)
    });
    let unconfigured = state
        .pending
        .iter()
        .filter(|(name, _)| !config.instances.contains_key(*name))
        .map(|(name, p)| (name, Lookup::Pending(p, None)));
    let lookups = configured.chain(unconfigured).map(|(name, lookup)| {
        let creds = credentials.get(name);
        async move {
            let observation = match creds {
                Some(creds) => look(client, creds, lookup, clocks).await,
                None => Observation::Failed(match lookup {
                    Lookup::Pending(p, None) => format!(
                        "no credentials to look for the interrupted create on {}: set TWILIO_API_KEY and TWILIO_API_SECRET for that account, or `flexform state rm {name}` if it is known not to exist",
                        p.account_sid
                    ),
                    _ => "no credentials resolved".to_owned(),
                }),
            };
            let (configuration, plugins) = match (creds, config.instances.get(name)) {
                (Some(creds), Some(spec)) => (
                    configuration_of(client, creds, spec, &observation).await,
                    plugins_of(client, creds, spec, &observation).await,
                ),
                _ => (None, None),
            };
            (name.clone(), observation, configuration, plugins)
        }
    });
    let mut results = futures::stream::iter(lookups).buffer_unordered(parallelism.max(1));
    let mut snapshot = Snapshot::default();
    while let Some((name, observation, configuration, plugins)) = results.next().await {
        if let Some(configuration) = configuration {
            snapshot.configurations.insert(name.clone(), configuration);
        }
        if let Some(plugins) = plugins {
            snapshot.plugins.insert(name.clone(), plugins);
        }
        snapshot.instances.insert(name, observation);
        observed_one();
    }
    snapshot
}

/// Everything one observation saw, by instance name: the instances, the Flex configurations
/// of those that declare one, and the plugins of those that declare `plugins:`.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The instances.
    pub instances: Observations,
    /// The Flex configurations.
    pub configurations: ConfigObservations,
    /// The Flex plugins.
    pub plugins: PluginObservations,
}

/// The plugins of one instance that declares `plugins:`, if `observation` shows it exists and
/// is ready (the Plugins API serves an account with a ready Flex instance).
async fn plugins_of(
    client: &FlexClient,
    creds: &Credentials,
    spec: &crate::config::InstanceSpec,
    observation: &Observation,
) -> Option<PluginObservation> {
    let declared = spec.declared_plugins()?;
    Some(match observation {
        Observation::Fetched(Fetched::Found(instance))
            if instance.status == InstanceStatus::Ready =>
        {
            plugins::plugins_of(client, creds, &spec.account_sid, declared).await
        }
        Observation::Discovered(Discovery::Found(_)) => {
            plugins::plugins_of(client, creds, &spec.account_sid, declared).await
        }
        Observation::Fetched(Fetched::Found(_)) => PluginObservation::NotReady,
        _ => return None,
    })
}

/// The configuration of one instance that declares a block, if `observation` shows it
/// exists: only the declared top-level properties (and `status`) are kept.
async fn configuration_of(
    client: &FlexClient,
    creds: &Credentials,
    spec: &crate::config::InstanceSpec,
    observation: &Observation,
) -> Option<ConfigObservation> {
    let declared = spec.declared_configuration()?;
    let exists = match observation {
        Observation::Fetched(Fetched::Found(instance)) => instance.status == InstanceStatus::Ready,
        Observation::Discovered(Discovery::Found(_)) => true,
        _ => false,
    };
    if !exists {
        return None;
    }
    let properties: Vec<&str> = declared.keys().map(String::as_str).collect();
    Some(
        match client
            .fetch_configuration(&spec.account_sid, creds, &properties, None)
            .await
        {
            Ok(value) if value.get("status").and_then(|s| s.as_str()) == Some("ok") => {
                ConfigObservation::Observed(value)
            }
            Ok(_) => ConfigObservation::NotReady,
            Err(e) => ConfigObservation::Failed(e.to_string()),
        },
    )
}

/// One lookup.
async fn look(
    client: &FlexClient,
    creds: &Credentials,
    lookup: Lookup<'_>,
    clocks: &Clocks,
) -> Observation {
    let discover = |account: &AccountSid| {
        let account = account.clone();
        async move { client.discover(&account, creds).await }
    };
    match lookup {
        Lookup::Fetch(account, sid) => match client.get_instance(account, creds, &sid).await {
            Ok(fetched) => Observation::Fetched(fetched),
            Err(e) => Observation::Failed(e.to_string()),
        },
        Lookup::Discover(account, pending, replaced) => match discover(account).await {
            // Discovery still naming the instance an interrupted recreate replaces says
            // nothing about the recreate: as "no instance" (and so subject to its window).
            Ok(Discovery::Found(sid)) if Some(&sid) == replaced => {
                if pending.is_some_and(|p| still_in_flight(p, clocks)) {
                    Observation::Failed(in_flight_message(pending.expect("checked")))
                } else {
                    Observation::Discovered(Discovery::None)
                }
            }
            Ok(Discovery::None) if pending.is_some_and(|p| still_in_flight(p, clocks)) => {
                Observation::Failed(in_flight_message(pending.expect("checked")))
            }
            Ok(discovery) => Observation::Discovered(discovery),
            Err(e) => Observation::Failed(e.to_string()),
        },
        Lookup::Pending(pending, configured) => {
            let made = match discover(&pending.account_sid).await {
                Ok(Discovery::None) if still_in_flight(pending, clocks) => {
                    return Observation::Failed(in_flight_message(pending))
                }
                Ok(made) => made,
                Err(e) => {
                    return Observation::Failed(format!(
                        "cannot look for the interrupted create on {}: {e}",
                        pending.account_sid
                    ))
                }
            };
            // Nothing came of the interrupted create: what the configured account has decides.
            let configured = match (&made, configured) {
                (Discovery::None, Some(account)) => match discover(account).await {
                    Ok(discovery) => Some(discovery),
                    Err(e) => return Observation::Failed(e.to_string()),
                },
                _ => None,
            };
            Observation::PendingElsewhere { made, configured }
        }
    }
}
