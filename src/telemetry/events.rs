//! The span that delivers an event to a subscriber, linked to the write that recorded it.

use super::{TARGET, link_to};

/// A span for delivering an event of `event_type` (its stored name), a child of
/// `subscription` (the operation that asked for it) and linked to the write that recorded it
/// (`trace_parent`), in whichever process that ran.
pub fn delivery_span(
    subscription: &tracing::Span,
    event_type: &str,
    trace_parent: Option<&str>,
) -> tracing::Span {
    let span = tracing::info_span!(
        target: TARGET,
        parent: subscription,
        "deliver event",
        otel.kind = "producer",
        cockpit.event.type = event_type,
    );
    if let Some(traceparent) = trace_parent {
        link_to(&span, traceparent);
    }
    span
}
