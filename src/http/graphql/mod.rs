//! GraphQL on `/graphql`, one pipeline for every transport. A transport reads its request into
//! an `Operation` (parameters, the caller's credential parsed once, how it arrived) and hands it
//! to `run`: `prepare` (its stages in `prepare.rs`), then the one executor, `run_ready` — a
//! query or mutation through `execute`, a subscription through `stream::subscribe`. The
//! `Outcome` goes out in the transport's terms: JSON over HTTP (`POST` and `GET`, batches,
//! keyed requests through the idempotency store), server-sent events (`sse.rs`), WebSocket
//! (`ws.rs`).

use std::net::IpAddr;

use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::stream::BoxStream;
use serde_json::{Value, json};

use super::AppState;
use super::auth::Presented;
use super::error::{ApiError, Envelope, ErrorCodes};
use super::idempotency::{self, Begun};
use super::media::{Media, Negotiated, Stream, negotiate};
use super::ops::GraphqlOutcome;
use super::pipeline;
use crate::code::Code;
use crate::domain::Actor;
use crate::graphql::analysis;
use crate::graphql::loaders;
use crate::graphql::subscription::ResumeAfter;
use crate::server::ConnectionScope;

mod answer;
mod cost;
mod documents;
mod multipart;
mod order;
mod params;
mod prepare;
mod sse;
mod stream;
mod streamed;
mod ws;

use answer::Answer;
pub use cost::BYTES_PER_COST_POINT;
use cost::returned_objects;
pub use documents::{ParsedDocument, ParsedDocuments};
use params::Params;
use prepare::{Prepared, Ready, RootKey, prepare, root_keys};
pub use stream::SubscriptionCounts;

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

