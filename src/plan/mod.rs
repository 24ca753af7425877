//! Planning: observe what exists, decide what to do, and show the decision.
//!
//! [`crate::observe`] gathers a complete snapshot before; [`plan()`] is the pure decision over
//! (configuration, state, observations) ([`decide`]); the [`Plan`] value
//! ([`model`]) becomes a [`PlanDocument`] for JSON and saved plans ([`document`]) and is
//! rendered for people ([`render`]). [`drift`] narrows the same pipeline to recorded instances.

mod configure;
mod decide;
pub(crate) mod document;
pub(crate) mod drift;
mod model;
mod release;

pub use configure::configure;
pub use decide::plan;
pub use document::{PlanDocument, PlanFileError, PLAN_FORMAT_VERSION};
pub use model::{
    address, Action, Diagnostic, DiagnosticKind, FieldChange, InstanceView, Plan, PluginChange,
    ReleaseChange, ResourceChange, Severity, Summary,
};
pub use release::{describe as describe_release, release, DeclaredPlugins};
