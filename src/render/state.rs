//! The state for people and scripts: a plain table and a Markdown table (`flexform show`,
//! `state list`), its records as JSON (`state list --json`, `state show`, `state pull`), and
//! the line each state command (`state rm|mv|push`, `force-unlock`, `import`) prints for what
//! it did.

use std::fmt::Write;

use crate::ops::import::Imported;
use crate::ops::state::{Moved, Pushed, Recorded, Removed};
use crate::plan::address;
use crate::state::ForceUnlock;
use crate::state::State;
use crate::support::text::{markdown_cell, markdown_code};

/// The state as a table: name, account, SID, status (one line per instance).
pub fn state_table(state: &State) -> String {
    let mut out = String::new();
    for (name, r) in &state.instances {
        let _ = writeln!(
            out,
            "{name}\t{}\t{}\t{}",
            r.account_sid, r.flex_instance_sid, r.status
        );
    }
    out
}

/// `flexform show --format markdown` without a file: the state as a Markdown table.
pub fn state_markdown(state: &State) -> String {
    let mut out = format!(
        "### flexform state\n\nSerial {}, lineage {}.\n\n",
        state.serial,
        markdown_code(&state.lineage)
    );
    out.push_str(
        "| address | account | SID | status | origin |\n| --- | --- | --- | --- | --- |\n",
    );
    for (name, r) in &state.instances {
        let origin = serde_json::to_value(r.origin)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        // Names and statuses come from a state file, which may have been edited by hand.
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {origin} |",
            markdown_code(&address(name)),
            markdown_code(r.account_sid.as_str()),
            markdown_code(r.flex_instance_sid.as_str()),
            markdown_cell(r.status.as_str())
        );
    }
    for (name, p) in &state.pending {
        let _ = writeln!(
            out,
            "| {} | {} | (create pending) | | since {} |",
            markdown_code(&address(name)),
            markdown_code(p.account_sid.as_str()),
            markdown_cell(&p.started_at)
        );
    }
    out
}

/// `state list --json`: the records by name, as the state file holds them; `{}` before any
/// apply.
pub fn instances_json(state: Option<&State>) -> String {
    let empty = std::collections::BTreeMap::new();
    let instances = state.map_or(&empty, |s| &s.instances);
    let mut text = serde_json::to_string_pretty(instances).expect("records always serialize");
    text.push('\n');
    text
}

/// `state show NAME`: the record, or the interrupted create as `{"pending_create": …}`.
pub fn recorded_json(recorded: Recorded<'_>) -> String {
    let mut text = match recorded {
        Recorded::Instance(record) => serde_json::to_string_pretty(record),
        Recorded::Pending(pending) => {
            serde_json::to_string_pretty(&serde_json::json!({ "pending_create": pending }))
        }
    }
    .expect("records always serialize");
    text.push('\n');
    text
}

/// `state pull`: the state document as stored.
pub fn document(state: &State) -> String {
    String::from_utf8_lossy(&state.to_bytes()).into_owned()
}

/// `state pull` before the first apply prints an empty state, and says so (a note).
pub fn no_state_yet(place: &str) -> String {
    format!("{place} has no state yet; printed an empty state (serial 0)")
}

/// What `state rm` did.
pub fn removed(removed: &Removed) -> String {
    format!(
        "Removed {} from the state{}. The instance itself is untouched.",
        removed.address,
        removed
            .sid
            .as_ref()
            .map_or_else(String::new, |s| format!(" ({s})"))
    )
}

/// What `state mv` did.
pub fn moved(moved: &Moved) -> String {
    format!("Moved {} to {} ({}).", moved.from, moved.to, moved.sid)
}

/// What `state push` did.
pub fn pushed(pushed: &Pushed) -> String {
    format!(
        "Pushed {} to {} (serial {}).",
        pushed.file.display(),
        pushed.place,
        pushed.serial
    )
}

/// What `force-unlock ID` did.
pub fn unlocked(outcome: ForceUnlock, id: &str) -> String {
    match outcome {
        ForceUnlock::Cleared => format!("Cleared stale lock info {id}."),
        ForceUnlock::NothingToClear => "No lock info to clear: the state is not locked.".to_owned(),
    }
}

/// What `import` did.
pub fn imported(imported: &Imported) -> String {
    match imported {
        Imported::Recorded {
            address,
            sid,
            status,
        } => format!("Imported {sid} ({status}) as {address}."),
        Imported::AlreadyRecorded { address, sid } => {
            format!("{address} already records {sid}; nothing to do.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::InstanceStatus;

    #[test]
    fn list_json_is_the_records_by_name_and_an_empty_object_before_any_apply() {
        assert_eq!(instances_json(None), "{}\n");
        assert_eq!(instances_json(Some(&State::empty())), "{}\n");
    }

    #[test]
    fn each_state_command_says_what_it_did_in_one_line() {
        let removed_one = Removed {
            address: "flex_instance.a".into(),
            sid: Some("GO1".into()),
        };
        assert_eq!(
            removed(&removed_one),
            "Removed flex_instance.a from the state (GO1). The instance itself is untouched."
        );
        let pending_only = Removed {
            sid: None,
            ..removed_one
        };
        assert_eq!(
            removed(&pending_only),
            "Removed flex_instance.a from the state. The instance itself is untouched."
        );
        let move_ = Moved {
            from: "flex_instance.a".into(),
            to: "flex_instance.b".into(),
            sid: "GO1".into(),
        };
        assert_eq!(
            moved(&move_),
            "Moved flex_instance.a to flex_instance.b (GO1)."
        );
        let push = Pushed {
            file: "p.json".into(),
            place: "s.json".into(),
            serial: 9,
        };
        assert_eq!(pushed(&push), "Pushed p.json to s.json (serial 9).");
        assert_eq!(
            unlocked(ForceUnlock::Cleared, "42"),
            "Cleared stale lock info 42."
        );
        assert_eq!(
            unlocked(ForceUnlock::NothingToClear, "42"),
            "No lock info to clear: the state is not locked."
        );
    }

    #[test]
    fn import_says_what_it_recorded_or_that_it_was_recorded_already() {
        let recorded = Imported::Recorded {
            address: "flex_instance.a".into(),
            sid: "GO1".into(),
            status: InstanceStatus::Ready,
        };
        assert_eq!(
            imported(&recorded),
            "Imported GO1 (ready) as flex_instance.a."
        );
        let again = Imported::AlreadyRecorded {
            address: "flex_instance.a".into(),
            sid: "GO1".into(),
        };
        assert_eq!(
            imported(&again),
            "flex_instance.a already records GO1; nothing to do."
        );
    }
}
