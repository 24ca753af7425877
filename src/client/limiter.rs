//! `Limiter`: adaptive concurrency (AIMD) so that flexform stays gentle under rate limits.
//!
//! The number of requests in flight may grow by one for every window of successful answers
//! (additive increase) and halves on a 429 or 503 (multiplicative decrease), never above the
//! configured parallelism nor below one.

use std::sync::Mutex;

use tokio::sync::Notify;

/// What an answer says about load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The server is coping: the limit may grow.
    Success,
    /// The server is overloaded (429, 503): the limit shrinks.
    Overload,
    /// Says nothing about load (a 4xx, a transport error).
    Neutral,
}

impl Signal {
    /// Classifies an HTTP status.
    pub fn from_status(code: u16) -> Self {
        match code {
            429 | 503 => Signal::Overload,
            200..=299 | 404 => Signal::Success,
            _ => Signal::Neutral,
        }
    }
}

#[derive(Debug)]
struct Inner {
    limit: f64,
    in_flight: usize,
}

/// An adaptive semaphore.
#[derive(Debug)]
pub struct Limiter {
    max: usize,
    adaptive: bool,
    inner: Mutex<Inner>,
    notify: Notify,
}

/// A slot for one request; report how it went with [`Permit::finish`].
#[derive(Debug)]
pub struct Permit<'a> {
    limiter: &'a Limiter,
    done: bool,
}

impl Limiter {
    /// A limiter allowing up to `max` requests in flight, starting at `max`; it adapts to load
    /// only when `adaptive`.
    pub fn new(max: usize, adaptive: bool) -> Self {
        Self {
            max: max.max(1),
            adaptive,
            inner: Mutex::new(Inner {
                limit: max.max(1) as f64,
                in_flight: 0,
            }),
            notify: Notify::new(),
        }
    }

    /// The current limit (whole requests).
    pub fn current_limit(&self) -> usize {
        self.inner.lock().expect("limiter lock").limit as usize
    }

    /// Waits for a slot.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.notify.notified();
            {
                let mut inner = self.inner.lock().expect("limiter lock");
                if inner.in_flight < (inner.limit as usize).max(1) {
                    inner.in_flight += 1;
                    return Permit {
                        limiter: self,
                        done: false,
                    };
                }
            }
            notified.await;
        }
    }

    fn release(&self, signal: Signal) {
        let mut inner = self.inner.lock().expect("limiter lock");
        inner.in_flight = inner.in_flight.saturating_sub(1);
        if self.adaptive {
            inner.limit = next_limit(inner.limit, self.max, signal);
        }
        drop(inner);
        self.notify.notify_waiters();
    }
}

/// The AIMD rule: +1 per `limit` successes, halve on overload, within [1, max].
pub fn next_limit(limit: f64, max: usize, signal: Signal) -> f64 {
    let next = match signal {
        Signal::Success => limit + 1.0 / limit.max(1.0),
        Signal::Overload => limit / 2.0,
        Signal::Neutral => limit,
    };
    next.clamp(1.0, max as f64)
}

impl Permit<'_> {
    /// Releases the slot, adapting the limit to what the answer said.
    pub fn finish(mut self, signal: Signal) {
        self.done = true;
        self.limiter.release(signal);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.limiter.release(Signal::Neutral);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aimd_rule() {
        assert_eq!(next_limit(10.0, 10, Signal::Success), 10.0);
        assert_eq!(next_limit(8.0, 10, Signal::Overload), 4.0);
        assert_eq!(next_limit(1.0, 10, Signal::Overload), 1.0);
        assert!((next_limit(4.0, 10, Signal::Success) - 4.25).abs() < 1e-9);
        assert_eq!(next_limit(4.0, 10, Signal::Neutral), 4.0);
    }

    #[tokio::test]
    async fn never_more_in_flight_than_the_limit() {
        let limiter = Limiter::new(2, true);
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        let third =
            tokio::time::timeout(std::time::Duration::from_millis(50), limiter.acquire()).await;
        assert!(third.is_err(), "a third slot was granted");
        a.finish(Signal::Overload);
        assert_eq!(limiter.current_limit(), 1);
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(50), limiter.acquire()).await;
        assert!(
            blocked.is_err(),
            "limit 1 with one in flight granted another"
        );
    }
}
