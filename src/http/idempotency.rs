//! The `Idempotency-Key` header, on REST's writes and on GraphQL mutations: Stripe's
//! semantics over `domain::idempotency`'s store. A request with a key runs in one unit of
//! work whose commit also stores its response (see the store's module for why a crash can't
//! come between the two); a retry gets that response again, marked `Idempotent-Replayed:
//! true`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{ApiError, Envelope};
use crate::code::Code;
use crate::db::{Db, Unit};
use crate::domain::idempotency::{self, Claim, Scope, Stored, Ticket};
use crate::domain::{Actor, DomainError};
use crate::ratelimit::{Decision, RateLimitSettings, RateLimiter};
use crate::startup::StartupError;

pub use super::headers::{IDEMPOTENCY_KEY as KEY, IDEMPOTENT_REPLAYED as REPLAYED};

/// The headers of a response that are part of what it says, stored and replayed with it.
const KEPT: [HeaderName; 3] = [header::CONTENT_TYPE, header::ETAG, header::LOCATION];

/// The longest key (Stripe's limit).
pub const MAX_KEY_LEN: usize = 255;

/// The request's key, when it sent one: 1 to 255 printable ASCII characters, once.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid("Send one `Idempotency-Key` header, not several."));
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_KEY_LEN {
        return Err(invalid(format!(
            "An `Idempotency-Key` is 1 to {MAX_KEY_LEN} characters; this one has {}.",
            bytes.len()
        )));
    }
    if !bytes.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return Err(invalid(
            "An `Idempotency-Key` holds printable ASCII characters only (a UUID is a good key).",
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

pub fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        Code::IdempotencyKeyInvalid,
        message,
    )
}

/// What a request asks for, as a key remembers it: the method, the path and what it sends —
/// REST's body, GraphQL's operation once its document is resolved — by its JSON value (`Null`
/// for none), so that the same object sent with other spacing or key order is the same request.
fn fingerprint(method: &str, path: &str, body: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    // `serde_json::Map` keeps its keys sorted: the text is canonical.
    hasher.update(body.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

/// How a request with a key goes on.
pub enum Begun {
    /// Run it through the guard's database, then `finish`.
    Run(Guard),
    /// Answered: the stored response of the key's first request.
    Replay(Response),
}

/// A request's `Idempotency-Key`, and what it asked for.
pub struct Keyed {
    pub key: String,
    pub fingerprint: String,
}

impl Keyed {
    pub fn new(key: String, method: &str, path: &str, body: &serde_json::Value) -> Self {
        Self {
            fingerprint: fingerprint(method, path, body),
            key,
        }
    }
}

/// Claims the key for the actor's request, within the request timeout (a claim waits for
/// SQLite's write lock like any write).
pub async fn begin(
    state: &AppState,
    actor: &Actor,
    keyed: &Keyed,
    envelope: Envelope,
) -> Result<Begun, ApiError> {
    let scope = Scope::of(actor);
    super::pipeline::within(state, async {
        match claim(state, scope.clone(), keyed).await? {
            Claimed::Run(claimed) => {
                let unit = Unit::begin(&state.services.db)
                    .await
                    .map_err(DomainError::from)?;
                Ok(Begun::Run(Guard {
                    unit,
                    claimed,
                    envelope,
                    storage: Storage::of(state, &scope),
                }))
            }
            Claimed::Replay(stored) => Ok(Begun::Replay(replay(stored))),
            Claimed::Reused => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Code::IdempotencyKeyReused,
                "This Idempotency-Key was used with a different request (method, path or body; for GraphQL, another document, operation or variables) in the last 24 hours; send a new key with a new request.",
            )),
            Claimed::InUse => Err(in_use(
                "A request with this Idempotency-Key is still running; retry once it has finished to get its response.",
            )),
        }
    })
    .await
}

/// What a claim found, with a key claimed for this request held so that dropping it gives it up.
enum Claimed {
    Run(Ticketed),
    Replay(Stored),
    Reused,
    InUse,
}

/// Claims the key in a task of its own: the request may be dropped at any point (the client
/// hung up, the timeout fired) while the claim's statements run, and a claim that commits after
/// its request has gone must still be given up, not left to its lease.
async fn claim(state: &AppState, scope: Scope, keyed: &Keyed) -> Result<Claimed, DomainError> {
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
fn in_use(message: &str) -> ApiError {
    let mut error = ApiError::new(StatusCode::CONFLICT, Code::IdempotencyKeyInUse, message);
    error.retry_after = Some(1);
    error
}

/// A claim not yet settled: dropped as it is, it is given up.
struct Ticketed {
    ticket: Option<Ticket>,
    pool: Db,
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

fn replay(stored: Stored) -> Response {
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
    unit: Arc<Unit>,
    claimed: Ticketed,
    /// How the transport renders its errors.
    envelope: Envelope,
    storage: Storage,
}

/// What one credential may keep: a response at most `max_response` bytes long, and responses
/// drawn from a bucket of bytes that refills over a key's lifetime.
struct Storage {
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
    fn of(state: &AppState, scope: &Scope) -> Self {
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

    /// Stores `response` with the key in the request's unit of work and commits it, writes and
    /// response together; answers `response`. A server fault isn't kept: the unit is rolled
    /// back, the key given up, and a retry runs afresh. Nor is the answer of a request that
    /// changed nothing (refused for its input, its permissions, a missing object or a stale
    /// version): running it again is as harmless as replaying it, and its key stays free for
    /// the corrected request. Runs to its end even if the request is dropped meanwhile, so that
    /// a commit under way is never left without its key settled.
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
        match self.unit.wrote().await {
            Ok(true) => {}
            Ok(false) => {
                self.give_up().await;
                return response;
            }
            Err(err) => {
                self.give_up().await;
                return unavailable(&DomainError::Database(err), envelope);
            }
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
            error.retry_after = Some(super::error::retry_after_seconds(retry_after));
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
        // What the unit's savepoints committed is visible now.
        self.db().signals().committed(ticket.organization_id());
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

/// Gives the key up; a few tries, since a claim left behind holds its key for its lease.
async fn release(pool: Db, ticket: Ticket) {
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

fn unavailable(err: &DomainError, envelope: Envelope) -> Response {
    tracing::error!(error = %err.log_description(), "could not store an idempotent response");
    if err.is_unavailable() {
        return ApiError::service_unavailable().render(envelope);
    }
    ApiError::unavailable("Internal server error").render(envelope)
}
