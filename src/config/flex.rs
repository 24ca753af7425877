//! Flex configuration as code: Twilio's property catalogue, the managed paths of a declared
//! `configuration:` block, and the merge that keeps everyone else's keys.
//!
//! Property names and types come from Twilio's published schema `flex.v1.configuration`
//! (vendored in `schemas/twilio/`, compiled in). Simple properties (text, booleans) and lists
//! are managed whole; inside a JSON-typed property (an object) only the declared keys are
//! managed, at any depth, and a declared `null` means "this key must be absent".

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Twilio's OpenAPI extract: `/v1/Configuration` and the schema `flex.v1.configuration`.
pub const TWILIO_SCHEMA: &str = include_str!("../../schemas/twilio/flex.v1.configuration.json");

/// The name of the schema in [`TWILIO_SCHEMA`].
pub const SCHEMA_NAME: &str = "flex.v1.configuration";

/// What a property holds, as Twilio's schema types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Text,
    /// A boolean.
    Boolean,
    /// A list, replaced whole.
    List,
    /// A JSON object: the declared keys are managed, the others kept.
    Json,
}

impl Kind {
    /// How the kind is named in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Text => "a string",
            Kind::Boolean => "a boolean",
            Kind::List => "a list",
            Kind::Json => "a JSON object (a mapping)",
        }
    }
}

/// One property of the Flex configuration.
#[derive(Debug, Clone)]
pub struct Property {
    /// As Twilio names it.
    pub name: String,
    /// What it holds.
    pub kind: Kind,
    /// Why flexform refuses to manage it, when it is read-only.
    pub read_only: Option<&'static str>,
    /// Twilio's description.
    pub description: String,
    /// For a list whose schema types its items: what each item must be.
    pub items: Option<ItemSchema>,
}

/// What each item of a list property must be, from the schema's `items` (type, length,
/// pattern).
#[derive(Debug, Clone)]
pub struct ItemSchema {
    /// The JSON type (`string`, `boolean`, `integer`, `number`, `object`, `array`).
    pub kind: String,
    /// The shortest and longest string.
    pub length: (Option<u64>, Option<u64>),
    /// The pattern a string matches.
    pub pattern: Option<regex::Regex>,
}

impl ItemSchema {
    fn from_schema(items: &Value) -> Option<Self> {
        let kind = items.get("type")?.as_str()?.to_owned();
        Some(Self {
            kind,
            length: (
                items.get("minLength").and_then(Value::as_u64),
                items.get("maxLength").and_then(Value::as_u64),
            ),
            pattern: items
                .get("pattern")
                .and_then(Value::as_str)
                .map(|p| regex::Regex::new(p).expect("the vendored schema's patterns compile")),
        })
    }

    /// What an item must be, for messages: `a string matching ^ZS[0-9a-fA-F]{32}$`.
    pub fn describe(&self) -> String {
        let mut text = match self.kind.as_str() {
            "object" => "an object".to_owned(),
            "array" => "a list".to_owned(),
            "integer" => "an integer".to_owned(),
            kind => format!("a {kind}"),
        };
        if let Some(pattern) = &self.pattern {
            text.push_str(&format!(" matching {}", pattern.as_str()));
        }
        text
    }

    /// Why `item` is not such an item (what was found), or `None` when it is.
    pub fn refuses(&self, item: &Value) -> Option<String> {
        let found = || match item {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => format!("the boolean {b}"),
            Value::Number(n) => format!("the number {n}"),
            Value::String(t) => format!("{t:?}"),
            Value::Array(_) => "a list".to_owned(),
            Value::Object(_) => "a mapping".to_owned(),
        };
        let fits = match self.kind.as_str() {
            "string" => item.is_string(),
            "boolean" => item.is_boolean(),
            "integer" => item.is_i64() || item.is_u64(),
            "number" => item.is_number(),
            "object" => item.is_object(),
            "array" => item.is_array(),
            _ => true,
        };
        if !fits {
            return Some(found());
        }
        if let Value::String(text) = item {
            let chars = text.chars().count() as u64;
            let (min, max) = self.length;
            let length_ok = min.is_none_or(|m| chars >= m) && max.is_none_or(|m| chars <= m);
            let pattern_ok = self.pattern.as_ref().is_none_or(|p| p.is_match(text));
            if !length_ok || !pattern_ok {
                return Some(found());
            }
        }
        None
    }
}

