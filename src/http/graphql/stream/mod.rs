//! Subscriptions, the streaming half of the one executor (`run_ready`): started here, holding a
//! subscription slot and what they reserved; each result charged and the credential rechecked
//! in `guard.rs`; live queries (`@live`) in `live.rs`; an outcome as a streaming transport's
//! responses in `responses.rs`.

mod guard;
mod live;
mod recheck;
mod responses;
mod shared;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Response, ServerError};
use axum::http::StatusCode;
use futures_util::stream::{self, BoxStream, StreamExt};

use self::guard::{Subscription, guarded};
use self::responses::coded;
use super::super::AppState;
use super::super::error::ApiError;
use super::super::pipeline;
use super::answer::Answer;
use super::slots::Slot;
use super::{Arrival, Caller, Outcome, Ready, Streams, order};
use crate::code::Code;
use crate::graphql::subscription::Handoff;

pub(super) use self::live::{live, live_query};
pub use self::recheck::Rechecks;
pub(super) use self::responses::{
    RENDERED, REQUEST_ERROR, answered, payload_json, responses, unrendered, write_payload,
};
pub use self::shared::Shapes;

/// The extension a tagged result carries its event's cursor in (see `subscribe`).
pub(super) const EVENT_ID: &str = "cockpitEventId";
/// Results a subscription holds ready for a client that reads slowly.
const READY: usize = 32;
/// How long a subscription waits for its client to take a result when it has `READY` waiting;
/// then it ends as too slow.
const SLOW_AFTER: Duration = Duration::from_secs(10);

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
        Some(_) => match take_slot(state, &ready.bucket).await {
            Ok(slot) => Some(slot),
            Err(refusal) => return refused(refusal).await,
        },
        None => None,
    };
    let shape = ready.actor.as_ref().map(|actor| {
        let client = state.metrics.client_label(caller.app.name.as_deref());
        state.shapes.of(&ready, actor, client)
    });
    let Ready {
        mut request,
        parsed,
        operation_name,
        actor,
        bucket,
        requested,
        floor,
        cost_fields,
        ..
    } = ready;
    if let Some(resume) = resume {
        request = request.data(resume);
    }
    let handoff = Handoff::default();
    request = request.data(handoff.clone());
    // Validated in full above (or before, with variables that surely coerce): only the
    // execution's own checks run now.
    let mut started = state.schema_for_validated.execute_stream(request);
    // The subscription starts: it hands its events over (and its stream ends), or it refuses
    // its arguments (its first result) and ends.
    let first = started.next().await;
    let results = match (handoff.take(), shape) {
        (Some((deliveries, span)), Some(shape)) => {
            // async-graphql's stream and what it keeps go: the shape renders each event.
            drop(started);
            shared::results(state.clone(), shape, deliveries, span, streams.tagged)
        }
        // Refused before it handed anything over: its error, as any result is ordered.
        _ => stream::iter(first)
            .chain(started)
            .map(move |mut response| {
                order::in_selection_order(
                    &mut response.data,
                    &parsed.document,
                    operation_name.as_deref(),
                );
                response
            })
            .boxed(),
    };
    Ok(Outcome::Streaming(match (actor, slot) {
        (Some(actor), Some(slot)) => {
            let subscription = Subscription {
                state: state.clone(),
                actor,
                presented: caller.presented.clone(),
                _slot: slot,
                bucket,
                start: Some((requested, floor, cost_fields)),
                held: requested - floor,
            };
            // A transport that writes each result itself needs no task between: it takes
            // each as it is made, and a client that stops reading is cut (`detached`).
            let results = if streams.direct {
                results
            } else {
                detached(results)
            };
            guarded(subscription, results)
        }
        _ => results,
    }))
}

/// One of the credential's subscription slots (a subscription's or a live query's), or why
/// there is none: the credential holds as many as it may, or they can't be counted.
async fn take_slot(state: &AppState, bucket: &str) -> Result<Slot, ApiError> {
    match state.subscriptions.open(bucket).await {
        Ok(Some(slot)) => Ok(slot),
        Ok(None) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            Code::SubscriptionLimitExceeded,
            format!(
                "This credential holds as many open subscriptions and live queries as it may ({}); end one first.",
                state.subscriptions.max
            ),
        )),
        Err(err) => Err(ApiError::from(err)),
    }
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
    probe.set_parsed_query(ready.parsed.runnable().clone());
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
    let cost = super::cost::with_fields(
        pipeline::cost_report(ready.requested, ready.floor, throttle),
        ready.cost_fields.as_ref(),
    );
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
        // Boxed: a channel allocates its first 32 slots at once, and a `Response` is some
        // 200 bytes, so 6 KiB for every subscription, however idle, against 256 bytes.
        ready: tokio::sync::mpsc::Receiver<Box<Response>>,
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
    // On the streams' runtime (`server::streams`), as WebSocket connections are: an event's
    // fan-out to a fleet of subscribers doesn't queue ahead of requests.
    let producer = crate::server::streams().spawn(async move {
        while let Some(response) = responses.next().await {
            // The clock is read, and a timer set, only when the client is behind.
            let response = match sender.try_send(Box::new(response)) {
                Ok(()) => continue,
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return,
                Err(tokio::sync::mpsc::error::TrySendError::Full(response)) => response,
            };
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
            return Some((*response, state));
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
