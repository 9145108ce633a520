//! GraphQL over HTTP (graphql.github.io/graphql-over-http): `POST /graphql` with JSON,
//! `GET /graphql?query=…` for queries, GraphiQL for browsers. Each request is negotiated,
//! parsed, analysed against the limits, authenticated and only then executed.

use std::collections::HashMap;
use std::net::IpAddr;

use async_graphql::Variables;
use async_graphql::dataloader::DataLoader;
use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use super::apq::{ApqError, Resolved};
use super::auth::{self, AuthRejection};
use super::ops::GraphqlOutcome;
use crate::domain::Actor;
use crate::graphql::analysis::{self, Analysis};
use crate::graphql::error::code;
use crate::graphql::loaders::PhoneNumbersByEndpoint;
use crate::ratelimit::{Decision, ThrottleStatus};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// A refusal before execution: its HTTP status and GraphQL-shaped error.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
    allow_post_only: bool,
    /// Seconds until a throttled request may succeed (`Retry-After`).
    retry_after: Option<u64>,
    /// `extensions.cost` of a throttled request.
    cost: Option<Value>,
}

impl Refusal {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow_post_only: false,
            retry_after: None,
            cost: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::BAD_REQUEST, message)
    }

    fn nesting(message: String) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            code::NESTING_LIMIT_EXCEEDED,
            message,
        )
    }
}

impl From<AuthRejection> for Refusal {
    fn from(r: AuthRejection) -> Self {
        Self::new(r.status, r.code, r.message)
    }
}

/// The media type of the response, from the request's `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    GraphqlResponseJson,
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// Picks the response's media type from `Accept` (GraphQL over HTTP): the newer
/// `application/graphql-response+json` when the client names it and likes it at least as much
/// as `application/json`; otherwise `application/json` — for no `Accept`, and for wildcards
/// (`*/*` is what most HTTP clients send, and they read plain JSON). The most specific range
/// decides a type's quality. `None` when neither is acceptable (406).
fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    // The quality of each range given: (explicit, application/*, */*) for each type.
    let mut graphql_response = None;
    let mut json = None;
    let mut application_any = None;
    let mut any = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media_range = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        let slot = match media_range.as_str() {
            GRAPHQL_RESPONSE_JSON => &mut graphql_response,
            APPLICATION_JSON => &mut json,
            "application/*" => &mut application_any,
            "*/*" => &mut any,
            _ => continue,
        };
        *slot = Some(slot.map_or(q, |old: f32| old.max(q)));
    }
    let wildcard = application_any.or(any);
    let json_q = json.or(wildcard).unwrap_or(0.0);
    match graphql_response {
        Some(q) if q > 0.0 && q >= json_q => Some(Media::GraphqlResponseJson),
        _ if json_q > 0.0 => Some(Media::Json),
        None if wildcard.is_some_and(|q| q > 0.0) => Some(Media::GraphqlResponseJson),
        _ => None,
    }
}

/// The status of a GraphQL request error — a document that doesn't parse or validate, or
/// variables that can't be coerced: with `application/json` every well-formed request is
/// answered 200 and the errors speak for themselves (older clients treat a 4xx as a transport
/// failure and never read them); `application/graphql-response+json` says 400.
fn request_error_status(media: Media) -> StatusCode {
    match media {
        Media::Json => StatusCode::OK,
        Media::GraphqlResponseJson => StatusCode::BAD_REQUEST,
    }
}

/// How one operation arrived: by GET or POST, the media type it is answered in, and how many
/// bytes of the request are its share (the document, its variables and extensions alike are
/// read before anything runs, so their size sets the cost floor).
#[derive(Debug, Clone, Copy)]
struct Arrival {
    via_get: bool,
    media: Media,
    request_bytes: usize,
}

/// One operation's parameters, as the client sent them.
#[derive(Debug, Default)]
struct Params {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Map<String, Value>,
    extensions: Map<String, Value>,
}

