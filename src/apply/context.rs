//! What apply is given besides the plan: its options and its context (client, credentials,
//! reporter, stop requests), shared by the engine and the wait for provisioning.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::events::Reporter;
use crate::client::FlexClient;
use crate::config::credentials::Credentials;
use crate::config::Config;
use crate::support::stop::Stop;

/// How apply behaves.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Most creates in flight at once.
    pub parallelism: usize,
    /// Poll new instances until they settle.
    pub wait: bool,
    /// Give up waiting after this long (the instance stays recorded).
    pub wait_timeout: Duration,
    /// First and longest poll interval while waiting.
    pub poll_interval: (Duration, Duration),
    /// How long a create may wait to be sent (for a concurrency slot, or out a 429); after
    /// it, the create is given up unsent.
    pub send_window: Duration,
    /// The client's time limit for one request: a create sent at the end of its send window
    /// may be in flight this much longer.
    pub request_timeout: Duration,
    /// Creates sent for one instance at most, when earlier ones had an unknown outcome and
    /// discovery then showed they did not take effect.
    pub max_create_attempts: u32,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            parallelism: 10,
            wait: true,
            wait_timeout: Duration::from_secs(600),
            poll_interval: (Duration::from_secs(1), Duration::from_secs(10)),
            send_window: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            max_create_attempts: 6,
        }
    }
}

/// Everything apply needs besides the plan.
pub struct ApplyContext<'a> {
    /// The API client.
    pub client: &'a FlexClient,
    /// The configuration (for `conversations.default`).
    pub config: &'a Config,
    /// Credentials by instance name.
    pub credentials: &'a BTreeMap<String, Credentials>,
    /// Behaviour.
    pub options: ApplyOptions,
    /// Where events go.
    pub reporter: Arc<dyn Reporter>,
    /// Ctrl-C or SIGTERM: send nothing new, stop waiting, record what is on the wire.
    pub stop: Stop,
}
