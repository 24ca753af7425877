//! `ConnectionBudget`: keeps the connections (TLS handshakes) a client opens within its parallelism.
//!
//! hyper's pool races every request's pool checkout against a new connection. A request that
//! starts just before a finished request's connection is back in the pool therefore opens a
//! connection it does not need (hyper keeps it, idle). This connector layer closes that race:
//! while the client has as many connections as its parallelism, a new connection is opened only
//! for a request that still waits for one after [`GRACE`]; a connection that hyper would open in
//! the background, after the pool served the request, is not opened at all.
//!
//! The budget counts connections opened, not closed ones (reqwest does not say when a connection
//! closes): after the server closes connections, a request waits [`GRACE`] before opening one.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a request waits for a pooled connection before it opens one over the budget.
pub(crate) const GRACE: Duration = Duration::from_secs(1);

tokio::task_local! {
    /// Set while a request of this client is sent: a connect polled without it was left to the
    /// background by hyper because the pool served its request.
    static SENDING: ();
}

/// Runs `send` (a request being sent) so that the budget knows a request waits on it.
pub(crate) async fn sending<F: Future>(send: F) -> F::Output {
    SENDING.scope((), send).await
}

fn in_request() -> bool {
    SENDING.try_with(|_| ()).is_ok()
}

/// The connections a client may open without waiting, shared by its clones.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionBudget {
    max: usize,
    opened: Arc<AtomicUsize>,
}

impl ConnectionBudget {
    /// A budget of `max` connections (at least one).
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            opened: Arc::default(),
        }
    }

    /// Connections opened and not failed so far.
    #[cfg(test)]
    fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    /// Takes a connection within the budget, if one is left.
    fn try_take(&self) -> Option<Taken> {
        self.opened
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Taken {
                opened: Some(self.opened.clone()),
            })
    }

    /// Takes a connection over the budget.
    fn take_over(&self) -> Taken {
        self.opened.fetch_add(1, Ordering::SeqCst);
        Taken {
            opened: Some(self.opened.clone()),
        }
    }
}

/// A connection being opened: given back to the budget unless it opens.
struct Taken {
    opened: Option<Arc<AtomicUsize>>,
}

impl Taken {
    fn keep(mut self) {
        self.opened = None;
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if let Some(opened) = self.opened.take() {
            opened.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The error of a background connect that the budget did not open.
#[derive(Debug, thiserror::Error)]
#[error("not opened: the connection budget is spent and a pooled connection served the request")]
pub(crate) struct NotNeeded;

impl<S> tower_layer::Layer<S> for ConnectionBudget {
    type Service = Budgeted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Budgeted {
            inner,
            budget: self.clone(),
        }
    }
}

/// The connector wrapped by a [`ConnectionBudget`].
#[derive(Debug, Clone)]
pub(crate) struct Budgeted<S> {
    inner: S,
    budget: ConnectionBudget,
}

impl<S, R> tower_service::Service<R> for Budgeted<S>
where
    S: tower_service::Service<R, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    R: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // The clone that was polled ready is the one called (tower's contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let budget = self.budget.clone();
        Box::pin(async move {
            let taken = match budget.try_take() {
                Some(taken) => taken,
                None => {
                    // Every connection of the budget is open: one of them is on its way back to
                    // the pool, where hyper's checkout (racing this future) will find it.
                    let left_to_background = std::future::poll_fn(|_| {
                        if in_request() {
                            Poll::Pending
                        } else {
                            Poll::Ready(())
                        }
                    });
                    tokio::select! {
                        biased;
                        () = left_to_background => return Err(NotNeeded.into()),
                        () = tokio::time::sleep(GRACE) => {}
                    }
                    if !in_request() {
                        return Err(NotNeeded.into());
                    }
                    tracing::debug!(
                        "no pooled connection came back within {} ms: opening one more \
                         (the server may have closed some)",
                        GRACE.as_millis()
                    );
                    budget.take_over()
                }
            };
            let connection = inner.call(request).await?;
            taken.keep();
            Ok(connection)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_layer::Layer;
    use tower_service::Service;

    /// A connector that counts its connects and answers at once (with an error when
    /// `refuses`).
    #[derive(Clone, Default)]
    struct Counting {
        connects: Arc<AtomicUsize>,
        refuses: bool,
    }

    impl Counting {
        fn count(&self) -> usize {
            self.connects.load(Ordering::SeqCst)
        }
    }

    impl Service<()> for Counting {
        type Response = ();
        type Error = BoxError;
        type Future = std::future::Ready<Result<(), BoxError>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, (): ()) -> Self::Future {
            self.connects.fetch_add(1, Ordering::SeqCst);
            std::future::ready(if self.refuses {
                Err("refused".into())
            } else {
                Ok(())
            })
        }
    }

    #[tokio::test]
    async fn within_the_budget_connects_at_once_in_or_out_of_a_request() {
        let connects = Counting::default();
        let mut service = ConnectionBudget::new(2).layer(connects.clone());
        service.call(()).await.unwrap();
        sending(service.call(())).await.unwrap();
        assert_eq!(connects.count(), 2);
    }

    #[tokio::test]
    async fn a_spent_budget_opens_nothing_for_a_background_connect() {
        let connects = Counting::default();
        let budget = ConnectionBudget::new(1);
        let mut service = budget.layer(connects.clone());
        service.call(()).await.unwrap();
        let err = service.call(()).await.unwrap_err();
        assert!(err.to_string().contains("budget is spent"), "{err}");
        assert_eq!(connects.count(), 1);
        assert_eq!(budget.opened(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_lets_a_waiting_request_connect_after_the_grace() {
        let connects = Counting::default();
        let budget = ConnectionBudget::new(1);
        let mut service = budget.layer(connects.clone());
        service.call(()).await.unwrap();
        let started = tokio::time::Instant::now();
        sending(service.call(())).await.unwrap();
        assert_eq!(started.elapsed(), GRACE);
        assert_eq!(connects.count(), 2);
        assert_eq!(budget.opened(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connect_moved_to_the_background_while_waiting_is_dropped() {
        let connects = Counting::default();
        let mut service = ConnectionBudget::new(1).layer(connects.clone());
        service.call(()).await.unwrap();
        // Polled first inside a request (it waits), then, like hyper's background connect, in
        // a task of its own.
        let mut connect = service.call(());
        let waited = sending(async {
            std::future::poll_fn(|cx| Poll::Ready(connect.as_mut().poll(cx).is_pending())).await
        })
        .await;
        assert!(waited, "inside a request, a spent budget waits");
        let err = tokio::spawn(connect).await.unwrap().unwrap_err();
        assert!(err.to_string().contains("budget is spent"), "{err}");
        assert_eq!(connects.count(), 1);
    }

    #[tokio::test]
    async fn a_failed_connect_gives_its_place_back() {
        let refusing = Counting {
            refuses: true,
            ..Counting::default()
        };
        let budget = ConnectionBudget::new(1);
        let mut service = budget.layer(refusing.clone());
        assert!(service.call(()).await.is_err());
        assert_eq!(refusing.count(), 1);
        assert_eq!(budget.opened(), 0);
    }
}