impl Params {
    fn from_json(value: Value) -> Result<Self, Refusal> {
        let Value::Object(mut object) = value else {
            return Err(Refusal::bad_request(
                "The request body must be a JSON object with a `query`.",
            ));
        };
        let query = match object.remove("query") {
            None | Some(Value::Null) => None,
            Some(Value::String(q)) => Some(q),
            Some(_) => return Err(Refusal::bad_request("`query` must be a string.")),
        };
        let operation_name = match object.remove("operationName") {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) => Some(n),
            Some(_) => return Err(Refusal::bad_request("`operationName` must be a string.")),
        };
        Ok(Self {
            query,
            operation_name,
            variables: object_param(object.remove("variables"), "variables")?,
            extensions: object_param(object.remove("extensions"), "extensions")?,
        })
    }

    fn from_query_string(raw: &str, nesting_limit: usize) -> Result<Self, Refusal> {
        let pairs = strict_form_pairs(raw).ok_or_else(|| {
            Refusal::bad_request(
                "The query string is not valid: its percent-escapes must decode to UTF-8.",
            )
        })?;
        let mut params = Self::default();
        let mut seen = std::collections::HashSet::new();
        for (key, value) in pairs {
            let known = matches!(
                key.as_str(),
                "query" | "operationName" | "variables" | "extensions"
            );
            if known && !seen.insert(key.clone()) {
                return Err(Refusal::bad_request(format!(
                    "`{key}` is given more than once in the query string; give it once."
                )));
            }
            match key.as_str() {
                "query" => params.query = Some(value),
                "operationName" if !value.is_empty() => params.operation_name = Some(value),
                "variables" | "extensions" if !value.is_empty() => {
                    super::check_json_nesting(value.as_bytes(), nesting_limit)
                        .map_err(Refusal::nesting)?;
                    let parsed: Value = serde_json::from_str(&value)
                        .map_err(|_| Refusal::bad_request(format!("`{key}` is not valid JSON.")))?;
                    let object = object_param(Some(parsed), &key)?;
                    if key == "variables" {
                        params.variables = object;
                    } else {
                        params.extensions = object;
                    }
                }
                _ => {}
            }
        }
        Ok(params)
    }
}

/// `application/x-www-form-urlencoded` pairs, with `None` for an escape that doesn't decode to
/// UTF-8 (`serde_urlencoded` would silently turn it into U+FFFD and run a different query).
fn strict_form_pairs(raw: &str) -> Option<Vec<(String, String)>> {
    let decode = |part: &str| {
        let spaced = part.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(key)?, decode(value)?))
        })
        .collect()
}

fn object_param(value: Option<Value>, name: &str) -> Result<Map<String, Value>, Refusal> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(o)) => Ok(o),
        Some(_) => Err(Refusal::bad_request(format!(
            "`{name}` must be a JSON object."
        ))),
    }
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

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    RawQuery(raw): RawQuery,
) -> Response {
    let client = client_ip(&extensions);
    let raw = raw.unwrap_or_default();
    let params = match Params::from_query_string(&raw, state.limits.max_nesting) {
        Ok(params) => params,
        Err(refusal) => return refusal_response(refusal, Media::Json),
    };
    if params.query.is_none() && params.extensions.is_empty() && wants_html(&headers) {
        return super::graphiql::page();
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let operation = params.operation_name.clone();
    let arrival = Arrival {
        via_get: true,
        media,
        request_bytes: raw.len(),
    };
    let response = match run(&state, &headers, client, params, arrival).await {
        Ok((status, body)) => json_response(status, body, media),
        Err(refusal) => refusal_response(refusal, media),
    };
    with_outcome(response, operation)
}

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let client = client_ip(&extensions);
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refusal_response(
                Refusal::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    code::BODY_LIMIT_EXCEEDED,
                    super::body_limit_message(state.limits.max_body_bytes),
                ),
                media,
            );
        }
        Err(_) => {
            return refusal_response(
                Refusal::bad_request("The request body could not be read."),
                media,
            );
        }
    };
    if !super::is_json_body(&headers) {
        return refusal_response(
            Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code::BAD_REQUEST,
                "Send the request as `Content-Type: application/json`.",
            ),
            media,
        );
    }
    if let Err(message) = super::check_json_nesting(&body, state.limits.max_nesting) {
        return refusal_response(Refusal::nesting(message), media);
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(_) => {
            return refusal_response(
                Refusal::bad_request("The request body is not valid JSON."),
                media,
            );
        }
    };
    let mut operation = None;
    let outcome = match value {
        Value::Array(items) => {
            operation = Some("(batch)".to_owned());
            let share = body.len() / items.len().max(1);
            run_batch(&state, &headers, client, items, media, share).await
        }
        single => match Params::from_json(single) {
            Ok(params) => {
                operation.clone_from(&params.operation_name);
                let arrival = Arrival {
                    via_get: false,
                    media,
                    request_bytes: body.len(),
                };
                run(&state, &headers, client, params, arrival).await
            }
            Err(refusal) => Err(refusal),
        },
    };
    let response = match outcome {
        Ok((status, body)) => json_response(status, body, media),
        Err(refusal) => refusal_response(refusal, media),
    };
    with_outcome(response, operation)
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

