//! The Plugins API (`/v1/PluginService`): reads of plugins, versions, configurations and the
//! active release, and the four creates flexform sends, as `impl FlexClient` methods on the
//! one request path (`execute`) with its retry policy and send guard.
//!
//! Creates send `application/x-www-form-urlencoded` bodies, answers are JSON. Lists are read
//! page by page along `meta.next_page_url`, always against the client's own base URL. A read
//! whose answer cannot be parsed is [`ApiError::InvalidResponse`]; a create whose success
//! cannot be parsed is [`ApiError::OutcomeUnknown`], because the resource may exist.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::api_error::{self, Answer};
use super::retry::Method;
use super::wire::{
    self, ConfiguredPluginBody, PluginBody, PluginConfigurationBody, PluginVersionBody, ReleaseBody,
};
use super::{ApiError, Body, FlexClient, SendGuard};
use crate::config::credentials::Credentials;
use crate::domain::sid::{AccountSid, PluginConfigurationSid, PluginSid, PluginVersionSid};
use crate::domain::{
    ConfiguredPlugin, NewVersion, Plugin, PluginConfiguration, PluginVersion, Release,
};

/// Items asked for on the first page of a list (Twilio's default, stated so that it holds).
const PAGE_SIZE: u32 = 50;

impl FlexClient {
    /// `GET /v1/PluginService/Releases/Active`: the account's active release, or `None` when
    /// it has none (404).
    pub async fn active_release(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
    ) -> Result<Option<Release>, ApiError> {
        self.fetch_optional::<ReleaseBody, _>(
            account,
            credentials,
            "/v1/PluginService/Releases/Active",
            "a plugin release",
        )
        .await
    }

    /// `GET /v1/PluginService/Configurations/{FJ}/Plugins`, every page: the plugin versions
    /// `configuration` holds.
    pub async fn configured_plugins(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        configuration: &PluginConfigurationSid,
    ) -> Result<Vec<ConfiguredPlugin>, ApiError> {
        let path = format!(
            "/v1/PluginService/Configurations/{}/Plugins",
            configuration.canonical()
        );
        self.list::<ConfiguredPluginBody, _>(account, credentials, &path, "plugins")
            .await
    }

    /// `GET /v1/PluginService/Configurations`, every page: the account's plugin
    /// configurations, oldest first (how a configuration whose create had an unknown outcome
    /// is looked for, by its name).
    pub async fn plugin_configurations(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
    ) -> Result<Vec<PluginConfiguration>, ApiError> {
        self.list::<PluginConfigurationBody, _>(
            account,
            credentials,
            "/v1/PluginService/Configurations",
            "configurations",
        )
        .await
    }

    /// `GET /v1/PluginService/Plugins/{unique_name}`: the plugin of that unique name, or
    /// `None` when there is none (404).
    pub async fn find_plugin(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        unique_name: &str,
    ) -> Result<Option<Plugin>, ApiError> {
        // No URL can name these (`..` and `.` are resolved away, an empty name reads the
        // list); Twilio cannot hold a plugin addressed by them either.
        if matches!(unique_name, "" | "." | "..") {
            return Ok(None);
        }
        let path = format!("/v1/PluginService/Plugins/{}", path_segment(unique_name));
        self.fetch_optional::<PluginBody, _>(account, credentials, &path, "a plugin")
            .await
    }

    /// `GET /v1/PluginService/Plugins/{FP}/Versions`, every page: the versions of `plugin`.
    pub async fn plugin_versions(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        plugin: &PluginSid,
    ) -> Result<Vec<PluginVersion>, ApiError> {
        let path = format!("/v1/PluginService/Plugins/{}/Versions", plugin.canonical());
        self.list::<PluginVersionBody, _>(account, credentials, &path, "plugin_versions")
            .await
    }

