//! `ConfigError`: everything that can be wrong with a desired-state file, with the file, line,
//! column and source line of each problem, rendered once at the top like a compiler error.

use std::path::PathBuf;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use marked_yaml::{LoadError, Node, Span};

/// A position in the configuration file, 1-based as editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl Location {
    /// The start of the file.
    pub fn start() -> Self {
        Self { line: 1, column: 1 }
    }

    /// The start of a node's span, or the start of the file when the span has none.
    pub fn of(span: &Span) -> Self {
        span.start().map_or_else(Self::start, |m| Self {
            line: m.line().max(1),
            column: m.column().max(1),
        })
    }
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the offending value starts.
    pub location: Location,
    /// What is wrong, in one line.
    pub message: String,
    /// Short label under the offending value.
    pub label: Option<String>,
    /// What the user can do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at `location` saying `message`.
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Self {
            location,
            message: message.into(),
            label: None,
            help: None,
        }
    }

    /// Adds the label shown under the offending value.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds a hint on what to do next.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// A YAML syntax or structure error from the loader.
    pub(crate) fn from_load_error(err: &LoadError, text: &str) -> Self {
        let at = |m: &marked_yaml::Marker| Location {
            line: m.line().max(1),
            column: m.column().max(1),
        };
        match err {
            LoadError::ScanError(marker, scan) => {
                // The scanner's own text ends with "at byte … line … column …": keep only the
                // description, since the location is printed in front.
                let full = scan.to_string();
                let info = full.split(" at byte ").next().unwrap_or(&full).to_owned();
                let location = syntax_error_location(text, at(marker), &info);
                Self::new(location, format!("YAML syntax error: {info}")).with_label("here")
            }
            LoadError::DuplicateKey(inner) => {
                let key = inner.key.as_str();
                let first = Location::of(inner.prev_key.span());
                Self::new(
                    Location::of(inner.key.span()),
                    format!(
                        "duplicate key `{key}` (first defined on line {})",
                        first.line
                    ),
                )
                .with_label("defined again here")
                .with_help("each name may appear once in a mapping: rename or merge one of them")
            }
            LoadError::TopLevelMustBeMapping(marker)
            | LoadError::TopLevelMustBeSequence(marker) => Self::new(
                at(marker),
                "expected a mapping with `version` and `instances` at the top level",
            ),
            LoadError::UnexpectedAnchor(marker) => {
                Self::new(at(marker), "YAML anchors and aliases are not supported")
                    .with_label("anchor or alias")
                    .with_help("write each instance out in full")
            }
            LoadError::MappingKeyMustBeScalar(marker) => {
                Self::new(at(marker), "mapping keys must be plain names")
                    .with_label("not a plain key")
            }
            LoadError::UnexpectedTag(marker) => {
                Self::new(at(marker), "YAML tags are not supported").with_label("tag")
            }
        }
        .clamped(text)
    }

    /// A type or shape error from deserializing one part of the tree.
    ///
    /// `entry` is where the entry being read starts (its key), for errors about the entry as a
    /// whole such as a missing field.
    pub(crate) fn from_node_error(
        err: &marked_yaml::FromNodeError,
        node: &Node,
        entry: Location,
        text: &str,
    ) -> Self {
        use marked_yaml::Error;
        let located = |span: &Span| {
            if span.start().is_some() {
                Location::of(span)
            } else {
                Location::of(node.span())
            }
        };
        let token = |location: Location| token_at(text, location).unwrap_or_default();
        match &**err {
            Error::NotBoolean(span) => {
                let at = located(span);
                Self::new(
                    at,
                    format!(
                        "invalid type: expected a boolean, found {}",
                        found(&token(at))
                    ),
                )
                .with_label("expected `true` or `false`")
            }
            Error::IntegerParseFailure(_, span) => {
                let at = located(span);
                Self::new(
                    at,
                    format!(
                        "invalid type: expected an integer, found {}",
                        found(&token(at))
                    ),
                )
                .with_label("expected an integer")
            }
            Error::FloatParseFailure(_, span) => {
                let at = located(span);
                Self::new(at, "invalid type: expected a number").with_label("expected a number")
            }
            Error::UnknownFieldError(field, expected, span) => {
                let mut d = Self::new(
                    located(span),
                    format!(
                        "unknown field `{field}`, expected {}",
                        if expected.len() == 1 {
                            format!("`{}`", expected[0])
                        } else {
                            format!("one of {}", crate::support::text::quote_list(expected))
                        }
                    ),
                )
                .with_label("unknown field");
                if let Some(s) = crate::support::text::suggest(field, expected) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                d
            }
            Error::Other(message, span) => {
                // A missing field is a fault of the whole entry: point at its name.
                let at = if message.starts_with("missing field") {
                    entry
                } else {
                    located(span)
                };
                Self::new(at, rephrase(message)).with_label(label_for(message))
            }
        }
        .clamped(text)
    }

    /// Keeps the location inside the text, so that a snippet can always be shown.
    fn clamped(mut self, text: &str) -> Self {
        let lines = text.lines().count().max(1);
        if self.location.line > lines {
            self.location = Location {
                line: lines,
                column: 1,
            };
        }
        self
    }
}

