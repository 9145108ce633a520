//! Idempotency keys, as Stripe has them: the first response to a request sent with a key is
//! stored with it, and a retry with the same key gets that response back without running
//! again.
//!
//! A key is first *claimed*: a row saying that a request with this fingerprint is running,
//! committed on its own so that every process sees it (a retry meanwhile is told the key is in
//! use). The request then runs in one unit of work (`db::Unit`), and its response is written
//! to the row in that same transaction, just before it commits. So the writes and the stored
//! response commit together or not at all: a process that dies before the commit leaves no
//! write behind, only a claim, which a retry takes over once its lease has run out and runs
//! afresh; one that dies after it leaves both, and a retry replays the response.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::idempotency_key::{self, Column, Entity};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{Actor, Credential, DomainError};
use crate::db::Db;

/// How long a key is remembered (Stripe's 24 hours).
pub const LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Whose keys these are: one credential within one organization. Another credential's
/// identical key is a different key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub organization_id: Uuid,
    pub credential: String,
}

impl Scope {
    pub fn of(actor: &Actor) -> Self {
        let credential = match &actor.credential {
            Credential::ApiKey { key_id, .. } => format!("key:{key_id}"),
            Credential::User { user_id } => format!("user:{user_id}"),
        };
        Self {
            organization_id: actor.organization_id,
            credential,
        }
    }
}

/// A stored response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub status: u16,
    /// The headers that describe the body (its media type, `ETag`), as `(name, value)`.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What a claim finds.
#[derive(Debug)]
pub enum Claim {
    /// The key is this request's: run it, then [`complete`] or [`release`] the ticket.
    Run(Ticket),
    /// The key's first request finished: its response.
    Replay(Stored),
    /// The key was used with a different request.
    Reused,
    /// The key's first request is still running.
    InUse,
}

/// A claim held by the running request.
#[derive(Debug, Clone)]
pub struct Ticket {
    scope: Scope,
    key: String,
    token: Uuid,
}

impl Ticket {
    pub fn organization_id(&self) -> Uuid {
        self.scope.organization_id
    }
}

fn at(scope: &Scope, key: &str) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(Column::OrganizationId.eq(scope.organization_id))
        .add(Column::Credential.eq(scope.credential.as_str()))
        .add(Column::Key.eq(key))
}

fn later(now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX)
}

