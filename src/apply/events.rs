//! What happens during apply, as typed events: for people (progress lines) and machines
//! (`apply --json`, one JSON object per line).

use serde::Serialize;

use super::outcome::Counts;
use crate::plan::Action;

/// One thing that happened during apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Apply begins.
    ApplyStart {
        /// Instances to create.
        create: usize,
        /// Instances to adopt.
        adopt: usize,
        /// Instances recorded under a new name.
        #[serde(rename = "move")]
        moved: usize,
        /// Instances whose Flex configuration is set (an update, or a create, adopt or move
        /// that also configures).
        update: usize,
    },
    /// A change is starting.
    ApplyProgress {
        /// `flex_instance.<name>`.
        address: String,
        /// create or adopt.
        action: Action,
    },
    /// A change took effect and its SID is recorded in the state (not the end of the change:
    /// apply may still wait for the instance to be ready).
    Recorded {
        /// `flex_instance.<name>`.
        address: String,
        /// create or adopt.
        action: Action,
        /// The instance.
        flex_instance_sid: String,
        /// Seconds since this change started.
        elapsed_seconds: f64,
    },
    /// The end of a change that took effect: created, adopted or moved, and recorded. One
    /// terminal event (`apply_complete`, `apply_errored` or `apply_not_started`) per address.
    ApplyComplete {
        /// `flex_instance.<name>`.
        address: String,
        /// create, adopt or move.
        action: Action,
        /// The instance.
        flex_instance_sid: String,
        /// Whether the instance is ready; when false, `still_provisioning` says why.
        ready: bool,
        /// Why an instance is not ready yet: `not_waited` (`--no-wait`), `stopped_waiting`
        /// (interrupted), `wait_timed_out`. Absent when ready.
        #[serde(skip_serializing_if = "Option::is_none")]
        still_provisioning: Option<&'static str>,
        /// For a create, adopt or move that took effect but whose Flex configuration did not:
        /// why (the next apply finishes it). Absent otherwise.
        #[serde(skip_serializing_if = "Option::is_none")]
        configuration_error: Option<String>,
        /// Seconds since this change started.
        elapsed_seconds: f64,
    },
    /// The end of a change that failed.
    ApplyErrored {
        /// `flex_instance.<name>`.
        address: String,
        /// create or adopt.
        action: Action,
        /// The instance, when it exists and is recorded (e.g. it was created but provisioning
        /// failed).
        flex_instance_sid: Option<String>,
        /// What went wrong and what to do.
        error: String,
    },
    /// A change an interrupt kept from starting: nothing was sent for it.
    ApplyNotStarted {
        /// `flex_instance.<name>`.
        address: String,
        /// What it would have done.
        action: Action,
    },
    /// A create's outcome is unknown (a 5xx, a timeout): apply looks by discovery to learn
    /// whether it took effect before it sends another.
    OutcomeUnknown {
        /// `flex_instance.<name>`.
        address: String,
        /// What made the outcome unknown.
        error: String,
        /// An answer came back (a 5xx): apply looks once the settle period is over; without
        /// one (a timeout, a lost connection) it polls until the in-flight window is over.
        answered: bool,
        /// Seconds until apply looks (answered) or until the window is over (not answered).
        look_in_seconds: f64,
    },
    /// A create sent again was refused with 409: an earlier create took effect; apply finds
    /// it by discovery and adopts it.
    CreateConflict {
        /// `flex_instance.<name>`.
        address: String,
        /// The 409.
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
    /// The end: what happened, counted.
    ChangeSummary {
        /// The counts.
        #[serde(flatten)]
        counts: Counts,
    },
}

/// Receives events as they happen.
pub trait Reporter: Send + Sync {
    /// One event.
    fn event(&self, event: &Event);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_serialize_as_in_the_plan() {
        let event = Event::ApplyProgress {
            address: "flex_instance.a".into(),
            action: Action::Create,
        };
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"type":"apply_progress","address":"flex_instance.a","action":"create"}"#
        );
    }
}
