//! Observation: look at every configured instance concurrently (GET the recorded SID, or
//! discover the account), and finish all of it before anything is decided.

use std::collections::BTreeMap;

use std::time::{Duration, SystemTime};

use futures::StreamExt;

use super::model::{Observation, Observations};
use crate::client::{Discovery, FlexClient};
use crate::config::credentials::Credentials;
use crate::config::Config;
use crate::state::State;

/// How long a create can still be in flight after it started: longer than the client's
/// request timeout (30 s by default), with a margin.
const IN_FLIGHT_WINDOW: Duration = Duration::from_secs(60);

/// Whether a pending create that started at `started_at` (RFC 3339) could still be in flight.
fn still_in_flight(started_at: &str) -> bool {
    match humantime::parse_rfc3339(started_at) {
        Ok(started) => SystemTime::now()
            .duration_since(started)
            .map_or(true, |age| age < IN_FLIGHT_WINDOW),
        // Unreadable: be safe.
        Err(_) => true,
    }
}

/// Observes every instance of `config`: recorded ones by SID, the others by discovery, at most
/// `parallelism` at a time. Instances only in the state are not observed (orphans have no
/// credentials). Failures become [`Observation::Failed`], never a panic or an early return.
/// `observed_one` is called as each instance is done (a progress counter).
pub async fn observe(
    client: &FlexClient,
    config: &Config,
    state: &State,
    credentials: &BTreeMap<String, Credentials>,
    parallelism: usize,
    observed_one: &(dyn Fn() + Sync),
) -> Observations {
    let lookups = config.instances.iter().map(|(name, spec)| {
        let recorded = state
            .instances
            .get(name)
            .map(|r| r.flex_instance_sid.clone());
        let creds = credentials.get(name);
        let pending_since = state.pending.get(name).map(|p| p.started_at.clone());
        let pending = pending_since.is_some();
        async move {
            let Some(creds) = creds else {
                return (
                    name.clone(),
                    Observation::Failed("no credentials resolved".to_owned()),
                );
            };
            // An interrupted create is resolved by discovery, even over an older record.
            let observation = match recorded.filter(|_| !pending) {
                Some(sid) => match client.get_instance(&spec.account_sid, creds, &sid).await {
                    Ok(fetched) => Observation::Fetched(fetched),
                    Err(e) => Observation::Failed(e.to_string()),
                },
                None => match client.discover(&spec.account_sid, creds).await {
                    Ok(Discovery::None) if pending_since.as_deref().is_some_and(still_in_flight) => {
                        Observation::Failed(format!(
                            "a create for {} started at {} may still be in flight at Twilio, so \"no instance\" is not yet an answer; run plan again in a minute (creating now could make a second instance)",
                            spec.account_sid,
                            pending_since.as_deref().unwrap_or("?")
                        ))
                    }
                    Ok(discovery) => Observation::Discovered(discovery),
                    Err(e) => Observation::Failed(e.to_string()),
                },
            };
            (name.clone(), observation)
        }
    });
    let mut results = futures::stream::iter(lookups).buffer_unordered(parallelism.max(1));
    let mut observations = Observations::new();
    while let Some((name, observation)) = results.next().await {
        observations.insert(name, observation);
        observed_one();
    }
    observations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_pending_creates_are_still_in_flight() {
        let now = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let old = humantime::format_rfc3339_seconds(SystemTime::now() - Duration::from_secs(120))
            .to_string();
        assert!(still_in_flight(&now));
        assert!(!still_in_flight(&old));
        assert!(still_in_flight("garbage"));
    }
}
