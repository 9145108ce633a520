//! Reads the credential and organization headers, and maps authentication failures to HTTP
//! statuses; `crate::auth` decides who the caller is.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use uuid::Uuid;

use crate::auth::AuthError;
use crate::graphql::error::code;

pub const ORGANIZATION_HEADER: &str = "x-organization-id";
pub const API_KEY_HEADER: &str = "x-api-key";

/// Why a request was refused before it reached GraphQL, with its HTTP status and code.
#[derive(Debug)]
pub struct AuthRejection {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl AuthRejection {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::BAD_REQUEST, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code::UNAUTHENTICATED, message)
    }
}

/// The one value of a header the request may send once; a repeated header is a 400, since
/// proxies and servers disagree on which copy counts.
fn single<'h>(
    headers: &'h HeaderMap,
    name: &str,
    shown: &str,
) -> Result<Option<&'h HeaderValue>, AuthRejection> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(AuthRejection::bad_request(format!(
            "The {shown} header is sent more than once; send it once."
        )));
    }
    Ok(first)
}

/// The credential a request carries, if any: `Authorization: Bearer …` or `x-api-key: …`.
/// Both may be sent only when they carry the same credential.
pub fn credential(headers: &HeaderMap) -> Result<Option<String>, AuthRejection> {
    let bearer = single(headers, header::AUTHORIZATION.as_str(), "Authorization")?;
    let api_key = single(headers, API_KEY_HEADER, API_KEY_HEADER)?;
    match (bearer, api_key) {
        (Some(bearer), Some(api_key)) => match (bearer_token(bearer), api_key_value(api_key)) {
            (Ok(a), Ok(b)) if a == b => Ok(Some(a)),
            _ => Err(AuthRejection::bad_request(
                "The Authorization and x-api-key headers carry different credentials; send one.",
            )),
        },
        (Some(bearer), None) => bearer_token(bearer).map(Some),
        (None, Some(api_key)) => api_key_value(api_key).map(Some),
        (None, None) => Ok(None),
    }
}

fn bearer_token(value: &HeaderValue) -> Result<String, AuthRejection> {
    let value = value.to_str().map_err(|_| {
        AuthRejection::unauthenticated("The Authorization header is not valid text.")
    })?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthRejection::unauthenticated(
            "The Authorization header must use the Bearer scheme: `Authorization: Bearer <key or token>`.",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthRejection::unauthenticated("The Bearer token is empty."));
    }
    Ok(token.to_owned())
}

fn api_key_value(value: &HeaderValue) -> Result<String, AuthRejection> {
    let key = value
        .to_str()
        .map_err(|_| AuthRejection::unauthenticated("The x-api-key header is not valid text."))?
        .trim();
    if key.is_empty() {
        return Err(AuthRejection::unauthenticated(
            "The x-api-key header is empty.",
        ));
    }
    Ok(key.to_owned())
}

/// The organization the caller asked to act in, if it said; a malformed header is a 400.
pub fn requested_organization(headers: &HeaderMap) -> Result<Option<Uuid>, AuthRejection> {
    let Some(value) = single(headers, ORGANIZATION_HEADER, ORGANIZATION_HEADER)? else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .map(Some)
        .ok_or_else(|| AuthRejection::bad_request("The x-organization-id header must be a UUID."))
}

impl From<AuthError> for AuthRejection {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Unauthenticated(m) => Self::unauthenticated(m),
            AuthError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, code::FORBIDDEN, m),
            AuthError::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::INTERNAL_SERVER_ERROR,
                "Internal server error",
            ),
        }
    }
}