/// Where to point at a YAML syntax error: the scanner marks where it was when it gave up,
/// which can be the indentation before a token or the start of the scalar that holds a tab.
/// The caret goes under the offending character: the tab a "found a tab" error is about, or
/// else the first token at or after the mark (the end of the file when none is left).
fn syntax_error_location(text: &str, mark: Location, info: &str) -> Location {
    let lines: Vec<&str> = text.split('\n').collect();
    let position = |line: usize, column: usize| Location { line, column };
    let start_line = mark.line.min(lines.len()).max(1);
    let mut first = true;
    for (index, line) in lines.iter().enumerate().skip(start_line - 1) {
        let skip = if first { mark.column - 1 } else { 0 };
        first = false;
        for (offset, c) in line.chars().enumerate().skip(skip) {
            let wanted = if info.contains("tab") {
                c == '\t'
            } else {
                !c.is_whitespace()
            };
            if wanted {
                return position(index + 1, offset + 1);
            }
        }
    }
    // Nothing left: the end of the last non-empty line.
    let last = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .unwrap_or(0);
    position(
        last + 1,
        lines.get(last).map_or(0, |l| l.chars().count()) + 1,
    )
}

/// serde says "invalid type: map, expected a string"; users read "expected …, found …" better.
fn rephrase(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            let expected = if expected.starts_with("struct ") {
                "a mapping"
            } else if matches!(expected, "u8" | "u16" | "u32" | "u64" | "i32" | "i64") {
                "an integer"
            } else {
                expected
            };
            return format!("invalid type: expected {expected}, found {found}");
        }
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!("invalid value: expected {expected}, found {found}");
        }
    }
    message.to_owned()
}

fn label_for(message: &str) -> String {
    if message.starts_with("missing field") {
        "in this entry".to_owned()
    } else if message.starts_with("invalid account SID") {
        "not an account SID".to_owned()
    } else {
        "here".to_owned()
    }
}

/// `"maybe"` for a plain scalar; `the quoted string "true"` for a quoted one (quotes make a
/// value a string, which is why `"true"` is not a boolean).
fn found(token: &str) -> String {
    let t = token.trim();
    if t.starts_with('"') || t.starts_with('\'') {
        format!("the quoted string {t}")
    } else {
        format!("{:?}", unquote(t))
    }
}

