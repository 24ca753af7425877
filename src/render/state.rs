//! The state for people: a plain table and a Markdown table (`flexform show`).

use std::fmt::Write;

use crate::plan::address;
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
