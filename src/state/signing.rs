//! SSH signatures over audit-trail entries: the SSHSIG format of `ssh-keygen -Y sign` (and of
//! git's SSH signing), namespace [`NAMESPACE`], so that an auditor can check any history entry
//! with the stock `ssh-keygen -Y verify` and an `ssh-keygen` allowed signers file.
//!
//! [`SigningKey`] signs (an unencrypted Ed25519 OpenSSH private key, as a CI secret holds it);
//! [`AllowedSigners`] checks, refusing with a [`SignatureProblem`]. The cryptography and the
//! SSHSIG encoding are RustCrypto's `ssh-key`; this module only reads the files and applies
//! the allowed-signers rules of `man ssh-keygen` (section ALLOWED SIGNERS).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

/// The SSHSIG namespace of history signatures (`ssh-keygen -Y verify -n flexform-history`).
pub const NAMESPACE: &str = "flexform-history";

/// Why a signing key or an allowed signers file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The signing key file could not be read.
    #[error("cannot read the signing key {}: {source}", .path.display())]
    ReadKey {
        /// The key file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The file is not an OpenSSH private key.
    #[error(
        "{} is not an OpenSSH private key ({reason}): give the private key file that \
         `ssh-keygen -t ed25519` writes, which begins with `-----BEGIN OPENSSH PRIVATE KEY-----`",
        .path.display()
    )]
    NotPrivateKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its contents.
        reason: String,
    },
    /// The private key is protected by a passphrase, which flexform cannot ask for.
    #[error(
        "the signing key {} is encrypted with a passphrase: decrypt it with \
         `ssh-keygen -p -N '' -f {}` or store the unencrypted key in the CI secret",
        .path.display(), .path.display()
    )]
    Encrypted {
        /// The key file.
        path: PathBuf,
    },
    /// The private key is not an Ed25519 key.
    #[error(
        "the signing key {} is a {algorithm} key, and flexform signs with Ed25519 keys only: \
         generate one with `ssh-keygen -t ed25519`",
        .path.display()
    )]
    NotEd25519 {
        /// The key file.
        path: PathBuf,
        /// The key's algorithm, as OpenSSH names it (`ssh-rsa`, `ecdsa-sha2-nistp256`, …).
        algorithm: String,
    },
    /// Making or encoding the signature failed.
    #[error("cannot sign with the key {}: {source}", .path.display())]
    Sign {
        /// The key file.
        path: PathBuf,
        /// What `ssh-key` reported.
        source: ssh_key::Error,
    },
    /// The allowed signers file could not be read.
    #[error("cannot read the allowed signers file {}: {source}", .path.display())]
    ReadAllowedSigners {
        /// The allowed signers file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// A line of the allowed signers file is not in its format.
    #[error("{}:{line}: {reason}", .path.display())]
    AllowedSignersLine {
        /// The allowed signers file.
        path: PathBuf,
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with the line, and how to write it.
        reason: String,
    },
    /// A line of the allowed signers file is a certificate authority (`cert-authority`).
    #[error(
        "{}:{line}: certificate authorities (`cert-authority`) are not supported: list the \
         signing key itself, as `principals namespaces=\"{NAMESPACE}\" ssh-ed25519 AAAA…`",
        .path.display()
    )]
    CertificateAuthority {
        /// The allowed signers file.
        path: PathBuf,
        /// The line's number, from 1.
        line: usize,
    },
}

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    /// The text is not an armored SSHSIG (`-----BEGIN SSH SIGNATURE-----`).
    #[error("not an SSH signature: {reason}")]
    NotSshSignature {
        /// What `ssh-key` could not decode.
        reason: String,
    },
    /// The signature was made for another namespace (`ssh-keygen -Y sign -n …`).
    #[error("signed for namespace `{namespace}`, not `{NAMESPACE}`")]
    WrongNamespace {
        /// The namespace in the signature.
        namespace: String,
    },
    /// The signing key is not listed in the allowed signers file.
    #[error("signed by {fingerprint}, a key not in the allowed signers file")]
    UnknownKey {
        /// The `SHA256:…` fingerprint of the key that the signature names.
        fingerprint: String,
    },
    /// The signature is not valid over these bytes: the entry or the signature was changed.
    #[error("the signature does not match the entry's bytes")]
    Mismatch,
    /// The key is listed, but flexform cannot check signatures of its algorithm.
    #[error(
        "signed by {fingerprint}, a {algorithm} key: flexform checks Ed25519 signatures only; \
         check this one with `ssh-keygen -Y verify`"
    )]
    UnsupportedAlgorithm {
        /// The `SHA256:…` fingerprint of the key.
        fingerprint: String,
        /// The key's algorithm, as OpenSSH names it.
        algorithm: String,
    },
    /// The key's line has a `namespaces="…"` option that does not allow [`NAMESPACE`].
    #[error("the key's allowed-signers line {line} does not allow namespace {NAMESPACE}")]
    NamespaceNotAllowed {
        /// The number of the key's line in the allowed signers file.
        line: usize,
    },
    /// The time of the check lies outside the line's `valid-after`/`valid-before` window.
    #[error(
        "the key is not valid at that time: {} (line {line})",
        window(*.at, *.valid_after, *.valid_before)
    )]
    NotValidAtTime {
        /// The number of the key's line in the allowed signers file.
        line: usize,
        /// The time the signature was checked at.
        at: SystemTime,
        /// The line's `valid-after`, if any.
        valid_after: Option<SystemTime>,
        /// The line's `valid-before`, if any.
        valid_before: Option<SystemTime>,
    },
}

/// Describes a validity window for [`SignatureProblem::NotValidAtTime`].
fn window(at: SystemTime, after: Option<SystemTime>, before: Option<SystemTime>) -> String {
    let stamp = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    let range = match (after, before) {
        (Some(a), Some(b)) => format!("from {} to {}", stamp(a), stamp(b)),
        (Some(a), None) => format!("from {}", stamp(a)),
        (None, Some(b)) => format!("until {}", stamp(b)),
        (None, None) => "always".to_owned(),
    };
    format!("checked at {}, valid {range}", stamp(at))
}

/// A loaded Ed25519 signing key.
pub struct SigningKey {
    key: PrivateKey,
    path: PathBuf,
}

