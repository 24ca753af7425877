//! The apply engine: runs the plan's changes concurrently, bounded by the parallelism. An
//! adopt records a discovered SID; a create makes its pending record durable, sends exactly one
//! POST, and records the SID. A create whose outcome is unknown keeps its pending record for
//! the next plan to resolve by discovery: it is never POSTed twice.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{Semaphore, SemaphorePermit};

use super::context::ApplyContext;
use super::events::Event;
use super::outcome::{ApplyError, ApplyReport, ChangeOutcome, Provisioning};
use super::wait::wait_for;
use super::writer::{Writer, WriterHandle};
use crate::client::{Answer, ApiError, Discovery, Fetched, Instance, SendGuard};
use crate::config::credentials::Credentials;
use crate::config::flex;
use crate::domain::sid::InstanceSid;
use crate::plan::{Action, Plan, ResourceChange};
use crate::state::{InstanceRecord, Origin, PendingCreate, StateStore, StateUpdate};

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
        .filter(|c| c.action != Action::Unchanged)
        .collect();
    let summary = plan.summary();
    ctx.reporter.event(&Event::ApplyStart {
        create: summary.create,
        adopt: summary.adopt,
        moved: summary.moved,
        update: summary.update,
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
                let started = Instant::now();
                let (outcome, configured, released) =
                    run_change(change, ctx, &handle, &slots).await;
                let failure = configured.as_ref().and_then(|c| c.error.as_ref());
                ctx.reporter.event(&terminal_event(
                    change,
                    &outcome,
                    failure,
                    started.elapsed(),
                ));
                (
                    change.address.clone(),
                    change.action,
                    outcome,
                    configured,
                    released,
                )
            }
        })
        .collect();
    let mut report = ApplyReport::default();
    while let Some((address, action, outcome, configured, released)) = tasks.next().await {
        match released {
            Some(Ok(released)) => {
                report.released.insert(address.clone(), released);
            }
            Some(Err(error)) => {
                report.release_failed.insert(address.clone(), error);
            }
            None => {}
        }
        if let Some(configured) = configured {
            if let Some(error) = configured.error {
                report.configuration_failed.insert(address.clone(), error);
            }
            report.configured.insert(address.clone(), configured.paths);
        }
        report.outcomes.insert(address, (action, outcome));
    }
    drop(tasks);
    drop(handle);
    report.interrupted = ctx.stop.is_requested();
    ctx.reporter.event(&Event::ChangeSummary {
        counts: report.counts(),
    });
    (writer.finish().await, report)
}

/// The records `plan` writes without sending anything: Flex configurations
/// ([`ResourceChange::record_configuration`]) and active plugins releases
/// ([`ResourceChange::record_release`]): the state updates, and their lines for the audit
/// trail (action `record`).
pub fn records(plan: &Plan) -> (Vec<StateUpdate>, Vec<crate::state::HistoryChange>) {
    let configurations = plan.records().filter_map(|(change, record)| {
        let sid = change.after.as_ref()?.flex_instance_sid.clone()?;
        let mut line = crate::state::HistoryChange::ok(
            change.address.clone(),
            "record",
            Some(sid.to_string()),
        );
        line.outcome = if record.0.is_empty() {
            "ok (no Flex configuration declared any more: its record is dropped; nothing was sent)"
                .to_owned()
        } else {
            "ok (the declared Flex configuration was in place: recorded, nothing was sent)"
                .to_owned()
        };
        line.configuration = record.0.keys().cloned().collect();
        let update = StateUpdate::Configured {
            name: change.name.clone(),
            flex_instance_sid: sid,
            configuration: record.clone(),
        };
        Some((update, line))
    });
    let releases = plan.changes.iter().filter_map(|change| {
        let record = change.record_release.clone()?;
        let sid = change.after.as_ref()?.flex_instance_sid.clone()?;
        let mut line =
            crate::state::HistoryChange::ok(change.address.clone(), "record", Some(sid.to_string()));
        line.outcome = format!(
            "ok (the active plugins release {} holds the declared versions: recorded, nothing was sent)",
            record.release_sid
        );
        let update = StateUpdate::Released {
            name: change.name.clone(),
            flex_instance_sid: sid,
            plugins: *record,
        };
        Some((update, line))
    });
    configurations.chain(releases).unzip()
}

