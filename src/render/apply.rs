//! Apply as it happens: each [`Event`] as a JSON line (`--json`), as a plain status line (not a
//! terminal), or as a progress line per instance (a terminal); and the events of an apply
//! that sends nothing (a plan with errors, or no changes); and what apply says when it is done.

use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Sink;
use crate::apply::{ChangeOutcome, Counts, Event, Reporter};
use crate::ops::apply::Applied;
use crate::plan::{Action, Plan, Severity};
use crate::state::StateError;

/// The events of an apply refused for the errors of its plan: the start, one terminal event
/// per address naming every error of it, and the summary, so that pipelines reading the event
/// stream see why nothing happened.
pub fn refused(plan: &Plan) -> Vec<Event> {
    let summary = plan.summary();
    let mut events = vec![Event::ApplyStart {
        create: summary.create,
        adopt: summary.adopt,
        moved: summary.moved,
        update: summary.update,
    }];
    let mut by_address: std::collections::BTreeMap<&str, Vec<String>> =
        std::collections::BTreeMap::new();
    for d in plan
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
    {
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
    events
}

/// The events of an apply with nothing to do.
pub fn no_changes() -> [Event; 2] {
    [
        Event::ApplyStart {
            create: 0,
            adopt: 0,
            moved: 0,
            update: 0,
        },
        Event::ChangeSummary {
            counts: Counts::default(),
        },
    ]
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

/// What apply says when it is done: an error per failure, the verdict line (text output) and
/// what an interrupted run left.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Each failure, for stderr.
    pub errors: Vec<String>,
    /// `Apply complete! Resources: …` (stdout; none with JSON output).
    pub verdict: Option<String>,
    /// What an interrupted run left undone (stderr).
    pub status: Option<String>,
}

/// The end of apply, from what it did (`json`: the events said the rest).
pub fn summary(applied: &Applied, json: bool) -> Summary {
    let report = &applied.report;
    let mut errors = Vec::new();
    match &applied.finish_error {
        Some(e @ StateError::TrailUnwritten { .. }) => errors.push(e.to_string()),
        Some(e) => errors.push(format!(
            "{e}. Every change is kept in the journal beside the state and is folded in by the next flexform run"
        )),
        None => {}
    }
    for (address, (_, outcome)) in &report.outcomes {
        if let ChangeOutcome::Failed { error, .. } = outcome {
            errors.push(format!("{address}: {error}"));
        }
    }
    for (address, error) in &report.configuration_failed {
        errors.push(format!(
            "{address}: took effect and is recorded, but {error}; the next `flexform apply` finishes its configuration"
        ));
    }
    for (address, error) in &report.release_failed {
        errors.push(format!(
            "{address}: took effect and is recorded, but {error}; the next `flexform apply` releases its plugins"
        ));
    }
    for (address, sid, waited) in report.timed_out() {
        errors.push(format!(
            "{address}: {sid} is created and recorded but still provisioning after {} (--wait-timeout); run `flexform plan` later to check on it",
            humantime::format_duration(waited)
        ));
    }
    let verdict = (!json).then(|| {
        let verdict = if report.interrupted {
            "Apply interrupted."
        } else if applied.failed() {
            "Apply finished with errors."
        } else {
            "Apply complete!"
        };
        format!("{verdict} Resources: {}.", report.counts().line())
    });
    let status = report.interrupted.then(|| {
        let not_started = report.not_started();
        if not_started.is_empty() {
            "Interrupted: every change had started; run `flexform plan` to check.".to_owned()
        } else {
            format!(
                "Interrupted: not started: {}. Run `flexform apply` again to finish.",
                not_started.join(", ")
            )
        }
    });
    Summary {
        errors,
        verdict,
        status,
    }
}

/// An event as one line of JSON.
pub fn json(event: &Event) -> String {
    serde_json::to_string(event).expect("events serialize")
}

/// `--json`: one event per line on stdout.
pub struct JsonReporter<S> {
    /// Where the lines go.
    pub out: S,
}

impl<S: Sink> Reporter for JsonReporter<S> {
    fn event(&self, event: &Event) {
        if matches!(event, Event::ApplyProgress { .. }) {
            return;
        }
        self.out.data_line(json(event));
    }
}

/// Not a terminal: one plain line per change of status, on stderr.
pub struct TextReporter<S> {
    /// Where the lines go.
    pub out: S,
}

impl<S: Sink> Reporter for TextReporter<S> {
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
            } => format!("{address}: updated {flex_instance_sid} in place"),
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
pub struct TerminalReporter {
    multi: MultiProgress,
    bars: Mutex<std::collections::HashMap<String, ProgressBar>>,
}

impl Default for TerminalReporter {
    fn default() -> Self {
        Self::new()
    }
}

impl TerminalReporter {
    /// Bars drawn on stderr.
    pub fn new() -> Self {
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
