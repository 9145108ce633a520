//! Live queries: a query marked `@live`, over a transport that streams, answered at once and
//! again whenever an event touches what it reads (`graphql::live::reads`: its organization and
//! the modes it sees, the types it selects) — at most once per interval, the changes within it
//! answered by one run. The live feed wakes it, never a poll. Each run is charged as a run of
//! the query is; it holds a subscription slot and ends as a subscription does.

use std::time::Duration;

use async_graphql::Response;
use axum::http::StatusCode;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::time::Instant;

use super::super::super::AppState;
use super::super::super::error::ApiError;
use super::super::super::pipeline;
use super::super::answer::Answer;
use super::super::cost::actual_cost;
use super::super::prepare::{Again, Rerun};
use super::super::{Arrival, Caller, Outcome, Ready, execute, order};
use super::guard::{CHARGE, Subscription, guarded};
use super::responses::{coded, refusal};
use super::{detached, take_slot};
use crate::code::Code;
use crate::domain::DomainError;
use crate::domain::events::live::{self as feed, Delivery, Ending, Watch};
use crate::graphql::analysis;
use crate::graphql::live::{Live, Reads, live_of, reads};

/// The extension each result of a live query carries its number in, from 1.
const REVISION: &str = "revision";

/// A query marked `@live` (whose `if` holds), and what it reads.
pub(in crate::http::graphql) struct LiveQuery {
    live: Live,
    read: Reads,
}

/// The operation's `@live` and what it reads, when it is a query that carries one.
pub(in crate::http::graphql) fn live_query(state: &AppState, ready: &Ready) -> Option<LiveQuery> {
    let (_, operation) =
        analysis::select_operation(&ready.parsed.document, ready.operation_name.as_deref()).ok()?;
    let live = live_of(&operation.node, &ready.request.variables)?;
    let read = reads(
        &ready.parsed.document,
        &operation.node,
        &state.schema_shape,
        &ready.request.variables,
    );
    Some(LiveQuery { live, read })
}

/// Runs a live query `prepare` made ready: its first result is the query's run, charged and
/// reported as over HTTP; then one more run each time an event touches what it reads, no
/// sooner than the interval after the last (the gateway's, or the client's `throttle` if
/// longer). Refused before it runs, or failing validation, it is answered once.
pub(in crate::http::graphql) async fn live(
    state: &AppState,
    ready: Ready,
    caller: &Caller,
    arrival: Arrival,
    LiveQuery { live, read }: LiveQuery,
) -> Result<Outcome, ApiError> {
    let Some(actor) = ready.actor.clone().filter(|_| !read.types.is_empty()) else {
        // Nothing it reads ever changes (introspection, `__typename`, `rateLimit` alone; a
        // caller without a credential reads nothing else): answered once, holding no slot.
        let (status, answer) = execute(state, ready, arrival).await?;
        return Ok(Outcome::Answered(status, answer));
    };
    if actor.expires_at.is_some_and(|at| at <= chrono::Utc::now()) {
        ready.refund_unrun(state).await;
        return Err(ApiError::unauthenticated(
            "The session token has expired; send the live query with a fresh one.",
        ));
    }
    let slot = match take_slot(state, &ready.bucket).await {
        Ok(slot) => slot,
        Err(refusal) => {
            ready.refund_unrun(state).await;
            return Err(refusal);
        }
    };
    let watch = Watch {
        actor: actor.clone(),
        types: read.types.clone(),
        object_ids: None,
        after: None,
        reads_log: false,
    };
    // Joined before the first run reads anything: whatever commits after that runs it again.
    let events = match feed::subscribe(&state.services.hub, watch.clone()).await {
        Ok(events) => events.boxed(),
        Err(error) => {
            ready.refund_unrun(state).await;
            return Err(error.into());
        }
    };
    let again = ready.again(state.metrics.client_label(caller.app.name.as_deref()));
    let bucket = ready.bucket.clone();
    let (status, answer) = execute(state, ready, arrival).await?;
    let first = match answer {
        Answer::Executed {
            response,
            request_error: false,
        } if status == StatusCode::OK => *response,
        // A request error, or the database unavailable: answered once, as over HTTP.
        answer => return Ok(Outcome::Answered(status, answer)),
    };
    let interval = state
        .live_query_interval
        .max(live.throttle.unwrap_or_default());
    let reruns = Reruns {
        state: state.clone(),
        again,
        read,
        watch,
        events,
        interval,
        dirty: false,
        next_at: Instant::now() + interval,
        revision: 1,
    };
    let subscription = Subscription {
        state: state.clone(),
        actor,
        presented: caller.presented.clone(),
        _slot: slot,
        bucket,
        // The first run settled its own reservation; each re-run is charged as it is handed
        // over.
        start: None,
        held: 0,
    };
    let first = numbered(first, 1);
    let results = stream::once(async move { first })
        .chain(guarded(subscription, detached(reruns.into_stream())))
        .boxed();
    Ok(Outcome::Streaming(results))
}