/// The one event that ends a change: `apply_complete` (with the configuration's failure, for a
/// create, adopt or move that took effect but whose configuration did not), `apply_errored` or
/// `apply_not_started`.
fn terminal_event(
    change: &ResourceChange,
    outcome: &ChangeOutcome,
    configuration_failure: Option<&ApplyError>,
    elapsed: Duration,
) -> Event {
    let address = change.address.clone();
    let action = change.action;
    let complete = |sid: &InstanceSid, provisioning: Option<Provisioning>| Event::ApplyComplete {
        address: address.clone(),
        action,
        flex_instance_sid: sid.to_string(),
        ready: provisioning.is_none_or(Provisioning::is_ready),
        still_provisioning: match provisioning {
            None | Some(Provisioning::Ready) => None,
            Some(Provisioning::NotWaited) => Some("not_waited"),
            Some(Provisioning::StoppedWaiting) => Some("stopped_waiting"),
            Some(Provisioning::TimedOut(_)) => Some("wait_timed_out"),
        },
        configuration_error: configuration_failure.map(ToString::to_string),
        elapsed_seconds: elapsed.as_secs_f64(),
    };
    match outcome {
        ChangeOutcome::Created { sid, provisioning }
        | ChangeOutcome::Adopted { sid, provisioning } => complete(sid, Some(*provisioning)),
        ChangeOutcome::Moved { sid, .. } | ChangeOutcome::Updated { sid } => complete(sid, None),
        ChangeOutcome::Failed { sid, error } => Event::ApplyErrored {
            address,
            action,
            flex_instance_sid: sid.as_ref().map(|s| s.to_string()),
            error: error.to_string(),
        },
        ChangeOutcome::NotStarted => Event::ApplyNotStarted { address, action },
    }
}

/// What the configuration step of a change did: the paths it sent (a POST was attempted with
/// them), and why it failed, if it did.
struct Configured {
    paths: Vec<String>,
    error: Option<ApplyError>,
}

/// One change from start to end: a slot, then adopt or create, then the wait, then the Flex
/// configuration (when declared); an update only configures. Returns how it ended and, when
/// the configuration step ran, what it did. A create, adopt or move whose configuration fails
/// still took effect (its outcome says so, the failure is the configuration's); an update
/// whose configuration fails failed.
async fn run_change(
    change: &ResourceChange,
    ctx: &ApplyContext<'_>,
    writer: &WriterHandle,
    slots: &Semaphore,
) -> (ChangeOutcome, Option<Configured>, Option<Released>) {
    let started = Instant::now();
    let Ok(slot) = slots.acquire().await else {
        return (ChangeOutcome::NotStarted, None, None);
    };
    if ctx.stop.is_requested() {
        return (ChangeOutcome::NotStarted, None, None);
    }
    let run = Run {
        change,
        ctx,
        writer,
        started,
    };
    let outcome = run_instance(&run, slot, slots).await;
    let sid = match &outcome {
        ChangeOutcome::Created { sid, provisioning }
        | ChangeOutcome::Adopted { sid, provisioning }
            if provisioning.is_ready() =>
        {
            sid.clone()
        }
        ChangeOutcome::Moved { sid, .. } | ChangeOutcome::Updated { sid } => sid.clone(),
        _ => return (outcome, None, None),
    };
    if ctx.stop.is_requested() {
        // An update is all configuration and release: stopped before them, it did not start.
        let outcome = match outcome {
            ChangeOutcome::Updated { .. } => ChangeOutcome::NotStarted,
            other => other,
        };
        return (outcome, None, None);
    }
    let Some(credentials) = ctx.credentials.get(&change.name) else {
        let error = ApplyError::NoCredentials {
            name: change.name.clone(),
        };
        return (run.failed(Some(&sid), error), None, None);
    };
    let (outcome, configured) = configure_step(&run, outcome, credentials, &sid).await;
    let (outcome, released) = release_step(&run, outcome, credentials, &sid).await;
    (outcome, configured, released)
}

/// The Flex configuration step of a change whose instance is there (when a configuration is
/// declared). A create, adopt or move whose configuration fails still took effect; an update
/// whose configuration fails failed.
async fn configure_step(
    run: &Run<'_, '_>,
    outcome: ChangeOutcome,
    credentials: &Credentials,
    sid: &InstanceSid,
) -> (ChangeOutcome, Option<Configured>) {
    let declares = run
        .ctx
        .config
        .instances
        .get(&run.change.name)
        .and_then(|s| s.declared_configuration())
        .is_some();
    if !declares {
        return (outcome, None);
    }
    match run.configure(credentials, sid).await {
        Ok(paths) => (outcome, Some(Configured { paths, error: None })),
        Err((paths, error)) => match outcome {
            ChangeOutcome::Updated { .. } => (
                run.failed(Some(sid), error),
                Some(Configured { paths, error: None }),
            ),
            outcome => (
                outcome,
                Some(Configured {
                    paths,
                    error: Some(error),
                }),
            ),
        },
    }
}