    /// `POST /v1/PluginService/Plugins` with `UniqueName`, sent only while `guard` allows.
    /// A plugin of that name existing already is an error for which
    /// [`ApiError::is_already_exists`] holds.
    pub async fn create_plugin(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        unique_name: &str,
        guard: &SendGuard,
    ) -> Result<Plugin, ApiError> {
        let form = vec![("UniqueName", unique_name.to_owned())];
        self.create::<PluginBody, _>(
            account,
            credentials,
            "/v1/PluginService/Plugins",
            form,
            guard,
            "a plugin",
        )
        .await
    }

    /// `POST /v1/PluginService/Plugins/{FP}/Versions` with `Version`, `PluginUrl`, `Private`
    /// (`true` or `false`) and, when given, `Changelog`; sent only while `guard` allows. The
    /// version string existing already for `plugin` is an error for which
    /// [`ApiError::is_already_exists`] holds.
    pub async fn create_plugin_version(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        plugin: &PluginSid,
        version: &NewVersion,
        guard: &SendGuard,
    ) -> Result<PluginVersion, ApiError> {
        let path = format!("/v1/PluginService/Plugins/{}/Versions", plugin.canonical());
        let mut form = vec![
            ("Version", version.version.clone()),
            ("PluginUrl", version.plugin_url.clone()),
            ("Private", version.private.to_string()),
        ];
        if let Some(changelog) = &version.changelog {
            form.push(("Changelog", changelog.clone()));
        }
        self.create::<PluginVersionBody, _>(
            account,
            credentials,
            &path,
            form,
            guard,
            "a plugin version",
        )
        .await
    }

    /// `POST /v1/PluginService/Configurations` with `Name` and one `Plugins` value per
    /// version, `{"plugin_version":"FV…"}`, in the order given; sent only while `guard`
    /// allows.
    pub async fn create_plugin_configuration(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        name: &str,
        versions: &[PluginVersionSid],
        guard: &SendGuard,
    ) -> Result<PluginConfiguration, ApiError> {
        let mut form = vec![("Name", name.to_owned())];
        form.extend(versions.iter().map(|sid| {
            let plugin = serde_json::json!({ "plugin_version": sid.canonical() });
            ("Plugins", plugin.to_string())
        }));
        self.create::<PluginConfigurationBody, _>(
            account,
            credentials,
            "/v1/PluginService/Configurations",
            form,
            guard,
            "a plugin configuration",
        )
        .await
    }

    /// `POST /v1/PluginService/Releases` with `ConfigurationId`: makes `configuration` the
    /// account's active one. Sent only while `guard` allows.
    pub async fn create_release(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        configuration: &PluginConfigurationSid,
        guard: &SendGuard,
    ) -> Result<Release, ApiError> {
        let form = vec![("ConfigurationId", configuration.canonical())];
        self.create::<ReleaseBody, _>(
            account,
            credentials,
            "/v1/PluginService/Releases",
            form,
            guard,
            "a plugin release",
        )
        .await
    }

