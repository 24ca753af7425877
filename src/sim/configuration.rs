//! The Flex Configuration the simulator keeps per instance: Twilio's example answer as the
//! template, SIDs made fresh per instance, and the rules of `POST /v1/Configuration` bodies.
//!
//! Only the properties changed since the instance was created are stored (in its record, so
//! they are in the data file and go with the instance); the whole configuration is the template
//! with those changes laid over it, computed on each read. 10,000 simulated instances thus cost
//! nothing until their configuration is changed.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::model::{SimInstance, READY};
use crate::config::flex::{catalogue, Kind, TWILIO_SCHEMA};

/// `url` of the Configuration resource, as the real API spells it.
pub(crate) const CONFIGURATION_URL: &str = "https://flex-api.twilio.com/v1/Configuration";

/// Where Twilio's example answer sits in [`TWILIO_SCHEMA`] (a JSON pointer).
const EXAMPLE_POINTER: &str =
    "/paths/~1v1~1Configuration/get/responses/200/content/application~1json/examples/fetch/value";

/// Twilio's example answer, adjusted to look like a newly provisioned instance: no call
/// recording, no CRM, and a few UI attributes to manage.
fn template() -> &'static Map<String, Value> {
    static TEMPLATE: OnceLock<Map<String, Value>> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let document: Value =
            serde_json::from_str(TWILIO_SCHEMA).expect("the vendored schema is JSON");
        let mut example = document
            .pointer(EXAMPLE_POINTER)
            .and_then(Value::as_object)
            .cloned()
            .expect("the vendored schema holds Twilio's example configuration");
        for (name, value) in [
            ("call_recording_enabled", Value::Bool(false)),
            ("call_recording_webhook_url", Value::Null),
            ("crm_enabled", Value::Bool(false)),
            (
                "ui_attributes",
                serde_json::json!({"logLevel": "info", "colorTheme": {"baseName": "GreyLight"}}),
            ),
        ] {
            example.insert(name.to_owned(), value);
        }
        example
    })
}

/// The whole configuration of a live instance as a client sees it: the template with SIDs
/// derived from the instance's, `status` `ok` once the instance is ready (`inprogress`
/// before), the instance's dates, then `changes` laid over the top-level properties (the
/// changes may replace any property, even those).
pub(crate) fn whole(instance: &SimInstance, changes: &Map<String, Value>) -> Value {
    let seed = u128::from_str_radix(instance.flex_instance_sid.get(2..).unwrap_or(""), 16)
        .unwrap_or_default();
    let mut configuration = template().clone();
    for value in configuration.values_mut() {
        freshen_sids(value, seed);
    }
    // Twilio's example shares one SID between the chat and Flex services; keep them apart.
    let derived = [
        (
            "flex_service_instance_sid",
            Value::from(fresh_sid(seed, "IS", "flex_service_instance_sid")),
        ),
        ("account_sid", Value::from(instance.account_sid.as_str())),
        (
            "flex_instance_sid",
            Value::from(instance.flex_instance_sid.as_str()),
        ),
        (
            "status",
            Value::from(configuration_status(&instance.status)),
        ),
        ("date_created", Value::from(instance.date_created.as_str())),
        ("date_updated", Value::from(instance.date_updated.as_str())),
        ("url", Value::from(CONFIGURATION_URL)),
    ];
    for (name, value) in derived {
        configuration.insert(name.to_owned(), value);
    }
    for (name, value) in changes {
        configuration.insert(name.clone(), value.clone());
    }
    Value::Object(configuration)
}

/// The configuration's `status` for an instance status: `ok` when ready, else `inprogress`.
pub(crate) fn configuration_status(instance_status: &str) -> &'static str {
    if instance_status == READY {
        "ok"
    } else {
        "inprogress"
    }
}

/// Replaces every SID-shaped string (two capitals and 32 hex digits) with one derived from
/// `seed` and the original, so that a SID used in several places stays the same SID.
fn freshen_sids(value: &mut Value, seed: u128) {
    match value {
        Value::String(text) if is_any_sid(text) => {
            *text = fresh_sid(seed, &text[..2], text);
        }
        Value::Array(items) => items.iter_mut().for_each(|v| freshen_sids(v, seed)),
        Value::Object(map) => map.values_mut().for_each(|v| freshen_sids(v, seed)),
        _ => {}
    }
}

fn is_any_sid(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 34
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..].iter().all(u8::is_ascii_hexdigit)
}

