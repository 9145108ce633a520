//! The `Idempotency-Key` header, on REST's writes and on GraphQL mutations: Stripe's
//! semantics over `domain::idempotency`'s store. A request with a key runs in one unit of
//! work whose commit also stores its response (see the store's module for why a crash can't
//! come between the two); a retry gets that response again, marked `Idempotent-Replayed:
//! true`.

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

pub const KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

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

/// What a request asks for, as a key remembers it: the method, the path and the body, by its
/// JSON value (`Null` for none), so that the same object sent with other spacing or key order
/// is the same request.
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
        let claim = idempotency::claim(
            &state.db,
            &scope,
            &keyed.key,
            &keyed.fingerprint,
            lease(state),
        );
        match claim.await? {
            Claim::Run(ticket) => {
                // From here until the guard holds it, a claim dropped on the way (by the
                // timeout, say) is given up.
                let claimed = Claimed {
                    ticket: Some(ticket),
                    pool: state.db.clone(),
                };
                let unit = Unit::begin(&state.pool)
                    .await
                    .map_err(DomainError::from)?;
                Ok(Begun::Run(Guard {
                    unit,
                    claimed,
                    envelope,
                }))
            }
            Claim::Replay(stored) => Ok(Begun::Replay(replay(stored))),
            Claim::Reused => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Code::IdempotencyKeyReused,
                "This Idempotency-Key was used with a different request (method, path or body) in the last 24 hours; send a new key with a new request.",
            )),
            Claim::InUse => Err(in_use(
                "A request with this Idempotency-Key is still running; retry once it has finished to get its response.",
            )),
        }
    })
    .await
}

/// 409 `IDEMPOTENCY_KEY_IN_USE`, to be retried in a second.
fn in_use(message: &str) -> ApiError {
    let mut error = ApiError::new(StatusCode::CONFLICT, Code::IdempotencyKeyInUse, message);
    error.retry_after = Some(1);
    error
}

/// A claim not yet settled: dropped as it is, it is given up.
struct Claimed {
    ticket: Option<Ticket>,
    pool: Db,
}

impl Drop for Claimed {
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
    unit: std::sync::Arc<Unit>,
    claimed: Claimed,
    /// How the transport renders its errors.
    envelope: Envelope,
}

impl Guard {
    /// The database the request reads and writes through.
    pub fn db(&self) -> Db {
        Db::Unit(self.unit.clone())
    }

    /// Stores `response` with the key in the request's unit of work and commits it, writes and
    /// response together; answers `response`. A server fault isn't kept: the unit is rolled
    /// back, the key given up, and a retry runs afresh.
    pub async fn finish(mut self, response: Response) -> Response {
        if response.status().is_server_error() {
            // Dropped, the guard rolls back and gives up the key (see `Drop`).
            return response;
        }
        let Some(ticket) = self.claimed.ticket.take() else {
            return response;
        };
        let (parts, body) = response.into_parts();
        // The responses here are made in memory; their size is bounded by the response limits.
        let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
            self.abandon(ticket);
            return ApiError::internal().render(self.envelope);
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
        match idempotency::complete(&self.db(), &ticket, &stored).await {
            Ok(true) => {}
            Ok(false) => {
                // The lease ran out and another request holds the key now: this one's writes go.
                self.unit.rollback().await.ok();
                return in_use(
                    "This request ran past its claim on the Idempotency-Key and another request with the key took it over; nothing of this one was written.",
                )
                .render(self.envelope);
            }
            Err(err) => {
                self.abandon(ticket);
                return unavailable(&err, self.envelope);
            }
        }
        if let Err(err) = self.unit.commit().await {
            release(self.claimed.pool.clone(), ticket).await;
            return unavailable(&DomainError::Database(err), self.envelope);
        }
        // What the unit's savepoints committed is visible now.
        crate::domain::events::committed(ticket.organization_id());
        Response::from_parts(parts, Body::from(bytes))
    }

    /// Rolls the unit back and gives the key up, after the response has gone (see `Drop`).
    pub fn discard(self) {}

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

impl Drop for Guard {
    fn drop(&mut self) {
        // The unit goes back before the claim does, so that a retry never runs beside it.
        if let Some(ticket) = self.claimed.ticket.take() {
            self.abandon(ticket);
        }
    }
}

async fn release(pool: Db, ticket: Ticket) {
    if let Err(err) = idempotency::release(&pool, &ticket).await {
        // The claim then runs out with its lease.
        tracing::warn!(error = %err.log_description(), "could not give up an idempotency key");
    }
}

fn unavailable(err: &DomainError, envelope: Envelope) -> Response {
    tracing::error!(error = %err.log_description(), "could not store an idempotent response");
    if err.is_unavailable() {
        return ApiError::service_unavailable().render(envelope);
    }
    ApiError::unavailable("Internal server error").render(envelope)
}
