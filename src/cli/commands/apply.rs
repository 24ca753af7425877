//! `flexform apply`: plan (or read a saved plan), confirm, carry it out under the state lock,
//! record the audit trail, and report.

use std::io::BufRead;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::apply::{self, ApplyContext, ApplyOptions, ChangeOutcome, Counts, Event, Reporter};
use crate::cli::args::ApplyArgs;
use crate::cli::context::{self, Scope};
use crate::cli::exit_status::ExitStatus;
use crate::cli::output::Printer;
use crate::cli::settings::Settings;
use crate::config::Config;
use crate::plan::render::{self, Style};
use crate::plan::{Action, PlanDocument, Severity};
use crate::state::StateStore;
use crate::support::stop::{Interrupted, Stop};

/// Runs apply.
pub fn run(settings: &Settings, args: &ApplyArgs) -> anyhow::Result<ExitStatus> {
    if args.plan_file.is_none() && !args.auto_approve && !settings.stdin_is_terminal {
        bail!(
            "refusing to apply without confirmation: stdin is not a terminal. Pass --auto-approve, or apply a saved plan (`flexform plan --out plan.json`, then `flexform apply plan.json`). Nothing was changed"
        );
    }
    context::run_with_stop(settings, false, |stop| run_async(settings, args, stop))
}

