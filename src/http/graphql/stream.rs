//! Operations over the transports that stream results — WebSocket (`ws.rs`) and server-sent
//! events (`sse.rs`): the same pipeline as plain HTTP up to execution (`prepare`), then each
//! response as it comes. A subscription holds one of its credential's subscription slots, paid
//! its cost when it started and pays for each result it delivers, and ends with an error when
//! its credential stops being good: an API key revoked (checked every second, and at once
//! through the key's revocation event), a member removed or demoted below the role what it
//! selects needs (their events), a session token at its `exp`.

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
use crate::graphql::subscription::LastDelivered;
use crate::ratelimit::Decision;

/// How often a subscription made with an API key checks that the key still works.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// The extension a tagged result carries its event's cursor in (see `start`).
pub(super) const EVENT_ID: &str = "cockpitEventId";
/// Results a subscription holds ready for a client that reads slowly.
const READY: usize = 32;
/// How long a subscription waits for its client to take a result when it has `READY` waiting;
/// then it ends as too slow.
const SLOW_AFTER: Duration = Duration::from_secs(10);

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

/// The extension that marks a response as a request error (see `Started::Refused`), for the
/// WebSocket transport to send as the protocol's `error` message; it never reaches a client.
pub(super) const REQUEST_ERROR: &str = "cockpitRequestError";

/// How an operation over a streaming transport began.
pub(super) enum Started {
    /// It runs: its responses, each in selection order.
    Running(BoxStream<'static, Response>),
    /// It didn't run, and is answered as plain HTTP answers it (the same status and body):
    /// a document that fails validation, variables that fail coercion, the APQ protocol's
    /// answers.
    Refused(StatusCode, Answer),
}

/// Runs one operation over a streaming transport: its responses, each in selection order;
/// a refusal as a single error response marked `REQUEST_ERROR`.
pub(super) async fn run(
    state: AppState,
    headers: HeaderMap,
    client: Option<IpAddr>,
    params: Params,
    arrival: Arrival,
    with: impl FnOnce(async_graphql::Request) -> async_graphql::Request + Send + 'static,
) -> BoxStream<'static, Response> {
    match start(state, headers, client, params, arrival, None, with).await {
        Ok(Started::Running(responses)) => responses,
        Ok(Started::Refused(_, answer)) => {
            stream::once(async move { as_request_error(answer) }).boxed()
        }
        Err(error) => stream::once(async move { request_error(refusal(&error)) }).boxed(),
    }
}

/// A response marked as a request error.
fn request_error(mut response: Response) -> Response {
    response.extensions.insert(
        REQUEST_ERROR.to_owned(),
        async_graphql::Value::Boolean(true),
    );
    response
}

/// A refused operation's answer as a GraphQL response marked as a request error.
fn as_request_error(answer: Answer) -> Response {
    match answer {
        Answer::Executed { response, .. } => request_error(*response),
        made_here => request_error(made(&made_here)),
    }
}

/// Starts one operation over a streaming transport: its responses, each in selection order,
/// or why it was refused before it ran. `with` adds what the transport gives the request.
/// With `tag`, each result of a subscription carries the cursor of the event it delivers in its
/// extensions (`EVENT_ID`), read as the result is made, for a transport that names messages
/// by it (and takes it out).
pub(super) async fn start(
    state: AppState,
    headers: HeaderMap,
    client: Option<IpAddr>,
    params: Params,
    arrival: Arrival,
    tag: Option<LastDelivered>,
    with: impl FnOnce(async_graphql::Request) -> async_graphql::Request + Send + 'static,
) -> Result<Started, ApiError> {
    match prepare(&state, &headers, client, params, arrival).await? {
        Prepared::Ready(ready) => from_ready(state, headers, *ready, arrival, tag, with).await,
        Prepared::Answered(answer) => Ok(Started::Refused(StatusCode::OK, answer)),
    }
}

