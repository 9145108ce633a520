//! The `Idempotency-Key` header on REST's writes and GraphQL mutations, Stripe's semantics over
//! `domain::idempotency`'s store: the key is claimed (`claim.rs`), the request runs in a unit of
//! work whose commit also stores its response, and a retry gets it again (`response.rs`).

mod claim;
mod response;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};

use self::claim::{Claimed, claim, in_use};
use self::response::{Storage, replay};
use super::AppState;
use super::error::{ApiError, Envelope};
use crate::code::Code;
use crate::db::Unit;
use crate::domain::idempotency::Scope;
use crate::domain::{Actor, DomainError};

pub use self::response::{Guard, storage_limiter};
pub use super::headers::{IDEMPOTENCY_KEY as KEY, IDEMPOTENT_REPLAYED as REPLAYED};

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
/// SQLite's write lock like any write). `alone` when the request may write more than once
/// (`db::Unit::begin`).
pub async fn begin(
    state: &AppState,
    actor: &Actor,
    keyed: &Keyed,
    envelope: Envelope,
    alone: bool,
) -> Result<Begun, ApiError> {
    let scope = Scope::of(actor);
    super::pipeline::within(state, async {
        match claim(state, scope.clone(), keyed).await? {
            Claimed::Run(claimed) => {
                let unit = Unit::begin(&state.services.db, alone)
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
