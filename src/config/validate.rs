//! Validation of the desired-state file: walks the marked YAML tree section by section,
//! collecting every problem with its position, so that one run reports all it can.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use marked_yaml::types::MarkedScalarNode;
use marked_yaml::{LoaderOptions, Node};

use super::error::{Diagnostic, Location};
use super::{
    flex, is_valid_env_name, is_valid_name, plugins, s3_bucket_problem, s3_key_problem,
    BackendKind, Config, CredentialsProfile, FlexConfiguration, InstanceSpec, StateConfig,
    CONFIG_VERSION, NAME_PATTERN,
};
use crate::support::text::{quote_list, suggest};

const TOP_LEVEL_KEYS: &[&str] = &["version", "credentials", "instances", "state"];

/// Instances by name, with the node each came from.
type Instances<'n> = BTreeMap<String, (InstanceSpec, &'n Node)>;

/// What the top-level sections yielded.
#[derive(Default)]
struct Sections<'n> {
    version: Option<u32>,
    credentials: BTreeMap<String, CredentialsProfile>,
    instances: Instances<'n>,
    state: Option<StateConfig>,
}

/// Reads the text as one YAML document: the text without a byte-order mark, and its tree.
fn parse(text: &str) -> Result<(&str, Node), Vec<Diagnostic>> {
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(vec![Diagnostic::new(
            Location::start(),
            "the file is empty: expected a mapping with `version` and `instances`",
        )]);
    }
    // Editors on some systems save a byte-order mark: it is not part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(line) = second_document(text) {
        return Err(vec![Diagnostic::new(
            Location { line, column: 1 },
            "a second YAML document: flexform reads one document per file",
        )
        .with_label("document separator")
        .with_help("merge the documents, or remove the `---` line")]);
    }
    // Quoted values stay strings: `default: "true"` is a string, not a boolean.
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(true)
        .prevent_coercion(true);
    marked_yaml::parse_yaml_with_options(0, text, options)
        .map(|root| (text, root))
        .map_err(|err| vec![Diagnostic::from_load_error(&err, text)])
}

/// The parts of an instance entry that read cleanly (a valid `account_sid`, a `credentials`
/// name) when the entry as a whole does not: enough for the checks across instances.
fn readable_parts(body: &Node) -> Option<InstanceSpec> {
    let map = body.as_mapping()?;
    let account = map.get_scalar("account_sid")?.as_str();
    let account_sid = super::sid::AccountSid::parse(account).ok()?;
    let credentials = map.get_scalar("credentials").map(|c| c.as_str().to_owned());
    Some(InstanceSpec {
        account_sid,
        credentials,
        conversations: None,
        configuration: None,
        plugins: None,
    })
}

/// The key and value of `field` in a mapping node.
fn entry<'n>(node: &'n Node, field: &str) -> Option<(&'n MarkedScalarNode, &'n Node)> {
    node.as_mapping()?
        .iter()
        .find(|(key, _)| key.as_str() == field)
}

/// A mapping node without `field`: what serde reads when the validator reads that field from
/// the YAML itself (its errors positioned, and not reported twice).
fn without<'n>(node: &'n Node, field: &str) -> Cow<'n, Node> {
    match node {
        Node::Mapping(map) if map.get_node(field).is_some() => {
            let mut map = map.clone();
            map.remove(field);
            Cow::Owned(Node::Mapping(map))
        }
        _ => Cow::Borrowed(node),
    }
}

/// Where `field` of a mapping node starts, or the node itself when the field is absent.
fn field_at(node: &Node, field: &str) -> Location {
    node.as_mapping()
        .and_then(|m| m.get_node(field))
        .map_or(Location::of(node.span()), |n| Location::of(n.span()))
}

/// Collects diagnostics while walking the marked YAML tree.
#[derive(Default)]
pub(super) struct Validator {
    diagnostics: Vec<Diagnostic>,
}

