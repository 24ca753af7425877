//! Observation: look at every configured instance concurrently (GET the recorded SID, or
//! discover the account), and finish all of it before anything is decided.

use std::collections::BTreeMap;

use futures::StreamExt;

use crate::client::FlexClient;
use crate::config::Config;
use crate::credentials::Credentials;
use crate::plan::{Observation, Observations};
use crate::progress::Progress;
use crate::state::State;

/// Observes every instance of `config`: recorded ones by SID, the others by discovery, at most
/// `parallelism` at a time. Instances only in the state are not observed (orphans have no
/// credentials). Failures become [`Observation::Failed`], never a panic or an early return.
pub async fn observe(
    client: &FlexClient,
    config: &Config,
    state: &State,
    credentials: &BTreeMap<String, Credentials>,
    parallelism: usize,
    progress: &Progress,
) -> Observations {
    let total = config.instances.len();
    progress.start(total as u64, "observing");
    let lookups = config.instances.iter().map(|(name, spec)| {
        let recorded = state
            .instances
            .get(name)
            .map(|r| r.flex_instance_sid.clone());
        let creds = credentials.get(name);
        let pending = state.pending.contains_key(name);
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
        progress.inc();
    }
    progress.finish();
    observations
}
