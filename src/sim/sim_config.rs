//! How the simulator is set up: [`SimConfig`], what [`spawn`](super::spawn) is given, with its
//! defaults and the ranges it checks.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::tls::TlsFiles;

/// How the simulator behaves. Build it with struct update syntax over [`SimConfig::default`].
#[derive(Clone)]
pub struct SimConfig {
    /// Address to listen on; port 0 picks a free port. Default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// How long a new instance stays `creation-in-progress` before it turns `ready`. Default 2 s.
    pub ready_after: Duration,
    /// Delay added to every Flex API answer (test-control endpoints are not delayed).
    pub latency: Duration,
    /// Share of Flex API requests answered 503 before anything else happens, from 0.0 to 1.0.
    pub fail_rate: f64,
    /// Share of `POST /v2/Instances` answered 503 (Twilio 20503) without creating, from 0.0
    /// to 1.0.
    pub create_fail_rate: f64,
    /// Flex API requests per second beyond which requests are answered 429 with `Retry-After`.
    pub rate_limit: Option<f64>,
    /// The only accepted Basic auth (user, password); `None` accepts any non-empty pair.
    pub credentials: Option<(String, String)>,
    /// Seed for instance SIDs and fault injection; `None` draws from the operating system.
    pub seed: Option<u64>,
    /// JSON file that keeps the instances across restarts: loaded on start when it exists,
    /// rewritten durably after every change, before the change is answered.
    pub data: Option<PathBuf>,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            ready_after: Duration::from_secs(2),
            latency: Duration::ZERO,
            fail_rate: 0.0,
            create_fail_rate: 0.0,
            rate_limit: None,
            credentials: None,
            seed: None,
            data: None,
            tls: None,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("listen", &self.listen)
            .field("ready_after", &self.ready_after)
            .field("latency", &self.latency)
            .field("fail_rate", &self.fail_rate)
            .field("create_fail_rate", &self.create_fail_rate)
            .field("rate_limit", &self.rate_limit)
            .field(
                "credentials",
                &self
                    .credentials
                    .as_ref()
                    .map(|(user, _)| (user.as_str(), "<redacted>")),
            )
            .field("seed", &self.seed)
            .field("data", &self.data)
            .field("tls", &self.tls)
            .finish()
    }
}

impl SimConfig {
    /// Checks the values that have a range; the error says which and why.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.fail_rate) {
            return Err(format!(
                "fail rate must be between 0.0 and 1.0, found {}",
                self.fail_rate
            ));
        }
        if !(0.0..=1.0).contains(&self.create_fail_rate) {
            return Err(format!(
                "create fail rate must be between 0.0 and 1.0, found {}",
                self.create_fail_rate
            ));
        }
        if let Some(rate) = self.rate_limit {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!(
                    "rate limit must be a number of requests per second above 0, found {rate}"
                ));
            }
        }
        if let Some((user, password)) = &self.credentials {
            if user.is_empty() || password.is_empty() {
                return Err("the accepted key and secret must not be empty".to_owned());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let config = SimConfig {
            credentials: Some(("SKkey".to_owned(), "hunter2".to_owned())),
            ..SimConfig::default()
        };
        let text = format!("{config:?}");
        assert!(
            text.contains("SKkey") && text.contains("<redacted>"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn defaults_are_as_documented() {
        let config = SimConfig::default();
        assert_eq!(config.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.ready_after, Duration::from_secs(2));
        assert_eq!(config.latency, Duration::ZERO);
        assert_eq!(config.fail_rate, 0.0);
        assert!(config.rate_limit.is_none() && config.credentials.is_none());
        assert!(config.validate().is_ok());
    }

    #[test]
    fn validate_rejects_out_of_range_values() {
        for fail_rate in [-0.1, 1.5, f64::NAN] {
            let config = SimConfig {
                fail_rate,
                ..SimConfig::default()
            };
            assert!(config.validate().unwrap_err().contains("fail rate"));
        }
        for rate in [0.0, -1.0, f64::INFINITY, f64::NAN] {
            let config = SimConfig {
                rate_limit: Some(rate),
                ..SimConfig::default()
            };
            assert!(config.validate().unwrap_err().contains("rate limit"));
        }
        let config = SimConfig {
            credentials: Some(("key".to_owned(), String::new())),
            ..SimConfig::default()
        };
        assert!(config.validate().is_err());
    }
}