/// A request's `Idempotency-Key`, and the JSON media type a kept response is in (`None` when
/// the client takes no JSON, and so can't send a keyed mutation).
struct Keyed {
    key: String,
    media: Option<Media>,
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

async fn run_batch(
    state: &AppState,
    caller: &Caller,
    items: Vec<Value>,
    media: Media,
    request_bytes: usize,
) -> Result<(StatusCode, Answer), ApiError> {
    let Some(max) = state.limits.max_batch else {
        return Err(ApiError::bad_request(
            "Batched requests (a JSON array) are not enabled on this gateway.",
        ));
    };
    if items.is_empty() || items.len() > max {
        return Err(ApiError::bad_request(format!(
            "A batch holds 1 to {max} operations (the batch limit); this one holds {}.",
            items.len()
        )));
    }
    // The credential headers are the whole request's: malformed, they refuse it once.
    caller.presented.credentials()?;
    let mut results = Vec::with_capacity(items.len());
    let mut unavailable = true;
    // The first refusal for an empty bucket, while every operation before was refused so.
    let mut throttled: Option<ApiError> = None;
    let mut all_throttled = true;
    for item in items {
        let result = match Params::from_json(item) {
            Ok(params) => {
                let operation = Operation {
                    params,
                    caller: caller.clone(),
                    arrival: Arrival {
                        via_get: false,
                        media,
                        request_bytes,
                        // A batch's answer is one JSON array: none of it streams.
                        streaming: false,
                        subscriptions_only: false,
                    },
                    streams: Streams::default(),
                };
                match run(state, operation).await {
                    Ok(Outcome::Answered(status, answer)) => Ok((status, answer)),
                    // `prepare` refuses a subscription that can't stream.
                    Ok(Outcome::Streaming(_)) => Err(ApiError::internal()),
                    Err(refusal) => Err(refusal),
                }
            }
            Err(refusal) => Err(refusal),
        };
        match result {
            Ok((status, body)) => {
                unavailable &= status == StatusCode::SERVICE_UNAVAILABLE;
                all_throttled = false;
                results.push(body);
            }
            // Authentication applies to the whole request, and so does a credential that
            // couldn't be checked.
            Err(r)
                if matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                    || matches!(
                        r.code,
                        Code::ServiceUnavailable | Code::AuthenticationUnavailable
                    ) =>
            {
                return Err(r);
            }
            Err(r) => {
                unavailable = false;
                if r.code == Code::RateLimited {
                    throttled.get_or_insert_with(|| r.clone());
                } else {
                    all_throttled = false;
                }
                results.push(Answer::Made(r.graphql_body()));
            }
        }
    }
    // Nothing ran because the bucket is empty: the 429 (and its `Retry-After`) a single
    // operation gets, so that the client backs off.
    if all_throttled && let Some(throttled) = throttled {
        return Err(throttled);
    }
    // No operation answered anything because the database couldn't be reached.
    let status = if unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok((status, Answer::Batch(results)))
}

/// Runs one operation, over any transport: every step before it runs (`prepare`), then the one
/// executor (`run_ready`).
async fn run(state: &AppState, operation: Operation) -> Result<Outcome, ApiError> {
    let Operation {
        params,
        caller,
        arrival,
        streams,
    } = operation;
    match prepare(state, &caller, params, arrival).await? {
        Prepared::Ready(ready) => run_ready(state, *ready, &caller, arrival, streams).await,
        Prepared::Answered(answer) => Ok(Outcome::Answered(StatusCode::OK, answer)),
    }
}

/// Runs an operation `prepare` made ready: a query or mutation once, its cost settled as it
/// ends; a subscription as the stream of its results.
async fn run_ready(
    state: &AppState,
    ready: Ready,
    caller: &Caller,
    arrival: Arrival,
    streams: Streams,
) -> Result<Outcome, ApiError> {
    if ready.operation_type == OperationType::Subscription {
        return stream::subscribe(state, ready, caller, arrival, streams).await;
    }
    let (status, answer) = execute(state, ready, arrival).await?;
    Ok(Outcome::Answered(status, answer))
}

/// Runs one operation sent with an `Idempotency-Key`: a mutation runs once, in the key's unit
/// of work, which stores its response; a retry of the same operation gets that response. Any
/// other operation only reads, and runs as it would without the key.
async fn run_once(
    state: &AppState,
    operation: Operation,
    stream: Stream,
    scope: Option<ConnectionScope>,
    keyed: Keyed,
) -> Response {
    let Operation {
        params,
        caller,
        arrival,
        streams,
    } = operation;
    let media = arrival.media;
    let envelope = Envelope::Graphql(media);
    let ready = match prepare(state, &caller, params, arrival).await {
        Ok(Prepared::Ready(ready)) => *ready,
        Ok(Prepared::Answered(answer)) => return json_response(StatusCode::OK, answer, media),
        Err(refusal) => return refusal.render(envelope),
    };
    let actor = match (&ready.actor, ready.operation_type) {
        (Some(actor), OperationType::Mutation) => actor.clone(),
        _ => {
            let multipart = streams.multipart;
            let outcome = run_ready(state, ready, &caller, arrival, streams).await;
            return deliver(state, outcome, media, stream, multipart, scope);
        }
    };
    // What was reserved for running it goes back when it doesn't run.
    let refund_unrun = async |ready: &Ready| {
        pipeline::refund(state, &ready.bucket, ready.requested - ready.floor).await;
    };
    // What a key keeps is a JSON response, so a keyed mutation is answered in JSON.
    let Some(media) = keyed.media else {
        refund_unrun(&ready).await;
        return idempotency::invalid(
            "A response kept for an Idempotency-Key is JSON; accept `application/graphql-response+json` or `application/json` to send one.",
        )
        .render(envelope);
    };
    let envelope = Envelope::Graphql(media);
    if shows_a_secret(&ready) {
        refund_unrun(&ready).await;
        return idempotency::invalid(
            "`createApiKey` and `createStreamTicket` show their secret once and only its SHA-256 is stored, so their response can't be kept for a retry; send them without an Idempotency-Key.",
        )
        .render(envelope);
    }
    let key = idempotency::Keyed::new(keyed.key, "POST", "/graphql", &the_operation(&ready));
    let guard = match idempotency::begin(state, &actor, &key, envelope).await {
        Ok(Begun::Run(guard)) => guard,
        Ok(Begun::Replay(response)) => {
            refund_unrun(&ready).await;
            return response;
        }
        Err(refusal) => {
            refund_unrun(&ready).await;
            return refusal.render(envelope);
        }
    };
    let mut ready = ready;
    ready.request = with_database(state, ready.request, &actor, guard.db(), false);
    match execute(state, ready, arrival).await {
        Ok((status, answer)) if !answer.server_fault() => {
            guard.finish(json_response(status, answer, media)).await
        }
        // A fault of the gateway or the database: nothing of the request is kept, so that a
        // retry with the key runs it afresh — and the answer says so, rather than show what
        // its other fields did and was rolled back.
        Ok((_, answer)) if answer.unavailable() => {
            guard.discard();
            ApiError::service_unavailable().render(envelope)
        }
        Ok(_) => {
            guard.discard();
            ApiError::unavailable(
                "The request failed in the gateway or its database and nothing of it was written; retry it with the same Idempotency-Key.",
            )
            .render(envelope)
        }
        Err(refusal) => {
            guard.discard();
            refusal.render(envelope)
        }
    }
}

/// The operation a key stands for, however its document was named (its text, APQ's hash, a
/// trusted document's id): the document's text, the operation it runs, and its variables.
fn the_operation(ready: &Ready) -> Value {
    let document = &ready.parsed.document;
    let name = analysis::select_operation(document, ready.operation_name.as_deref())
        .ok()
        .and_then(|(name, _)| name)
        .or_else(|| ready.operation_name.clone());
    json!({
        "query": ready.request.query,
        "operationName": name,
        "variables": ready.request.variables,
    })
}

/// Whether the operation selects a field whose answer holds a secret shown once.
fn shows_a_secret(ready: &Ready) -> bool {
    let document = &ready.parsed.document;
    let Ok((_, operation)) = analysis::select_operation(document, ready.operation_name.as_deref())
    else {
        return false;
    };
    let mut names = std::collections::HashSet::new();
    root_keys(
        document,
        &operation.node.selection_set.node,
        &mut names,
        0,
        RootKey::Name,
    );
    names.contains("createApiKey") || names.contains("createStreamTicket")
}

fn respond(outcome: Result<(StatusCode, Answer), ApiError>, media: Media) -> Response {
    match outcome {
        Ok((status, answer)) => json_response(status, answer, media),
        Err(refusal) => refusal.render(Envelope::Graphql(media)),
    }
}

/// Executes a prepared operation and settles its cost.
async fn execute(
    state: &AppState,
    ready: Ready,
    arrival: Arrival,
) -> Result<(StatusCode, Answer), ApiError> {
    let Ready {
        request,
        parsed,
        prevalidated,
        vouches,
        bucket,
        floor,
        requested,
        operation_name,
        lookups,
        ..
    } = ready;
    let schema = if prevalidated {
        &state.schema_for_validated
    } else {
        &state.schema
    };
    let executed: Result<_, ApiError> =
        pipeline::within(state, async { Ok(schema.execute(request).await) }).await;
    // Validation's errors are the ones tied to no field.
    if let Ok(response) = &executed
        && !prevalidated
        && vouches
        && response.errors.iter().all(|e| !e.path.is_empty())
    {
        parsed.mark_validated();
    }
    // What the response holds, and the lookups by id that returned nothing, decide the actual
    // cost; the rest of the reservation goes back.
    let actual = match &executed {
        Ok(response) => returned_objects(&response.data)
            .saturating_add(lookups.unanswered())
            .clamp(floor, requested),
        Err(_) => requested,
    };
    let throttle = pipeline::refund(state, &bucket, requested - actual).await;
    let mut response = executed?;
    order::in_selection_order(
        &mut response.data,
        &parsed.document,
        operation_name.as_deref(),
    );
    Ok(Answer::executed(
        response,
        arrival.media.request_error_status(),
        pipeline::cost_report(requested, actual, throttle),
    ))
}

/// The request with every read and write of its resolvers and loaders going through `db`
/// (a unit of work), in place of the app's pool.
fn with_database(
    state: &AppState,
    request: async_graphql::Request,
    actor: &Actor,
    db: crate::db::Db,
    query: bool,
) -> async_graphql::Request {
    let loader = loaders::phone_numbers(db.clone(), actor.organization_id, query);
    let services = crate::graphql::Services {
        db,
        ..state.services.clone()
    };
    request.data(services).data(loader)
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