impl Validator {
    pub(super) fn run(mut self, text: &str) -> Result<Config, Vec<Diagnostic>> {
        let (text, root) = parse(text)?;
        let Some(map) = root.as_mapping() else {
            return Err(vec![Diagnostic::new(
                Location::of(root.span()),
                "expected a mapping with `version` and `instances` at the top level",
            )]);
        };
        let mut sections = Sections::default();
        for (key, value) in map.iter() {
            match key.as_str() {
                "state" => sections.state = self.state_section(key, value, text),
                "version" => sections.version = Some(self.version_section(key, value, text)),
                "credentials" => sections.credentials = self.credentials_section(value, text),
                "instances" => sections.instances = self.instances_section(value, text),
                other => self.unknown_section(key, other),
            }
        }
        if sections.version.is_none() {
            self.push(
                Diagnostic::new(Location::of(root.span()), "missing field `version`")
                    .with_help("add `version: 1` at the top of the file"),
            );
        }
        self.check_accounts(&sections.instances);
        self.check_profiles(&sections.instances, &sections.credentials);

        if self.diagnostics.is_empty() {
            Ok(Config {
                version: sections.version.unwrap_or(CONFIG_VERSION),
                credentials: sections.credentials,
                instances: sections
                    .instances
                    .into_iter()
                    .map(|(name, (spec, _))| (name, spec))
                    .collect(),
                state: sections.state,
            })
        } else {
            self.diagnostics
                .sort_by_key(|d| (d.location.line, d.location.column));
            Err(self.diagnostics)
        }
    }

    /// `state:`: the backend and what it needs.
    fn state_section(
        &mut self,
        key: &MarkedScalarNode,
        value: &Node,
        text: &str,
    ) -> Option<StateConfig> {
        let config = self.deserialize::<StateConfig>(key, value, text)?;
        self.check_state(&config, key, value);
        Some(config)
    }

    /// `version:`: only 1 exists. A version that cannot be read counts as present (its type
    /// error is reported), so that it is not also reported missing.
    fn version_section(&mut self, key: &MarkedScalarNode, value: &Node, text: &str) -> u32 {
        let Some(v) = self.deserialize::<u32>(key, value, text) else {
            return CONFIG_VERSION;
        };
        if v != CONFIG_VERSION {
            self.push(
                Diagnostic::new(
                    Location::of(value.span()),
                    format!(
                        "unsupported version {v}: this flexform reads version {CONFIG_VERSION}"
                    ),
                )
                .with_label("unsupported version")
                .with_help(
                    "set `version: 1`, or upgrade flexform if the file was written for a newer one",
                ),
            );
        }
        v
    }

    /// `credentials:`: profiles naming environment variables.
    fn credentials_section(
        &mut self,
        value: &Node,
        text: &str,
    ) -> BTreeMap<String, CredentialsProfile> {
        let mut credentials = BTreeMap::new();
        for (name, body) in self.entries(value, "credentials") {
            self.check_name(name, "credentials profile");
            let Some(profile) = self.deserialize::<CredentialsProfile>(name, body, text) else {
                // Declared, though broken (its error is reported): instances that name it are
                // not also told it is undeclared. The configuration is refused either way.
                credentials.insert(
                    name.as_str().to_owned(),
                    CredentialsProfile {
                        key_env: String::new(),
                        secret_env: String::new(),
                    },
                );
                continue;
            };
            for (field, env) in [
                ("key_env", &profile.key_env),
                ("secret_env", &profile.secret_env),
            ] {
                if !is_valid_env_name(env) {
                    self.push(
                        Diagnostic::new(field_at(body, field), format!("invalid environment variable name {env:?} in `{field}`"))
                            .with_label("not an environment variable name")
                            .with_help("name the variable that holds the value (letters, digits, `_`), never the secret itself"),
                    );
                }
            }
            credentials.insert(name.as_str().to_owned(), profile);
        }
        credentials
    }

