//! Observation: look at every configured instance concurrently (GET the recorded SID, or
//! discover the account), and finish all of it before anything is decided.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use futures::StreamExt;

use super::model::{ConfigObservation, ConfigObservations, Observation, Observations};
use crate::client::{Discovery, Fetched, FlexClient, InstanceStatus};
use crate::config::credentials::Credentials;
use crate::config::sid::AccountSid;
use crate::config::Config;
use crate::state::{PendingCreate, State};

/// The in-flight window of a pending record written by an older flexform, which recorded only
/// when the create started: longer than the default request timeout, with a margin.
const LEGACY_IN_FLIGHT_WINDOW: Duration = Duration::from_secs(60);

/// Until when the create of `pending` may still be sent or processed: the time its record
/// gives (see [`PendingCreate::in_flight_until`]), or `started_at` plus 60 seconds.
fn in_flight_until(pending: &PendingCreate) -> Option<SystemTime> {
    match &pending.in_flight_until {
        Some(until) => humantime::parse_rfc3339(until).ok(),
        None => humantime::parse_rfc3339(&pending.started_at)
            .ok()
            .map(|started| started + LEGACY_IN_FLIGHT_WINDOW),
    }
}

/// What a reader allows for another machine's clock being ahead of its own.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(300);

/// The clocks a pending record's window can be compared with.
#[derive(Debug, Clone, Copy)]
pub struct Clocks {
    /// This machine's.
    pub local: SystemTime,
    /// The one every reader of the state shares (the database's), if there is one.
    pub shared: Option<SystemTime>,
}

impl Clocks {
    /// This machine's clock now, and no shared one.
    pub fn local() -> Self {
        Self {
            local: SystemTime::now(),
            shared: None,
        }
    }

    /// "Now" on the clock `pending`'s window was written on; for a clock this reader cannot
    /// read (another machine's), this machine's minus the skew allowance, so that the window
    /// only closes once it has surely closed there too.
    fn now_for(&self, pending: &PendingCreate) -> SystemTime {
        let this_host = format!("host {}", crate::support::stamp::host());
        match (pending.clock.as_deref(), self.shared) {
            (None, _) => self.local,
            (Some("database"), Some(shared)) => shared,
            (Some(clock), _) if clock == this_host => self.local,
            _ => self
                .local
                .checked_sub(CLOCK_SKEW_ALLOWANCE)
                .unwrap_or(SystemTime::UNIX_EPOCH),
        }
    }
}

/// Whether the create of `pending` could still be in flight, on its own clock. An unreadable
/// time is taken as "yes": waiting is safe, creating again is not.
pub(crate) fn still_in_flight(pending: &PendingCreate, clocks: &Clocks) -> bool {
    let now = clocks.now_for(pending);
    in_flight_until(pending).is_none_or(|until| now < until)
}

/// Why "no instance" is not yet an answer for `pending`.
fn in_flight_message(pending: &PendingCreate) -> String {
    format!(
        "a create for {} started at {} may still be in flight at Twilio (until {}), so \"no instance\" is not yet an answer; run plan again after that (creating now could make a second instance)",
        pending.account_sid,
        pending.started_at,
        pending
            .in_flight_until
            .as_deref()
            .unwrap_or("a minute after it started")
    )
}

/// What to look at for one instance name.
enum Lookup<'a> {
    /// `GET /v2/Instances/{sid}` on the account.
    Fetch(&'a AccountSid, crate::config::sid::InstanceSid),
    /// Discovery on the configured account, an interrupted create's account being the same;
    /// with the SID of the record that create replaces, which is not its result.
    Discover(
        &'a AccountSid,
        Option<&'a PendingCreate>,
        Option<&'a crate::config::sid::InstanceSid>,
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
) -> (Observations, ConfigObservations) {
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
            let configuration = match (creds, config.instances.get(name)) {
                (Some(creds), Some(spec)) => {
                    configuration_of(client, creds, spec, &observation).await
                }
                _ => None,
            };
            (name.clone(), observation, configuration)
        }
    });
    let mut results = futures::stream::iter(lookups).buffer_unordered(parallelism.max(1));
    let mut observations = Observations::new();
    let mut configurations = ConfigObservations::new();
    while let Some((name, observation, configuration)) = results.next().await {
        if let Some(configuration) = configuration {
            configurations.insert(name.clone(), configuration);
        }
        observations.insert(name, observation);
        observed_one();
    }
    (observations, configurations)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(started_at: &str, in_flight_until: Option<&str>) -> PendingCreate {
        PendingCreate {
            account_sid: AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap(),
            address: "flex_instance.a".into(),
            conversations_default: None,
            started_at: started_at.into(),
            in_flight_until: in_flight_until.map(str::to_owned),
            clock: None,
        }
    }

    fn at(s: &str) -> Clocks {
        Clocks {
            local: humantime::parse_rfc3339(s).unwrap(),
            shared: None,
        }
    }

    #[test]
    fn another_machines_clock_gets_a_skew_allowance_and_the_database_clock_none() {
        let mut p = pending("2026-01-01T00:00:00Z", Some("2026-01-01T00:01:00Z"));
        p.clock = Some("host some-other-runner".into());
        // Five minutes past the window on this clock: still in flight, the other may be ahead.
        assert!(still_in_flight(&p, &at("2026-01-01T00:05:59Z")));
        assert!(!still_in_flight(&p, &at("2026-01-01T00:06:00Z")));
        p.clock = Some(format!("host {}", crate::support::stamp::host()));
        assert!(!still_in_flight(&p, &at("2026-01-01T00:01:00Z")));
        // On the database's clock: compared with the database's time, not this machine's.
        p.clock = Some("database".into());
        let clocks = Clocks {
            local: humantime::parse_rfc3339("2030-01-01T00:00:00Z").unwrap(),
            shared: Some(humantime::parse_rfc3339("2026-01-01T00:00:30Z").unwrap()),
        };
        assert!(still_in_flight(&p, &clocks));
        let clocks = Clocks {
            local: humantime::parse_rfc3339("2020-01-01T00:00:00Z").unwrap(),
            shared: Some(humantime::parse_rfc3339("2026-01-01T00:01:00Z").unwrap()),
        };
        assert!(!still_in_flight(&p, &clocks));
    }

    #[test]
    fn the_window_is_the_recorded_one_or_a_minute_after_the_start() {
        // Recorded: the end of the send window plus the request timeout, whenever it started.
        let p = pending("2026-01-01T00:00:00Z", Some("2026-01-01T00:05:00Z"));
        assert!(still_in_flight(&p, &at("2026-01-01T00:04:59Z")));
        assert!(!still_in_flight(&p, &at("2026-01-01T00:05:00Z")));
        // An older record: a minute after it started.
        let p = pending("2026-01-01T00:00:00Z", None);
        assert!(still_in_flight(&p, &at("2026-01-01T00:00:59Z")));
        assert!(!still_in_flight(&p, &at("2026-01-01T00:01:00Z")));
        // Unreadable: still in flight, whatever the time.
        let p = pending("garbage", None);
        assert!(still_in_flight(&p, &at("2030-01-01T00:00:00Z")));
        let p = pending("2026-01-01T00:00:00Z", Some("garbage"));
        assert!(still_in_flight(&p, &at("2030-01-01T00:00:00Z")));
    }
}
