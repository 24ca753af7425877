//! The desired state (`flexform.yaml`): its types, its JSON Schema, loading and validation,
//! and the identifiers and credentials every later stage uses.
//!
//! Loading is the first step of every command: the file is parsed into a tree that remembers
//! where every value came from ([`validate`]), each part is checked on its own so that one run
//! reports every error it can ([`ConfigError`]), and only a fully valid file becomes a
//! [`Config`].

pub mod credentials;
mod error;
pub mod flex;
pub mod plugins;
pub mod secret;
pub use crate::domain::sid;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use error::{ConfigError, Diagnostic, Location};
use sid::AccountSid;

/// The only configuration format version this binary understands.
pub const CONFIG_VERSION: u32 = 1;

/// Pattern of instance and credentials profile names.
pub const NAME_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,62}$";

/// The desired state: which Twilio accounts must have a Flex instance, and how to reach them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "flexform configuration")]
pub struct Config {
    /// Format version of this file. Only `1` exists.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// Named credentials profiles. Values are names of environment variables, never secrets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": NAME_PATTERN}))]
    pub credentials: BTreeMap<String, CredentialsProfile>,
    /// Instances by name: each names an account that must have a Flex instance. The address of
    /// an instance is `flex_instance.<name>`.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": NAME_PATTERN}))]
    pub instances: BTreeMap<String, InstanceSpec>,
    /// Where the state lives. Omitted: the local file (`--state`, default
    /// `flexform.state.json` beside this file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateConfig>,
}

/// Which state backend to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A JSON file (`--state`).
    #[default]
    Local,
    /// A PostgreSQL database shared by many pipelines, one workspace per estate.
    Postgres,
    /// An S3 bucket (or an S3-compatible store), beside a team's Terraform state.
    S3,
}

/// Where the state lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// `local` (default), `postgres` or `s3`.
    #[serde(default)]
    pub backend: BackendKind,
    /// postgres: the environment variable holding the connection string (never the string
    /// itself, which holds a password), e.g. `FLEXFORM_DATABASE_URL`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub url_env: Option<String>,
    /// postgres: the workspace holding this estate; many workspaces share one database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9_-]{0,62}$"))]
    pub workspace: Option<String>,
    /// s3: the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"))]
    pub bucket: Option<String>,
    /// s3: the state's object key, e.g. `emea-prod/flexform.state.json`; the lock
    /// (`<key>.lock`), the audit trail (`<key>.history.jsonl`) and the backup (`<key>.backup`)
    /// live beside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// s3: the region (else `AWS_REGION`, `AWS_DEFAULT_REGION`, or `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// s3: the endpoint of an S3-compatible store (else `AWS_ENDPOINT_URL_S3`,
    /// `AWS_ENDPOINT_URL`, or AWS's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// s3: how long the lock holds without being renewed (default `30s`); its holder renews
    /// it every third of that, and a killed run's lock is taken over once it has run out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_lease: Option<String>,
}

/// Where to find one pair of credentials: the names of two environment variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsProfile {
    /// Environment variable holding an API key SID (`SK…`, recommended) or an account SID (`AC…`).
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub key_env: String,
    /// Environment variable holding the API key secret, or the auth token.
    #[schemars(regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    pub secret_env: String,
}

/// One account that must have a Flex instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    /// The Twilio account that must have a Flex instance (`AC` + 32 hex digits).
    pub account_sid: AccountSid,
    /// Name of a profile under `credentials`. Omitted: the default profile
    /// (`TWILIO_API_KEY`/`TWILIO_API_SECRET`, else `TWILIO_ACCOUNT_SID`/`TWILIO_AUTH_TOKEN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<String>,
    /// Options sent when the instance is created. They cannot be changed afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversations: Option<ConversationsSpec>,
    /// How the instance is configured (`/v1/Configuration`). Only what is written here is
    /// managed; inside a JSON-typed property, only the keys written (`null` removes a key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<FlexConfiguration>,
    /// The Flex plugins of the instance, by unique name: authoritative, the account's active
    /// release must hold exactly these versions. Omitted: flexform leaves the plugins alone and
    /// sends no Plugins API request. An empty map is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "plugins::plugins_schema")]
    pub plugins: Option<plugins::DeclaredPlugins>,
}

/// A declared Flex configuration: property names and types from Twilio's published schema
/// `flex.v1.configuration` (read-only properties excluded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FlexConfiguration(pub flex::Declared);

