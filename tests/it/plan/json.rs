//! The documented `--json` plan document (`plan --json`, `drift --json`, `plan --out`, `show
//! FILE --json`), mirrored here as typed structs on purpose: a change to the document must be
//! a deliberate one, made here as well. Every document a test reads is checked against the
//! committed schema and decoded into the mirror; the schemas themselves are checked here.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::common::{self, account, Test};

/// `plan --json` / `drift --json` / `plan --out` / `show FILE --json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanJson {
    pub(super) format_version: u32,
    pub(super) flexform_version: String,
    pub(super) state_lineage: Option<String>,
    pub(super) state_serial: u64,
    pub(super) state_sha256: Option<String>,
    pub(super) config_canonical_sha256: String,
    pub(super) created_at: String,
    pub(super) resource_changes: Vec<ChangeJson>,
    pub(super) diagnostics: Vec<DiagnosticJson>,
    pub(super) summary: SummaryJson,
}

/// One of `resource_changes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeJson {
    pub(super) address: String,
    pub(super) name: String,
    pub(super) account_sid: String,
    pub(super) action: ActionJson,
    pub(super) reason: Option<String>,
    pub(super) before: Option<ViewJson>,
    pub(super) after: Option<ViewJson>,
    /// The plugins release apply makes (absent: none).
    #[serde(default)]
    pub(super) release: Option<serde_json::Value>,
    /// The active release apply records without a request (absent: none).
    #[serde(default)]
    pub(super) record_release: Option<serde_json::Value>,
}

/// A change's `action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(super) enum ActionJson {
    #[serde(rename = "create")]
    Create,
    #[serde(rename = "adopt")]
    Adopt,
    #[serde(rename = "unchanged")]
    Unchanged,
    #[serde(rename = "move")]
    Move,
    #[serde(rename = "update")]
    Update,
}

/// A change's `before` or `after`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ViewJson {
    pub(super) account_sid: String,
    pub(super) conversations_default: Option<bool>,
    pub(super) flex_instance_sid: Option<String>,
    pub(super) status: Option<String>,
}

/// One of `diagnostics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DiagnosticJson {
    pub(super) severity: SeverityJson,
    pub(super) kind: KindJson,
    pub(super) address: String,
    pub(super) message: String,
}

/// A diagnostic's `severity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum SeverityJson {
    Info,
    Warning,
    Drift,
    Error,
}

/// A diagnostic's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum KindJson {
    Provisioning,
    DeletedOutside,
    CreationFailed,
    AccountMismatch,
    NeedsAttention,
    Orphaned,
    ImmutableInputChanged,
    PendingCreateUnresolved,
    ObserveFailed,
    DiscoveryUnavailable,
    AlreadyRecorded,
    ConfigurationChanged,
    ReleaseChanged,
}

impl KindJson {
    /// The kinds the documentation calls drift.
    pub(super) fn is_drift(self) -> bool {
        matches!(
            self,
            KindJson::DeletedOutside
                | KindJson::CreationFailed
                | KindJson::Orphaned
                | KindJson::ConfigurationChanged
                | KindJson::ReleaseChanged
        )
    }
}

/// The document's `summary`: the counts of its changes and its drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SummaryJson {
    pub(super) create: usize,
    pub(super) adopt: usize,
    pub(super) unchanged: usize,
    #[serde(rename = "move")]
    pub(super) moved: usize,
    pub(super) update: usize,
    pub(super) release: usize,
    pub(super) drift: usize,
}

impl PlanJson {
    /// The change of instance `name`.
    pub(super) fn change(&self, name: &str) -> &ChangeJson {
        self.resource_changes
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no resource change for {name}: {self:#?}"))
    }

    /// (severity, kind) of the diagnostics about instance `name`.
    pub(super) fn kinds(&self, name: &str) -> Vec<(SeverityJson, KindJson)> {
        let address = format!("flex_instance.{name}");
        self.diagnostics
            .iter()
            .filter(|d| d.address == address)
            .map(|d| (d.severity, d.kind))
            .collect()
    }

    /// The diagnostic of `kind` about instance `name`.
    pub(super) fn diagnostic(&self, name: &str, kind: KindJson) -> &DiagnosticJson {
        let address = format!("flex_instance.{name}");
        self.diagnostics
            .iter()
            .find(|d| d.address == address && d.kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?} diagnostic for {name}: {self:#?}"))
    }
}

/// The committed plan schema, compiled.
pub(super) fn plan_schema() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(common::repo_root().join("schemas/flexform.plan.schema.json"))
            .expect("schemas/flexform.plan.schema.json is committed");
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).expect("the plan schema compiles")
}

/// Asserts that `value` is an object with exactly `keys` (present even when null).
pub(super) fn assert_keys(value: &Value, keys: &[&str], what: &str) {
    let found: BTreeSet<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = keys.iter().copied().collect();
    assert_eq!(found, expected, "{what} keys");
}

