//! The audit trail: one JSON line per apply, import, state rm or state push in
//! `<state>.history.jsonl` (or the `flexform_history` table), each carrying the run's
//! provenance and the digest of the entry before it: a hash chain whose newest link the state
//! records, so that `flexform history verify` detects an edited, deleted, reordered or cut
//! trail.

use std::io::Write;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One change in a history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryChange {
    /// `flex_instance.<name>`.
    pub address: String,
    /// create, adopt, import, rm.
    pub action: String,
    /// The instance SID, when known.
    pub flex_instance_sid: Option<String>,
    /// ok, failed: …, outcome unknown, interrupted.
    pub outcome: String,
    /// The Flex configuration paths the change set (an update, or a create, adopt or move
    /// that configured the instance).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configuration: Vec<String>,
}

impl HistoryChange {
    /// A change that took effect.
    pub fn ok(address: String, action: &str, flex_instance_sid: Option<String>) -> Self {
        Self {
            address,
            action: action.to_owned(),
            flex_instance_sid,
            outcome: "ok".to_owned(),
            configuration: Vec::new(),
        }
    }
}

/// What a run was made from and where it ran: the evidence that ties a change to the
/// reviewed plan and the pipeline run that carried it out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// SHA-256 of the configuration file the run used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_sha256: Option<String>,
    /// SHA-256 of the saved plan file's bytes, when a plan file was applied (`flexform show`
    /// prints the same digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_sha256: Option<String>,
    /// The pipeline run: GitHub's `$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/
    /// $GITHUB_RUN_ID`, or GitLab's `$CI_JOB_URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    /// The commit the pipeline ran on (`GITHUB_SHA`, `CI_COMMIT_SHA`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

impl Provenance {
    /// The run's provenance from the CI variables of `env`, and the digests given.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        config_sha256: Option<String>,
        plan_sha256: Option<String>,
    ) -> Self {
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let github = match (
            var("GITHUB_SERVER_URL"),
            var("GITHUB_REPOSITORY"),
            var("GITHUB_RUN_ID"),
        ) {
            (Some(server), Some(repository), Some(run)) => Some(format!(
                "{}/{repository}/actions/runs/{run}",
                server.trim_end_matches('/')
            )),
            _ => None,
        };
        Self {
            config_sha256,
            plan_sha256,
            run_url: github.or_else(|| var("CI_JOB_URL")),
            commit: var("GITHUB_SHA").or_else(|| var("CI_COMMIT_SHA")),
        }
    }

    fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// One line of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// When (RFC 3339).
    pub time: String,
    /// `user@host`.
    pub who: String,
    /// CI variables that identify the run (GITHUB_ACTOR, GITHUB_RUN_ID, CI_JOB_ID, …).
    pub ci: std::collections::BTreeMap<String, String>,
    /// The command: apply, import, state rm, state push.
    pub command: String,
    /// Serial before the run.
    pub serial_before: u64,
    /// Serial after the run.
    pub serial_after: u64,
    /// What happened.
    pub changes: Vec<HistoryChange>,
    /// What the run was made from and where it ran.
    #[serde(default, skip_serializing_if = "Provenance::is_empty")]
    pub provenance: Provenance,
    /// SHA-256 of the previous entry (64 zeros for the first): the trail is a hash chain, and
    /// the state records the digest of the newest entry. Absent in entries of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_sha256: Option<String>,
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

/// The `prev_sha256` of the first entry of a chain.
pub const CHAIN_START: &str = "0000000000000000000000000000000000000000000000000000000000000000";

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
            provenance: Provenance::default(),
            prev_sha256: None,
        }
    }

    /// The entry as one line of JSON (no newline): what is stored, and what is hashed.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("history serializes")
    }

    /// SHA-256 of the entry's line: what the next entry and the state record.
    pub fn sha256(&self) -> String {
        crate::support::hash::sha256_hex(self.to_line().as_bytes())
    }
}

/// The audit trail as `flexform history --format json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "flexform history")]
pub struct HistoryDocument {
    /// Format of this document: 1.
    pub format_version: u32,
    /// The entries that matched, newest first.
    pub entries: Vec<HistoryEntry>,
}

/// One entry of a trail as read: the entry, or why its line does not parse.
pub type ReadEntry = Result<HistoryEntry, String>;

/// What `history verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries read.
    pub entries: usize,
    /// Entries before the chain began (written by an older flexform), accepted as they are.
    pub legacy: usize,
    /// Entries after the newest one the state records: their runs died before writing the
    /// state (or were added since).
    pub unconfirmed: usize,
    /// The first entry that breaks the chain, if any.
    pub broken: Option<Broken>,
}

/// Where and why a trail stops being trustworthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The entry, counting from 1 (oldest first); 0 when the trail has no entry at all
    /// although the state records one (the trail was deleted or emptied).
    pub entry: usize,
    /// What is wrong, in one sentence.
    pub reason: String,
}

