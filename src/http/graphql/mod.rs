//! GraphQL over HTTP (graphql.github.io/graphql-over-http): `POST /graphql` with JSON,
//! `GET /graphql?query=…` for queries, GraphiQL for browsers. Each request is negotiated,
//! measured, authenticated, charged its floor, parsed, analysed against the limits and only then
//! executed (`run`, read top to bottom, is the pipeline). Over 400 lines because the pipeline is
//! kept in one file, in the order it runs.

use std::net::IpAddr;
use std::sync::Arc;

use async_graphql::Variables;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::AppState;
use super::apq::{ApqError, Resolved};
use super::error::{ApiError, Envelope, ErrorCodes};
use super::idempotency::{self, Begun, Keyed};
use super::media::{Media, Stream, negotiate};
use super::ops::GraphqlOutcome;
use super::pipeline;
use super::trusted::TrustedMode;
use crate::code::Code;
use crate::domain::Actor;
use crate::graphql::analysis;
use crate::graphql::loaders;
use crate::graphql::query::Lookups;
use crate::server::ConnectionScope;

mod answer;
mod cost;
mod documents;
mod multipart;
mod order;
mod params;
mod sse;
mod stream;
mod streamed;
mod ws;

use answer::Answer;
pub use cost::BYTES_PER_COST_POINT;
use cost::{FIELDS_PER_COST_POINT, check_limits, cost_floor, returned_objects, within_a_bucket};
pub use documents::{ParsedDocument, ParsedDocuments};
use params::Params;
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

pub async fn get(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    if ws::is_upgrade(request.headers()) {
        return ws::upgrade(state, request).await;
    }
    let (parts, _) = request.into_parts();
    let (headers, extensions) = (parts.headers, parts.extensions);
    let client = client_ip(&extensions);
    let raw = parts.uri.query().unwrap_or_default().to_owned();
    let params = match Params::from_query_string(&raw, state.limits.max_nesting) {
        Ok(params) => params,
        Err(refusal) => return refusal.render(Envelope::Graphql(Media::Json)),
    };
    let negotiated = negotiate(&headers);
    let scope = extensions.get::<ConnectionScope>().cloned();
    if params.ticket.is_some() && negotiated.stream != Stream::Preferred {
        return pipeline::ticket_misused().render(Envelope::Graphql(Media::Json));
    }
    if negotiated.stream == Stream::Preferred || (negotiated.multipart && negotiated.json.is_none())
    {
        let operation = params.operation_name.clone();
        let response = if negotiated.multipart {
            multipart::respond(state, headers, client, scope, params, true, raw.len()).await
        } else {
            sse::respond(state, headers, client, scope, params, true, raw.len()).await
        };
        return with_outcome(response, operation);
    }
    if params.query.is_none() && params.extensions.is_empty() && wants_html(&headers) {
        return super::graphiql::page();
    }
    let Some(media) = negotiated.json else {
        return not_acceptable();
    };
    let operation = params.operation_name.clone();
    let arrival = Arrival {
        via_get: true,
        media,
        request_bytes: raw.len(),
        streaming: negotiated.stream == Stream::Accepted || negotiated.multipart,
    };
    let response = answer(&state, &headers, client, scope, params, arrival).await;
    with_outcome(response, operation)
}

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let client = client_ip(&extensions);
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
    // A subscription has no JSON answer: it streams whenever the client takes a stream at all.
    let streaming = negotiated.stream != Stream::Refused || negotiated.multipart;
    if let Some(key) = key {
        if value.is_array() {
            return idempotency::invalid(
                "An Idempotency-Key covers one operation; send each mutation of a batch as a request of its own.",
            )
            .render(Envelope::Graphql(media));
        }
        // What a key keeps is a JSON response, so a keyed request is answered in JSON.
        let Some(media) = negotiated.json else {
            return idempotency::invalid(
                "A response kept for an Idempotency-Key is JSON; accept `application/graphql-response+json` or `application/json` to send one.",
            )
            .render(Envelope::Graphql(media));
        };
        let params = match Params::from_json(value) {
            Ok(params) => params,
            Err(refusal) => return refusal.render(Envelope::Graphql(media)),
        };
        let operation = params.operation_name.clone();
        let arrival = Arrival {
            via_get: false,
            media,
            request_bytes: body.len(),
            streaming,
        };
        let response = run_once(&state, &headers, client, scope, params, arrival, key).await;
        return with_outcome(response, operation);
    }
    let params = match value {
        // A batch is answered in JSON whenever the client takes JSON at all.
        Value::Array(items) => {
            let Some(media) = negotiated.json else {
                return ApiError::bad_request(
                    "An event stream carries one operation; send a batch as JSON.",
                )
                .render(Envelope::Graphql(media));
            };
            let share = body.len() / items.len().max(1);
            let outcome = run_batch(&state, &headers, client, items, media, share).await;
            return with_outcome(respond(outcome, media), Some("(batch)".to_owned()));
        }
        single => match Params::from_json(single) {
            Ok(params) => params,
            Err(refusal) => return refusal.render(Envelope::Graphql(media)),
        },
    };
    let operation = params.operation_name.clone();
    let response = match negotiated.json {
        Some(media) if negotiated.stream != Stream::Preferred => {
            let arrival = Arrival {
                via_get: false,
                media,
                request_bytes: body.len(),
                streaming,
            };
            answer(&state, &headers, client, scope, params, arrival).await
        }
        _ if negotiated.multipart => {
            multipart::respond(state, headers, client, scope, params, false, body.len()).await
        }
        _ => sse::respond(state, headers, client, scope, params, false, body.len()).await,
    };
    with_outcome(response, operation)
}