/// Claims `key` for a request whose fingerprint is `fingerprint`, for `lease` (after which a
/// claim is taken to be abandoned: its process died). Every step is one statement whose
/// condition re-checks what was read, so racing claims of one key leave exactly one holder.
pub async fn claim(
    db: &Db,
    scope: &Scope,
    key: &str,
    fingerprint: &str,
    lease: Duration,
) -> Result<Claim, DomainError> {
    // Each lost race means someone else changed the row; the next read sees what they did.
    // Most keys are new, so the first try inserts without reading: a key already there
    // makes it a lost race.
    for tries in 0..5 {
        let now = entity::now();
        let token = Uuid::now_v7();
        let found = match tries {
            0 => None,
            _ => Entity::find().filter(at(scope, key)).one(db).await?,
        };
        let taken = match found {
            None => {
                let row = idempotency_key::ActiveModel {
                    organization_id: Set(scope.organization_id),
                    credential: Set(scope.credential.clone()),
                    key: Set(key.to_owned()),
                    fingerprint: Set(fingerprint.to_owned()),
                    claim: Set(Some(token)),
                    locked_until: Set(Some(later(now, lease))),
                    status: Set(None),
                    headers: Set(None),
                    body: Set(None),
                    created_at: Set(now),
                    expires_at: Set(later(now, LIFETIME)),
                };
                let conflict =
                    OnConflict::columns([Column::OrganizationId, Column::Credential, Column::Key])
                        .do_nothing()
                        .to_owned();
                Entity::insert(row)
                    .on_conflict(conflict)
                    .exec_without_returning(db)
                    .await?
                    == 1
            }
            // An expired key is a new key.
            Some(row) if row.expires_at <= now => {
                Entity::update_many()
                    .col_expr(Column::Fingerprint, Expr::value(fingerprint))
                    .col_expr(Column::Claim, Expr::value(Some(token)))
                    .col_expr(Column::LockedUntil, Expr::value(Some(later(now, lease))))
                    .col_expr(Column::Status, Expr::value(Option::<i32>::None))
                    .col_expr(Column::Headers, Expr::value(Option::<String>::None))
                    .col_expr(Column::Body, Expr::value(Option::<String>::None))
                    .col_expr(Column::CreatedAt, Expr::value(now))
                    .col_expr(Column::ExpiresAt, Expr::value(later(now, LIFETIME)))
                    .filter(at(scope, key))
                    .filter(Column::ExpiresAt.eq(row.expires_at))
                    .exec(db)
                    .await?
                    .rows_affected
                    == 1
            }
            Some(row) if row.fingerprint != fingerprint => return Ok(Claim::Reused),
            Some(row) if row.status.is_some() => {
                return Ok(Claim::Replay(Stored {
                    status: row
                        .status
                        .and_then(|s| u16::try_from(s).ok())
                        .unwrap_or(200),
                    headers: row
                        .headers
                        .and_then(|h| serde_json::from_str(&h).ok())
                        .unwrap_or_default(),
                    body: row.body.unwrap_or_default(),
                }));
            }
            Some(row) if row.locked_until.is_some_and(|until| until > now) => {
                return Ok(Claim::InUse);
            }
            // A claim whose lease ran out: its request never committed, so nothing it did
            // remains, and this request runs in its place.
            Some(row) => {
                let mut update = Entity::update_many()
                    .col_expr(Column::Claim, Expr::value(Some(token)))
                    .col_expr(Column::LockedUntil, Expr::value(Some(later(now, lease))))
                    .filter(at(scope, key))
                    .filter(Column::Status.is_null());
                update = match row.claim {
                    Some(old) => update.filter(Column::Claim.eq(old)),
                    None => update.filter(Column::Claim.is_null()),
                };
                update.exec(db).await?.rows_affected == 1
            }
        };
        if taken {
            return Ok(Claim::Run(Ticket {
                scope: scope.clone(),
                key: key.to_owned(),
                token,
            }));
        }
    }
    // Four lost races in a row after the first look: someone else holds it by now.
    Ok(Claim::InUse)
}

/// Stores the response of the ticket's request through `unit`, the request's unit of work,
/// so that it commits with the request's writes. `false` when the claim is no longer this
/// request's (its lease ran out and another request took the key over): the unit must then
/// be rolled back.
pub async fn complete(unit: &Db, ticket: &Ticket, stored: &Stored) -> Result<bool, DomainError> {
    let done = Entity::update_many()
        .col_expr(Column::Status, Expr::value(Some(i32::from(stored.status))))
        .col_expr(
            Column::Headers,
            Expr::value(serde_json::to_string(&stored.headers).ok()),
        )
        .col_expr(Column::Body, Expr::value(Some(stored.body.clone())))
        .col_expr(Column::Claim, Expr::value(Option::<Uuid>::None))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(at(&ticket.scope, &ticket.key))
        .filter(Column::Claim.eq(ticket.token))
        .exec(unit)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Gives the key up, for a request that ended without a response worth keeping (a fault of
/// the gateway or the database, a timeout): a retry runs afresh.
pub async fn release(db: &Db, ticket: &Ticket) -> Result<(), DomainError> {
    Entity::delete_many()
        .filter(at(&ticket.scope, &ticket.key))
        .filter(Column::Claim.eq(ticket.token))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes keys that expired before `now`, `batch` rows per statement; returns how many.
pub async fn purge_expired(db: &Db, now: DateTime<Utc>, batch: u64) -> Result<u64, DomainError> {
    let mut deleted = 0;
    loop {
        let oldest = Query::select()
            .columns([Column::OrganizationId, Column::Credential, Column::Key])
            .from(Entity)
            .and_where(Column::ExpiresAt.lt(now))
            .limit(batch)
            .to_owned();
        let done = Entity::delete_many()
            .filter(
                Expr::tuple([
                    Expr::col(Column::OrganizationId),
                    Expr::col(Column::Credential),
                    Expr::col(Column::Key),
                ])
                .in_subquery(oldest),
            )
            .exec(db)
            .await?;
        deleted += done.rows_affected;
        if done.rows_affected < batch {
            return Ok(deleted);
        }
    }
}
