//! Twilio SIDs: validated newtypes for account (`AC…`) and Flex instance (`GO…`) identifiers.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// Pattern of an account SID, as in Twilio's OpenAPI schema.
pub const ACCOUNT_SID_PATTERN: &str = "^AC[0-9a-fA-F]{32}$";
/// Pattern of a Flex instance SID, as in Twilio's OpenAPI schema (`flex.v2.instance`).
pub const INSTANCE_SID_PATTERN: &str = "^GO[0-9a-fA-F]{32}$";
/// Pattern of a Flex plugin SID (`flex.v1.plugin`).
pub const PLUGIN_SID_PATTERN: &str = "^FP[0-9a-fA-F]{32}$";
/// Pattern of a Flex plugin version SID (`flex.v1.plugin.plugin_version`).
pub const PLUGIN_VERSION_SID_PATTERN: &str = "^FV[0-9a-fA-F]{32}$";
/// Pattern of a Flex plugin configuration SID (`flex.v1.plugin_configuration`).
pub const PLUGIN_CONFIGURATION_SID_PATTERN: &str = "^FJ[0-9a-fA-F]{32}$";
/// Pattern of a Flex plugin release SID (`flex.v1.plugin_release`).
pub const RELEASE_SID_PATTERN: &str = "^FK[0-9a-fA-F]{32}$";

/// A text that is not a SID of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: expected `{prefix}` followed by 32 hexadecimal digits, found {found:?}")]
pub struct InvalidSid {
    /// What was expected, e.g. "account SID".
    pub what: &'static str,
    /// The two letters it starts with.
    pub prefix: &'static str,
    /// The text found.
    pub found: String,
}

fn matches_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix)
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

macro_rules! sid_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $pattern:ident, $what:literal) => {
        $(#[$doc])*
        ///
        /// Kept as written, compared without case (its digits are hexadecimal): one rule for
        /// moves, duplicates, imports and every map keyed by SID.
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.eq_ignore_ascii_case(&other.0)
            }
        }

        impl Eq for $name {}

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                for b in self.0.bytes() {
                    state.write_u8(b.to_ascii_lowercase());
                }
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.0
                    .bytes()
                    .map(|b| b.to_ascii_lowercase())
                    .cmp(other.0.bytes().map(|b| b.to_ascii_lowercase()))
            }
        }

        impl $name {
            /// Parses and validates a SID; the error says what was expected.
            pub fn parse(value: &str) -> Result<Self, InvalidSid> {
                if matches_sid(value, $prefix) {
                    Ok(Self(value.to_owned()))
                } else {
                    Err(InvalidSid {
                        what: $what,
                        prefix: $prefix,
                        found: value.to_owned(),
                    })
                }
            }

            /// The SID as text, as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The SID as Twilio issues it (its hex digits in lower case): what is sent.
            pub fn canonical(&self) -> String {
                format!("{}{}", &self.0[..2], self.0[2..].to_ascii_lowercase())
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidSid;
            fn try_from(value: String) -> Result<Self, InvalidSid> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidSid;
            fn from_str(value: &str) -> Result<Self, InvalidSid> {
                Self::parse(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": concat!("A Twilio ", $what, ".")
                })
            }
        }
    };
}

sid_type!(
    /// A Twilio account SID: `AC` and 32 hexadecimal digits.
    AccountSid,
    "AC",
    ACCOUNT_SID_PATTERN,
    "account SID"
);
sid_type!(
    /// A Flex instance SID: `GO` and 32 hexadecimal digits.
    InstanceSid,
    "GO",
    INSTANCE_SID_PATTERN,
    "Flex instance SID"
);

sid_type!(
    /// A Flex plugin SID: `FP` and 32 hexadecimal digits.
    PluginSid,
    "FP",
    PLUGIN_SID_PATTERN,
    "Flex plugin SID"
);
sid_type!(
    /// A Flex plugin version SID: `FV` and 32 hexadecimal digits.
    PluginVersionSid,
    "FV",
    PLUGIN_VERSION_SID_PATTERN,
    "Flex plugin version SID"
);
sid_type!(
    /// A Flex plugin configuration SID: `FJ` and 32 hexadecimal digits.
    PluginConfigurationSid,
    "FJ",
    PLUGIN_CONFIGURATION_SID_PATTERN,
    "Flex plugin configuration SID"
);
sid_type!(
    /// A Flex plugin release SID: `FK` and 32 hexadecimal digits.
    ReleaseSid,
    "FK",
    RELEASE_SID_PATTERN,
    "Flex plugin release SID"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_sids_of_either_case() {
        // Kept as written: the SID users gave is the SID flexform sends and records.
        assert_eq!(
            AccountSid::parse("AC0123456789abcdef0123456789ABCDEF")
                .unwrap()
                .as_str(),
            "AC0123456789abcdef0123456789ABCDEF"
        );
        assert_eq!(
            InstanceSid::parse("GO0123456789abcdef0123456789abcdef")
                .unwrap()
                .as_str(),
            "GO0123456789abcdef0123456789abcdef"
        );
    }

    #[test]
    fn sids_compare_hash_and_sort_without_case() {
        use std::collections::{BTreeSet, HashSet};
        let lower = AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap();
        let upper = AccountSid::parse("AC0123456789ABCDEF0123456789ABCDEF").unwrap();
        let other = AccountSid::parse("AC0123456789abcdef0123456789abcdee").unwrap();
        assert_eq!(lower, upper);
        assert_ne!(lower, other);
        assert_eq!(HashSet::from([lower.clone(), upper.clone()]).len(), 1);
        assert_eq!(BTreeSet::from([lower.clone(), upper.clone()]).len(), 1);
        assert_eq!(other.cmp(&upper), std::cmp::Ordering::Less);
        // Kept as written.
        assert_eq!(upper.as_str(), "AC0123456789ABCDEF0123456789ABCDEF");
    }

    #[test]
    fn rejects_wrong_prefix_length_and_digits() {
        for bad in [
            "",
            "AC",
            "GO0123456789abcdef0123456789abcdef",
            "AC0123456789abcdef0123456789abcde",
            "AC0123456789abcdef0123456789abcdef0",
            "AC0123456789abcdef0123456789abcdeg",
            "ac0123456789abcdef0123456789abcdef",
            "AC0123456789abcdef0123456789abcdé",
        ] {
            assert!(AccountSid::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(InstanceSid::parse("AC0123456789abcdef0123456789abcdef").is_err());
    }

    #[test]
    fn serde_round_trip_validates() {
        let sid: AccountSid =
            serde_json::from_str("\"AC0123456789abcdef0123456789abcdef\"").unwrap();
        assert_eq!(
            serde_json::to_string(&sid).unwrap(),
            "\"AC0123456789abcdef0123456789abcdef\""
        );
        assert!(serde_json::from_str::<AccountSid>("\"ACnope\"").is_err());
    }
}
