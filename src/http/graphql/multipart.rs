//! Apollo's multipart HTTP protocol for subscriptions (what Apollo Client's `HttpLink`, Apollo
//! iOS and Apollo Kotlin use without a WebSocket): a subscription whose `Accept` names
//! `multipart/mixed;subscriptionSpec=1.0` is answered with one `multipart/mixed` response, a
//! part `{"payload": …}` per result, `{}` while it is quiet, an error that ends it as
//! `{"payload": null, "errors": […]}`, and the closing boundary at its end or at shutdown.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::{Value, json};

use super::super::AppState;
use super::streamed;
use crate::code::Code;
use crate::server::ConnectionScope;

const CONTENT_TYPE: &str = "multipart/mixed;boundary=\"graphql\";subscriptionSpec=1.0";
/// The delimiter before each part. It is sent right after the part before, so a client that
/// reads a part once the next delimiter comes (Apollo Client does) gets each at once.
const DELIMITER: &[u8] = b"\r\n--graphql";
const PART_HEADERS: &[u8] = b"\r\nContent-Type: application/json; charset=utf-8\r\n\r\n";
/// What turns the last delimiter into the closing one.
const CLOSE: &[u8] = b"--\r\n";
/// Apollo's servers send a heartbeat every 5 seconds.
const HEARTBEAT_AT_MOST: Duration = Duration::from_secs(5);
/// What ends a subscription from outside its operation, the protocol's transport-level errors:
/// its credential stopped being good, it drew its rate-limit bucket empty, its client read too
/// slowly, or it resumed from before what retention kept.
const ENDINGS: [Code; 5] = [
    Code::Unauthenticated,
    Code::Forbidden,
    Code::RateLimited,
    Code::SlowConsumer,
    Code::EventsExpired,
];

/// A subscription's results as one multipart response.
pub(super) fn respond(
    state: &AppState,
    results: BoxStream<'static, async_graphql::Response>,
    scope: Option<ConnectionScope>,
) -> Response {
    let heartbeat = streamed::keep_alive(state, HEARTBEAT_AT_MOST);
    let body = Body::from_stream(parts(results, heartbeat, scope));
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies (nginx) must pass each part on as it comes.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// What is left to send of a multipart response.
struct Open {
    results: BoxStream<'static, async_graphql::Response>,
    closing: Pin<Box<dyn Future<Output = ()> + Send>>,
    heartbeat: Duration,
}

/// The body: the first delimiter, then each result (or a heartbeat after `heartbeat` without
/// one) as a part followed by the next delimiter, closed when the results end or the server
/// shuts down.
fn parts(
    results: BoxStream<'static, async_graphql::Response>,
    heartbeat: Duration,
    scope: Option<ConnectionScope>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static {
    let open = Open {
        results,
        closing: Box::pin(streamed::closing(scope)),
        heartbeat,
    };
    let first = stream::once(async { Bytes::from_static(DELIMITER) });
    let rest = stream::unfold(Some(open), |open| async move {
        let mut open = open?;
        let part = tokio::select! {
            biased;
            () = &mut open.closing => {
                // Said as an error, so that the client subscribes again (elsewhere).
                let mut bytes = part_bytes(&shutting_down().to_string()).to_vec();
                bytes.extend_from_slice(CLOSE);
                return Some((Bytes::from(bytes), None));
            }
            result = open.results.next() => result.map(payload),
            () = tokio::time::sleep(open.heartbeat) => Some("{}".to_owned()),
        };
        Some(match part {
            Some(part) => (part_bytes(&part), Some(open)),
            None => (Bytes::from_static(CLOSE), None),
        })
    });
    first.chain(rest).map(Ok)
}

/// One part (its JSON) and the delimiter after it.
fn part_bytes(part: &str) -> Bytes {
    let mut bytes = PART_HEADERS.to_vec();
    bytes.extend_from_slice(part.as_bytes());
    bytes.extend_from_slice(DELIMITER);
    Bytes::from(bytes)
}

/// A result as the protocol wraps it: in `payload`, GraphQL errors and all (an argument of no
/// use ends a subscription that way too); an error that ends it from outside (`ENDINGS`), which
/// delivers no event, beside a null payload, which Apollo Client raises as a protocol error.
fn payload(mut response: async_graphql::Response) -> String {
    let event = streamed::take_cursor(&mut response).is_some();
    let ending = |error: &async_graphql::ServerError| {
        let code = error.extensions.as_ref().and_then(|e| e.get("code"));
        ENDINGS
            .iter()
            .any(|c| code == Some(&async_graphql::Value::from(c.as_str())))
    };
    if !event
        && response.data == async_graphql::Value::Null
        && !response.extensions.contains_key(super::stream::RENDERED)
        && !response.errors.is_empty()
        && response.errors.iter().all(ending)
    {
        return json!({ "payload": null, "errors": response.errors }).to_string();
    }
    // Written as it is: made a `serde_json::Value`, its data would lose its selection order
    // (a `serde_json::Map` sorts its keys).
    format!("{{\"payload\":{}}}", super::stream::payload_json(response))
}

/// The error a subscription ends with when the gateway shuts down.
fn shutting_down() -> Value {
    json!({
        "payload": null,
        "errors": [{
            "message": "The gateway is shutting down; subscribe again, with `after` set to the `cursor` of the last event received.",
            "extensions": { "code": Code::ServiceUnavailable.as_str() },
        }],
    })
}
