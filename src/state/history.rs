//! The audit trail: one JSON line per apply, import, state rm or state push in
//! `<state>.history.jsonl` (or the `flexform_history` table), each carrying the run's
//! provenance and the digest of the entry before it: a hash chain whose newest link the state
//! records, so that `flexform history verify` detects an edited, deleted, reordered or cut
//! trail.

use crate::support::env::Env;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One change in a history entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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
    /// The fingerprint (`SHA256:…`) of the SSH key that signed the entry, when the run had a
    /// signing key (`FLEXFORM_SIGNING_KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// The SSH signature (SSHSIG, namespace `flexform-history`, armored) over the entry's
    /// line without this field, followed by a newline. Always the last field of the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
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

/// Who runs a writing command, as its lock and its audit-trail entries name them: `user@host`
/// and the CI variables of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    /// `user@host`.
    pub who: String,
    /// The CI variables set (`GITHUB_RUN_ID`, `CI_JOB_ID`, …).
    pub ci: std::collections::BTreeMap<String, String>,
    /// The pipeline run and commit, as every entry's provenance names them.
    pub pipeline: Provenance,
}

impl Runner {
    /// The runner `env` describes.
    pub fn from_env(env: &Env) -> Self {
        let ci = CI_VARIABLES
            .iter()
            .filter_map(|k| env.non_empty(k).map(|v| ((*k).to_owned(), v)))
            .collect();
        Self {
            who: crate::support::stamp::who(env),
            ci,
            pipeline: Provenance::from_env(&|name| env.get(name), None, None),
        }
    }

    /// The provenance of an entry of this runner's: its pipeline run and commit, and the
    /// digests of the configuration and the saved plan the run used.
    pub fn provenance(
        &self,
        config_sha256: Option<String>,
        plan_sha256: Option<String>,
    ) -> Provenance {
        Provenance {
            config_sha256,
            plan_sha256,
            ..self.pipeline.clone()
        }
    }
}

/// This machine's user, as the system's account database names it, and no CI variables.
impl Default for Runner {
    fn default() -> Self {
        Self::from_env(&Env::empty())
    }
}

impl HistoryEntry {
    /// An entry stamped with now and [`Runner::default`] (a writing run names its runner:
    /// [`HistoryEntry::by`]).
    pub fn new(
        command: &str,
        serial_before: u64,
        serial_after: u64,
        changes: Vec<HistoryChange>,
    ) -> Self {
        Self::by(
            &Runner::default(),
            command,
            serial_before,
            serial_after,
            changes,
        )
    }

    /// An entry of `runner`'s, stamped with now.
    pub fn by(
        runner: &Runner,
        command: &str,
        serial_before: u64,
        serial_after: u64,
        changes: Vec<HistoryChange>,
    ) -> Self {
        Self {
            time: crate::support::stamp::now_rfc3339(),
            who: runner.who.clone(),
            ci: runner.ci.clone(),
            command: command.to_owned(),
            serial_before,
            serial_after,
            changes,
            provenance: Provenance::default(),
            prev_sha256: None,
            signer: None,
            signature: None,
        }
    }

    /// The entry as one line of JSON (no newline): what is stored.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("history serializes")
    }

    /// SHA-256 of the entry as flexform serialises it: the digest of a PostgreSQL row of
    /// schema 1, whose exact bytes were not kept (every other line's digest is of its exact
    /// bytes, `TrailLine::digest`).
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

