//! The audit trail: one JSON line per apply, import or state rm in `<state>.history.jsonl`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One change in a history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryChange {
    /// `flex_instance.<name>`.
    pub address: String,
    /// create, adopt, import, rm.
    pub action: String,
    /// The instance SID, when known.
    pub flex_instance_sid: Option<String>,
    /// ok, failed: …, outcome unknown, interrupted.
    pub outcome: String,
}

impl HistoryChange {
    /// A change that took effect.
    pub fn ok(address: String, action: &str, flex_instance_sid: Option<String>) -> Self {
        Self {
            address,
            action: action.to_owned(),
            flex_instance_sid,
            outcome: "ok".to_owned(),
        }
    }
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When (RFC 3339).
    pub time: String,
    /// `user@host`.
    pub who: String,
    /// CI variables that identify the run (GITHUB_ACTOR, GITHUB_RUN_ID, CI_JOB_ID, …).
    pub ci: std::collections::BTreeMap<String, String>,
    /// The command: apply, import, state rm.
    pub command: String,
    /// Serial before the run.
    pub serial_before: u64,
    /// Serial after the run.
    pub serial_after: u64,
    /// What happened.
    pub changes: Vec<HistoryChange>,
}

/// CI variables recorded in history when set.
const CI_VARIABLES: &[&str] = &[
    "GITHUB_ACTOR",
    "GITHUB_RUN_ID",
    "GITHUB_REPOSITORY",
    "GITHUB_SHA",
    "GITHUB_WORKFLOW",
    "CI_JOB_ID",
    "CI_PIPELINE_ID",
    "CI_PROJECT_PATH",
    "CI_COMMIT_SHA",
    "GITLAB_USER_LOGIN",
];

impl HistoryEntry {
    /// An entry stamped with now, the user and the CI variables of this process.
    pub fn new(
        command: &str,
        serial_before: u64,
        serial_after: u64,
        changes: Vec<HistoryChange>,
    ) -> Self {
        let ci = CI_VARIABLES
            .iter()
            .filter_map(|k| {
                std::env::var(k)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| ((*k).to_owned(), v))
            })
            .collect();
        Self {
            time: crate::support::stamp::now_rfc3339(),
            who: crate::support::stamp::who(),
            ci,
            command: command.to_owned(),
            serial_before,
            serial_after,
            changes,
        }
    }
}

/// The history file beside a state file.
pub fn history_path(state_path: &Path) -> PathBuf {
    crate::support::fs::sibling(state_path, ".history.jsonl")
}

/// Appends one entry durably.
pub fn append(state_path: &Path, entry: &HistoryEntry) -> std::io::Result<()> {
    let path = history_path(state_path);
    let mut line = serde_json::to_string(entry).expect("history serializes");
    line.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    file.write_all(line.as_bytes())?;
    file.sync_all()
}