/// `prefix` and 32 lowercase hex digits that depend only on `seed` and `salt`.
fn fresh_sid(seed: u128, prefix: &str, salt: &str) -> String {
    // FNV-1a of the salt, then SplitMix64 over each half of the seed.
    let h = salt.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let high = splitmix64((seed >> 64) as u64 ^ h);
    let low = splitmix64(seed as u64 ^ h.rotate_left(32));
    format!("{prefix}{high:016x}{low:016x}")
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Why a `POST /v1/Configuration` body is refused (each answered 400, code 20001).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UpdateError {
    /// The body does not parse as JSON.
    #[error("Invalid request body: not JSON ({0}); expected a JSON object")]
    NotJson(String),
    /// The body is JSON but not an object.
    #[error("Invalid request body: expected a JSON object of properties, found {0}")]
    NotAnObject(&'static str),
    /// No `account_sid` in the body.
    #[error("Missing required parameter account_sid in the request body")]
    MissingAccountSid,
    /// `account_sid` is not the account of the request's `I-Twilio-Auth-Account` header.
    #[error("Invalid account_sid {sent}: it must be the account the request acts on ({account})")]
    AccountSidMismatch {
        /// What the body holds, as JSON.
        sent: String,
        /// The header's account.
        account: String,
    },
    /// Properties that `flex.v1.configuration` does not have.
    #[error("Unknown Configuration properties: {}", .0.join(", "))]
    Unknown(Vec<String>),
    /// Properties that describe the instance and cannot be set.
    #[error("Read-only Configuration properties cannot be updated: {}", .0.join(", "))]
    ReadOnly(Vec<String>),
    /// Values of the wrong type: (property, what it must be, what was sent).
    #[error("Invalid property values: {}", describe_wrong(.0))]
    WrongType(Vec<(String, &'static str, &'static str)>),
}

fn describe_wrong(wrong: &[(String, &'static str, &'static str)]) -> String {
    wrong
        .iter()
        .map(|(name, expected, found)| format!("{name} must be {expected} or null, found {found}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a JSON value is, for messages.
pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Whether `value` fits a property of `kind` (`null` fits every kind).
fn fits(kind: Kind, value: &Value) -> bool {
    matches!(
        (kind, value),
        (_, Value::Null)
            | (Kind::Text, Value::String(_))
            | (Kind::Boolean, Value::Bool(_))
            | (Kind::List, Value::Array(_))
            | (Kind::Json, Value::Object(_))
    )
}

fn expected(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "a string",
        Kind::Boolean => "a boolean",
        Kind::List => "an array",
        Kind::Json => "a JSON object",
    }
}

/// The properties a `POST /v1/Configuration` body sets (without `account_sid`), once it is a
/// JSON object naming `account` as its `account_sid`, with only known, writable properties
/// whose values fit their types. The first broken rule is reported, naming every property
/// that breaks it.
pub(crate) fn parse_update(body: &[u8], account: &str) -> Result<Map<String, Value>, UpdateError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|err| UpdateError::NotJson(err.to_string()))?;
    let Value::Object(mut properties) = value else {
        return Err(UpdateError::NotAnObject(json_type(&value)));
    };
    match properties.shift_remove("account_sid") {
        None => return Err(UpdateError::MissingAccountSid),
        Some(Value::String(sent)) if sent == account => {}
        Some(sent) => {
            return Err(UpdateError::AccountSidMismatch {
                sent: sent.to_string(),
                account: account.to_owned(),
            })
        }
    }
    let catalogue = catalogue();
    let unknown: Vec<String> = properties
        .keys()
        .filter(|name| catalogue.get(name).is_none())
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(UpdateError::Unknown(unknown));
    }
    let read_only: Vec<String> = properties
        .keys()
        .filter(|name| catalogue.get(name).is_some_and(|p| p.read_only.is_some()))
        .cloned()
        .collect();
    if !read_only.is_empty() {
        return Err(UpdateError::ReadOnly(read_only));
    }
    let wrong: Vec<_> = properties
        .iter()
        .filter_map(|(name, value)| {
            let kind = catalogue.get(name)?.kind;
            (!fits(kind, value)).then(|| (name.clone(), expected(kind), json_type(value)))
        })
        .collect();
    if !wrong.is_empty() {
        return Err(UpdateError::WrongType(wrong));
    }
    Ok(properties)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

    fn instance(status: &str) -> SimInstance {
        SimInstance {
            flex_instance_sid: "GO0123456789abcdef0123456789abcdef".to_owned(),
            account_sid: ACCOUNT.to_owned(),
            status: status.to_owned(),
            date_created: "2024-01-02T03:04:05Z".to_owned(),
            date_updated: "2024-01-02T03:04:07Z".to_owned(),
            conversations_default: None,
        }
    }

    #[test]
    fn the_whole_configuration_has_every_property_and_follows_the_instance() {
        let config = whole(&instance(READY), &Map::new());
        for property in catalogue().all() {
            assert!(config.get(&property.name).is_some(), "{}", property.name);
        }
        assert_eq!(config["account_sid"], ACCOUNT);
        assert_eq!(
            config["flex_instance_sid"],
            "GO0123456789abcdef0123456789abcdef"
        );
        assert_eq!(config["status"], "ok");
        assert_eq!(config["date_created"], "2024-01-02T03:04:05Z");
        assert_eq!(config["date_updated"], "2024-01-02T03:04:07Z");
        assert_eq!(config["url"], CONFIGURATION_URL);
        assert_eq!(config["ui_language"], "en");
        assert_eq!(config["call_recording_enabled"], false);
        assert_eq!(config["ui_attributes"]["logLevel"], "info");
        let provisioning = whole(&instance("creation-in-progress"), &Map::new());
        assert_eq!(provisioning["status"], "inprogress");
    }

    #[test]
    fn sids_are_fresh_per_instance_and_consistent_within_one() {
        let config = whole(&instance(READY), &Map::new());
        let workspace = config["taskrouter_workspace_sid"].as_str().unwrap();
        assert!(
            is_any_sid(workspace) && workspace.starts_with("WS"),
            "{workspace}"
        );
        assert_ne!(workspace, "WSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        // The target queue is the one the outbound flow uses, as in Twilio's example.
        assert_eq!(
            config["taskrouter_target_taskqueue_sid"],
            config["outbound_call_flows"]["default"]["queue_sid"]
        );
        assert_ne!(
            config["chat_service_instance_sid"],
            config["flex_service_instance_sid"]
        );
        let mut other = instance(READY);
        other.flex_instance_sid = "GOfedcba9876543210fedcba9876543210".to_owned();
        let other = whole(&other, &Map::new());
        assert_ne!(other["taskrouter_workspace_sid"], workspace);
        // The same instance always shows the same SIDs.
        assert_eq!(whole(&instance(READY), &Map::new()), config);
    }

    #[test]
    fn changes_replace_top_level_properties_whole() {
        let mut changes = Map::new();
        changes.insert("ui_attributes".to_owned(), json!({"logLevel": "debug"}));
        changes.insert("date_updated".to_owned(), json!("2025-01-01T00:00:00Z"));
        let config = whole(&instance(READY), &changes);
        assert_eq!(config["ui_attributes"], json!({"logLevel": "debug"}));
        assert_eq!(config["date_updated"], "2025-01-01T00:00:00Z");
    }

    #[test]
    fn update_bodies_follow_twilios_rules() {
        let body = |value: Value| serde_json::to_vec(&value).unwrap();
        let set = parse_update(
            &body(json!({
                "account_sid": ACCOUNT,
                "ui_language": "fr",
                "call_recording_enabled": true,
                "integrations": [],
                "ui_attributes": {"logLevel": "debug"},
                "crm_type": null,
            })),
            ACCOUNT,
        )
        .unwrap();
        assert_eq!(set.len(), 5);
        assert!(!set.contains_key("account_sid"));

        let refused = |value: Value| parse_update(&body(value), ACCOUNT).unwrap_err();
        assert!(matches!(
            parse_update(b"not json", ACCOUNT),
            Err(UpdateError::NotJson(_))
        ));
        assert_eq!(refused(json!([])), UpdateError::NotAnObject("an array"));
        assert_eq!(
            refused(json!({"ui_language": "fr"})),
            UpdateError::MissingAccountSid
        );
        let other = "ACfedcba9876543210fedcba9876543210";
        let message = refused(json!({"account_sid": other})).to_string();
        assert!(
            message.contains(other) && message.contains(ACCOUNT),
            "{message}"
        );
        assert!(matches!(
            refused(json!({"account_sid": 7})),
            UpdateError::AccountSidMismatch { .. }
        ));
        assert_eq!(
            refused(json!({"account_sid": ACCOUNT, "ui_langage": "fr", "status": "ok"})),
            UpdateError::Unknown(vec!["ui_langage".to_owned()])
        );
        let message =
            refused(json!({"account_sid": ACCOUNT, "status": "ok", "url": null})).to_string();
        assert_eq!(
            message,
            "Read-only Configuration properties cannot be updated: status, url"
        );
        let message = refused(json!({
            "account_sid": ACCOUNT,
            "ui_language": true,
            "call_recording_enabled": "yes",
            "integrations": {},
            "ui_attributes": [],
        }))
        .to_string();
        for part in [
            "ui_language must be a string or null, found a boolean",
            "call_recording_enabled must be a boolean or null, found a string",
            "integrations must be an array or null, found an object",
            "ui_attributes must be a JSON object or null, found an array",
        ] {
            assert!(message.contains(part), "{message}");
        }
    }
}