async fn run_async(
    settings: &Settings,
    args: &ApplyArgs,
    stop: Stop,
) -> anyhow::Result<ExitStatus> {
    let config = Config::load(&settings.config_path)?;
    let location = context::state_location(settings, Some(&config.config))?;
    let wait = context::lock_wait(settings, args.lock_timeout, &stop);
    let store = context::open_store(&location, "apply", &wait).await?;
    context::check_one_address(store.state())?;
    let serial_before = store.state().serial;
    let style = Style::new(settings.color_stdout);
    let out = &settings.out;

    let mut plan_sha256 = None;
    let (plan, credentials, client, saved) = match &args.plan_file {
        Some(file) => {
            let (document, digest) = PlanDocument::load_with_sha256(file)?;
            plan_sha256 = Some(digest);
            if let Some(note) = render::partial_note(&document) {
                out.note(format!("applying a saved partial plan. {note}"));
            }
            check_saved_plan(&document, &store, &config.canonical_sha256)?;
            let mut credentials = context::resolve_credentials(&config.config)?;
            // Interrupted creates under names no longer configured are resolved too.
            let orphans =
                context::orphan_pending_credentials(&config.config, store.state(), &credentials);
            credentials.extend(orphans);
            let client = context::client(settings, &args.net)?;
            (document.plan(), credentials, client, true)
        }
        None => {
            let state = store.exists().then(|| store.state().clone());
            let clocks = crate::observe::Clocks {
                local: std::time::SystemTime::now(),
                shared: location.shared_now().await?,
            };
            let planning = context::plan_against(
                settings,
                &args.net,
                config.clone(),
                state,
                &clocks,
                Scope::Everything,
                &args.targets,
            );
            let planned = tokio::select! {
                planned = planning => planned?,
                _ = stop.requested() => {
                    return Err(Interrupted("stopped while observing; nothing was sent".to_owned()).into())
                }
            };
            let document = planned.document();
            if !args.json {
                out.data(render::human(&document, style));
            }
            (planned.plan, planned.credentials, planned.client, false)
        }
    };

    let errors: Vec<_> = plan
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        for d in &errors {
            out.error(format!("{}: {}", d.address, d.message));
        }
        if args.json {
            // Pipelines reading the event stream see why nothing happened.
            let summary = plan.summary();
            let mut events = vec![Event::ApplyStart {
                create: summary.create,
                adopt: summary.adopt,
                moved: summary.moved,
                update: summary.update,
            }];
            // One terminal event per address, naming every error of it.
            let mut by_address: std::collections::BTreeMap<&str, Vec<String>> =
                std::collections::BTreeMap::new();
            for d in &errors {
                by_address
                    .entry(d.address.as_str())
                    .or_default()
                    .push(format!("{} ({})", d.message, d.kind.as_str()));
            }
            let failed = by_address.len();
            events.extend(by_address.into_iter().map(|(address, messages)| {
                Event::ApplyErrored {
                    address: address.to_owned(),
                    action: plan
                        .changes
                        .iter()
                        .find(|c| c.address == address)
                        .map_or(Action::Unchanged, |c| c.action),
                    flex_instance_sid: None,
                    error: messages.join("; "),
                }
            }));
            events.push(Event::ChangeSummary {
                counts: Counts {
                    failed,
                    ..Counts::default()
                },
            });
            for event in &events {
                out.data_line(event_json(event));
            }
        }
        bail!("the plan has errors (see above); nothing was changed");
    }
    if !plan.has_changes() {
        if args.json {
            for event in [
                Event::ApplyStart {
                    create: 0,
                    adopt: 0,
                    moved: 0,
                    update: 0,
                },
                Event::ChangeSummary {
                    counts: Counts::default(),
                },
            ] {
                out.data_line(event_json(&event));
            }
        } else if saved {
            out.data_line("No changes. Flex instances match the configuration.");
        }
        let (updates, lines) = apply::records(&plan);
        if !updates.is_empty() {
            // Nothing to send, but records to keep: the declared values are in place (which
            // arms drift), or no longer declared.
            let mut store = store;
            let count = updates.len();
            let run = context::RunRecord {
                command: "apply",
                serial_before,
                changes: lines,
                config_sha256: Some(config.sha256.clone()),
                plan_sha256,
            };
            let written = context::finish_run(&mut store, run, |state| {
                for update in updates {
                    update.apply_to(state);
                }
            })
            .await;
            store.release().await;
            written?;
            out.status(format!(
                "Recorded the Flex configuration of {count} instance{}: nothing was sent.",
                crate::support::text::plural(count)
            ));
            return Ok(ExitStatus::Success);
        }
        // Entries still wait in the state: the trail is not whole, and this run could not
        // make it so.
        if let Some(problem) = store.trail_problem() {
            out.error(problem.to_string());
            return Ok(ExitStatus::Failure);
        }
        return Ok(ExitStatus::Success);
    }
    if !saved && !args.auto_approve && !confirm(out, &stop).await? {
        out.status("Apply cancelled. Nothing was changed.");
        return Ok(ExitStatus::Failure);
    }

    let reporter: Arc<dyn Reporter> = if args.json {
        Arc::new(JsonReporter { out: *out })
    } else if settings.out.shows_live_progress() {
        Arc::new(TerminalReporter::new())
    } else {
        Arc::new(TextReporter { out: *out })
    };
    let options = ApplyOptions {
        parallelism: usize::from(args.net.parallelism),
        wait: !args.no_wait,
        wait_timeout: args.wait_timeout,
        request_timeout: args.net.request_timeout,
        // A create that may have been sent waits out at most one request timeout to be sent.
        send_window: args.net.request_timeout,
        settle: args.settle_period,
        create_budget: args.create_budget,
        ..ApplyOptions::default()
    };
    let ctx = ApplyContext {
        client: &client,
        config: &config.config,
        credentials: &credentials,
        options,
        reporter,
        stop: stop.clone(),
    };
    let (mut store, report) = apply::execute(&plan, store, ctx).await;
    let (updates, lines) = apply::records(&plan);
    let mut changes = report.history();
    changes.extend(lines);
    let run = context::RunRecord {
        command: "apply",
        serial_before,
        changes,
        config_sha256: Some(config.sha256.clone()),
        plan_sha256: plan_sha256.clone(),
    };
    let compacted = context::finish_run(&mut store, run, |state| {
        for update in updates {
            update.apply_to(state);
        }
    })
    .await;
    store.release().await;
    let compact_failed = compacted.is_err();
    match compacted {
        Err(e @ crate::state::StateError::TrailUnwritten { .. }) => out.error(e.to_string()),
        Err(e) => out.error(format!(
            "{e}. Every change is kept in the journal beside the state and is folded in by the next flexform run"
        )),
        Ok(()) => {}
    }

    let counts = report.counts();
    let not_started = report.not_started();
    for (address, (_, outcome)) in &report.outcomes {
        if let ChangeOutcome::Failed { error, .. } = outcome {
            out.error(format!("{address}: {error}"));
        }
    }
    for (address, error) in &report.configuration_failed {
        out.error(format!(
            "{address}: took effect and is recorded, but {error}; the next `flexform apply` finishes its configuration"
        ));
    }
    let timed_out = report.timed_out();
    for (address, sid, waited) in &timed_out {
        out.error(format!(
            "{address}: {sid} is created and recorded but still provisioning after {} (--wait-timeout); run `flexform plan` later to check on it",
            humantime::format_duration(*waited)
        ));
    }
    if !args.json {
        let line = format!("Resources: {}.", counts.line());
        let verdict = if report.interrupted {
            "Apply interrupted."
        } else if counts.failed == 0
            && counts.configuration_failed == 0
            && timed_out.is_empty()
            && !compact_failed
        {
            "Apply complete!"
        } else {
            "Apply finished with errors."
        };
        out.data_line(format!("{verdict} {line}"));
    }
    if report.interrupted {
        if !not_started.is_empty() {
            out.status(format!(
                "Interrupted: not started: {}. Run `flexform apply` again to finish.",
                not_started.join(", ")
            ));
        } else {
            out.status("Interrupted: every change had started; run `flexform plan` to check.");
        }
        return Ok(ExitStatus::Interrupted);
    }
    Ok(
        if counts.failed > 0
            || counts.configuration_failed > 0
            || !timed_out.is_empty()
            || compact_failed
        {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        },
    )
}