/// The changes of `entries` (the trail, oldest first) that are one instance's, as (entry,
/// change) positions: its trail, across its renames, and never another instance's.
///
/// The trail is read as instances, oldest first. A change carrying a SID the trail has seen
/// belongs to that SID's instance (so a swap of two names in one run, or an `import` of a
/// forgotten instance under a new name, follows the instance); a move (`ok (moved from
/// flex_instance.OLD)`) without one belongs to the instance recorded at OLD; any other change
/// belongs to the instance recorded at its address then, or starts a new one. So a failed or
/// interrupted create (no SID) at an address counts for whoever was there at that time, and
/// an old name taken by another instance after a rename counts for the first one only before
/// the move, for the new one only after it. A change that took effect (`ok…`) records its
/// instance at its address (a move frees the old one, an `rm` frees it too); a failed one
/// leaves it where it was. A new SID at an address still recorded (a replacement of an
/// instance deleted outside flexform) is the same record, so its trail goes on.
///
/// `forward` false: the instance recorded at `address` now (the report, one per record).
/// `forward` true (`history --instance`): the instances last recorded at `address` (the one
/// there now, and any forgotten there with `state rm`), or, when none was, the instances that
/// ever had that address, followed to wherever they went.
pub fn changes_of(
    entries: &[HistoryEntry],
    address: &str,
    forward: bool,
) -> std::collections::BTreeSet<(usize, usize)> {
    let mut trails = InstanceTrails::default();
    for (e, entry) in entries.iter().enumerate() {
        for (c, change) in entry.changes.iter().enumerate() {
            trails.follow((e, c), change);
        }
    }
    trails
        .chosen(address, forward)
        .into_iter()
        .flat_map(|i| i.changes.iter().copied())
        .collect()
}

/// One instance as the trail shows it.
struct TrailInstance<'a> {
    /// Where it is recorded now (`None` after an `rm`).
    at: Option<&'a str>,
    /// Where it was placed last: `at`, or where it was forgotten.
    last: &'a str,
    /// Every address a change of it named.
    held: std::collections::BTreeSet<&'a str>,
    /// Its changes, as (entry, change) positions.
    changes: Vec<(usize, usize)>,
}

/// The trail read as instances, oldest first ([`changes_of`]).
#[derive(Default)]
struct InstanceTrails<'a> {
    /// Every instance seen so far.
    instances: Vec<TrailInstance<'a>>,
    /// Which instance is recorded at an address.
    at: std::collections::HashMap<&'a str, usize>,
    /// Which instance a SID is.
    by_sid: std::collections::HashMap<&'a str, usize>,
}

impl<'a> InstanceTrails<'a> {
    /// Gives the change at `position` to its instance and, when it took effect (or is the
    /// instance's first sight), records that instance at its address.
    fn follow(&mut self, position: (usize, usize), change: &'a HistoryChange) {
        let here = change.address.as_str();
        let sid = change.flex_instance_sid.as_deref();
        let moved_from = change
            .outcome
            .strip_prefix("ok (moved from ")
            .and_then(|rest| rest.strip_suffix(')'));
        let (id, fresh) = self.instance_of(here, sid, moved_from);
        let instance = &mut self.instances[id];
        instance.held.insert(here);
        instance.held.extend(moved_from);
        instance.changes.push(position);
        let took_effect = change.outcome.starts_with("ok");
        if fresh || took_effect {
            self.place(id, here, moved_from, change.action == "rm");
        }
    }

    /// The instance a change is of, and whether it is new: the one its SID is, else the one
    /// recorded where it moved from (or at its address), else a new one.
    fn instance_of(
        &mut self,
        here: &'a str,
        sid: Option<&'a str>,
        moved_from: Option<&'a str>,
    ) -> (usize, bool) {
        let known = sid
            .and_then(|s| self.by_sid.get(s).copied())
            .or_else(|| self.at.get(moved_from.unwrap_or(here)).copied());
        let fresh = known.is_none();
        let id = known.unwrap_or_else(|| {
            self.instances.push(TrailInstance {
                at: None,
                last: here,
                held: std::collections::BTreeSet::new(),
                changes: Vec::new(),
            });
            self.instances.len() - 1
        });
        if let Some(sid) = sid {
            self.by_sid.insert(sid, id);
        }
        (id, fresh)
    }

