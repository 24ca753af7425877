//! HTTP Basic authentication as the simulator checks it: decode the `Authorization` header and
//! compare it with the accepted pair, or accept any non-empty pair.

/// Whether the `Authorization` header value carries an acceptable pair.
///
/// `expected` is the only accepted (user, password); `None` accepts any non-empty user and
/// password.
pub fn is_authorized(header: Option<&str>, expected: Option<(&str, &str)>) -> bool {
    let Some((user, password)) = header.and_then(decode) else {
        return false;
    };
    match expected {
        Some((want_user, want_password)) => user == want_user && password == want_password,
        None => !user.is_empty() && !password.is_empty(),
    }
}

/// The (user, password) of a `Basic …` header value, if it is well formed.
pub fn decode(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = base64_decode(encoded.trim())?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Standard base64 with padding (RFC 4648 §4); `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let last = bytes.len() / 4 - 1;
    for (i, chunk) in bytes.chunks_exact(4).enumerate() {
        let padding = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && i != last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - padding] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * padding as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_basic_headers() {
        // "key:secret" and "Aladdin:open sesame" (RFC 7617), with one and two padding bytes.
        assert_eq!(
            decode("Basic a2V5OnNlY3JldA=="),
            Some(("key".into(), "secret".into()))
        );
        assert_eq!(
            decode("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            Some(("Aladdin".into(), "open sesame".into()))
        );
        assert_eq!(decode("Basic YWI6Yw=="), Some(("ab".into(), "c".into())));
        assert_eq!(
            decode("Basic YWJjOmRlZg=="),
            Some(("abc".into(), "def".into()))
        );
        assert_eq!(decode("Basic YWI6Y2Q="), Some(("ab".into(), "cd".into())));
    }

    #[test]
    fn rejects_malformed_headers() {
        for bad in [
            "",
            "Basic",
            "Bearer a2V5OnNlY3JldA==",
            "Basic a2V5OnNlY3JldA",
            "Basic a2V5OnNlY3J!dA==",
            "Basic ====",
            "Basic YQ==YWJj",
            "Basic a2V5", // "key": no colon
        ] {
            assert_eq!(decode(bad), None, "{bad:?} decoded");
        }
    }

    #[test]
    fn any_non_empty_pair_or_exactly_the_configured_one() {
        let key_secret = Some("Basic a2V5OnNlY3JldA==");
        assert!(is_authorized(key_secret, None));
        assert!(is_authorized(key_secret, Some(("key", "secret"))));
        assert!(!is_authorized(key_secret, Some(("key", "other"))));
        assert!(!is_authorized(key_secret, Some(("other", "secret"))));
        assert!(!is_authorized(None, None));
        // ":secret" and "key:" have an empty half.
        assert!(!is_authorized(Some("Basic OnNlY3JldA=="), None));
        assert!(!is_authorized(Some("Basic a2V5Og=="), None));
    }
}
