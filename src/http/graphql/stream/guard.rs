//! A running subscription: each result charged to its credential's bucket as it is delivered,
//! what it holds given back however it ends, and an end when its credential stops being good
//! (an API key revoked, checked every second; a session token at its `exp`).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Response;
use futures_util::stream::{self, BoxStream, StreamExt};

use super::super::super::AppState;
use super::super::super::auth::Presented;
use super::super::super::pipeline;
use super::super::cost::with_fields;
use super::super::slots::Slot;
use super::recheck::Flag;
use super::responses::{RENDERED, RENDERED_COST, coded};
use crate::code::Code;
use crate::domain::{Actor, Credential};
use crate::ratelimit::Decision;

/// The extension a result carries what it costs in, when that isn't the objects it holds (a
/// live query's run, charged as a run of the query is); it never reaches a client.
pub(super) const CHARGE: &str = "cockpitCharge";

/// A running subscription: who holds it and with what credential, its slot, and what it holds
/// of its bucket.
pub(super) struct Subscription {
    pub(super) state: AppState,
    pub(super) actor: Actor,
    /// What its request presented, checked again while it runs.
    pub(super) presented: Presented,
    pub(super) _slot: Slot,
    /// The credential's rate-limit bucket, which each delivered result is charged to.
    pub(super) bucket: String,
    /// What starting it reserved, its floor and each field's cost when asked, reported with
    /// its first result.
    pub(super) start: Option<(u64, u64, Option<serde_json::Value>)>,
    /// What it reserved beyond its floor: held while it runs, given back when it ends.
    pub(super) held: u64,
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
    /// Raised when its API key is refused (checked every second for all its subscriptions).
    refused: Option<Arc<Flag>>,
    /// A session token's expiry.
    expires: Option<Pin<Box<tokio::time::Sleep>>>,
    done: bool,
}

/// `responses`, each charged and given its cost in `extensions.cost` as the client is handed it
/// (the first one's report includes the start), ended with an error when the credential stops
/// being good; what the subscription holds is given back when it is dropped, however it ends.
pub(super) fn guarded(
    subscription: Subscription,
    responses: BoxStream<'static, Response>,
) -> BoxStream<'static, Response> {
    let refused = match subscription.actor.credential {
        Credential::ApiKey { .. } => subscription
            .state
            .rechecks
            .watch(&subscription.state, &subscription.presented),
        Credential::User { .. } => None,
    };
    let expires = subscription.actor.expires_at.map(|at| {
        let wait = (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep(wait))
    });
    let guard = Guard {
        subscription,
        responses,
        refused,
        expires,
        done: false,
    };
    // Boxed: the state goes in and out of each step's future, a pointer rather than the
    // whole subscription moved each time.
    stream::unfold(Box::new(guard), |mut guard| async move {
        if guard.done {
            return None;
        }
        let Guard {
            refused,
            expires,
            responses,
            ..
        } = &mut *guard;
        let ending = async {
            tokio::select! {
                // A refused credential first, so that results always ready can't hold it off.
                biased;
                Some((message, code)) = async { Some(refused.as_ref()?.refused().await) } => {
                    coded(message, code)
                }
                Some(()) = async { expires.as_mut()?.await; Some(()) } => coded(
                    "The session token of this subscription has expired; subscribe again with a fresh one.",
                    Code::Unauthenticated,
                ),
                // Neither can end it (an API key made with no session token): results only.
                else => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            ended = ending => {
                guard.done = true;
                Some((ended, guard))
            }
                // The events' own ending (too slow, revoked) is their stream's last item.
                response = responses.next() => {
                    let mut response = response?;
                    // Each result costs what a query returning it would: a replay of history
                    // or a busy organization draws on the bucket like reads do.
                    let points = match response.extensions.remove(CHARGE) {
                        Some(async_graphql::Value::Number(points)) => points.as_u64().unwrap_or(0),
                        _ => super::super::cost::returned_objects(&response.data),
                    };
                    let subscription = &mut guard.subscription;
                    let throttle = match subscription.state.limiter.take(&subscription.bucket, points).await {
                        Decision::Allowed(status) => status,
                        Decision::Throttled { retry_after, .. } => {
                            guard.done = true;
                            let throttled = coded(
                                &format!(
                                    "Throttled: this subscription's results drew the rate-limit bucket empty; subscribe again with `after` in {} s.",
                                    super::super::super::error::retry_after_seconds(retry_after)
                                ),
                                Code::RateLimited,
                            );
                            return Some((throttled, guard));
                        }
                    };
                    let (requested, actual, fields) = match subscription.start.take() {
                        Some((requested, floor, fields)) => (requested + points, floor + points, fields),
                        None => (points, points, None),
                    };
                    let cost = match fields {
                        // A shared render's result is written as text: its cost too.
                        None if response.extensions.contains_key(RENDERED) => {
                            response.extensions.insert(
                                RENDERED_COST.to_owned(),
                                cost_text(requested, actual, throttle),
                            );
                            None
                        }
                        None => Some(cost_value(requested, actual, &throttle)),
                        Some(fields) => async_graphql::Value::from_json(with_fields(
                            pipeline::cost_report(requested, actual, throttle),
                            Some(&fields),
                        ))
                        .ok(),
                    };
                    if let Some(cost) = cost {
                        response.extensions.insert("cost".to_owned(), cost);
                    }
                    Some((response, guard))
                }
        }
    })
    .boxed()
}