/// The `extensions.code`s of a response body's errors (of every result of a batch).
#[derive(Debug, Clone, Default)]
struct ErrorCodes(Vec<String>);

fn error_codes(body: &Value) -> ErrorCodes {
    let results: Vec<&Value> = match body {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    ErrorCodes(
        results
            .iter()
            .filter_map(|r| r.get("errors").and_then(Value::as_array))
            .flatten()
            .map(|e| {
                e.pointer("/extensions/code")
                    .and_then(Value::as_str)
                    .unwrap_or("UNKNOWN")
                    .to_owned()
            })
            .collect(),
    )
}

async fn run_batch(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    items: Vec<Value>,
    media: Media,
    request_bytes: usize,
) -> Result<(StatusCode, Value), Refusal> {
    let Some(max) = state.limits.max_batch else {
        return Err(Refusal::bad_request(
            "Batched requests (a JSON array) are not enabled on this gateway.",
        ));
    };
    if items.is_empty() || items.len() > max {
        return Err(Refusal::bad_request(format!(
            "A batch holds 1 to {max} operations (the batch limit); this one holds {}.",
            items.len()
        )));
    }
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        let result = match Params::from_json(item) {
            Ok(params) => {
                let arrival = Arrival {
                    via_get: false,
                    media,
                    request_bytes,
                };
                run(state, headers, client, params, arrival).await
            }
            Err(refusal) => Err(refusal),
        };
        match result {
            Ok((_, body)) => results.push(body),
            // Authentication applies to the whole request.
            Err(r) if matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                return Err(r);
            }
            Err(r) => results.push(error_body(&r)),
        }
    }
    Ok((StatusCode::OK, Value::Array(results)))
}

