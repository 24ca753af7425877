//! Wording shared by every message (plurals, quoted lists), and the escaping every export
//! applies to text it did not write itself: CSV cells a spreadsheet must not run as formulas,
//! Markdown cells that must stay one cell of one row.

use std::borrow::Cow;

/// `""` for one, `"s"` otherwise: `format!("{n} instance{}", plural(n))`.
pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `one` for one, `many` otherwise, for words whose plural is not a trailing `s`.
pub fn plural_word<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// `` `a`, `b`, `c` ``.
pub fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closest known word, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Text as a terminal may show it: control characters (an escape sequence's ESC, a line
/// break, a tab) escaped as `\u{1b}`, `\n`, `\t`, so that no recorded text can move the
/// cursor, recolour the screen or fake a line of output.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// A CSV cell a spreadsheet shows as the text it is. A cell that starts with `=`, `+`, `-`,
/// `@`, a tab or a carriage return is read by Excel, LibreOffice and Google Sheets as a formula
/// (`=HYPERLINK(..)` in a user name is CSV injection); OWASP's rule is to prefix such a cell
/// with `'`, which those programs hide and take to mean "text". Quotes, commas and newlines
/// are the CSV writer's business (it quotes the field).
pub fn csv_cell(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// Text for a Markdown table cell (or a list item) that renders as the text it is and stays
/// one cell of a one-line row, whatever it holds:
/// - `|` is escaped (`\|`), and so is `\` itself: GitHub splits a row at every `|` that no
///   backslash escapes, and escaping only the `|` of a text's `\|` would make `\\|`, an
///   escaped backslash before a bare `|`;
/// - a line break (LF, CR or CRLF) becomes `<br>`: a cell cannot hold a newline, GitHub shows
///   `<br>` as a line break inside the cell, and since `<` is escaped below, every `<br>` in a
///   cell is one this function wrote;
/// - `` ` `` is escaped, so that the text cannot open or close a code span;
/// - `<` and `>` are escaped: GitHub renders HTML (and `<https://..>` autolinks) in cells;
/// - `[` and `]` are escaped, so that the text cannot make a link or an image (a bare
///   `https://..` is still linked by GitHub, showing the address it goes to).
///
/// Emphasis (`*`, `_`, `~`) is left alone: it can change how a cell looks, never where it
/// ends or what it links to, and escaping it would garble every `flex_instance.a`.
pub fn markdown_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("<br>");
            }
            '\n' => out.push_str("<br>"),
            '\\' | '|' | '`' | '<' | '>' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` as a Markdown code span when it is made only of characters that cannot end one or
/// its cell (letters, digits, `.`, `_`, `-`, `:`, `/`, `@`): names, SIDs and digests as
/// flexform writes them. Anything else (a hand-edited state's name, say) is shown as escaped
/// plain text ([`markdown_cell`]) instead: backslash escapes do not work inside a code span,
/// so a span is only safe around text that needs none.
pub fn markdown_code(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '/' | '@'));
    if plain {
        format!("`{text}`")
    } else {
        markdown_cell(text)
    }
}

/// A Markdown link to `url` labelled `label` (text flexform writes), when `url` is an
/// `http(s)` address; any byte that could end the link or its cell (`(`, `)`, `|`, `<`, `>`,
/// spaces, backslashes, backticks, brackets, quotes, line breaks, non-ASCII) is
/// percent-encoded. Anything else (a `javascript:` URL from a CI variable) is shown as escaped
/// text, not linked.
pub fn markdown_link(label: &str, url: &str) -> String {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return markdown_cell(url);
    }
    let mut target = String::with_capacity(url.len());
    for byte in url.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:/?#@!$&'*+,;=%".contains(&byte) {
            target.push(char::from(byte));
        } else {
            target.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("[{label}]({target})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_escapes_control_characters_only() {
        assert_eq!(printable("ci@runner"), "ci@runner");
        assert_eq!(printable("a\u{1b}[2Jb\nc\td"), "a\\u{1b}[2Jb\\nc\\td");
        assert_eq!(printable("é|=x"), "é|=x");
    }

    #[test]
    fn plurals_and_suggestions() {
        assert_eq!(format!("1 instance{}", plural(1)), "1 instance");
        assert_eq!(format!("2 instance{}", plural(2)), "2 instances");
        assert_eq!(format!("0 instance{}", plural(0)), "0 instances");
        assert_eq!(plural_word(1, "matches", "match"), "matches");
        assert_eq!(plural_word(3, "matches", "match"), "match");
        assert_eq!(quote_list(&["a", "b"]), "`a`, `b`");
        assert_eq!(
            suggest("instancs", &["version", "instances"]),
            Some("instances")
        );
        assert_eq!(suggest("zzzzzzzz", &["version", "instances"]), None);
    }

    #[test]
    fn a_csv_cell_that_a_spreadsheet_would_run_is_text() {
        for formula in [
            "=HYPERLINK(\"http://x\")",
            "+1",
            "-1+2",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(csv_cell(formula), format!("'{formula}"), "{formula:?}");
        }
        // Anything else is left as it is, without a copy.
        for text in ["alice@host", "2026-01-01T00:00:00Z", "a=b", "", "'quoted"] {
            assert!(
                matches!(csv_cell(text), Cow::Borrowed(t) if t == text),
                "{text:?}"
            );
        }
    }

    /// The cells of a GitHub table row: split at every `|` no backslash escapes.
    fn cells(row: &str) -> usize {
        let mut count = 0;
        let mut chars = row.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '|' => count += 1,
                _ => {}
            }
        }
        count - 1
    }

    #[test]
    fn a_markdown_cell_stays_one_cell_of_a_one_line_row() {
        let hostile = "=HYPERLINK(\"http://x\")|x\\|y\nz\r\nw\rv `code` <img src=x> [a](b)";
        let cell = markdown_cell(hostile);
        assert_eq!(
            cell,
            "=HYPERLINK(\"http://x\")\\|x\\\\\\|y<br>z<br>w<br>v \\`code\\` \\<img src=x\\> \\[a\\](b)"
        );
        let row = format!("| {cell} | {} |", markdown_cell("|"));
        assert_eq!(cells(&row), 2, "{row}");
        assert!(!row.contains(['\n', '\r']), "{row}");
        // Emphasis and plain text pass as they are.
        assert_eq!(markdown_cell("flex_instance.a *b*"), "flex_instance.a *b*");
    }

    #[test]
    fn only_plain_text_goes_in_a_code_span() {
        assert_eq!(
            markdown_code("flex_instance.team-a"),
            "`flex_instance.team-a`"
        );
        assert_eq!(
            markdown_code("GO00000000000000000000000000000001"),
            "`GO00000000000000000000000000000001`"
        );
        // A backtick would close the span, and a backslash cannot escape it there.
        assert_eq!(markdown_code("a`|b"), "a\\`\\|b");
        assert_eq!(markdown_code("a b"), "a b");
        assert_eq!(markdown_code(""), "");
    }

    #[test]
    fn a_markdown_link_cannot_end_early_or_run_script() {
        assert_eq!(
            markdown_link("run", "https://github.com/acme/flex/actions/runs/42"),
            "[run](https://github.com/acme/flex/actions/runs/42)"
        );
        assert_eq!(
            markdown_link("run", "https://x/a) | [b](c\n"),
            "[run](https://x/a%29%20%7C%20%5Bb%5D%28c%0A)"
        );
        assert_eq!(
            markdown_link("run", "javascript:alert(1)|x"),
            "javascript:alert(1)\\|x"
        );
    }
}
