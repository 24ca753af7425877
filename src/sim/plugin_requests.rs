//! What a Flex Plugins API request asks for, read by the simulator: the form-encoded bodies
//! that create plugins, versions, configurations and releases (with their required parameters
//! and the values Twilio accepts), the paging of lists (and the `meta` of a list answer), and
//! why a request is refused ([`PluginError`], with its HTTP status and Twilio code). Pure; the
//! resources themselves are in `plugins`.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::domain::plugin::NewVersion;
use crate::domain::sid::{PluginSid, PluginVersionSid};

/// `PageSize` when a list request gives none.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest `PageSize` Twilio accepts.
pub(crate) const MAX_PAGE_SIZE: usize = 1000;

/// `phase` of a configured plugin whose entry gives none (the schema's default).
pub(crate) const DEFAULT_PHASE: i64 = 0;

/// The media type of every Plugins API request body.
const FORM_MEDIA_TYPE: &str = "application/x-www-form-urlencoded";

/// Why a Plugins API request is refused; [`PluginError::status`] and [`PluginError::code`]
/// say how it is answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PluginError {
    /// A body sent as something else than a form (`400`, Twilio 20001).
    #[error(
        "Invalid request: Content-Type must be {FORM_MEDIA_TYPE} (the Plugins API takes form \
         parameters), found {0}"
    )]
    NotForm(String),
    /// A form or query string whose decoded bytes are not UTF-8 (`400`, 20001).
    #[error("Invalid request: parameters must be UTF-8 text once decoded")]
    NotUtf8,
    /// A required parameter absent or empty (`400`, 20001).
    #[error("Missing required parameter {0} in the post body")]
    Missing(&'static str),
    /// A parameter whose value is refused (`400`, 20001).
    #[error("Invalid parameter {parameter}: {why}")]
    Invalid {
        /// The parameter, as Twilio spells it.
        parameter: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// The account has a plugin with this unique name (`409`, 20409).
    #[error("A Flex Plugin with UniqueName '{unique_name}' already exists: {sid}")]
    DuplicatePlugin {
        /// The unique name asked for.
        unique_name: String,
        /// The plugin that has it.
        sid: PluginSid,
    },
    /// The plugin has a version with this version string (`409`, 20409).
    #[error("Flex Plugin '{plugin}' already has a version '{version}': {sid}")]
    DuplicateVersion {
        /// The plugin's unique name.
        plugin: String,
        /// The version string asked for.
        version: String,
        /// The version that has it.
        sid: PluginVersionSid,
    },
    /// A resource the request names does not exist for the account (`404`, 20404).
    #[error("The requested resource {what} {id} was not found")]
    NotFound {
        /// What kind of resource, e.g. "Flex Plugin".
        what: &'static str,
        /// The SID or name given.
        id: String,
    },
}

impl PluginError {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::DuplicatePlugin { .. } | Self::DuplicateVersion { .. } => StatusCode::CONFLICT,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The Twilio error code it is answered with.
    pub fn code(&self) -> u32 {
        match self.status() {
            StatusCode::CONFLICT => 20409,
            StatusCode::NOT_FOUND => 20404,
            _ => 20001,
        }
    }
}

/// The parameters of a form-encoded body or a query string, in order; a repeated name is kept
/// once per value (how Twilio's clients send a list such as `Plugins`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    /// The parameters of a request body, refused when its `Content-Type` names another media
    /// type (a body without one is read as a form, as an empty one is).
    pub fn from_body(content_type: Option<&str>, body: &[u8]) -> Result<Self, PluginError> {
        if let Some(value) = content_type {
            let media = value.split(';').next().unwrap_or_default().trim();
            if !media.eq_ignore_ascii_case(FORM_MEDIA_TYPE) {
                return Err(PluginError::NotForm(value.to_owned()));
            }
        }
        Self::parse(body)
    }

    /// Decodes `application/x-www-form-urlencoded` text: `&`-separated `name=value` pairs, `+`
    /// for a space, `%XX` for a byte; a malformed escape is kept as written, as browsers do.
    pub fn parse(text: &[u8]) -> Result<Self, PluginError> {
        let mut pairs = Vec::new();
        for part in text.split(|&b| b == b'&').filter(|part| !part.is_empty()) {
            let (name, value) = match part.iter().position(|&b| b == b'=') {
                Some(at) => (&part[..at], &part[at + 1..]),
                None => (part, &b""[..]),
            };
            pairs.push((decode(name)?, decode(value)?));
        }
        Ok(Self(pairs))
    }

    /// The first value of `name`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of a required parameter; absent or empty is missing, as Twilio has it.
    fn required(&self, name: &'static str) -> Result<&str, PluginError> {
        self.first(name)
            .filter(|value| !value.is_empty())
            .ok_or(PluginError::Missing(name))
    }

    /// An optional parameter; empty is absent.
    fn optional(&self, name: &str) -> Option<String> {
        self.first(name)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    }
}