/// What the plugins step of a change did: the release made, in words, or why it failed.
type Released = Result<String, ApplyError>;

/// The plugins step of a change whose instance is there and ready (when a release is
/// planned), after its configuration. A create, adopt or move whose release fails still took
/// effect; an update whose release fails failed. Nothing is started after a stop request.
async fn release_step(
    run: &Run<'_, '_>,
    outcome: ChangeOutcome,
    credentials: &Credentials,
    sid: &InstanceSid,
) -> (ChangeOutcome, Option<Released>) {
    if run.change.release.is_none() || matches!(outcome, ChangeOutcome::Failed { .. }) {
        return (outcome, None);
    }
    if run.ctx.stop.is_requested() {
        return (outcome, None);
    }
    // Boxed: its state is allocated when a release runs, not inside every change's future (a
    // run holds one future per change, 10,000 of them at scale).
    let released = Box::pin(super::release::release(
        run.ctx,
        run.writer,
        run.change,
        credentials,
        sid,
    ))
    .await;
    match released {
        Ok(released) => (outcome, Some(Ok(released))),
        Err(error) => match outcome {
            ChangeOutcome::Updated { .. } => (run.failed(Some(sid), error), None),
            outcome => (outcome, Some(Err(error))),
        },
    }
}

/// The instance part of a change: move, update (nothing to do on the instance), adopt or
/// create, then the wait.
async fn run_instance<'s>(
    run: &Run<'_, '_>,
    slot: SemaphorePermit<'s>,
    slots: &'s Semaphore,
) -> ChangeOutcome {
    let (change, ctx) = (run.change, run.ctx);
    if let (Action::Move, Some(from)) = (change.action, &change.moved_from) {
        return run.moved(from).await;
    }
    if change.action == Action::Update {
        ctx.reporter.event(&Event::ApplyProgress {
            address: change.address.clone(),
            action: change.action,
        });
        return match change
            .after
            .as_ref()
            .and_then(|a| a.flex_instance_sid.clone())
        {
            Some(sid) => ChangeOutcome::Updated { sid },
            None => run.failed(
                None,
                ApplyError::NoCredentials {
                    name: change.name.clone(),
                },
            ),
        };
    }
    let Some(credentials) = ctx.credentials.get(&change.name) else {
        return run.failed(
            None,
            ApplyError::NoCredentials {
                name: change.name.clone(),
            },
        );
    };
    ctx.reporter.event(&Event::ApplyProgress {
        address: change.address.clone(),
        action: change.action,
    });
    let adopt_sid = match change.action {
        Action::Adopt => change
            .after
            .as_ref()
            .and_then(|a| a.flex_instance_sid.clone()),
        _ => None,
    };
    let mut slot = Some(slot);
    let instance = match adopt_sid {
        Some(sid) => run.adopt(credentials, sid).await,
        None => run.create(credentials, &mut slot, slots).await,
    };
    let instance = match instance {
        Ok(instance) => instance,
        // Stopped before the create was sent: nothing happened, as if it never started.
        Err(ApplyError::Refused(ApiError::NotSent { .. })) if ctx.stop.is_requested() => {
            return ChangeOutcome::NotStarted
        }
        Err(error) => return run.failed(None, error),
    };
    // The slot bounds requests that create or adopt; waiting only polls.
    drop(slot);
    let sid = instance.flex_instance_sid.clone();
    // Stopped waiting, not waiting, or out of time: the instance is made and recorded; the
    // next plan shows it as provisioning.
    match wait_for(change, &instance, ctx, run.writer, run.started).await {
        Ok(provisioning) if change.action == Action::Adopt => {
            ChangeOutcome::Adopted { sid, provisioning }
        }
        Ok(provisioning) => ChangeOutcome::Created { sid, provisioning },
        Err(error) => run.failed(Some(&sid), error),
    }
}

