//! GraphQL over server-sent events, the graphql-sse protocol's distinct-connections mode: a
//! `POST /graphql` (or, for `EventSource`, a `GET`) that prefers `text/event-stream` to JSON, or
//! a subscription that accepts it at all, gets `event: next` messages, one per result, and
//! `event: complete` at the end. A subscription's messages carry its events' cursors (`id:`),
//! so a client that reconnects with `Last-Event-ID`
//! gets every event after it, then live ones. Keep-alive comments come more often than the
//! server's idle timeout; at shutdown, once no request is in flight, the stream completes.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, BoxStream, StreamExt};

use super::super::AppState;
use super::super::error::ApiError;
use super::{Streams, streamed};
use crate::domain::events;
use crate::graphql::subscription::ResumeAfter;
use crate::server::ConnectionScope;

/// What an event stream asks of a subscription: to resume after the event its
/// `Last-Event-ID` names, and each message named by its event (`id:`).
pub(super) fn streams(headers: &HeaderMap) -> Streams {
    Streams {
        resume: resume_after(headers).map_err(|()| not_a_cursor()),
        tagged: true,
        ..Streams::default()
    }
}

/// The event a reconnecting client names in `Last-Event-ID`, to resume after; `Err` when the
/// header holds no cursor. Its form is checked here; whose cursor it is once the credential
/// says the organization.
fn resume_after(headers: &HeaderMap) -> Result<Option<ResumeAfter>, ()> {
    match headers
        .get(super::super::headers::LAST_EVENT_ID)
        .map(HeaderValue::to_str)
    {
        None => Ok(None),
        Some(Ok(id)) if events::Cursors::well_formed(id.trim()) => {
            Ok(Some(ResumeAfter(id.trim().to_owned())))
        }
        Some(_) => Err(()),
    }
}

/// The code a malformed `after` gets over any transport: it is the same cursor.
fn not_a_cursor() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        crate::code::Code::BadUserInput,
        "`Last-Event-ID` is not an event cursor: give back the `id:` of the last message received.",
    )
}

/// `responses` as `next` messages, then `complete`.
pub(super) fn events(
    state: &AppState,
    responses: BoxStream<'static, async_graphql::Response>,
    scope: Option<ConnectionScope>,
) -> Response {
    let messages = responses.map(move |mut response| {
        let cursor = streamed::take_cursor(&mut response);
        let data = super::stream::payload_json(response);
        let event = Event::default().event("next").data(data);
        // Each event's result names it; the ending error after the last one doesn't.
        Ok::<_, Infallible>(match cursor {
            Some(cursor) => event.id(cursor),
            None => event,
        })
    });
    let until_shutdown = messages.take_until(streamed::closing(scope));
    let complete = stream::once(async { Ok(Event::default().event("complete").data("")) });
    // Comments more often than the idle timeout, so a quiet subscription isn't cut.
    let keep_alive = streamed::keep_alive(state, Duration::from_secs(15));
    let mut response = Sse::new(until_shutdown.chain(complete))
        .keep_alive(KeepAlive::new().interval(keep_alive))
        .into_response();
    // Proxies (nginx) must pass each message on as it comes.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
