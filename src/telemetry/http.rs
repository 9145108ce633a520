//! The HTTP server span, named and attributed by the semantic conventions.

use axum::http::HeaderMap;

use super::{Carrier, TARGET, continue_from};

/// The server span of one request, continuing the trace its `traceparent` names. `method` is
/// a method the API uses (`OTHER` for any other), `route` the matched route's template
/// (`other` when none matched, which the conventions leave out).
pub fn server_span(
    method: &'static str,
    route: &'static str,
    headers: &HeaderMap,
) -> tracing::Span {
    let method = if method == "OTHER" { "_OTHER" } else { method };
    let matched = route != "other";
    let span = tracing::info_span!(
        target: TARGET,
        "http",
        otel.name = tracing::field::Empty,
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        http.route = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
    );
    if span.is_disabled() {
        return span;
    }
    if matched {
        span.record("otel.name", format_args!("{method} {route}"));
        span.record("http.route", route);
    } else {
        span.record("otel.name", method);
    }
    continue_from(&span, &Carrier::Headers(headers));
    span
}

/// Records the response's status; a server error marks the span as failed.
pub fn answered(span: &tracing::Span, status: u16) {
    if span.is_disabled() {
        return;
    }
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "error");
    }
}