/// The addresses linked to `address` by moves: a move's entry ("ok (moved from
/// flex_instance.OLD)") links the new address to the old one, so that an instance's trail
/// survives renames. Backwards only (`forward` false): the addresses the instance now at
/// `address` had. Both ways: every address the instance ever had, from any of them.
pub fn addresses_of<'a>(
    entries: impl Iterator<Item = &'a HistoryEntry> + Clone,
    address: &str,
    forward: bool,
) -> Vec<String> {
    let mut addresses = vec![address.to_owned()];
    loop {
        let before = addresses.len();
        for change in entries.clone().flat_map(|e| e.changes.iter()) {
            let Some(from) = change
                .outcome
                .strip_prefix("ok (moved from ")
                .and_then(|rest| rest.strip_suffix(')'))
            else {
                continue;
            };
            let has = |a: &str| addresses.iter().any(|x| x == a);
            if has(&change.address) && !has(from) {
                addresses.push(from.to_owned());
            } else if forward && has(from) && !has(&change.address) {
                addresses.push(change.address.clone());
            }
        }
        if addresses.len() == before {
            return addresses;
        }
    }
}

/// Checks a trail (oldest first) against itself and against `anchor`, the digest of the
/// newest entry as the state records it. Pure: the tests give it edited, deleted, swapped and
/// cut trails.
pub fn verify(trail: &[ReadEntry], anchor: Option<&str>) -> Verified {
    let mut report = Verified {
        entries: trail.len(),
        legacy: 0,
        unconfirmed: 0,
        broken: None,
    };
    let mut previous: Option<String> = None;
    let mut chained = false;
    for (index, read) in trail.iter().enumerate() {
        let number = index + 1;
        let entry = match read {
            Ok(entry) => entry,
            Err(message) => {
                report.broken = Some(Broken {
                    entry: number,
                    reason: format!("it is not a history entry ({message})"),
                });
                return report;
            }
        };
        match (&entry.prev_sha256, chained) {
            (None, false) => report.legacy += 1,
            (None, true) => {
                report.broken = Some(Broken {
                    entry: number,
                    reason: "it carries no link to the entry before it, inside the chain"
                        .to_owned(),
                });
                return report;
            }
            (Some(prev), _) => {
                let expected = previous.as_deref().unwrap_or(CHAIN_START);
                if prev != expected {
                    report.broken = Some(Broken {
                        entry: number,
                        reason: format!(
                            "it does not follow entry {}: an entry before it was edited, deleted or moved, or it was",
                            index
                        ),
                    });
                    return report;
                }
                chained = true;
            }
        }
        previous = Some(entry.sha256());
    }
    if let Some(anchor) = anchor {
        if trail.is_empty() {
            report.broken = Some(Broken {
                entry: 0,
                reason: format!(
                    "the trail is missing or empty, but the state records its newest entry (SHA-256 {anchor}): the trail was deleted or emptied"
                ),
            });
            return report;
        }
        let hashes: Vec<Option<String>> = trail
            .iter()
            .map(|r| r.as_ref().ok().map(HistoryEntry::sha256))
            .collect();
        match hashes.iter().rposition(|h| h.as_deref() == Some(anchor)) {
            Some(position) => report.unconfirmed = trail.len() - position - 1,
            None => {
                report.broken = Some(Broken {
                    entry: trail.len(),
                    reason: "the state records a newer entry than the trail's last one: the trail was cut, or its last entry edited".to_owned(),
                })
            }
        }
    }
    report
}

/// The history file beside a state file.
pub fn history_path(state_path: &Path) -> PathBuf {
    crate::support::fs::sibling(state_path, ".history.jsonl")
}

/// Reads the trail beside a state file, oldest first (none: no file).
pub fn read(state_path: &Path) -> std::io::Result<Vec<ReadEntry>> {
    let text = match std::fs::read_to_string(history_path(state_path)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(parse_lines(text.lines()))
}

/// Parses lines of a trail, blank lines skipped.
pub fn parse_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<ReadEntry> {
    lines
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str::<HistoryEntry>(line).map_err(|e| e.to_string()))
        .collect()
}

/// What the next entry links to: the digest of the newest entry of `trail`, or the start of
/// a chain. A last line that does not parse is linked by its digest as it is.
pub fn next_link(last_line: Option<&str>) -> String {
    match last_line {
        None => CHAIN_START.to_owned(),
        Some(line) => match serde_json::from_str::<HistoryEntry>(line) {
            Ok(entry) => entry.sha256(),
            Err(_) => crate::support::hash::sha256_hex(line.as_bytes()),
        },
    }
}