impl fmt::Debug for SigningKey {
    /// The fingerprint only: never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads an OpenSSH private key file (unencrypted Ed25519 only).
    pub fn load(path: &Path) -> Result<Self, SigningError> {
        // ssh-key reads the file itself, so that the PEM text is wiped from memory after use.
        let key = PrivateKey::read_openssh_file(path).map_err(|err| match err {
            ssh_key::Error::Io(kind) if kind != std::io::ErrorKind::InvalidData => {
                SigningError::ReadKey {
                    path: path.to_owned(),
                    source: kind.into(),
                }
            }
            ssh_key::Error::Io(_) => SigningError::NotPrivateKey {
                path: path.to_owned(),
                reason: "it is not text".to_owned(),
            },
            err => SigningError::NotPrivateKey {
                path: path.to_owned(),
                reason: if starts_with(path, b"ssh-") {
                    "it looks like a public key; give the private key file, without `.pub`"
                        .to_owned()
                } else {
                    err.to_string()
                },
            },
        })?;
        // The algorithm first: decrypting an RSA key would not help.
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(SigningError::NotEd25519 {
                path: path.to_owned(),
                algorithm: key.algorithm().as_str().to_owned(),
            });
        }
        if key.is_encrypted() {
            return Err(SigningError::Encrypted {
                path: path.to_owned(),
            });
        }
        Ok(Self {
            key,
            path: path.to_owned(),
        })
    }

    /// `SHA256:…` fingerprint of the public key, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// The armored SSHSIG (PEM text with LF line endings, ending in "\n") over `message`,
    /// namespace [`NAMESPACE`], hash sha512.
    pub fn sign(&self, message: &[u8]) -> Result<String, SigningError> {
        let failed = |source| SigningError::Sign {
            path: self.path.clone(),
            source,
        };
        let signature = self
            .key
            .sign(NAMESPACE, HashAlg::Sha512, message)
            .map_err(failed)?;
        let mut armored = signature.to_pem(LineEnding::LF).map_err(failed)?;
        if !armored.ends_with('\n') {
            armored.push('\n');
        }
        Ok(armored)
    }
}

/// Whether the file at `path` begins with `prefix` (reading no more than that).
fn starts_with(path: &Path, prefix: &[u8]) -> bool {
    use std::io::Read;
    let mut start = vec![0; prefix.len()];
    std::fs::File::open(path).is_ok_and(|mut file| file.read_exact(&mut start).is_ok())
        && start == prefix
}

/// An `ssh-keygen` ALLOWED SIGNERS file (see `man ssh-keygen`, section ALLOWED SIGNERS).
///
/// Lines are `principals [options] keytype base64key [comment]`; blank lines and `#` comments
/// are skipped. Options are `namespaces="…"`, `valid-after="…"` and `valid-before="…"`, their
/// values in double quotes as `ssh-keygen` requires; `cert-authority` lines are refused. Keys
/// of other types than Ed25519 (a human's RSA or ECDSA key) are read too, and a signature by
/// one is reported as unchecked ([`SignatureProblem::UnsupportedAlgorithm`]); keys of types
/// that `ssh-key` does not know are skipped, as `ssh-keygen` skips them. Times without a `Z`
/// (or `UTC`) suffix, which `ssh-keygen` reads in the verifying machine's time zone, are read
/// as UTC.
#[derive(Debug, Clone)]
pub struct AllowedSigners {
    entries: Vec<Entry>,
}

/// One key line of an allowed signers file.
#[derive(Debug, Clone)]
struct Entry {
    /// The line's number, from 1.
    line: usize,
    /// The principals field, as written (quotes removed).
    principals: String,
    /// The key.
    key: PublicKey,
    /// The `namespaces="…"` pattern list, if given.
    namespaces: Option<String>,
    /// `valid-after`, in seconds since the Unix epoch.
    valid_after: Option<u64>,
    /// `valid-before`, in seconds since the Unix epoch.
    valid_before: Option<u64>,
}

/// Why one line was refused, before the file and line are attached.
enum LineError {
    /// A `cert-authority` option.
    CertificateAuthority,
    /// Anything else, with its explanation.
    Invalid(String),
}

impl From<String> for LineError {
    fn from(reason: String) -> Self {
        LineError::Invalid(reason)
    }
}

impl AllowedSigners {
    /// Reads and parses an allowed signers file.
    pub fn load(path: &Path) -> Result<Self, SigningError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| SigningError::ReadAllowedSigners {
                path: path.to_owned(),
                source,
            })?;
        Self::parse(path, &text)
    }

    /// Parses the text of an allowed signers file; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, SigningError> {
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            match parse_line(line, raw) {
                Ok(Some(entry)) => entries.push(entry),
                Ok(None) => {}
                Err(LineError::CertificateAuthority) => {
                    return Err(SigningError::CertificateAuthority {
                        path: path.to_owned(),
                        line,
                    })
                }
                Err(LineError::Invalid(reason)) => {
                    return Err(SigningError::AllowedSignersLine {
                        path: path.to_owned(),
                        line,
                        reason,
                    })
                }
            }
        }
        Ok(Self { entries })
    }

    /// Checks an armored signature over `message`: a valid SSHSIG, namespace [`NAMESPACE`],
    /// made by a key listed in the file whose line allows this namespace (a
    /// `namespaces="a,b"` option, if present, must match it as an ssh pattern list), and
    /// valid at `at` if the line has `valid-after`/`valid-before` (`None`: now, as
    /// `ssh-keygen -Y verify` checks without `-Overify-time`). Returns the matching line's
    /// principals text on success. When the key is on several lines, the first line that
    /// accepts the signature wins; if none does, the first line's refusal is returned.
    pub fn verify(
        &self,
        message: &[u8],
        armored: &str,
        at: Option<SystemTime>,
    ) -> Result<String, SignatureProblem> {
        let signature = SshSig::from_pem(armored.trim_start()).map_err(|err| {
            SignatureProblem::NotSshSignature {
                reason: err.to_string(),
            }
        })?;
        if signature.namespace() != NAMESPACE {
            return Err(SignatureProblem::WrongNamespace {
                namespace: signature.namespace().to_owned(),
            });
        }
        let fingerprint = signature
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string();
        let mut listed = self
            .entries
            .iter()
            .filter(|entry| entry.key.key_data() == signature.public_key())
            .peekable();
        let Some(first) = listed.peek() else {
            return Err(SignatureProblem::UnknownKey { fingerprint });
        };
        match first.key.verify(NAMESPACE, message, &signature) {
            Ok(()) => {}
            Err(ssh_key::Error::AlgorithmUnsupported { .. }) => {
                return Err(SignatureProblem::UnsupportedAlgorithm {
                    fingerprint,
                    algorithm: first.key.algorithm().as_str().to_owned(),
                })
            }
            Err(_) => return Err(SignatureProblem::Mismatch),
        }
        let at = at.unwrap_or_else(SystemTime::now);
        let mut refusal = None;
        for entry in listed {
            match entry.accepts(at) {
                Ok(()) => return Ok(entry.principals.clone()),
                Err(problem) => {
                    refusal.get_or_insert(problem);
                }
            }
        }
        Err(refusal.unwrap_or(SignatureProblem::UnknownKey { fingerprint }))
    }
}

