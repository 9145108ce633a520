//! GraphQL over server-sent events, the graphql-sse protocol's distinct-connections mode: a
//! `POST /graphql` (or, for `EventSource`, a `GET`) that accepts `text/event-stream` gets
//! `event: next` messages, one per result, and `event: complete` at the end. A subscription's
//! messages carry its events' cursors (`id:`), so a client that reconnects with `Last-Event-ID`
//! gets every event after it, then live ones. Keep-alive comments come more often than the
//! server's idle timeout; at shutdown, once no request is in flight, the stream completes.

use std::convert::Infallible;
use std::net::IpAddr;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};

use super::super::AppState;
use super::super::error::{ApiError, Envelope};
use super::super::media::Media;
use super::params::Params;
use super::{Arrival, stream as streaming};
use crate::domain::events;
use crate::graphql::subscription::{LastDelivered, ResumeAfter};
use crate::server::ConnectionScope;

/// Whether the client asks for an event stream.
pub(super) fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// The event stream of one operation.
pub(super) async fn respond(
    state: AppState,
    headers: HeaderMap,
    client: Option<IpAddr>,
    scope: Option<ConnectionScope>,
    params: Params,
    via_get: bool,
    request_bytes: usize,
) -> Response {
    // Its form is checked here; whose cursor it is once the credential says the organization.
    let resume = match headers.get("last-event-id").map(HeaderValue::to_str) {
        None => None,
        Some(Ok(id)) if events::Cursors::well_formed(id.trim()) => {
            Some(ResumeAfter(id.trim().to_owned()))
        }
        // The code a malformed `after` gets over any transport: it is the same cursor.
        Some(_) => {
            return ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                crate::code::Code::BadUserInput,
                "`Last-Event-ID` is not an event cursor: give back the `id:` of the last message received.",
            )
            .render(Envelope::Graphql(Media::Json));
        }
    };
    let arrival = Arrival {
        via_get,
        media: Media::Json,
        request_bytes,
        streaming: true,
    };
    let started = streaming::start(
        state.clone(),
        headers,
        client,
        params,
        arrival,
        Some(LastDelivered::default()),
        move |request| match resume {
            Some(resume) => request.data(resume),
            None => request,
        },
    )
    .await;
    // Refused before it ran: an HTTP error, as graphql-sse has it, not a stream.
    let responses = match started {
        Ok(responses) => responses,
        Err(error) => return error.render(Envelope::Graphql(Media::Json)),
    };
    let messages = responses.map(move |mut response| {
        let cursor = match response.extensions.remove(streaming::EVENT_ID) {
            Some(async_graphql::Value::String(cursor)) => Some(cursor),
            _ => None,
        };
        let data = serde_json::to_string(&response).unwrap_or_else(|_| "{}".to_owned());
        let event = Event::default().event("next").data(data);
        // Each event's result names it; the ending error after the last one doesn't.
        Ok::<_, Infallible>(match cursor {
            Some(cursor) => event.id(cursor),
            None => event,
        })
    });
    let until_shutdown = messages.take_until(async move {
        match scope {
            Some(scope) => scope.closing().await,
            None => std::future::pending().await,
        }
    });
    let complete = stream::once(async { Ok(Event::default().event("complete").data("")) });
    // Comments more often than the idle timeout, so a quiet subscription isn't cut.
    let keep_alive = (state.server_limits.idle_timeout / 3)
        .clamp(Duration::from_secs(1), Duration::from_secs(15));
    let mut response = Sse::new(until_shutdown.chain(complete))
        .keep_alive(KeepAlive::new().interval(keep_alive))
        .into_response();
    // Proxies (nginx) must pass each message on as it comes.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