/// Appends one entry durably, linked to the newest one; returns its digest.
pub fn append(state_path: &Path, entry: &mut HistoryEntry) -> std::io::Result<String> {
    let path = history_path(state_path);
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    entry.prev_sha256 = Some(next_link(
        existing.lines().rfind(|line| !line.trim().is_empty()),
    ));
    let mut line = entry.to_line();
    line.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    file.write_all(line.as_bytes())?;
    file.sync_all()?;
    Ok(entry.sha256())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chained trail of `n` entries, as `append` writes it.
    fn trail(n: usize) -> Vec<HistoryEntry> {
        let mut entries: Vec<HistoryEntry> = Vec::new();
        for i in 0..n {
            let mut entry = HistoryEntry::new("apply", i as u64, i as u64 + 1, Vec::new());
            entry.time = format!("2026-01-01T00:00:0{i}Z");
            entry.prev_sha256 = Some(next_link(entries.last().map(|e| e.to_line()).as_deref()));
            entries.push(entry);
        }
        entries
    }

    fn read(entries: &[HistoryEntry]) -> Vec<ReadEntry> {
        entries.iter().cloned().map(Ok).collect()
    }

    #[test]
    fn an_untouched_trail_verifies_against_the_state() {
        let t = trail(4);
        let anchor = t[3].sha256();
        let report = verify(&read(&t), Some(&anchor));
        assert_eq!(report.broken, None);
        assert_eq!(
            (report.entries, report.legacy, report.unconfirmed),
            (4, 0, 0)
        );
    }

    #[test]
    fn edits_deletions_swaps_and_cuts_name_the_entry_that_breaks() {
        let t = trail(4);
        let anchor = t[3].sha256();
        let mut edited = t.clone();
        edited[1].who = "mallory@elsewhere".into();
        assert_eq!(
            verify(&read(&edited), Some(&anchor)).broken.unwrap().entry,
            3
        );
        let mut deleted = t.clone();
        deleted.remove(1);
        assert_eq!(
            verify(&read(&deleted), Some(&anchor)).broken.unwrap().entry,
            2
        );
        let mut swapped = t.clone();
        swapped.swap(1, 2);
        assert_eq!(
            verify(&read(&swapped), Some(&anchor)).broken.unwrap().entry,
            2
        );
        let cut = &t[..3];
        let broken = verify(&read(cut), Some(&anchor)).broken.unwrap();
        assert_eq!(broken.entry, 3);
        assert!(broken.reason.contains("cut"), "{}", broken.reason);
        let mut last_edited = t.clone();
        last_edited[3].command = "import".into();
        assert!(verify(&read(&last_edited), Some(&anchor)).broken.is_some());
        let mut garbage = read(&t);
        garbage[2] = Err("expected value at line 1".into());
        assert_eq!(verify(&garbage, Some(&anchor)).broken.unwrap().entry, 3);
    }

    #[test]
    fn older_entries_without_links_are_a_legacy_prefix_only() {
        let mut legacy = HistoryEntry::new("apply", 0, 1, Vec::new());
        legacy.prev_sha256 = None;
        let mut chained = HistoryEntry::new("import", 1, 2, Vec::new());
        chained.prev_sha256 = Some(legacy.sha256());
        let report = verify(
            &read(&[legacy.clone(), chained.clone()]),
            Some(&chained.sha256()),
        );
        assert_eq!((report.legacy, report.broken), (1, None));
        // A link-less entry after the chain began is a break.
        let report = verify(&read(&[legacy.clone(), chained, legacy]), None);
        assert_eq!(report.broken.unwrap().entry, 3);
    }

    #[test]
    fn a_missing_trail_the_state_anchors_is_broken_at_entry_0() {
        let t = trail(2);
        let anchor = t[1].sha256();
        let broken = verify(&[], Some(&anchor)).broken.unwrap();
        assert_eq!(broken.entry, 0);
        assert!(
            broken.reason.contains("missing or empty"),
            "{}",
            broken.reason
        );
        assert!(broken.reason.contains(&anchor), "{}", broken.reason);
        // No anchor, no entries: nothing to contradict.
        assert_eq!(verify(&[], None).broken, None);
    }

    #[test]
    fn entries_after_the_anchor_are_unconfirmed_not_broken() {
        let t = trail(3);
        let report = verify(&read(&t), Some(&t[1].sha256()));
        assert_eq!((report.unconfirmed, report.broken), (1, None));
    }

    #[test]
    fn provenance_names_the_run_and_the_commit() {
        let github = |name: &str| {
            [
                ("GITHUB_SERVER_URL", "https://github.com"),
                ("GITHUB_REPOSITORY", "acme/flex"),
                ("GITHUB_RUN_ID", "42"),
                ("GITHUB_SHA", "abc123"),
            ]
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
        };
        let p = Provenance::from_env(&github, Some("c".into()), None);
        assert_eq!(
            p.run_url.as_deref(),
            Some("https://github.com/acme/flex/actions/runs/42")
        );
        assert_eq!(p.commit.as_deref(), Some("abc123"));
        let gitlab = |name: &str| match name {
            "CI_JOB_URL" => Some("https://gitlab.example/acme/flex/-/jobs/7".to_owned()),
            "CI_COMMIT_SHA" => Some("def456".to_owned()),
            _ => None,
        };
        let p = Provenance::from_env(&gitlab, None, Some("p".into()));
        assert_eq!(
            p.run_url.as_deref(),
            Some("https://gitlab.example/acme/flex/-/jobs/7")
        );
        assert_eq!(p.commit.as_deref(), Some("def456"));
        assert_eq!(p.plan_sha256.as_deref(), Some("p"));
    }
}
