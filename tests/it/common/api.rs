//! The Flex API client as the library-level modules drive it (`client` against wiremock,
//! `client_sim` against the simulator): the test account and key pair as the client takes them,
//! a retry policy that never slows a test down, and a client for a base URL.

use std::time::Duration;

use flexform::client::{ClientConfig, FlexClient, RetryPolicy};
use flexform::config::credentials::Credentials;
use flexform::config::secret::Secret;
use flexform::config::sid::AccountSid;

/// The account the library-level tests work on, [`super::account`]`(1)`, as the client takes
/// it.
pub fn account_sid() -> AccountSid {
    AccountSid::parse(&super::account(1)).expect("a valid account SID")
}

/// The test key pair ([`super::KEY`], [`super::SECRET`]) as the client takes it.
pub fn credentials() -> Credentials {
    Credentials {
        username: super::KEY.into(),
        password: Secret::new(super::SECRET),
        source: "test".into(),
    }
}

/// Up to `max_attempts` attempts with a 1 ms backoff, so that retries never slow a test down.
pub fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base: Duration::from_millis(1),
        ..RetryPolicy::default()
    }
}

/// A client of the Flex API at `base_url` retrying by `retry`: 2 s to connect, 5 s a request.
pub fn flex_client(base_url: &str, retry: RetryPolicy) -> FlexClient {
    flex_client_with_timeout(base_url, retry, Duration::from_secs(5))
}

/// [`flex_client`] with `request_timeout` for each request.
pub fn flex_client_with_timeout(
    base_url: &str,
    retry: RetryPolicy,
    request_timeout: Duration,
) -> FlexClient {
    FlexClient::new(ClientConfig {
        connect_timeout: Duration::from_secs(2),
        request_timeout,
        retry,
        ..ClientConfig::new(base_url.to_owned())
    })
    .expect("a client for the test server")
}
