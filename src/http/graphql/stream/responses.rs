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

/// The extension a shared render's result carries its `data` in, as JSON text written once
/// for all the subscribers it goes to (a `Value::Binary`; its `data` is null); `payload_json`
/// writes it in place. It never reaches a client.
pub(in crate::http::graphql) const RENDERED: &str = "cockpitRendered";

/// The extension a shared render's result carries its `extensions.cost` in, as JSON text (a
/// `Value::Binary`) made for it alone; written in place like its data. It never reaches a
/// client.
pub(in crate::http::graphql) const RENDERED_COST: &str = "cockpitRenderedCost";

/// A result as the JSON text async-graphql makes of it (`data`, then `extensions` and
/// `errors` when there are any), a shared render's data (`RENDERED`) written as it is.
pub(in crate::http::graphql) fn payload_json(response: Response) -> String {
    let mut json = String::new();
    write_payload(&mut json, response);
    json
}

/// A result as async-graphql writes it itself: a shared render's data (`RENDERED`) back in
/// its `data`.
pub(in crate::http::graphql) fn unrendered(mut response: Response) -> Response {
    if let Some(async_graphql::Value::Binary(json)) = response.extensions.remove(RENDERED) {
        response.data = serde_json::from_slice(&json).unwrap_or_default();
    }
    if let Some(async_graphql::Value::Binary(json)) = response.extensions.remove(RENDERED_COST) {
        let cost = serde_json::from_slice(&json).unwrap_or_default();
        response.extensions.insert("cost".to_owned(), cost);
    }
    response
}

/// `payload_json`, written at the end of `json`.
///
/// The extensions are read where they are, in one pass, rather than the two carrying text
/// taken out of the map first: a removal each was a seventh of writing a result.
pub(in crate::http::graphql) fn write_payload(json: &mut String, response: Response) {
    let text = |name: &str| match response.extensions.get(name) {
        Some(async_graphql::Value::Binary(text)) => std::str::from_utf8(text).ok(),
        _ => None,
    };
    let Some(data) = text(RENDERED) else {
        json.push_str(&serde_json::to_string(&response).unwrap_or_else(|_| "{}".to_owned()));
        return;
    };
    let mut cost = text(RENDERED_COST);
    json.reserve(data.len() + 256);
    json.push_str("{\"data\":");
    json.push_str(data);
    let written = |name: &String| name != RENDERED && name != RENDERED_COST;
    if cost.is_some() || response.extensions.keys().any(written) {
        // By name, as async-graphql's map has them, the cost's text in its place.
        json.push_str(",\"extensions\":{");
        let mut first = true;
        let mut member = |json: &mut String, name: &str, value: &str| {
            if !std::mem::take(&mut first) {
                json.push(',');
            }
            json.push_str(&serde_json::to_string(name).unwrap_or_default());
            json.push(':');
            json.push_str(value);
        };
        for (name, value) in response.extensions.iter().filter(|(name, _)| written(name)) {
            if let Some(text) = cost.take_if(|_| name.as_str() > "cost") {
                member(json, "cost", text);
            }
            let value = serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned());
            member(json, name, &value);
        }
        if let Some(text) = cost {
            member(json, "cost", text);
        }
        json.push('}');
    }
    if !response.errors.is_empty()
        && let Ok(errors) = serde_json::to_string(&response.errors)
    {
        json.push_str(",\"errors\":");
        json.push_str(&errors);
    }
    json.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response with data, an extension and an error, as a shared render's copy of it.
    fn rendered(response: &Response) -> Response {
        let json = serde_json::to_vec(&response.data).expect("json");
        let mut copy = Response::new(async_graphql::Value::Null);
        copy.errors.clone_from(&response.errors);
        copy.extensions.clone_from(&response.extensions);
        copy.extensions.insert(
            RENDERED.to_owned(),
            async_graphql::Value::Binary(json.into()),
        );
        copy
    }

    #[test]
    fn a_shared_renders_result_is_written_as_async_graphql_writes_it() {
        let data = async_graphql::value!({ "b": { "z": 1, "a": [true, null, "x\"y"] }, "a": 2.5 });
        let mut whole = Response::new(data.clone());
        assert_eq!(
            payload_json(rendered(&whole)),
            serde_json::to_string(&whole).expect("json")
        );
        whole.extensions.insert(
            "cost".to_owned(),
            async_graphql::value!({ "actualQueryCost": 1 }),
        );
        whole.errors.push(ServerError::new("field failed", None));
        assert_eq!(
            payload_json(rendered(&whole)),
            serde_json::to_string(&whole).expect("json")
        );
        // Handed back to async-graphql, it is the result it would have written.
        assert_eq!(
            serde_json::to_string(&unrendered(rendered(&whole))).expect("json"),
            serde_json::to_string(&whole).expect("json")
        );
        // Its cost as text, among extensions before and after it by name.
        whole
            .extensions
            .insert("a".to_owned(), async_graphql::value!([1]));
        whole
            .extensions
            .insert("z".to_owned(), async_graphql::value!("last"));
        let with_cost_text = || {
            let mut copy = rendered(&whole);
            let cost = copy.extensions.remove("cost").expect("cost");
            copy.extensions.insert(
                RENDERED_COST.to_owned(),
                async_graphql::Value::Binary(serde_json::to_vec(&cost).expect("json").into()),
            );
            copy
        };
        let written = serde_json::to_string(&whole).expect("json");
        assert_eq!(payload_json(with_cost_text()), written);
        assert_eq!(
            serde_json::to_string(&unrendered(with_cost_text())).expect("json"),
            written
        );
        // Anything else is async-graphql's own writing.
        let written = serde_json::to_string(&Response::new(data.clone())).expect("json");
        assert_eq!(payload_json(Response::new(data)), written);
    }
}