impl Entry {
    /// Whether this line lets its key sign in [`NAMESPACE`] at `at`.
    fn accepts(&self, at: SystemTime) -> Result<(), SignatureProblem> {
        if let Some(namespaces) = &self.namespaces {
            if !pattern_list_matches(NAMESPACE, namespaces) {
                return Err(SignatureProblem::NamespaceNotAllowed { line: self.line });
            }
        }
        // ssh-keygen compares whole seconds: valid at or after, at or before.
        let seconds = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let too_early = self.valid_after.is_some_and(|after| seconds < after);
        let too_late = self.valid_before.is_some_and(|before| seconds > before);
        if too_early || too_late {
            let time = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
            return Err(SignatureProblem::NotValidAtTime {
                line: self.line,
                at,
                valid_after: self.valid_after.map(time),
                valid_before: self.valid_before.map(time),
            });
        }
        Ok(())
    }
}

/// The layout of a line, for error messages.
const LINE_FORMAT: &str = "a line is `principals [options] keytype base64key [comment]`";

/// Parses line `line`: `None` for a blank or comment line, or a key flexform cannot read.
fn parse_line(line: usize, raw: &str) -> Result<Option<Entry>, LineError> {
    let text = raw.trim_start_matches([' ', '\t']);
    if text.trim_end().is_empty() || text.starts_with('#') {
        return Ok(None);
    }
    let (principals, rest) = principals_field(text)?;
    check_principals(&principals)?;
    if rest.trim_end().is_empty() {
        return Err(format!("no key after the principals `{principals}`: {LINE_FORMAT}").into());
    }
    // As ssh-keygen does: a key if the field reads as one, options otherwise.
    let (options, key) = match read_key(rest)? {
        KeyField::NotAKey => {
            let (options, after) = options_field(rest)?;
            let options = parse_options(options)?;
            match read_key(after)? {
                KeyField::NotAKey if after.trim_end().is_empty() => {
                    return Err(format!("no key after the options: {LINE_FORMAT}").into())
                }
                KeyField::NotAKey => {
                    let kind = after.split([' ', '\t']).next().unwrap_or_default();
                    return Err(format!("`{kind}` is not a key type: {LINE_FORMAT}").into());
                }
                found => (options, found),
            }
        }
        found => (LineOptions::default(), found),
    };
    Ok(match key {
        KeyField::Read(key) => Some(Entry {
            line,
            principals,
            key,
            namespaces: options.namespaces,
            valid_after: options.valid_after,
            valid_before: options.valid_before,
        }),
        KeyField::Unreadable | KeyField::NotAKey => None,
    })
}

/// The principals field, with ssh's quoting: a `"` starts a part that runs to the next `"`.
/// Returns the field and the rest of the line after the whitespace that follows it.
fn principals_field(text: &str) -> Result<(String, &str), String> {
    let mut field = String::new();
    for (at, c) in text.char_indices() {
        match c {
            ' ' | '\t' => return Ok((field, text[at..].trim_start_matches([' ', '\t']))),
            '"' => {
                let Some(end) = text[at + 1..].find('"') else {
                    return Err("the principals have no closing quote".to_owned());
                };
                field.push_str(&text[at + 1..at + 1 + end]);
                let after = &text[at + 1 + end + 1..];
                return Ok((field, after.trim_start_matches([' ', '\t'])));
            }
            _ => field.push(c),
        }
    }
    Ok((field, ""))
}

/// Principals are an ssh pattern list (`*`, `?`, `!` negation): flexform matches no identity
/// against them, but refuses a list with an empty pattern, which can match nothing.
fn check_principals(principals: &str) -> Result<(), String> {
    let empty = principals
        .split(',')
        .any(|pattern| pattern.strip_prefix('!').unwrap_or(pattern).is_empty());
    if empty {
        return Err(format!(
            "the principals `{principals}` have an empty pattern: write a comma-separated list \
             such as `ci@acme.example,*@ops.acme.example`"
        ));
    }
    Ok(())
}

/// What a `keytype base64key` field turned out to be.
enum KeyField {
    /// A key `ssh-key` reads.
    Read(PublicKey),
    /// A key of a type `ssh-key` does not know: skipped.
    Unreadable,
    /// Not a key (the options field, or nothing).
    NotAKey,
}

/// Reads `keytype base64key` at the start of `text`.
fn read_key(text: &str) -> Result<KeyField, String> {
    let mut words = text.split([' ', '\t']).filter(|word| !word.is_empty());
    let kind = words.next().unwrap_or_default();
    let known = matches!(kind.parse::<Algorithm>(), Ok(algorithm) if !matches!(algorithm, Algorithm::Other(_)));
    let Some(data) = words.next() else {
        if known {
            return Err(format!("the {kind} key has no base64 data: {LINE_FORMAT}"));
        }
        return Ok(KeyField::NotAKey);
    };
    match PublicKey::from_openssh(&format!("{kind} {data}")) {
        Ok(key) => Ok(KeyField::Read(key)),
        Err(err) if known => Err(format!("the {kind} key cannot be read: {err}")),
        // A type name and base64 data, where options would hold `=` or `"`: some key type
        // that ssh-key does not know, which ssh-keygen skips too.
        Err(_) if looks_like_key_type(kind) && looks_like_base64(data) => Ok(KeyField::Unreadable),
        Err(_) => Ok(KeyField::NotAKey),
    }
}

