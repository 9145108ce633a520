//! Subscriptions, the streaming half of the one executor (`run_ready`), and how an outcome
//! goes out over a transport that streams every operation (WebSocket). A subscription holds one
//! of its credential's subscription slots and what it reserved while it runs, pays for each
//! result as its client is handed it, gives its reservation back down to its floor however it
//! ends, and ends with an error when its credential stops being good: an API key revoked (checked every second, and at once
//! through the key's revocation event), a member removed or demoted below the role what it
//! selects needs (their events), a session token at its `exp`.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Response, ServerError};
use axum::http::StatusCode;
use futures_util::stream::{self, BoxStream, StreamExt};

use super::super::AppState;
use super::super::auth::Presented;
use super::super::error::ApiError;
use super::super::pipeline;
use super::answer::Answer;
use super::slots::Slot;
use super::{Arrival, Caller, Outcome, Ready, Streams, order};
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

/// The extension that marks a response as a request error (see `responses`), for the
/// WebSocket transport to send as the protocol's `error` message; it never reaches a client.
pub(super) const REQUEST_ERROR: &str = "cockpitRequestError";

/// What an operation came to, as the responses of a transport that streams every operation
/// (WebSocket): a subscription's results, a query's or mutation's one response, or a refusal
/// before it ran as one error response marked `REQUEST_ERROR`.
pub(super) fn responses(outcome: Result<Outcome, ApiError>) -> BoxStream<'static, Response> {
    match outcome {
        Ok(Outcome::Streaming(results)) => results,
        Ok(Outcome::Answered(_, answer)) if answer.ran() => answered(answer),
        Ok(Outcome::Answered(_, answer)) => {
            stream::once(async move { as_request_error(answer) }).boxed()
        }
        Err(error) => stream::once(async move { request_error(refusal(&error)) }).boxed(),
    }
}

/// The one response of an operation that ran.
pub(super) fn answered(answer: Answer) -> BoxStream<'static, Response> {
    let response = match answer {
        Answer::Executed { response, .. } => *response,
        made_here => made(&made_here),
    };
    stream::once(async move { response }).boxed()
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

/// Starts a subscription `prepare` made ready: validated before its stream starts, it holds
/// one of its credential's subscription slots and what it reserved while it runs, and pays for
/// each result as the client is handed it (see `guarded`). Refused before it starts, what it
/// reserved goes back down to its floor, as for a query that returned nothing.
pub(super) async fn subscribe(
    state: &AppState,
    ready: Ready,
    caller: &Caller,
    arrival: Arrival,
    streams: Streams,
) -> Result<Outcome, ApiError> {
    let refused = async |error: ApiError| {
        ready.refund_unrun(state).await;
        Err(error)
    };
    let resume = match streams.resume {
        Ok(resume) => resume,
        Err(error) => return refused(error).await,
    };
    if let Some((status, answer)) = invalid(state, &ready, arrival).await {
        return Ok(Outcome::Answered(status, answer));
    }
    if let Some(actor) = &ready.actor
        && actor.expires_at.is_some_and(|at| at <= chrono::Utc::now())
    {
        // The clock leeway that lets a request through lets no subscription start: it would
        // end at once.
        return refused(ApiError::unauthenticated(
            "The session token has expired; subscribe with a fresh one.",
        ))
        .await;
    }
    let slot = match &ready.actor {
        Some(_) => match state.subscriptions.open(&ready.bucket) {
            Some(slot) => Some(slot),
            None => {
                let limit = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    Code::SubscriptionLimitExceeded,
                    format!(
                        "This credential holds as many open subscriptions as it may ({}); end one first.",
                        state.subscriptions.max
                    ),
                );
                return refused(limit).await;
            }
        },
        None => None,
    };
    let Ready {
        mut request,
        parsed,
        operation_name,
        actor,
        bucket,
        requested,
        floor,
        ..
    } = ready;
    if let Some(resume) = resume {
        request = request.data(resume);
    }
    let tag = streams.tagged.then(LastDelivered::default);
    if let Some(tag) = &tag {
        request = request.data(tag.clone());
    }
    // Validated in full above (or before, with variables that surely coerce): only the
    // execution's own checks run now.
    let results = state
        .schema_for_validated
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
    Ok(Outcome::Streaming(match (actor, slot) {
        (Some(actor), Some(slot)) => {
            let subscription = Subscription {
                state: state.clone(),
                actor,
                presented: caller.presented.clone(),
                _slot: slot,
                bucket,
                start: Some((requested, floor)),
                held: requested - floor,
            };
            guarded(subscription, detached(results))
        }
        _ => results,
    }))
}