/// Refuses a saved plan that no longer matches the state or the configuration.
fn check_saved_plan(
    document: &PlanDocument,
    store: &StateStore,
    config_canonical_sha256: &str,
) -> anyhow::Result<()> {
    let state = store.state();
    match (&document.state_lineage, store.exists()) {
        (Some(lineage), true) if *lineage != state.lineage => {
            bail!("Saved plan does not match the given state (plan lineage {lineage}, state lineage {}); nothing was sent", state.lineage)
        }
        (Some(_), false) => bail!(
            "Saved plan does not match the given state: {} does not exist; nothing was sent",
            store.describe()
        ),
        (None, true) => {
            bail!("Saved plan is stale: the state changed after the plan was made; run plan again")
        }
        _ => {}
    }
    // `plan` reads an interrupted run's journal without folding it; this apply folded it when
    // it opened the state, raising the serial by one. The plan saw exactly that content.
    if store.exists()
        && document.state_serial != state.serial
        && document.state_serial != store.serial_at_open()
    {
        bail!(
            "Saved plan is stale: the state changed after the plan was made (serial {} then, {} now); run plan again",
            document.state_serial,
            state.serial
        );
    }
    // The serial alone misses what a crashed run recorded in the journal since the plan: the
    // content must be exactly what the plan saw.
    if store.exists() && document.state_sha256.as_deref() != Some(&state.content_sha256()) {
        bail!(
            "Saved plan is stale: the state recorded changes after the plan was made (an interrupted or concurrent run); run plan again. Nothing was sent"
        );
    }
    if document.config_canonical_sha256 != config_canonical_sha256 {
        bail!("Saved plan was made from a different configuration (its meaning changed since; comments and formatting do not count); run plan again. Nothing was sent");
    }
    Ok(())
}

/// Asks for `yes` on the terminal; Ctrl-C while asking ends apply with nothing sent.
async fn confirm(out: &Printer, stop: &Stop) -> anyhow::Result<bool> {
    out.raw_stderr(
        "\nDo you want to perform these actions? Only 'yes' will be accepted: ",
        true,
    );
    // A plain thread, not the runtime's blocking pool: the runtime does not wait for it when
    // Ctrl-C ends apply at the prompt.
    let (sender, read) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let _ = sender.send(
            std::io::stdin()
                .lock()
                .read_line(&mut answer)
                .map(|_| answer),
        );
    });
    tokio::select! {
        answer = read => {
            let answer = answer.context("cannot read the answer")?.context("cannot read the answer")?;
            Ok(answer.trim() == "yes")
        }
        _ = stop.requested() => Err(Interrupted("nothing was changed".to_owned()).into()),
    }
}

/// What a completed change did, in the past tense.
fn completed_verb(action: Action) -> &'static str {
    match action {
        Action::Adopt => "adopted",
        Action::Move => "moved",
        Action::Update => "updated",
        _ => "created",
    }
}

/// An event as one line of JSON.
fn event_json(event: &Event) -> String {
    serde_json::to_string(event).expect("events serialize")
}

/// `--json`: one event per line on stdout.
struct JsonReporter {
    out: Printer,
}

impl Reporter for JsonReporter {
    fn event(&self, event: &Event) {
        if matches!(event, Event::ApplyProgress { .. }) {
            return;
        }
        self.out.data_line(event_json(event));
    }
}

/// Not a terminal: one plain line per change of status, on stderr.
struct TextReporter {
    out: Printer,
}