/// A word that could name a key type (`ssh-foo`, `foo@example.com`), not an option.
fn looks_like_key_type(word: &str) -> bool {
    !word.eq_ignore_ascii_case("cert-authority")
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

/// A word in base64, padded as OpenSSH writes key data.
fn looks_like_base64(word: &str) -> bool {
    let data = word.trim_end_matches('=');
    !data.is_empty()
        && word.len().is_multiple_of(4)
        && word.len() - data.len() <= 2
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
}

/// The options field: up to the first space or tab outside double quotes (`\"` is a quote
/// inside them). Returns it and the rest of the line after the whitespace that follows it.
fn options_field(text: &str) -> Result<(&str, &str), String> {
    let mut quoted = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => {
                return Ok((&text[..at], text[at..].trim_start_matches([' ', '\t'])))
            }
            _ => {}
        }
    }
    if quoted {
        return Err("an option value has no closing quote".to_owned());
    }
    Ok((text, ""))
}

/// The options of one line.
#[derive(Debug, Default)]
struct LineOptions {
    namespaces: Option<String>,
    valid_after: Option<u64>,
    valid_before: Option<u64>,
}

/// Parses comma-separated options (keywords case-insensitive, as in ssh-keygen).
fn parse_options(text: &str) -> Result<LineOptions, LineError> {
    let mut options = LineOptions::default();
    let mut rest = text;
    loop {
        let name_end = rest.find([',', '=']).unwrap_or(rest.len());
        let name = &rest[..name_end];
        let has_value = rest[name_end..].starts_with('=');
        if name.eq_ignore_ascii_case("cert-authority") && !has_value {
            return Err(LineError::CertificateAuthority);
        }
        let known = ["namespaces", "valid-after", "valid-before"]
            .into_iter()
            .find(|known| name.eq_ignore_ascii_case(known));
        let Some(keyword) = known.filter(|_| has_value) else {
            return Err(format!(
                "unknown option `{name}`: an allowed-signers line takes namespaces=\"…\", \
                 valid-after=\"…\" and valid-before=\"…\""
            )
            .into());
        };
        let (value, after) = dequote(keyword, &rest[name_end + 1..])?;
        let duplicate = match keyword {
            "namespaces" => options.namespaces.replace(value).is_some(),
            _ => {
                let seconds = parse_time(&value).ok_or_else(|| {
                    format!(
                        "invalid {keyword} time `{value}`: write YYYYMMDD or YYYYMMDDHHMM[SS], \
                         with Z for UTC, such as {keyword}=\"20250101Z\""
                    )
                })?;
                let slot = if keyword == "valid-after" {
                    &mut options.valid_after
                } else {
                    &mut options.valid_before
                };
                slot.replace(seconds).is_some()
            }
        };
        if duplicate {
            return Err(format!("the option {keyword} is given twice").into());
        }
        if after.is_empty() {
            break;
        }
        let Some(next) = after.strip_prefix(',') else {
            return Err(format!("unexpected `{after}` after the {keyword} option").into());
        };
        if next.is_empty() {
            return Err("the options end in a comma".to_owned().into());
        }
        rest = next;
    }
    if let (Some(after), Some(before)) = (options.valid_after, options.valid_before) {
        if before <= after {
            return Err("valid-before is not later than valid-after"
                .to_owned()
                .into());
        }
    }
    Ok(options)
}

/// A double-quoted option value (`\"` inside is a quote), and the text after it.
fn dequote<'a>(keyword: &str, text: &'a str) -> Result<(String, &'a str), String> {
    let Some(inner) = text.strip_prefix('"') else {
        let value = &text[..text.find(',').unwrap_or(text.len())];
        return Err(format!(
            "the value of {keyword} must be in double quotes, as ssh-keygen requires: \
             {keyword}=\"{value}\""
        ));
    };
    let mut value = String::new();
    let mut chars = inner.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' if inner[at + 1..].starts_with('"') => {
                value.push('"');
                chars.next();
            }
            '"' => return Ok((value, &inner[at + 1..])),
            _ => value.push(c),
        }
    }
    Err(format!("the value of {keyword} has no closing quote"))
}

/// An ssh pattern-list match (`match_pattern_list`): no negated pattern (`!p`) may match, and
/// some plain pattern must.
fn pattern_list_matches(text: &str, list: &str) -> bool {
    let mut positive = false;
    for pattern in list.split(',') {
        match pattern.strip_prefix('!') {
            Some(negated) if pattern_matches(text, negated) => return false,
            Some(_) => {}
            None => positive |= pattern_matches(text, pattern),
        }
    }
    positive
}

