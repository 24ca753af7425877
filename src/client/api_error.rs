//! `ApiError`: every way a Flex API call can fail, with the request, HTTP status and Twilio code.

use std::time::Duration;

use serde::Deserialize;

/// A failed Flex API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Twilio answered with an error body (any of its three shapes).
    #[error("Twilio API error {} (HTTP {status}) on {method} {path}: {message}{}{}",
        code.map_or_else(|| "-".to_owned(), |c| c.to_string()),
        more_info.as_ref().map_or_else(String::new, |u| format!(" ({u})")),
        hint(*status))]
    Twilio {
        /// Request method.
        method: &'static str,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Twilio error code, when the body has one.
        code: Option<u32>,
        /// Twilio's message.
        message: String,
        /// Link to Twilio's error documentation.
        more_info: Option<String>,
    },
    /// An error status with a body that is not a Twilio error (a proxy's HTML page, nothing).
    #[error("HTTP {status_line} on {method} {path}{}", hint(*status))]
    Http {
        /// Request method.
        method: &'static str,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Status code and reason, e.g. `502 Bad Gateway`.
        status_line: String,
    },
    /// A success status with a body that is not what the API documents.
    #[error("unexpected response to {method} {path} (HTTP {status}): {reason}; body: {excerpt:?}")]
    InvalidResponse {
        /// Request method.
        method: &'static str,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// What was wrong.
        reason: String,
        /// At most 200 characters of the body.
        excerpt: String,
    },
    /// No answer within the request timeout (reads: after every retry).
    #[error("{method} {path} timed out after {}", humantime::format_duration(*after))]
    Timeout {
        /// Request method.
        method: &'static str,
        /// Request path.
        path: String,
        /// The timeout.
        after: Duration,
    },
    /// The endpoint is not a usable URL.
    #[error("invalid endpoint {endpoint:?}: {reason}; pass an http:// or https:// URL with --endpoint or FLEXFORM_ENDPOINT")]
    InvalidEndpoint {
        /// What was given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached.
    #[error("cannot connect to {endpoint} for {method} {path}: {reason}; check --endpoint and the network")]
    Connect {
        /// Request method.
        method: &'static str,
        /// Request path.
        path: String,
        /// Base URL.
        endpoint: String,
        /// The underlying cause.
        reason: String,
    },
    /// The server's TLS certificate is not signed by a CA this machine trusts.
    #[error("cannot verify the TLS certificate of {host} ({reason}): {hint}")]
    Untrusted {
        /// The host.
        host: String,
        /// What TLS said.
        reason: String,
        /// What to do.
        hint: &'static str,
    },
    /// The connection broke after the request was sent (reads: after every retry).
    #[error("connection to {endpoint} was lost during {method} {path}: {reason}")]
    ConnectionLost {
        /// Request method.
        method: &'static str,
        /// Request path.
        path: String,
        /// Base URL.
        endpoint: String,
        /// The underlying cause.
        reason: String,
    },
    /// A create may or may not have taken effect (5xx, timeout or lost connection after the
    /// request was sent). Never retried blindly: resolved by discovery.
    #[error(
        "outcome of {method} {path} is unknown ({cause}): {}",
        what_may_have_happened(path)
    )]
    OutcomeUnknown {
        /// Request method.
        method: &'static str,
        /// Request path.
        path: String,
        /// What happened.
        cause: String,
        /// What came back, if anything.
        answer: Answer,
    },
    /// The request was not sent (again): a stop was requested, or its send window ended while
    /// it waited. Every earlier attempt was answered 429 or never connected, so nothing was
    /// created.
    #[error("{method} {path} was not sent: {reason}; nothing was created")]
    NotSent {
        /// Request method.
        method: &'static str,
        /// Request path.
        path: String,
        /// Why.
        reason: String,
    },
}

/// What came back for a POST whose outcome is unknown: the answer class decides how long
/// apply waits before it looks (README, "Guarantees").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Nothing: the request timed out or its connection broke after it was written, so it may
    /// still be on its way.
    None,
    /// An error status from Twilio (its error body), with its code.
    Twilio {
        /// HTTP status.
        status: u16,
        /// Twilio error code.
        code: Option<u32>,
    },
    /// An error status whose body is not Twilio's: a gateway's or proxy's page, or nothing.
    Gateway {
        /// HTTP status.
        status: u16,
        /// The body is an HTML page.
        html: bool,
    },
    /// A success status whose body could not be read.
    Unreadable {
        /// HTTP status.
        status: u16,
    },
}

