//! The plan value: what was observed, what apply will do to each instance, and what a reader
//! should know (diagnostics). Rendered as text, JSON and Markdown from this one value.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::sid::{AccountSid, InstanceSid};
use crate::domain::InstanceStatus;

/// What apply will do to one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Action {
    /// POST a new instance.
    #[serde(rename = "create")]
    Create,
    /// Record an existing instance found by discovery; no POST.
    #[serde(rename = "adopt")]
    Adopt,
    /// Nothing: the instance stays as it is.
    #[serde(rename = "unchanged")]
    Unchanged,
    /// Record an instance under a new name (a rename); no request.
    #[serde(rename = "move")]
    Move,
    /// Change the instance's Flex configuration (`POST /v1/Configuration`).
    #[serde(rename = "update")]
    Update,
}

impl Action {
    /// The action as written in JSON and the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Adopt => "adopt",
            Action::Unchanged => "unchanged",
            Action::Move => "move",
            Action::Update => "update",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The attributes of an instance shown before and after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceView {
    /// The account.
    pub account_sid: AccountSid,
    /// `conversations.default` (null: not sent / not known).
    pub conversations_default: Option<bool>,
    /// The instance SID (null: known after apply).
    pub flex_instance_sid: Option<InstanceSid>,
    /// The status (null: known after apply).
    pub status: Option<InstanceStatus>,
}

/// One entry of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceChange {
    /// `flex_instance.<name>`.
    pub address: String,
    /// The instance name.
    pub name: String,
    /// The account.
    pub account_sid: AccountSid,
    /// What apply will do.
    pub action: Action,
    /// Why, in a few words (null for a plain `unchanged`).
    pub reason: Option<String>,
    /// As recorded in the state (null: not recorded).
    pub before: Option<InstanceView>,
    /// As it will be after apply (null: not managed any more).
    pub after: Option<InstanceView>,
    /// For a move: the address the instance is recorded under now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
    /// The managed paths of the Flex configuration, when apply changes any: each with the
    /// value observed (absent: not known before the instance exists) and the one declared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configuration: Vec<FieldChange>,
    /// What apply records of the managed Flex configuration without sending anything: the
    /// SHA-256 of each path declared now, whose observed value is already the declared one
    /// (an empty map: nothing is declared any more, the record is dropped). Absent: the
    /// record is as it should be, or a POST is planned (which records after it verifies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_configuration: Option<crate::config::flex::AppliedConfiguration>,
    /// The Flex plugins release apply makes, when the declared plugins differ from the active
    /// release (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Box<ReleaseChange>>,
    /// What apply records of the active plugins release without sending anything: it already
    /// holds the declared versions (absent: the record is as it should be, or a release is
    /// planned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_release: Option<Box<crate::state::PluginsRecord>>,
}

/// A Flex plugins release: the declared plugin versions made active in one new configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseChange {
    /// Whether the account's plugins were read when the plan was made (false: the instance
    /// did not exist or was not ready yet; apply reads them itself before releasing).
    pub observed: bool,
    /// The release active when the plan was made (null: none, or not observed). Apply refuses,
    /// with nothing sent, when another is active by then.
    pub before: Option<crate::domain::ReleaseSid>,
    /// Every plugin of the active release or of the declaration, by unique name.
    pub plugins: Vec<PluginChange>,
}

impl ReleaseChange {
    /// The plugins whose version the release changes (added, changed or left out).
    pub fn changed(&self) -> impl Iterator<Item = &PluginChange> {
        self.plugins.iter().filter(|p| p.before != p.after)
    }
}

/// One plugin of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginChange {
    /// The plugin's unique name.
    pub name: String,
    /// Its version in the active release (null: not in it, or not observed).
    pub before: Option<String>,
    /// The declared version (null: left out of the release).
    pub after: Option<String>,
    /// The plugin, when it exists (null: apply looks for it and creates it if missing).
    pub plugin_sid: Option<crate::domain::PluginSid>,
    /// The declared version, when it exists (null: apply looks for it and creates it if
    /// missing).
    pub plugin_version_sid: Option<crate::domain::PluginVersionSid>,
    /// What the declared version is created with, when it does not exist (absent: it does,
    /// or the plugin is left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_version: Option<crate::domain::NewVersion>,
}

impl ResourceChange {
    /// The state's record of the instance this change is about: under its old name for a
    /// rename, and only while the record holds the same instance.
    pub fn record_in<'s>(
        &self,
        state: &'s crate::state::State,
    ) -> Option<&'s crate::state::InstanceRecord> {
        let recorded_under = self
            .moved_from
            .as_deref()
            .and_then(|a| a.strip_prefix("flex_instance."))
            .unwrap_or(&self.name);
        let sid = self.before.as_ref()?.flex_instance_sid.as_ref()?;
        state
            .instances
            .get(recorded_under)
            .filter(|r| &r.flex_instance_sid == sid)
    }

    /// The configuration paths whose value apply changes.
    pub fn changed_fields(&self) -> impl Iterator<Item = &FieldChange> {
        self.configuration.iter().filter(|f| f.changes())
    }
}

/// One managed path of an instance's Flex configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    /// `property` or `property.key.key` (keys inside a JSON-typed property).
    pub path: String,
    /// The value observed when the plan was made (`null`: absent); left out when the
    /// instance does not exist yet.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub before: Option<serde_json::Value>,
    /// The declared value (`null`: the key is removed).
    pub after: serde_json::Value,
}

impl FieldChange {
    /// Whether apply changes this path.
    pub fn changes(&self) -> bool {
        match &self.before {
            // Not known yet (a create): a removal has nothing to remove.
            None => !self.after.is_null(),
            Some(before) => *before != self.after,
        }
    }
}

