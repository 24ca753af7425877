//! What every Flex API handler shares: who is asking (Basic auth and the
//! `I-Twilio-Auth-Account` header), Twilio's classic error body, and saving the data file before
//! a change is answered.

use std::sync::Arc;

use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::basic_auth::is_authorized;
use super::shared::Shared;

/// The header naming the account a request acts on.
const ACCOUNT_HEADER: &str = "i-twilio-auth-account";

/// A method that a route does not take.
pub(crate) async fn method_not_allowed(method: Method) -> Response {
    twilio_error(
        StatusCode::METHOD_NOT_ALLOWED,
        20004,
        format!("Method not allowed: {method}"),
    )
}

/// Why a Flex API request was refused before its route looked at it.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// No acceptable Basic auth.
    Unauthenticated,
    /// No `I-Twilio-Auth-Account` header.
    MissingAccount,
    /// An `I-Twilio-Auth-Account` header that is not an account SID; holds what was sent.
    BadAccount(String),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Rejection::Unauthenticated => {
                let mut response = twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Twilio API\""),
                );
                response
            }
            Rejection::MissingAccount => twilio_error(
                StatusCode::BAD_REQUEST,
                20001,
                "Missing required header I-Twilio-Auth-Account: the SID (AC…) of the account to \
                 act on",
            ),
            Rejection::BadAccount(found) => twilio_error(
                StatusCode::BAD_REQUEST,
                20001,
                format!(
                    "Invalid header I-Twilio-Auth-Account: expected `AC` followed by 32 \
                     hexadecimal digits, found {found:?}"
                ),
            ),
        }
    }
}

/// The account the request acts on, once Basic auth and the account header are acceptable.
pub(crate) fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<String, Rejection> {
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let expected = shared
        .credentials
        .as_ref()
        .map(|(user, password)| (user.as_str(), password.as_str()));
    if !is_authorized(authorization, expected) {
        return Err(Rejection::Unauthenticated);
    }
    let value = headers
        .get(ACCOUNT_HEADER)
        .ok_or(Rejection::MissingAccount)?;
    match value.to_str() {
        Ok(account) if crate::domain::sid::AccountSid::parse(account).is_ok() => {
            Ok(account.to_owned())
        }
        _ => Err(Rejection::BadAccount(
            String::from_utf8_lossy(value.as_bytes()).into_owned(),
        )),
    }
}

/// Twilio's classic error body.
#[derive(Serialize)]
struct TwilioError {
    code: u32,
    message: String,
    more_info: String,
    status: u16,
}

/// An answer with Twilio's classic error body.
pub(crate) fn twilio_error(status: StatusCode, code: u32, message: impl Into<String>) -> Response {
    let body = TwilioError {
        code,
        message: message.into(),
        more_info: format!("https://www.twilio.com/docs/errors/{code}"),
        status: status.as_u16(),
    };
    (status, Json(body)).into_response()
}

/// `404` (Twilio 20404) naming the path asked for.
pub(crate) fn resource_not_found(path: &str) -> Response {
    twilio_error(
        StatusCode::NOT_FOUND,
        20404,
        format!("The requested resource {path} was not found"),
    )
}

/// Saves the data file before a change is answered; a failure is answered 500 (the change is
/// made in memory but may not survive a restart, an ambiguous outcome like any 500).
pub(crate) async fn save(shared: &Arc<Shared>) -> Result<(), Response> {
    shared.save_async().await.map_err(|err| {
        tracing::error!("simulator data file: {err}");
        twilio_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal Server Error: the simulator could not save its data file",
        )
    })
}