    /// `instances:`: each with the node it came from, for the checks across instances.
    fn instances_section<'n>(&mut self, value: &'n Node, text: &str) -> Instances<'n> {
        let mut instances = BTreeMap::new();
        for (name, body) in self.entries(value, "instances") {
            self.check_name(name, "instance");
            // Read from the YAML itself, positioned, whether or not the rest of the entry reads.
            let plugins = entry(body, "plugins")
                .and_then(|(key, node)| plugins::declared(key, node, &mut self.diagnostics));
            let spec = self
                .deserialize::<InstanceSpec>(name, &without(body, "plugins"), text)
                .map(|mut spec| {
                    // Typed from the YAML itself (serde sees every scalar as a string).
                    spec.configuration = body
                        .as_mapping()
                        .and_then(|m| m.get_node("configuration"))
                        .and_then(|node| self.configuration(node));
                    spec.plugins = plugins;
                    spec
                })
                // An entry with a type error elsewhere still takes part in the checks across
                // instances (duplicate accounts, undeclared profiles), so that one run reports
                // every error; the configuration is refused either way.
                .or_else(|| readable_parts(body));
            if let Some(spec) = spec {
                instances.insert(name.as_str().to_owned(), (spec, body));
            }
        }
        instances
    }

    /// `configuration:` of an instance: every property known to Twilio's schema and writable,
    /// each value of its property's type. Quoted scalars stay strings.
    fn configuration(&mut self, node: &Node) -> Option<FlexConfiguration> {
        let Some(map) = node.as_mapping() else {
            if is_null(node) {
                return None;
            }
            self.push(
                Diagnostic::new(
                    Location::of(node.span()),
                    format!(
                        "invalid type: expected a mapping of Flex configuration properties in `configuration`, found {}",
                        describe(node)
                    ),
                )
                .with_label("expected a mapping"),
            );
            return None;
        };
        let catalogue = flex::catalogue();
        let mut declared = flex::Declared::new();
        for (key, value) in map.iter() {
            match configuration_property(catalogue, key, value) {
                Ok(typed) => {
                    declared.insert(key.as_str().to_owned(), typed);
                }
                Err(diagnostic) => self.push(diagnostic),
            }
        }
        Some(FlexConfiguration(declared))
    }

    /// A top-level key flexform does not know.
    fn unknown_section(&mut self, key: &MarkedScalarNode, other: &str) {
        let mut diagnostic = Diagnostic::new(
            Location::of(key.span()),
            format!(
                "unknown field `{other}`, expected one of {}",
                quote_list(TOP_LEVEL_KEYS)
            ),
        )
        .with_label("unknown field");
        if let Some(s) = suggest(other, TOP_LEVEL_KEYS) {
            diagnostic = diagnostic.with_help(format!("did you mean `{s}`?"));
        }
        self.push(diagnostic);
    }

    /// An account has at most one instance. Account SIDs are hex: compared without case.
    fn check_accounts(&mut self, instances: &Instances<'_>) {
        let mut accounts: HashMap<String, (&str, Location)> = HashMap::new();
        // In file order, so that the second entry is the one reported, "above" the first.
        let mut in_file_order: Vec<_> = instances
            .iter()
            .map(|(name, (spec, body))| (field_at(body, "account_sid"), name, spec))
            .collect();
        in_file_order.sort_by_key(|(at, _, _)| (at.line, at.column));
        for (account_at, name, spec) in in_file_order {
            let account_key = spec.account_sid.as_str().to_ascii_lowercase();
            if let Some((first, first_at)) = accounts.get(&account_key) {
                self.push(
                    Diagnostic::new(
                        account_at,
                        format!(
                            "duplicate account: instances `{first}` (line {}) and `{name}` both name {}",
                            first_at.line, spec.account_sid
                        ),
                    )
                    .with_label("this account already has an instance above")
                    .with_help("an account has at most one Flex instance: keep one of the two entries"),
                );
            } else {
                accounts.insert(account_key, (name.as_str(), account_at));
            }
        }
    }

    /// Every profile an instance names is declared.
    fn check_profiles(
        &mut self,
        instances: &Instances<'_>,
        credentials: &BTreeMap<String, CredentialsProfile>,
    ) {
        let declared = credentials.keys().map(String::as_str).collect::<Vec<_>>();
        for (name, (spec, body)) in instances {
            let Some(profile) = &spec.credentials else {
                continue;
            };
            if credentials.contains_key(profile) {
                continue;
            }
            let diagnostic = Diagnostic::new(
                field_at(body, "credentials"),
                format!("unknown credentials profile `{profile}` in instance `{name}`"),
            )
            .with_label("not declared under `credentials`");
            let diagnostic = match suggest(profile, &declared) {
                Some(s) => diagnostic.with_help(format!("did you mean `{s}`?")),
                None if declared.is_empty() => diagnostic.with_help(
                    "declare it under `credentials:` with `key_env` and `secret_env`, or remove the line to use the default profile",
                ),
                None => diagnostic.with_help(format!("declared profiles: {}", quote_list(&declared))),
            };
            self.push(diagnostic);
        }
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// The entries of a mapping section; a null section is an empty one.
    fn entries<'n>(
        &mut self,
        node: &'n Node,
        section: &str,
    ) -> Vec<(&'n MarkedScalarNode, &'n Node)> {
        match node {
            Node::Mapping(map) => map.iter().collect(),
            Node::Scalar(s)
                if s.as_str().is_empty() || s.as_str() == "~" || s.as_str() == "null" =>
            {
                Vec::new()
            }
            other => {
                self.push(
                    Diagnostic::new(
                        Location::of(other.span()),
                        format!("invalid type: expected a mapping of names to entries in `{section}`, found {}", describe(other)),
                    )
                    .with_label("expected a mapping"),
                );
                Vec::new()
            }
        }
    }

    /// A postgres backend needs `url_env` and `workspace`, an s3 one `bucket` and `key`; each
    /// backend's fields are refused on the others.
    fn check_state(&mut self, config: &StateConfig, key: &MarkedScalarNode, node: &Node) {
        let at = |field: &str| {
            node.as_mapping()
                .and_then(|m| m.get_node(field))
                .map_or(Location::of(key.span()), |n| Location::of(n.span()))
        };
        let (backend, required, example): (&str, &[&str], &str) = match config.backend {
            BackendKind::Local => ("local", &[], ""),
            BackendKind::Postgres => (
                "postgres",
                &["url_env", "workspace"],
                "e.g. `url_env: FLEXFORM_DATABASE_URL` and `workspace: emea-prod`",
            ),
            BackendKind::S3 => (
                "s3",
                &["bucket", "key"],
                "e.g. `bucket: acme-flexform` and `key: emea-prod/flexform.state.json`",
            ),
        };
        let present = |field: &str| node.as_mapping().and_then(|m| m.get_node(field)).is_some();
        for field in required {
            if !present(field) {
                self.push(
                    Diagnostic::new(
                        Location::of(key.span()),
                        format!("missing field `{field}` for `backend: {backend}`"),
                    )
                    .with_label("in this section")
                    .with_help(example),
                );
            }
        }
        for (field, owner) in [
            ("url_env", "postgres"),
            ("workspace", "postgres"),
            ("bucket", "s3"),
            ("key", "s3"),
            ("region", "s3"),
            ("endpoint", "s3"),
            ("lock_lease", "s3"),
        ] {
            if owner != backend && present(field) {
                self.push(
                    Diagnostic::new(
                        at(field),
                        format!("`{field}` only applies to `backend: {owner}`"),
                    )
                    .with_label(format!("not used by the {backend} backend")),
                );
            }
        }
        if let Some(env) = &config.url_env {
            if !is_valid_env_name(env) {
                self.push(
                    Diagnostic::new(at("url_env"), format!("invalid environment variable name {env:?} in `url_env`"))
                        .with_label("not an environment variable name")
                        .with_help("name the variable that holds the connection string, never the string itself"),
                );
            }
        }
        if let Some(workspace) = &config.workspace {
            if !is_valid_name(workspace) {
                self.push(
                    Diagnostic::new(
                        at("workspace"),
                        format!("invalid workspace name {workspace:?}: names match {NAME_PATTERN}"),
                    )
                    .with_label("invalid name"),
                );
            }
        }
        if let Some(problem) = config.bucket.as_deref().and_then(s3_bucket_problem) {
            self.push(Diagnostic::new(at("bucket"), problem).with_label("invalid bucket name"));
        }
        if let Some(problem) = config.key.as_deref().and_then(s3_key_problem) {
            self.push(Diagnostic::new(at("key"), problem).with_label("invalid object key"));
        }
        if let Some(endpoint) = &config.endpoint {
            if !(endpoint.starts_with("https://") || endpoint.starts_with("http://"))
                || url::Url::parse(endpoint).is_err()
            {
                self.push(
                    Diagnostic::new(
                        at("endpoint"),
                        format!("invalid endpoint {endpoint:?}: an http:// or https:// URL"),
                    )
                    .with_label("not a URL")
                    .with_help("e.g. `endpoint: https://s3.example.test`; leave it out for AWS"),
                );
            }
        }
        if let Some(lease) = &config.lock_lease {
            match humantime::parse_duration(lease) {
                Ok(d)
                    if d >= std::time::Duration::from_secs(1)
                        && d <= std::time::Duration::from_secs(3600) => {}
                _ => self.push(
                    Diagnostic::new(
                        at("lock_lease"),
                        format!("invalid lock_lease {lease:?}: a duration from 1s to 1h"),
                    )
                    .with_label("not a lease")
                    .with_help("e.g. `lock_lease: 30s` (the default) or `2m`"),
                ),
            }
        }
    }

    fn check_name(&mut self, name: &MarkedScalarNode, what: &str) {
        if !is_valid_name(name.as_str()) {
            self.push(
                Diagnostic::new(
                    Location::of(name.span()),
                    format!("invalid {what} name {:?}: names match {NAME_PATTERN}", name.as_str()),
                )
                .with_label("invalid name")
                .with_help("use lower-case letters, digits, `-` and `_`, starting with a letter or digit, at most 63 characters"),
            );
        }
    }

    fn deserialize<T: serde::de::DeserializeOwned>(
        &mut self,
        key: &MarkedScalarNode,
        node: &Node,
        text: &str,
    ) -> Option<T> {
        match marked_yaml::from_node::<T>(node) {
            Ok(value) => Some(value),
            Err(err) => {
                let entry = Location::of(key.span());
                self.push(Diagnostic::from_node_error(&err, node, entry, text));
                None
            }
        }
    }
}