/// `pipeline::cost_report` as the JSON text a shared render's result is written with
/// (`RENDERED_COST`), its members named by constants rather than each name escaped for every
/// result (a serialized `pipeline::CostReport` was a twentieth of a delivery's instructions).
fn cost_text(
    requested: u64,
    actual: u64,
    status: crate::ratelimit::ThrottleStatus,
) -> async_graphql::Value {
    use std::io::Write as _;
    let mut text = Vec::with_capacity(192);
    let number = |text: &mut Vec<u8>, number: f64| {
        // serde_json's own writing of a float, as every other report has it.
        let _ = serde_json::to_writer(text, &number);
    };
    let _ = write!(
        text,
        "{{\"actualQueryCost\":{actual},\"requestedQueryCost\":{requested},\"throttleStatus\":{{\"currentlyAvailable\":"
    );
    number(&mut text, status.currently_available.floor());
    text.extend_from_slice(b",\"maximumAvailable\":");
    number(&mut text, status.maximum_available);
    text.extend_from_slice(b",\"restoreRate\":");
    number(&mut text, status.restore_rate);
    text.extend_from_slice(b"}}");
    async_graphql::Value::Binary(text.into())
}

/// `pipeline::cost_report` made a GraphQL value directly, as each result of a subscription
/// reports it (rather than through JSON, a deserialization a result), its keys in the order
/// the JSON one has.
fn cost_value(
    requested: u64,
    actual: u64,
    status: &crate::ratelimit::ThrottleStatus,
) -> async_graphql::Value {
    async_graphql::value!({
        "actualQueryCost": actual,
        "requestedQueryCost": requested,
        "throttleStatus": {
            "currentlyAvailable": status.currently_available.floor(),
            "maximumAvailable": status.maximum_available,
            "restoreRate": status.restore_rate,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_results_cost_is_the_report_every_other_answer_gives() {
        let status = crate::ratelimit::ThrottleStatus {
            maximum_available: 1000.0,
            currently_available: 957.6,
            restore_rate: 50.0,
        };
        let json = pipeline::cost_report(12, 3, status);
        let made = cost_value(12, 3, &status);
        assert_eq!(
            made,
            async_graphql::Value::from_json(json.clone()).expect("value")
        );
        // Written the same, byte for byte, and so is the text a shared render's result has.
        assert_eq!(
            serde_json::to_string(&made).expect("json"),
            json.to_string()
        );
        let async_graphql::Value::Binary(text) = cost_text(12, 3, status) else {
            panic!("not text");
        };
        assert_eq!(std::str::from_utf8(&text).expect("UTF-8"), json.to_string());
    }
}