/// Why a subscription is refused that fails validation or whose variables fail coercion,
/// answered as HTTP answers such a query; `None` when it may start. async-graphql checks a
/// subscription only once its stream is first polled, so it is checked here first, executed
/// as a query would be (which refuses a subscription once it validates). A document that
/// passed before, with variables that surely coerce, isn't checked again. What a refused one
/// reserved goes back down to its floor, as for a query that returned nothing.
async fn invalid(
    state: &AppState,
    ready: &Ready,
    arrival: Arrival,
) -> Option<(StatusCode, Answer)> {
    if ready.prevalidated {
        return None;
    }
    let mut probe = async_graphql::Request::new(ready.request.query.clone())
        .variables(ready.request.variables.clone());
    probe.operation_name = ready.request.operation_name.clone();
    probe.set_parsed_query(ready.parsed.document.clone());
    let checked = state.schema.execute(probe).await;
    // What async-graphql says of a valid subscription run as a query.
    let refused_as_query =
        |e: &ServerError| e.message.starts_with("Subscriptions are not supported");
    if checked.errors.is_empty() || checked.errors.iter().all(refused_as_query) {
        if ready.vouches {
            ready.parsed.mark_validated();
        }
        return None;
    }
    let throttle = ready.refund_unrun(state).await;
    let cost = pipeline::cost_report(ready.requested, ready.floor, throttle);
    Some(Answer::executed(
        checked,
        arrival.media.request_error_status(),
        cost,
    ))
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

/// A running subscription: who holds it and with what credential, its slot, and what it holds
/// of its bucket.
struct Subscription {
    state: AppState,
    actor: Actor,
    /// What its request presented, checked again while it runs.
    presented: Presented,
    _slot: Slot,
    /// The credential's rate-limit bucket, which each delivered result is charged to.
    bucket: String,
    /// What starting it reserved and its floor, reported with its first result.
    start: Option<(u64, u64)>,
    /// What it reserved beyond its floor: held while it runs, given back when it ends.
    held: u64,
}

impl Drop for Subscription {
    /// Settles what it holds however it ends: the client gone, an error, shutdown.
    fn drop(&mut self) {
        let held = std::mem::take(&mut self.held);
        if held == 0 {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (state, bucket) = (self.state.clone(), std::mem::take(&mut self.bucket));
            runtime.spawn(async move {
                pipeline::refund(&state, &bucket, held).await;
            });
        }
    }
}

/// What ends a subscription besides its events.
struct Guard {
    subscription: Subscription,
    responses: BoxStream<'static, Response>,
    checks: tokio::time::Interval,
    done: bool,
}

/// `responses`, each charged and given its cost in `extensions.cost` as the client is handed
/// it (the first one's report includes the start), ended with an error when the credential
/// stops being good. What a result costs is drawn as it is delivered, and what the
/// subscription holds is given back when it is dropped, so nothing is left unsettled however
/// the stream ends.
fn guarded(
    subscription: Subscription,
    responses: BoxStream<'static, Response>,
) -> BoxStream<'static, Response> {
    let mut checks = tokio::time::interval(CHECK_EVERY);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let guard = Guard {
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
                    let subscription = &mut guard.subscription;
                    let throttle = match subscription.state.limiter.take(&subscription.bucket, points).await {
                        Decision::Allowed(status) => status,
                        Decision::Throttled { retry_after, .. } => {
                            guard.done = true;
                            let throttled = coded(
                                &format!(
                                    "Throttled: this subscription's results drew the rate-limit bucket empty; subscribe again with `after` in {} s.",
                                    super::super::error::retry_after_seconds(retry_after)
                                ),
                                Code::RateLimited,
                            );
                            return Some((throttled, guard));
                        }
                    };
                    let (requested, actual) = match subscription.start.take() {
                        Some((requested, floor)) => (requested + points, floor + points),
                        None => (points, points),
                    };
                    if let Ok(cost) = async_graphql::Value::from_json(pipeline::cost_report(requested, actual, throttle)) {
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
                    let subscription = &guard.subscription;
                    match pipeline::identify(&subscription.state, &subscription.presented).await {
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