/// The line of a `---` that starts a second document, if any: the loader reads only the first
/// document, and silently ignoring the rest would hide instances.
fn second_document(text: &str) -> Option<usize> {
    let mut seen_content = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_end();
        let is_separator = trimmed == "---" || trimmed.starts_with("--- ");
        if is_separator && seen_content {
            return Some(index + 1);
        }
        let code = trimmed.trim_start();
        if !is_separator && !code.is_empty() && !code.starts_with('#') {
            seen_content = true;
        }
    }
    None
}

/// One property of a `configuration` mapping as it will be sent, or the first reason it
/// cannot be (the checks run in this order, and only the first failing one is reported).
fn configuration_property(
    catalogue: &flex::Catalogue,
    key: &MarkedScalarNode,
    value: &Node,
) -> Result<serde_json::Value, Diagnostic> {
    let name = key.as_str();
    let Some(property) = catalogue.get(name) else {
        return Err(unknown_property(catalogue, key));
    };
    if let Some(reason) = property.read_only {
        return Err(read_only_property(key, reason));
    }
    if let Some(diagnostic) = unsendable_key(value).or_else(|| unsendable_number(value)) {
        return Err(diagnostic);
    }
    let typed = yaml_value(value);
    if !fits(property.kind, &typed) {
        return Err(wrong_type(name, property, value, &typed));
    }
    if let (Some(items), Some(nodes)) = (&property.items, value.as_sequence()) {
        if let Some(diagnostic) = refused_item(name, items, nodes) {
            return Err(diagnostic);
        }
    }
    Ok(typed)
}