/// Runs one operation: analysis and limits, authentication, execution.
async fn run(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<IpAddr>,
    params: Params,
    arrival: Arrival,
) -> Result<(StatusCode, Value), Refusal> {
    let resolved = match &state.apq {
        Some(apq) => apq.resolve(params.query, &params.extensions),
        None if params.extensions.contains_key("persistedQuery") => Err(ApqError::NotSupported),
        None => Ok(params.query.map(Resolved::sent)),
    };
    let Resolved { query, register } = match resolved {
        Ok(Some(resolved)) => resolved,
        Ok(None) => return Err(Refusal::bad_request("`query` is required.")),
        // Apollo's protocol answers these with 200, so that clients send the query next.
        Err(ApqError::NotFound) => {
            return Ok((
                StatusCode::OK,
                json!({ "errors": [{ "message": "PersistedQueryNotFound",
                    "extensions": { "code": code::PERSISTED_QUERY_NOT_FOUND } }] }),
            ));
        }
        Err(ApqError::NotSupported) => {
            return Ok((
                StatusCode::OK,
                json!({ "errors": [{ "message": "PersistedQueryNotSupported",
                    "extensions": { "code": code::PERSISTED_QUERY_NOT_SUPPORTED } }] }),
            ));
        }
        Err(ApqError::Invalid(message)) => return Err(Refusal::bad_request(message)),
    };
    // Measured before parsing: the parser recurses once per bracket, and its work grows
    // with the tokens, so both are bounded before it runs.
    let shape = crate::scan::document_shape(&query);
    if shape.nesting > state.limits.max_nesting {
        return Err(Refusal::nesting(super::nesting_message(
            "The document",
            shape.nesting,
            state.limits.max_nesting,
        )));
    }
    if shape.tokens > state.limits.max_tokens {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            code::TOKEN_LIMIT_EXCEEDED,
            format!(
                "The document has {} tokens; the token limit is {} (`--max-tokens`).",
                shape.tokens, state.limits.max_tokens
            ),
        ));
    }
    // Who is calling, and the floor paid, before any parsing: a document that never parses,
    // validates or authenticates has still cost the work of reading it, and that work is
    // charged to the credential, or to the address of an anonymous caller.
    let organization = auth::requested_organization(headers)?;
    let actor = match auth::credential(headers)? {
        Some(token) => Some(
            state
                .auth
                .authenticate(&token, organization)
                .await
                .map_err(AuthRejection::from)?,
        ),
        None => None,
    };
    let bucket = match &actor {
        Some(actor) => super::credential_bucket(actor),
        None => client.map_or_else(
            || "anonymous".to_owned(),
            |ip| format!("ip:{}", super::address_bucket(ip)),
        ),
    };
    // A hash-only APQ request reads the remembered document, so its size counts too.
    let floor = cost_floor(shape.tokens, arrival.request_bytes.max(query.len()));
    if floor > state.limiter.bucket_size() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            code::COST_LIMIT_EXCEEDED,
            format!(
                "The document is so large that reading it costs {floor}, more than a full rate-limit bucket ({}).",
                state.limiter.bucket_size()
            ),
        ));
    }
    charge(state, &bucket, floor, floor).await?;

    let document = async_graphql::parser::parse_query(&query).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            code::GRAPHQL_PARSE_FAILED,
            format!("The query does not parse: {e}"),
        )
    })?;
    let variables: HashMap<String, Value> = params.variables.clone().into_iter().collect();
    let analysis = analysis::analyse(&document, params.operation_name.as_deref(), &variables)
        .map_err(|analysis::AnalysisError::UnknownOperation(m)| {
            Refusal::new(StatusCode::BAD_REQUEST, code::GRAPHQL_VALIDATION_FAILED, m)
        })?;
    if arrival.via_get && analysis.operation_type != OperationType::Query {
        let mut refusal = Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            code::BAD_REQUEST,
            "Only queries may be sent with GET; send mutations with POST.",
        );
        refusal.allow_post_only = true;
        return Err(refusal);
    }
    if analysis.introspects && !state.limits.introspection {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            code::GRAPHQL_VALIDATION_FAILED,
            "Introspection is turned off on this gateway; the schema is published as schema.graphql.",
        ));
    }
    check_limits(&analysis, &state.limits)?;
    if actor.is_none() && !analysis.introspection_only {
        return Err(AuthRejection::unauthenticated(
            "Authentication required: send an API key as `Authorization: Bearer kros_…` or `x-api-key: kros_…`.",
        )
        .into());
    }

    // Only an authenticated caller's query text is remembered, so anonymous traffic can't
    // fill the cache.
    if let (Some(apq), Some(hash), Some(_)) = (&state.apq, register, &actor) {
        apq.remember(hash, &query);
    }
    // The rest of what the operation may cost is reserved now; what its response doesn't use
    // goes back afterwards, down to the floor.
    let requested = analysis.cost.max(floor);
    if requested > state.limiter.bucket_size() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            code::COST_LIMIT_EXCEEDED,
            format!(
                "The query may cost {requested}, more than a full rate-limit bucket ({}).",
                state.limiter.bucket_size()
            ),
        ));
    }
    charge(state, &bucket, requested - floor, requested).await?;

    // Parsed once: async-graphql runs the document already parsed here.
    let mut request = async_graphql::Request::new(query)
        .variables(Variables::from_json(Value::Object(params.variables)));
    request.set_parsed_query(document);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(actor) = actor {
        request = with_actor(state, request, actor);
    }
    let executed =
        tokio::time::timeout(state.limits.request_timeout, state.schema.execute(request)).await;
    // What the response holds decides the actual cost; the rest of the reservation goes back.
    let actual = match &executed {
        Ok(response) => returned_objects(&response.data).clamp(floor, requested),
        Err(_) => requested,
    };
    let throttle = state.limiter.refund(&bucket, requested - actual).await;
    let response = executed.map_err(|_| {
        Refusal::new(
            StatusCode::GATEWAY_TIMEOUT,
            code::TIMEOUT,
            super::timeout_message(state.limits.request_timeout),
        )
    })?;
    let (status, mut body) = classify(response, arrival.media);
    if let Value::Object(object) = &mut body
        && let Value::Object(extensions) = object.entry("extensions").or_insert_with(|| json!({}))
    {
        extensions.insert(
            "cost".to_owned(),
            cost_extension(requested, actual, throttle),
        );
    }
    Ok((status, body))
}

