//! A writing run's bookends: open the state under its lock with the run's audit (who runs,
//! the signing key), and end it with one audit-trail entry and one state write.

use super::OpsError;
use crate::state::signing::{SigningError, SigningKey};
use crate::state::{
    Audit, HistoryChange, HistoryEntry, LockWait, Runner, State, StateError, StateLocation,
    StateStore,
};
use crate::support::env::Env;

/// What one run did, for the audit trail.
#[derive(Debug)]
pub struct RunRecord<'a> {
    /// apply, import, state rm, state push.
    pub command: &'a str,
    /// The serial when the run opened the state.
    pub serial_before: u64,
    /// What changed.
    pub changes: Vec<HistoryChange>,
    /// SHA-256 of the configuration file, when the run read one.
    pub config_sha256: Option<String>,
    /// SHA-256 of the saved plan file, when one was applied.
    pub plan_sha256: Option<String>,
}

/// A writing run's audit from `env`: who runs (and in which pipeline), and the key every
/// audit-trail entry is signed with: the OpenSSH Ed25519 private key file that
/// `FLEXFORM_SIGNING_KEY` names (unset or empty: entries are unsigned).
pub fn audit(env: &Env) -> Result<Audit, SigningError> {
    let signer = match env.non_empty("FLEXFORM_SIGNING_KEY") {
        Some(path) => Some(std::sync::Arc::new(SigningKey::load(
            std::path::Path::new(&path),
        )?)),
        None => None,
    };
    Ok(Audit {
        signer,
        runner: Runner::from_env(env),
    })
}

/// Opens the state for a writing command under its lock, with the run's audit: the trail
/// catches up first (see [`StateStore::open`]).
pub async fn open_store(
    location: &StateLocation,
    operation: &str,
    wait: &LockWait,
    env: &Env,
) -> Result<StateStore, OpsError> {
    let audit = audit(env)?;
    Ok(StateStore::open(location, operation, wait, &audit).await?)
}

/// Ends a writing run: its audit-trail entry (with its provenance: the digests, the pipeline
/// run, the commit), then one state write with `change` and the entry's digest. A trail that
/// cannot be written is the run's error ([`StateError::TrailUnwritten`]), after the state was
/// written with the entry kept in it; a state that cannot be written is too.
pub async fn finish_run(
    store: &mut StateStore,
    run: RunRecord<'_>,
    change: impl FnOnce(&mut State) + Send,
) -> Result<(), StateError> {
    let runner = &store.audit().runner;
    let mut entry = HistoryEntry::by(runner, run.command, run.serial_before, 0, run.changes);
    entry.provenance = runner.provenance(run.config_sha256, run.plan_sha256);
    match store.finish(&mut entry, change).await? {
        Some(unwritten) => Err(unwritten),
        None => Ok(()),
    }
}

/// `state push`'s [`finish_run`]: the entry, then the pushed state anchored to it, in one
/// write (so the pushed document moves as it is, but for its anchor).
pub async fn finish_push(
    store: &mut StateStore,
    serial_before: u64,
    pushed: State,
) -> Result<(), StateError> {
    // What the pushed document changes, listed like any other run's changes.
    let changes = crate::state::trail::changes_between(store.state(), &pushed, "pushed");
    let runner = &store.audit().runner;
    let mut entry = HistoryEntry::by(runner, "state push", serial_before, 0, changes);
    entry.provenance = runner.provenance(None, None);
    match store.finish_push(&mut entry, pushed).await? {
        Some(unwritten) => Err(unwritten),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_is_read_from_the_environment_it_is_given() {
        let env = Env::from_pairs([
            ("USER", "ci-bot"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/infra"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_SHA", "abc123"),
            ("CI_JOB_ID", ""),
        ]);
        let audit = audit(&env).unwrap();
        assert!(audit.signer.is_none());
        assert!(
            audit.runner.who.starts_with("ci-bot@"),
            "{}",
            audit.runner.who
        );
        assert_eq!(
            audit.runner.ci.get("GITHUB_RUN_ID").map(String::as_str),
            Some("42")
        );
        assert!(!audit.runner.ci.contains_key("CI_JOB_ID"));
        let provenance = audit.runner.provenance(Some("c".into()), None);
        assert_eq!(
            provenance.run_url.as_deref(),
            Some("https://github.com/acme/infra/actions/runs/42")
        );
        assert_eq!(provenance.commit.as_deref(), Some("abc123"));
        assert_eq!(provenance.config_sha256.as_deref(), Some("c"));
        let missing = Env::from_pairs([("FLEXFORM_SIGNING_KEY", "/nonexistent/key")]);
        assert!(audit_err(&missing).contains("/nonexistent/key"));
    }

    fn audit_err(env: &Env) -> String {
        audit(env).unwrap_err().to_string()
    }
}
