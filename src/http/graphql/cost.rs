//! What an operation may ask and what it pays: the limits of its analysis, the floor every
//! operation pays, and what its answer held.

use std::time::Duration;

use axum::http::StatusCode;

use crate::code::Code;
use crate::graphql::analysis::Analysis;
use crate::graphql::query::Budget;
use crate::http::AppState;
use crate::http::error::ApiError;
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
