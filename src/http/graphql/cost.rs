//! What an operation may ask and what it pays: the limits of its analysis, the floor every
//! operation pays, what its answer held, and each field's share when the client asks.

use std::time::Duration;

use async_graphql::parser::types::ExecutableDocument;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::params::Params;
use crate::code::Code;
use crate::graphql::analysis::{self, Analysis, FieldCost};
use crate::graphql::query::{Budget, Lookups};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::headers::COST_DEBUG;
use crate::ratelimit::ThrottleStatus;

/// Tokens of a document per point of its cost floor.
pub const TOKENS_PER_COST_POINT: usize = 100;
/// Field selections (fragments expanded) per point of an operation's cost floor.
pub const FIELDS_PER_COST_POINT: u64 = 100;
/// Bytes of a document per point of its cost floor (long strings and comments are few tokens
/// but still take their length to read).
pub const BYTES_PER_COST_POINT: usize = 2048;

/// The least an operation costs: 1, plus 1 per 100 tokens and 1 per 2 KiB of its document.
pub(super) fn cost_floor(tokens: usize, bytes: usize) -> u64 {
    (1 + tokens / TOKENS_PER_COST_POINT + bytes / BYTES_PER_COST_POINT) as u64
}

/// Refuses what no bucket could ever pay: `cost` over a full bucket, worded as `what {cost}`.
pub(super) fn within_a_bucket(state: &AppState, cost: u64, what: &str) -> Result<(), ApiError> {
    let full = state.limiter.bucket_size();
    if cost > full {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::CostLimitExceeded,
            format!("{what} {cost}, more than a full rate-limit bucket ({full})."),
        ));
    }
    Ok(())
}

/// The bucket as `rateLimit` tells it, once `requested` was reserved from it.
pub(super) fn budget(requested: u64, reserved: ThrottleStatus) -> Budget {
    let size = reserved.maximum_available.max(0.0);
    let available = reserved.currently_available.clamp(0.0, size);
    let until_full = (size - available) / reserved.restore_rate.max(f64::MIN_POSITIVE);
    Budget::new(
        size as u64,
        requested,
        available.floor() as u64,
        Duration::try_from_secs_f64(until_full).unwrap_or(Duration::MAX),
    )
}

/// Objects in a response's data, each costing 1 as in the requested cost.
pub(super) fn returned_objects(data: &async_graphql::Value) -> u64 {
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

/// What a run of an operation costs: the objects its response holds (less the `rateLimit`
/// objects, which cost nothing) and its lookups by id that found nothing, within what it paid
/// at least and reserved at most.
pub(super) fn actual_cost(
    response: &async_graphql::Response,
    budget: &Budget,
    lookups: &Lookups,
    floor: u64,
    requested: u64,
) -> u64 {
    returned_objects(&response.data)
        .saturating_sub(budget.served())
        .saturating_add(lookups.unanswered())
        .clamp(floor, requested)
}

/// A limit's check: what was measured, the limit, its code, and how the refusal reads.
type LimitCheck = (u64, u64, Code, fn(u64, u64) -> String);

/// Refuses an operation over any of the limits, the first broken in this order.
pub(super) fn check_limits(
    analysis: &Analysis,
    limits: &crate::config::Limits,
) -> Result<(), ApiError> {
    let checks: [LimitCheck; 5] = [
        (
            analysis.depth as u64,
            limits.max_depth as u64,
            Code::DepthLimitExceeded,
            |n, max| format!("The query is nested {n} deep; the depth limit is {max}."),
        ),
        (
            analysis.fields,
            limits.max_fields,
            Code::FieldLimitExceeded,
            |n, max| {
                format!(
                    "The operation selects {n} fields once its fragments are expanded; the field limit is {max} (`--max-fields`)."
                )
            },
        ),
        (
            analysis.aliases as u64,
            limits.max_aliases as u64,
            Code::AliasLimitExceeded,
            |n, max| format!("The query uses {n} aliases; the alias limit is {max}."),
        ),
        (
            analysis.directives as u64,
            limits.max_directives as u64,
            Code::DirectiveLimitExceeded,
            |n, max| format!("The query uses {n} directives; the directive limit is {max}."),
        ),
        (
            analysis.cost,
            limits.max_cost,
            Code::CostLimitExceeded,
            |n, max| {
                format!(
                    "The query may cost {n}; the cost limit of one query is {max}. Ask for smaller pages (`first`) or fewer fields."
                )
            },
        ),
    ];
    match checks.into_iter().find(|(n, max, _, _)| n > max) {
        Some((n, max, code, message)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            code,
            message(n, max),
        )),
        None => Ok(()),
    }
}

/// Whether a value of `Cockpit-GraphQL-Cost-Debug` asks for each field's cost: `1` or `true`
/// (any case); any other value is ignored, as a header the gateway doesn't know would be.
fn asks_debug(value: &str) -> bool {
    let value = value.trim();
    value == "1" || value.eq_ignore_ascii_case("true")
}

/// Whether an HTTP request's headers ask for each field's cost (SSE and multipart included).
pub(super) fn debug_in_headers(headers: &HeaderMap) -> bool {
    headers
        .get(COST_DEBUG)
        .and_then(|v| v.to_str().ok())
        .is_some_and(asks_debug)
}

/// Whether a WebSocket's `connection_init` payload, or an operation's `extensions`, asks for
/// each field's cost: the header's name, flat or under `headers`, as a string the header
/// could carry, or JSON `true` or `1`.
pub(super) fn debug_in_payload(payload: &Map<String, Value>) -> bool {
    crate::http::auth::payload_entries(payload)
        .filter(|(name, _)| name.eq_ignore_ascii_case(COST_DEBUG.as_str()))
        .any(|(_, value)| match value {
            Value::String(text) => asks_debug(text),
            Value::Bool(asked) => *asked,
            Value::Number(n) => n.as_u64() == Some(1),
            _ => false,
        })
}

/// Each field's cost for `extensions.cost.fields`, when the caller (`asked`) or the
/// operation's `extensions` ask for it. Only for an admitted operation: the field limit bounds
/// this walk, which expands every fragment spread.
pub(super) fn debug_fields(
    state: &AppState,
    asked: bool,
    document: &ExecutableDocument,
    params: &Params,
) -> Option<Value> {
    if !asked && !debug_in_payload(&params.extensions) {
        return None;
    }
    let fields = analysis::cost_fields(
        document,
        params.operation_name.as_deref(),
        &params.variables,
        &state.schema_shape,
    )
    .ok()?;
    Some(fields_report(fields))
}

/// Each field's cost as `extensions.cost.fields` tells it (Shopify's shape).
fn fields_report(fields: Vec<FieldCost>) -> Value {
    fields
        .into_iter()
        .map(|field| {
            json!({
                "path": field.path,
                "definedCost": field.defined_cost,
                "requestedTotalCost": field.requested_total_cost,
                "requestedChildrenCost": field.requested_children_cost,
            })
        })
        .collect()
}

/// A cost report with each field's cost, when the client asked for it.
pub(super) fn with_fields(mut report: Value, fields: Option<&Value>) -> Value {
    if let (Value::Object(report), Some(fields)) = (&mut report, fields) {
        report.insert("fields".to_owned(), fields.clone());
    }
    report
}

/// A refusal with a cost report (an empty bucket), with each field's cost when asked.
pub(super) fn refused_with_fields(mut refusal: ApiError, fields: Option<&Value>) -> ApiError {
    if let Some(report) = refusal.cost.take() {
        refusal.cost = Some(Box::new(with_fields(*report, fields)));
    }
    refusal
}