/// A field that is present, even as `null`, is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

/// How serious a diagnostic is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// For information (`i`).
    Info,
    /// Needs a look; does not stop apply (`!`).
    Warning,
    /// Reality or the state no longer matches the record: `deleted_outside`,
    /// `creation_failed`, `orphaned` (`!`). Counted in the summary's `drift`; `plan
    /// --detailed-exitcode` and `drift` exit 2 on it.
    Drift,
    /// Stops apply: the plan cannot be carried out as it stands (`x`).
    Error,
}

impl Severity {
    /// The severity as written in every output: text, JSON, Markdown.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Drift => "drift",
            Severity::Error => "error",
        }
    }
}

/// What a diagnostic is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosticKind {
    /// The instance is still being provisioned.
    Provisioning,
    /// Drift: the recorded instance was deleted outside flexform (or cannot be found).
    DeletedOutside,
    /// Drift: provisioning of the recorded instance failed.
    CreationFailed,
    /// The recorded instance belongs to another account than the configuration names.
    AccountMismatch,
    /// The instance is in a state that needs a human (deletion-failed, unknown).
    NeedsAttention,
    /// Drift: recorded in the state but no longer in the configuration.
    Orphaned,
    /// An input that cannot be changed after creation differs from what was sent.
    ImmutableInputChanged,
    /// An interrupted create cannot be resolved, because discovery is not available.
    PendingCreateUnresolved,
    /// The instance could not be observed (API or credentials error).
    ObserveFailed,
    /// Discovery is not available for the account: a create is proposed without having
    /// checked for an existing instance.
    DiscoveryUnavailable,
    /// The instance found is already recorded under another name (an instance has one
    /// address): blocked, to be renamed with `state mv` or forgotten with `state rm`.
    AlreadyRecorded,
    /// Drift: a managed value of the Flex configuration changed outside flexform.
    ConfigurationChanged,
    /// Drift: the Flex plugins were released outside flexform (Twilio's CLI, the console).
    ReleaseChanged,
}

impl DiagnosticKind {
    /// Whether this kind counts as drift: reality (or the state) no longer matches the record.
    pub fn is_drift(self) -> bool {
        matches!(
            self,
            DiagnosticKind::DeletedOutside
                | DiagnosticKind::CreationFailed
                | DiagnosticKind::Orphaned
                | DiagnosticKind::ConfigurationChanged
                | DiagnosticKind::ReleaseChanged
        )
    }

    /// The kind as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DiagnosticKind::Provisioning => "provisioning",
            DiagnosticKind::DeletedOutside => "deleted_outside",
            DiagnosticKind::CreationFailed => "creation_failed",
            DiagnosticKind::AccountMismatch => "account_mismatch",
            DiagnosticKind::NeedsAttention => "needs_attention",
            DiagnosticKind::Orphaned => "orphaned",
            DiagnosticKind::ImmutableInputChanged => "immutable_input_changed",
            DiagnosticKind::PendingCreateUnresolved => "pending_create_unresolved",
            DiagnosticKind::ObserveFailed => "observe_failed",
            DiagnosticKind::DiscoveryUnavailable => "discovery_unavailable",
            DiagnosticKind::AlreadyRecorded => "already_recorded",
            DiagnosticKind::ConfigurationChanged => "configuration_changed",
            DiagnosticKind::ReleaseChanged => "release_changed",
        }
    }
}

/// Something the plan wants a reader to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Diagnostic {
    /// How serious.
    pub severity: Severity,
    /// What about.
    pub kind: DiagnosticKind,
    /// `flex_instance.<name>`.
    pub address: String,
    /// What happened and what to do.
    pub message: String,
}

/// Counts of a plan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Instances to create.
    pub create: usize,
    /// Instances to adopt.
    pub adopt: usize,
    /// Instances left as they are (`unchanged`).
    pub unchanged: usize,
    /// Instances recorded under a new name.
    #[serde(rename = "move", default)]
    pub moved: usize,
    /// Instances whose Flex configuration apply sets (a POST is planned): an `update`, or a
    /// create, adopt or move that also configures.
    #[serde(default)]
    pub update: usize,
    /// Flex plugins releases apply makes.
    #[serde(default)]
    pub release: usize,
    /// Drift diagnostics.
    pub drift: usize,
}

/// The decision for every instance in the configuration or the state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// One entry per instance name, in name order.
    pub changes: Vec<ResourceChange>,
    /// Diagnostics, in name order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Plan {
    /// The counts.
    pub fn summary(&self) -> Summary {
        let count = |a| self.changes.iter().filter(|c| c.action == a).count();
        Summary {
            create: count(Action::Create),
            adopt: count(Action::Adopt),
            unchanged: count(Action::Unchanged),
            moved: count(Action::Move),
            update: self
                .changes
                .iter()
                .filter(|c| c.changed_fields().next().is_some())
                .count(),
            release: self.changes.iter().filter(|c| c.release.is_some()).count(),
            drift: self
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Drift)
                .count(),
        }
    }

    /// Whether apply would do anything.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::Unchanged)
    }

    /// The configuration records apply writes without sending anything (see
    /// [`ResourceChange::record_configuration`]), with their instance's name and SID.
    pub fn records(
        &self,
    ) -> impl Iterator<Item = (&ResourceChange, &crate::config::flex::AppliedConfiguration)> {
        self.changes
            .iter()
            .filter_map(|c| c.record_configuration.as_ref().map(|r| (c, r)))
    }

    /// Whether any diagnostic is an error (apply refuses such a plan).
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// The address of instance `name`.
pub fn address(name: &str) -> String {
    format!("flex_instance.{name}")
}