/// Answers one operation in JSON; a subscription (let through `prepare` only when the client
/// takes an event stream) with an event stream.
async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    scope: Option<ConnectionScope>,
    params: Params,
    arrival: Arrival,
) -> Response {
    let media = arrival.media;
    match prepare(state, headers, client, params, arrival).await {
        Ok(Prepared::Ready(ready)) => answer_ready(state, headers, scope, *ready, arrival).await,
        Ok(Prepared::Answered(answer)) => json_response(StatusCode::OK, answer, media),
        Err(refusal) => refusal.render(Envelope::Graphql(media)),
    }
}

/// Runs a prepared operation: a subscription as multipart or an event stream, as `Accept`
/// prefers, anything else in JSON.
async fn answer_ready(
    state: &AppState,
    headers: &HeaderMap,
    scope: Option<ConnectionScope>,
    ready: Ready,
    arrival: Arrival,
) -> Response {
    if ready.operation_type == OperationType::Subscription {
        if negotiate(headers).multipart {
            return multipart::respond_ready(state, headers, ready, arrival, scope).await;
        }
        return sse::respond_ready(state, headers, ready, arrival, scope).await;
    }
    respond(execute(state, ready, arrival).await, arrival.media)
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
    headers: &HeaderMap,
    client: Option<IpAddr>,
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
    let mut results = Vec::with_capacity(items.len());
    let mut unavailable = true;
    for item in items {
        let result = match Params::from_json(item) {
            Ok(params) => {
                let arrival = Arrival {
                    via_get: false,
                    media,
                    request_bytes,
                    streaming: false,
                };
                run(state, headers, client, params, arrival).await
            }
            Err(refusal) => Err(refusal),
        };
        match result {
            Ok((status, body)) => {
                unavailable &= status == StatusCode::SERVICE_UNAVAILABLE;
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
                results.push(Answer::Made(r.graphql_body()));
            }
        }
    }
    // No operation answered anything because the database couldn't be reached.
    let status = if unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    Ok((status, Answer::Batch(results)))
}

/// Runs one operation: analysis and limits, authentication, execution.
async fn run(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    params: Params,
    arrival: Arrival,
) -> Result<(StatusCode, Answer), ApiError> {
    match prepare(state, headers, client, params, arrival).await? {
        Prepared::Ready(ready) => execute(state, *ready, arrival).await,
        Prepared::Answered(answer) => Ok((StatusCode::OK, answer)),
    }
}