/// Every property of `flex.v1.configuration`, by name.
#[derive(Debug)]
pub struct Catalogue {
    properties: BTreeMap<String, Property>,
}

/// Why a read-only property cannot be declared.
fn read_only_reason(name: &str) -> Option<&'static str> {
    Some(match name {
        "account_sid" => {
            "it names the account, which is the instance's `account_sid`: flexform sends it with every update"
        }
        "status" => "it is the configuration's provisioning status, set by Twilio",
        "date_created" | "date_updated" => "it is a timestamp Twilio keeps",
        "url" => "it is the resource's own address",
        "runtime_domain" | "service_version" | "flex_instance_sid" => {
            "it describes the Flex instance, set by Twilio when it is provisioned"
        }
        n if n.ends_with("_service_instance_sid") => {
            "it names a service Twilio provisioned for the instance"
        }
        _ => return None,
    })
}

impl Catalogue {
    fn from_schema(text: &str) -> Self {
        let document: Value = serde_json::from_str(text).expect("the vendored schema is JSON");
        let properties = document["components"]["schemas"][SCHEMA_NAME]["properties"]
            .as_object()
            .expect("the vendored schema lists properties");
        let properties = properties
            .iter()
            .map(|(name, schema)| {
                let kind = match schema.get("type").and_then(Value::as_str) {
                    Some("boolean") => Kind::Boolean,
                    Some("array") => Kind::List,
                    Some(_) => Kind::Text,
                    // Untyped (free-form JSON) or an enum reference (`status`).
                    None if schema.get("$ref").is_some() => Kind::Text,
                    None => Kind::Json,
                };
                let property = Property {
                    name: name.clone(),
                    kind,
                    read_only: read_only_reason(name),
                    description: schema
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    items: schema.get("items").and_then(ItemSchema::from_schema),
                };
                (name.clone(), property)
            })
            .collect();
        Self { properties }
    }

    /// A property by name.
    pub fn get(&self, name: &str) -> Option<&Property> {
        self.properties.get(name)
    }

    /// Every property, in name order.
    pub fn all(&self) -> impl Iterator<Item = &Property> {
        self.properties.values()
    }

    /// The names of the properties a configuration may declare.
    pub fn writable_names(&self) -> Vec<&str> {
        self.all()
            .filter(|p| p.read_only.is_none())
            .map(|p| p.name.as_str())
            .collect()
    }
}

/// The catalogue read from the vendored schema.
pub fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| Catalogue::from_schema(TWILIO_SCHEMA))
}

/// A declared `configuration:` block: top-level property -> value.
pub type Declared = BTreeMap<String, Value>;

/// A managed path: a top-level property, then keys inside a JSON-typed one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigPath(Vec<String>);

impl ConfigPath {
    /// The top-level property the path is in.
    pub fn property(&self) -> &str {
        &self.0[0]
    }

    /// The value at this path in `configuration` (a whole configuration object); a missing
    /// key and `null` are the same: [`Value::Null`].
    pub fn value_in(&self, configuration: &Value) -> Value {
        let mut at = configuration;
        for segment in &self.0 {
            match at.get(segment) {
                Some(next) => at = next,
                None => return Value::Null,
            }
        }
        at.clone()
    }
}