/// What one create came to.
enum Created {
    /// Created and recorded.
    Done(Instance),
    /// The POST may or may not have taken effect; its pending record (durable) says until
    /// when it can be in flight.
    Unknown {
        error: ApiError,
        pending: PendingCreate,
    },
}

/// Until when the create of `pending` (written by this run, on this machine's clock) can be
/// in flight.
fn pending_until(pending: &PendingCreate) -> SystemTime {
    pending
        .in_flight_until
        .as_deref()
        .and_then(|until| humantime::parse_rfc3339(until).ok())
        .unwrap_or_else(SystemTime::now)
}

/// The instance a configuration read says it belongs to (`flex_instance_sid`), when it is not
/// `sid`.
fn other_instance<'v>(current: &'v serde_json::Value, sid: &InstanceSid) -> Option<&'v str> {
    current
        .get("flex_instance_sid")
        .and_then(|v| v.as_str())
        .filter(|found| !found.eq_ignore_ascii_case(sid.as_str()))
}

/// The managed paths that do not hold their declared value in `verified` (the configuration
/// read after the POST).
fn unverified_paths(
    managed: &[(flex::ConfigPath, serde_json::Value)],
    verified: &serde_json::Value,
) -> Vec<String> {
    managed
        .iter()
        .filter(|(path, value)| path.value_in(verified) != *value)
        .map(|(path, _)| path.to_string())
        .collect()
}

/// What polling discovery learned of a create whose outcome was unknown.
enum Learned {
    /// It took effect: this instance.
    Created(Instance),
    /// It did not, and can no longer.
    NotCreated,
    /// No answer (discovery unavailable or failing, or a stop was requested): the pending
    /// record stays for the next plan.
    Unknown,
}

/// One change under way.
struct Run<'r, 'a> {
    change: &'r ResourceChange,
    ctx: &'r ApplyContext<'a>,
    writer: &'r WriterHandle,
    started: Instant,
}

impl Run<'_, '_> {
    /// A rename: the record moves from `from` to this change's name, in one state update; no
    /// request is sent.
    async fn moved(&self, from: &str) -> ChangeOutcome {
        let old = from
            .strip_prefix("flex_instance.")
            .unwrap_or(from)
            .to_owned();
        let sid = self
            .change
            .after
            .as_ref()
            .and_then(|a| a.flex_instance_sid.clone());
        let update = StateUpdate::Move {
            from: old,
            to: self.change.name.clone(),
        };
        match (self.writer.write(update).await, sid) {
            (Ok(()), Some(sid)) => ChangeOutcome::Moved {
                sid,
                from: from.to_owned(),
            },
            (Ok(()), None) => self.failed(
                None,
                ApplyError::NoCredentials {
                    name: self.change.name.clone(),
                },
            ),
            (Err(source), sid) => self.failed(
                sid.as_ref(),
                ApplyError::NotMoved {
                    from: from.to_owned(),
                    to: self.change.address.clone(),
                    source,
                },
            ),
        }
    }

    /// The Flex configuration: a fresh read; refused if a managed path changed since the plan
    /// (nobody's change is lost); then one POST with the whole new value of each top-level
    /// property that differs (fresh value, declared keys merged in); then a read that verifies
    /// every managed path; then the digests recorded. Returns the paths set; an error comes
    /// with the paths sent before it (none when it came before the POST).
    async fn configure(
        &self,
        credentials: &Credentials,
        sid: &InstanceSid,
    ) -> Result<Vec<String>, (Vec<String>, ApplyError)> {
        let mut sent = Vec::new();
        self.configure_sending(credentials, sid, &mut sent)
            .await
            .map_err(|error| (sent, error))
    }

