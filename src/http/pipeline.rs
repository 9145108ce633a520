//! The steps every transport takes between reading a request and running it, defined once:
//! who is calling, the rate-limit charge and refund, and the request timeout.

use std::net::IpAddr;

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::AppState;
use super::auth::Presented;
use super::error::ApiError;
use crate::code::Code;
use crate::domain::{Actor, Credential};
use crate::ratelimit::{Decision, ThrottleStatus};

/// The caller: the actor its credential stands for, or `None` when it sent none (only
/// introspection runs then). A credential that doesn't authenticate is refused.
pub async fn identify(state: &AppState, presented: &Presented) -> Result<Option<Actor>, ApiError> {
    let credentials = presented.credentials()?;
    let Some(token) = &credentials.token else {
        return Ok(None);
    };
    let mut actor = state
        .auth
        .authenticate(token, credentials.organization)
        .await?;
    actor.request_id.clone_from(&credentials.request_id);
    Ok(Some(actor))
}

/// The caller a stream ticket stands for, on the GET that opens an event stream (the only
/// request that takes one). The ticket is the whole credential: sent with another, it is
/// refused rather than one of them chosen.
pub async fn redeem(
    state: &AppState,
    presented: &Presented,
    ticket: &str,
    operation: &str,
) -> Result<Actor, ApiError> {
    let credentials = presented.credentials()?;
    if credentials.token.is_some() || credentials.organization.is_some() {
        return Err(ApiError::bad_request(
            "A stream ticket is the request's whole credential and names its organization; send it without Authorization, x-api-key or x-organization-id.",
        ));
    }
    let mut actor = crate::domain::stream_tickets::redeem(&state.services.db, ticket, operation)
        .await
        .map_err(crate::auth::AuthError::from)?;
    actor.request_id.clone_from(&credentials.request_id);
    Ok(actor)
}

/// A stream ticket sent where it is no credential.
pub fn ticket_misused() -> ApiError {
    ApiError::bad_request(
        "A stream ticket opens an event stream only: send it with GET and `Accept: text/event-stream`; authenticate other requests with Authorization or x-api-key.",
    )
}

/// The caller, where a credential is required.
pub async fn require(state: &AppState, headers: &HeaderMap) -> Result<Actor, ApiError> {
    identify(state, &Presented::from_headers(headers))
        .await?
        .ok_or_else(ApiError::credential_required)
}

/// The rate-limit bucket a request draws on: its API key's or user's, else its address's.
pub fn bucket(actor: Option<&Actor>, client: Option<IpAddr>) -> String {
    match (actor, client) {
        (Some(actor), _) => match &actor.credential {
            Credential::ApiKey { key_id, .. } => format!("key:{key_id}"),
            Credential::User { user_id } => format!("user:{user_id}"),
        },
        (None, Some(ip)) => format!("ip:{}", super::address_bucket(ip)),
        (None, None) => "anonymous".to_owned(),
    }
}

/// Takes `points` of an operation costing `requested` in all from `bucket`, and says what is
/// left; an empty bucket is 429 with `Retry-After` (and the cost report GraphQL answers with).
/// Either way the response tells the bucket's state (`budget`).
pub async fn charge(
    state: &AppState,
    bucket: &str,
    points: u64,
    requested: u64,
) -> Result<ThrottleStatus, ApiError> {
    match state.limiter.take(bucket, points).await {
        Decision::Allowed(status) => {
            super::budget::record(status, None);
            Ok(status)
        }
        Decision::Throttled {
            status,
            retry_after,
        } => {
            // A retry pays the whole operation again, what was taken before these `points`
            // (its floor) included: the wait is until the bucket holds all of it.
            let missing = (requested as f64 - status.currently_available).max(0.0);
            let whole = std::time::Duration::try_from_secs_f64(
                missing / status.restore_rate.max(f64::MIN_POSITIVE),
            )
            .unwrap_or(std::time::Duration::MAX);
            let retry_after = retry_after.max(whole);
            super::budget::record(status, Some(retry_after));
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                Code::RateLimited,
                throttled_message(requested, &status),
            );
            error.retry_after = Some(super::error::retry_after_seconds(retry_after));
            // What was taken before this refusal (the floor) is spent.
            let spent = requested.saturating_sub(points);
            error.cost = Some(Box::new(cost_report(requested, spent, status)));
            Err(error)
        }
    }
}

/// Gives back what an operation reserved and didn't use.
pub async fn refund(state: &AppState, bucket: &str, points: u64) -> ThrottleStatus {
    let status = state.limiter.refund(bucket, points).await;
    super::budget::record(status, None);
    status
}

/// Runs a request's work under the request timeout: 504 `TIMEOUT` after it.
pub async fn within<T, E: From<ApiError>>(
    state: &AppState,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let limit = state.limits.request_timeout;
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(E::from(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            Code::Timeout,
            format!(
                "The request took longer than the {} s request timeout.",
                limit.as_secs_f32()
            ),
        )))
    })
}

/// What an operation cost and what is left, as GraphQL's `extensions.cost` reports it.
pub fn cost_report(requested: u64, actual: u64, status: ThrottleStatus) -> Value {
    serde_json::to_value(CostReport::new(requested, actual, status)).unwrap_or(Value::Null)
}

/// `extensions.cost`, its members in the order every transport writes them (by name).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostReport {
    actual_query_cost: u64,
    requested_query_cost: u64,
    throttle_status: Throttle,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Throttle {
    currently_available: f64,
    maximum_available: f64,
    restore_rate: f64,
}

impl CostReport {
    pub fn new(requested: u64, actual: u64, status: ThrottleStatus) -> Self {
        Self {
            actual_query_cost: actual,
            requested_query_cost: requested,
            throttle_status: Throttle {
                currently_available: status.currently_available.floor(),
                maximum_available: status.maximum_available,
                restore_rate: status.restore_rate,
            },
        }
    }
}

fn throttled_message(cost: u64, status: &ThrottleStatus) -> String {
    format!(
        "Throttled: this request costs {cost} and {} points are available; they restore at {} per second.",
        status.currently_available.floor(),
        status.restore_rate
    )
}
