//! The retry policy: a pure function of (method, outcome, attempt), unit-tested by table.
//!
//! - 429 was never processed (Twilio), so it is always safe to retry, honouring Retry-After.
//! - Reads retry on 5xx gateway errors, connect errors and timeouts, with full-jitter backoff.
//! - A POST that may have reached the server is never retried: its outcome is unknown and the
//!   caller resolves it by looking (discovery).

use std::time::Duration;

/// Tunables of the retry policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Base delay of the exponential backoff.
    pub base: Duration,
    /// Upper bound of one backoff delay.
    pub cap: Duration,
    /// Upper bound of a server-requested Retry-After.
    pub retry_after_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(20),
            retry_after_cap: Duration::from_secs(60),
        }
    }
}

/// Whether a request changes anything on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Reads: safe to repeat.
    Get,
    /// Creates: never repeated once it may have been received.
    Post,
}

/// What one attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer with this status and, if sent, its Retry-After.
    Status {
        /// HTTP status code.
        code: u16,
        /// Parsed Retry-After, if any.
        retry_after: Option<Duration>,
    },
    /// No connection could be made: nothing was sent.
    ConnectFailed,
    /// The server's certificate is not trusted: nothing was sent, and trying again cannot
    /// change that.
    Untrusted,
    /// The request timed out after it may have been sent.
    TimedOut,
    /// The connection broke after the request may have been sent.
    ConnectionLost,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Stop: the outcome is final (success or error) for the caller to interpret.
    Stop,
    /// Stop: a POST may or may not have taken effect; never retry it blindly.
    OutcomeUnknown,
}

impl RetryPolicy {
    /// Decides after attempt number `attempt` (1-based). `jitter` in [0, 1) picks the point in
    /// the full-jitter window, so that the function stays pure.
    pub fn decide(&self, method: Method, outcome: Outcome, attempt: u32, jitter: f64) -> Decision {
        let exhausted = attempt >= self.max_attempts;
        let backoff = || {
            let exp = self
                .base
                .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
                .min(self.cap);
            exp.mul_f64(jitter.clamp(0.0, 1.0))
        };
        match outcome {
            Outcome::Status {
                code: 429,
                retry_after,
            } => {
                if exhausted {
                    Decision::Stop
                } else {
                    Decision::RetryAfter(
                        retry_after.map_or_else(backoff, |d| d.min(self.retry_after_cap)),
                    )
                }
            }
            Outcome::Status { code, .. } if code < 500 => Decision::Stop,
            Outcome::Status { code, retry_after } => match method {
                Method::Post => Decision::OutcomeUnknown,
                Method::Get if matches!(code, 500 | 502 | 503 | 504) && !exhausted => {
                    Decision::RetryAfter(
                        retry_after.map_or_else(backoff, |d| d.min(self.retry_after_cap)),
                    )
                }
                Method::Get => Decision::Stop,
            },
            Outcome::Untrusted => Decision::Stop,
            Outcome::ConnectFailed => {
                if exhausted {
                    Decision::Stop
                } else {
                    Decision::RetryAfter(backoff())
                }
            }
            Outcome::TimedOut | Outcome::ConnectionLost => match method {
                Method::Post => Decision::OutcomeUnknown,
                Method::Get if exhausted => Decision::Stop,
                Method::Get => Decision::RetryAfter(backoff()),
            },
        }
    }
}

