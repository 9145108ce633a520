//! What an operation came to, as the responses of a transport that streams every operation
//! (WebSocket): refusals and made answers as GraphQL responses with their `extensions.code`.

use async_graphql::{Response, ServerError};
use futures_util::stream::{self, BoxStream, StreamExt};

use super::super::super::error::ApiError;
use super::super::Outcome;
use super::super::answer::Answer;
use crate::code::Code;

/// A refusal as a GraphQL response: its message and `extensions.code`.
pub(super) fn refusal(error: &ApiError) -> Response {
    coded(&error.message, error.code)
}

pub(super) fn coded(message: &str, code: Code) -> Response {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    Response::from_errors(vec![error])
}

/// An answer made without running (the APQ protocol's) as a GraphQL response.
fn made(answer: &Answer) -> Response {
    let body = match answer {
        Answer::Made(body) => body,
        _ => return coded("The operation was not run.", Code::BadRequest),
    };
    let first = &body["errors"][0];
    let message = first["message"]
        .as_str()
        .unwrap_or("The operation was not run.");
    let code = match first["extensions"]["code"].as_str() {
        Some(c) if c == Code::PersistedQueryNotSupported.as_str() => {
            Code::PersistedQueryNotSupported
        }
        _ => Code::PersistedQueryNotFound,
    };
    coded(message, code)
}

/// The extension that marks a response as a request error (see `responses`), for the
/// WebSocket transport to send as the protocol's `error` message; it never reaches a client.
pub(in crate::http::graphql) const REQUEST_ERROR: &str = "cockpitRequestError";

/// What an operation came to, as the responses of a transport that streams every operation
/// (WebSocket): a subscription's results, a query's or mutation's one response, or a refusal
/// before it ran as one error response marked `REQUEST_ERROR`.
pub(in crate::http::graphql) fn responses(
    outcome: Result<Outcome, ApiError>,
) -> BoxStream<'static, Response> {
    match outcome {
        Ok(Outcome::Streaming(results)) => results,
        Ok(Outcome::Answered(_, answer)) if answer.ran() => answered(answer),
        Ok(Outcome::Answered(_, answer)) => {
            stream::once(async move { as_request_error(answer) }).boxed()
        }
        Err(error) => stream::once(async move { request_error(refusal(&error)) }).boxed(),
    }
}

/// The one response of an operation that ran.
pub(in crate::http::graphql) fn answered(answer: Answer) -> BoxStream<'static, Response> {
    let response = match answer {
        Answer::Executed { response, .. } => *response,
        made_here => made(&made_here),
    };
    stream::once(async move { response }).boxed()
}

/// A response marked as a request error.
fn request_error(mut response: Response) -> Response {
    response.extensions.insert(
        REQUEST_ERROR.to_owned(),
        async_graphql::Value::Boolean(true),
    );
    response
}

/// A refused operation's answer as a GraphQL response marked as a request error.
fn as_request_error(answer: Answer) -> Response {
    match answer {
        Answer::Executed { response, .. } => request_error(*response),
        made_here => request_error(made(&made_here)),
    }
}
