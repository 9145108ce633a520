//! The GraphQL operation span: its type, its name and its document with every literal
//! stripped; never a variable.

use async_graphql::parser::types::OperationType;

use super::{Carrier, TARGET, continue_from};

/// A span for one operation of `document`, sent by the client that names itself `client`
/// (name and version).
pub fn operation_span(
    kind: OperationType,
    name: Option<&str>,
    document: &str,
    client: (Option<&str>, Option<&str>),
) -> tracing::Span {
    let kind = match kind {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    let span = tracing::info_span!(
        target: TARGET,
        "graphql",
        otel.name = tracing::field::Empty,
        graphql.operation.type = kind,
        graphql.operation.name = tracing::field::Empty,
        graphql.document = tracing::field::Empty,
        cockpit.client.name = client.0,
        cockpit.client.version = client.1,
    );
    if span.is_disabled() {
        return span;
    }
    let document = super::stripped(document);
    match name.or_else(|| super::document::first_operation_name(&document)) {
        Some(name) => {
            // A client's name: no control characters, and bounded as the log line bounds it.
            let name: String = name.chars().filter(|c| !c.is_control()).take(100).collect();
            span.record("otel.name", format_args!("{kind} {name}"));
            span.record("graphql.operation.name", name.as_str());
        }
        None => {
            span.record("otel.name", kind);
        }
    }
    span.record("graphql.document", document.as_str());
    span
}

/// The server span of one operation a WebSocket carries, continuing the trace `context` (a
/// `traceparent` and `tracestate`) names.
pub fn websocket_span(
    context: Option<&serde_json::Map<String, serde_json::Value>>,
) -> tracing::Span {
    let span = tracing::info_span!(
        target: TARGET,
        "graphql websocket operation",
        otel.kind = "server",
    );
    if let Some(context) = context {
        continue_from(&span, &Carrier::Json(context));
    }
    span
}
