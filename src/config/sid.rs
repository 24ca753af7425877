//! Twilio SIDs: validated newtypes for account (`AC…`) and Flex instance (`GO…`) identifiers.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// Pattern of an account SID, as in Twilio's OpenAPI schema.
pub const ACCOUNT_SID_PATTERN: &str = "^AC[0-9a-fA-F]{32}$";
/// Pattern of a Flex instance SID, as in Twilio's OpenAPI schema (`flex.v2.instance`).
pub const INSTANCE_SID_PATTERN: &str = "^GO[0-9a-fA-F]{32}$";

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
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

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

            /// The SID as text.
            pub fn as_str(&self) -> &str {
                &self.0
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