/// One percent-decoded name or value.
fn decode(raw: &[u8]) -> Result<String, PluginError> {
    let hex = |b: Option<&u8>| b.and_then(|&b| char::from(b).to_digit(16));
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex(raw.get(i + 1)), hex(raw.get(i + 2))) {
                (Some(high), Some(low)) => {
                    out.push((high * 16 + low) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| PluginError::NotUtf8)
}

/// What `POST /Plugins` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewPlugin {
    /// `UniqueName`, required.
    pub unique_name: String,
    /// `FriendlyName`.
    pub friendly_name: Option<String>,
    /// `Description`.
    pub description: Option<String>,
}

impl NewPlugin {
    /// Reads the form; `UniqueName` is required.
    pub fn from_form(form: &Form) -> Result<Self, PluginError> {
        Ok(Self {
            unique_name: form.required("UniqueName")?.to_owned(),
            friendly_name: form.optional("FriendlyName"),
            description: form.optional("Description"),
        })
    }
}

/// What `POST /Plugins/{plugin}/Versions` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VersionRequest {
    /// `Version`, `PluginUrl` (both required), `Private` (default false), `Changelog`.
    pub new: NewVersion,
    /// `ValidateStatus` is `success`.
    pub validated: bool,
}

impl VersionRequest {
    /// Reads the form: `Version` and an absolute http(s) `PluginUrl` are required, `Private`
    /// is `true` or `false`.
    pub fn from_form(form: &Form) -> Result<Self, PluginError> {
        let version = form.required("Version")?.to_owned();
        let plugin_url = form.required("PluginUrl")?.to_owned();
        let is_url = ["https://", "http://"].iter().any(|scheme| {
            plugin_url
                .strip_prefix(scheme)
                .is_some_and(|rest| !rest.is_empty())
        });
        if !is_url {
            return Err(PluginError::Invalid {
                parameter: "PluginUrl",
                why: format!("expected an absolute http(s) URL, found {plugin_url:?}"),
            });
        }
        let private = match form.first("Private") {
            None | Some("") => false,
            Some(value) if value.eq_ignore_ascii_case("true") => true,
            Some(value) if value.eq_ignore_ascii_case("false") => false,
            Some(value) => {
                return Err(PluginError::Invalid {
                    parameter: "Private",
                    why: format!("expected true or false, found {value:?}"),
                })
            }
        };
        Ok(Self {
            new: NewVersion {
                version,
                plugin_url,
                private,
                changelog: form.optional("Changelog"),
            },
            validated: form.first("ValidateStatus") == Some("success"),
        })
    }
}

/// One plugin version a configuration holds, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConfigEntry {
    /// The version.
    pub plugin_version_sid: PluginVersionSid,
    /// When Flex loads it (`phase`).
    pub phase: i64,
}

impl ConfigEntry {
    /// One `Plugins` value: a JSON object with `plugin_version` (an `FV…` SID) and an optional
    /// integer `phase`; other properties are ignored.
    pub fn parse(text: &str) -> Result<Self, PluginError> {
        let invalid = |why: String| PluginError::Invalid {
            parameter: "Plugins",
            why,
        };
        let expected = "each value must be a JSON object such as {\"plugin_version\": \"FV…\"}";
        let value: Value = serde_json::from_str(text)
            .map_err(|err| invalid(format!("{expected}, found {text:?} ({err})")))?;
        let Some(object) = value.as_object() else {
            return Err(invalid(format!("{expected}, found {text:?}")));
        };
        let plugin_version_sid = match object.get("plugin_version") {
            Some(Value::String(sid)) => {
                PluginVersionSid::parse(sid).map_err(|err| invalid(err.to_string()))?
            }
            _ => return Err(invalid(format!("{expected}, found {text:?}"))),
        };
        let phase = match object.get("phase") {
            None | Some(Value::Null) => DEFAULT_PHASE,
            Some(phase) => phase
                .as_i64()
                .ok_or_else(|| invalid(format!("phase must be an integer, found {phase}")))?,
        };
        Ok(Self {
            plugin_version_sid,
            phase,
        })
    }
}

