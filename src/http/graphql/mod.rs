//! GraphQL on `/graphql`, one pipeline for every transport. A transport reads its request into
//! an `Operation` (parameters, the caller's credential parsed once, how it arrived) and hands it
//! to `run` (`run.rs`): `prepare` (its stages in `prepare/`), then the one executor,
//! `run_ready` — a query or mutation through `execute`, a subscription through
//! `stream::subscribe`. The `Outcome` goes out in the transport's terms: JSON over HTTP (`POST`
//! and `GET`, `batch.rs`, keyed requests through the idempotency store in `keyed.rs`),
//! server-sent events (`sse.rs`), Apollo's multipart subscriptions (`multipart.rs`),
//! WebSocket (`ws/`).

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::stream::BoxStream;
use serde_json::Value;

use super::AppState;
use super::auth::Presented;
use super::error::{ApiError, Envelope, ErrorCodes};
use super::idempotency;
use super::media::{Media, Negotiated, Stream, negotiate};
use super::ops::GraphqlOutcome;
use super::pipeline;
use crate::code::Code;
use crate::graphql::subscription::ResumeAfter;
use crate::server::ConnectionScope;

mod answer;
mod batch;
mod cost;
mod documents;
mod keyed;
mod multipart;
mod order;
mod params;
mod prepare;
mod run;
mod slots;
mod sse;
mod stream;
mod streamed;
mod ws;

use answer::Answer;
use batch::run_batch;
pub use cost::BYTES_PER_COST_POINT;
pub use documents::{ParsedDocument, ParsedDocuments};
use keyed::{Keyed, run_once};
use params::Params;
use prepare::Ready;
use run::{execute, run, run_ready};
pub use slots::SubscriptionCounts;

/// How one operation arrived: by GET or POST, the media type it is answered in, and how many
/// bytes of the request are its share (the document, its variables and extensions alike are
/// read before anything runs, so their size sets the cost floor).
#[derive(Debug, Clone, Copy)]
struct Arrival {
    via_get: bool,
    media: Media,
    request_bytes: usize,
    /// Whether a subscription may run: over a transport that streams results (WebSocket,
    /// server-sent events), or over plain HTTP for a client that accepts an event stream, which
    /// the subscription is then answered with. Otherwise subscriptions are refused.
    streaming: bool,
    /// Whether only a subscription can be answered: the client takes multipart alone.
    subscriptions_only: bool,
}

impl Arrival {
    /// How a plain HTTP request arrived, as its `Accept` negotiated.
    fn over_http(
        via_get: bool,
        media: Media,
        request_bytes: usize,
        negotiated: Negotiated,
    ) -> Self {
        Self {
            via_get,
            media,
            request_bytes,
            // A subscription has no JSON answer: it streams whenever the client takes a
            // stream at all.
            streaming: negotiated.streams(),
            subscriptions_only: negotiated.subscriptions_only(),
        }
    }
}

/// Who sends an operation: what it presents of who it is (read once, from headers or a
/// WebSocket's `connection_init`) and its address.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    presented: Presented,
    client: Option<IpAddr>,
}

/// One operation as any transport hands it over: what it asks, who asks, how it arrived, and
/// what a subscription of it is to do.
struct Operation {
    params: Params,
    caller: Caller,
    arrival: Arrival,
    streams: Streams,
}

/// What a transport asks of a subscription beyond the operation itself.
struct Streams {
    /// The event to resume after (SSE's `Last-Event-ID`); `Err` when the client named no
    /// cursor there, which refuses a subscription and nothing else.
    resume: Result<Option<ResumeAfter>, ApiError>,
    /// Whether each result names the event it delivers (`stream::EVENT_ID`), for a transport
    /// that names its messages by it.
    tagged: bool,
    /// Whether a subscription over plain HTTP is answered as Apollo's multipart subscriptions
    /// rather than an event stream.
    multipart: bool,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            resume: Ok(None),
            tagged: false,
            multipart: false,
        }
    }
}

/// What running an operation comes to, for each transport to deliver in its own terms.
enum Outcome {
    /// One answer and its HTTP status: an executed query or mutation, a request error (a
    /// document that failed validation, variables that failed coercion), the APQ protocol's
    /// answers.
    Answered(StatusCode, Answer),
    /// A subscription's results, each paid for as it is delivered (`stream::subscribe`).
    Streaming(BoxStream<'static, async_graphql::Response>),
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// The client's address, when the server was started with connection info.
fn client_ip(extensions: &Extensions) -> Option<IpAddr> {
    extensions.get::<super::ClientAddr>().map(|c| c.0)
}

/// Who sent an HTTP request.
fn caller(headers: &HeaderMap, extensions: &Extensions) -> Caller {
    Caller {
        presented: Presented::from_headers(headers),
        client: client_ip(extensions),
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
        return super::graphiql::page();
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
                super::body_limit_message(state.limits.max_body_bytes),
            )
            .render(Envelope::Graphql(media));
        }
        Err(_) => {
            return ApiError::bad_request("The request body could not be read.")
                .render(Envelope::Graphql(media));
        }
    };
    if !super::is_json_body(&headers) {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::BadRequest,
            "Send the request as `Content-Type: application/json`.",
        )
        .render(Envelope::Graphql(media));
    }
    if let Err(message) = super::check_json_nesting(&body, state.limits.max_nesting) {
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

/// A subscription's results over plain HTTP: as multipart or an event stream.
fn streamed(
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
async fn respond_to(
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
fn deliver(
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
fn with_outcome(mut response: Response, operation: Option<String>) -> Response {
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

fn respond(outcome: Result<(StatusCode, Answer), ApiError>, media: Media) -> Response {
    match outcome {
        Ok((status, answer)) => json_response(status, answer, media),
        Err(refusal) => refusal.render(Envelope::Graphql(media)),
    }
}

fn json_response(status: StatusCode, answer: Answer, media: Media) -> Response {
    let mut response = media.respond(status, &answer);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            crate::code::SERVICE_UNAVAILABLE_RETRY_AFTER.into(),
        );
    }
    response.extensions_mut().insert(answer.error_codes());
    response
}

fn not_acceptable() -> Response {
    ApiError::new(
        StatusCode::NOT_ACCEPTABLE,
        Code::BadRequest,
        "Accept application/graphql-response+json or application/json (a subscription also streams as text/event-stream or multipart/mixed;subscriptionSpec=1.0).",
    )
    .render(Envelope::Graphql(Media::Json))
}
