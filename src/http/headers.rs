//! The headers the gateway reads from requests and writes on responses, named once: the code
//! that reads or writes one uses its constant here, and CORS allows browsers to send exactly
//! `REQUEST` and to read exactly `RESPONSE`.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::startup::StartupError;

/// An API key, instead of `Authorization: Bearer …`.
pub const API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// The organization a member (or a key of several) acts in.
pub const ORGANIZATION: HeaderName = HeaderName::from_static("x-organization-id");
/// The request's id: the client's when it sent a good one, echoed on the response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// On a response replayed for an `Idempotency-Key`.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The last event an event stream's client saw, to resume after (graphql-sse).
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// The cost bucket's size and refill time, and its state after the request
/// (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// RFC 9745's header: the response used something deprecated, and since when (set by field
/// usage's count of each result, `Usage::count`).
pub use crate::graphql::usage::DEPRECATION;
/// Asks for each field's cost in `extensions.cost.fields` (Shopify's cost debug).
pub const COST_DEBUG: HeaderName = HeaderName::from_static("cockpit-graphql-cost-debug");
/// W3C Trace Context.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// Client identification, as Apollo's clients and the GraphQL-over-HTTP draft send it.
pub const APOLLO_CLIENT_NAME: HeaderName = HeaderName::from_static("apollographql-client-name");
pub const APOLLO_CLIENT_VERSION: HeaderName =
    HeaderName::from_static("apollographql-client-version");
pub const GRAPHQL_CLIENT_NAME: HeaderName = HeaderName::from_static("graphql-client-name");
pub const GRAPHQL_CLIENT_VERSION: HeaderName = HeaderName::from_static("graphql-client-version");

/// What a request may carry that the gateway reads. Trace context and client identification
/// are allowed ahead of being read, so that a browser's requests carrying them pass today.
pub const REQUEST: [HeaderName; 17] = [
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::ACCEPT,
    API_KEY,
    ORGANIZATION,
    REQUEST_ID,
    IDEMPOTENCY_KEY,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    LAST_EVENT_ID,
    COST_DEBUG,
    TRACEPARENT,
    TRACESTATE,
    APOLLO_CLIENT_NAME,
    APOLLO_CLIENT_VERSION,
    GRAPHQL_CLIENT_NAME,
    GRAPHQL_CLIENT_VERSION,
];

/// What a response may carry that a client reads, beyond what browsers show any script
/// (`Content-Type`, `Cache-Control`, …).
pub const RESPONSE: [HeaderName; 10] = [
    REQUEST_ID,
    IDEMPOTENT_REPLAYED,
    header::ETAG,
    header::LOCATION,
    header::RETRY_AFTER,
    header::WWW_AUTHENTICATE,
    header::ALLOW,
    RATELIMIT_POLICY,
    RATELIMIT,
    DEPRECATION,
];

/// An endpoint version's entity tag, for REST's `ETag` and `If-Match` and for the refusal of a
/// stale write on either transport: its `updated_at` in milliseconds since the epoch (what a
/// JavaScript `Date`'s `getTime()` gives), which moves forward on every change of every field
/// the representation shows.
pub fn etag_of(version: chrono::DateTime<chrono::Utc>) -> String {
    format!("\"{}\"", version.timestamp_millis())
}

/// A response to an origin CORS doesn't allow says nothing of what an allowed one may do
/// (the CORS layer lists methods and headers to any preflight).
pub(super) fn only_for_an_allowed_origin<B>(
    mut response: axum::http::Response<B>,
) -> axum::http::Response<B> {
    let headers = response.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        for name in [
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::ACCESS_CONTROL_MAX_AGE,
        ] {
            headers.remove(name);
        }
    }
    response
}

/// Browsers may call from these origins (`*` for any); no CORS headers when there are none.
pub(super) fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, StartupError> {
    if origins.is_empty() {
        return Ok(None);
    }
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers(REQUEST)
        .expose_headers(RESPONSE)
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        return Ok(Some(layer.allow_origin(AllowOrigin::any())));
    }
    let values = origins
        .iter()
        .map(|o| {
            HeaderValue::from_str(o).map_err(|_| {
                StartupError::Config(format!("CORS origin {o:?} is not a valid origin"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(layer.allow_origin(AllowOrigin::list(values))))
}
