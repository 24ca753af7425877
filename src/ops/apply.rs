//! Apply as a library: open the state under its lock, plan (or check a saved plan against the
//! state and the configuration), then either keep the records a plan without changes still
//! makes, or carry the plan out and end the run with its audit-trail entry. The caller shows
//! the plan, asks for confirmation and reports; nothing here prints.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::run::{finish_run, open_store, RunRecord};
use super::{check_one_address, OpsError, Planner, Scope};
use crate::apply::{self, ApplyContext, ApplyOptions, ApplyReport, Reporter};
use crate::client::FlexClient;
use crate::config::credentials::Credentials;
use crate::config::{Config, LoadedConfig};
use crate::observe::Clocks;
use crate::plan::{Plan, PlanDocument};
use crate::state::{LockWait, StateError, StateStore};
use crate::support::stop::{Interrupted, Stop};

/// Which plan to apply.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A plan made now, of what these addresses select (empty: everything).
    Fresh {
        /// `--target` addresses.
        targets: &'a [String],
    },
    /// A plan saved by `flexform plan --out`.
    Saved(&'a Path),
}

/// A plan ready to be carried out, with the state held under its lock.
#[derive(Debug)]
pub struct Prepared {
    /// The state, locked.
    pub store: StateStore,
    /// The configuration.
    pub config: LoadedConfig,
    /// What to do.
    pub plan: Plan,
    /// Credentials by instance name.
    pub credentials: BTreeMap<String, Credentials>,
    /// The client that observed (or will send).
    pub client: FlexClient,
    /// The plan made now, as a document to show (`None`: a saved plan, shown when it was
    /// made).
    pub fresh: Option<PlanDocument>,
    /// SHA-256 of the saved plan file's bytes.
    pub plan_sha256: Option<String>,
    /// The state's serial when it was opened.
    pub serial_before: u64,
}

impl Prepared {
    /// The run's audit-trail record, with `changes`.
    fn record(&self, changes: Vec<crate::state::HistoryChange>) -> RunRecord<'static> {
        RunRecord {
            command: "apply",
            serial_before: self.serial_before,
            changes,
            config_sha256: Some(self.config.sha256.clone()),
            plan_sha256: self.plan_sha256.clone(),
        }
    }
}

/// Opens the state for apply and makes (or checks) the plan. `saved` is told of a saved plan
/// once it is read, before it is checked (for a partial plan's note). A stop while observing
/// ends it with nothing sent.
pub async fn prepare(
    planner: &Planner<'_>,
    source: Source<'_>,
    wait: &LockWait,
    stop: &Stop,
    saved: &dyn Fn(&PlanDocument),
) -> Result<Prepared, OpsError> {
    let workspace = planner.workspace;
    let config = Config::load(&workspace.config_path)?;
    let location = super::plan::state_location(workspace, Some(&config.config))?;
    let store = open_store(&location, "apply", wait, &workspace.env).await?;
    check_one_address(store.state())?;
    let serial_before = store.state().serial;
    match source {
        Source::Saved(file) => {
            let (document, digest) = PlanDocument::load_with_sha256(file)?;
            saved(&document);
            check_saved_plan(&document, &store, &config.canonical_sha256)?;
            let env = &workspace.env;
            let mut credentials = super::plan::resolve_credentials(&config.config, env)?;
            // Interrupted creates under names no longer configured are resolved too.
            let orphans = super::plan::orphan_pending_credentials(
                &config.config,
                store.state(),
                &credentials,
                env,
            );
            credentials.extend(orphans);
            Ok(Prepared {
                client: super::plan::client(workspace, planner.network)?,
                plan: document.plan(),
                store,
                config,
                credentials,
                fresh: None,
                plan_sha256: Some(digest),
                serial_before,
            })
        }
        Source::Fresh { targets } => {
            let state = store.exists().then(|| store.state().clone());
            let clocks = Clocks {
                local: std::time::SystemTime::now(),
                shared: location.shared_now().await?,
            };
            let planning =
                planner.plan_against(config.clone(), state, &clocks, Scope::Everything, targets);
            let planned = tokio::select! {
                planned = planning => planned?,
                _ = stop.requested() => {
                    return Err(Interrupted("stopped while observing; nothing was sent".to_owned()).into())
                }
            };
            Ok(Prepared {
                fresh: Some(planned.document()),
                plan: planned.plan,
                credentials: planned.credentials,
                client: planned.client,
                store,
                config,
                plan_sha256: None,
                serial_before,
            })
        }
    }
}