/// A property name that is not in Twilio's catalogue, with the nearest writable one.
fn unknown_property(catalogue: &flex::Catalogue, key: &MarkedScalarNode) -> Diagnostic {
    let name = key.as_str();
    let writable = catalogue.writable_names();
    let diagnostic = Diagnostic::new(
        Location::of(key.span()),
        format!("unknown Flex configuration property `{name}`"),
    )
    .with_label("not in Twilio's flex.v1.configuration");
    match suggest(name, &writable) {
        Some(s) => diagnostic.with_help(format!("did you mean `{s}`?")),
        None => diagnostic.with_help(
            "`flexform schema config` lists the properties (from Twilio's published schema)",
        ),
    }
}

/// A property Twilio does not let anyone change.
fn read_only_property(key: &MarkedScalarNode, reason: &str) -> Diagnostic {
    Diagnostic::new(
        Location::of(key.span()),
        format!("`{}` is read-only: {reason}", key.as_str()),
    )
    .with_label("read-only")
    .with_help("remove it: flexform manages only the properties Twilio lets you change")
}

/// A nested key no managed path could name: one with a `.`, or else one with a control
/// character.
fn unsendable_key(value: &Node) -> Option<Diagnostic> {
    if let Some(key) = dotted_key(value) {
        return Some(
            Diagnostic::new(
                Location::of(key.span()),
                format!("the key `{}` contains a `.`, which flexform uses between the keys of a managed path", key.as_str()),
            )
            .with_label("a `.` in a key")
            .with_help("manage the enclosing object's other keys, or set this key in the Twilio console"),
        );
    }
    let key = control_key(value)?;
    Some(
        Diagnostic::new(
            Location::of(key.span()),
            format!(
                "the key {:?} contains a control character (a line break, a tab…), which no managed path, plan or table could show as it is",
                key.as_str()
            ),
        )
        .with_label("a control character in a key")
        .with_help("rename the key, or set it in the Twilio console"),
    )
}