impl Reporter for TextReporter {
    fn event(&self, event: &Event) {
        let line = match event {
            Event::ApplyStart {
                create,
                adopt,
                moved,
                update,
            } => {
                let update = if *update > 0 {
                    format!(", {update} to update")
                } else {
                    String::new()
                };
                format!("Applying: {create} to create, {adopt} to adopt, {moved} to move{update}.")
            }
            Event::ApplyProgress { address, action } => format!("{address}: {action}…"),
            Event::OutcomeUnknown {
                address,
                error,
                answered: true,
                look_in_seconds,
            } => format!(
                "{address}: the create was answered with an error that leaves its outcome open ({error}); looking again in {look_in_seconds:.0}s"
            ),
            Event::OutcomeUnknown {
                address,
                error,
                answered: false,
                look_in_seconds,
            } => format!(
                "{address}: waiting up to {look_in_seconds:.0}s to learn whether the create took effect ({error})"
            ),
            Event::CreateConflict { address, error } => format!(
                "{address}: the create sent again was refused ({error}): an earlier one took effect; adopting it"
            ),
            Event::Recorded {
                address,
                action,
                flex_instance_sid,
                elapsed_seconds,
            } => {
                let verb = completed_verb(*action);
                format!("{address}: {verb} {flex_instance_sid} ({elapsed_seconds:.1}s)")
            }
            Event::ApplyComplete {
                address,
                action: Action::Move,
                flex_instance_sid,
                ..
            } => format!("{address}: moved {flex_instance_sid}"),
            Event::ApplyComplete {
                address,
                action: Action::Update,
                flex_instance_sid,
                ..
            } => format!("{address}: updated the Flex configuration of {flex_instance_sid}"),
            // Readiness was shown by the status lines; what remains is said in the summary.
            Event::ApplyComplete { .. } => return,
            Event::ApplyErrored { address, error, .. } => format!("{address}: failed: {error}"),
            Event::ApplyNotStarted { address, action } => {
                format!("{address}: {action} not started (interrupted)")
            }
            Event::StatusChange {
                address,
                status,
                elapsed_seconds,
                ..
            } => {
                format!("{address}: {status} ({elapsed_seconds:.1}s)")
            }
            Event::ChangeSummary { .. } => return,
        };
        self.out.status(line);
    }
}

/// A terminal: one progress line per instance with its status and elapsed time.
struct TerminalReporter {
    multi: MultiProgress,
    bars: Mutex<std::collections::HashMap<String, ProgressBar>>,
}

impl TerminalReporter {
    fn new() -> Self {
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn bar(&self, address: &str) -> ProgressBar {
        let mut bars = self.bars.lock().expect("bars lock");
        bars.entry(address.to_owned())
            .or_insert_with(|| {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {prefix:30} {msg} [{elapsed}]")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(address.to_owned());
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                bar
            })
            .clone()
    }
}

impl Reporter for TerminalReporter {
    fn event(&self, event: &Event) {
        match event {
            Event::ApplyProgress { address, action } => {
                self.bar(address).set_message(format!("{action}…"))
            }
            Event::OutcomeUnknown {
                address, answered, ..
            } => self.bar(address).set_message(if *answered {
                "answered 5xx: looking again shortly…"
            } else {
                "waiting to learn whether the create took effect…"
            }),
            Event::CreateConflict { address, .. } => self
                .bar(address)
                .set_message("an earlier create took effect: adopting it…"),
            Event::Recorded {
                address,
                action,
                flex_instance_sid,
                ..
            } => {
                let verb = completed_verb(*action);
                self.bar(address)
                    .set_message(format!("{verb} {flex_instance_sid}"));
            }
            Event::ApplyComplete {
                address,
                action,
                flex_instance_sid,
                ready,
                ..
            } => {
                let bar = self.bar(address);
                let verb = completed_verb(*action);
                if *ready {
                    bar.finish_with_message(format!("{verb} {flex_instance_sid}, ready"));
                } else {
                    bar.finish_with_message(format!(
                        "{verb} {flex_instance_sid}, still provisioning"
                    ));
                }
            }
            Event::ApplyNotStarted { address, .. } => {
                self.bar(address)
                    .abandon_with_message("not started (interrupted)");
            }
            Event::StatusChange {
                address,
                flex_instance_sid,
                status,
                ..
            } => {
                let bar = self.bar(address);
                bar.set_message(format!("{flex_instance_sid} {status}"));
                if status != "creation-in-progress" {
                    bar.finish();
                }
            }
            Event::ApplyErrored { address, error, .. } => {
                let bar = self.bar(address);
                bar.abandon_with_message(format!(
                    "failed: {}",
                    error.chars().take(60).collect::<String>()
                ));
            }
            Event::ApplyStart { .. } => {}
            Event::ChangeSummary { .. } => {
                for bar in self.bars.lock().expect("bars lock").values() {
                    if !bar.is_finished() {
                        bar.finish();
                    }
                }
            }
        }
    }
}
