//! The state: what flexform has created or adopted, where it lives, and how it changes safely.
//!
//! [`State`] is the document ([`model`]). It lives in a local file with a journal beside it
//! ([`local`], [`journal`]), in a PostgreSQL workspace ([`postgres`]) or in an S3 bucket ([`s3`]), all behind
//! [`StateStore`] ([`store`]), which readers load without a lock and writers open under the
//! state's lock ([`lock`]). Every run that changes the state appends to the audit trail
//! ([`history`]).

pub(crate) mod backend;
pub(crate) mod error;
pub(crate) mod history;
pub(crate) mod journal;
pub(crate) mod local;
pub(crate) mod lock;
mod model;
pub(crate) mod pg_connect;
pub mod postgres;
pub mod s3;
pub mod signing;
pub(crate) mod store;
pub(crate) mod trail;
pub(crate) mod verify;

pub use error::StateError;
pub use history::{changes_of, HistoryChange, HistoryEntry, Provenance, Runner};
pub use lock::{ForceUnlock, LockWait};
pub use model::{
    InstanceRecord, Origin, PendingCreate, PluginsRecord, ReleasedPlugin, State, StateUpdate,
    STATE_FORMAT_VERSION,
};
pub use store::{Audit, AuditView, StateLocation, StateStore};
pub use trail::TrailLine;
pub use verify::{verify, verify_view, Problem, SignaturePolicy, Verified};