/// Runs one operation sent with an `Idempotency-Key`: a mutation runs once, in the key's unit
/// of work, which stores its response; a retry of the same operation gets that response. Any
/// other operation only reads, and runs as it would without the key.
async fn run_once(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    scope: Option<ConnectionScope>,
    params: Params,
    arrival: Arrival,
    key: String,
) -> Response {
    let media = arrival.media;
    let envelope = Envelope::Graphql(media);
    let ready = match prepare(state, headers, client, params, arrival).await {
        Ok(Prepared::Ready(ready)) => *ready,
        Ok(Prepared::Answered(answer)) => return json_response(StatusCode::OK, answer, media),
        Err(refusal) => return refusal.render(envelope),
    };
    let actor = match (&ready.actor, ready.operation_type) {
        (Some(actor), OperationType::Mutation) => actor.clone(),
        _ => return answer_ready(state, headers, scope, ready, arrival).await,
    };
    // What was reserved for running it goes back when it doesn't run.
    let refund_unrun = async |ready: &Ready| {
        pipeline::refund(state, &ready.bucket, ready.requested - ready.floor).await;
    };
    if shows_a_secret(&ready) {
        refund_unrun(&ready).await;
        return idempotency::invalid(
            "`createApiKey` and `createStreamTicket` show their secret once and only its SHA-256 is stored, so their response can't be kept for a retry; send them without an Idempotency-Key.",
        )
        .render(envelope);
    }
    let key = Keyed::new(key, "POST", "/graphql", &the_operation(&ready));
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

/// What `prepare` makes of an operation.
enum Prepared {
    /// Checked, authenticated and paid for: ready to run.
    Ready(Box<Ready>),
    /// Answered without running (the APQ protocol's answers).
    Answered(Answer),
}

/// An operation ready to run, and what its run needs to settle its cost.
struct Ready {
    request: async_graphql::Request,
    parsed: Arc<ParsedDocument>,
    /// Whether the document passed full validation before (see `run`).
    prevalidated: bool,
    vouches: bool,
    bucket: String,
    floor: u64,
    /// The cost reserved from the bucket.
    requested: u64,
    operation_name: Option<String>,
    operation_type: OperationType,
    /// Who is calling; `None` for an introspection-only operation without a credential.
    actor: Option<Actor>,
    /// Its lookups by id that returned nothing, which it pays for as objects returned.
    lookups: Lookups,
}

/// Every step before an operation runs, for every transport: persisted queries, measurement
/// before parsing, identity and the floor's charge, parsing, analysis against the limits, the
/// reservation of its cost, and the request with its actor.
async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    mut params: Params,
    arrival: Arrival,
) -> Result<Prepared, ApiError> {
    let ticket = params
        .ticket
        .take()
        .map(|ticket| (ticket, ticketed_operation(&params)));
    let trusted = trusted_document(state, &mut params)?;
    let only_introspection = trusted == Trusted::IfIntrospection;
    let resolved = match (trusted, &state.apq) {
        (Trusted::Named(text), _) => Ok(Some(Resolved::sent(text.to_string()))),
        (_, Some(apq)) => apq.resolve(params.query, &params.extensions),
        (_, None) if params.extensions.contains_key("persistedQuery") => {
            Err(ApqError::NotSupported)
        }
        (_, None) => Ok(params.query.map(Resolved::sent)),
    };
    let Resolved { query, register } = match resolved {
        Ok(Some(resolved)) => resolved,
        Ok(None) => return Err(ApiError::bad_request("`query` is required.")),
        // Apollo's protocol answers these with 200, so that clients send the query next.
        Err(ApqError::NotFound) => {
            return Ok(Prepared::Answered(Answer::Made(
                json!({ "errors": [{ "message": "PersistedQueryNotFound",
                    "extensions": { "code": Code::PersistedQueryNotFound.as_str() } }] }),
            )));
        }
        Err(ApqError::NotSupported) => {
            return Ok(Prepared::Answered(Answer::Made(
                json!({ "errors": [{ "message": "PersistedQueryNotSupported",
                    "extensions": { "code": Code::PersistedQueryNotSupported.as_str() } }] }),
            )));
        }
        Err(ApqError::Invalid(message)) => return Err(ApiError::bad_request(message)),
    };
    // Measured before parsing: the parser recurses once per bracket, and its work grows
    // with the tokens, so both are bounded before it runs.
    let shape = crate::scan::document_shape(&query);
    if shape.nesting > state.limits.max_nesting {
        return Err(ApiError::nesting(super::nesting_message(
            "The document",
            shape.nesting,
            state.limits.max_nesting,
        )));
    }
    if shape.tokens > state.limits.max_tokens {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::TokenLimitExceeded,
            format!(
                "The document has {} tokens; the token limit is {} (`--max-tokens`).",
                shape.tokens, state.limits.max_tokens
            ),
        ));
    }
    // Who is calling, and the floor paid, before any parsing: a document that never parses,
    // validates or authenticates has still cost the work of reading it, and that work is
    // charged to the credential, or to the address of an anonymous caller.
    let actor = match ticket {
        Some((ticket, operation)) => {
            Some(pipeline::redeem(state, headers, &ticket, &operation).await?)
        }
        None => pipeline::identify(state, headers).await?,
    };
    let bucket = pipeline::bucket(actor.as_ref(), client);
    // A hash-only APQ request reads the remembered document, so its size counts too.
    let paid = cost_floor(shape.tokens, arrival.request_bytes.max(query.len()));
    within_a_bucket(
        state,
        paid,
        "The document is so large that reading it costs",
    )?;
    pipeline::charge(state, &bucket, paid, paid).await?;

    let cached = state.documents.get(&query);
    let fresh = cached.is_none();
    let parsed = match cached {
        Some(parsed) => parsed,
        None => Arc::new(ParsedDocument::new(
            async_graphql::parser::parse_query(&query).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    Code::GraphqlParseFailed,
                    format!("The query does not parse: {e}"),
                )
            })?,
        )),
    };
    let document = &parsed.document;
    let analysis = analysis::analyse(
        document,
        params.operation_name.as_deref(),
        &params.variables,
        &state.schema_shape,
    )
    .map_err(|analysis::AnalysisError::UnknownOperation(m)| {
        ApiError::new(StatusCode::BAD_REQUEST, Code::GraphqlValidationFailed, m)
    })?;
    if analysis.operation_type == OperationType::Subscription
        && let Ok((_, operation)) =
            analysis::select_operation(document, params.operation_name.as_deref())
    {
        let mut keys = std::collections::HashSet::new();
        root_keys(
            document,
            &operation.node.selection_set.node,
            &mut keys,
            0,
            RootKey::ResponseKey,
        );
        if keys.len() != 1 || keys.contains("__typename") {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::GraphqlValidationFailed,
                "A subscription selects exactly one root field (not __typename), with its fragments expanded; open one subscription per field.",
            ));
        }
    }
    if analysis.operation_type == OperationType::Subscription && !arrival.streaming {
        return Err(ApiError::bad_request(
            "Subscriptions run over WebSocket (graphql-transport-ws or graphql-ws on this URL), server-sent events (`Accept: text/event-stream`) or multipart subscriptions (`Accept: multipart/mixed;subscriptionSpec=1.0`).",
        ));
    }
    // A subscription only reads, so an event stream may ask for it by GET (EventSource).
    let safe = analysis.operation_type == OperationType::Query
        || (arrival.streaming && analysis.operation_type == OperationType::Subscription);
    if arrival.via_get && !safe {
        let mut refusal = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Code::BadRequest,
            "Only queries may be sent with GET; send mutations with POST.",
        );
        refusal.allow = Some("POST");
        return Err(refusal);
    }
    if only_introspection && !analysis.introspection_only {
        return Err(not_trusted());
    }
    if analysis.introspects && !state.limits.introspection {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::GraphqlValidationFailed,
            "Introspection is turned off on this gateway; the schema is published as schema.graphql.",
        ));
    }
    check_limits(&analysis, &state.limits)?;
    if actor.is_none() && !analysis.introspection_only {
        return Err(ApiError::credential_required());
    }

    // Only an authenticated caller's query text is remembered, so anonymous traffic can't
    // fill the cache.
    if let (Some(apq), Some(hash), Some(_)) = (&state.apq, register, &actor) {
        apq.remember(hash, &query);
    }
    if fresh && actor.is_some() {
        state.documents.keep(&query, &parsed);
    }
    // The floor grows with the fields the operation selects (fragments expanded): validating
    // and planning them is work whatever the response holds. The rest of what the operation
    // may cost is reserved now; what its response doesn't use goes back, down to the floor.
    let floor = paid + analysis.fields / FIELDS_PER_COST_POINT;
    let requested = analysis.cost.max(floor);
    within_a_bucket(state, requested, "The query may cost")?;
    pipeline::charge(state, &bucket, requested - paid, requested).await?;

    // A document that passed every rule before is validated only for what this request
    // changes, its variables; a document with several operations always in full (the rules
    // read variables of operations it doesn't run).
    let operation = single_operation(document)
        .then(|| analysis::select_operation(document, params.operation_name.as_deref()).ok())
        .flatten()
        .map(|(_, operation)| &operation.node);
    let prevalidated = parsed.validated()
        && operation.is_some_and(|operation| {
            state
                .schema_shape
                .inputs
                .variables_surely_valid(operation, &params.variables)
        });
    // Full validation vouches for the whole document only when every variable was given: the
    // arguments rule skips an argument whole (its literal parts too) when a variable in it
    // is missing.
    let vouches = operation.is_some_and(|operation| {
        operation
            .variable_definitions
            .iter()
            .all(|d| params.variables.contains_key(d.node.name.node.as_str()))
    });
    // Parsed once: async-graphql runs the document already parsed here.
    let lookups = Lookups::default();
    let mut request = async_graphql::Request::new(query)
        .variables(Variables::from_json(Value::Object(params.variables)))
        .data(lookups.clone());
    request.set_parsed_query(document.clone());
    if let Some(name) = params.operation_name.clone() {
        request = request.operation_name(name);
    }
    if let Some(actor) = &actor {
        let query = analysis.operation_type == OperationType::Query;
        request = with_actor(state, request, actor.clone(), query);
    }
    let operation_type = analysis.operation_type;
    Ok(Prepared::Ready(Box::new(Ready {
        request,
        parsed,
        prevalidated,
        vouches,
        bucket,
        floor,
        requested,
        operation_name: params.operation_name,
        operation_type,
        actor,
        lookups,
    })))
}

