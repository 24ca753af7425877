//! `flexform apply`: the options from the flags, then [`crate::ops::apply`]: prepare (plan, or
//! check a saved plan), show the plan, confirm, carry it out, and report.

use std::io::BufRead;
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::apply::{ApplyOptions, Reporter};
use crate::cli::args::ApplyArgs;
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::output::Printer;
use crate::cli::progress::Progress;
use crate::cli::settings::Settings;
use crate::ops::apply::{Source, Unchanged};
use crate::ops::{self, Network, OpsError, Planner};
use crate::plan::PlanDocument;
use crate::render::apply::{self as events, JsonReporter, TerminalReporter, TextReporter};
use crate::render::{plan as render, Style};
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
    let out = &settings.out;
    let workspace = settings.workspace();
    let network = Network::from(&args.net);
    let progress = Progress::new(out.shows_live_progress());
    let planner = Planner {
        workspace: &workspace,
        network: &network,
        progress: &progress,
    };
    let source = match &args.plan_file {
        Some(file) => Source::Saved(file),
        None => Source::Fresh {
            targets: &args.targets,
        },
    };
    let wait = context::lock_wait(settings, args.lock_timeout, &stop);
    let saved = |document: &PlanDocument| {
        if let Some(note) = render::partial_note(document) {
            out.note(format!("applying a saved partial plan. {note}"));
        }
    };
    let prepared = ops::apply::prepare(&planner, source, &wait, &stop, &saved).await?;
    if let (Some(document), false) = (&prepared.fresh, args.json) {
        out.data(render::human(document, Style::new(settings.color_stdout)));
    }
    if prepared.plan.has_errors() {
        super::plan::print_errors(settings, &prepared.plan);
        if args.json {
            // Pipelines reading the event stream see why nothing happened.
            for event in events::refused(&prepared.plan) {
                out.data_line(events::json(&event));
            }
        }
        return Err(OpsError::PlanHasErrors.into());
    }
    if !prepared.plan.has_changes() {
        return no_changes(settings, args, prepared).await;
    }
    let saved = prepared.fresh.is_none();
    if !saved && !args.auto_approve && !confirm(out, &stop).await? {
        out.status("Apply cancelled. Nothing was changed.");
        return Ok(ExitStatus::Failure);
    }
    let applied = ops::apply::carry_out(prepared, options(args), reporter(out, args), &stop).await;
    let summary = events::summary(&applied, args.json);
    for line in &summary.errors {
        out.error(line);
    }
    if let Some(verdict) = &summary.verdict {
        out.data_line(verdict);
    }
    if let Some(line) = &summary.status {
        out.status(line);
    }
    Ok(if applied.report.interrupted {
        ExitStatus::Interrupted
    } else if applied.failed() {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// How apply reports as it goes: JSON lines, bars on a terminal, or plain lines.
fn reporter(out: &Printer, args: &ApplyArgs) -> Arc<dyn Reporter> {
    if args.json {
        Arc::new(JsonReporter { out: *out })
    } else if out.shows_live_progress() {
        Arc::new(TerminalReporter::new())
    } else {
        Arc::new(TextReporter { out: *out })
    }
}

/// The engine's options from the flags.
fn options(args: &ApplyArgs) -> ApplyOptions {
    ApplyOptions {
        parallelism: usize::from(args.net.parallelism),
        wait: !args.no_wait,
        wait_timeout: args.wait_timeout,
        request_timeout: args.net.request_timeout,
        // A create that may have been sent waits out at most one request timeout to be sent.
        send_window: args.net.request_timeout,
        settle: args.settle_period,
        create_budget: args.create_budget,
        ..ApplyOptions::default()
    }
}

/// A plan without changes: the records it still keeps, or nothing.
async fn no_changes(
    settings: &Settings,
    args: &ApplyArgs,
    prepared: ops::apply::Prepared,
) -> anyhow::Result<ExitStatus> {
    let out = &settings.out;
    if args.json {
        for event in events::no_changes() {
            out.data_line(events::json(&event));
        }
    } else if prepared.fresh.is_none() {
        out.data_line("No changes. Flex instances match the configuration.");
    }
    Ok(match ops::apply::keep_records(prepared).await? {
        Unchanged::Nothing => ExitStatus::Success,
        Unchanged::Recorded(count) => {
            out.status(format!(
                "Recorded the Flex configuration of {count} instance{}: nothing was sent.",
                crate::support::text::plural(count)
            ));
            ExitStatus::Success
        }
        Unchanged::TrailNotWhole(problem) => {
            out.error(problem);
            ExitStatus::Failure
        }
    })
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
