//! The operations the commands are made of, as a library (cargo's `ops` beside its
//! `commands`): plan against a workspace, open a state for writing, end a run with its
//! audit-trail entry, check and carry out a plan, import an instance, edit and move the state
//! (`state`), read and verify the audit trail (`history`), and build the audit report. They take typed options, never the command
//! line's types, and read no environment variable: the caller resolves the process's
//! ([`Workspace::env`]). Every failure is an [`OpsError`].

pub mod apply;
#[cfg(test)]
mod fixtures;
pub mod history;
pub mod import;
pub mod plan;
pub mod report;
pub mod run;
pub mod state;

use std::path::PathBuf;
use std::time::Duration;

use crate::client::ApiError;
use crate::config::credentials::CredentialsError;
use crate::config::ConfigError;
use crate::domain::sid::InvalidSid;
use crate::plan::PlanFileError;
use crate::state::signing::SigningError;
use crate::state::StateError;
use crate::support::env::Env;
use crate::support::stop::Interrupted;

pub use plan::{check_one_address, Planned, Planner, Scope};
pub use run::RunRecord;

/// Where a command works, as the caller resolved it from flags and environment.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The desired-state file.
    pub config_path: PathBuf,
    /// The local state file (used unless the configuration names another backend).
    pub state_path: PathBuf,
    /// Whether the state file was named explicitly (`--state`): refused with another backend.
    pub state_explicit: bool,
    /// The Flex API's base URL.
    pub endpoint: String,
    /// The variables credentials, proxies, the database, the signing key and the audit trail's
    /// runner are read from.
    pub env: Env,
}

/// How requests to the Flex API are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// Most requests in flight at once.
    pub parallelism: u16,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed for a whole request.
    pub request_timeout: Duration,
    /// Attempts per read request, the first included.
    pub max_attempts: u32,
}

impl Default for Network {
    /// The command line's defaults: 10 in flight, connect 10 s, request 30 s, 6 attempts.
    fn default() -> Self {
        Self {
            parallelism: 10,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_attempts: 6,
        }
    }
}

/// Told how far a long step (observing every account) has come; the terminal draws it.
pub trait Progress: Send + Sync {
    /// Starts counting to `total` accounts for `verb` (`observing`).
    fn start(&self, total: u64, verb: &str);
    /// One more done.
    fn inc(&self);
    /// Done.
    fn finish(&self);
}

/// Progress nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unwatched;

impl Progress for Unwatched {
    fn start(&self, _: u64, _: &str) {}
    fn inc(&self) {}
    fn finish(&self) {}
}