/// Tokens of a document per point of its cost floor.
pub const TOKENS_PER_COST_POINT: usize = 100;
/// Bytes of a document per point of its cost floor (long strings and comments are few tokens
/// but still take their length to read).
pub const BYTES_PER_COST_POINT: usize = 2048;

/// The least an operation costs: 1, plus 1 per 100 tokens and 1 per 2 KiB of its document.
fn cost_floor(tokens: usize, bytes: usize) -> u64 {
    (1 + tokens / TOKENS_PER_COST_POINT + bytes / BYTES_PER_COST_POINT) as u64
}

/// Takes `points` of an operation costing `requested` in all from `bucket`; an empty bucket
/// is 429 with `Retry-After`.
async fn charge(
    state: &AppState,
    bucket: &str,
    points: u64,
    requested: u64,
) -> Result<(), Refusal> {
    if let Decision::Throttled {
        status,
        retry_after,
    } = state.limiter.take(bucket, points).await
    {
        let mut refusal = Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            code::RATE_LIMITED,
            super::throttled_message(requested, &status),
        );
        refusal.retry_after = Some(super::retry_after_seconds(retry_after));
        refusal.cost = Some(cost_extension(requested, 0, status));
        return Err(refusal);
    }
    Ok(())
}

/// Objects in a response's data, each costing 1 as in the requested cost.
fn returned_objects(data: &async_graphql::Value) -> u64 {
    fn count(value: &async_graphql::Value) -> u64 {
        match value {
            async_graphql::Value::Object(fields) => 1 + fields.values().map(count).sum::<u64>(),
            async_graphql::Value::List(items) => items.iter().map(count).sum(),
            _ => 0,
        }
    }
    // The root object is not counted, as the requested cost doesn't count it.
    count(data).saturating_sub(1)
}

fn cost_extension(requested: u64, actual: u64, status: ThrottleStatus) -> Value {
    json!({
        "requestedQueryCost": requested,
        "actualQueryCost": actual,
        "throttleStatus": {
            "maximumAvailable": status.maximum_available,
            "currentlyAvailable": status.currently_available.floor(),
            "restoreRate": status.restore_rate,
        }
    })
}

fn with_actor(
    state: &AppState,
    request: async_graphql::Request,
    actor: Actor,
) -> async_graphql::Request {
    let loader = DataLoader::new(
        PhoneNumbersByEndpoint {
            db: state.db.clone(),
            organization_id: actor.organization_id,
        },
        tokio::spawn,
    );
    request.data(actor).data(loader)
}

