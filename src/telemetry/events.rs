//! The span that delivers an event to a subscriber, linked to the write that recorded it.

use super::{TARGET, link_to};
use crate::domain::events::Event;

/// A span for delivering `event`, a child of `subscription` (the operation that asked for
/// it) and linked to the event's write, in whichever process that ran.
pub fn delivery_span(subscription: &tracing::Span, event: &Event) -> tracing::Span {
    let span = tracing::info_span!(
        target: TARGET,
        parent: subscription,
        "deliver event",
        otel.kind = "producer",
        cockpit.event.type = sea_orm::ActiveEnum::to_value(&event.r#type).as_str(),
    );
    if let Some(traceparent) = &event.trace_parent {
        link_to(&span, traceparent);
    }
    span
}