impl Answer {
    /// An answer came back: the request is over at the client's end.
    pub fn answered(self) -> bool {
        self != Answer::None
    }

    /// The class of an error answer with this `status` and `body`.
    pub(crate) fn of_error(status: u16, body: &[u8], code: Option<u32>, twilio: bool) -> Self {
        if twilio {
            Answer::Twilio { status, code }
        } else {
            let head = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
            Answer::Gateway {
                status,
                html: head.contains("<html") || head.contains("<!doctype html"),
            }
        }
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::None => f.write_str("no answer"),
            Answer::Twilio {
                status,
                code: Some(code),
            } => write!(f, "HTTP {status} with Twilio code {code}"),
            Answer::Twilio { status, code: None } => write!(f, "HTTP {status} from Twilio"),
            Answer::Gateway { status, html: true } => write!(f, "HTML {status} from a gateway"),
            Answer::Gateway {
                status,
                html: false,
            } => write!(f, "HTTP {status} without a Twilio error body"),
            Answer::Unreadable { status } => {
                write!(f, "HTTP {status} with a body that could not be read")
            }
        }
    }
}

impl ApiError {
    /// What came back for this error's request, when it is an unknown outcome.
    pub fn answer(&self) -> Option<Answer> {
        match self {
            ApiError::OutcomeUnknown { answer, .. } => Some(*answer),
            _ => None,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Twilio { status, .. }
            | ApiError::Http { status, .. }
            | ApiError::InvalidResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The Twilio error code, when the answer had one.
    pub fn code(&self) -> Option<u32> {
        match self {
            ApiError::Twilio { code, .. } => *code,
            _ => None,
        }
    }

    /// The create was refused because what it would create exists already: a 409, or a 400
    /// whose Twilio code says so (the Plugins API does not document which it answers for a
    /// second plugin with one `UniqueName` or a second `Version` of one plugin). The caller
    /// looks the existing resource up.
    pub fn is_already_exists(&self) -> bool {
        match self.status() {
            Some(409) => true,
            Some(400) => self
                .code()
                .is_some_and(|code| ALREADY_EXISTS_CODES.contains(&code)),
            _ => false,
        }
    }
}

/// Twilio error codes that mean "already exists": 20409 (conflict, the code of a duplicate
/// in the Plugins API's simulator).
const ALREADY_EXISTS_CODES: &[u32] = &[20409];

/// What the user can do about common statuses.
fn hint(status: u16) -> &'static str {
    match status {
        401 => "; check the credentials for this instance (key and secret variables)",
        403 => "; the credentials are valid but may not act on this account: use the account's own API key",
        429 => "; Twilio is rate limiting: lower --parallelism or try again later",
        _ => "",
    }
}

/// All three Twilio error shapes, read permissively.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    code: Option<u32>,
    message: Option<String>,
    more_info: Option<String>,
    #[serde(default)]
    errors: Vec<NewErrorItem>,
}

#[derive(Debug, Deserialize)]
struct NewErrorItem {
    code: Option<u32>,
    message: Option<String>,
    #[serde(rename = "infoUrl")]
    info_url: Option<String>,
}

/// Builds the error for a non-success answer, from whatever its body holds.
pub(crate) fn from_response(
    method: &'static str,
    path: &str,
    status: reqwest::StatusCode,
    body: &[u8],
) -> ApiError {
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        let (code, message, more_info) = match parsed.errors.into_iter().next() {
            Some(item) if parsed.code.is_none() => (item.code, item.message, item.info_url),
            _ => (parsed.code, parsed.message, parsed.more_info),
        };
        if code.is_some() || message.is_some() {
            let more_info = more_info
                .or_else(|| code.map(|c| format!("https://www.twilio.com/docs/errors/{c}")));
            return ApiError::Twilio {
                method,
                path: path.to_owned(),
                status: status.as_u16(),
                code,
                message: message
                    .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned()),
                more_info,
            };
        }
    }
    ApiError::Http {
        method,
        path: path.to_owned(),
        status: status.as_u16(),
        status_line: format!(
            "{} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned(),
    }
}

/// At most 200 characters of a body, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body).chars().take(200).collect()
}

