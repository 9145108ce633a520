//! Operating endpoints: liveness, readiness and metrics; and the middleware that gives every
//! request an id, a log line and its metrics.

use std::time::{Duration, Instant};

use axum::Json;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use migration::{Migrator, MigratorTrait};
use serde_json::json;
use tracing::Instrument as _;

use super::AppState;
use super::client::ClientApp;
use super::error::{ApiError, Envelope, Transport};
use super::media::Media;
use crate::code::Code;
use crate::metrics::route_label;
use crate::ratelimit::{Decision, LimiterState};

use super::headers::REQUEST_ID;

/// What the GraphQL handler tells the log line and metrics about the request it answered.
#[derive(Debug, Clone, Default)]
pub struct GraphqlOutcome {
    pub operation: Option<String>,
    pub error_codes: Vec<String>,
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The dependencies that may fail while the gateway serves, and whether each is up; only
/// those configured.
fn dependencies(state: &AppState) -> Vec<(&'static str, bool)> {
    let mut up = Vec::new();
    match state.limiter.state() {
        LimiterState::Memory => {}
        LimiterState::Redis => up.push(("redis", true)),
        LimiterState::Degraded => up.push(("redis", false)),
    }
    if let Some(jwks) = state.auth.jwks_up() {
        up.push(("jwks", jwks));
    }
    up
}

/// `GET /readyz`: the database answers and its migrations are current. A failing Redis or
/// JWKS host doesn't make the gateway unready (it serves without them: rate limits in this
/// process, sessions with the keys it has), but the body says so.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let limit = Duration::from_secs(2);
    let database = matches!(
        tokio::time::timeout(limit, state.pool.ping()).await,
        Ok(Ok(()))
    );
    let migrations = if database {
        match tokio::time::timeout(limit, Migrator::get_pending_migrations(&state.pool)).await {
            Ok(Ok(pending)) if pending.is_empty() => "current",
            Ok(Ok(_)) => "pending",
            _ => "unknown",
        }
    } else {
        "unknown"
    };
    let ready = database && migrations == "current";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": if database { "up" } else { "down" },
        "migrations": migrations,
        "rateLimiter": state.limiter.state().as_str(),
    });
    if let Some(up) = state.auth.jwks_up() {
        body["jwks"] = json!(if up { "up" } else { "degraded" });
    }
    (status, Json(body)).into_response()
}

/// `GET /metrics`: the OpenMetrics text format, which Prometheus scrapes natively (its
/// counters' `_total` samples would read as untyped if served as the older text/plain).
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.metrics_token
        && !bearer_matches(&headers, expected)
    {
        return ApiError::unauthenticated(
            "The metrics are protected: send `Authorization: Bearer <metrics token>`.",
        )
        .render(Envelope::Graphql(Media::Json));
    }
    let text = state.metrics.render(
        &state.pool,
        state.subscriptions.total(),
        &dependencies(&state),
    );
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `POST /__fault/panic`, mounted only with `Config::fault_injection` (tests): charges the
/// caller's bucket 10 points, then panics.
pub async fn panic_after_charging(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let charged = async {
        let actor = super::pipeline::require(&state, &headers).await?;
        let bucket = super::pipeline::bucket(Some(&actor), None);
        super::pipeline::charge(&state, &bucket, 10, 10)
            .await
            .map(drop)
    };
    if let Err(error) = charged.await {
        return error.render(Envelope::Graphql(Media::Json));
    }
    panic!("an injected fault");
}

/// Whether the request's bearer token is `expected`, compared through their SHA-256 digests so
/// the time taken says nothing about how much of a guess was right.
fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| super::auth::bearer_of(v).ok())
    else {
        return false;
    };
    Sha256::digest(given.as_bytes()) == Sha256::digest(expected.as_bytes())
}

