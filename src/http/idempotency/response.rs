//! A claimed key's request settled: its response stored with its writes in one commit, or
//! the key given up; and a stored response replayed.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::super::AppState;
use super::super::error::{ApiError, Envelope};
use super::REPLAYED;
use super::claim::{Ticketed, in_use, release};
use crate::code::Code;
use crate::db::{Db, Unit};
use crate::domain::DomainError;
use crate::domain::idempotency::{self, Scope, Stored, Ticket};
use crate::ratelimit::{Decision, RateLimitSettings, RateLimiter};
use crate::startup::StartupError;

/// The headers of a response that are part of what it says, stored and replayed with it.
const KEPT: [HeaderName; 3] = [header::CONTENT_TYPE, header::ETAG, header::LOCATION];

/// The key's first response again, marked `Idempotent-Replayed: true`.
pub(super) fn replay(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    for (name, value) in stored.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// A claimed key and the unit of work its request runs in. Dropped without `finish` (the
/// client went away mid-request), it rolls the unit back and gives the key up.
pub struct Guard {
    pub(super) unit: Arc<Unit>,
    pub(super) claimed: Ticketed,
    /// How the transport renders its errors.
    pub(super) envelope: Envelope,
    pub(super) storage: Storage,
}

/// What one credential may keep: a response at most `max_response` bytes long, and responses
/// drawn from a bucket of bytes that refills over a key's lifetime.
pub(super) struct Storage {
    limiter: Arc<RateLimiter>,
    bucket: String,
    max_response: usize,
}

/// A bucket of bytes per credential, refilled over a key's lifetime, in the rate limiter's
/// store (Redis when configured, so that processes share it).
pub fn storage_limiter(
    config: &crate::config::Config,
    metrics: &crate::metrics::Metrics,
) -> Result<RateLimiter, StartupError> {
    let bytes = config.limits.idempotent_storage_bytes;
    let settings = RateLimitSettings {
        bucket_size: bytes,
        restore_rate: (bytes / idempotency::LIFETIME.as_secs()).max(1),
        redis_prefix: format!("{}idempotent-bytes:", config.rate_limit.redis_prefix),
        ..config.rate_limit.clone()
    };
    RateLimiter::new(&settings, metrics.rate_limit_fallbacks()).map_err(StartupError::Config)
}

impl Storage {
    pub(super) fn of(state: &AppState, scope: &Scope) -> Self {
        Self {
            limiter: state.idempotent_storage.clone(),
            bucket: format!("{}:{}", scope.organization_id, scope.credential),
            max_response: state.limits.idempotent_response_bytes,
        }
    }
}

impl Guard {
    /// The database the request reads and writes through.
    pub fn db(&self) -> Db {
        Db::Unit(self.unit.clone())
    }

    /// Stores `response` with the key in the request's unit of work and commits both; answers
    /// `response`. Neither a server fault nor the answer of a request that changed nothing
    /// (refused, or a missing object or stale version) is kept: the unit is rolled back and the
    /// key given up, for a retry to run afresh. Runs to its end even if the request is dropped,
    /// so that a commit under way always settles its key.
    pub async fn finish(self, response: Response) -> Response {
        let envelope = self.envelope;
        match tokio::spawn(self.settle(response)).await {
            Ok(response) => response,
            Err(_) => ApiError::internal().render(envelope),
        }
    }

    async fn settle(mut self, response: Response) -> Response {
        let envelope = self.envelope;
        if response.status().is_server_error() {
            // Dropped, the guard rolls back and gives up the key once a statement of the
            // request still waiting on a lock lets it (see `abandon`).
            return response;
        }
        if !self.unit.wrote() {
            self.give_up().await;
            return response;
        }
        let (parts, body) = response.into_parts();
        let max = self.storage.max_response;
        let Ok(bytes) = axum::body::to_bytes(body, max.saturating_add(1)).await else {
            self.give_up().await;
            return too_large(max).render(envelope);
        };
        let stored = Stored {
            status: parts.status.as_u16(),
            headers: KEPT
                .iter()
                .filter_map(|name| {
                    let value = parts.headers.get(name)?.to_str().ok()?;
                    Some((name.as_str().to_owned(), value.to_owned()))
                })
                .collect(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
        let size = stored.body.len()
            + stored
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>();
        if size > max {
            self.give_up().await;
            return too_large(max).render(envelope);
        }
        let storage = &self.storage;
        if let Decision::Throttled { retry_after, .. } =
            storage.limiter.take(&storage.bucket, size as u64).await
        {
            let mut error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                Code::IdempotencyStorageExceeded,
                format!(
                    "This credential has kept as many idempotent responses as it may in 24 hours ({} bytes); nothing of this request was written. Retry later, or send it without an Idempotency-Key.",
                    storage.limiter.bucket_size()
                ),
            );
            error.retry_after = Some(super::super::error::retry_after_seconds(retry_after));
            self.give_up().await;
            return error.render(envelope);
        }
        let Some(ticket) = self.claimed.ticket.take() else {
            return ApiError::internal().render(envelope);
        };
        match idempotency::complete(&self.db(), &ticket, &stored).await {
            Ok(true) => {}
            Ok(false) => {
                // The lease ran out and another request holds the key now: this one's writes go.
                self.unit.rollback().await.ok();
                return in_use(
                    "This request ran past its claim on the Idempotency-Key and another request with the key took it over; nothing of this one was written.",
                )
                .render(envelope);
            }
            Err(err) => {
                self.abandon(ticket);
                return unavailable(&err, envelope);
            }
        }
        if let Err(err) = self.unit.commit().await {
            release(self.claimed.pool.clone(), ticket).await;
            return unavailable(&DomainError::Database(err), envelope);
        }
        // What the unit's savepoints committed is visible now; answered once its events are
        // too.
        crate::domain::events::published(&self.db(), ticket.organization_id()).await;
        Response::from_parts(parts, Body::from(bytes))
    }

    /// Rolls the unit back and gives the key up, after the response has gone (see `Drop`).
    pub fn discard(self) {}

    /// Rolls the unit back and gives the key up before the response goes, so that a retry
    /// sent as soon as it arrives finds the key free.
    async fn give_up(&mut self) {
        if let Some(ticket) = self.claimed.ticket.take() {
            self.unit.rollback().await.ok();
            release(self.claimed.pool.clone(), ticket).await;
        }
    }

    /// Rolls the unit back and gives the key up, after the response has gone: on PostgreSQL a
    /// timed-out request's statement may still be waiting for a lock, and its rollback waits
    /// for that statement.
    fn abandon(&self, ticket: Ticket) {
        let (unit, pool) = (self.unit.clone(), self.claimed.pool.clone());
        tokio::spawn(async move {
            unit.rollback().await.ok();
            release(pool, ticket).await;
        });
    }
}

/// 422: what the request answered is more than a key may keep.
fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        Code::IdempotentResponseTooLarge,
        format!(
            "The response to this request is over the {max} bytes an Idempotency-Key may keep, so nothing of it was written. Select fewer fields or send fewer mutations at once, or send it without an Idempotency-Key."
        ),
    )
}

impl Drop for Guard {
    fn drop(&mut self) {
        // The unit goes back before the claim does, so that a retry never runs beside it.
        if let Some(ticket) = self.claimed.ticket.take() {
            self.abandon(ticket);
        }
    }
}

fn unavailable(err: &DomainError, envelope: Envelope) -> Response {
    tracing::error!(error = %err.log_description(), "could not store an idempotent response");
    if err.is_unavailable() {
        return ApiError::service_unavailable().render(envelope);
    }
    ApiError::unavailable("Internal server error").render(envelope)
}
