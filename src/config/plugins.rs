//! `plugins:` of an instance ([`PluginSpec`]): which Flex plugin versions its active release
//! must hold, the pure checks of a unique name, a version and a bundle URL, and the walk of the
//! marked YAML that reports every problem of a `plugins:` section at its position.

use std::collections::BTreeMap;

use marked_yaml::types::MarkedScalarNode;
use marked_yaml::Node;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::error::{Diagnostic, Location};
use super::validate::{is_null, yaml_value};
use crate::domain::NewVersion;
use crate::support::text::{quote_list, suggest};

/// Pattern of a plugin's unique name (`plugins:` keys).
pub const PLUGIN_NAME_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";

/// The longest unique name accepted, in characters.
pub const PLUGIN_NAME_MAX: usize = 64;

/// A semantic version (semver.org's recommended expression): what `version` must match.
pub const SEMVER_PATTERN: &str = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$";

/// The keys a plugin entry may hold.
const PLUGIN_FIELDS: &[&str] = &["version", "url", "private", "changelog"];

/// The declared plugins of an instance, by unique name.
pub type DeclaredPlugins = BTreeMap<String, PluginSpec>;

/// One plugin an instance's active release must hold, at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    /// The version the active release holds: a semantic version (`MAJOR.MINOR.PATCH`, e.g.
    /// `"1.2.0"`; a pre-release such as `"1.3.0-beta.1"` is allowed). Created if the plugin
    /// has no such version yet; versions are immutable, so a new bundle needs a new version.
    #[schemars(regex(pattern = SEMVER_PATTERN))]
    pub version: String,
    /// Where the bundle of this version is served from: an absolute `https://` URL.
    #[schemars(url, regex(pattern = "^https://"))]
    pub url: String,
    /// Whether the bundle needs the account's credentials to be fetched. Omitted: `true`, as
    /// Twilio's CLI deploys.
    #[serde(default = "private_by_default")]
    pub private: bool,
    /// Release notes of this version, sent when it is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub changelog: Option<String>,
}

fn private_by_default() -> bool {
    true
}

impl PluginSpec {
    /// What the version is created with when the plugin has no such version yet.
    pub fn new_version(&self) -> NewVersion {
        NewVersion {
            version: self.version.clone(),
            plugin_url: self.url.clone(),
            private: self.private,
            changelog: self.changelog.clone(),
        }
    }
}

/// The JSON Schema of `plugins:`: a non-empty map of unique names to plugins.
pub(super) fn plugins_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let plugin = generator.subschema_for::<PluginSpec>();
    schemars::json_schema!({
        "type": "object",
        "minProperties": 1,
        "propertyNames": {"pattern": PLUGIN_NAME_PATTERN},
        "additionalProperties": plugin,
    })
}

/// Why a unique name is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameProblem {
    /// The name is empty.
    Empty,
    /// The name has more than [`PLUGIN_NAME_MAX`] characters (how many it has).
    TooLong(usize),
    /// The name holds a character other than a letter, a digit, `-`, `_` or `.`.
    Character(char),
}

/// Checks a plugin's unique name: 1 to 64 ASCII letters, digits, `-`, `_` and `.`.
pub fn check_name(name: &str) -> Result<(), NameProblem> {
    let length = name.chars().count();
    if length == 0 {
        return Err(NameProblem::Empty);
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(NameProblem::Character(c));
    }
    if length > PLUGIN_NAME_MAX {
        return Err(NameProblem::TooLong(length));
    }
    Ok(())
}

/// Checks a version string: a semantic version. The error is the parser's reason.
pub fn check_version(version: &str) -> Result<semver::Version, String> {
    semver::Version::parse(version).map_err(|e| e.to_string())
}

/// The full semantic version a user most likely meant by an incomplete one (`1.2` →
/// `1.2.0`, `v1.2.0` → `1.2.0`), if there is one.
pub fn full_version(text: &str) -> Option<String> {
    let bare = text.trim().trim_start_matches(['v', 'V']);
    [bare.to_owned(), format!("{bare}.0"), format!("{bare}.0.0")]
        .into_iter()
        .find(|candidate| candidate != text && check_version(candidate).is_ok())
}

/// Why a bundle URL is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlProblem {
    /// Not an absolute URL (the parser's reason).
    NotAbsolute(String),
    /// A scheme other than `https` (which one).
    NotHttps(String),
    /// No host to fetch the bundle from.
    NoHost,
    /// A user name or password in the address.
    Credentials,
}