fn check_limits(analysis: &Analysis, limits: &crate::config::Limits) -> Result<(), Refusal> {
    let exceeded = |code: &'static str, message: String| {
        Err(Refusal::new(StatusCode::BAD_REQUEST, code, message))
    };
    if analysis.depth > limits.max_depth {
        return exceeded(
            code::DEPTH_LIMIT_EXCEEDED,
            format!(
                "The query is nested {} deep; the depth limit is {}.",
                analysis.depth, limits.max_depth
            ),
        );
    }
    if analysis.aliases > limits.max_aliases {
        return exceeded(
            code::ALIAS_LIMIT_EXCEEDED,
            format!(
                "The query uses {} aliases; the alias limit is {}.",
                analysis.aliases, limits.max_aliases
            ),
        );
    }
    if analysis.directives > limits.max_directives {
        return exceeded(
            code::DIRECTIVE_LIMIT_EXCEEDED,
            format!(
                "The query uses {} directives; the directive limit is {}.",
                analysis.directives, limits.max_directives
            ),
        );
    }
    if analysis.cost > limits.max_cost {
        return exceeded(
            code::COST_LIMIT_EXCEEDED,
            format!(
                "The query may cost {}; the cost limit of one query is {}. Ask for smaller pages (`first`) or fewer fields.",
                analysis.cost, limits.max_cost
            ),
        );
    }
    Ok(())
}

/// async-graphql checks custom scalars (UUID) and variable values only as fields resolve;
/// their failures are the client's input, which GraphQL counts as request errors. They are
/// the errors that carry no `extensions.code` (every resolver error here has one) and read
/// as async-graphql words them.
fn is_input_coercion_error(error: &async_graphql::ServerError) -> bool {
    let coded = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    !coded
        && (error.message.starts_with("Failed to parse \"")
            || error.message.starts_with("Expected input type \"")
            || error.message.starts_with("Invalid value for argument")
            || (error.message.starts_with("Variable ") && error.message.contains("is not defined")))
}

/// The HTTP status of an executed response: a document that failed validation or variables
/// that failed coercion (no data, and no error tied to a field) are a request error, whose
/// status depends on the media type (`request_error_status`); they lose `data` either way.
/// Anything that executed is a 200.
fn classify(response: async_graphql::Response, media: Media) -> (StatusCode, Value) {
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response
            .errors
            .iter()
            .all(|e| e.path.is_empty() || is_input_coercion_error(e));
    let mut body = serde_json::to_value(&response).expect("a GraphQL response serializes");
    if request_error {
        if let Some(errors) = body.get_mut("errors").and_then(Value::as_array_mut) {
            for error in errors {
                let extensions = error
                    .as_object_mut()
                    .map(|e| e.entry("extensions").or_insert_with(|| json!({})));
                if let Some(Value::Object(ext)) = extensions {
                    ext.entry("code")
                        .or_insert_with(|| json!(code::GRAPHQL_VALIDATION_FAILED));
                }
            }
        }
        if let Value::Object(o) = &mut body {
            o.remove("data");
        }
        return (request_error_status(media), body);
    }
    (StatusCode::OK, body)
}

fn error_body(refusal: &Refusal) -> Value {
    let mut body = json!({ "errors": [{ "message": refusal.message, "extensions": { "code": refusal.code } }] });
    if let Some(cost) = &refusal.cost {
        body["extensions"] = json!({ "cost": cost });
    }
    body
}

fn json_response(status: StatusCode, body: Value, media: Media) -> Response {
    let codes = error_codes(&body);
    let mut response = (status, body.to_string()).into_response();
    response.extensions_mut().insert(codes);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(media.content_type()),
    );
    response
}

fn refusal_response(refusal: Refusal, media: Media) -> Response {
    let status = if matches!(
        refusal.code,
        code::GRAPHQL_PARSE_FAILED | code::GRAPHQL_VALIDATION_FAILED
    ) {
        request_error_status(media)
    } else {
        refusal.status
    };
    let mut response = json_response(status, error_body(&refusal), media);
    if refusal.status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if let Some(seconds) = refusal.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if refusal.allow_post_only {
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}

fn not_acceptable() -> Response {
    json_response(
        StatusCode::NOT_ACCEPTABLE,
        json!({ "errors": [{ "message": "Accept application/graphql-response+json or application/json.",
            "extensions": { "code": code::BAD_REQUEST } }] }),
        Media::Json,
    )
}
