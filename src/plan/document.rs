//! `PlanDocument`: the plan as JSON, for `plan --json`, `plan --out` and `apply PLANFILE`.
//!
//! It is rendered from the same [`Plan`] value as the human view, and holds no secrets.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{Diagnostic, Plan, ResourceChange, Summary};
use crate::state::State;

/// Format of the plan document: a number, as the state's. 2: actions and severities named as
/// in the README's glossary (`unchanged`, `drift`), the configuration compared by its
/// canonical form. Plans of format "1" (a string) are refused: make the plan again.
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// A plan as written by `--json` and `--out`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "flexform plan")]
pub struct PlanDocument {
    /// Format of this document: 2.
    pub format_version: u32,
    /// Version of flexform that made the plan.
    pub flexform_version: String,
    /// Lineage of the state the plan was made against (null: there was no state yet).
    #[schemars(required, extend("type" = ["string", "null"]))]
    pub state_lineage: Option<String>,
    /// Serial of that state (0: there was no state yet).
    pub state_serial: u64,
    /// SHA-256 of that state's content (its lineage, records and pending creates, the journal
    /// included; null: there was no state yet). Anything recorded since makes the plan stale.
    #[serde(default)]
    #[schemars(required, extend("type" = ["string", "null"]))]
    pub state_sha256: Option<String>,
    /// SHA-256 of the canonical form of the configuration the plan was made from (the parsed
    /// document; comments and formatting do not count). Apply refuses the plan when the
    /// configuration's meaning changed since.
    pub config_canonical_sha256: String,
    /// When the plan was made (RFC 3339).
    pub created_at: String,
    /// One entry per instance in the configuration or the state.
    pub resource_changes: Vec<ResourceChange>,
    /// What the reader should know.
    pub diagnostics: Vec<Diagnostic>,
    /// The counts.
    pub summary: Summary,
    /// The addresses `--target` named: a partial plan, made without looking at the other
    /// instances. Absent: the whole estate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Only in `flexform show FILE --json`: the SHA-256 of FILE's bytes, the digest the audit
    /// trail records when FILE is applied. Never in a saved plan (a file cannot hold its own
    /// digest), and ignored when a plan is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_file_sha256: Option<String>,
}

/// Errors reading a saved plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// There is no such file.
    #[error("plan file {} does not exist; save a plan with `flexform plan --out {}`", path.display(), path.display())]
    NotFound {
        /// The plan file.
        path: std::path::PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read plan file {}: {source}", path.display())]
    Read {
        /// The plan file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a flexform plan.
    #[error("{} is not a flexform plan ({line}:{column}: {message}); make one with `flexform plan --out FILE`", path.display())]
    Invalid {
        /// The plan file.
        path: std::path::PathBuf,
        /// Line.
        line: usize,
        /// Column.
        column: usize,
        /// Parser message.
        message: String,
    },
    /// A plan of a format this binary does not know.
    #[error("{} has plan format {found}, which this flexform does not read (it reads {PLAN_FORMAT_VERSION}); make the plan again with `flexform plan --out {}`", path.display(), path.display())]
    UnsupportedFormat {
        /// The plan file.
        path: std::path::PathBuf,
        /// Its format.
        found: String,
    },
}

impl PlanDocument {
    /// Wraps a plan with what ties it to its inputs.
    pub fn new(plan: &Plan, state: Option<&State>, config_canonical_sha256: String) -> Self {
        Self {
            format_version: PLAN_FORMAT_VERSION,
            flexform_version: env!("CARGO_PKG_VERSION").to_owned(),
            state_lineage: state.map(|s| s.lineage.clone()),
            state_serial: state.map_or(0, |s| s.serial),
            state_sha256: state.map(State::content_sha256),
            config_canonical_sha256,
            created_at: crate::support::stamp::now_rfc3339(),
            resource_changes: plan.changes.clone(),
            diagnostics: plan.diagnostics.clone(),
            summary: plan.summary(),
            targets: Vec::new(),
            plan_file_sha256: None,
        }
    }

    /// The plan inside.
    pub fn plan(&self) -> Plan {
        Plan {
            changes: self.resource_changes.clone(),
            diagnostics: self.diagnostics.clone(),
        }
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a plan always serializes");
        text.push('\n');
        text
    }

    /// Reads a saved plan.
    pub fn load(path: &Path) -> Result<Self, PlanFileError> {
        Self::load_with_sha256(path).map(|(document, _)| document)
    }

    /// Reads a saved plan, and the SHA-256 of the very bytes it was read from: what `show`
    /// prints and the audit trail records (one read, so the two always agree).
    pub fn load_with_sha256(path: &Path) -> Result<(Self, String), PlanFileError> {
        let bytes = std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                PlanFileError::NotFound {
                    path: path.to_owned(),
                }
            } else {
                PlanFileError::Read {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        let invalid = |e: serde_json::Error| {
            let message = e.to_string();
            PlanFileError::Invalid {
                path: path.to_owned(),
                line: e.line().max(1),
                column: e.column().max(1),
                message: message
                    .rsplit_once(" at line ")
                    .map_or(message.clone(), |(text, _)| text.to_owned()),
            }
        };
        let probe: serde_json::Value = serde_json::from_slice(&bytes).map_err(invalid)?;
        match probe.get("format_version") {
            Some(version) if version.as_u64() == Some(u64::from(PLAN_FORMAT_VERSION)) => {}
            Some(other) => {
                return Err(PlanFileError::UnsupportedFormat {
                    path: path.to_owned(),
                    found: other.to_string(),
                })
            }
            None => {}
        }
        let mut document: Self = serde_json::from_slice(&bytes).map_err(invalid)?;
        // What `show --json` adds about the file it read, not part of a plan.
        document.plan_file_sha256 = None;
        Ok((document, crate::support::hash::sha256_hex(&bytes)))
    }
}