    /// [`Run::configure`]'s steps; `sent` holds the paths of the POST once it is sent.
    async fn configure_sending(
        &self,
        credentials: &Credentials,
        sid: &InstanceSid,
        sent: &mut Vec<String>,
    ) -> Result<Vec<String>, ApplyError> {
        let Some(declared) = self
            .ctx
            .config
            .instances
            .get(&self.change.name)
            .and_then(|s| s.declared_configuration())
        else {
            return Ok(Vec::new());
        };
        let managed = flex::managed(declared);
        let properties: Vec<&str> = declared.keys().map(String::as_str).collect();
        // Nothing new is sent after a stop request, reads included.
        let guard = SendGuard {
            stop: self.ctx.stop.clone(),
            send_by: None,
        };
        let current = self
            .read_configuration(credentials, sid, &properties, &guard)
            .await?;
        // The configuration is the account's: it must be the planned instance's still.
        if let Some(found) = other_instance(&current, sid) {
            return Err(ApplyError::ConfigurationOfAnotherInstance {
                account: self.change.account_sid.clone(),
                planned: sid.clone(),
                found: found.to_owned(),
            });
        }
        let differing: Vec<&(flex::ConfigPath, serde_json::Value)> = managed
            .iter()
            .filter(|(path, value)| path.value_in(&current) != *value)
            .collect();
        let changed_since = self.changed_since_plan(&managed, &differing, &current);
        if !changed_since.is_empty() {
            return Err(ApplyError::ConfigurationChangedSincePlan {
                sid: sid.clone(),
                paths: changed_since,
            });
        }
        let set: Vec<String> = differing.iter().map(|(path, _)| path.to_string()).collect();
        let verified = if differing.is_empty() {
            current
        } else {
            sent.clone_from(&set);
            self.update_configuration(credentials, sid, declared, &current, &differing, &guard)
                .await?;
            self.read_configuration(credentials, sid, &properties, &guard)
                .await?
        };
        let mismatched = unverified_paths(&managed, &verified);
        if !mismatched.is_empty() {
            return Err(ApplyError::ConfigurationNotVerified {
                sid: sid.clone(),
                paths: mismatched,
            });
        }
        self.record_configuration(sid, &managed, &verified).await?;
        Ok(set)
    }

    /// The account's Flex configuration: the declared top-level `properties`, read under
    /// `guard`.
    async fn read_configuration(
        &self,
        credentials: &Credentials,
        sid: &InstanceSid,
        properties: &[&str],
        guard: &SendGuard,
    ) -> Result<serde_json::Value, ApplyError> {
        self.ctx
            .client
            .fetch_configuration(
                &self.change.account_sid,
                credentials,
                properties,
                Some(guard),
            )
            .await
            .map_err(|source| ApplyError::ConfigurationRead {
                sid: sid.clone(),
                source,
            })
    }

    /// The managed paths that changed since the plan. What the plan saw is what was reviewed:
    /// a managed path that no longer holds it (or, where the plan saw nothing to change, any
    /// `differing` path) changed since the plan.
    fn changed_since_plan(
        &self,
        managed: &[(flex::ConfigPath, serde_json::Value)],
        differing: &[&(flex::ConfigPath, serde_json::Value)],
        current: &serde_json::Value,
    ) -> Vec<String> {
        let reviewed_nothing =
            self.change.configuration.is_empty() && self.change.action != Action::Create;
        if reviewed_nothing {
            differing.iter().map(|(path, _)| path.to_string()).collect()
        } else {
            self.change
                .configuration
                .iter()
                .filter_map(|field| {
                    let before = field.before.as_ref()?;
                    let (path, _) = managed.iter().find(|(p, _)| p.to_string() == field.path)?;
                    (path.value_in(current) != *before).then(|| field.path.clone())
                })
                .collect()
        }
    }

    /// One POST with the whole new value of each top-level property a `differing` path is in
    /// (the `current` value, the declared keys merged in).
    async fn update_configuration(
        &self,
        credentials: &Credentials,
        sid: &InstanceSid,
        declared: &flex::Declared,
        current: &serde_json::Value,
        differing: &[&(flex::ConfigPath, serde_json::Value)],
        guard: &SendGuard,
    ) -> Result<(), ApplyError> {
        let mut properties: Vec<&str> = differing.iter().map(|(p, _)| p.property()).collect();
        properties.dedup();
        let body = flex::update_body(declared, current, &properties);
        self.ctx
            .client
            .update_configuration(&self.change.account_sid, credentials, body, guard)
            .await
            .map_err(|source| ApplyError::ConfigurationUpdate {
                sid: sid.clone(),
                source,
            })?;
        Ok(())
    }

    /// Records the digests of the managed paths as `verified` holds them.
    async fn record_configuration(
        &self,
        sid: &InstanceSid,
        managed: &[(flex::ConfigPath, serde_json::Value)],
        verified: &serde_json::Value,
    ) -> Result<(), ApplyError> {
        self.writer
            .write(StateUpdate::Configured {
                name: self.change.name.clone(),
                flex_instance_sid: sid.clone(),
                configuration: flex::AppliedConfiguration::of(managed, verified),
            })
            .await
            .map_err(|source| ApplyError::ConfigurationNotRecorded {
                sid: sid.clone(),
                source,
            })
    }

