//! Reads the credential and organization headers, each refusal worded once for every
//! transport; `crate::auth` decides who the caller is.

use axum::http::{HeaderMap, HeaderValue, header};
use uuid::Uuid;

use super::error::ApiError;
use super::headers::{API_KEY, ORGANIZATION};

/// The one value of a header the request may send once; a repeated header is a 400, since
/// proxies and servers disagree on which copy counts.
fn single<'h>(
    headers: &'h HeaderMap,
    name: &str,
    shown: &str,
) -> Result<Option<&'h HeaderValue>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::bad_request(format!(
            "The {shown} header is sent more than once; send it once."
        )));
    }
    Ok(first)
}

/// The credential a request carries, if any: `Authorization: Bearer …` or `x-api-key: …`.
/// Both may be sent only when they carry the same credential.
pub fn credential(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let bearer = single(headers, header::AUTHORIZATION.as_str(), "Authorization")?;
    let api_key = single(headers, API_KEY.as_str(), API_KEY.as_str())?;
    match (bearer, api_key) {
        (Some(bearer), Some(api_key)) => match (bearer_token(bearer), api_key_value(api_key)) {
            (Ok(a), Ok(b)) if a == b => Ok(Some(a)),
            _ => Err(ApiError::bad_request(
                "The Authorization and x-api-key headers carry different credentials; send one.",
            )),
        },
        (Some(bearer), None) => bearer_token(bearer).map(Some),
        (None, Some(api_key)) => api_key_value(api_key).map(Some),
        (None, None) => Ok(None),
    }
}

pub(crate) fn bearer_token(value: &HeaderValue) -> Result<String, ApiError> {
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthenticated("The Authorization header is not valid text."))?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthenticated(
            "The Authorization header must use the Bearer scheme: `Authorization: Bearer <key or token>`.",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::unauthenticated("The Bearer token is empty."));
    }
    Ok(token.to_owned())
}

fn api_key_value(value: &HeaderValue) -> Result<String, ApiError> {
    let key = value
        .to_str()
        .map_err(|_| ApiError::unauthenticated("The x-api-key header is not valid text."))?
        .trim();
    if key.is_empty() {
        return Err(ApiError::unauthenticated("The x-api-key header is empty."));
    }
    Ok(key.to_owned())
}

/// The organization the caller asked to act in, if it said; a malformed header is a 400.
pub fn requested_organization(headers: &HeaderMap) -> Result<Option<Uuid>, ApiError> {
    let Some(value) = single(headers, ORGANIZATION.as_str(), ORGANIZATION.as_str())? else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .map(Some)
        .ok_or_else(|| ApiError::bad_request("The x-organization-id header must be a UUID."))
}