    /// Records instance `id` at `here` (or, for an `rm`, nowhere), leaving where it was.
    fn place(&mut self, id: usize, here: &'a str, moved_from: Option<&'a str>, rm: bool) {
        let instance = &mut self.instances[id];
        // It leaves where it was, unless another instance has taken that address since
        // (the other half of a swap).
        for old in instance.at.into_iter().chain(moved_from) {
            if old != here && self.at.get(old) == Some(&id) {
                self.at.remove(old);
            }
        }
        instance.last = here;
        if rm {
            instance.at = None;
            if self.at.get(here) == Some(&id) {
                self.at.remove(here);
            }
        } else {
            // A failed change is here only when nobody is recorded here (else it would be
            // theirs): a first sight, placed without displacing anyone.
            instance.at = Some(here);
            self.at.insert(here, id);
        }
    }

    /// The instances [`changes_of`] follows for `address` (see there for `forward`).
    fn chosen(&self, address: &str, forward: bool) -> Vec<&TrailInstance<'a>> {
        if !forward {
            return self
                .at
                .get(address)
                .map(|&id| &self.instances[id])
                .into_iter()
                .collect();
        }
        let last_here: Vec<&TrailInstance> = self
            .instances
            .iter()
            .filter(|i| i.last == address)
            .collect();
        if last_here.is_empty() {
            self.instances
                .iter()
                .filter(|i| i.held.contains(address))
                .collect()
        } else {
            last_here
        }
    }
}