/// The operation a stream ticket must have been minted for, as the request names it.
fn ticketed_operation(params: &Params) -> String {
    use crate::domain::stream_tickets::{Document, operation_hash};
    let document = match (&params.document_id, &params.query) {
        (Some(id), _) => Document::Id(id),
        (None, text) => Document::Text(text.as_deref().unwrap_or_default()),
    };
    operation_hash(
        document,
        params.operation_name.as_deref(),
        &params.variables,
    )
}

/// What the trusted documents make of an operation.
#[derive(Debug, PartialEq, Eq)]
enum Trusted {
    /// Named by `documentId` or APQ's hash: this document of the manifest runs.
    Named(Arc<str>),
    /// Sent as text, which may run: a document of the manifest, or any text when the mode
    /// allows it.
    Text,
    /// Sent as text that is no trusted document, in `enforce` mode with introspection allowed:
    /// it runs only if it only introspects.
    IfIntrospection,
}

/// Looks the operation up in the trusted documents; in `enforce` mode anything else is refused.
fn trusted_document(state: &AppState, params: &mut Params) -> Result<Trusted, ApiError> {
    let documents = &state.trusted;
    let mode = documents.mode();
    if let Some(id) = params.document_id.take() {
        if mode == TrustedMode::Off {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::PersistedQueryNotSupported,
                "`documentId` names a trusted document, and this gateway keeps none (`--trusted-documents`); send the `query`.",
            ));
        }
        if params.query.is_some() {
            return Err(ApiError::bad_request(
                "Send a `documentId` or a `query`, not both.",
            ));
        }
        return match documents.current().by_id(&id) {
            Some(text) => Ok(Trusted::Named(text)),
            None => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::PersistedQueryNotFound,
                format!(
                    "No trusted document has the id `{}`; the client and the gateway's manifest are of different builds.",
                    id.chars().take(80).collect::<String>()
                ),
            )),
        };
    }
    if mode == TrustedMode::Off {
        return Ok(Trusted::Text);
    }
    let manifest = documents.current();
    let hash = params
        .extensions
        .get("persistedQuery")
        .and_then(|p| p.get("sha256Hash"))
        .and_then(Value::as_str)
        .and_then(super::apq::parse_hash);
    match (&params.query, hash) {
        (None, Some(hash)) => {
            if let Some(text) = manifest.by_hash(&hash) {
                return Ok(Trusted::Named(text));
            }
        }
        (Some(text), _) if manifest.contains_text(text) => return Ok(Trusted::Text),
        _ => {}
    }
    match mode {
        TrustedMode::Enforce
            if documents.settings.allow_introspection && params.query.is_some() =>
        {
            Ok(Trusted::IfIntrospection)
        }
        TrustedMode::Enforce => Err(not_trusted()),
        _ => Ok(Trusted::Text),
    }
}