    /// A failure as an outcome (its event is the change's terminal event).
    fn failed(&self, sid: Option<&InstanceSid>, error: ApplyError) -> ChangeOutcome {
        ChangeOutcome::Failed {
            sid: sid.cloned(),
            error,
        }
    }

    /// Adopt: fetch the discovered instance, check its account, record it; no POST.
    async fn adopt(
        &self,
        credentials: &Credentials,
        sid: InstanceSid,
    ) -> Result<Instance, ApplyError> {
        let account = &self.change.account_sid;
        let instance = match self
            .ctx
            .client
            .get_instance(account, credentials, &sid)
            .await
        {
            Ok(Fetched::Found(instance)) if instance.account_sid == *account => instance,
            Ok(Fetched::Found(instance)) => {
                return Err(ApplyError::WrongAccount {
                    sid,
                    found: instance.account_sid,
                    expected: account.clone(),
                })
            }
            Ok(Fetched::NotFound) => return Err(ApplyError::DiscoveredNotFound { sid }),
            Err(source) => return Err(ApplyError::FetchDiscovered { sid, source }),
        };
        // What an adopted instance was created with is not known: the API does not say.
        self.record(&instance, Origin::Adopted, None).await?;
        Ok(instance)
    }

    /// Create: the pending record first, durable, then exactly one POST, then the SID. A POST
    /// whose outcome is unknown is resolved in this run by discovery, looked at when the create
    /// can no longer be in flight: after the settle period when it was answered (a 5xx: the
    /// request is over), after the whole in-flight window when it was not (a timeout or a lost
    /// connection). Found, it is recorded; not found, the create is sent again after a
    /// back-off, within the create budget. A 409 to a create sent again means an earlier one
    /// took effect: it is found by discovery and adopted. The concurrency slot is given back
    /// while waiting and taken again to send.
    async fn create<'s>(
        &self,
        credentials: &Credentials,
        slot: &mut Option<SemaphorePermit<'s>>,
        slots: &'s Semaphore,
    ) -> Result<Instance, ApplyError> {
        let conversations_default = self
            .ctx
            .config
            .instances
            .get(&self.change.name)
            .and_then(|s| s.conversations_default());
        let options = &self.ctx.options;
        let began = Instant::now();
        let mut attempts = 0u32;
        let mut gateway_in_a_row = 0u32;
        loop {
            if slot.is_none() {
                *slot = slots.acquire().await.ok();
            }
            attempts += 1;
            let (error, pending) = match self.create_once(credentials, conversations_default).await
            {
                Ok(Created::Done(instance)) => return Ok(instance),
                Ok(Created::Unknown { error, pending }) => (error, pending),
                Err(ApplyError::AlreadyExists(conflict)) if attempts > 1 => {
                    *slot = None;
                    return self.resolve_conflict(credentials, conflict, began).await;
                }
                Err(error) => return Err(error),
            };
            let answer = error.answer().unwrap_or(Answer::None);
            // Waiting holds no request: the slot is for sending.
            *slot = None;
            let in_flight_until = self.in_flight_until(answer, pending).await?;
            match self
                .learn_outcome(credentials, &error, answer, in_flight_until)
                .await
            {
                Learned::Created(instance) => {
                    self.record(&instance, Origin::Created, conversations_default)
                        .await?;
                    return Ok(instance);
                }
                Learned::NotCreated => {}
                Learned::Unknown => return Err(ApplyError::OutcomeUnknown(error)),
            }
            gateway_in_a_row = match answer {
                Answer::Gateway { .. } => gateway_in_a_row + 1,
                _ => 0,
            };
            let spent = began.elapsed();
            let gateway = gateway_in_a_row >= options.gateway_answers.max(1);
            if gateway || spent + options.settle > options.create_budget {
                return Err(ApplyError::GaveUp {
                    attempts,
                    spent,
                    answer,
                    error,
                    gateway,
                });
            }
            self.back_off(attempts).await;
        }
    }

    /// Until when a create whose outcome is unknown can be in flight. Answered, the request
    /// is over: only the server acting late on it is left, for which the settle period allows,
    /// and the pending record says so (durably, for a run killed now). Unanswered, its pending
    /// record already says.
    async fn in_flight_until(
        &self,
        answer: Answer,
        pending: PendingCreate,
    ) -> Result<SystemTime, ApplyError> {
        if !answer.answered() {
            return Ok(pending_until(&pending));
        }
        let until = SystemTime::now() + self.ctx.options.settle;
        let pending = PendingCreate {
            in_flight_until: Some(crate::support::stamp::rfc3339_at(until)),
            ..pending
        };
        self.writer
            .write(StateUpdate::Pending {
                name: self.change.name.clone(),
                pending,
            })
            .await
            .map_err(ApplyError::PendingNotRecorded)?;
        crate::failpoint!("apply::settling");
        Ok(until)
    }

    /// Waits before a create is sent again `after` attempts: back-off, full jitter, so that
    /// many creates answered 5xx at once are not sent again at once. A stop request ends the
    /// wait; the send guard then meets it.
    async fn back_off(&self, after: u32) {
        let (base, cap) = self.ctx.options.resend_backoff;
        let ceiling = base
            .saturating_mul(2u32.saturating_pow(after.saturating_sub(1)))
            .min(cap);
        let pause = ceiling.mul_f64(rand::random::<f64>());
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = self.ctx.stop.requested() => {}
        }
    }

    /// A create sent again was refused with 409: the account has an instance, made by an
    /// earlier create of this run whose answer was a 5xx (or by someone else meanwhile).
    /// Discovery is polled (it may lag behind the create) within the budget; what it finds is
    /// fetched and adopted. Not found, the pending record stays for the next plan.
    async fn resolve_conflict(
        &self,
        credentials: &Credentials,
        conflict: ApiError,
        began: Instant,
    ) -> Result<Instance, ApplyError> {
        let account = &self.change.account_sid;
        self.ctx.reporter.event(&Event::CreateConflict {
            address: self.change.address.clone(),
            error: conflict.to_string(),
        });
        let replaced = self
            .change
            .before
            .as_ref()
            .and_then(|b| b.flex_instance_sid.clone());
        let (mut delay, max_delay) = self.ctx.options.poll_interval;
        loop {
            let discovered = tokio::select! {
                discovered = self.ctx.client.discover(account, credentials) => discovered,
                _ = self.ctx.stop.requested() => return Err(ApplyError::AlreadyExists(conflict)),
            };
            match discovered {
                Ok(Discovery::Found(sid)) if Some(&sid) != replaced.as_ref() => {
                    return self.adopt(credentials, sid).await;
                }
                Ok(Discovery::Unavailable) => return Err(ApplyError::AlreadyExists(conflict)),
                Err(e) => tracing::warn!("{}: discovery failed: {e}", self.change.address),
                Ok(_) => {}
            }
            if began.elapsed() + delay > self.ctx.options.create_budget {
                return Err(ApplyError::AlreadyExists(conflict));
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.ctx.stop.requested() => return Err(ApplyError::AlreadyExists(conflict)),
            }
            delay = (delay * 2).min(max_delay);
        }
    }

    /// One create: a durable pending record, then one POST (retried only where it is never
    /// processed: 429, no connection), then the SID.
    async fn create_once(
        &self,
        credentials: &Credentials,
        conversations_default: Option<bool>,
    ) -> Result<Created, ApplyError> {
        let name = &self.change.name;
        let account = &self.change.account_sid;
        let options = &self.ctx.options;
        let send_by = Instant::now() + options.send_window;
        let window = options.send_window + options.request_timeout;
        let pending = PendingCreate {
            account_sid: account.clone(),
            address: self.change.address.clone(),
            conversations_default,
            started_at: crate::support::stamp::now_rfc3339(),
            in_flight_until: Some(crate::support::stamp::rfc3339_in(window)),
            clock: Some(format!("host {}", crate::support::stamp::host())),
        };
        crate::failpoint!("apply::before_pending");
        self.writer
            .write(StateUpdate::Pending {
                name: name.clone(),
                pending: pending.clone(),
            })
            .await
            .map_err(ApplyError::PendingNotRecorded)?;
        crate::failpoint!("apply::after_pending_durable");
        let guard = SendGuard {
            stop: self.ctx.stop.clone(),
            send_by: Some(send_by),
        };
        let created = self
            .ctx
            .client
            .create_instance_guarded(account, credentials, conversations_default, &guard)
            .await;
        crate::failpoint!("apply::after_create_answer");
        let instance = match created {
            Ok(instance) => instance,
            Err(error @ ApiError::OutcomeUnknown { .. }) => {
                return Ok(Created::Unknown { error, pending })
            }
            // The account already has an instance (made outside flexform, or by an earlier
            // create whose answer was lost): keep the pending record, so that the next plan
            // finds it by discovery and adopts it rather than creating again.
            Err(e) if e.status() == Some(409) => return Err(ApplyError::AlreadyExists(e)),
            Err(e) => {
                // A definite answer: nothing was created. Forget the pending record.
                let _ = self
                    .writer
                    .write(StateUpdate::ClearPending { name: name.clone() })
                    .await;
                return Err(ApplyError::Refused(e));
            }
        };
        self.record(&instance, Origin::Created, conversations_default)
            .await?;
        crate::failpoint!("apply::after_sid_durable");
        Ok(Created::Done(instance))
    }

    /// Learns whether a create took effect: after an answer, one look by discovery once the
    /// settle period is over; without one, discovery polled until the create is found or can
    /// no longer be in flight (then it did not take effect). A stop request, or discovery that
    /// cannot tell, leaves it unknown.
    async fn learn_outcome(
        &self,
        credentials: &Credentials,
        error: &ApiError,
        answer: Answer,
        in_flight_until: SystemTime,
    ) -> Learned {
        let account = &self.change.account_sid;
        let look_in = in_flight_until
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        self.ctx.reporter.event(&Event::OutcomeUnknown {
            address: self.change.address.clone(),
            error: error.to_string(),
            answered: answer.answered(),
            look_in_seconds: look_in.as_secs_f64(),
        });
        if answer.answered() {
            tokio::select! {
                _ = tokio::time::sleep(look_in) => {}
                _ = self.ctx.stop.requested() => return Learned::Unknown,
            }
        }
        let (mut delay, max_delay) = self.ctx.options.poll_interval;
        let replaced = self
            .change
            .before
            .as_ref()
            .and_then(|b| b.flex_instance_sid.clone());
        loop {
            let window_over = SystemTime::now() >= in_flight_until;
            let discovered = tokio::select! {
                discovered = self.ctx.client.discover(account, credentials) => discovered,
                _ = self.ctx.stop.requested() => return Learned::Unknown,
            };
            match discovered {
                // The instance this create replaces (deleted or failed) is not its result.
                Ok(Discovery::Found(sid)) if Some(&sid) == replaced.as_ref() => {
                    if window_over {
                        return Learned::NotCreated;
                    }
                }
                Ok(Discovery::Found(sid)) => {
                    return match self
                        .ctx
                        .client
                        .get_instance(account, credentials, &sid)
                        .await
                    {
                        Ok(Fetched::Found(instance)) if instance.account_sid == *account => {
                            Learned::Created(instance)
                        }
                        _ => Learned::Unknown,
                    }
                }
                // Asked after the window closed: nothing can still arrive.
                Ok(Discovery::None) if window_over => return Learned::NotCreated,
                Ok(Discovery::None) => {}
                Ok(Discovery::Unavailable) => return Learned::Unknown,
                Err(e) if window_over => {
                    tracing::warn!("{}: discovery failed: {e}", self.change.address);
                    return Learned::Unknown;
                }
                Err(e) => tracing::warn!("{}: discovery failed: {e}", self.change.address),
            }
            let left = in_flight_until
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            // Look once more right after the window closes.
            let pause = delay.min(left + Duration::from_millis(100));
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.ctx.stop.requested() => return Learned::Unknown,
            }
            delay = (delay * 2).min(max_delay);
        }
    }

    /// Records the instance's SID durably and reports it.
    async fn record(
        &self,
        instance: &Instance,
        origin: Origin,
        conversations_default: Option<bool>,
    ) -> Result<(), ApplyError> {
        let sid = &instance.flex_instance_sid;
        let record = InstanceRecord::observed(instance, origin, conversations_default);
        self.writer
            .write(StateUpdate::Record {
                name: self.change.name.clone(),
                record,
            })
            .await
            .map_err(|source| ApplyError::NotRecorded {
                verb: match origin {
                    Origin::Created => "created",
                    _ => "adopted",
                },
                name: self.change.name.clone(),
                sid: sid.clone(),
                source,
            })?;
        self.ctx.reporter.event(&Event::Recorded {
            address: self.change.address.clone(),
            action: self.change.action,
            flex_instance_sid: sid.to_string(),
            elapsed_seconds: self.started.elapsed().as_secs_f64(),
        });
        Ok(())
    }
}
