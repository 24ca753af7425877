//! Wording shared by every message: plurals and quoted lists.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