/// An unquoted number that JSON would not carry exactly.
fn unsendable_number(value: &Node) -> Option<Diagnostic> {
    let (number, sent) = inexact_number(value)?;
    Some(
        Diagnostic::new(
            Location::of(number.span()),
            format!(
                "the number {} cannot be sent exactly: a JSON number keeps about 15 significant digits, so Flex would receive {sent}",
                number.as_str()
            ),
        )
        .with_label("not exact as a JSON number")
        .with_help(format!(
            "quote it to send it as text (`\"{}\"`), or write a number that fits",
            number.as_str()
        )),
    )
}

/// Whether a value has the JSON type the property holds (never `null` at the top level).
fn fits(kind: flex::Kind, typed: &serde_json::Value) -> bool {
    match (kind, typed) {
        (_, serde_json::Value::Null) => false,
        (flex::Kind::Text, v) => v.is_string(),
        (flex::Kind::Boolean, v) => v.is_boolean(),
        (flex::Kind::List, v) => v.is_array(),
        (flex::Kind::Json, v) => v.is_object(),
    }
}

/// A value of the wrong type for its property, with how to write it instead.
fn wrong_type(
    name: &str,
    property: &flex::Property,
    value: &Node,
    typed: &serde_json::Value,
) -> Diagnostic {
    let found = match typed {
        serde_json::Value::Null => "null".to_owned(),
        serde_json::Value::Number(n) => format!("the number {n}"),
        serde_json::Value::Bool(b) => format!("the boolean {b}"),
        _ => describe(value),
    };
    let help = match (property.kind, typed) {
        (_, serde_json::Value::Null) => {
            "a top-level property cannot be removed: `null` removes a key inside a JSON-typed property".to_owned()
        }
        (flex::Kind::Text, _) => format!("quote it: `{name}: \"{}\"`", value.as_scalar().map_or("…", |s| s.as_str())),
        (kind, _) => format!("`{name}` holds {}", kind.describe()),
    };
    Diagnostic::new(
        Location::of(value.span()),
        format!(
            "invalid type for `{name}`: expected {}, found {found}",
            property.kind.describe()
        ),
    )
    .with_label(format!("expected {}", property.kind.describe()))
    .with_help(help)
}

/// The first item of a list property that its schema refuses.
fn refused_item(name: &str, items: &flex::ItemSchema, nodes: &[Node]) -> Option<Diagnostic> {
    let (index, node, why) = nodes
        .iter()
        .enumerate()
        .find_map(|(i, node)| items.refuses(&yaml_value(node)).map(|why| (i, node, why)))?;
    Some(
        Diagnostic::new(
            Location::of(node.span()),
            format!(
                "invalid item {} of `{name}`: expected {}, found {why}",
                index + 1,
                items.describe()
            ),
        )
        .with_label(format!("expected {}", items.describe()))
        .with_help(format!(
            "every item of `{name}` is {} (Twilio's flex.v1.configuration)",
            items.describe()
        )),
    )
}