    /// A GET of one resource: parsed as `W` on 200, `None` on 404, the API's error otherwise.
    async fn fetch_optional<W, T>(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        path: &str,
        what: &str,
    ) -> Result<Option<T>, ApiError>
    where
        W: DeserializeOwned + Into<T>,
    {
        let (status, bytes) = self
            .execute(Method::Get, path, account, credentials, None, None)
            .await?;
        match status {
            StatusCode::OK => serde_json::from_slice::<W>(&bytes)
                .map(|body| Some(body.into()))
                .map_err(|e| invalid(path, status, format!("not {what}: {e}"), &bytes)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(api_error::from_response("GET", path, status, &bytes)),
        }
    }

    /// A GET of a list, every page: `PageSize` on the first request, then each page's
    /// `meta.next_page_url` (its query, against this client's base URL and `path`) until a
    /// page has none. The items of a page are under `key`.
    async fn list<W, T>(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        path: &str,
        key: &str,
    ) -> Result<Vec<T>, ApiError>
    where
        W: DeserializeOwned + Into<T>,
    {
        let mut items = Vec::new();
        let mut target = format!("{path}?PageSize={PAGE_SIZE}");
        let mut seen = HashSet::new();
        loop {
            let (status, bytes) = self
                .execute(Method::Get, &target, account, credentials, None, None)
                .await?;
            if status != StatusCode::OK {
                return Err(api_error::from_response("GET", &target, status, &bytes));
            }
            let (page, next) = wire::page::<W>(&bytes, key)
                .map_err(|reason| invalid(&target, status, reason, &bytes))?;
            items.extend(page.into_iter().map(Into::into));
            let Some(next) = next else {
                return Ok(items);
            };
            seen.insert(target.clone());
            target = next_page(path, &next)
                .filter(|next| !seen.contains(next))
                .ok_or_else(|| {
                    let reason =
                        format!("meta.next_page_url {next:?} is not a further page of {path}");
                    invalid(&target, status, reason, &bytes)
                })?;
        }
    }

    /// A POST of `form` to `path`, sent only while `guard` allows: parsed as `W` on success.
    /// A success that cannot be parsed is an unknown outcome (the resource may exist).
    async fn create<W, T>(
        &self,
        account: &AccountSid,
        credentials: &Credentials,
        path: &str,
        form: Vec<(&'static str, String)>,
        guard: &SendGuard,
        what: &str,
    ) -> Result<T, ApiError>
    where
        W: DeserializeOwned + Into<T>,
    {
        let (status, bytes) = self
            .execute(
                Method::Post,
                path,
                account,
                credentials,
                Some(Body::Form(form)),
                Some(guard),
            )
            .await?;
        if !status.is_success() {
            return Err(api_error::from_response("POST", path, status, &bytes));
        }
        serde_json::from_slice::<W>(&bytes)
            .map(Into::into)
            .map_err(|e| ApiError::OutcomeUnknown {
                method: "POST",
                path: path.to_owned(),
                cause: invalid(path, status, format!("not {what}: {e}"), &bytes).to_string(),
                answer: Answer::Unreadable {
                    status: status.as_u16(),
                },
            })
    }
}

/// A success answer to a GET of `path` that is not what the API documents.
fn invalid(path: &str, status: StatusCode, reason: String, bytes: &[u8]) -> ApiError {
    ApiError::InvalidResponse {
        method: "GET",
        path: path.to_owned(),
        status: status.as_u16(),
        reason,
        excerpt: api_error::excerpt(bytes),
    }
}

/// The request for the page `next_page_url` names, as `path?query`: only its query is used,
/// against this client's base URL, so that a list is never read from another host. `None`
/// when the URL does not point at the list `path`.
fn next_page(path: &str, next_page_url: &str) -> Option<String> {
    // Twilio sends a full URL; a path alone is read against a placeholder host.
    let base = reqwest::Url::parse("http://next-page.invalid").expect("a valid URL");
    let next = base.join(next_page_url).ok()?;
    if !next.path().ends_with(path) {
        return None;
    }
    Some(format!("{path}?{}", next.query().unwrap_or_default()))
}

/// `text` as one URL path segment: every byte but the unreserved characters of RFC 3986
/// percent-encoded, so that a `/`, `?` or `#` in a unique name stays in the name.
fn path_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_next_page_keeps_its_query_and_drops_its_host() {
        let path = "/v1/PluginService/Plugins/FP00000000000000000000000000000001/Versions";
        assert_eq!(
            next_page(
                path,
                &format!("https://elsewhere.example{path}?PageSize=50&Page=1&PageToken=PT1")
            )
            .as_deref(),
            Some(format!("{path}?PageSize=50&Page=1&PageToken=PT1").as_str())
        );
        assert_eq!(
            next_page(path, &format!("{path}?Page=2")).as_deref(),
            Some(format!("{path}?Page=2").as_str())
        );
        assert_eq!(
            next_page(
                path,
                "https://flex-api.twilio.com/v1/PluginService/Releases?Page=1"
            ),
            None
        );
    }

    #[test]
    fn a_unique_name_is_one_path_segment() {
        assert_eq!(path_segment("plugin-sample_1.0~x"), "plugin-sample_1.0~x");
        assert_eq!(path_segment("a b/c?d#e%"), "a%20b%2Fc%3Fd%23e%25");
        assert_eq!(path_segment("é"), "%C3%A9");
    }
}
