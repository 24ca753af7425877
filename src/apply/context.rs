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
    /// After a create answered with a 5xx (the request is over, but the server may still act
    /// on it), how long to wait before looking by discovery.
    pub settle: Duration,
    /// How long one instance's create may spend on ambiguous answers (waiting, looking, sending
    /// again) before apply gives up on it; a create sent within it is followed to its end.
    pub create_budget: Duration,
    /// First and longest back-off (full jitter) added to the settle period before a create is
    /// sent again.
    pub resend_backoff: (Duration, Duration),
    /// Answers in a row, for one create, that did not come from Twilio (a gateway's page)
    /// after which apply gives up on it: the path to Twilio is failing, not Twilio.
    pub gateway_answers: u32,
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
            settle: Duration::from_secs(5),
            create_budget: Duration::from_secs(120),
            resend_backoff: (Duration::from_millis(100), Duration::from_secs(1)),
            gateway_answers: 8,
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
