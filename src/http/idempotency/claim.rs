//! Claiming a key for a request in the store, and giving it up: a claim held by a dropped
//! request is released, not left to its lease.

use std::time::Duration;

use axum::http::StatusCode;

use super::super::AppState;
use super::super::error::ApiError;
use super::Keyed;
use crate::code::Code;
use crate::db::Db;
use crate::domain::DomainError;
use crate::domain::idempotency::{self, Claim, Scope, Stored, Ticket};

/// What a claim found, with a key claimed for this request held so that dropping it gives it up.
pub(super) enum Claimed {
    Run(Ticketed),
    Replay(Stored),
    Reused,
    InUse,
}

/// Claims the key in a task of its own: the request may be dropped at any point (the client
/// hung up, the timeout fired) while the claim's statements run, and a claim that commits after
/// its request has gone must still be given up, not left to its lease.
pub(super) async fn claim(
    state: &AppState,
    scope: Scope,
    keyed: &Keyed,
) -> Result<Claimed, DomainError> {
    let (pool, lease) = (state.services.db.clone(), lease(state));
    let (key, fingerprint) = (keyed.key.clone(), keyed.fingerprint.clone());
    let (answer, answered) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let claimed = idempotency::claim(&pool, &scope, &key, &fingerprint, lease)
            .await
            .map(|claim| match claim {
                Claim::Run(ticket) => Claimed::Run(Ticketed {
                    ticket: Some(ticket),
                    pool,
                }),
                Claim::Replay(stored) => Claimed::Replay(stored),
                Claim::Reused => Claimed::Reused,
                Claim::InUse => Claimed::InUse,
            });
        // With nobody to take it, the claim is dropped here, which gives it up.
        let _ = answer.send(claimed);
    });
    answered.await.map_err(|_| {
        DomainError::Corrupt("the idempotency claim's task ended without an answer".to_owned())
    })?
}

/// 409 `IDEMPOTENCY_KEY_IN_USE`, to be retried in a second.
pub(super) fn in_use(message: &str) -> ApiError {
    let mut error = ApiError::new(StatusCode::CONFLICT, Code::IdempotencyKeyInUse, message);
    error.retry_after = Some(1);
    error
}

/// A claim not yet settled: dropped as it is, it is given up.
pub(super) struct Ticketed {
    pub(super) ticket: Option<Ticket>,
    pub(super) pool: Db,
}

impl Drop for Ticketed {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            tokio::spawn(release(self.pool.clone(), ticket));
        }
    }
}

/// How long a claim holds: past any request's end (the request timeout bounds it), so that
/// only a claim whose process died runs out.
fn lease(state: &AppState) -> Duration {
    state.limits.request_timeout * 2 + Duration::from_secs(5)
}

/// Gives the key up; a few tries, since a claim left behind holds its key for its lease.
pub(super) async fn release(pool: Db, ticket: Ticket) {
    let mut wait = Duration::from_millis(50);
    for attempt in 1..=4 {
        match idempotency::release(&pool, &ticket).await {
            Ok(()) => return,
            Err(err) if attempt == 4 => {
                // The claim then runs out with its lease.
                tracing::warn!(error = %err.log_description(), "could not give up an idempotency key");
            }
            Err(_) => {
                tokio::time::sleep(wait).await;
                wait *= 4;
            }
        }
    }
}
