//! The apply engine: carries out a plan, and only what it says.
//!
//! Creates run concurrently (bounded by the parallelism); every state change goes through one
//! writer thread that commits in groups, so a pending-create record is durable before its POST
//! is sent and a SID is durable right after its 201. A create whose outcome is unknown keeps its
//! pending record for the next plan to resolve by discovery: it is never POSTed twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use tokio::sync::{oneshot, watch, Semaphore};

use crate::client::{ApiError, Fetched, FlexClient, Instance, InstanceStatus};
use crate::config::Config;
use crate::credentials::Credentials;
use crate::history::HistoryChange;
use crate::plan::{Action, Plan, ResourceChange};
use crate::sid::InstanceSid;
use crate::state::{InstanceRecord, Origin, PendingCreate, StateUpdate};
use crate::state_store::StateStore;

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
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            parallelism: 10,
            wait: true,
            wait_timeout: Duration::from_secs(600),
            poll_interval: (Duration::from_secs(1), Duration::from_secs(10)),
        }
    }
}

/// What happens during apply, for people (progress) and machines (`--json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Apply begins.
    ApplyStart {
        /// Instances to create.
        create: usize,
        /// Instances to adopt.
        adopt: usize,
    },
    /// A create is about to be sent.
    ApplyProgress {
        /// `flex_instance.<name>`.
        address: String,
        /// create or adopt.
        action: String,
    },
    /// A change took effect and is recorded.
    ApplyComplete {
        /// `flex_instance.<name>`.
        address: String,
        /// create or adopt.
        action: String,
        /// The instance.
        flex_instance_sid: String,
        /// Seconds since this change started.
        elapsed_seconds: f64,
    },
    /// A change failed.
    ApplyErrored {
        /// `flex_instance.<name>`.
        address: String,
        /// create or adopt.
        action: String,
        /// The instance, when it exists and is recorded (e.g. it was created but provisioning
        /// failed or the wait timed out).
        flex_instance_sid: Option<String>,
        /// What went wrong and what to do.
        error: String,
    },
    /// A new instance changed status while waiting.
    StatusChange {
        /// `flex_instance.<name>`.
        address: String,
        /// The instance.
        flex_instance_sid: String,
        /// The new status.
        status: String,
        /// Seconds since this change started.
        elapsed_seconds: f64,
    },
    /// The end.
    ChangeSummary {
        /// Instances created.
        created: usize,
        /// Instances adopted.
        adopted: usize,
        /// Changes that failed.
        failed: usize,
    },
}

/// Receives events as they happen.
pub trait Reporter: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
}

/// How one change ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeOutcome {
    /// Created (and recorded) this instance.
    Created(InstanceSid),
    /// Adopted (recorded) this instance.
    Adopted(InstanceSid),
    /// Failed; the message says why and what to do. The SID is set when the instance exists
    /// and is recorded (created or adopted, then provisioning failed or the wait ended).
    Failed {
        /// The recorded instance, if any.
        sid: Option<InstanceSid>,
        /// Why, and what to do.
        error: String,
    },
    /// Not started because of an interrupt.
    NotStarted,
}

/// The result of an apply run.
#[derive(Debug, Clone, Default)]
pub struct ApplyReport {
    /// Outcome by address, in address order.
    pub outcomes: BTreeMap<String, (Action, ChangeOutcome)>,
    /// Whether an interrupt arrived.
    pub interrupted: bool,
}

