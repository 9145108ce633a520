//! The media types of GraphQL responses and how a request's `Accept` picks one (GraphQL over
//! HTTP): `application/graphql-response+json` when named, else `application/json`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, Envelope};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// The media type of a GraphQL response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    GraphqlResponseJson,
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }

    /// The status of a GraphQL request error — a document that doesn't parse or validate, or
    /// variables that can't be coerced: with `application/json` every well-formed request is
    /// answered 200 and the errors speak for themselves (older clients treat a 4xx as a
    /// transport failure and never read them); `application/graphql-response+json` says 400.
    pub fn request_error_status(self) -> StatusCode {
        match self {
            Self::Json => StatusCode::OK,
            Self::GraphqlResponseJson => StatusCode::BAD_REQUEST,
        }
    }

    /// `body` as this media type, with `status`.
    pub fn respond(self, status: StatusCode, body: &impl serde::Serialize) -> Response {
        // Nothing here fails to serialize (map keys are strings); were it to, the client gets
        // the same answer as for any other fault of ours.
        let Ok(bytes) = serde_json::to_vec(body) else {
            return ApiError::internal().render(Envelope::Graphql(self));
        };
        let mut response = (status, bytes).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type()),
        );
        response
    }
}

/// Picks the response's media type from `Accept`: the newer
/// `application/graphql-response+json` when the client names it and likes it at least as much
/// as `application/json`; otherwise `application/json` — for no `Accept`, and for wildcards
/// (`*/*` is what most HTTP clients send, and they read plain JSON). The most specific range
/// decides a type's quality. `None` when neither is acceptable (406).
pub fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    let mut graphql_response = None;
    let mut json = None;
    let mut application_any = None;
    let mut any = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media_range = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let slot = match media_range.as_str() {
            GRAPHQL_RESPONSE_JSON => &mut graphql_response,
            APPLICATION_JSON => &mut json,
            "application/*" => &mut application_any,
            "*/*" => &mut any,
            _ => continue,
        };
        *slot = Some(slot.map_or(q, |old: f32| old.max(q)));
    }
    let wildcard = application_any.or(any);
    let json_q = json.or(wildcard).unwrap_or(0.0);
    match graphql_response {
        Some(q) if q > 0.0 && q >= json_q => Some(Media::GraphqlResponseJson),
        _ if json_q > 0.0 => Some(Media::Json),
        None if wildcard.is_some_and(|q| q > 0.0) => Some(Media::GraphqlResponseJson),
        _ => None,
    }
}