fn unquote(token: &str) -> &str {
    let t = token.trim();
    t.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .or_else(|| t.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')))
        .unwrap_or(t)
}

/// The source token starting at `location`: a quoted scalar, a key, or a plain scalar up to a
/// comment or the end of the line.
fn token_at(text: &str, location: Location) -> Option<String> {
    let line = text.lines().nth(location.line - 1)?;
    let start = line
        .char_indices()
        .nth(location.column - 1)
        .map(|(i, _)| i)?;
    let rest = &line[start..];
    let first = rest.chars().next()?;
    if first == '"' || first == '\'' {
        let close = rest[1..].find(first).map_or(rest.len(), |i| i + 2);
        return Some(rest[..close].to_owned());
    }
    // A plain scalar ends at a comment, a key separator, or the end of a flow collection item.
    let mut end = rest.len();
    for pat in [" #", ": ", ",", "}", "]"] {
        if let Some(i) = rest.find(pat) {
            end = end.min(i);
        }
    }
    if rest[..end].ends_with(':') {
        end -= 1;
    }
    Some(rest[..end].trim_end().to_owned())
}

/// Errors reading or validating the desired-state file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable).
    #[error("cannot read configuration file {}: {source}", path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("{}: not UTF-8 text (invalid byte at offset {offset})", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The file was read but is not a valid configuration.
    #[error("{}", render_plain(path, source_text, diagnostics))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Its text, for snippets.
        source_text: String,
        /// Every problem found, in file order.
        diagnostics: Vec<Diagnostic>,
    },
}

impl ConfigError {
    /// For an invalid file: every problem with a source snippet under it, coloured when
    /// `styled` (the other errors are one line, printed by the output layer).
    pub fn snippets(&self, styled: bool) -> Option<String> {
        match self {
            ConfigError::Invalid {
                path,
                source_text,
                diagnostics,
            } => Some(render_diagnostics(path, source_text, diagnostics, styled)),
            _ => None,
        }
    }

    /// What to do about it, when one line can say.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            ConfigError::Read { .. } => Some(
                "create the file (see examples/quickstart.yaml), or point --config or FLEXFORM_CONFIG at it",
            ),
            _ => None,
        }
    }
}

fn render_plain(path: &std::path::Path, text: &str, diagnostics: &[Diagnostic]) -> String {
    render_diagnostics(path, text, diagnostics, false)
        .trim_end()
        .to_owned()
}

fn render_diagnostics(
    path: &std::path::Path,
    text: &str,
    diagnostics: &[Diagnostic],
    styled: bool,
) -> String {
    let renderer = if styled {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for d in diagnostics {
        out.push_str(&render_one(&renderer, path, text, d));
    }
    let n = diagnostics.len();
    out.push_str(&format!(
        "{}: {n} error{}; nothing was changed\n",
        path.display(),
        crate::support::text::plural(n)
    ));
    out
}

fn render_one(renderer: &Renderer, path: &std::path::Path, text: &str, d: &Diagnostic) -> String {
    let Location { line, column } = d.location;
    let mut out = format!("{}:{line}:{column}: error: {}\n", path.display(), d.message);
    if let Some(source_line) = text.lines().nth(line - 1) {
        let start = source_line
            .char_indices()
            .nth(column - 1)
            .map_or(source_line.len(), |(i, _)| i);
        let len = token_at(text, d.location).map_or(0, |t| t.len()).max(1);
        let end = (start + len).min(source_line.len()).max(start);
        let label = d.label.clone().unwrap_or_default();
        let mut group = Group::with_level(Level::ERROR).element(
            Snippet::source(source_line)
                .line_start(line)
                .annotation(AnnotationKind::Primary.span(start..end).label(&label)),
        );
        if let Some(help) = &d.help {
            group = group.element(Level::HELP.message(help));
        }
        out.push_str(&renderer.render(&[group]));
        out.push('\n');
    } else if let Some(help) = &d.help {
        out.push_str(&format!("  help: {help}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_read_expected_then_found() {
        assert_eq!(
            rephrase("invalid type: map, expected a string"),
            "invalid type: expected a string, found map"
        );
        assert_eq!(rephrase("missing field `x`"), "missing field `x`");
    }

    #[test]
    fn tokens_stop_at_comments_and_quotes() {
        let text = "a: maybe # no\nb: \"quoted # x\" # c\nkey: v\n";
        assert_eq!(
            token_at(text, Location { line: 1, column: 4 }).unwrap(),
            "maybe"
        );
        assert_eq!(
            token_at(text, Location { line: 2, column: 4 }).unwrap(),
            "\"quoted # x\""
        );
        assert_eq!(
            token_at(text, Location { line: 3, column: 1 }).unwrap(),
            "key"
        );
    }
}