fn not_trusted() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        Code::PersistedQueryNotAllowed,
        "This gateway runs only its trusted documents (`--trusted-documents-mode enforce`); send the `documentId` of one of them.",
    )
}

/// The response keys of a selection set's fields, its fragments expanded (the GraphQL spec's
/// "single root field" rule counts them); fragments nested past the nesting limit's worth
/// count as one more key each, so a cycle can't loop.
fn root_keys<'a>(
    document: &'a ExecutableDocument,
    set: &'a async_graphql::parser::types::SelectionSet,
    keys: &mut std::collections::HashSet<&'a str>,
    depth: usize,
    by: RootKey,
) {
    use async_graphql::parser::types::Selection;
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                keys.insert(match by {
                    RootKey::ResponseKey => field.node.response_key().node.as_str(),
                    RootKey::Name => field.node.name.node.as_str(),
                });
            }
            _ if depth > 32 => {
                keys.insert("(fragments nested too deep)");
            }
            Selection::InlineFragment(inline) => {
                root_keys(
                    document,
                    &inline.node.selection_set.node,
                    keys,
                    depth + 1,
                    by,
                );
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    root_keys(
                        document,
                        &fragment.node.selection_set.node,
                        keys,
                        depth + 1,
                        by,
                    );
                }
            }
        }
    }
}

/// What `root_keys` collects of each field: its response key (its alias, if any) or its name.
#[derive(Debug, Clone, Copy)]
enum RootKey {
    ResponseKey,
    Name,
}

fn single_operation(document: &ExecutableDocument) -> bool {
    match &document.operations {
        DocumentOperations::Single(_) => true,
        DocumentOperations::Multiple(operations) => operations.len() == 1,
    }
}

/// The request's actor, and its loaders (caching only for a query).
fn with_actor(
    state: &AppState,
    request: async_graphql::Request,
    actor: Actor,
    query: bool,
) -> async_graphql::Request {
    let loader = loaders::phone_numbers(state.db.clone(), actor.organization_id, query);
    request.data(actor).data(loader)
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
        "Accept application/graphql-response+json or application/json.",
    )
    .render(Envelope::Graphql(Media::Json))
}
