//! A batch: a JSON array of operations, each run as it would be alone and answered in one
//! JSON array; what is the whole request's (its credential, an empty bucket) refuses it whole.

use axum::http::StatusCode;
use serde_json::Value;

use super::super::AppState;
use super::super::error::ApiError;
use super::super::media::Media;
use super::answer::Answer;
use super::params::Params;
use super::{Arrival, Caller, Operation, Outcome, Streams, run};
use crate::code::Code;

/// Runs a batch's operations in order; the batch limit and what is the whole request's first.
pub(super) async fn run_batch(
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
                        live: false,
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