/// An ssh wildcard match: `*` is any run of characters, `?` any one character.
fn pattern_matches(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    let (mut t, mut p) = (0, 0);
    // Where the last `*` was, and the text position it is trying to match up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// An ssh-keygen timestamp (`YYYYMMDD`, `YYYYMMDDHHMM` or `YYYYMMDDHHMMSS`, optionally
/// ending in `Z` or `UTC`) in seconds since the Unix epoch, read as UTC. Out-of-range days
/// roll over as `mktime` does (20200230 is 1 March); times at or before the epoch are refused
/// as ssh-keygen refuses them.
fn parse_time(text: &str) -> Option<u64> {
    let upper = text.to_ascii_uppercase();
    let digits = upper
        .strip_suffix('Z')
        .or_else(|| upper.strip_suffix("UTC"))
        .unwrap_or(&upper);
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| digits.get(range)?.parse::<i64>().ok();
    let year = number(0..4)?;
    let month = number(4..6)?;
    let day = number(6..8)?;
    let hour = number(8..10).unwrap_or(0);
    let minute = number(10..12).unwrap_or(0);
    let second = number(12..14).unwrap_or(0);
    let in_range = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..=23).contains(&hour)
        && (0..=59).contains(&minute)
        && (0..=60).contains(&second);
    if !in_range {
        return None;
    }
    let days = days_from_civil(year, month, 1) + day - 1;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    u64::try_from(seconds).ok().filter(|&s| s > 0)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::private::{Ed25519Keypair, KeypairData};
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// A human's RSA key, and its signature (`ssh-keygen -Y sign -n flexform-history`) over
    /// "hello\n": made once with ssh-keygen, so that the unit tests need no tool.
    const RSA_PUBLIC: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC3+KsvrGFfTp74XPudrlPz70NluK5SCyRoKtiVRWuQMEo1pXhtZu9ISap5VhmBNybOkxCEqo3a0+8XhYC0EGh/lcahDOdCuf213yH5b34Qc5DoFRIZn+Ou8V9f5wbkpY7nJUQYGNrZ+RLQaUt0CphgShAGW9LErLaLljJE2VxwfjcwmdxiX9CUcEXLVhsP703dcTAhl0M+bSluAH3RsQADZFm+83NH6NcYqk7bqoITugn1DJVOpZbDw1nNklAHDHczifgEwDuhnw89MSQa+qJ7ABnhFAXM3+pFIP7/3l/22hiNZ1zati/V78SBTuGp5IvNL4Qn3c5mL/N4daHp7N9F human@acme";
    const RSA_SIGNATURE: &str = "-----BEGIN SSH SIGNATURE-----
U1NIU0lHAAAAAQAAARcAAAAHc3NoLXJzYQAAAAMBAAEAAAEBALf4qy+sYV9Onvhc+52uU/
PvQ2W4rlILJGgq2JVFa5AwSjWleG1m70hJqnlWGYE3Js6TEISqjdrT7xeFgLQQaH+VxqEM
50K5/bXfIflvfhBzkOgVEhmf467xX1/nBuSljuclRBgY2tn5EtBpS3QKmGBKEAZb0sSsto
uWMkTZXHB+NzCZ3GJf0JRwRctWGw/vTd1xMCGXQz5tKW4AfdGxAANkWb7zc0fo1xiqTtuq
ghO6CfUMlU6llsPDWc2SUAcMdzOJ+ATAO6GfDz0xJBr6onsAGeEUBczf6kUg/v/eX/baGI
1nXNq2L9XvxIFO4anki80vhCfdzmYv83h1oens30UAAAAQZmxleGZvcm0taGlzdG9yeQAA
AAAAAAAGc2hhNTEyAAABFAAAAAxyc2Etc2hhMi01MTIAAAEAY35ucQzI/349J2WFWa4IwV
NJTkKAbX0NecoJzbnvmqbjcOWdVFeFNNNEkwxvroN8os76yKNImGuWnn9bz3jbcg1xMEP3
nXIo+MzxyOque8fgb7Wmj7vaHSIJPiOn09hzCX1V4qXxo+lBNVZ6eCduzAOR1QKDbpNtj2
QPkSqI98q1r+9ynp/bmrEJHF7qdSeer8OkP6Dg9nu+awf2yCia0/r3s0m7IT2SR9wsn4lj
xS743kJvKVceyGL6YkD0MChf8x7xvAqBRgyxRVuq9JTYkDTiolQi5wAyK1bGXq8R3s5+qJ
8QbqYS53XveQGge811mZJpjBhKsLDiLhHGZxPqMA==
-----END SSH SIGNATURE-----
";
    const ECDSA_PUBLIC: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOJWker3mO+oIaVLUZ5LhnQlcOqz/4y6ELlAkYe0EyVWFUOGYR05dzZtm1/7pZduLG5duXInTSJW0Z+38VUYhqw= ec@acme";
    /// A key of a type no one knows (`ssh-foo`, data `abcd`): skipped.
    const UNKNOWN_PUBLIC: &str = "ssh-foo AAAAB3NzaC1mb28AAAAEYWJjZA== someone";
    /// A key of a vendor's type (`foo@example.com`, data `abcd`): read as an opaque key.
    const VENDOR_PUBLIC: &str = "foo@example.com AAAAD2Zvb0BleGFtcGxlLmNvbQAAAARhYmNk";

    /// A deterministic Ed25519 private key.
    fn private_key(seed: u8) -> PrivateKey {
        let pair = Ed25519Keypair::from_seed(&[seed; 32]);
        PrivateKey::new(KeypairData::Ed25519(pair), format!("key{seed}@test")).unwrap()
    }

    /// The key of `seed`, written as an OpenSSH file and loaded as flexform loads it.
    fn signing_key(dir: &Path, seed: u8) -> SigningKey {
        let path = dir.join(format!("key{seed}"));
        let pem = private_key(seed).to_openssh(LineEnding::LF).unwrap();
        std::fs::write(&path, pem.as_bytes()).unwrap();
        SigningKey::load(&path).unwrap()
    }

    /// `ssh-ed25519 AAAA…` of the key of `seed`.
    fn public_line(seed: u8) -> String {
        private_key(seed).public_key().to_openssh().unwrap()
    }

    fn allowed(text: &str) -> AllowedSigners {
        AllowedSigners::parse(Path::new("allowed_signers"), text).unwrap()
    }

    fn parse_error(text: &str) -> String {
        AllowedSigners::parse(Path::new("allowed_signers"), text)
            .unwrap_err()
            .to_string()
    }

    fn seconds(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_signature_verifies_against_an_allowed_signers_line() {
        let dir = tempfile::tempdir().unwrap();
        let key = signing_key(dir.path(), 1);
        let armored = key.sign(b"entry").unwrap();
        assert!(
            armored.starts_with("-----BEGIN SSH SIGNATURE-----\n"),
            "{armored}"
        );
        assert!(
            armored.ends_with("-----END SSH SIGNATURE-----\n"),
            "{armored}"
        );
        assert!(!armored.contains('\r'));
        let file = allowed(&format!(
            "ci@acme namespaces=\"{NAMESPACE}\" {}\n",
            public_line(1)
        ));
        assert_eq!(file.verify(b"entry", &armored, None).unwrap(), "ci@acme");
    }

    #[test]
    fn a_signature_by_another_key_is_refused_naming_its_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let other = signing_key(dir.path(), 2);
        let armored = other.sign(b"entry").unwrap();
        let file = allowed(&format!("ci@acme {}\n", public_line(1)));
        let problem = file.verify(b"entry", &armored, None).unwrap_err();
        assert_eq!(
            problem,
            SignatureProblem::UnknownKey {
                fingerprint: other.fingerprint()
            }
        );
        assert!(other.fingerprint().starts_with("SHA256:"));
        assert_eq!(
            problem.to_string(),
            format!(
                "signed by {}, a key not in the allowed signers file",
                other.fingerprint()
            )
        );
    }

    #[test]
    fn a_changed_message_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let armored = signing_key(dir.path(), 1).sign(b"entry").unwrap();
        let file = allowed(&format!("ci@acme {}\n", public_line(1)));
        let problem = file.verify(b"entrY", &armored, None).unwrap_err();
        assert_eq!(problem, SignatureProblem::Mismatch);
        assert_eq!(
            problem.to_string(),
            "the signature does not match the entry's bytes"
        );
    }

    #[test]
    fn a_signature_for_another_namespace_is_refused() {
        let armored = private_key(1)
            .sign("file", HashAlg::Sha512, b"entry")
            .unwrap()
            .to_pem(LineEnding::LF)
            .unwrap();
        let file = allowed(&format!("ci@acme {}\n", public_line(1)));
        let problem = file.verify(b"entry", &armored, None).unwrap_err();
        assert_eq!(
            problem,
            SignatureProblem::WrongNamespace {
                namespace: "file".to_owned()
            }
        );
        assert_eq!(
            problem.to_string(),
            "signed for namespace `file`, not `flexform-history`"
        );
    }

    #[test]
    fn text_that_is_no_signature_is_refused() {
        let file = allowed(&format!("ci@acme {}\n", public_line(1)));
        let problem = file.verify(b"entry", "hello", None).unwrap_err();
        assert!(
            matches!(problem, SignatureProblem::NotSshSignature { .. }),
            "{problem:?}"
        );
        assert!(problem.to_string().starts_with("not an SSH signature: "));
    }

    #[test]
    fn the_namespaces_option_must_allow_ours() {
        let dir = tempfile::tempdir().unwrap();
        let armored = signing_key(dir.path(), 1).sign(b"entry").unwrap();
        let key = public_line(1);
        for refused in ["file,git", "!flexform-*,*", "flexform", ""] {
            let text = format!("# a comment\nci@acme namespaces=\"{refused}\" {key}\n");
            let problem = allowed(&text).verify(b"entry", &armored, None).unwrap_err();
            assert_eq!(
                problem,
                SignatureProblem::NamespaceNotAllowed { line: 2 },
                "{refused}"
            );
            assert_eq!(
                problem.to_string(),
                "the key's allowed-signers line 2 does not allow namespace flexform-history"
            );
        }
        for accepted in [
            "file,flexform-history",
            "flexform-*",
            "*",
            "?lexform-histor?",
        ] {
            let text = format!("ci@acme NameSpaces=\"{accepted}\" {key}\n");
            assert_eq!(
                allowed(&text).verify(b"entry", &armored, None),
                Ok("ci@acme".to_owned()),
                "{accepted}"
            );
        }
    }

    #[test]
    fn a_later_line_for_the_same_key_can_accept() {
        let dir = tempfile::tempdir().unwrap();
        let armored = signing_key(dir.path(), 1).sign(b"entry").unwrap();
        let key = public_line(1);
        let text = format!(
            "git@acme namespaces=\"git\" {key}\nci@acme namespaces=\"{NAMESPACE}\" {key}\n"
        );
        assert_eq!(
            allowed(&text).verify(b"entry", &armored, None).unwrap(),
            "ci@acme"
        );
    }

    #[test]
    fn principals_with_patterns_and_quotes_parse() {
        let dir = tempfile::tempdir().unwrap();
        let armored = signing_key(dir.path(), 1).sign(b"entry").unwrap();
        let key = public_line(1);
        for (field, principals) in [
            ("*", "*"),
            (
                "*@acme.example,!mallory@acme.example",
                "*@acme.example,!mallory@acme.example",
            ),
            ("ci?@acme", "ci?@acme"),
            ("\"ci@acme,ops team\"", "ci@acme,ops team"),
        ] {
            let text = format!("{field}\t{key} a comment\n");
            assert_eq!(
                allowed(&text).verify(b"entry", &armored, None).unwrap(),
                principals
            );
        }
    }

    #[test]
    fn comments_blank_lines_and_other_key_types_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let armored = signing_key(dir.path(), 1).sign(b"entry").unwrap();
        let text = format!(
            "# allowed signers for the audit trail\n\
             \n   \n\
             \t# an indented comment\r\n\
             human@acme {RSA_PUBLIC}\n\
             ec@acme namespaces=\"git,file\" {ECDSA_PUBLIC}\n\
             someone@acme {UNKNOWN_PUBLIC}\n\
             * {VENDOR_PUBLIC}\n\
             ci@acme {}\r\n",
            public_line(1)
        );
        let file = allowed(&text);
        // RSA, ECDSA and the vendor's type are read; the unknown type is skipped.
        let lines: Vec<usize> = file.entries.iter().map(|entry| entry.line).collect();
        assert_eq!(lines, [5, 6, 8, 9]);
        assert_eq!(file.entries[0].key.algorithm().as_str(), "ssh-rsa");
        assert_eq!(file.verify(b"entry", &armored, None).unwrap(), "ci@acme");
    }

    #[test]
    fn an_rsa_signature_is_reported_as_unchecked_not_as_forged() {
        let file = allowed(&format!("human@acme {RSA_PUBLIC}\n"));
        let problem = file.verify(b"hello\n", RSA_SIGNATURE, None).unwrap_err();
        let SignatureProblem::UnsupportedAlgorithm {
            fingerprint,
            algorithm,
        } = &problem
        else {
            panic!("{problem:?}");
        };
        assert_eq!(algorithm, "ssh-rsa");
        assert!(fingerprint.starts_with("SHA256:"));
        assert!(
            problem.to_string().contains("ssh-keygen -Y verify"),
            "{problem}"
        );
        // Not listed: the usual refusal.
        let other = allowed(&format!("ci@acme {}\n", public_line(1)));
        assert!(matches!(
            other.verify(b"hello\n", RSA_SIGNATURE, None),
            Err(SignatureProblem::UnknownKey { .. })
        ));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let key = public_line(1);
        let cases = [
            (
                "# ok\n\nci@acme\n".to_owned(),
                "allowed_signers:3: no key after the principals",
            ),
            (
                format!("\nci@acme cert-authority {key}\n"),
                "allowed_signers:2: certificate authorities (`cert-authority`) are not supported",
            ),
            (
                format!("ci@acme namespaces=flexform-history {key}\n"),
                "allowed_signers:1: the value of namespaces must be in double quotes, as \
                 ssh-keygen requires: namespaces=\"flexform-history\"",
            ),
            (
                format!("ci@acme no-touch-required {key}\n"),
                "allowed_signers:1: unknown option `no-touch-required`",
            ),
            (
                format!("ci@acme valid-after=\"2025\" {key}\n"),
                "allowed_signers:1: invalid valid-after time `2025`",
            ),
            (
                format!("ci@acme valid-after=\"20250101\",valid-before=\"20240101\" {key}\n"),
                "allowed_signers:1: valid-before is not later than valid-after",
            ),
            (
                format!("ci@acme namespaces=\"a\",namespaces=\"b\" {key}\n"),
                "allowed_signers:1: the option namespaces is given twice",
            ),
            (
                format!("ci@acme namespaces=\"a\", {key}\n"),
                "allowed_signers:1: the options end in a comma",
            ),
            (
                format!("ci@acme namespaces=\"a {key}\n"),
                "allowed_signers:1: an option value has no closing quote",
            ),
            (
                "ci@acme ssh-ed25519 AAAA!!\n".to_owned(),
                "allowed_signers:1: the ssh-ed25519 key cannot be read",
            ),
            (
                format!("ci@acme ssh-rsa {}\n", &key["ssh-ed25519 ".len()..]),
                "allowed_signers:1: the ssh-rsa key cannot be read",
            ),
            (
                "ci@acme ssh-ed25519\n".to_owned(),
                "allowed_signers:1: the ssh-ed25519 key has no base64 data",
            ),
            (
                "ci@acme namespaces=\"x\"\n".to_owned(),
                "allowed_signers:1: no key after the options",
            ),
            (
                "ci@acme,,ops@acme x\n".to_owned(),
                "allowed_signers:1: the principals `ci@acme,,ops@acme` have an empty pattern",
            ),
        ];
        for (text, expected) in cases {
            let message = parse_error(&text);
            assert!(message.starts_with(expected), "{text:?}: {message}");
        }
    }

    #[test]
    fn option_values_may_hold_commas_and_escaped_quotes() {
        let key = public_line(1);
        let file = allowed(&format!(
            "ci@acme valid-after=\"20200101Z\",namespaces=\"git,{NAMESPACE}\",valid-before=\"20990101\" {key}\n\
             ops@acme namespaces=\"a\\\"b,c\" {key}\n"
        ));
        assert_eq!(
            file.entries[0].namespaces.as_deref(),
            Some("git,flexform-history")
        );
        assert_eq!(file.entries[0].valid_after, Some(1_577_836_800));
        assert_eq!(file.entries[1].namespaces.as_deref(), Some("a\"b,c"));
    }

    #[test]
    fn the_validity_window_is_checked_at_the_given_time() {
        let dir = tempfile::tempdir().unwrap();
        let armored = signing_key(dir.path(), 1).sign(b"entry").unwrap();
        let file = allowed(&format!(
            "ci@acme valid-after=\"20250101Z\",valid-before=\"20251231235959Z\" {}\n",
            public_line(1)
        ));
        let start = 1_735_689_600; // 2025-01-01T00:00:00Z
        let end = 1_767_225_599; // 2025-12-31T23:59:59Z
        for inside in [start, start + 1, end] {
            assert!(file
                .verify(b"entry", &armored, Some(seconds(inside)))
                .is_ok());
        }
        // Whole seconds, as ssh-keygen compares them.
        let just_inside = seconds(end) + Duration::from_millis(500);
        assert!(file.verify(b"entry", &armored, Some(just_inside)).is_ok());
        for outside in [start - 1, end + 1] {
            let problem = file
                .verify(b"entry", &armored, Some(seconds(outside)))
                .unwrap_err();
            assert!(
                matches!(problem, SignatureProblem::NotValidAtTime { line: 1, .. }),
                "{problem:?}"
            );
            assert!(
                problem
                    .to_string()
                    .starts_with("the key is not valid at that time: checked at "),
                "{problem}"
            );
        }
        // No time given: now, which is after 2025.
        assert!(matches!(
            file.verify(b"entry", &armored, None),
            Err(SignatureProblem::NotValidAtTime { .. })
        ));
        let problem = file
            .verify(b"entry", &armored, Some(seconds(end + 1)))
            .unwrap_err();
        assert_eq!(
            problem.to_string(),
            "the key is not valid at that time: checked at 2026-01-01T00:00:00Z, valid from \
             2025-01-01T00:00:00Z to 2025-12-31T23:59:59Z (line 1)"
        );
    }

    #[test]
    fn timestamps_read_as_ssh_keygen_reads_them() {
        assert_eq!(parse_time("20200101"), Some(1_577_836_800));
        assert_eq!(parse_time("20200101Z"), Some(1_577_836_800));
        assert_eq!(parse_time("20200101utc"), Some(1_577_836_800));
        assert_eq!(parse_time("202001011230"), Some(1_577_881_800));
        assert_eq!(parse_time("20200101123045z"), Some(1_577_881_845));
        assert_eq!(parse_time("20240229"), Some(1_709_164_800));
        // mktime's roll-over: 30 February 2020 is 1 March.
        assert_eq!(parse_time("20200230"), parse_time("20200301"));
        for refused in [
            "2020010112",
            "2020-01-01",
            "20201301",
            "20200100",
            "202001012400",
            "19700101Z",
            "19691231",
            "",
            "Z",
        ] {
            assert_eq!(parse_time(refused), None, "{refused}");
        }
    }

    #[test]
    fn pattern_lists_match_as_ssh_matches_them() {
        assert!(pattern_matches("flexform-history", "flex*"));
        assert!(pattern_matches("flexform-history", "*history"));
        assert!(pattern_matches("flexform-history", "f*-h?story"));
        assert!(pattern_matches("", "*"));
        assert!(!pattern_matches("flexform-history", "flex"));
        assert!(!pattern_matches("flexform-history", "?"));
        assert!(pattern_list_matches(
            "flexform-history",
            "git,flexform-history"
        ));
        assert!(!pattern_list_matches(
            "flexform-history",
            "*,!flexform-history"
        ));
        assert!(!pattern_list_matches("flexform-history", "!git"));
    }

    #[test]
    fn debug_shows_the_fingerprint_and_no_key_material() {
        let dir = tempfile::tempdir().unwrap();
        let key = signing_key(dir.path(), 7);
        let debug = format!("{key:?}");
        assert_eq!(
            debug,
            format!("SigningKey {{ fingerprint: {:?}, .. }}", key.fingerprint())
        );
        let pem = private_key(7).to_openssh(LineEnding::LF).unwrap();
        for line in pem.lines().filter(|line| !line.starts_with("-----")) {
            assert!(!debug.contains(&line[..16]), "{debug}");
        }
        assert!(!debug.contains("07070707"), "{debug}");
    }

    #[test]
    fn load_refuses_missing_files_and_public_keys() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = SigningKey::load(&missing).unwrap_err();
        assert!(matches!(err, SigningError::ReadKey { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&*missing.to_string_lossy()),
            "{err}"
        );

        let public = dir.path().join("key.pub");
        std::fs::write(&public, format!("{}\n", public_line(1))).unwrap();
        let err = SigningKey::load(&public).unwrap_err().to_string();
        assert!(err.contains("is not an OpenSSH private key"), "{err}");
        assert!(err.contains("looks like a public key"), "{err}");

        let binary = dir.path().join("key.der");
        std::fs::write(&binary, [0x30, 0x82, 0xff, 0xfe]).unwrap();
        let err = SigningKey::load(&binary).unwrap_err().to_string();
        assert!(
            err.contains("is not an OpenSSH private key (it is not text)"),
            "{err}"
        );
    }

    /// ssh-keygen, or `None` (after saying so) where it is missing outside CI.
    fn ssh_keygen() -> Option<PathBuf> {
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("ssh-keygen"))
                .find(|path| path.is_file())
        });
        let found = on_path
            .or_else(|| Some(PathBuf::from("/usr/bin/ssh-keygen")).filter(|path| path.is_file()));
        if found.is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "ssh-keygen not found: CI must install it (scripts/components.sh installs \
                 openssh-client)"
            );
            let _ = writeln!(std::io::stderr(), "skipped: ssh-keygen not found");
        }
        found
    }

    /// Runs ssh-keygen with `args`, failing the test if it fails.
    fn run(tool: &Path, args: &[&str]) {
        let output = Command::new(tool).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "ssh-keygen {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `ssh-keygen -t ed25519 -N '' -C ci@acme -f DIR/key -q`.
    fn generate(tool: &Path, dir: &Path) -> PathBuf {
        let key = dir.join("key");
        let key_arg = key.to_str().unwrap();
        run(
            tool,
            &[
                "-t", "ed25519", "-N", "", "-C", "ci@acme", "-f", key_arg, "-q",
            ],
        );
        key
    }

    /// `ci@acme ssh-ed25519 AAAA… ci@acme`, from the key's `.pub` file.
    fn allowed_line(key: &Path) -> String {
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        format!("ci@acme {}", public.trim_end())
    }

    /// Runs exactly `ssh-keygen -Y verify -f ALLOWED -I ci@acme -n flexform-history -s SIG`
    /// with `message` on stdin; true if it exits 0.
    fn stock_verify(tool: &Path, allowed: &Path, signature: &Path, message: &[u8]) -> bool {
        let mut child = Command::new(tool)
            .args(["-Y", "verify", "-f"])
            .arg(allowed)
            .args(["-I", "ci@acme", "-n", "flexform-history", "-s"])
            .arg(signature)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(message).unwrap();
        child.wait_with_output().unwrap().status.success()
    }

    #[test]
    fn stock_ssh_keygen_verifies_our_signature() {
        let Some(tool) = ssh_keygen() else { return };
        let dir = tempfile::tempdir().unwrap();
        let key_path = generate(&tool, dir.path());
        let key = SigningKey::load(&key_path).unwrap();

        let message = b"{\"seq\":1,\"command\":\"apply\"}\n";
        let message_path = dir.path().join("entry.json");
        std::fs::write(&message_path, message).unwrap();
        let signature = dir.path().join("entry.json.sig");
        std::fs::write(&signature, key.sign(message).unwrap()).unwrap();
        let allowed = dir.path().join("allowed_signers");
        let line = allowed_line(&key_path);
        std::fs::write(&allowed, format!("{line}\n")).unwrap();

        let read_back = std::fs::read(&message_path).unwrap();
        assert!(stock_verify(&tool, &allowed, &signature, &read_back));
        assert!(!stock_verify(&tool, &allowed, &signature, b"{\"seq\":2}\n"));

        // The fingerprint is the one `ssh-keygen -l` prints.
        let listed = Command::new(&tool)
            .arg("-l")
            .arg("-f")
            .arg(&key_path)
            .output()
            .unwrap();
        let listed = String::from_utf8(listed.stdout).unwrap();
        assert_eq!(
            listed.split(' ').nth(1),
            Some(key.fingerprint().as_str()),
            "{listed}"
        );
    }

    #[test]
    fn a_signature_by_stock_ssh_keygen_verifies() {
        let Some(tool) = ssh_keygen() else { return };
        let dir = tempfile::tempdir().unwrap();
        let key_path = generate(&tool, dir.path());
        let message = b"{\"seq\":1,\"command\":\"import\"}\n";
        let message_path = dir.path().join("entry.json");
        std::fs::write(&message_path, message).unwrap();
        run(
            &tool,
            &[
                "-Y",
                "sign",
                "-f",
                key_path.to_str().unwrap(),
                "-n",
                "flexform-history",
                message_path.to_str().unwrap(),
            ],
        );
        let armored = std::fs::read_to_string(dir.path().join("entry.json.sig")).unwrap();
        let file = allowed(&format!(
            "{}\n",
            allowed_line(&key_path).replacen(" ", " namespaces=\"flexform-*\" ", 1)
        ));
        assert_eq!(file.verify(message, &armored, None).unwrap(), "ci@acme");
        assert_eq!(
            file.verify(b"{\"seq\":1}\n", &armored, None),
            Err(SignatureProblem::Mismatch)
        );
    }

    #[test]
    fn encrypted_and_rsa_keys_are_refused_with_advice() {
        let Some(tool) = ssh_keygen() else { return };
        let dir = tempfile::tempdir().unwrap();
        let encrypted = dir.path().join("encrypted");
        let encrypted_arg = encrypted.to_str().unwrap();
        run(
            &tool,
            &["-t", "ed25519", "-N", "secret", "-f", encrypted_arg, "-q"],
        );
        let err = SigningKey::load(&encrypted).unwrap_err();
        assert!(matches!(err, SigningError::Encrypted { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "decrypt it with `ssh-keygen -p -N '' -f {encrypted_arg}`"
            )),
            "{text}"
        );
        assert!(
            text.contains("store the unencrypted key in the CI secret"),
            "{text}"
        );

        let rsa = dir.path().join("rsa");
        let rsa_arg = rsa.to_str().unwrap();
        run(
            &tool,
            &["-t", "rsa", "-b", "2048", "-N", "", "-f", rsa_arg, "-q"],
        );
        let err = SigningKey::load(&rsa).unwrap_err();
        assert!(
            matches!(&err, SigningError::NotEd25519 { algorithm, .. } if algorithm == "ssh-rsa"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("generate one with `ssh-keygen -t ed25519`"),
            "{err}"
        );
    }
}