/// The first key with a `.` in a (nested) mapping: a managed path could not name it.
fn dotted_key(node: &Node) -> Option<&MarkedScalarNode> {
    node.as_mapping()?.iter().find_map(|(key, value)| {
        if key.as_str().contains('.') {
            Some(key)
        } else {
            dotted_key(value)
        }
    })
}

/// The first key with a control character in a (nested) mapping.
fn control_key(node: &Node) -> Option<&MarkedScalarNode> {
    match node {
        Node::Mapping(map) => map.iter().find_map(|(key, value)| {
            if key.as_str().chars().any(char::is_control) {
                Some(key)
            } else {
                control_key(value)
            }
        }),
        Node::Sequence(items) => items.iter().find_map(control_key),
        Node::Scalar(_) => None,
    }
}

/// The first unquoted number (at any depth) that a JSON number cannot hold exactly, with what
/// would be sent instead: an integer beyond 64 bits, or a decimal with more significant
/// digits than a double keeps.
fn inexact_number(node: &Node) -> Option<(&MarkedScalarNode, String)> {
    match node {
        Node::Mapping(map) => map.iter().find_map(|(_, value)| inexact_number(value)),
        Node::Sequence(items) => items.iter().find_map(inexact_number),
        Node::Scalar(s) if !s.may_coerce() || is_null(node) => None,
        Node::Scalar(s) => match yaml_value(node) {
            serde_json::Value::Number(n) if n.is_f64() => {
                let sent = n.as_f64().expect("an f64");
                let exact = decimal(s.as_str()) == decimal(&format!("{sent:e}"));
                (!exact).then(|| (s, n.to_string()))
            }
            _ => None,
        },
    }
}

/// A decimal number's sign, significant digits (no leading or trailing zeros) and the
/// position of its decimal point relative to them: equal for equal values.
fn decimal(text: &str) -> Option<(bool, String, i64)> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = format!("{int}{frac}");
    let leading = digits.len() - digits.trim_start_matches('0').len();
    let digits = digits.trim_matches('0').to_owned();
    if digits.is_empty() {
        return Some((false, String::new(), 0));
    }
    let point = int.len() as i64 + exponent - leading as i64;
    Some((negative, digits, point))
}

/// Whether a node is YAML's null (`~`, `null` or nothing).
pub(super) fn is_null(node: &Node) -> bool {
    node.as_scalar().is_some_and(|s| {
        s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
    })
}

/// A node as JSON, typed as YAML 1.2's core schema types it: unquoted `true`/`false`,
/// numbers and `null`/`~` are typed, everything quoted stays a string.
pub(super) fn yaml_value(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match node {
        Node::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().to_owned(), yaml_value(v)))
                .collect(),
        ),
        Node::Sequence(items) => Value::Array(items.iter().map(yaml_value).collect()),
        Node::Scalar(s) if !s.may_coerce() => Value::String(s.as_str().to_owned()),
        Node::Scalar(_) if is_null(node) => Value::Null,
        Node::Scalar(s) => match s.as_str() {
            "true" | "True" | "TRUE" => Value::Bool(true),
            "false" | "False" | "FALSE" => Value::Bool(false),
            t => t
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| t.parse::<u64>().map(Value::from))
                .ok()
                .or_else(|| {
                    t.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite() && t.chars().any(|c| c.is_ascii_digit()))
                        .and_then(serde_json::Number::from_f64)
                        .map(Value::Number)
                })
                .unwrap_or_else(|| Value::String(t.to_owned())),
        },
    }
}

/// A short description of a node's kind, for "found …" messages.
pub(super) fn describe(node: &Node) -> String {
    match node {
        Node::Scalar(s) => format!("{:?}", s.as_str()),
        Node::Mapping(_) => "a mapping".to_owned(),
        Node::Sequence(_) => "a sequence".to_owned(),
    }
}