/// Parses a Retry-After header: whole seconds, or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;
    use Method::*;

    fn status(code: u16) -> Outcome {
        Outcome::Status {
            code,
            retry_after: None,
        }
    }

    #[test]
    fn decision_table() {
        let p = RetryPolicy::default();
        let s = Duration::from_secs;
        let cases: &[(Method, Outcome, u32, Decision)] = &[
            (Get, status(200), 1, Stop),
            (Post, status(201), 1, Stop),
            (Get, status(404), 1, Stop),
            (Get, status(401), 1, Stop),
            (Post, status(409), 1, Stop),
            (
                Get,
                Outcome::Status {
                    code: 429,
                    retry_after: Some(s(1)),
                },
                1,
                RetryAfter(s(1)),
            ),
            (
                Post,
                Outcome::Status {
                    code: 429,
                    retry_after: Some(s(2)),
                },
                1,
                RetryAfter(s(2)),
            ),
            (
                Post,
                Outcome::Status {
                    code: 429,
                    retry_after: Some(s(600)),
                },
                1,
                RetryAfter(s(60)),
            ),
            (
                Get,
                Outcome::Status {
                    code: 429,
                    retry_after: Some(s(1)),
                },
                6,
                Stop,
            ),
            (Get, status(503), 1, RetryAfter(Duration::from_millis(125))),
            (Get, status(502), 2, RetryAfter(Duration::from_millis(250))),
            (Get, status(500), 3, RetryAfter(Duration::from_millis(500))),
            (Get, status(503), 6, Stop),
            (Get, status(501), 1, Stop),
            (Post, status(500), 1, OutcomeUnknown),
            (Post, status(503), 1, OutcomeUnknown),
            (Post, Outcome::TimedOut, 1, OutcomeUnknown),
            (Post, Outcome::ConnectionLost, 1, OutcomeUnknown),
            (
                Post,
                Outcome::ConnectFailed,
                1,
                RetryAfter(Duration::from_millis(125)),
            ),
            (
                Get,
                Outcome::TimedOut,
                1,
                RetryAfter(Duration::from_millis(125)),
            ),
            (Get, Outcome::ConnectFailed, 6, Stop),
            (
                Get,
                Outcome::ConnectFailed,
                5,
                RetryAfter(Duration::from_secs(2)),
            ),
            (Post, Outcome::ConnectFailed, 6, Stop),
            // Reads that timed out or lost their connection retry until the attempts run out,
            // then stop: never forever.
            (
                Get,
                Outcome::ConnectionLost,
                1,
                RetryAfter(Duration::from_millis(125)),
            ),
            (
                Get,
                Outcome::TimedOut,
                5,
                RetryAfter(Duration::from_secs(2)),
            ),
            (Get, Outcome::TimedOut, 6, Stop),
            (Get, Outcome::ConnectionLost, 6, Stop),
            (Get, Outcome::TimedOut, 7, Stop),
            // Exhausted or not, a create that may have been received is never retried.
            (Post, Outcome::TimedOut, 6, OutcomeUnknown),
            (Post, status(502), 6, OutcomeUnknown),
            (Get, status(504), 5, RetryAfter(Duration::from_secs(2))),
            (
                Get,
                Outcome::Status {
                    code: 503,
                    retry_after: Some(s(3)),
                },
                1,
                RetryAfter(s(3)),
            ),
            (
                Get,
                Outcome::Status {
                    code: 503,
                    retry_after: Some(s(3)),
                },
                6,
                Stop,
            ),
            (Get, status(499), 1, Stop),
            (Post, status(499), 1, Stop),
            (Get, status(505), 1, Stop),
            (
                Get,
                Outcome::Status {
                    code: 429,
                    retry_after: None,
                },
                2,
                RetryAfter(Duration::from_millis(250)),
            ),
            (
                Get,
                Outcome::Status {
                    code: 429,
                    retry_after: Some(s(1)),
                },
                5,
                RetryAfter(s(1)),
            ),
            // An untrusted certificate stays untrusted: no retry, for reads or creates.
            (Get, Outcome::Untrusted, 1, Stop),
            (Post, Outcome::Untrusted, 1, Stop),
        ];
        for (method, outcome, attempt, expected) in cases {
            assert_eq!(
                p.decide(*method, *outcome, *attempt, 0.5),
                *expected,
                "{method:?} {outcome:?} attempt {attempt}"
            );
        }
    }

    #[test]
    fn backoff_is_capped_and_jitter_spans_the_window() {
        let p = RetryPolicy {
            max_attempts: 100,
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.decide(Get, status(503), 30, 1.0),
            RetryAfter(Duration::from_secs(20))
        );
        assert_eq!(
            p.decide(Get, status(503), 30, 0.0),
            RetryAfter(Duration::ZERO)
        );
        // Jitter outside [0, 1] is clamped into the window.
        assert_eq!(
            p.decide(Get, status(503), 1, 7.0),
            RetryAfter(Duration::from_millis(250))
        );
        assert_eq!(
            p.decide(Get, status(503), 1, -1.0),
            RetryAfter(Duration::ZERO)
        );
    }

    /// Following the policy's own decisions, every kind of failure ends within
    /// `max_attempts` attempts: no retry loop can run forever.
    #[test]
    fn every_outcome_stops_within_the_attempts() {
        let p = RetryPolicy {
            max_attempts: 4,
            ..RetryPolicy::default()
        };
        for outcome in [
            status(429),
            status(500),
            status(503),
            Outcome::ConnectFailed,
            Outcome::TimedOut,
            Outcome::ConnectionLost,
        ] {
            for method in [Get, Post] {
                let mut attempt = 1;
                while let RetryAfter(_) = p.decide(method, outcome, attempt, 0.5) {
                    attempt += 1;
                    assert!(
                        attempt <= 4,
                        "{method:?} {outcome:?} retries past the limit"
                    );
                }
            }
        }
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
