//! `TokenBucket`: the simulator's rate limit, a pure value that is told the time.

use std::time::{Duration, Instant};

/// A token bucket holding up to `max(1, rate)` tokens and refilled at `rate` tokens a second.
/// A request takes one token; when none is left it is refused, and told how long to wait.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` requests a second (`rate` must be finite and above zero).
    pub fn new(rate: f64, now: Instant) -> Self {
        debug_assert!(rate.is_finite() && rate > 0.0);
        let capacity = rate.max(1.0);
        Self {
            rate,
            capacity,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes a token at `now`; when there is none, returns how long until there is one.
    /// A refused request takes nothing.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// The `Retry-After` value for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_gets_the_capacity_then_waits_for_the_refill() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(2.0, t0);
        assert!(bucket.try_take(t0).is_ok());
        assert!(bucket.try_take(t0).is_ok());
        let wait = bucket.try_take(t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Refused requests take nothing: the wait shrinks only with time.
        assert_eq!(bucket.try_take(t0).unwrap_err(), Duration::from_millis(500));
        assert!(
            bucket
                .try_take(t0 + Duration::from_millis(250))
                .unwrap_err()
                .abs_diff(Duration::from_millis(250))
                < Duration::from_micros(1)
        );
        assert!(bucket.try_take(t0 + Duration::from_millis(500)).is_ok());
        assert!(bucket.try_take(t0 + Duration::from_millis(500)).is_err());
    }

    #[test]
    fn the_bucket_never_holds_more_than_its_capacity() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(3.0, t0);
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(bucket.try_take(later).is_ok());
        }
        assert!(bucket.try_take(later).is_err());
    }

    #[test]
    fn a_rate_below_one_still_lets_one_request_through() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(0.5, t0);
        assert!(bucket.try_take(t0).is_ok());
        assert_eq!(bucket.try_take(t0).unwrap_err(), Duration::from_secs(2));
        assert!(bucket.try_take(t0 + Duration::from_secs(2)).is_ok());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_of_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(500)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
