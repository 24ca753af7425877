//! What a Flex instance is, as the API describes it and the state records it: its status, the
//! instance itself, and what discovery and a fetch can say (typed, validated, tolerant of new
//! fields). The client, the state and the planner all use these; none owns them.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::sid::{AccountSid, InstanceSid};

/// Lifecycle status of a Flex instance, as in Twilio's `flex.v2.instance` schema. Any status
/// this binary does not know is kept as [`InstanceStatus::Unknown`] with its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InstanceStatus {
    /// `creation-in-progress`: provisioning has started.
    CreationInProgress,
    /// `ready`: provisioned and usable.
    Ready,
    /// `creation-failed`: provisioning failed; a new create is needed.
    CreationFailed,
    /// `deletion-in-progress`: being deleted (outside flexform).
    DeletionInProgress,
    /// `deleted`: deleted (outside flexform).
    Deleted,
    /// `deletion-failed`: a deletion failed; needs a human.
    DeletionFailed,
    /// `unknown`, or any status this binary does not know, with its text.
    Unknown(String),
}

impl InstanceStatus {
    /// Maps the API's text to a status; never fails.
    pub fn parse(text: &str) -> Self {
        match text {
            "creation-in-progress" => Self::CreationInProgress,
            "ready" => Self::Ready,
            "creation-failed" => Self::CreationFailed,
            "deletion-in-progress" => Self::DeletionInProgress,
            "deleted" => Self::Deleted,
            "deletion-failed" => Self::DeletionFailed,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The API's text for this status.
    pub fn as_str(&self) -> &str {
        match self {
            Self::CreationInProgress => "creation-in-progress",
            Self::Ready => "ready",
            Self::CreationFailed => "creation-failed",
            Self::DeletionInProgress => "deletion-in-progress",
            Self::Deleted => "deleted",
            Self::DeletionFailed => "deletion-failed",
            Self::Unknown(text) => text,
        }
    }

    /// Whether provisioning has finished, one way or the other.
    pub fn is_settled(&self) -> bool {
        !matches!(self, Self::CreationInProgress)
    }
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for InstanceStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InstanceStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Self::parse(&text))
    }
}

impl JsonSchema for InstanceStatus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "InstanceStatus".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Instance status: creation-in-progress, ready, creation-failed, deletion-in-progress, deleted, deletion-failed, unknown, or another text the API may add."
        })
    }
}

/// A Flex instance as the API describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// The instance SID (`GO…`).
    pub flex_instance_sid: InstanceSid,
    /// The account it belongs to.
    pub account_sid: AccountSid,
    /// Its lifecycle status.
    pub status: InstanceStatus,
    /// When it was created (RFC 3339), if the API said.
    #[serde(default)]
    pub date_created: Option<String>,
    /// When it last changed (RFC 3339), if the API said.
    #[serde(default)]
    pub date_updated: Option<String>,
}

/// What discovery (`GET /v1/Configuration`) says about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// The account has this instance.
    Found(InstanceSid),
    /// The account has no instance (`flex_instance_sid` is null).
    None,
    /// The endpoint answered 404: no Flex configuration, or discovery is not available. Treated
    /// as "no instance", except where a create may already have happened (pending creates).
    Unavailable,
}

impl Discovery {
    /// The discovered SID, if any.
    pub fn sid(&self) -> Option<&InstanceSid> {
        match self {
            Discovery::Found(sid) => Some(sid),
            _ => None,
        }
    }
}

/// Get-instance result: found, or a 404.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// 200 with the instance.
    Found(Instance),
    /// 404: no such instance, or not visible to this account.
    NotFound,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_status_round_trips_and_others_are_unknown() {
        for text in [
            "creation-in-progress",
            "ready",
            "creation-failed",
            "deletion-in-progress",
            "deleted",
            "deletion-failed",
        ] {
            let status = InstanceStatus::parse(text);
            assert!(!matches!(status, InstanceStatus::Unknown(_)), "{text}");
            assert_eq!(status.as_str(), text);
        }
        assert_eq!(
            InstanceStatus::parse("unknown"),
            InstanceStatus::Unknown("unknown".into())
        );
        assert_eq!(
            InstanceStatus::parse("paused"),
            InstanceStatus::Unknown("paused".into())
        );
    }

    #[test]
    fn extra_fields_are_ignored() {
        let body = r#"{"flex_instance_sid":"GOaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","account_sid":"ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","status":"ready","date_created":"2016-08-01T22:10:40Z","date_updated":"2016-08-01T22:10:40Z","url":"x","links":{}}"#;
        let instance: Instance = serde_json::from_str(body).unwrap();
        assert_eq!(instance.status, InstanceStatus::Ready);
    }
}
