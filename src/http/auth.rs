//! Reads the credential and organization headers, and maps authentication failures to HTTP
//! statuses; `crate::auth` decides who the caller is.

use axum::http::{HeaderMap, StatusCode, header};
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

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code::UNAUTHENTICATED, message)
    }
}

/// The credential a request carries, if any: `Authorization: Bearer …` or `x-api-key: …`.
pub fn credential(headers: &HeaderMap) -> Result<Option<String>, AuthRejection> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
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
        return Ok(Some(token.to_owned()));
    }
    match headers.get(API_KEY_HEADER) {
        Some(value) => {
            let key = value
                .to_str()
                .map_err(|_| {
                    AuthRejection::unauthenticated("The x-api-key header is not valid text.")
                })?
                .trim();
            if key.is_empty() {
                return Err(AuthRejection::unauthenticated(
                    "The x-api-key header is empty.",
                ));
            }
            Ok(Some(key.to_owned()))
        }
        None => Ok(None),
    }
}

/// The organization the caller asked to act in, if it said; a malformed header is a 400.
pub fn requested_organization(headers: &HeaderMap) -> Result<Option<Uuid>, AuthRejection> {
    let Some(value) = headers.get(ORGANIZATION_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .map(Some)
        .ok_or_else(|| {
            AuthRejection::new(
                StatusCode::BAD_REQUEST,
                code::BAD_REQUEST,
                "The x-organization-id header must be a UUID.",
            )
        })
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
