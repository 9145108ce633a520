//! W3C trace context (`traceparent`, `tracestate`): continued from what a client sends, and
//! written out for an event to carry to whoever delivers it.

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Where a client's trace context may be read: HTTP headers, or a JSON object's string
/// members (a WebSocket payload, its `headers`, an operation's `extensions`).
pub enum Carrier<'a> {
    Headers(&'a axum::http::HeaderMap),
    Json(&'a serde_json::Map<String, serde_json::Value>),
}

impl Extractor for Carrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match self {
            Self::Headers(headers) => headers.get(key).and_then(|v| v.to_str().ok()),
            Self::Json(map) => map.get(key).and_then(serde_json::Value::as_str),
        }
    }

    fn keys(&self) -> Vec<&str> {
        match self {
            Self::Headers(headers) => headers.keys().map(axum::http::HeaderName::as_str).collect(),
            Self::Json(map) => map.keys().map(String::as_str).collect(),
        }
    }
}

/// The W3C trace context among a JSON payload's `entries` (a WebSocket's `connection_init`
/// read as a header set, an operation's `extensions`): its `traceparent` and `tracestate`
/// strings, the first of each in any case; `None` without a `traceparent`.
pub fn trace_context_in<'a>(
    entries: impl Iterator<Item = (&'a String, &'a serde_json::Value)> + Clone,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let find = |name: &str| {
        entries
            .clone()
            .find(|(key, value)| key.eq_ignore_ascii_case(name) && value.is_string())
            .map(|(_, value)| value.clone())
    };
    let mut context = serde_json::Map::new();
    context.insert("traceparent".to_owned(), find("traceparent")?);
    if let Some(state) = find("tracestate") {
        context.insert("tracestate".to_owned(), state);
    }
    Some(context)
}

/// Makes `span` continue the trace `carrier` names. A missing or malformed `traceparent`
/// (the propagator refuses what the W3C format doesn't allow) leaves `span` a root.
pub fn continue_from(span: &tracing::Span, carrier: &Carrier<'_>) {
    if span.is_disabled() {
        return;
    }
    let cx = TraceContextPropagator::new().extract(carrier);
    if cx.span().span_context().is_valid() {
        // Fails only once the span has started a trace of its own; it then keeps that one.
        let _ = span.set_parent(cx);
    }
}

/// `span`'s context as a `traceparent`, if it is exported.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut fields = Fields::default();
    TraceContextPropagator::new().inject_context(&cx, &mut fields);
    fields.0.remove("traceparent")
}

/// Links `span` to the span a stored `traceparent` names; one that doesn't parse is ignored.
pub fn link_to(span: &tracing::Span, traceparent: &str) {
    if span.is_disabled() {
        return;
    }
    let mut fields = Fields::default();
    fields
        .0
        .insert("traceparent".to_owned(), traceparent.to_owned());
    let cx = TraceContextPropagator::new().extract(&fields);
    let linked = cx.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

#[derive(Default)]
struct Fields(HashMap<String, String>);

impl Injector for Fields {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

impl Extractor for Fields {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}