/// The history file beside a state file.
pub fn history_path(state_path: &Path) -> PathBuf {
    crate::support::fs::sibling(state_path, ".history.jsonl")
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A run's entry of changes `(name, action, sid, outcome)`.
    fn run(changes: &[(&str, &str, Option<&str>, &str)]) -> HistoryEntry {
        let changes = changes
            .iter()
            .map(|(name, action, sid, outcome)| HistoryChange {
                address: format!("flex_instance.{name}"),
                action: (*action).to_owned(),
                flex_instance_sid: sid.map(str::to_owned),
                outcome: (*outcome).to_owned(),
                configuration: Vec::new(),
            })
            .collect();
        HistoryEntry::new("apply", 0, 1, changes)
    }

    /// `changes_of` as a sorted list of (entry, change) positions.
    fn of(entries: &[HistoryEntry], name: &str, forward: bool) -> Vec<(usize, usize)> {
        changes_of(entries, &format!("flex_instance.{name}"), forward)
            .into_iter()
            .collect()
    }

    const S1: Option<&str> = Some("GO1");
    const S2: Option<&str> = Some("GO2");
    const MOVED_FROM_A: &str = "ok (moved from flex_instance.a)";
    const MOVED_FROM_B: &str = "ok (moved from flex_instance.b)";

    #[test]
    fn a_name_taken_after_a_rename_is_the_new_instances_from_then_on() {
        let trail = [
            run(&[("a", "create", S1, "ok")]),
            run(&[("b", "move", S1, MOVED_FROM_A)]),
            run(&[("a", "create", S2, "ok")]),
        ];
        for forward in [false, true] {
            assert_eq!(of(&trail, "b", forward), [(0, 0), (1, 0)], "{forward}");
            assert_eq!(of(&trail, "a", forward), [(2, 0)], "{forward}");
        }
    }

    #[test]
    fn a_change_without_a_sid_is_whoever_was_at_its_address_then() {
        let trail = [
            run(&[("a", "create", None, "failed: 500")]),
            run(&[("a", "create", S1, "ok")]),
            run(&[("b", "move", S1, MOVED_FROM_A)]),
            run(&[("a", "create", None, "not started (interrupted)")]),
            run(&[("a", "create", S2, "ok")]),
        ];
        assert_eq!(of(&trail, "b", false), [(0, 0), (1, 0), (2, 0)]);
        assert_eq!(of(&trail, "a", false), [(3, 0), (4, 0)]);
        assert_eq!(of(&trail, "a", true), [(3, 0), (4, 0)]);
    }

    #[test]
    fn a_rename_back_and_forth_is_one_trail() {
        let trail = [
            run(&[("a", "create", S1, "ok")]),
            run(&[("b", "move", S1, MOVED_FROM_A)]),
            run(&[("a", "move", S1, MOVED_FROM_B)]),
        ];
        assert_eq!(of(&trail, "a", false), [(0, 0), (1, 0), (2, 0)]);
        // Nothing is at b now: asked by that name, the instance that had it, followed on.
        assert_eq!(of(&trail, "b", true), [(0, 0), (1, 0), (2, 0)]);
        assert_eq!(of(&trail, "b", false), []);
    }

    #[test]
    fn an_old_name_is_followed_forward_when_nothing_took_it() {
        let trail = [
            run(&[("a", "create", S1, "ok")]),
            run(&[("b", "move", S1, MOVED_FROM_A)]),
            run(&[("b", "update", S1, "ok")]),
        ];
        assert_eq!(of(&trail, "a", true), [(0, 0), (1, 0), (2, 0)]);
        assert_eq!(of(&trail, "a", false), [], "nothing is recorded at a now");
        assert_eq!(of(&trail, "b", false), [(0, 0), (1, 0), (2, 0)]);
    }

    #[test]
    fn two_names_swapped_in_one_run_follow_their_sids_in_either_order() {
        for swap in [
            [
                ("b", "move", S1, MOVED_FROM_A),
                ("a", "move", S2, MOVED_FROM_B),
            ],
            [
                ("a", "move", S2, MOVED_FROM_B),
                ("b", "move", S1, MOVED_FROM_A),
            ],
        ] {
            let trail = [
                run(&[("a", "create", S1, "ok"), ("b", "create", S2, "ok")]),
                run(&swap),
            ];
            let moved = |name: &str| {
                let at = swap.iter().position(|c| c.0 == name).unwrap();
                (1, at)
            };
            assert_eq!(of(&trail, "b", false), [(0, 0), moved("b")], "{swap:?}");
            assert_eq!(of(&trail, "a", false), [(0, 1), moved("a")], "{swap:?}");
        }
    }

    #[test]
    fn a_forgotten_instance_is_followed_by_its_sid_and_frees_its_name() {
        let trail = [
            run(&[("a", "create", S1, "ok")]),
            run(&[("a", "rm", S1, "ok")]),
            run(&[("a", "create", S2, "ok")]),
        ];
        assert_eq!(of(&trail, "a", false), [(2, 0)], "the record now: its own");
        // By name: both instances last recorded at a.
        assert_eq!(of(&trail, "a", true), [(0, 0), (1, 0), (2, 0)]);
        // Imported again under another name: the same instance, by its SID.
        let mut trail = trail.to_vec();
        trail.push(run(&[("c", "import", S1, "ok")]));
        assert_eq!(of(&trail, "c", false), [(0, 0), (1, 0), (3, 0)]);
        assert_eq!(of(&trail, "a", true), [(2, 0)]);
    }

    #[test]
    fn a_replacement_at_a_recorded_address_continues_its_trail() {
        // Deleted outside flexform and created again: one record, two SIDs.
        let trail = [
            run(&[("a", "create", S1, "ok")]),
            run(&[("a", "create", S2, "ok")]),
        ];
        assert_eq!(of(&trail, "a", false), [(0, 0), (1, 0)]);
    }

    #[test]
    fn a_failed_move_leaves_the_instance_where_it_was() {
        let trail = [
            run(&[("a", "create", S1, "ok")]),
            run(&[("b", "move", S1, "failed: the state could not be written")]),
            // No SID: whoever is recorded at a, still the first instance.
            run(&[("a", "update", None, "not started (interrupted)")]),
        ];
        assert_eq!(of(&trail, "a", false), [(0, 0), (1, 0), (2, 0)]);
        assert_eq!(of(&trail, "b", false), []);
    }
}