/// What `POST /Configurations` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewConfiguration {
    /// `Name`, required.
    pub name: String,
    /// `Description`.
    pub description: Option<String>,
    /// Every `Plugins` value, in order.
    pub plugins: Vec<ConfigEntry>,
}

impl NewConfiguration {
    /// Reads the form; `Name` is required, `Plugins` may be absent (a configuration without
    /// plugins).
    pub fn from_form(form: &Form) -> Result<Self, PluginError> {
        Ok(Self {
            name: form.required("Name")?.to_owned(),
            description: form.optional("Description"),
            plugins: form
                .all("Plugins")
                .map(ConfigEntry::parse)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// What `POST /Releases` asks for: `ConfigurationId`, the configuration's SID.
pub(crate) fn release_request(form: &Form) -> Result<String, PluginError> {
    form.required("ConfigurationId").map(str::to_owned)
}

/// Which page of a list a request asks for, from its query string: `PageSize` (1 to 1000,
/// default 50), `Page` (from 0, default 0) and `PageToken` (as `next_page_url` gives it:
/// `PT` and the position of the page's first item), which wins over `Page`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Paging {
    /// The page index, as the client counts.
    pub page: u64,
    /// Items per page.
    pub size: usize,
    /// The position of the page's first item.
    pub offset: usize,
}

impl Paging {
    /// Reads `PageSize`, `Page` and `PageToken`; a value out of range is refused.
    pub fn from_query(query: Option<&str>) -> Result<Self, PluginError> {
        let form = Form::parse(query.unwrap_or_default().as_bytes())?;
        let size = match form.first("PageSize") {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|size| (1..=MAX_PAGE_SIZE).contains(size))
                .ok_or_else(|| PluginError::Invalid {
                    parameter: "PageSize",
                    why: format!(
                        "expected a whole number from 1 to {MAX_PAGE_SIZE}, found {text:?}"
                    ),
                })?,
        };
        let page = match form.first("Page") {
            None => 0,
            Some(text) => text.parse::<u64>().map_err(|_| PluginError::Invalid {
                parameter: "Page",
                why: format!("expected a whole number from 0, found {text:?}"),
            })?,
        };
        let offset = match form.first("PageToken") {
            None => usize::try_from(page)
                .unwrap_or(usize::MAX)
                .saturating_mul(size),
            Some(token) => token
                .strip_prefix("PT")
                .and_then(|position| position.parse::<usize>().ok())
                .ok_or_else(|| PluginError::Invalid {
                    parameter: "PageToken",
                    why: format!("not a token this API gave, found {token:?}"),
                })?,
        };
        Ok(Self { page, size, offset })
    }

    /// The items of this page, and whether more follow.
    pub fn slice<'a, T>(&self, items: &'a [T]) -> (&'a [T], bool) {
        let start = self.offset.min(items.len());
        let end = start.saturating_add(self.size).min(items.len());
        (&items[start..end], end < items.len())
    }
}

/// One page of a list: the items' bodies, and whether more follow.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    /// The items of the page.
    pub items: Vec<Value>,
    /// Whether items follow this page.
    pub more: bool,
}

impl Page {
    /// The page `paging` asks for of `items`, each rendered by `body`.
    pub fn of<T>(items: &[T], paging: Paging, body: impl Fn(&T) -> Value) -> Self {
        let (page, more) = paging.slice(items);
        Self {
            items: page.iter().map(body).collect(),
            more,
        }
    }