/// A client's request id is kept when it is short and plain; otherwise one is made.
fn request_id(given: Option<&HeaderValue>) -> HeaderValue {
    given
        .filter(|v| {
            let bytes = v.as_bytes();
            (1..=64).contains(&bytes.len())
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        // Copied, not cloned: a header's value is a slice of the buffer hyper read the whole head
        // into (8 KiB at least), which a clone keeps alive. A WebSocket keeps its request's id
        // for as long as it is open, so a clone would hold that buffer for hours.
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
        .unwrap_or_else(|| {
            // From the thread's CSPRNG: `Uuid::new_v4` asks the kernel (a system call a request).
            let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
            let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
            HeaderValue::from_bytes(id.hyphenated().encode_lower(&mut text).as_bytes())
                .expect("a UUID is a header value")
        })
}

/// Gives each request an `x-request-id` (echoed in the response), reads the name the client
/// gives itself (kept on the request for the handlers), records its metrics and logs one line:
/// method, route, status, duration, operation, client — never the query string, headers,
/// variables or body, which may hold credentials or secrets.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = request_id(req.headers().get(&REQUEST_ID));
    req.headers_mut().insert(REQUEST_ID, id.clone());
    let app = ClientApp::from_headers(req.headers());
    req.extensions_mut().insert(app.clone());
    // Methods are any token a client likes; the label keeps to the ones this API uses.
    let method = method_label(req.method());
    let route = route_label(
        req.extensions()
            .get::<axum::extract::MatchedPath>()
            .map(axum::extract::MatchedPath::as_str),
    );
    let server = crate::telemetry::http::server_span(method, route, req.headers());
    // Everything logged while the request runs carries its id, method and route.
    let span = server.in_scope(|| {
        tracing::info_span!(
            "request",
            request_id = id.to_str().unwrap_or_default(),
            method,
            route
        )
    });
    let started = Instant::now();
    let mut response = next
        .run(req)
        .instrument(span.clone())
        .instrument(server.clone())
        .await;
    let elapsed = started.elapsed();
    response.headers_mut().insert(REQUEST_ID, id.clone());
    let mut outcome = response
        .extensions_mut()
        .remove::<GraphqlOutcome>()
        .unwrap_or_default();
    // A request refused before a transport noted its outcome (a layer's 429, a body that
    // isn't JSON) still names its code.
    if outcome.error_codes.is_empty()
        && let Some(codes) = response.extensions().get::<super::error::ErrorCodes>()
    {
        outcome.error_codes.clone_from(&codes.0);
    }
    let status = response.status().as_u16();
    crate::telemetry::http::answered(&server, status);
    state
        .metrics
        .record(method, route, status, elapsed, &outcome.error_codes);
    state
        .metrics
        .record_client(state.metrics.client_label(app.name.as_deref()));
    let _in_request = span.enter();
    tracing::info!(
        request_id = id.to_str().unwrap_or_default(),
        method,
        route,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        operation = %OperationName(outcome.operation.as_deref()),
        error_codes = %ErrorCodeList(&outcome.error_codes),
        client_name = app.name.as_deref(),
        client_version = app.version.as_deref(),
        "request"
    );
    response
}

/// Methods are any token a client likes; the label keeps to the ones this API uses, as static
/// text (no label is allocated per request).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        _ => "OTHER",
    }
}

/// The operation's name as logged: the client names it, so control characters are left out
/// (a line stays a line) and it is cut at 100 characters; written straight into the line.
struct OperationName<'a>(Option<&'a str>);

impl std::fmt::Display for OperationName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        let name = self.0.unwrap_or_default();
        name.chars()
            .filter(|c| !c.is_control())
            .take(100)
            .try_for_each(|c| f.write_char(c))
    }
}

/// Error codes, comma-separated, written straight into the line.
struct ErrorCodeList<'a>(&'a [String]);

impl std::fmt::Display for ErrorCodeList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, code) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(code)?;
        }
        Ok(())
    }
}

/// Throttles clients that keep failing authentication: each 401 costs their address
/// `failed_auth_cost` points, and an address without that many left gets 429 with
/// `Retry-After` before its credential is even looked at. Applies to GraphQL and REST alike.
pub async fn throttle_failed_auth(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(ip) = req.extensions().get::<super::ClientAddr>().map(|c| c.0) else {
        return next.run(req).await;
    };
    let bucket = failed_auth_bucket(ip);
    let cost = state.limiter.failed_auth_cost();
    if let Decision::Allowed(status) = state.limiter.take(&bucket, 0).await
        && status.currently_available < cost as f64
    {
        let wait = super::error::retry_after_seconds(Duration::from_secs_f64(
            (cost as f64 - status.currently_available).max(0.0) / status.restore_rate,
        ));
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            Code::RateLimited,
            "Too many failed authentications from this address; retry later.",
        );
        error.retry_after = Some(wait);
        return error.render(Transport::of(req.extensions()).envelope(req.headers()));
    }
    let ticket = stream_ticket(req.uri().query());
    let response = next.run(req).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        // An `EventSource` reopens its URL by itself once its stream ends: a used or expired
        // ticket it sends again was minted for it, and is no guess.
        let minted = match &ticket {
            Some(ticket) => {
                crate::domain::stream_tickets::was_minted(&state.services.db, ticket).await
            }
            None => false,
        };
        if !minted {
            state.limiter.take(&bucket, cost).await;
        }
    }
    response
}

/// The `ticket` a query string carries, if any.
fn stream_ticket(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == "ticket")
        .map(|(_, value)| value.into_owned())
}

fn failed_auth_bucket(ip: std::net::IpAddr) -> String {
    format!("auth-failures:{}", super::address_bucket(ip))
}

/// A credential refused outside an HTTP response (a WebSocket's `connection_init`) costs its
/// address what a 401 costs it.
pub async fn failed_authentication(state: &AppState, ip: std::net::IpAddr) {
    let cost = state.limiter.failed_auth_cost();
    state.limiter.take(&failed_auth_bucket(ip), cost).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_request_id_is_kept_apart_from_the_buffer_its_head_was_read_into() {
        // As hyper makes header values: slices of the one buffer the head was read into.
        let head =
            axum::body::Bytes::from(b"GET / HTTP/1.1\r\nx-request-id: abc-123\r\n\r\n".to_vec());
        let given = HeaderValue::from_maybe_shared(head.slice(30..37)).expect("a header value");
        assert_eq!(given, "abc-123");
        let kept = request_id(Some(&given));
        assert_eq!(kept, "abc-123");
        assert_ne!(
            kept.as_bytes().as_ptr(),
            given.as_bytes().as_ptr(),
            "the id kept shares (and so keeps alive) the head's buffer"
        );
        // Refused ids are replaced.
        let bad = HeaderValue::from_static("a b");
        assert_ne!(request_id(Some(&bad)), "a b");
    }
}