impl ApplyReport {
    /// Counts (created, adopted, failed).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for (_, outcome) in self.outcomes.values() {
            match outcome {
                ChangeOutcome::Created(_) => counts.0 += 1,
                ChangeOutcome::Adopted(_) => counts.1 += 1,
                ChangeOutcome::Failed { .. } => counts.2 += 1,
                ChangeOutcome::NotStarted => {}
            }
        }
        counts
    }

    /// Lines for the audit trail.
    pub fn history(&self) -> Vec<HistoryChange> {
        self.outcomes
            .iter()
            .map(|(address, (action, outcome))| {
                let (sid, text) = match outcome {
                    ChangeOutcome::Created(sid) | ChangeOutcome::Adopted(sid) => {
                        (Some(sid.to_string()), "ok".to_owned())
                    }
                    ChangeOutcome::Failed { sid, error } => (
                        sid.as_ref().map(|s| s.to_string()),
                        format!("failed: {error}"),
                    ),
                    ChangeOutcome::NotStarted => (None, "not started (interrupted)".to_owned()),
                };
                HistoryChange {
                    address: address.clone(),
                    action: action_name(*action).to_owned(),
                    flex_instance_sid: sid,
                    outcome: text,
                }
            })
            .collect()
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Adopt => "adopt",
        Action::NoOp => "no-op",
    }
}

type Ack = oneshot::Sender<Result<(), String>>;
type Update = StateUpdate;

/// The single writer of the state: a task that records queued updates in groups (one durable
/// write for everything that queued while the previous write ran).
struct Writer {
    sender: Option<tokio::sync::mpsc::UnboundedSender<(Update, Ack)>>,
    task: Option<tokio::task::JoinHandle<StateStore>>,
}

