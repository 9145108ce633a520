//! The one executor every transport's operation ends in: `run` (every step before it runs,
//! then `run_ready`), a query or mutation through `execute`, which settles its cost, and a
//! subscription through `stream::subscribe`, a live query (`@live`) through `stream::live`.

use async_graphql::parser::types::OperationType;
use axum::http::StatusCode;
use tracing::Instrument as _;

use super::super::AppState;
use super::super::error::ApiError;
use super::super::pipeline;
use super::answer::Answer;
use super::cost::{actual_cost, with_fields};
use super::prepare::{Prepared, Ready, prepare};
use super::{Arrival, Caller, Operation, Outcome, Streams, order, stream};

/// Runs one operation, over any transport: every step before it runs (`prepare`), then the one
/// executor (`run_ready`).
pub(super) async fn run(state: &AppState, operation: Operation) -> Result<Outcome, ApiError> {
    let Operation {
        params,
        caller,
        arrival,
        mut streams,
    } = operation;
    match prepare(state, &caller, params, arrival).await? {
        Prepared::Ready(ready) => {
            // A query or mutation running holds nobody's place: its time is bounded by the
            // request timeout, not by others starting.
            if ready.operation_type != OperationType::Subscription {
                streams.starting.clear();
            }
            run_ready(state, *ready, &caller, arrival, streams).await
        }
        Prepared::Answered(answer) => Ok(Outcome::Answered(StatusCode::OK, answer)),
    }
}

/// Runs an operation `prepare` made ready: a query or mutation once, its cost settled as it
/// ends; a subscription as the stream of its results.
pub(super) async fn run_ready(
    state: &AppState,
    ready: Ready,
    caller: &Caller,
    arrival: Arrival,
    streams: Streams,
) -> Result<Outcome, ApiError> {
    let span = crate::telemetry::graphql::operation_span(
        ready.operation_type,
        ready.operation_name.as_deref(),
        &ready.request.query,
        (caller.app.name.as_deref(), caller.app.version.as_deref()),
    );
    if ready.operation_type == OperationType::Subscription {
        return stream::subscribe(state, ready, caller, arrival, streams)
            .instrument(span)
            .await;
    }
    // A live query streams over WebSocket and to a client that prefers an event stream;
    // elsewhere it is answered once.
    if ready.operation_type == OperationType::Query
        && arrival.live
        && let Some(live) = stream::live_query(state, &ready)
    {
        return stream::live(state, ready, caller, arrival, live)
            .instrument(span)
            .await;
    }
    let (status, answer) = execute(state, ready, arrival).instrument(span).await?;
    Ok(Outcome::Answered(status, answer))
}

/// Executes a prepared operation and settles its cost.
pub(super) async fn execute(
    state: &AppState,
    ready: Ready,
    arrival: Arrival,
) -> Result<(StatusCode, Answer), ApiError> {
    let Ready {
        request,
        parsed,
        prevalidated,
        vouches,
        bucket,
        floor,
        requested,
        operation_name,
        lookups,
        budget,
        cost_fields,
        client,
        ..
    } = ready;
    // What the count of field usage reads after the run.
    let variables = (!request.variables.is_empty()).then(|| request.variables.clone());
    let schema = if prevalidated {
        &state.schema_for_validated
    } else {
        &state.schema
    };
    let executed: Result<_, ApiError> =
        pipeline::within(state, async { Ok(schema.execute(request).await) }).await;
    // Validation's errors are the ones tied to no field.
    if let Ok(response) = &executed
        && !prevalidated
        && vouches
        && response.errors.iter().all(|e| !e.path.is_empty())
    {
        parsed.mark_validated();
    }
    // What the response holds, and the lookups by id that returned nothing, decide the actual
    // cost; the rest of the reservation goes back.
    let actual = match &executed {
        Ok(response) => actual_cost(response, &budget, &lookups, floor, requested),
        Err(_) => requested,
    };
    let throttle = pipeline::refund(state, &bucket, requested - actual).await;
    let mut response = executed?;
    order::finish(
        &state.usage,
        &mut response,
        order::Ran {
            parsed: &parsed,
            operation_name: operation_name.as_deref(),
            variables: variables.as_ref(),
            client: &client,
            warn: true,
        },
    );
    Ok(Answer::executed(
        response,
        arrival.media.request_error_status(),
        with_fields(
            pipeline::cost_report(requested, actual, throttle),
            cost_fields.as_ref(),
        ),
    ))
}
