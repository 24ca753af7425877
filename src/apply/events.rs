//! What happens during apply, as typed events: for people (progress lines) and machines
//! (`apply --json`, one JSON object per line).

use serde::Serialize;

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
    },
    /// A change is starting.
    ApplyProgress {
        /// `flex_instance.<name>`.
        address: String,
        /// create or adopt.
        action: Action,
    },
    /// A change took effect and is recorded.
    ApplyComplete {
        /// `flex_instance.<name>`.
        address: String,
        /// create or adopt.
        action: Action,
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
        action: Action,
        /// The instance, when it exists and is recorded (e.g. it was created but provisioning
        /// failed or the wait timed out).
        flex_instance_sid: Option<String>,
        /// What went wrong and what to do.
        error: String,
    },
    /// A create's outcome is unknown (a 5xx, a timeout): apply polls discovery to learn
    /// whether it took effect before it sends another.
    OutcomeUnknown {
        /// `flex_instance.<name>`.
        address: String,
        /// What made the outcome unknown.
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