/// Why an operation failed. Each variant's text is what the user reads; the layer's own
/// error stays reachable as its source (a configuration error keeps its snippets).
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The configuration could not be read or is invalid.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The state could not be read, locked or written.
    #[error("{0}")]
    State(#[from] StateError),
    /// A saved plan could not be read.
    #[error("{0}")]
    PlanFile(#[from] PlanFileError),
    /// The signing key could not be loaded.
    #[error("{0}")]
    Signing(#[from] SigningError),
    /// The Flex API client could not be built (endpoint, proxy or TLS).
    #[error("cannot set up the Flex API client")]
    Client(#[source] ApiError),
    /// A request to the Flex API failed.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// Credentials are missing; every problem is listed.
    #[error("missing credentials; nothing was sent:\n{}", list(.0))]
    MissingCredentials(Vec<CredentialsError>),
    /// The credentials of one instance are missing.
    #[error("{0}")]
    Credentials(#[from] CredentialsError),
    /// `--target` names no instance.
    #[error("unknown target `{target}`: no instance of that name in the configuration or the state{hint}")]
    UnknownTarget {
        /// As given.
        target: String,
        /// `; did you mean …?`, or nothing.
        hint: String,
    },
    /// The state records one instance or account under two names.
    #[error("the state records {what} under two addresses, flex_instance.{first} ({first_sid}) and flex_instance.{second} ({second_sid}): an instance has one address. Keep the record of the account's actual instance (`flexform state show NAME` and the Twilio console tell which) and forget the other with `flexform state rm NAME`")]
    TwoAddresses {
        /// `instance FO…` or `account AC…`.
        what: String,
        /// The first name.
        first: String,
        /// Its instance SID.
        first_sid: String,
        /// The second name.
        second: String,
        /// Its instance SID.
        second_sid: String,
    },
    /// A saved plan no longer matches the state or the configuration; the text says which.
    #[error("{0}")]
    StalePlan(String),
    /// The plan has errors: nothing was changed.
    #[error("the plan has errors (see above); nothing was changed")]
    PlanHasErrors,
    /// A stop (Ctrl-C, SIGTERM) was requested.
    #[error("{0}")]
    Interrupted(#[from] Interrupted),
    /// A SID given on the command line is not one.
    #[error("{0}")]
    InvalidSid(#[from] InvalidSid),
    /// An instance name given on the command line (`state mv`'s new name) is not one.
    #[error(
        "invalid instance name {name:?}: names match {}",
        crate::config::NAME_PATTERN
    )]
    InvalidName {
        /// As given.
        name: String,
    },
    /// The state records nothing under that name (`state show|rm|mv`).
    #[error("no instance named `{name}` in {place}")]
    NotRecorded {
        /// The name asked for.
        name: String,
        /// The state, described.
        place: String,
    },
    /// `state mv` was given the same name twice.
    #[error("`{name}` is both the old and the new name: nothing to move. Nothing was changed")]
    MoveToItself {
        /// The name.
        name: String,
    },
    /// `state mv`'s new name is already recorded.
    #[error("flex_instance.{new} is already recorded in {place}; `flexform state rm {new}` first if that record is wrong. Nothing was changed")]
    MoveTargetTaken {
        /// The new name.
        new: String,
        /// The state, described.
        place: String,
    },
    /// The file `state push` was given does not exist.
    #[error("{} does not exist; nothing was pushed", file.display())]
    PushMissing {
        /// As given.
        file: PathBuf,
    },
    /// The file `state push` was given is not a state.
    #[error("{}:{line}:{column} is not a valid flexform state ({message}); nothing was pushed and {place} is unchanged", path.display())]
    PushInvalid {
        /// The file (or its journal) that does not parse.
        path: PathBuf,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
        /// The parser's message.
        message: String,
        /// The state it would have replaced, described.
        place: String,
    },
    /// The pushed state keeps audit-trail entries its own trail never took.
    #[error("{} keeps {count} audit-trail {} its trail could not take yet ({lines}); run a writing command against it where it lives (e.g. `flexform apply` with no changes) so they are written, then push. Nothing was pushed", file.display(), crate::support::text::plural_word(*count, "entry", "entries"))]
    PushUnwritten {
        /// As given.
        file: PathBuf,
        /// How many entries wait in it.
        count: usize,
        /// The entries, described.
        lines: String,
    },
    /// The pushed state records an instance or an account under two names.
    #[error("{0}; nothing was pushed")]
    PushTwoAddresses(Box<OpsError>),
    /// The pushed state belongs to another lineage (without `--force`).
    #[error("refusing to push: {} has lineage {pushed}, but {place} has lineage {current}; pass --force to replace a different state", file.display())]
    PushOtherLineage {
        /// As given.
        file: PathBuf,
        /// Its lineage.
        pushed: String,
        /// The state it would replace, described.
        place: String,
        /// That state's lineage.
        current: String,
    },
    /// The pushed state is not newer than the one it would replace (without `--force`).
    #[error("refusing to push: {} has serial {pushed}, not newer than {place} (serial {current}); pull first, or pass --force", file.display())]
    PushNotNewer {
        /// As given.
        file: PathBuf,
        /// Its serial.
        pushed: u64,
        /// The state it would replace, described.
        place: String,
        /// That state's serial.
        current: u64,
    },
    /// `force-unlock` against PostgreSQL.
    #[error("the postgres backend needs no force-unlock: its lock is released when the holding session ends")]
    NoForceUnlock,
    /// `import` names an instance the configuration does not declare.
    #[error("instance `{name}` is not in {}; add it to the configuration first", config.display())]
    NotConfigured {
        /// The name.
        name: String,
        /// The configuration file.
        config: PathBuf,
    },
    /// `import`: the SID is already recorded under another name.
    #[error("{sid} is already recorded as flex_instance.{other}: an instance has one address. To rename it, run `flexform state mv {other} {name}`. Nothing was changed")]
    ImportSidRecorded {
        /// The SID imported.
        sid: String,
        /// The name it is recorded under.
        other: String,
        /// The name asked for.
        name: String,
    },
    /// `import`: the account already has an instance recorded under another name.
    #[error("account {account} already has {recorded} recorded as flex_instance.{other}: an account has one Flex instance, and it one address. To rename it, run `flexform state mv {other} {name}`; if that record is wrong, `flexform state rm {other}`. Nothing was changed")]
    ImportAccountRecorded {
        /// The configured account.
        account: String,
        /// The instance recorded for it.
        recorded: String,
        /// The name it is recorded under.
        other: String,
        /// The name asked for.
        name: String,
    },
    /// `import`: the name already records another instance.
    #[error("flex_instance.{name} already records {recorded}; run `flexform state rm {name}` first to replace it")]
    ImportNameRecorded {
        /// The name.
        name: String,
        /// The SID recorded under it.
        recorded: String,
    },
    /// `import`: the instance could not be read.
    #[error("cannot fetch {sid}")]
    Fetch {
        /// The SID.
        sid: String,
        /// Why (boxed: the error stays small).
        #[source]
        source: Box<ApiError>,
    },
    /// `import`: the instance does not exist, or the account cannot see it.
    #[error("{sid} does not exist, or is not visible to account {account}; nothing was recorded")]
    ImportNotFound {
        /// The SID.
        sid: String,
        /// The configured account.
        account: String,
    },
    /// `import`: the instance belongs to another account than the one configured.
    #[error("{sid} belongs to account {actual}, but `{name}` is configured for {configured}; nothing was recorded")]
    ImportOtherAccount {
        /// The SID.
        sid: String,
        /// The account it belongs to.
        actual: String,
        /// The name.
        name: String,
        /// The configured account.
        configured: String,
    },
    /// `history --since` is neither a time nor a duration.
    #[error("--since {text:?} is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor a duration (30d, 12h)")]
    BadSince {
        /// As given.
        text: String,
        /// Why it is not a duration.
        #[source]
        source: humantime::DurationError,
    },
    /// `history --since` reaches back before the epoch.
    #[error("--since {text:?} reaches back before 1970")]
    SinceBefore1970 {
        /// As given.
        text: String,
    },
}

fn list(errors: &[CredentialsError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}
