//! The bodies of the Flex API's answers that only the client reads (the domain types are in
//! [`crate::domain`]).

use serde::Deserialize;

/// The body of `GET /v1/Configuration`, reduced to what flexform needs. The field must be
/// present (null means "no instance"): a body without it is not a Flex configuration, and
/// reading it as "no instance" would lead to a create.
#[derive(Debug, Deserialize)]
pub(crate) struct ConfigurationBody {
    #[serde(deserialize_with = "required_nullable")]
    pub flex_instance_sid: Option<String>,
}

/// A field that must be present but may be null: serde treats a missing `Option` as `None`
/// unless the field has its own deserializer, as here.
fn required_nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_needs_the_sid_field_but_accepts_null() {
        let body: ConfigurationBody =
            serde_json::from_str(r#"{"flex_instance_sid": null, "status": "notstarted"}"#).unwrap();
        assert_eq!(body.flex_instance_sid, None);
        assert!(serde_json::from_str::<ConfigurationBody>(r#"{"a": "zzz"}"#).is_err());
    }
}