/// What an unanswered POST may have done, by the resource it was sent to.
fn what_may_have_happened(path: &str) -> &'static str {
    if path == "/v1/Configuration" {
        "the configuration may have been changed; `flexform plan` shows where it stands"
    } else if let Some(resource) = path.strip_prefix("/v1/PluginService/") {
        if resource.starts_with("Releases") {
            "the release may have been created and made active"
        } else if resource.starts_with("Configurations") {
            "the plugin configuration may have been created"
        } else if resource.ends_with("/Versions") {
            "the plugin version may have been created"
        } else {
            "the plugin may have been created"
        }
    } else {
        "the instance may have been created"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn classic_shape() {
        let body = br#"{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}"#;
        let err = from_response("GET", "/v2/Instances/GO1", StatusCode::UNAUTHORIZED, body);
        assert!(err.to_string().starts_with(
            "Twilio API error 20003 (HTTP 401) on GET /v2/Instances/GO1: Authenticate (https://www.twilio.com/docs/errors/20003)"
        ), "{err}");
    }

    #[test]
    fn api_standards_v1_shape() {
        let body = br#"{"code": 20404, "message": "Not found", "httpStatusCode": 404, "params": {}, "userError": true}"#;
        let err = from_response("GET", "/v1/Configuration", StatusCode::NOT_FOUND, body);
        assert_eq!(err.code(), Some(20404));
        assert_eq!(
            err.to_string(),
            "Twilio API error 20404 (HTTP 404) on GET /v1/Configuration: Not found (https://www.twilio.com/docs/errors/20404)"
        );
    }

    #[test]
    fn newer_shape() {
        let body = br#"{"errors": [{"code": 45780, "message": "Too many concurrent requests", "infoUrl": "https://www.twilio.com/docs/errors/45780", "context": {}}]}"#;
        let err = from_response("POST", "/v2/Instances", StatusCode::TOO_MANY_REQUESTS, body);
        assert_eq!(err.code(), Some(45780));
        assert!(err
            .to_string()
            .contains("Too many concurrent requests (https://www.twilio.com/docs/errors/45780)"));
    }

    #[test]
    fn already_exists_is_a_409_or_a_400_with_a_duplicate_code() {
        let path = "/v1/PluginService/Plugins";
        let twilio = |status: StatusCode, code: u32| {
            let body = format!(
                r#"{{"code": {code}, "message": "exists", "status": {}}}"#,
                status.as_u16()
            );
            from_response("POST", path, status, body.as_bytes())
        };
        assert!(twilio(StatusCode::CONFLICT, 20409).is_already_exists());
        assert!(twilio(StatusCode::CONFLICT, 20001).is_already_exists());
        assert!(from_response("POST", path, StatusCode::CONFLICT, b"").is_already_exists());
        assert!(twilio(StatusCode::BAD_REQUEST, 20409).is_already_exists());
        assert!(!twilio(StatusCode::BAD_REQUEST, 20001).is_already_exists());
        assert!(!twilio(StatusCode::NOT_FOUND, 20404).is_already_exists());
        assert!(!twilio(StatusCode::UNPROCESSABLE_ENTITY, 20409).is_already_exists());
        let unknown = ApiError::OutcomeUnknown {
            method: "POST",
            path: path.to_owned(),
            cause: "HTTP 409".to_owned(),
            answer: Answer::Twilio {
                status: 409,
                code: Some(20409),
            },
        };
        assert!(!unknown.is_already_exists());
    }

    #[test]
    fn an_unknown_outcome_says_what_the_post_may_have_created() {
        let cases = [
            ("/v2/Instances", "the instance may have been created"),
            (
                "/v1/PluginService/Plugins",
                "the plugin may have been created",
            ),
            (
                "/v1/PluginService/Plugins/FP00000000000000000000000000000001/Versions",
                "the plugin version may have been created",
            ),
            (
                "/v1/PluginService/Configurations",
                "the plugin configuration may have been created",
            ),
            (
                "/v1/PluginService/Releases",
                "the release may have been created and made active",
            ),
        ];
        for (path, expected) in cases {
            assert_eq!(what_may_have_happened(path), expected, "{path}");
        }
    }

    #[test]
    fn html_and_empty_bodies_print_the_status_line() {
        let err = from_response(
            "GET",
            "/v2/Instances/GO1",
            StatusCode::BAD_GATEWAY,
            b"<html><body>Bad Gateway</body></html>",
        );
        assert_eq!(
            err.to_string(),
            "HTTP 502 Bad Gateway on GET /v2/Instances/GO1"
        );
        let err = from_response("GET", "/x", StatusCode::SERVICE_UNAVAILABLE, b"");
        assert_eq!(err.to_string(), "HTTP 503 Service Unavailable on GET /x");
    }
}
