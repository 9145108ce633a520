//! Operating endpoints: liveness, readiness and metrics; and the middleware that gives every
//! request an id, a log line and its metrics.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use migration::{Migrator, MigratorTrait};
use serde_json::json;

use super::AppState;
use crate::metrics::route_label;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

/// `GET /readyz`: the database answers and its migrations are current.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let limit = Duration::from_secs(2);
    let database = matches!(
        tokio::time::timeout(limit, state.db.ping()).await,
        Ok(Ok(()))
    );
    let migrations = if database {
        match tokio::time::timeout(limit, Migrator::get_pending_migrations(&state.db)).await {
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
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "database": if database { "up" } else { "down" },
        "migrations": migrations,
    });
    (status, Json(body)).into_response()
}

/// `GET /metrics`: the OpenMetrics text format, which Prometheus scrapes natively (its
/// counters' `_total` samples would read as untyped if served as the older text/plain).
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&state.db);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
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
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                .expect("a UUID is a header value")
        })
}

/// Gives each request an `x-request-id` (echoed in the response), records its metrics and
/// logs one line: method, route, status, duration, operation — never the query string,
/// headers, variables or body, which may hold credentials or secrets.
pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = request_id(req.headers().get(&REQUEST_ID));
    req.headers_mut().insert(REQUEST_ID, id.clone());
    let method = req.method().as_str().to_owned();
    let route = route_label(req.uri().path());
    let started = Instant::now();
    let mut response = next.run(req).await;
    let elapsed = started.elapsed();
    response.headers_mut().insert(REQUEST_ID, id.clone());
    let outcome = response
        .extensions()
        .get::<GraphqlOutcome>()
        .cloned()
        .unwrap_or_default();
    let status = response.status().as_u16();
    state
        .metrics
        .record(&method, route, status, elapsed, &outcome.error_codes);
    tracing::info!(
        request_id = id.to_str().unwrap_or_default(),
        method,
        route,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        operation = outcome.operation.as_deref().unwrap_or_default(),
        error_codes = outcome.error_codes.join(","),
        "request"
    );
    response
}