impl JsonSchema for FlexConfiguration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FlexConfiguration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut properties = serde_json::Map::new();
        for property in flex::catalogue().all() {
            if property.read_only.is_some() {
                continue;
            }
            let mut schema = match property.kind {
                flex::Kind::Text => serde_json::json!({"type": "string"}),
                flex::Kind::Boolean => serde_json::json!({"type": "boolean"}),
                flex::Kind::List => serde_json::json!({"type": "array"}),
                // Inside an object, `null` removes a key.
                flex::Kind::Json => serde_json::json!({
                    "type": "object",
                    "additionalProperties": true,
                    "description": "JSON-typed: the keys written are managed (at any depth), \
                        the others kept; `null` removes a key",
                }),
            };
            if !property.description.is_empty() && property.kind != flex::Kind::Json {
                schema["description"] = property.description.clone().into();
            }
            properties.insert(property.name.clone(), schema);
        }
        schemars::json_schema!({
            "description": "How the instance is configured, as Twilio's Flex Configuration \
                (`flex.v1.configuration`) names it. Only what is written here is managed.",
            "type": "object",
            "properties": properties,
            "additionalProperties": false,
        })
    }
}

impl InstanceSpec {
    /// The declared configuration, if any.
    pub fn declared_configuration(&self) -> Option<&flex::Declared> {
        self.configuration
            .as_ref()
            .map(|c| &c.0)
            .filter(|c| !c.is_empty())
    }

    /// The declared plugins, by unique name, if the instance declares `plugins:` (never
    /// empty: validation refuses `plugins: {}`).
    pub fn declared_plugins(&self) -> Option<&plugins::DeclaredPlugins> {
        self.plugins.as_ref().filter(|p| !p.is_empty())
    }

    /// The declared plugins as the versions a release holds, by unique name.
    pub fn declared_versions(
        &self,
    ) -> Option<std::collections::BTreeMap<String, crate::domain::NewVersion>> {
        let declared = self.declared_plugins()?;
        Some(
            declared
                .iter()
                .map(|(name, spec)| (name.clone(), spec.new_version()))
                .collect(),
        )
    }

    /// The `conversations.default` input, if the configuration sets it.
    pub fn conversations_default(&self) -> Option<bool> {
        self.conversations.as_ref().and_then(|c| c.default)
    }
}

/// Flex Conversations options for a new instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationsSpec {
    /// When true, the Conversations service created during provisioning becomes the account's
    /// default conversation service. Omitted: not sent, the server's default applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
}

/// A configuration that passed validation, with where it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file it was read from.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, hex: what the audit trail records.
    pub sha256: String,
    /// SHA-256 of the configuration's canonical form (the parsed document as compact JSON,
    /// keys sorted): ties a saved plan to the configuration it was made from, so that comments,
    /// blank lines, quoting and key order do not make a plan stale, while any change of
    /// meaning does.
    pub canonical_sha256: String,
    /// The validated configuration.
    pub config: Config,
}

/// Checks that a name can be used for an instance or a credentials profile.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

pub(crate) fn is_valid_env_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// Why `bucket` cannot name an S3 bucket (AWS's naming rules), if it cannot.
pub(crate) fn s3_bucket_problem(bucket: &str) -> Option<String> {
    let bytes = bucket.as_bytes();
    let ok = (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && !bucket.contains("..");
    (!ok).then(|| {
        format!("invalid bucket name {bucket:?}: 3 to 63 lower-case letters, digits, `.` and `-`, starting and ending with a letter or digit")
    })
}

/// Why `key` cannot name the state's object, if it cannot: a path of non-empty segments, no
/// `.` or `..` among them.
pub(crate) fn s3_key_problem(key: &str) -> Option<String> {
    let ok = !key.is_empty()
        && key.len() <= 900
        && key
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..")
        && !key.chars().any(char::is_control);
    (!ok).then(|| {
        format!("invalid key {key:?}: a path such as `emea-prod/flexform.state.json` (no leading, trailing or doubled `/`, no `.` or `..` segments)")
    })
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| ConfigError::NotUtf8 {
            path: path.to_owned(),
            offset: e.utf8_error().valid_up_to(),
        })?;
        let config = Self::parse(&text).map_err(|diagnostics| ConfigError::Invalid {
            path: path.to_owned(),
            source_text: text.clone(),
            diagnostics,
        })?;
        Ok(LoadedConfig {
            path: path.to_owned(),
            sha256: crate::support::hash::sha256_hex(text.as_bytes()),
            canonical_sha256: config.canonical_sha256(),
            config,
        })
    }

    /// SHA-256 of the canonical form: compact JSON of the parsed configuration, whose maps
    /// are sorted by key and whose fields come in declaration order.
    pub fn canonical_sha256(&self) -> String {
        let json = serde_json::to_vec(self).expect("a configuration always serializes");
        crate::support::hash::sha256_hex(&json)
    }

    /// Validates configuration text, returning every error found.
    pub fn parse(text: &str) -> Result<Config, Vec<Diagnostic>> {
        validate::Validator::default().run(text)
    }

    /// Number of credentials profiles the instances actually have to choose from.
    pub fn profile_count(&self) -> usize {
        self.credentials.len()
    }
}