type Events = BoxStream<'static, Result<std::sync::Arc<Delivery>, Ending>>;

/// A live query's runs after the first.
struct Reruns {
    state: AppState,
    again: Again,
    read: Reads,
    watch: Watch,
    events: Events,
    interval: Duration,
    /// Whether an event touched what it reads since its last run.
    dirty: bool,
    /// The soonest the next run may start.
    next_at: Instant,
    revision: u64,
}

/// What the live query does next.
enum Step {
    Result(Response),
    /// Its last result: why it ends.
    End(Response),
}

impl Reruns {
    fn into_stream(self) -> BoxStream<'static, Response> {
        stream::unfold(Some(self), |reruns| async move {
            let mut reruns = reruns?;
            match reruns.next().await? {
                Step::Result(response) => Some((response, Some(reruns))),
                Step::End(response) => Some((response, None)),
            }
        })
        .boxed()
    }

    /// Waits for an event that touches what the query reads, then for the interval since the
    /// last run, and runs it; the events meanwhile are answered by that run.
    async fn next(&mut self) -> Option<Step> {
        loop {
            tokio::select! {
                item = self.events.next() => match item? {
                    Ok(delivery) => {
                        let event = &delivery.event;
                        self.dirty |= self.read.touched_by(event.r#type, event.object_id);
                    }
                    // Behind the feed: follow it anew from now, and run again, which answers
                    // whatever was missed.
                    Err(Ending::TooSlow) => match follow(&self.state, &self.watch).await {
                        Ok(events) => {
                            self.events = events;
                            self.dirty = true;
                        }
                        Err(error) => {
                            tracing::warn!(error = %error.log_description(), "a live query could not follow its events again");
                            return Some(Step::End(coded(
                                "The live query could not follow its changes and was ended; send it again.",
                                Code::ServiceUnavailable,
                            )));
                        }
                    },
                    Err(ending) => return Some(Step::End(ended(ending))),
                },
                () = tokio::time::sleep_until(self.next_at), if self.dirty => {
                    self.dirty = false;
                    let response = run(&self.state, &self.again).await;
                    self.next_at = Instant::now() + self.interval;
                    self.revision += 1;
                    return Some(Step::Result(numbered(response, self.revision)));
                }
            }
        }
    }
}

/// The live query's events from now on, for one that fell behind them.
async fn follow(state: &AppState, watch: &Watch) -> Result<Events, DomainError> {
    Ok(feed::subscribe(&state.services.hub, watch.clone())
        .await?
        .boxed())
}

/// One more run of the live query, under the request timeout, with what it costs (as
/// `run::execute` counts it) for the guard to charge.
async fn run(state: &AppState, again: &Again) -> Response {
    let Rerun {
        request,
        lookups,
        budget,
    } = again.rerun(state);
    let executed: Result<Response, ApiError> = pipeline::within(state, async move {
        Ok(state.schema_for_validated.execute(request).await)
    })
    .await;
    let mut response = match executed {
        Ok(response) => response,
        Err(error) => return refusal(&error),
    };
    let actual = actual_cost(&response, &budget, &lookups, again.floor, again.requested);
    order::finish(&state.usage, &mut response, again.ran(true));
    response
        .extensions
        .insert(CHARGE.to_owned(), async_graphql::Value::from(actual));
    response
}

/// `response` as the live query's result number `revision`.
fn numbered(mut response: Response, revision: u64) -> Response {
    response
        .extensions
        .insert(REVISION.to_owned(), async_graphql::Value::from(revision));
    response
}

/// Why a live query ends when its access is taken away.
fn ended(ending: Ending) -> Response {
    match ending {
        Ending::KeyRevoked => coded(
            "The API key of this live query was revoked.",
            Code::Unauthenticated,
        ),
        Ending::MemberRemoved | Ending::Demoted => coded(
            "You were removed from the organization of this live query.",
            Code::Forbidden,
        ),
        Ending::TooSlow => coded(
            "The live query fell too far behind its changes; send it again.",
            Code::SlowConsumer,
        ),
        // A live query reads from now, never from a cursor: retention can't pass it by.
        Ending::Expired => coded(
            "The changes this live query follows were deleted by retention; send it again.",
            Code::EventsExpired,
        ),
    }
}
