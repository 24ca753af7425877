//! `flexform apply`: plan (or read a saved plan), confirm, carry it out under the state lock,
//! record the audit trail, and report.

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::watch;

use crate::apply::{self, ApplyContext, ApplyOptions, ChangeOutcome, Event, Reporter};
use crate::cli::ApplyArgs;
use crate::config::Config;
use crate::exit_status::ExitStatus;
use crate::history::HistoryEntry;
use crate::plan_document::PlanDocument;
use crate::planning::{self, Scope};
use crate::render::{self, Style};
use crate::settings::Settings;
use crate::state_store::{StateLocation, StateStore};

/// Runs apply.
pub fn run(settings: &Settings, args: &ApplyArgs) -> anyhow::Result<ExitStatus> {
    if args.plan_file.is_none() && !args.auto_approve && !settings.stdin_is_terminal {
        bail!(
            "refusing to apply without confirmation: stdin is not a terminal. Pass --auto-approve, or apply a saved plan (`flexform plan --out plan.json`, then `flexform apply plan.json`). Nothing was changed"
        );
    }
    planning::block_on(run_async(settings, args))?
}

async fn run_async(settings: &Settings, args: &ApplyArgs) -> anyhow::Result<ExitStatus> {
    let config = Config::load(&settings.config_path)?;
    let location = StateLocation::resolve(settings, Some(&config.config))?;
    let store = StateStore::open(&location, "apply", args.lock_timeout).await?;
    let serial_before = store.state().serial;
    let style = Style::new(settings.color_stdout);

    let (plan, credentials, client, saved) = match &args.plan_file {
        Some(file) => {
            let document = PlanDocument::load(file)?;
            check_saved_plan(&document, &store, &config.sha256)?;
            let credentials = planning::resolve_credentials(&config.config)?;
            let client = planning::client(settings, &args.net)?;
            (document.plan(), credentials, client, true)
        }
        None => {
            let state = store.exists().then(|| store.state().clone());
            let planned = planning::plan_against(
                settings,
                &args.net,
                config.clone(),
                state,
                Scope::Everything,
            )
            .await?;
            let document = planned.document();
            if !args.json {
                crate::out!("{}", render::human(&document, style));
            }
            (planned.plan, planned.credentials, planned.client, false)
        }
    };

    let errors: Vec<_> = plan
        .diagnostics
        .iter()
        .filter(|d| d.severity == crate::plan::Severity::Error)
        .collect();
    if !errors.is_empty() {
        if saved || args.json {
            for d in &errors {
                eprintln!("error: {}: {}", d.address, d.message);
            }
        }
        if args.json {
            // Pipelines reading the event stream see why nothing happened.
            let summary = plan.summary();
            let mut events = vec![Event::ApplyStart {
                create: summary.create,
                adopt: summary.adopt,
            }];
            events.extend(errors.iter().map(|d| Event::ApplyErrored {
                address: d.address.clone(),
                action: "plan".to_owned(),
                flex_instance_sid: None,
                error: format!("{} ({})", d.message, d.kind.as_str()),
            }));
            events.push(Event::ChangeSummary {
                created: 0,
                adopted: 0,
                failed: errors.len(),
            });
            for event in events {
                crate::outln!("{}", serde_json::to_string(&event)?);
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
                },
                Event::ChangeSummary {
                    created: 0,
                    adopted: 0,
                    failed: 0,
                },
            ] {
                crate::outln!("{}", serde_json::to_string(&event)?);
            }
        } else if saved {
            crate::outln!("No changes. Flex instances match the configuration.");
        }
        return Ok(ExitStatus::Success);
    }
    if !saved && !args.auto_approve && !confirm()? {
        eprintln!("Apply cancelled. Nothing was changed.");
        return Ok(ExitStatus::Failure);
    }

    let interrupts = listen_for_interrupts(settings.quiet);
    let reporter: Arc<dyn Reporter> = if args.json {
        Arc::new(JsonReporter)
    } else if settings.stderr_is_terminal && !settings.quiet {
        Arc::new(TerminalReporter::new())
    } else {
        Arc::new(TextReporter {
            quiet: settings.quiet,
        })
    };
    let options = ApplyOptions {
        parallelism: usize::from(args.net.parallelism),
        wait: !args.no_wait,
        wait_timeout: args.wait_timeout,
        ..ApplyOptions::default()
    };
    let ctx = ApplyContext {
        client: &client,
        config: &config.config,
        credentials: &credentials,
        options,
        reporter,
        interrupts,
    };
    let (mut store, report) = apply::execute(&plan, store, ctx).await;
    let compacted = store.compact().await;
    let serial_after = store.state().serial;
    let entry = HistoryEntry::new("apply", serial_before, serial_after, report.history());
    if let Err(e) = store.append_history(&entry).await {
        eprintln!("warning: cannot append to the history: {e}");
    }
    store.release().await;
    let compact_failed = compacted.is_err();
    if let Err(e) = compacted {
        eprintln!(
            "error: {e}. Every change is kept in the journal beside the state and is folded in by the next flexform run"
        );
    }

    let (created, adopted, failed) = report.counts();
    let not_started: Vec<&String> = report
        .outcomes
        .iter()
        .filter(|(_, (_, o))| *o == ChangeOutcome::NotStarted)
        .map(|(address, _)| address)
        .collect();
    for (address, (_, outcome)) in &report.outcomes {
        if let ChangeOutcome::Failed { error, .. } = outcome {
            eprintln!("error: {address}: {error}");
        }
    }
    if !args.json {
        let line = format!("Resources: {created} created, {adopted} adopted, {failed} failed.");
        if failed == 0 && not_started.is_empty() {
            crate::outln!("Apply complete! {line}");
        } else {
            crate::outln!("Apply finished with errors. {line}");
        }
    }
    if report.interrupted {
        if !not_started.is_empty() {
            let list: Vec<&str> = not_started.iter().map(|s| s.as_str()).collect();
            eprintln!(
                "Interrupted: not started: {}. Run `flexform apply` again to finish.",
                list.join(", ")
            );
        } else {
            eprintln!("Interrupted: every change had started; run `flexform plan` to check.");
        }
        return Ok(ExitStatus::Interrupted);
    }
    Ok(if failed > 0 || compact_failed {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}

/// Refuses a saved plan that no longer matches the state or the configuration.
fn check_saved_plan(
    document: &PlanDocument,
    store: &StateStore,
    config_sha256: &str,
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
    if document.config_sha256 != config_sha256 {
        bail!("Saved plan was made from a different configuration (the file changed since); run plan again. Nothing was sent");
    }
    Ok(())
}

fn confirm() -> anyhow::Result<bool> {
    let mut stderr = std::io::stderr();
    write!(
        stderr,
        "\nDo you want to perform these actions? Only 'yes' will be accepted: "
    )?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    Ok(answer.trim() == "yes")
}

/// Counts Ctrl-C and SIGTERM: the first stops new creates, the second stops waiting.
///
/// The handlers are registered before this returns (not later, inside the spawned task), so
/// that a signal arriving as the first create starts is counted instead of killing the process
/// with its pending record unresolved, and none is lost between two receptions.
fn listen_for_interrupts(quiet: bool) -> watch::Receiver<u32> {
    let (sender, receiver) = watch::channel(0u32);
    #[cfg(unix)]
    let (mut interrupt, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    tokio::spawn(async move {
        loop {
            #[cfg(unix)]
            {
                tokio::select! {
                    _ = next(&mut interrupt) => {}
                    _ = next(&mut term) => {}
                }
            }
            #[cfg(not(unix))]
            {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            let mut count = 0;
            sender.send_modify(|n| {
                *n += 1;
                count = *n;
            });
            if !quiet {
                if count == 1 {
                    eprintln!("\nInterrupt received: no new creates will start; requests in flight finish and are recorded. Interrupt again to stop waiting.");
                } else {
                    eprintln!(
                        "\nSecond interrupt: no more waiting. Created instances are recorded; creates still in flight are recorded as their answers arrive."
                    );
                }
            }
        }
    });
    receiver
}

/// The next delivery of `signal`; never, when it could not be registered.
#[cfg(unix)]
async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// `--json`: one event per line on stdout.
struct JsonReporter;

impl Reporter for JsonReporter {
    fn event(&self, event: &Event) {
        if matches!(event, Event::ApplyProgress { .. }) {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string(event).expect("events serialize")
        );
        let _ = out.flush();
    }
}

/// Not a terminal: one plain line per change of status, on stderr.
struct TextReporter {
    quiet: bool,
}

impl Reporter for TextReporter {
    fn event(&self, event: &Event) {
        if self.quiet {
            return;
        }
        let line = match event {
            Event::ApplyStart { create, adopt } => {
                format!("Applying: {create} to create, {adopt} to adopt.")
            }
            Event::ApplyProgress { address, action } => format!("{address}: {action}…"),
            Event::ApplyComplete {
                address,
                action,
                flex_instance_sid,
                elapsed_seconds,
            } => {
                let verb = if action == "adopt" {
                    "adopted"
                } else {
                    "created"
                };
                format!("{address}: {verb} {flex_instance_sid} ({elapsed_seconds:.1}s)")
            }
            Event::ApplyErrored { address, .. } => format!("{address}: failed"),
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
        eprintln!("{line}");
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
            Event::ApplyComplete {
                address,
                action,
                flex_instance_sid,
                ..
            } => {
                let verb = if action == "adopt" {
                    "adopted"
                } else {
                    "created"
                };
                self.bar(address)
                    .set_message(format!("{verb} {flex_instance_sid}"));
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