/// What a plan without changes did.
#[derive(Debug)]
pub enum Unchanged {
    /// Nothing to do.
    Nothing,
    /// Records kept without a request (the declared configuration is in place, or no longer
    /// declared): how many.
    Recorded(usize),
    /// Entries still wait in the state: the trail is not whole, and this run could not make it
    /// so (the problem).
    TrailNotWhole(String),
}

/// Ends a run whose plan has no changes: keeps the records it still makes, if any.
pub async fn keep_records(prepared: Prepared) -> Result<Unchanged, OpsError> {
    let (updates, lines) = apply::records(&prepared.plan);
    if updates.is_empty() {
        return Ok(match prepared.store.trail_problem() {
            Some(problem) => Unchanged::TrailNotWhole(problem.to_string()),
            None => Unchanged::Nothing,
        });
    }
    let count = updates.len();
    let run = prepared.record(lines);
    let mut store = prepared.store;
    let written = finish_run(&mut store, run, |state| {
        for update in updates {
            update.apply_to(state);
        }
    })
    .await;
    store.release().await;
    written?;
    Ok(Unchanged::Recorded(count))
}

/// What carrying out a plan did.
#[derive(Debug)]
pub struct Applied {
    /// Each change's outcome.
    pub report: ApplyReport,
    /// Why the run's end (its audit-trail entry and state write) failed, if it did: every SID
    /// is recorded in the journal or the state either way.
    pub finish_error: Option<StateError>,
}

impl Applied {
    /// Whether anything failed: a change, a configuration, a wait or the run's end.
    pub fn failed(&self) -> bool {
        let counts = self.report.counts();
        counts.failed > 0
            || counts.configuration_failed > 0
            || !self.report.release_failed.is_empty()
            || !self.report.timed_out().is_empty()
            || self.finish_error.is_some()
    }
}

/// Carries out the plan, telling `reporter` as it goes, then ends the run: its audit-trail
/// entry and one state write, and the lock released.
pub async fn carry_out(
    prepared: Prepared,
    options: ApplyOptions,
    reporter: Arc<dyn Reporter>,
    stop: &Stop,
) -> Applied {
    let ctx = ApplyContext {
        client: &prepared.client,
        config: &prepared.config.config,
        credentials: &prepared.credentials,
        options,
        reporter,
        stop: stop.clone(),
    };
    let mut run = prepared.record(Vec::new());
    let (mut store, report) = apply::execute(&prepared.plan, prepared.store, ctx).await;
    let (updates, lines) = apply::records(&prepared.plan);
    run.changes = report.history();
    run.changes.extend(lines);
    let finished = finish_run(&mut store, run, |state| {
        for update in updates {
            update.apply_to(state);
        }
    })
    .await;
    store.release().await;
    Applied {
        report,
        finish_error: finished.err(),
    }
}

/// Refuses a saved plan that no longer matches the state or the configuration.
pub fn check_saved_plan(
    document: &PlanDocument,
    store: &StateStore,
    config_canonical_sha256: &str,
) -> Result<(), OpsError> {
    let stale = |text: String| Err(OpsError::StalePlan(text));
    let state = store.state();
    match (&document.state_lineage, store.exists()) {
        (Some(lineage), true) if *lineage != state.lineage => {
            return stale(format!("Saved plan does not match the given state (plan lineage {lineage}, state lineage {}); nothing was sent", state.lineage));
        }
        (Some(_), false) => {
            return stale(format!(
                "Saved plan does not match the given state: {} does not exist; nothing was sent",
                store.describe()
            ));
        }
        (None, true) => {
            return stale(
                "Saved plan is stale: the state changed after the plan was made; run plan again"
                    .to_owned(),
            );
        }
        _ => {}
    }
    // `plan` reads an interrupted run's journal without folding it; this apply folded it when
    // it opened the state, raising the serial by one. The plan saw exactly that content.
    if store.exists()
        && document.state_serial != state.serial
        && document.state_serial != store.serial_at_open()
    {
        return stale(format!(
            "Saved plan is stale: the state changed after the plan was made (serial {} then, {} now); run plan again",
            document.state_serial,
            state.serial
        ));
    }
    // The serial alone misses what a crashed run recorded in the journal since the plan: the
    // content must be exactly what the plan saw.
    if store.exists() && document.state_sha256.as_deref() != Some(&state.content_sha256()) {
        return stale("Saved plan is stale: the state recorded changes after the plan was made (an interrupted or concurrent run); run plan again. Nothing was sent".to_owned());
    }
    if document.config_canonical_sha256 != config_canonical_sha256 {
        return stale("Saved plan was made from a different configuration (its meaning changed since; comments and formatting do not count); run plan again. Nothing was sent".to_owned());
    }
    Ok(())
}