impl std::fmt::Display for ConfigPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// Every managed path of a declared block with the value it must have (`Null`: absent), in
/// path order.
pub fn managed(declared: &Declared) -> Vec<(ConfigPath, Value)> {
    let mut out = Vec::new();
    for (name, value) in declared {
        let json = catalogue().get(name).map(|p| p.kind) == Some(Kind::Json);
        let mut prefix = vec![name.clone()];
        if json {
            leaves(&mut prefix, value, &mut out);
        } else {
            out.push((ConfigPath(prefix), value.clone()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The leaves of a declared value inside a JSON-typed property: an object declares its keys
/// (none, for `{}`: nothing is managed), anything else is a value.
fn leaves(prefix: &mut Vec<String>, value: &Value, out: &mut Vec<(ConfigPath, Value)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                prefix.push(key.clone());
                leaves(prefix, inner, out);
                prefix.pop();
            }
        }
        other => out.push((ConfigPath(prefix.clone()), other.clone())),
    }
}

/// `current` with `declared` merged in: declared keys set (recursively inside objects),
/// declared `null`s removed, every other key kept as it is. Used for the whole value of one
/// JSON-typed property.
pub fn merge(current: &Value, declared: &Value) -> Value {
    match declared {
        // `{}` declares no key: the current value stays as it is.
        Value::Object(keys) if keys.is_empty() => current.clone(),
        Value::Object(keys) => {
            let mut merged = match current {
                Value::Object(map) => map.clone(),
                _ => Map::new(),
            };
            for (key, value) in keys {
                if value.is_null() {
                    merged.remove(key);
                } else if !value.as_object().is_some_and(Map::is_empty) {
                    // (An empty object declares no key inside: nothing to change.)
                    let next = merge(merged.get(key).unwrap_or(&Value::Null), value);
                    merged.insert(key.clone(), next);
                }
            }
            Value::Object(merged)
        }
        other => other.clone(),
    }
}

/// The whole new value of each top-level property in `properties`: the declared value for a
/// simple property or a list, `current`'s value with the declared keys merged in for a
/// JSON-typed one. `current` is a whole configuration object, freshly fetched.
pub fn update_body(
    declared: &Declared,
    current: &Value,
    properties: &[&str],
) -> Map<String, Value> {
    let mut body = Map::new();
    for name in properties {
        let Some(value) = declared.get(*name) else {
            continue;
        };
        let json = catalogue().get(name).map(|p| p.kind) == Some(Kind::Json);
        let new = if json {
            merge(current.get(*name).unwrap_or(&Value::Null), value)
        } else {
            value.clone()
        };
        body.insert((*name).to_owned(), new);
    }
    body
}

/// SHA-256 (hex) of a value's canonical form: compact JSON with object keys sorted.
pub fn value_sha256(value: &Value) -> String {
    crate::support::hash::sha256_hex(canonical(value).to_string().as_bytes())
}

fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// What the state records of an instance's managed configuration: the SHA-256 of the value
/// each managed path had when flexform last applied or verified it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct AppliedConfiguration(pub BTreeMap<String, String>);

impl AppliedConfiguration {
    /// The record of `managed` as `observed` in a configuration object.
    pub fn of(managed: &[(ConfigPath, Value)], observed: &Value) -> Self {
        Self(
            managed
                .iter()
                .map(|(path, _)| (path.to_string(), value_sha256(&path.value_in(observed))))
                .collect(),
        )
    }

    /// The paths managed now that changed outside flexform and that apply would set again:
    /// recorded, no longer holding the recorded value, and not holding the declared one
    /// either (a path no longer declared is not managed; one changed to the declared value
    /// is in place, and only its record is behind).
    pub fn drifted(&self, managed: &[(ConfigPath, Value)], observed: &Value) -> Vec<String> {
        managed
            .iter()
            .filter(|(path, declared)| {
                let Some(recorded) = self.0.get(&path.to_string()) else {
                    return false;
                };
                let now = path.value_in(observed);
                value_sha256(&now) != *recorded && now != *declared
            })
            .map(|(path, _)| path.to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn declared(value: Value) -> Declared {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_catalogue_reads_twilios_types_and_refuses_what_describes_the_instance() {
        let c = catalogue();
        assert_eq!(c.get("ui_language").unwrap().kind, Kind::Text);
        assert_eq!(c.get("call_recording_enabled").unwrap().kind, Kind::Boolean);
        assert_eq!(c.get("ui_attributes").unwrap().kind, Kind::Json);
        assert_eq!(c.get("integrations").unwrap().kind, Kind::List);
        for read_only in [
            "account_sid",
            "status",
            "date_created",
            "date_updated",
            "url",
            "runtime_domain",
            "service_version",
            "flex_instance_sid",
            "chat_service_instance_sid",
            "messaging_service_instance_sid",
            "flex_service_instance_sid",
        ] {
            assert!(c.get(read_only).unwrap().read_only.is_some(), "{read_only}");
        }
        assert!(c.get("ui_version").unwrap().read_only.is_none());
        assert!(c.get("no_such").is_none());
    }

    #[test]
    fn the_catalogue_lists_every_property_and_what_may_be_declared() {
        let c = catalogue();
        assert_eq!(
            c.all().count(),
            49,
            "flex.v1.configuration has 49 properties"
        );
        let writable = c.writable_names();
        assert!(writable.contains(&"ui_language"));
        assert!(writable.contains(&"ui_attributes"));
        assert!(!writable.contains(&"status"));
        assert!(!writable.contains(&"account_sid"));
        assert_eq!(
            writable.len(),
            c.all().filter(|p| p.read_only.is_none()).count()
        );
        // `status` is an enum reference, a string: not a JSON-typed property.
        assert_eq!(c.get("status").unwrap().kind, Kind::Text);
        assert_eq!(Kind::Text.describe(), "a string");
        assert_eq!(Kind::Boolean.describe(), "a boolean");
        assert_eq!(Kind::List.describe(), "a list");
        assert_eq!(Kind::Json.describe(), "a JSON object (a mapping)");
    }

    #[test]
    fn an_empty_object_manages_nothing_and_changes_nothing() {
        let paths = managed(&declared(
            json!({"ui_attributes": {}, "crm_attributes": {"a": {}}}),
        ));
        assert!(paths.is_empty(), "{paths:?}");
        let current = json!({"logLevel": "info"});
        assert_eq!(merge(&current, &json!({})), current);
        assert_eq!(merge(&current, &json!({"nested": {}})), current);
        // Even a property that is not an object stays as it is.
        assert_eq!(merge(&Value::Null, &json!({})), Value::Null);
    }

    #[test]
    fn paths_go_inside_json_objects_only() {
        let paths = managed(&declared(json!({
            "ui_language": "en-GB",
            "integrations": [{"name": "x"}],
            "ui_attributes": {"logLevel": "debug", "colorTheme": {"baseName": "GreyDark"}, "old": null},
        })));
        let shown: Vec<String> = paths.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "integrations",
                "ui_attributes.colorTheme.baseName",
                "ui_attributes.logLevel",
                "ui_attributes.old",
                "ui_language"
            ]
        );
        assert_eq!(paths[3].1, Value::Null);
        assert_eq!(paths[1].0.property(), "ui_attributes");
        assert_eq!(paths[4].0.property(), "ui_language");
    }

    #[test]
    fn merge_keeps_undeclared_keys_sets_declared_ones_and_null_removes() {
        let current = json!({"logLevel": "info", "keep": 1, "old": true, "colorTheme": {"baseName": "Light", "light": true}});
        let merged = merge(
            &current,
            &json!({"logLevel": "debug", "old": null, "colorTheme": {"baseName": "GreyDark"}}),
        );
        assert_eq!(
            merged,
            json!({"logLevel": "debug", "keep": 1, "colorTheme": {"baseName": "GreyDark", "light": true}})
        );
        // A property that was null or not an object becomes one.
        assert_eq!(merge(&Value::Null, &json!({"a": 1})), json!({"a": 1}));
    }

    #[test]
    fn the_update_body_sends_whole_top_level_values() {
        let d = declared(json!({"ui_language": "fr", "ui_attributes": {"logLevel": "debug"}}));
        let current =
            json!({"ui_language": "en", "ui_attributes": {"logLevel": "info", "other": 2}});
        let body = update_body(&d, &current, &["ui_attributes"]);
        assert_eq!(
            Value::Object(body),
            json!({"ui_attributes": {"logLevel": "debug", "other": 2}})
        );
    }

    #[test]
    fn the_record_sees_which_managed_paths_changed() {
        let d = declared(json!({"ui_language": "fr", "ui_attributes": {"logLevel": "debug"}}));
        let applied = json!({"ui_language": "fr", "ui_attributes": {"logLevel": "debug", "x": 1}});
        let m = managed(&d);
        let record = AppliedConfiguration::of(&m, &applied);
        assert!(record.drifted(&m, &applied).is_empty());
        let later = json!({"ui_language": "fr", "ui_attributes": {"logLevel": "info", "x": 2}});
        assert_eq!(record.drifted(&m, &later), ["ui_attributes.logLevel"]);
        // A path no longer declared is not managed: it never drifts.
        let fewer = declared(json!({"ui_attributes": {"logLevel": "debug"}}));
        let changed = json!({"ui_language": "de", "ui_attributes": {"logLevel": "debug"}});
        assert!(record.drifted(&managed(&fewer), &changed).is_empty());
        // Changed outside to the value declared now: in place, not drift.
        let now_de = declared(json!({"ui_language": "de", "ui_attributes": {"logLevel": "debug"}}));
        assert!(record.drifted(&managed(&now_de), &changed).is_empty());
        // Not recorded yet: nothing to drift from.
        assert!(AppliedConfiguration::default()
            .drifted(&m, &later)
            .is_empty());
        // Key order does not matter.
        assert_eq!(
            value_sha256(&json!({"a": 1, "b": 2})),
            value_sha256(&json!({"b": 2, "a": 1}))
        );
    }

    #[test]
    fn list_items_are_checked_against_the_schemas_item_type() {
        let sids = catalogue()
            .get("serverless_service_sids")
            .unwrap()
            .items
            .clone()
            .expect("Twilio types these items");
        assert_eq!(sids.describe(), "a string matching ^ZS[0-9a-fA-F]{32}$");
        assert_eq!(
            sids.refuses(&json!("ZS0123456789abcdef0123456789abcdef")),
            None
        );
        assert_eq!(sids.refuses(&json!(1)).as_deref(), Some("the number 1"));
        assert_eq!(sids.refuses(&json!({"x": 2})).as_deref(), Some("a mapping"));
        assert_eq!(sids.refuses(&json!("ZS01")).as_deref(), Some("\"ZS01\""));
        assert_eq!(
            sids.refuses(&json!("XX0123456789abcdef0123456789abcdef"))
                .as_deref(),
            Some("\"XX0123456789abcdef0123456789abcdef\"")
        );
        // Untyped items (`items: {}`) take anything.
        assert!(catalogue().get("integrations").unwrap().items.is_none());
        let kinds = [
            ("string", json!("a"), json!(1)),
            ("boolean", json!(true), json!("true")),
            ("integer", json!(3), json!(1.5)),
            ("number", json!(1.5), json!("1.5")),
            ("object", json!({}), json!([])),
            ("array", json!([]), json!({})),
        ];
        for (kind, good, bad) in kinds {
            let schema = ItemSchema::from_schema(&json!({ "type": kind })).unwrap();
            assert_eq!(schema.refuses(&good), None, "{kind}");
            assert!(schema.refuses(&bad).is_some(), "{kind}");
        }
        assert_eq!(
            ItemSchema::from_schema(&json!({"type": "object"}))
                .unwrap()
                .describe(),
            "an object"
        );
        assert_eq!(
            ItemSchema::from_schema(&json!({"type": "array"}))
                .unwrap()
                .describe(),
            "a list"
        );
        assert_eq!(
            ItemSchema::from_schema(&json!({"type": "integer"}))
                .unwrap()
                .describe(),
            "an integer"
        );
        assert_eq!(
            ItemSchema::from_schema(&json!({"type": "boolean"}))
                .unwrap()
                .describe(),
            "a boolean"
        );
        let found = ItemSchema::from_schema(&json!({"type": "string"})).unwrap();
        assert_eq!(found.refuses(&json!(null)).as_deref(), Some("null"));
        assert_eq!(
            found.refuses(&json!(false)).as_deref(),
            Some("the boolean false")
        );
        assert_eq!(found.refuses(&json!([1])).as_deref(), Some("a list"));
        // Lengths, at their edges.
        let short =
            ItemSchema::from_schema(&json!({"type": "string", "minLength": 2, "maxLength": 3}))
                .unwrap();
        assert!(short.refuses(&json!("a")).is_some());
        assert_eq!(short.refuses(&json!("ab")), None);
        assert_eq!(short.refuses(&json!("abc")), None);
        assert!(short.refuses(&json!("abcd")).is_some());
        assert!(ItemSchema::from_schema(&json!({})).is_none());
        // An integer beyond i64 is an integer too.
        let integer = ItemSchema::from_schema(&json!({"type": "integer"})).unwrap();
        assert_eq!(integer.refuses(&json!(u64::MAX)), None);
        assert_eq!(integer.refuses(&json!(-3)), None);
    }
}