/// Checks a bundle URL: absolute, `https`, with a host and without credentials.
pub fn check_url(text: &str) -> Result<url::Url, UrlProblem> {
    let url = url::Url::parse(text).map_err(|e| UrlProblem::NotAbsolute(e.to_string()))?;
    if url.scheme() != "https" {
        return Err(UrlProblem::NotHttps(url.scheme().to_owned()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlProblem::NoHost);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlProblem::Credentials);
    }
    Ok(url)
}

/// Reads `plugins:` of an instance (`key` is the `plugins` key, `node` its value), pushing a
/// diagnostic for every problem; the declared plugins only when there is none.
pub(super) fn declared(
    key: &MarkedScalarNode,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<DeclaredPlugins> {
    let empty = match node {
        Node::Mapping(map) => map.is_empty(),
        _ => is_null(node),
    };
    if empty {
        out.push(no_plugin(key, node));
        return None;
    }
    let Some(map) = node.as_mapping() else {
        out.push(
            Diagnostic::new(
                Location::of(node.span()),
                format!(
                    "invalid type: expected a mapping of plugin unique names to plugins in `plugins`, found {}",
                    found(node)
                ),
            )
            .with_label("expected a mapping"),
        );
        return None;
    };
    let before = out.len();
    let mut plugins = DeclaredPlugins::new();
    for (name, body) in map.iter() {
        if let Err(problem) = check_name(name.as_str()) {
            out.push(invalid_name(name, &problem));
        }
        if let Some(spec) = plugin(name, body, out) {
            plugins.insert(name.as_str().to_owned(), spec);
        }
    }
    (out.len() == before).then_some(plugins)
}

/// `plugins: {}` (or `plugins:` alone): refused, since it would release nothing.
fn no_plugin(key: &MarkedScalarNode, node: &Node) -> Diagnostic {
    Diagnostic::new(
        at_value(key, node),
        "`plugins` declares no plugin: the active release would hold none, and every plugin \
         would be removed from the instance's agents",
    )
    .with_label("no plugin declared")
    .with_help(
        "to leave the instance's plugins alone, remove the `plugins:` key (flexform then sends \
         no Plugins API request); to manage them, declare each plugin by its unique name with \
         `version` and `url`",
    )
}

/// A unique name the Plugins API would not take.
fn invalid_name(name: &MarkedScalarNode, problem: &NameProblem) -> Diagnostic {
    let reason = match problem {
        NameProblem::Empty => "it is empty".to_owned(),
        NameProblem::TooLong(n) => format!("it has {n} characters"),
        NameProblem::Character(c) => format!("{c:?} is not allowed"),
    };
    Diagnostic::new(
        Location::of(name.span()),
        format!(
            "invalid plugin name {:?}: {reason}; a unique name is 1 to {PLUGIN_NAME_MAX} \
             letters, digits, `-`, `_` and `.`",
            name.as_str()
        ),
    )
    .with_label("invalid unique name")
    .with_help("use the plugin's unique name as Twilio knows it (by convention, its folder name)")
}

/// What the fields of a plugin entry yielded; absent or invalid fields stay `None`.
#[derive(Default)]
struct Fields {
    version: Option<String>,
    url: Option<String>,
    private: Option<bool>,
    changelog: Option<String>,
}

/// One plugin entry, or `None` when it has a problem (pushed to `out`).
fn plugin(name: &MarkedScalarNode, body: &Node, out: &mut Vec<Diagnostic>) -> Option<PluginSpec> {
    let plugin = name.as_str();
    let Some(map) = body.as_mapping() else {
        out.push(
            Diagnostic::new(
                at_value(name, body),
                format!(
                    "invalid type for plugin `{plugin}`: expected a mapping with `version` and `url`, found {}",
                    found(body)
                ),
            )
            .with_label("expected a mapping")
            .with_help(format!(
                "e.g. `{plugin}: {{version: \"1.0.0\", url: https://assets.example.com/{plugin}/1.0.0/bundle.js}}`"
            )),
        );
        return None;
    };
    let before = out.len();
    let mut fields = Fields::default();
    for (key, value) in map.iter() {
        let result = match key.as_str() {
            "version" => version(plugin, key, value).map(|v| fields.version = Some(v)),
            "url" => bundle_url(plugin, key, value).map(|u| fields.url = Some(u)),
            "private" => private(plugin, key, value).map(|p| fields.private = Some(p)),
            "changelog" => changelog(plugin, key, value).map(|c| fields.changelog = Some(c)),
            other => Err(unknown_field(key, other)),
        };
        if let Err(diagnostic) = result {
            out.push(diagnostic);
        }
    }
    for (field, example) in [
        ("version", "`version: \"1.0.0\"`".to_owned()),
        (
            "url",
            format!("`url: https://assets.example.com/{plugin}/1.0.0/bundle.js`"),
        ),
    ] {
        if map.get_node(field).is_none() {
            out.push(
                Diagnostic::new(
                    Location::of(name.span()),
                    format!("missing field `{field}` in plugin `{plugin}`"),
                )
                .with_label("in this entry")
                .with_help(format!("add it, e.g. {example}")),
            );
        }
    }
    if out.len() > before {
        return None;
    }
    Some(PluginSpec {
        version: fields.version?,
        url: fields.url?,
        private: fields.private.unwrap_or_else(private_by_default),
        changelog: fields.changelog,
    })
}

/// A key a plugin entry does not have, with the nearest one.
fn unknown_field(key: &MarkedScalarNode, other: &str) -> Diagnostic {
    let diagnostic = Diagnostic::new(
        Location::of(key.span()),
        format!(
            "unknown field `{other}`, expected one of {}",
            quote_list(PLUGIN_FIELDS)
        ),
    )
    .with_label("unknown field");
    match suggest(other, PLUGIN_FIELDS) {
        Some(s) => diagnostic.with_help(format!("did you mean `{s}`?")),
        None => diagnostic,
    }
}

/// `version`: a semantic version, written as a string (an unquoted `1.2` is a YAML number).
fn version(plugin: &str, key: &MarkedScalarNode, value: &Node) -> Result<String, Diagnostic> {
    let text = match yaml_value(value) {
        serde_json::Value::String(text) => text,
        serde_json::Value::Number(_) => {
            let written = value.as_scalar().map_or("", |s| s.as_str());
            let full = full_version(written).unwrap_or_else(|| "1.0.0".to_owned());
            return Err(Diagnostic::new(
                at_value(key, value),
                format!(
                    "invalid type for `version` of plugin `{plugin}`: expected a version string, found the number {written}"
                ),
            )
            .with_label("a YAML number, not a version")
            .with_help(format!("quote a full version: `version: \"{full}\"`")));
        }
        _ => {
            return Err(wrong_type(
                plugin,
                "version",
                "a version string such as \"1.0.0\"",
                key,
                value,
            )
            .with_help("write a semantic version in quotes, e.g. `version: \"1.0.0\"`"))
        }
    };
    match check_version(&text) {
        Ok(_) => Ok(text),
        Err(reason) => {
            let help = match full_version(&text) {
                Some(full) => format!("did you mean `version: \"{full}\"`?"),
                None => "write MAJOR.MINOR.PATCH, e.g. `version: \"1.0.0\"` (a pre-release such as `\"1.1.0-beta.1\"` is allowed)".to_owned(),
            };
            Err(Diagnostic::new(
                at_value(key, value),
                format!("invalid `version` of plugin `{plugin}`: {text:?} is not a semantic version ({reason})"),
            )
            .with_label("not MAJOR.MINOR.PATCH")
            .with_help(help))
        }
    }
}

/// `url`: where the bundle is served, an absolute https URL with a host.
fn bundle_url(plugin: &str, key: &MarkedScalarNode, value: &Node) -> Result<String, Diagnostic> {
    let serde_json::Value::String(text) = yaml_value(value) else {
        return Err(wrong_type(plugin, "url", "an https URL", key, value).with_help(format!(
            "write the bundle's address, e.g. `url: https://assets.example.com/{plugin}/1.0.0/bundle.js`"
        )));
    };
    let Err(problem) = check_url(&text) else {
        return Ok(text);
    };
    let (reason, label, help) = match problem {
        UrlProblem::NotAbsolute(why) => (
            format!("{text:?} is not an absolute URL ({why})"),
            "not an absolute URL",
            format!("write the bundle's full address, e.g. `https://assets.example.com/{plugin}/1.0.0/bundle.js`"),
        ),
        UrlProblem::NotHttps(scheme) => (
            format!("{text:?} is not an https URL (its scheme is `{scheme}`)"),
            "not https",
            "serve the bundle over https and write its `https://` address".to_owned(),
        ),
        UrlProblem::NoHost => (
            format!("{text:?} names no host"),
            "no host",
            format!("write the bundle's full address, e.g. `https://assets.example.com/{plugin}/1.0.0/bundle.js`"),
        ),
        UrlProblem::Credentials => (
            "the URL holds a user name or password".to_owned(),
            "credentials in the address",
            "remove them from the address: plans, state and history show this URL".to_owned(),
        ),
    };
    Err(Diagnostic::new(
        at_value(key, value),
        format!("invalid `url` of plugin `{plugin}`: {reason}"),
    )
    .with_label(label)
    .with_help(help))
}

/// `private`: a boolean (quoted `"true"` is a string).
fn private(plugin: &str, key: &MarkedScalarNode, value: &Node) -> Result<bool, Diagnostic> {
    match yaml_value(value) {
        serde_json::Value::Bool(b) => Ok(b),
        _ => Err(wrong_type(plugin, "private", "a boolean", key, value)
            .with_label("expected `true` or `false`")
            .with_help("`private: true` (the default, as Twilio's CLI deploys): Flex fetches the bundle with credentials; `private: false`: without")),
    }
}

/// `changelog`: text.
fn changelog(plugin: &str, key: &MarkedScalarNode, value: &Node) -> Result<String, Diagnostic> {
    match yaml_value(value) {
        serde_json::Value::String(text) => Ok(text),
        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
            let written = value.as_scalar().map_or("", |s| s.as_str());
            Err(wrong_type(plugin, "changelog", "a string", key, value)
                .with_help(format!("quote it: `changelog: \"{written}\"`")))
        }
        _ => Err(wrong_type(plugin, "changelog", "a string", key, value)
            .with_help("write the release notes as text, or remove the line")),
    }
}

