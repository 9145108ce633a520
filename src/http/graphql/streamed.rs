//! What the transports that answer one request with a stream of results share (server-sent
//! events, multipart subscriptions): a refusal before the operation ran as the HTTP error POST
//! gets, each result's event cursor, how often a quiet stream speaks, and its end at shutdown.

use std::time::Duration;

use async_graphql::Response;
use futures_util::stream::BoxStream;

use super::super::AppState;
use super::super::error::{ApiError, Envelope};
use super::super::media::Media;
use super::stream::{EVENT_ID, Started};
use crate::server::ConnectionScope;

/// The answer to an operation over a streaming transport: `stream` makes it of its results once
/// it started; one refused before it ran gets the same status and body as a POST taking JSON.
pub(super) fn answer(
    started: Result<Started, ApiError>,
    media: Media,
    stream: impl FnOnce(BoxStream<'static, Response>) -> axum::response::Response,
) -> axum::response::Response {
    match started {
        Ok(Started::Running(responses)) => stream(responses),
        Ok(Started::Refused(status, answer)) => super::json_response(status, answer, media),
        Err(error) => error.render(Envelope::Graphql(media)),
    }
}

/// The cursor of the event a result delivers, taken out of its extensions; `None` for what
/// isn't an event's result (the error that ends a subscription, a query's one result).
pub(super) fn take_cursor(response: &mut Response) -> Option<String> {
    match response.extensions.remove(EVENT_ID) {
        Some(async_graphql::Value::String(cursor)) => Some(cursor),
        _ => None,
    }
}

/// How often a quiet stream says it is alive: more often than the server's idle timeout, so a
/// subscription waiting for events isn't cut, and at least every `at_most`.
pub(super) fn keep_alive(state: &AppState, at_most: Duration) -> Duration {
    (state.server_limits.idle_timeout / 3).clamp(Duration::from_secs(1), at_most)
}

/// Resolves when the server shuts down (once no request is in flight); never without a scope.
pub(super) async fn closing(scope: Option<ConnectionScope>) {
    match scope {
        Some(scope) => scope.closing().await,
        None => std::future::pending().await,
    }
}