    /// The list answer: the items under `key`, and `meta` whose URLs are `base` (the scheme
    /// and host the client reached, so that it can follow them) and `path`.
    pub fn answer(&self, key: &str, paging: Paging, base: &str, path: &str) -> Value {
        let size = paging.size;
        let first = format!("{base}{path}?PageSize={size}&Page=0");
        let link = |page: u64, offset: usize| {
            format!("{base}{path}?PageSize={size}&Page={page}&PageToken=PT{offset}")
        };
        let url = if paging.offset == 0 {
            first.clone()
        } else {
            link(paging.page, paging.offset)
        };
        let previous = (paging.offset > 0).then(|| {
            link(
                paging.page.saturating_sub(1),
                paging.offset.saturating_sub(size),
            )
        });
        let next = self
            .more
            .then(|| link(paging.page + 1, paging.offset.saturating_add(size)));
        let mut answer = Map::new();
        answer.insert(key.to_owned(), Value::from(self.items.clone()));
        answer.insert(
            "meta".to_owned(),
            json!({
                "page": paging.page,
                "page_size": size,
                "first_page_url": first,
                "previous_page_url": previous,
                "url": url,
                "next_page_url": next,
                "key": key,
            }),
        );
        Value::Object(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(text: &str) -> Form {
        Form::parse(text.as_bytes()).unwrap()
    }

    fn new_plugin(name: &str) -> NewPlugin {
        NewPlugin::from_form(&form(&format!("UniqueName={name}"))).unwrap()
    }

    fn new_version(version: &str) -> VersionRequest {
        VersionRequest::from_form(&form(&format!(
            "Version={version}&PluginUrl=https%3A%2F%2Fx.test%2F{version}.js&Private=true"
        )))
        .unwrap()
    }

    #[test]
    fn forms_decode_escapes_pluses_and_repeated_names() {
        let decoded = form("a=1&b=x+y&b=%7B%22k%22%3A1%7D&c&&d=%zz&e=%4");
        assert_eq!(decoded.first("a"), Some("1"));
        assert_eq!(decoded.all("b").collect::<Vec<_>>(), ["x y", "{\"k\":1}"]);
        assert_eq!(decoded.first("c"), Some(""));
        assert_eq!(decoded.first("d"), Some("%zz"));
        assert_eq!(decoded.first("e"), Some("%4"));
        assert_eq!(decoded.first("missing"), None);
        assert_eq!(form("%C3%A9t%C3%A9=ok").first("été"), Some("ok"));
        assert_eq!(Form::parse(b"a=%FF"), Err(PluginError::NotUtf8));
        assert_eq!(Form::parse(b"").unwrap(), Form::default());
    }

    #[test]
    fn bodies_must_be_forms_when_they_say_what_they_are() {
        let body = b"UniqueName=x";
        for ok in [
            None,
            Some("application/x-www-form-urlencoded"),
            Some("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
        ] {
            assert_eq!(
                Form::from_body(ok, body).unwrap().first("UniqueName"),
                Some("x")
            );
        }
        let err = Form::from_body(Some("application/json"), body).unwrap_err();
        assert_eq!((err.status(), err.code()), (StatusCode::BAD_REQUEST, 20001));
        assert!(err.to_string().contains("application/json"), "{err}");
    }

    #[test]
    fn required_parameters_are_named_when_missing_or_empty() {
        for (text, missing) in [
            ("FriendlyName=x", "UniqueName"),
            ("UniqueName=", "UniqueName"),
        ] {
            assert_eq!(
                NewPlugin::from_form(&form(text)),
                Err(PluginError::Missing(missing))
            );
        }
        for (text, missing) in [
            ("PluginUrl=https://x.test/a.js", "Version"),
            ("Version=1.0.0", "PluginUrl"),
        ] {
            assert_eq!(
                VersionRequest::from_form(&form(text)),
                Err(PluginError::Missing(missing))
            );
        }
        assert_eq!(
            NewConfiguration::from_form(&form("Plugins=%7B%7D")),
            Err(PluginError::Missing("Name"))
        );
        assert_eq!(
            release_request(&form("")),
            Err(PluginError::Missing("ConfigurationId"))
        );
        let message = PluginError::Missing("UniqueName").to_string();
        assert_eq!(
            message,
            "Missing required parameter UniqueName in the post body"
        );
        let plugin = new_plugin("x");
        assert_eq!((plugin.friendly_name, plugin.description), (None, None));
    }

    #[test]
    fn version_forms_take_a_url_a_boolean_and_optional_notes() {
        let request = VersionRequest::from_form(&form(
            "Version=1.2.3&PluginUrl=https://x.test/b.js&Changelog=notes&ValidateStatus=success",
        ))
        .unwrap();
        assert_eq!(
            request.new,
            NewVersion {
                version: "1.2.3".to_owned(),
                plugin_url: "https://x.test/b.js".to_owned(),
                private: false,
                changelog: Some("notes".to_owned()),
            }
        );
        assert!(request.validated);
        assert!(new_version("1.0.0").new.private);
        for bad in [
            "Version=1&PluginUrl=ftp://x.test/b.js",
            "Version=1&PluginUrl=https://",
            "Version=1&PluginUrl=https://x.test/b.js&Private=yes",
        ] {
            let err = VersionRequest::from_form(&form(bad)).unwrap_err();
            assert!(matches!(err, PluginError::Invalid { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn configuration_entries_are_json_objects_naming_a_version() {
        let sid = "FV0123456789abcdef0123456789abcdef";
        assert_eq!(
            ConfigEntry::parse(&format!(r#"{{"plugin_version": "{sid}", "phase": 3}}"#)),
            Ok(ConfigEntry {
                plugin_version_sid: PluginVersionSid::parse(sid).unwrap(),
                phase: 3
            })
        );
        assert_eq!(
            ConfigEntry::parse(&format!(r#"{{"plugin_version": "{sid}"}}"#))
                .unwrap()
                .phase,
            DEFAULT_PHASE
        );
        for bad in [
            "FV0123456789abcdef0123456789abcdef".to_owned(),
            "[]".to_owned(),
            "{}".to_owned(),
            r#"{"plugin_version": "FP0123456789abcdef0123456789abcdef"}"#.to_owned(),
            format!(r#"{{"plugin_version": "{sid}", "phase": "early"}}"#),
        ] {
            let err = ConfigEntry::parse(&bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    PluginError::Invalid {
                        parameter: "Plugins",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
        let none = NewConfiguration::from_form(&form("Name=empty")).unwrap();
        assert!(none.plugins.is_empty());
    }

    #[test]
    fn paging_reads_size_page_and_token() {
        let paging = |query: &str| Paging::from_query(Some(query));
        assert_eq!(
            Paging::from_query(None),
            Ok(Paging {
                page: 0,
                size: 50,
                offset: 0
            })
        );
        assert_eq!(
            paging("PageSize=2&Page=3"),
            Ok(Paging {
                page: 3,
                size: 2,
                offset: 6
            })
        );
        assert_eq!(
            paging("PageSize=2&Page=1&PageToken=PT5"),
            Ok(Paging {
                page: 1,
                size: 2,
                offset: 5
            })
        );
        for bad in [
            "PageSize=0",
            "PageSize=1001",
            "PageSize=x",
            "Page=-1",
            "PageToken=PA1",
        ] {
            let err = paging(bad).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{bad}");
        }
        let items = [1, 2, 3, 4, 5];
        let slice = |query: &str| paging(query).unwrap().slice(&items);
        assert_eq!(slice("PageSize=2"), (&items[..2], true));
        assert_eq!(slice("PageSize=2&Page=2"), (&items[4..], false));
        assert_eq!(slice("PageSize=5"), (&items[..], false));
        assert_eq!(slice("PageSize=2&Page=9"), (&items[..0], false));
    }

    #[test]
    fn list_answers_link_their_pages() {
        let page = Page {
            items: vec![json!(1), json!(2)],
            more: true,
        };
        let first = Paging::from_query(Some("PageSize=2")).unwrap();
        let answer = page.answer("plugins", first, "http://h:1", "/v1/PluginService/Plugins");
        assert_eq!(answer["plugins"], json!([1, 2]));
        let meta = &answer["meta"];
        assert_eq!(meta["key"], "plugins");
        assert_eq!(
            (meta["page"].as_u64(), meta["page_size"].as_u64()),
            (Some(0), Some(2))
        );
        let base = "http://h:1/v1/PluginService/Plugins?PageSize=2";
        assert_eq!(meta["first_page_url"], format!("{base}&Page=0"));
        assert_eq!(meta["url"], meta["first_page_url"]);
        assert_eq!(meta["previous_page_url"], Value::Null);
        assert_eq!(
            meta["next_page_url"],
            format!("{base}&Page=1&PageToken=PT2")
        );

        let next = Paging::from_query(Some("PageSize=2&Page=1&PageToken=PT2")).unwrap();
        let last = Page {
            items: vec![json!(3)],
            more: false,
        };
        let meta = &last.answer("plugins", next, "http://h:1", "/v1/PluginService/Plugins")["meta"];
        assert_eq!(meta["next_page_url"], Value::Null);
        assert_eq!(
            meta["previous_page_url"],
            format!("{base}&Page=0&PageToken=PT0")
        );
        assert_eq!(meta["url"], format!("{base}&Page=1&PageToken=PT2"));
    }
}
