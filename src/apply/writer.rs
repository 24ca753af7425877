//! The single writer of the state during apply: a task that records queued updates in groups
//! (one durable write for everything that queued while the previous write ran), so that many
//! concurrent creates cost one journal append and one fsync per group.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::state::{StateError, StateStore, StateUpdate};

/// What a queued update learns: durable, or why not.
pub(super) type WriteResult = Result<(), Arc<StateError>>;

type Ack = oneshot::Sender<WriteResult>;

/// The writer task and the store it owns while it runs.
pub(super) struct Writer {
    sender: Option<mpsc::UnboundedSender<(StateUpdate, Ack)>>,
    task: Option<tokio::task::JoinHandle<StateStore>>,
}

impl Writer {
    /// Starts the writer; it owns `store` until [`Writer::finish`].
    pub(super) fn start(mut store: StateStore) -> Self {
        let (sender, mut receiver) = mpsc::unbounded_channel::<(StateUpdate, Ack)>();
        let task = tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut batch = vec![first];
                while let Ok(more) = receiver.try_recv() {
                    batch.push(more);
                }
                let (updates, acks): (Vec<StateUpdate>, Vec<Ack>) = batch.into_iter().unzip();
                let result = store.record(updates).await.map_err(Arc::new);
                for ack in acks {
                    let _ = ack.send(result.clone());
                }
            }
            store
        });
        Self {
            sender: Some(sender),
            task: Some(task),
        }
    }

    /// A handle to queue updates with.
    pub(super) fn handle(&self) -> WriterHandle {
        WriterHandle {
            sender: self.sender.clone().expect("writer is running"),
        }
    }

    /// Stops the writer after every queued update is recorded, and gives the store back.
    pub(super) async fn finish(mut self) -> StateStore {
        self.sender.take();
        self.task
            .take()
            .expect("writer is running")
            .await
            .expect("the state writer does not panic")
    }
}

/// Queues updates for the writer.
#[derive(Clone)]
pub(super) struct WriterHandle {
    sender: mpsc::UnboundedSender<(StateUpdate, Ack)>,
}

impl WriterHandle {
    /// Queues an update and waits until it is durable.
    pub(super) async fn write(&self, update: StateUpdate) -> WriteResult {
        let (ack, done) = oneshot::channel();
        self.sender
            .send((update, ack))
            .map_err(|_| Arc::new(StateError::WriterStopped))?;
        done.await
            .unwrap_or_else(|_| Err(Arc::new(StateError::WriterStopped)))
    }
}
