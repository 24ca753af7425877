//! `Stop`: a request to stop (Ctrl-C, SIGTERM) that every long wait watches, so that nothing
//! new is sent after it and no wait outlives it.

use tokio::sync::watch;

/// How many stop requests (signals) have arrived; cheap to clone, shared by every task.
#[derive(Debug, Clone)]
pub struct Stop(Option<watch::Receiver<u32>>);

impl Stop {
    /// A stop that never comes (tests, benchmarks, the library used on its own).
    pub fn never() -> Self {
        Self(None)
    }

    /// A stop counted by `receiver` (see `cli::signals::listen`).
    pub fn from_receiver(receiver: watch::Receiver<u32>) -> Self {
        Self(Some(receiver))
    }

    /// How many requests have arrived.
    pub fn count(&self) -> u32 {
        self.0.as_ref().map_or(0, |r| *r.borrow())
    }

    /// Whether a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.count() > 0
    }

    /// Resolves once a stop is requested; never, for [`Stop::never`].
    pub async fn requested(&self) {
        let Some(receiver) = &self.0 else {
            return std::future::pending().await;
        };
        let mut receiver = receiver.clone();
        while *receiver.borrow_and_update() == 0 {
            if receiver.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }
}

/// The command stopped because a stop was requested; the message says what was left undone.
#[derive(Debug, thiserror::Error)]
#[error("interrupted: {0}")]
pub struct Interrupted(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_is_seen_by_every_clone() {
        let (sender, receiver) = watch::channel(0);
        let stop = Stop::from_receiver(receiver);
        let clone = stop.clone();
        assert!(!clone.is_requested());
        let waiter = tokio::spawn(async move { clone.requested().await });
        sender.send(1).unwrap();
        waiter.await.unwrap();
        assert!(stop.is_requested());
        assert_eq!(stop.count(), 1);
        assert!(!Stop::never().is_requested());
    }
}
