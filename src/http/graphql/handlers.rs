//! The plain HTTP handlers of `/graphql`: `GET` (or a WebSocket upgrade, or GraphiQL) and `POST`,
//! each request read into an `Operation`, a batch or a keyed request.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::super::AppState;
use super::super::auth::Presented;
use super::super::error::{ApiError, Envelope};
use super::super::idempotency;
use super::super::media::{Media, Negotiated, Stream, negotiate};
use super::super::pipeline;
use super::batch::run_batch;
use super::delivery::{respond, respond_to, with_outcome};
use super::keyed::{Keyed, run_once};
use super::params::Params;
use super::{Arrival, Caller, Operation, Streams, client_app, client_ip, sse, ws};
use crate::code::Code;
use crate::server::ConnectionScope;

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// Who sent an HTTP request.
fn caller(headers: &HeaderMap, extensions: &Extensions) -> Caller {
    Caller {
        presented: Presented::from_headers(headers),
        client: client_ip(extensions),
        app: client_app(extensions),
        cost_debug: super::cost::debug_in_headers(headers),
    }
}

pub async fn get(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    if ws::is_upgrade(request.headers()) {
        return ws::upgrade(state, request).await;
    }
    let (parts, _) = request.into_parts();
    let (headers, extensions) = (parts.headers, parts.extensions);
    let raw = parts.uri.query().unwrap_or_default().to_owned();
    let params = match Params::from_query_string(&raw, state.limits.max_nesting) {
        Ok(params) => params,
        Err(refusal) => return refusal.render(Envelope::Graphql(Media::Json)),
    };
    let negotiated = negotiate(&headers);
    let scope = extensions.get::<ConnectionScope>().cloned();
    // A ticket opens an event stream (an EventSource's GET) and nothing else.
    if params.ticket.is_some() && (negotiated.stream != Stream::Preferred || negotiated.multipart) {
        return pipeline::ticket_misused().render(Envelope::Graphql(Media::Json));
    }
    if negotiated.stream != Stream::Preferred
        && params.query.is_none()
        && params.extensions.is_empty()
        && wants_html(&headers)
    {
        return super::super::graphiql::page();
    }
    let Some(media) = negotiated.answer_media() else {
        return not_acceptable();
    };
    let operation = Operation {
        params,
        caller: caller(&headers, &extensions),
        arrival: Arrival::over_http(true, media, raw.len(), negotiated),
        streams: streams(&headers, negotiated),
    };
    let operation_name = operation.params.operation_name.clone();
    let response = respond_to(&state, operation, negotiated.stream, scope).await;
    with_outcome(response, operation_name)
}

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let scope = extensions.get::<ConnectionScope>().cloned();
    let negotiated = negotiate(&headers);
    if !negotiated.acceptable() {
        return not_acceptable();
    }
    let media = negotiated.error_media();
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::BodyLimitExceeded,
                super::super::body_limit_message(state.limits.max_body_bytes),
            )
            .render(Envelope::Graphql(media));
        }
        Err(_) => {
            return ApiError::bad_request("The request body could not be read.")
                .render(Envelope::Graphql(media));
        }
    };
    if !super::super::is_json_body(&headers) {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::BadRequest,
            "Send the request as `Content-Type: application/json`.",
        )
        .render(Envelope::Graphql(media));
    }
    if let Err(message) = super::super::check_json_nesting(&body, state.limits.max_nesting) {
        return ApiError::nesting(message).render(Envelope::Graphql(media));
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(_) => {
            return ApiError::bad_request("The request body is not valid JSON.")
                .render(Envelope::Graphql(media));
        }
    };
    let key = match idempotency::key_of(&headers) {
        Ok(key) => key,
        Err(refusal) => return refusal.render(Envelope::Graphql(media)),
    };
    let caller = caller(&headers, &extensions);
    if let Some(key) = key {
        if value.is_array() {
            return idempotency::invalid(
                "An Idempotency-Key covers one operation; send each mutation of a batch as a request of its own.",
            )
            .render(Envelope::Graphql(media));
        }
        let params = match Params::from_json(value) {
            Ok(params) => params,
            Err(refusal) => return refusal.render(Envelope::Graphql(media)),
        };
        let answer_media = negotiated.answer_media().unwrap_or(media);
        let operation = Operation {
            params,
            caller,
            arrival: Arrival::over_http(false, answer_media, body.len(), negotiated),
            streams: streams(&headers, negotiated),
        };
        let operation_name = operation.params.operation_name.clone();
        let keyed = Keyed {
            key,
            media: negotiated.json,
        };
        let response = run_once(&state, operation, negotiated.stream, scope, keyed).await;
        return with_outcome(response, operation_name);
    }
    let params = match value {
        // A batch is answered in JSON whenever the client takes JSON at all.
        Value::Array(items) => {
            let Some(media) = negotiated.json else {
                return ApiError::bad_request(
                    "A batch is answered in JSON; accept `application/graphql-response+json` or `application/json` to send one.",
                )
                .render(Envelope::Graphql(media));
            };
            let share = body.len() / items.len().max(1);
            let outcome = run_batch(&state, &caller, items, media, share).await;
            return with_outcome(respond(outcome, media), Some("(batch)".to_owned()));
        }
        single => match Params::from_json(single) {
            Ok(params) => params,
            Err(refusal) => return refusal.render(Envelope::Graphql(media)),
        },
    };
    let operation = Operation {
        params,
        caller,
        arrival: Arrival::over_http(
            false,
            negotiated.answer_media().unwrap_or(media),
            body.len(),
            negotiated,
        ),
        streams: streams(&headers, negotiated),
    };
    let operation_name = operation.params.operation_name.clone();
    let response = respond_to(&state, operation, negotiated.stream, scope).await;
    with_outcome(response, operation_name)
}

/// What a plain HTTP request asks of a subscription: as multipart when the client likes that
/// best, else as an event stream resuming after its `Last-Event-ID`; each result named by its
/// event.
fn streams(headers: &HeaderMap, negotiated: Negotiated) -> Streams {
    if negotiated.multipart {
        // Multipart resumes by the subscription's `after`; `Last-Event-ID` is SSE's.
        return Streams {
            tagged: true,
            multipart: true,
            ..Streams::default()
        };
    }
    sse::streams(headers)
}

fn not_acceptable() -> Response {
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        Code::BadRequest,
        "Accept application/graphql-response+json or application/json (a subscription also streams as text/event-stream or multipart/mixed;subscriptionSpec=1.0).",
    )
    .render(Envelope::Graphql(Media::Json))
}
