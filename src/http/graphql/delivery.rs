//! An operation's outcome as plain HTTP answers it: JSON, an event stream or multipart, with
//! its operation name and error codes noted for the log line and metrics.

use axum::http::StatusCode;
use axum::response::Response;
use futures_util::stream::BoxStream;

use super::super::AppState;
use super::super::error::{ApiError, Envelope, ErrorCodes};
use super::super::media::{Media, Stream};
use super::super::ops::GraphqlOutcome;
use super::answer::Answer;
use super::{Operation, Outcome, multipart, run, sse, stream};
use crate::server::ConnectionScope;

/// A subscription's results over plain HTTP: as multipart or an event stream.
pub(super) fn streamed(
    state: &AppState,
    multipart: bool,
    results: BoxStream<'static, async_graphql::Response>,
    scope: Option<ConnectionScope>,
) -> Response {
    if multipart {
        multipart::respond(state, results, scope)
    } else {
        sse::events(state, results, scope)
    }
}

/// Runs one operation of a plain HTTP request and answers it: in JSON, or as an event stream
/// when the client prefers one, or for a subscription (which has no JSON answer) as multipart
/// or an event stream. Refused before it ran, a stream's answer is the same HTTP error JSON
/// gets (graphql-sse, Apollo's multipart protocol).
pub(super) async fn respond_to(
    state: &AppState,
    operation: Operation,
    stream: Stream,
    scope: Option<ConnectionScope>,
) -> Response {
    let (media, multipart) = (operation.arrival.media, operation.streams.multipart);
    let outcome = run(state, operation).await;
    deliver(state, outcome, media, stream, multipart, scope)
}

/// An outcome as plain HTTP answers it: see `respond_to`.
pub(super) fn deliver(
    state: &AppState,
    outcome: Result<Outcome, ApiError>,
    media: Media,
    stream: Stream,
    multipart: bool,
    scope: Option<ConnectionScope>,
) -> Response {
    match (outcome, stream) {
        (Ok(Outcome::Streaming(results)), _) => streamed(state, multipart, results, scope),
        (Ok(Outcome::Answered(_, answer)), Stream::Preferred) if answer.ran() => {
            sse::events(state, stream::answered(answer), scope)
        }
        (Ok(Outcome::Answered(status, answer)), _) => json_response(status, answer, media),
        (Err(refusal), _) => refusal.render(Envelope::Graphql(media)),
    }
}

/// Notes the operation's name and error codes on the response, for its log line and metrics.
pub(super) fn with_outcome(mut response: Response, operation: Option<String>) -> Response {
    let codes = response
        .extensions()
        .get::<ErrorCodes>()
        .map(|c| c.0.clone())
        .unwrap_or_default();
    response.extensions_mut().insert(GraphqlOutcome {
        operation,
        error_codes: codes,
    });
    response
}

pub(super) fn respond(outcome: Result<(StatusCode, Answer), ApiError>, media: Media) -> Response {
    match outcome {
        Ok((status, answer)) => json_response(status, answer, media),
        Err(refusal) => refusal.render(Envelope::Graphql(media)),
    }
}

pub(super) fn json_response(status: StatusCode, answer: Answer, media: Media) -> Response {
    let mut response = media.respond(status, &answer);
    if let Some(deprecation) = answer.deprecation() {
        response
            .headers_mut()
            .insert(crate::http::headers::DEPRECATION, deprecation.clone());
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            crate::code::SERVICE_UNAVAILABLE_RETRY_AFTER.into(),
        );
    }
    response.extensions_mut().insert(answer.error_codes());
    response
}