/// A field's value of the wrong type.
fn wrong_type(
    plugin: &str,
    field: &str,
    expected: &str,
    key: &MarkedScalarNode,
    value: &Node,
) -> Diagnostic {
    Diagnostic::new(
        at_value(key, value),
        format!(
            "invalid type for `{field}` of plugin `{plugin}`: expected {expected}, found {}",
            found(value)
        ),
    )
    .with_label(format!("expected {expected}"))
}

/// Where a value is, or its key when the value is written as nothing at all (`version:`).
fn at_value(key: &MarkedScalarNode, value: &Node) -> Location {
    match value.as_scalar() {
        Some(s) if s.as_str().is_empty() && s.may_coerce() => Location::of(key.span()),
        _ => Location::of(value.span()),
    }
}

/// What a value is, for "found …" messages: `the quoted string "true"`, `"maybe"`, `the
/// number 1.2`, `the boolean true`, `null`, `a mapping`, `a sequence`.
fn found(node: &Node) -> String {
    match (node, yaml_value(node)) {
        (Node::Mapping(_), _) => "a mapping".to_owned(),
        (Node::Sequence(_), _) => "a sequence".to_owned(),
        (_, serde_json::Value::Null) => "null".to_owned(),
        (Node::Scalar(s), serde_json::Value::Number(_)) => format!("the number {}", s.as_str()),
        (_, serde_json::Value::Bool(b)) => format!("the boolean {b}"),
        (Node::Scalar(s), _) if !s.may_coerce() => format!("the quoted string {:?}", s.as_str()),
        (Node::Scalar(s), _) => format!("{:?}", s.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_are_letters_digits_dashes_underscores_and_dots() {
        for good in ["plugin-sample", "a", "My_Plugin.v2", &"x".repeat(64)] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        assert_eq!(check_name(""), Err(NameProblem::Empty));
        assert_eq!(check_name(&"x".repeat(65)), Err(NameProblem::TooLong(65)));
        assert_eq!(check_name("my plugin"), Err(NameProblem::Character(' ')));
        assert_eq!(check_name("a/b"), Err(NameProblem::Character('/')));
        assert_eq!(check_name("é"), Err(NameProblem::Character('é')));
    }

    #[test]
    fn versions_are_semantic_versions() {
        for good in ["1.0.0", "0.1.2", "1.3.0-beta.1", "2.0.0+build.5"] {
            assert!(check_version(good).is_ok(), "{good}");
        }
        for bad in ["1.2", "1", "v1.2.0", "", "01.2.3", "latest"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_incomplete_version_suggests_the_full_one() {
        assert_eq!(full_version("1.2").as_deref(), Some("1.2.0"));
        assert_eq!(full_version("1").as_deref(), Some("1.0.0"));
        assert_eq!(full_version("v1.2.0").as_deref(), Some("1.2.0"));
        assert_eq!(full_version("1.2.0"), None);
        assert_eq!(full_version("latest"), None);
    }

    #[test]
    fn bundle_urls_are_absolute_https_with_a_host() {
        assert!(check_url("https://assets.example.com/p/1.0.0/bundle.js").is_ok());
        assert!(matches!(
            check_url("assets/bundle.js"),
            Err(UrlProblem::NotAbsolute(_))
        ));
        assert!(matches!(
            check_url("https://"),
            Err(UrlProblem::NotAbsolute(_))
        ));
        assert_eq!(
            check_url("http://assets.example.com/b.js"),
            Err(UrlProblem::NotHttps("http".to_owned()))
        );
        assert_eq!(
            check_url("ftp://assets.example.com/b.js"),
            Err(UrlProblem::NotHttps("ftp".to_owned()))
        );
        assert_eq!(
            check_url("https://user:pw@assets.example.com/b.js"),
            Err(UrlProblem::Credentials)
        );
    }

    #[test]
    fn a_new_version_carries_what_is_declared() {
        let spec = PluginSpec {
            version: "1.2.0".to_owned(),
            url: "https://assets.example.com/p/1.2.0/bundle.js".to_owned(),
            private: false,
            changelog: Some("fixes".to_owned()),
        };
        let new = spec.new_version();
        assert_eq!(new.version, "1.2.0");
        assert_eq!(new.plugin_url, spec.url);
        assert!(!new.private);
        assert_eq!(new.changelog.as_deref(), Some("fixes"));
    }

    fn read(yaml: &str) -> (Option<DeclaredPlugins>, Vec<Diagnostic>) {
        let root = marked_yaml::parse_yaml_with_options(
            0,
            yaml,
            marked_yaml::LoaderOptions::default().prevent_coercion(true),
        )
        .unwrap();
        let (key, node) = root.as_mapping().unwrap().iter().next().unwrap();
        let mut out = Vec::new();
        let plugins = declared(key, node, &mut out);
        (plugins, out)
    }

    #[test]
    fn private_defaults_to_true_and_the_changelog_is_optional() {
        let (plugins, errors) = read(
            "plugins:\n  a:\n    version: 1.0.0\n    url: https://x.example/a.js\n  b:\n    version: \"2.0.0\"\n    url: https://x.example/b.js\n    private: false\n    changelog: notes\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let plugins = plugins.unwrap();
        assert!(plugins["a"].private);
        assert_eq!(plugins["a"].changelog, None);
        assert!(!plugins["b"].private);
        assert_eq!(plugins["b"].changelog.as_deref(), Some("notes"));
    }

    #[test]
    fn an_instance_without_plugins_serializes_as_before() {
        let sid = "AC0123456789abcdef0123456789abcdef";
        let without = crate::config::Config::parse(&format!(
            "version: 1\ninstances:\n  a:\n    account_sid: {sid}\n"
        ))
        .unwrap();
        assert_eq!(without.instances["a"].declared_plugins(), None);
        // No `plugins` key in the canonical form: saved plans of such files stay current.
        assert!(!serde_json::to_string(&without).unwrap().contains("plugins"));
        let with = crate::config::Config::parse(&format!(
            "version: 1\ninstances:\n  a:\n    account_sid: {sid}\n    plugins:\n      p:\n        version: 1.0.0\n        url: https://x.example/p.js\n"
        ))
        .unwrap();
        let declared = with.instances["a"].declared_plugins().unwrap();
        assert_eq!(declared["p"].version, "1.0.0");
        assert!(declared["p"].private);
    }

    #[test]
    fn every_problem_of_every_plugin_is_reported() {
        let (plugins, errors) = read(
            "plugins:\n  a:\n    version: 1.2\n    url: http://x.example/a.js\n    private: \"yes\"\n  b:\n    verison: 1.0.0\n",
        );
        assert_eq!(plugins, None);
        let at: Vec<_> = errors
            .iter()
            .map(|d| (d.location.line, d.location.column))
            .collect();
        assert_eq!(
            at,
            [(3, 14), (4, 10), (5, 14), (7, 5), (6, 3), (6, 3)],
            "{errors:?}"
        );
    }
}