/// Starts an operation `prepare` has made ready, as `start` does. A query or mutation runs
/// through HTTP's executor (`execute`), so it is charged, refunded and reported as over HTTP;
/// a subscription is validated before its stream starts, pays its reservation and then each
/// result it delivers (see `guarded`).
pub(super) async fn from_ready(
    state: AppState,
    headers: HeaderMap,
    mut ready: Ready,
    arrival: Arrival,
    tag: Option<LastDelivered>,
    with: impl FnOnce(async_graphql::Request) -> async_graphql::Request + Send + 'static,
) -> Result<Started, ApiError> {
    ready.request = with(ready.request);
    if ready.operation_type != OperationType::Subscription {
        let (status, answer) = super::execute(&state, ready, arrival).await?;
        return Ok(match answer {
            Answer::Executed {
                request_error: true,
                ..
            } => Started::Refused(status, answer),
            Answer::Executed { response, .. } => {
                Started::Running(stream::once(async move { *response }).boxed())
            }
            made_here => Started::Refused(status, made_here),
        });
    }
    if let Some(refused) = invalid_subscription(&state, &ready, arrival).await {
        return Ok(refused);
    }
    let Ready {
        request,
        parsed,
        prevalidated,
        operation_name,
        actor,
        bucket,
        requested,
        ..
    } = ready;
    let slot = match &actor {
        Some(_) => match state.subscriptions.open(&bucket) {
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
        None => None,
    };
    let schema = if prevalidated {
        state.schema_for_validated.clone()
    } else {
        state.schema.clone()
    };
    let mut request = request;
    if let Some(tag) = &tag {
        request = request.data(tag.clone());
    }
    let responses = schema
        .execute_stream(request)
        .map(move |mut response| {
            order::in_selection_order(
                &mut response.data,
                &parsed.document,
                operation_name.as_deref(),
            );
            // The event this result was made of: the subscription noted it just before.
            if let Some(cursor) = tag.as_ref().and_then(LastDelivered::take) {
                response
                    .extensions
                    .insert(EVENT_ID.to_owned(), async_graphql::Value::from(cursor));
            }
            response
        })
        .boxed();
    Ok(Started::Running(match (actor, slot) {
        (Some(actor), Some(slot)) => {
            if actor.expires_at.is_some_and(|at| at <= chrono::Utc::now()) {
                // The clock leeway that lets a request through lets no subscription start: it
                // would end at once.
                return Err(ApiError::unauthenticated(
                    "The session token has expired; subscribe with a fresh one.",
                ));
            }
            let subscription = Subscription {
                actor,
                _slot: slot,
                bucket,
                started_at: requested,
            };
            detached(guarded(state, headers, subscription, responses))
        }
        _ => responses,
    }))
}

/// A subscription whose document fails validation or whose variables fail coercion, answered
/// as HTTP answers such a query: async-graphql checks a subscription only once its stream is
/// first polled, so it is checked here first, executed as a query would be (which refuses a
/// subscription once it validates). What it reserved goes back down to its floor, as for a
/// query that returned nothing.
async fn invalid_subscription(
    state: &AppState,
    ready: &Ready,
    arrival: Arrival,
) -> Option<Started> {
    let mut probe = async_graphql::Request::new(ready.request.query.clone())
        .variables(ready.request.variables.clone());
    probe.operation_name = ready.request.operation_name.clone();
    probe.set_parsed_query(ready.parsed.document.clone());
    let checked = state.schema.execute(probe).await;
    // What async-graphql says of a valid subscription run as a query.
    let refused_as_query =
        |e: &ServerError| e.message.starts_with("Subscriptions are not supported");
    if checked.errors.is_empty() || checked.errors.iter().all(refused_as_query) {
        return None;
    }
    let throttle = pipeline::refund(state, &ready.bucket, ready.requested - ready.floor).await;
    let cost = pipeline::cost_report(ready.requested, ready.floor, throttle);
    let (status, answer) = Answer::executed(checked, arrival.media.request_error_status(), cost);
    Some(Started::Refused(status, answer))
}

/// `responses` produced by a task of their own, a few ready ahead of the client: whatever
/// database work a result takes is done and let go of before the client is asked to take it,
/// so a client that stops reading holds no pooled connection. One that takes nothing for
/// `SLOW_AFTER` while `READY` results wait is ended with `SLOW_CONSUMER`.
fn detached(mut responses: BoxStream<'static, Response>) -> BoxStream<'static, Response> {
    struct Detached {
        ready: tokio::sync::mpsc::Receiver<Response>,
        slow: Arc<std::sync::atomic::AtomicBool>,
        producer: tokio::task::JoinHandle<()>,
        done: bool,
    }
    impl Drop for Detached {
        fn drop(&mut self) {
            self.producer.abort();
        }
    }
    let (sender, ready) = tokio::sync::mpsc::channel(READY);
    let slow = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let too_slow = Arc::clone(&slow);
    let producer = tokio::spawn(async move {
        while let Some(response) = responses.next().await {
            match tokio::time::timeout(SLOW_AFTER, sender.send(response)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    too_slow.store(true, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
            }
        }
    });
    let state = Detached {
        ready,
        slow,
        producer,
        done: false,
    };
    stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        if !state.slow.load(std::sync::atomic::Ordering::SeqCst)
            && let Some(response) = state.ready.recv().await
        {
            return Some((response, state));
        }
        // The producer is done: the results ran out, or the client was too slow for them.
        if !state.slow.load(std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        state.done = true;
        let ended = coded(
            "The subscription's client took no result for too long and it was ended; subscribe again with `after` set to the `cursor` of the last event received.",
            Code::SlowConsumer,
        );
        Some((ended, state))
    })
    .boxed()
}

/// A running subscription: who holds it, its slot, and what it paid to start.
struct Subscription {
    actor: Actor,
    _slot: Slot,
    /// The credential's rate-limit bucket, which each delivered result is charged to.
    bucket: String,
    /// What it paid when it started, reported with its first result.
    started_at: u64,
}

/// What ends a subscription besides its events.
struct Guard {
    state: AppState,
    headers: HeaderMap,
    subscription: Subscription,
    responses: BoxStream<'static, Response>,
    checks: tokio::time::Interval,
    done: bool,
}

/// `responses`, each with the cost it drew in `extensions.cost` (the first one's includes the
/// start), ended with an error when the credential stops being good. A result is charged as
/// it is made, so nothing is left to settle however the stream ends.
fn guarded(
    state: AppState,
    headers: HeaderMap,
    subscription: Subscription,
    responses: BoxStream<'static, Response>,
) -> BoxStream<'static, Response> {
    let mut checks = tokio::time::interval(CHECK_EVERY);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let guard = Guard {
        state,
        headers,
        subscription,
        responses,
        checks,
        done: false,
    };
    stream::unfold(guard, |mut guard| async move {
        if guard.done {
            return None;
        }
        let expires = guard.subscription.actor.expires_at;
        let api_key = matches!(guard.subscription.actor.credential, Credential::ApiKey { .. });
        loop {
            tokio::select! {
                // The events' own ending (too slow, revoked) is their stream's last item.
                response = guard.responses.next() => {
                    let mut response = response?;
                    // Each result costs what a query returning it would: a replay of history
                    // or a busy organization draws on the bucket like reads do.
                    let points = super::cost::returned_objects(&response.data);
                    let bucket = &guard.subscription.bucket;
                    let throttle = match guard.state.limiter.take(bucket, points).await {
                        Decision::Allowed(status) => status,
                        Decision::Throttled { retry_after, .. } => {
                            guard.done = true;
                            let throttled = coded(
                                &format!(
                                    "Throttled: this subscription's results drew the rate-limit bucket empty; subscribe again with `after` in {} s.",
                                    pipeline::retry_after_seconds(retry_after)
                                ),
                                Code::RateLimited,
                            );
                            return Some((throttled, guard));
                        }
                    };
                    let paid = points + std::mem::take(&mut guard.subscription.started_at);
                    if let Ok(cost) = async_graphql::Value::from_json(pipeline::cost_report(paid, paid, throttle)) {
                        response.extensions.insert("cost".to_owned(), cost);
                    }
                    return Some((response, guard));
                }
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
