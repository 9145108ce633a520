//! What the transports that answer one request with a stream of results share (server-sent
//! events, multipart subscriptions): each result's event cursor, how often a quiet stream
//! speaks, and its end at shutdown.

use std::time::Duration;

use async_graphql::Response;

use super::super::AppState;
use super::stream::EVENT_ID;
use crate::server::ConnectionScope;

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
