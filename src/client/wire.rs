//! The bodies of the Flex API's answers as the client reads them: what only the client needs,
//! and the Plugins API's resources and list pages before they become the domain types of
//! [`crate::domain`] (unknown fields ignored).

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::domain::sid::{PluginConfigurationSid, PluginSid, PluginVersionSid, ReleaseSid};
use crate::domain::{ConfiguredPlugin, Plugin, PluginConfiguration, PluginVersion, Release};

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

/// A plugin (`flex.v1.plugin`), reduced to what flexform reads.
#[derive(Debug, Deserialize)]
pub(crate) struct PluginBody {
    sid: PluginSid,
    unique_name: String,
}

impl From<PluginBody> for Plugin {
    fn from(body: PluginBody) -> Self {
        Plugin {
            sid: body.sid,
            unique_name: body.unique_name,
        }
    }
}

/// A plugin version (`flex.v1.plugin.plugin_version`), reduced to what flexform reads.
#[derive(Debug, Deserialize)]
pub(crate) struct PluginVersionBody {
    sid: PluginVersionSid,
    plugin_sid: PluginSid,
    version: String,
    plugin_url: String,
    private: bool,
}

impl From<PluginVersionBody> for PluginVersion {
    fn from(body: PluginVersionBody) -> Self {
        PluginVersion {
            sid: body.sid,
            plugin_sid: body.plugin_sid,
            version: body.version,
            plugin_url: body.plugin_url,
            private: body.private,
        }
    }
}

/// A plugin version as a configuration lists it
/// (`flex.v1.plugin_configuration.configured_plugin`), reduced to what flexform reads.
#[derive(Debug, Deserialize)]
pub(crate) struct ConfiguredPluginBody {
    plugin_sid: PluginSid,
    plugin_version_sid: PluginVersionSid,
    unique_name: String,
    version: String,
    plugin_url: String,
}

impl From<ConfiguredPluginBody> for ConfiguredPlugin {
    fn from(body: ConfiguredPluginBody) -> Self {
        ConfiguredPlugin {
            plugin_sid: body.plugin_sid,
            plugin_version_sid: body.plugin_version_sid,
            unique_name: body.unique_name,
            version: body.version,
            plugin_url: body.plugin_url,
        }
    }
}

/// A plugin configuration (`flex.v1.plugin_configuration`), reduced to what flexform reads.
#[derive(Debug, Deserialize)]
pub(crate) struct PluginConfigurationBody {
    sid: PluginConfigurationSid,
    name: String,
}

impl From<PluginConfigurationBody> for PluginConfiguration {
    fn from(body: PluginConfigurationBody) -> Self {
        PluginConfiguration {
            sid: body.sid,
            name: body.name,
        }
    }
}

/// A release (`flex.v1.plugin_release`), reduced to what flexform reads.
#[derive(Debug, Deserialize)]
pub(crate) struct ReleaseBody {
    sid: ReleaseSid,
    configuration_sid: PluginConfigurationSid,
}

impl From<ReleaseBody> for Release {
    fn from(body: ReleaseBody) -> Self {
        Release {
            sid: body.sid,
            configuration_sid: body.configuration_sid,
        }
    }
}

/// The paging part of a list answer: where the next page is, if there is one.
#[derive(Debug, Default, Deserialize)]
struct Meta {
    #[serde(default)]
    next_page_url: Option<String>,
}

/// One page of a list answer: its items, read from the list's plural `key` (`plugins`,
/// `plugin_versions`, …), and `meta.next_page_url` (none, null or empty: the last page).
/// Fields other than those two are ignored.
pub(crate) fn page<T: DeserializeOwned>(
    bytes: &[u8],
    key: &str,
) -> Result<(Vec<T>, Option<String>), String> {
    let mut body: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| format!("not a JSON object: {e}"))?;
    let items = body.remove(key).ok_or_else(|| format!("no `{key}` list"))?;
    let items: Vec<T> = serde_json::from_value(items).map_err(|e| format!("in `{key}`: {e}"))?;
    let meta: Meta = match body.remove("meta") {
        None | Some(serde_json::Value::Null) => Meta::default(),
        Some(meta) => serde_json::from_value(meta).map_err(|e| format!("in `meta`: {e}"))?,
    };
    Ok((items, meta.next_page_url.filter(|url| !url.is_empty())))
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

    #[test]
    fn a_page_reads_its_items_and_next_page_and_ignores_the_rest() {
        let body = br#"{"releases": [{"sid": "FK00000000000000000000000000000001", "configuration_sid": "FJ00000000000000000000000000000001", "url": "x"}], "meta": {"key": "releases", "next_page_url": "https://h/v1/PluginService/Releases?Page=1"}, "extra": 1}"#;
        let (items, next) = page::<ReleaseBody>(body, "releases").unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            Release::from(items.into_iter().next().unwrap())
                .sid
                .as_str(),
            "FK00000000000000000000000000000001"
        );
        assert_eq!(
            next.as_deref(),
            Some("https://h/v1/PluginService/Releases?Page=1")
        );
        for last in [
            r#"{"releases": [], "meta": {"next_page_url": null}}"#,
            r#"{"releases": [], "meta": {"next_page_url": ""}}"#,
            r#"{"releases": []}"#,
        ] {
            let (items, next) = page::<ReleaseBody>(last.as_bytes(), "releases").unwrap();
            assert!(items.is_empty() && next.is_none(), "{last}");
        }
    }

    #[test]
    fn a_page_without_its_list_or_with_bad_items_is_refused() {
        let missing = page::<ReleaseBody>(br#"{"plugins": []}"#, "releases").unwrap_err();
        assert_eq!(missing, "no `releases` list");
        let bad =
            page::<ReleaseBody>(br#"{"releases": [{"sid": "GO1"}]}"#, "releases").unwrap_err();
        assert!(bad.starts_with("in `releases`: "), "{bad}");
        assert!(page::<ReleaseBody>(b"[]", "releases").is_err());
    }
}
