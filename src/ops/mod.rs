//! The operations the commands are made of, as a library (cargo's `ops` beside its
//! `commands`): plan against a workspace, open a state for writing, end a run with its
//! audit-trail entry, check and carry out a plan. They take typed options, never the command
//! line's types, and read no environment variable: the caller resolves the process's
//! ([`Workspace::env`]). Every failure is an [`OpsError`].

pub mod apply;
pub mod plan;
pub mod run;

use std::path::PathBuf;
use std::time::Duration;

use crate::client::ApiError;
use crate::config::credentials::CredentialsError;
use crate::config::ConfigError;
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
}

fn list(errors: &[CredentialsError]) -> String {
    errors
        .iter()
        .map(|e| format!("  - {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}