impl Writer {
    fn start(mut store: StateStore) -> Self {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(Update, Ack)>();
        let task = tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut batch = vec![first];
                while let Ok(more) = receiver.try_recv() {
                    batch.push(more);
                }
                let (updates, acks): (Vec<Update>, Vec<Ack>) = batch.into_iter().unzip();
                let result = store.record(updates).await.map_err(|e| e.to_string());
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

    fn handle(&self) -> WriterHandle {
        WriterHandle {
            sender: self.sender.clone().expect("writer is running"),
        }
    }

    /// Stops the writer after every queued update is recorded, and gives the store back.
    async fn finish(mut self) -> StateStore {
        self.sender.take();
        self.task
            .take()
            .expect("writer is running")
            .await
            .expect("the state writer does not panic")
    }
}

#[derive(Clone)]
struct WriterHandle {
    sender: tokio::sync::mpsc::UnboundedSender<(Update, Ack)>,
}

impl WriterHandle {
    /// Queues an update and waits until it is durable.
    async fn write(&self, update: Update) -> Result<(), String> {
        let (ack, done) = oneshot::channel();
        self.sender
            .send((update, ack))
            .map_err(|_| "the state writer stopped".to_owned())?;
        done.await
            .unwrap_or_else(|_| Err("the state writer stopped".to_owned()))
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
    /// Counts interrupts (Ctrl-C, SIGTERM): 1 = start nothing new, 2 = stop waiting.
    pub interrupts: watch::Receiver<u32>,
}

/// Carries out `plan` against the locked `store`; returns the store (for history) and what
/// happened.
pub async fn execute(
    plan: &Plan,
    store: StateStore,
    ctx: ApplyContext<'_>,
) -> (StateStore, ApplyReport) {
    let changes: Vec<&ResourceChange> = plan
        .changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .collect();
    let summary = plan.summary();
    ctx.reporter.event(&Event::ApplyStart {
        create: summary.create,
        adopt: summary.adopt,
    });
    let writer = Writer::start(store);
    let handle = writer.handle();
    let slots = Arc::new(Semaphore::new(ctx.options.parallelism.max(1)));
    let ctx = &ctx;
    let mut tasks: FuturesUnordered<_> = changes
        .into_iter()
        .map(|change| {
            let handle = handle.clone();
            let slots = slots.clone();
            async move {
                let outcome = run_change(change, ctx, &handle, &slots).await;
                (change.address.clone(), change.action, outcome)
            }
        })
        .collect();
    let mut report = ApplyReport::default();
    while let Some((address, action, outcome)) = tasks.next().await {
        report.outcomes.insert(address, (action, outcome));
    }
    drop(tasks);
    drop(handle);
    report.interrupted = *ctx.interrupts.borrow() > 0;
    let (created, adopted, failed) = report.counts();
    ctx.reporter.event(&Event::ChangeSummary {
        created,
        adopted,
        failed,
    });
    (writer.finish().await, report)
}

async fn run_change(
    change: &ResourceChange,
    ctx: &ApplyContext<'_>,
    writer: &WriterHandle,
    slots: &Semaphore,
) -> ChangeOutcome {
    let started = Instant::now();
    let Ok(_slot) = slots.acquire().await else {
        return ChangeOutcome::NotStarted;
    };
    if *ctx.interrupts.borrow() > 0 {
        return ChangeOutcome::NotStarted;
    }
    let name = &change.name;
    let action = action_name(change.action).to_owned();
    let fail_with = |sid: Option<&InstanceSid>, error: String| {
        ctx.reporter.event(&Event::ApplyErrored {
            address: change.address.clone(),
            action: action.clone(),
            flex_instance_sid: sid.map(|s| s.to_string()),
            error: error.clone(),
        });
        ChangeOutcome::Failed {
            sid: sid.cloned(),
            error,
        }
    };
    let fail = |error: String| fail_with(None, error);
    let Some(credentials) = ctx.credentials.get(name) else {
        return fail(format!("no credentials resolved for instance `{name}`"));
    };
    let spec = ctx.config.instances.get(name);
    let account = &change.account_sid;
    ctx.reporter.event(&Event::ApplyProgress {
        address: change.address.clone(),
        action: action.clone(),
    });

    // Adopt: record the discovered SID; no POST.
    let adopt_sid = match change.action {
        Action::Adopt => change
            .after
            .as_ref()
            .and_then(|a| a.flex_instance_sid.clone()),
        _ => None,
    };
    if let Some(sid) = adopt_sid {
        let instance = match ctx.client.get_instance(account, credentials, &sid).await {
            Ok(Fetched::Found(instance)) if instance.account_sid == *account => instance,
            Ok(Fetched::Found(instance)) => {
                return fail(format!(
                    "{sid} belongs to account {}, not {account}; nothing was recorded",
                    instance.account_sid
                ))
            }
            Ok(Fetched::NotFound) => {
                return fail(format!(
                    "discovered instance {sid} cannot be fetched (404); nothing was recorded"
                ))
            }
            Err(e) => {
                return fail(format!(
                    "cannot fetch discovered instance {sid}: {e}; nothing was recorded"
                ))
            }
        };
        // What an adopted instance was created with is not known: the API does not say.
        let record = InstanceRecord::observed(&instance, Origin::Adopted, None);
        if let Err(e) = writer
            .write(Update::Record {
                name: name.clone(),
                record,
            })
            .await
        {
            return fail(format!("cannot record adopted instance {sid}: {e}"));
        }
        ctx.reporter.event(&Event::ApplyComplete {
            address: change.address.clone(),
            action: "adopt".into(),
            flex_instance_sid: sid.to_string(),
            elapsed_seconds: started.elapsed().as_secs_f64(),
        });
        drop(_slot);
        return match wait_for(change, &instance, ctx, writer, started).await {
            Ok(()) => ChangeOutcome::Adopted(sid),
            Err(e) => fail_with(Some(&sid), e),
        };
    }

    // Create: pending record first, durable, then exactly one POST.
    let conversations_default = spec.and_then(|s| s.conversations_default());
    let pending = PendingCreate {
        account_sid: account.clone(),
        address: change.address.clone(),
        conversations_default,
        started_at: crate::util::now_rfc3339(),
    };
    if let Err(e) = writer
        .write(Update::Pending {
            name: name.clone(),
            pending,
        })
        .await
    {
        return fail(format!(
            "cannot record the pending create, so nothing was sent: {e}"
        ));
    }
    let instance = match ctx.client.create_instance(account, credentials, conversations_default).await {
        Ok(instance) => instance,
        Err(e @ ApiError::OutcomeUnknown { .. }) => {
            return fail(format!(
                "{e}. The pending create stays recorded; the next `flexform plan` resolves it by discovery (adopt if it exists, create if not)"
            ))
        }
        Err(e) if e.status() == Some(409) => {
            // The account already has an instance (made outside flexform, or by an earlier
            // create whose answer was lost): keep the pending record, so that the next plan
            // finds it by discovery and adopts it rather than creating again.
            return fail(format!(
                "{e}. The account already has a Flex instance; the next `flexform plan` adopts it"
            ));
        }
        Err(e) => {
            // A definite answer: nothing was created. Forget the pending record.
            let _ = writer.write(Update::ClearPending { name: name.clone() }).await;
            return fail(e.to_string());
        }
    };
    let sid = instance.flex_instance_sid.clone();
    let record = InstanceRecord::observed(&instance, Origin::Created, conversations_default);
    if let Err(e) = writer
        .write(Update::Record {
            name: name.clone(),
            record,
        })
        .await
    {
        return fail(format!(
            "created {sid} but could not record it: {e}. Record it with `flexform import {name} {sid}` once the state is writable"
        ));
    }
    ctx.reporter.event(&Event::ApplyComplete {
        address: change.address.clone(),
        action: "create".into(),
        flex_instance_sid: sid.to_string(),
        elapsed_seconds: started.elapsed().as_secs_f64(),
    });
    drop(_slot);
    match wait_for(change, &instance, ctx, writer, started).await {
        Ok(()) => ChangeOutcome::Created(sid),
        Err(e) => fail_with(Some(&sid), e),
    }
}

/// Polls a new instance until it is ready, failed, the wait times out, or a second interrupt.
async fn wait_for(
    change: &ResourceChange,
    first: &Instance,
    ctx: &ApplyContext<'_>,
    writer: &WriterHandle,
    started: Instant,
) -> Result<(), String> {
    let sid = &first.flex_instance_sid;
    let mut status = first.status.clone();
    let report_status = |status: &InstanceStatus| {
        ctx.reporter.event(&Event::StatusChange {
            address: change.address.clone(),
            flex_instance_sid: sid.to_string(),
            status: status.to_string(),
            elapsed_seconds: started.elapsed().as_secs_f64(),
        })
    };
    report_status(&status);
    if !ctx.options.wait {
        return Ok(());
    }
    let credentials = ctx.credentials.get(&change.name).ok_or("no credentials")?;
    let deadline = Instant::now() + ctx.options.wait_timeout;
    let (mut delay, max_delay) = ctx.options.poll_interval;
    let mut interrupts = ctx.interrupts.clone();
    while status == InstanceStatus::CreationInProgress {
        let now = Instant::now();
        if now >= deadline {
            return Err(format!(
                "{sid} is recorded and still provisioning after {}; run `flexform plan` later to check on it",
                humantime::format_duration(ctx.options.wait_timeout)
            ));
        }
        let sleep = tokio::time::sleep(delay.min(deadline - now));
        tokio::select! {
            _ = sleep => {}
            _ = async {
                while *interrupts.borrow_and_update() < 2 {
                    if interrupts.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            } => {
                return Err(format!("{sid} is recorded; stopped waiting for it (interrupted)"));
            }
        }
        delay = (delay * 2).min(max_delay);
        match ctx
            .client
            .get_instance(&change.account_sid, credentials, sid)
            .await
        {
            Ok(Fetched::Found(instance)) => {
                if instance.status != status {
                    status = instance.status.clone();
                    report_status(&status);
                    let _ = writer
                        .write(Update::Status {
                            name: change.name.clone(),
                            flex_instance_sid: instance.flex_instance_sid,
                            status: instance.status,
                            date_updated: instance.date_updated,
                            observed_at: crate::util::now_rfc3339(),
                        })
                        .await;
                }
            }
            Ok(Fetched::NotFound) => {
                return Err(format!(
                    "{sid} disappeared while provisioning (404); run `flexform plan`"
                ));
            }
            Err(e) => {
                tracing::warn!("{}: polling {sid} failed: {e}", change.address);
            }
        }
    }
    match status {
        InstanceStatus::CreationFailed => Err(format!(
            "provisioning of {sid} failed (creation-failed); it is recorded, and the next plan proposes a new create"
        )),
        _ => Ok(()),
    }
}