/// Decodes a plan document: valid against the committed schema, every documented key present,
/// decoded into the typed mirror, and internally consistent (summary = counts, addresses).
pub(super) fn decode_plan(text: &str) -> PlanJson {
    let value: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    let validator = plan_schema();
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "plan JSON violates the committed schema: {errors:#?}\n{text}"
    );
    assert_keys(
        &value,
        &[
            "format_version",
            "flexform_version",
            "state_lineage",
            "state_serial",
            "state_sha256",
            "config_canonical_sha256",
            "created_at",
            "resource_changes",
            "diagnostics",
            "summary",
        ],
        "plan document",
    );
    for change in value["resource_changes"].as_array().unwrap() {
        assert_keys(
            change,
            &[
                "address",
                "name",
                "account_sid",
                "action",
                "reason",
                "before",
                "after",
            ],
            "resource change",
        );
    }
    for diagnostic in value["diagnostics"].as_array().unwrap() {
        assert_keys(
            diagnostic,
            &["severity", "kind", "address", "message"],
            "diagnostic",
        );
    }
    let doc: PlanJson = serde_json::from_value(value)
        .unwrap_or_else(|e| panic!("plan JSON does not match the documented shape: {e}\n{text}"));

    assert_eq!(doc.format_version, 2);
    assert_eq!(doc.flexform_version, env!("CARGO_PKG_VERSION"));
    assert!(
        humantime::parse_rfc3339(&doc.created_at).is_ok(),
        "created_at is not RFC 3339: {}",
        doc.created_at
    );
    assert!(
        doc.config_canonical_sha256.len() == 64
            && doc
                .config_canonical_sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit()),
        "config_canonical_sha256: {}",
        doc.config_canonical_sha256
    );
    for change in &doc.resource_changes {
        assert_eq!(change.address, format!("flex_instance.{}", change.name));
        assert!(change.account_sid.starts_with("AC"), "{change:?}");
    }
    for c in &doc.resource_changes {
        // A release is made, or the active one recorded without a request: never both.
        assert!(c.release.is_none() || c.record_release.is_none(), "{c:?}");
    }
    for d in &doc.diagnostics {
        assert!(d.address.starts_with("flex_instance."), "{d:?}");
        assert!(!d.message.is_empty(), "{d:?}");
    }
    let count = |a| {
        doc.resource_changes
            .iter()
            .filter(|c| c.action == a)
            .count()
    };
    assert_eq!(
        doc.summary,
        SummaryJson {
            create: count(ActionJson::Create),
            adopt: count(ActionJson::Adopt),
            unchanged: count(ActionJson::Unchanged),
            moved: count(ActionJson::Move),
            update: count(ActionJson::Update),
            release: doc
                .resource_changes
                .iter()
                .filter(|c| c.release.is_some())
                .count(),
            drift: doc.diagnostics.iter().filter(|d| d.kind.is_drift()).count(),
        },
        "summary does not match the document"
    );
    let names: Vec<&str> = doc
        .resource_changes
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        names, sorted,
        "resource changes are one per name, in name order"
    );
    doc
}

#[test]
fn committed_plan_and_state_schemas_are_current() {
    for (kind, file) in [
        ("plan", "schemas/flexform.plan.schema.json"),
        ("state", "schemas/flexform.state.schema.json"),
    ] {
        let out = Test::in_repo().run_blocking(&["schema", kind]);
        out.assert_exit(0);
        let committed = std::fs::read_to_string(common::repo_root().join(file)).unwrap();
        assert_eq!(
            committed, out.stdout,
            "{file} is stale: run `cargo run -- schema {kind} > {file}`"
        );
    }
}

#[test]
fn the_plan_schema_rejects_what_the_typed_mirror_rejects() {
    let validator = plan_schema();
    let good = json!({
        "format_version": 2, "flexform_version": "0.1.0", "state_lineage": null,
        "state_serial": 0, "state_sha256": null, "config_canonical_sha256": "0".repeat(64),
        "created_at": "2026-01-01T00:00:00Z",
        "resource_changes": [], "diagnostics": [],
        "summary": {"create": 0, "adopt": 0, "unchanged": 0, "move": 0, "update": 0, "release": 0, "drift": 0}
    });
    assert!(validator.is_valid(&good));
    let mut extra = good.clone();
    extra["surprise"] = json!(1);
    assert!(!validator.is_valid(&extra), "unknown top-level key");
    let mut bad_action = good.clone();
    bad_action["resource_changes"] = json!([{
        "address": "flex_instance.a", "name": "a",
        "account_sid": account(1), "action": "delete", "reason": null,
        "before": null, "after": null
    }]);
    assert!(!validator.is_valid(&bad_action), "unknown action");
}
