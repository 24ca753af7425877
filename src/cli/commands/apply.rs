//! `flexform apply`: plan (or read a saved plan), confirm, carry it out under the state lock,
//! record the audit trail, and report.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::apply::{self, ApplyContext, ApplyOptions, ChangeOutcome, Reporter};
use crate::cli::args::ApplyArgs;
use crate::cli::context::{self, Scope};
use crate::cli::exit_status::ExitStatus;
use crate::cli::output::Printer;
use crate::cli::settings::Settings;
use crate::config::Config;
use crate::plan::{PlanDocument, Severity};
use crate::render::apply::{self as events, JsonReporter, TerminalReporter, TextReporter};
use crate::render::{plan as render, Style};
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
            for event in events::refused(&plan) {
                out.data_line(events::json(&event));
            }
        }
        bail!("the plan has errors (see above); nothing was changed");
    }
    if !plan.has_changes() {
        if args.json {
            for event in events::no_changes() {
                out.data_line(events::json(&event));
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
