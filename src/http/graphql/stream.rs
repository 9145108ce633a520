//! Operations over the transports that stream results — WebSocket (`ws.rs`) and server-sent
//! events (`sse.rs`): the same pipeline as plain HTTP up to execution (`prepare`), then each
//! response as it comes. A subscription holds one of its credential's subscription slots, paid
//! its cost when it started, and ends with an error when its credential stops being good: an
//! API key revoked (checked every second, and at once through the key's revocation event), a
//! member removed (its event), a session token at its `exp`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use async_graphql::{Response, ServerError};
use axum::http::{HeaderMap, StatusCode};
use futures_util::stream::{self, BoxStream, StreamExt};

use super::super::AppState;
use super::super::error::ApiError;
use super::super::pipeline;
use super::answer::Answer;
use super::params::Params;
use super::{Arrival, Prepared, Ready, order, prepare};
use crate::code::Code;
use crate::domain::{Actor, Credential};

/// How often a subscription made with an API key checks that the key still works.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Open subscriptions per credential (its rate-limit bucket), in this process.
pub struct SubscriptionCounts {
    open: Arc<Mutex<HashMap<String, usize>>>,
    max: usize,
}

/// A subscription's place among its credential's; given back when dropped.
pub(super) struct Slot {
    open: Arc<Mutex<HashMap<String, usize>>>,
    bucket: String,
}

impl SubscriptionCounts {
    pub fn new(max: usize) -> Self {
        Self {
            open: Arc::default(),
            max: max.max(1),
        }
    }

    fn lock(
        open: &Mutex<HashMap<String, usize>>,
    ) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // Each change is one insert or remove: a poisoned map is still consistent.
        open.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A slot for one more subscription of `bucket`, unless it holds all it may.
    pub(super) fn open(&self, bucket: &str) -> Option<Slot> {
        let mut open = Self::lock(&self.open);
        let count = open.entry(bucket.to_owned()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            open: Arc::clone(&self.open),
            bucket: bucket.to_owned(),
        })
    }

    /// Subscriptions open in this process.
    pub fn total(&self) -> usize {
        Self::lock(&self.open).values().sum()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = SubscriptionCounts::lock(&self.open);
        if let Some(count) = open.get_mut(&self.bucket) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.bucket);
            }
        }
    }
}

/// A refusal as a GraphQL response: its message and `extensions.code`.
pub(super) fn refusal(error: &ApiError) -> Response {
    coded(&error.message, error.code)
}

fn coded(message: &str, code: Code) -> Response {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    Response::from_errors(vec![error])
}

/// An answer made without running (the APQ protocol's) as a GraphQL response.
fn made(answer: &Answer) -> Response {
    let body = match answer {
        Answer::Made(body) => body,
        _ => return coded("The operation was not run.", Code::BadRequest),
    };
    let first = &body["errors"][0];
    let message = first["message"]
        .as_str()
        .unwrap_or("The operation was not run.");
    let code = match first["extensions"]["code"].as_str() {
        Some(c) if c == Code::PersistedQueryNotSupported.as_str() => {
            Code::PersistedQueryNotSupported
        }
        _ => Code::PersistedQueryNotFound,
    };
    coded(message, code)
}

/// Runs one operation over a streaming transport: its responses, each in selection order;
/// a refusal as a single error response.
pub(super) async fn run(
    state: AppState,
    headers: HeaderMap,
    client: Option<IpAddr>,
    params: Params,
    arrival: Arrival,
    with: impl FnOnce(async_graphql::Request) -> async_graphql::Request + Send + 'static,
) -> BoxStream<'static, Response> {
    match start(state, headers, client, params, arrival, with).await {
        Ok(responses) => responses,
        Err(error) => stream::once(async move { refusal(&error) }).boxed(),
    }
}

/// Starts one operation over a streaming transport: its responses, each in selection order,
/// or why it was refused before it ran. `with` adds what the transport gives the request.
pub(super) async fn start(
    state: AppState,
    headers: HeaderMap,
    client: Option<IpAddr>,
    params: Params,
    arrival: Arrival,
    with: impl FnOnce(async_graphql::Request) -> async_graphql::Request + Send + 'static,
) -> Result<BoxStream<'static, Response>, ApiError> {
    let ready = match prepare(&state, &headers, client, params, arrival).await? {
        Prepared::Ready(ready) => *ready,
        Prepared::Answered(answer) => {
            return Ok(stream::once(async move { made(&answer) }).boxed());
        }
    };
    let Ready {
        request,
        parsed,
        prevalidated,
        operation_name,
        operation_type,
        actor,
        bucket,
        ..
    } = ready;
    let slot = match (&actor, operation_type) {
        (Some(_), OperationType::Subscription) => match state.subscriptions.open(&bucket) {
            Some(slot) => Some(slot),
            None => {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    Code::SubscriptionLimitExceeded,
                    format!(
                        "This credential holds as many open subscriptions as it may ({}); end one first.",
                        state.subscriptions.max
                    ),
                ));
            }
        },
        _ => None,
    };
    let schema = if prevalidated {
        state.schema_for_validated.clone()
    } else {
        state.schema.clone()
    };
    let responses = schema
        .execute_stream(with(request))
        .map(move |mut response| {
            order::in_selection_order(
                &mut response.data,
                &parsed.document,
                operation_name.as_deref(),
            );
            response
        })
        .boxed();
    Ok(match (actor, slot) {
        (Some(actor), Some(slot)) => guarded(state, headers, actor, slot, responses),
        _ => responses,
    })
}

/// What ends a subscription besides its events.
struct Guard {
    state: AppState,
    headers: HeaderMap,
    actor: Actor,
    _slot: Slot,
    responses: BoxStream<'static, Response>,
    checks: tokio::time::Interval,
    done: bool,
}

/// `responses`, ended with an error when the credential stops being good.
fn guarded(
    state: AppState,
    headers: HeaderMap,
    actor: Actor,
    slot: Slot,
    responses: BoxStream<'static, Response>,
) -> BoxStream<'static, Response> {
    let mut checks = tokio::time::interval(CHECK_EVERY);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let guard = Guard {
        state,
        headers,
        actor,
        _slot: slot,
        responses,
        checks,
        done: false,
    };
    stream::unfold(guard, |mut guard| async move {
        if guard.done {
            return None;
        }
        let expires = guard.actor.expires_at;
        let api_key = matches!(guard.actor.credential, Credential::ApiKey { .. });
        loop {
            tokio::select! {
                // The events' own ending (too slow, revoked) is their stream's last item.
                response = guard.responses.next() => return Some((response?, guard)),
                () = until(expires) => {
                    guard.done = true;
                    let expired = coded(
                        "The session token of this subscription has expired; subscribe again with a fresh one.",
                        Code::Unauthenticated,
                    );
                    return Some((expired, guard));
                }
                _ = guard.checks.tick(), if api_key => {
                    match pipeline::identify(&guard.state, &guard.headers).await {
                        Err(error) if matches!(error.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                            guard.done = true;
                            return Some((refusal(&error), guard));
                        }
                        // Unchecked (the database is down) is not revoked: check again later.
                        _ => {}
                    }
                }
            }
        }
    })
    .boxed()
}

async fn until(at: Option<chrono::DateTime<chrono::Utc>>) {
    let Some(at) = at else {
        return std::future::pending().await;
    };
    let wait = (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
    tokio::time::sleep(wait).await;
}
