//! What an operation may ask and what it pays: the limits of its analysis, the floor every
//! operation pays, and what its answer held.

use axum::http::StatusCode;

use crate::code::Code;
use crate::graphql::analysis::Analysis;
use crate::http::AppState;
use crate::http::error::ApiError;

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

pub(super) fn check_limits(
    analysis: &Analysis,
    limits: &crate::config::Limits,
) -> Result<(), ApiError> {
    let exceeded =
        |code: Code, message: String| Err(ApiError::new(StatusCode::BAD_REQUEST, code, message));
    if analysis.depth > limits.max_depth {
        return exceeded(
            Code::DepthLimitExceeded,
            format!(
                "The query is nested {} deep; the depth limit is {}.",
                analysis.depth, limits.max_depth
            ),
        );
    }
    if analysis.fields > limits.max_fields {
        return exceeded(
            Code::FieldLimitExceeded,
            format!(
                "The operation selects {} fields once its fragments are expanded; the field limit is {} (`--max-fields`).",
                analysis.fields, limits.max_fields
            ),
        );
    }
    if analysis.aliases > limits.max_aliases {
        return exceeded(
            Code::AliasLimitExceeded,
            format!(
                "The query uses {} aliases; the alias limit is {}.",
                analysis.aliases, limits.max_aliases
            ),
        );
    }
    if analysis.directives > limits.max_directives {
        return exceeded(
            Code::DirectiveLimitExceeded,
            format!(
                "The query uses {} directives; the directive limit is {}.",
                analysis.directives, limits.max_directives
            ),
        );
    }
    if analysis.cost > limits.max_cost {
        return exceeded(
            Code::CostLimitExceeded,
            format!(
                "The query may cost {}; the cost limit of one query is {}. Ask for smaller pages (`first`) or fewer fields.",
                analysis.cost, limits.max_cost
            ),
        );
    }
    Ok(())
}
