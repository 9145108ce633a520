//! Stream tickets: how a browser's `EventSource`, which can send no header, opens an event
//! stream without a long-lived credential in its URL. An authenticated request mints a ticket
//! for one operation; the ticket opens one stream of that operation, as that credential, once,
//! within a minute. Only its SHA-256 is stored, as for API keys.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::enums::Role;
use entity::stream_ticket::{self, Column, Entity};
use rand::RngCore as _;
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Actor, Credential, DomainError, api_keys, members};
use crate::db::Db;

/// How long a ticket may wait to be used: long enough to open the stream it was minted for,
/// short enough that a copy in a log is worthless by the time anyone reads it.
pub const LIFETIME: Duration = Duration::from_secs(60);
/// Random bytes in a ticket (256 bits).
const TICKET_BYTES: usize = 32;

/// How the operation's document is named: its text, or a trusted document's id.
#[derive(Debug, Clone, Copy)]
pub enum Document<'a> {
    Text(&'a str),
    Id(&'a str),
}

/// The operation a ticket opens, as a digest of what a request names it by: its document, its
/// name and its variables. An empty name is no name, as in a GET query string.
pub fn operation_hash(
    document: Document<'_>,
    operation_name: Option<&str>,
    variables: &Map<String, Value>,
) -> String {
    let (kind, text) = match document {
        Document::Text(text) => ("query", text),
        Document::Id(id) => ("documentId", id),
    };
    let operation = json!({
        kind: text,
        "operationName": operation_name.filter(|n| !n.is_empty()),
        "variables": variables,
    });
    format!("{:x}", Sha256::digest(operation.to_string().as_bytes()))
}

fn ticket_hash(ticket: &str) -> String {
    format!("{:x}", Sha256::digest(ticket.as_bytes()))
}

/// A minted ticket: shown to its minter once.
#[derive(Debug)]
pub struct Minted {
    pub ticket: String,
    pub expires_at: DateTime<Utc>,
}

/// Mints a ticket that opens the operation `operation` names, as `actor`. A session's ticket
/// expires no later than its session token.
pub async fn mint(db: &Db, actor: &Actor, operation: String) -> Result<Minted, DomainError> {
    let now = entity::now();
    let lifetime = chrono::Duration::from_std(LIFETIME).unwrap_or(chrono::Duration::MAX);
    let expires_at = match actor.expires_at {
        Some(session) => (now + lifetime).min(entity::truncate(session)),
        None => now + lifetime,
    };
    if expires_at <= now {
        return Err(DomainError::Unauthenticated(
            "The session token has expired; sign in again.".to_owned(),
        ));
    }
    let mut bytes = [0u8; TICKET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    let ticket = URL_SAFE_NO_PAD.encode(bytes);
    let (api_key_id, user_id) = match &actor.credential {
        Credential::ApiKey { key_id, .. } => (Some(*key_id), None),
        Credential::User { user_id } => (None, Some(user_id.clone())),
    };
    stream_ticket::ActiveModel {
        ticket_hash: Set(ticket_hash(&ticket)),
        organization_id: Set(actor.organization_id),
        api_key_id: Set(api_key_id),
        user_id: Set(user_id),
        operation_hash: Set(operation),
        session_expires_at: Set(actor.expires_at),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(Minted { ticket, expires_at })
}

/// The actor a ticket stands for, as it is now (a revoked key's or a removed member's ticket
/// is refused), when it was minted for `operation`. A ticket is used up by its first
/// redemption, whatever comes of it: the same URL, replayed from a log or another tab, opens
/// nothing.
/// Whether `ticket` is what `mint` hands out: base64url of `TICKET_BYTES` bytes.
fn well_formed(ticket: &str) -> bool {
    URL_SAFE_NO_PAD
        .decode(ticket)
        .is_ok_and(|bytes| bytes.len() == TICKET_BYTES)
}

/// Whether `ticket` was minted here (used, expired or not): refusing one is no guess at a
/// credential, so it doesn't count as a failed authentication of its address.
pub async fn was_minted(db: &Db, ticket: &str) -> bool {
    well_formed(ticket)
        && Entity::find_by_id(ticket_hash(ticket))
            .one(db)
            .await
            .is_ok_and(|found| found.is_some())
}

pub async fn redeem(db: &Db, ticket: &str, operation: &str) -> Result<Actor, DomainError> {
    let invalid = || {
        DomainError::Unauthenticated(
            "The stream ticket is not valid: it is unknown, expired or already used. Mint a new one with `createStreamTicket` for each stream you open.".to_owned(),
        )
    };
    if !well_formed(ticket) {
        return Err(invalid());
    }
    let hash = ticket_hash(ticket);
    let now = entity::now();
    // One conditional write: of two requests racing with the same ticket, one opens a stream.
    let used = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(now))
        .filter(Column::TicketHash.eq(hash.as_str()))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    if used.rows_affected != 1 {
        return Err(invalid());
    }
    let found = Entity::find_by_id(hash)
        .one(db)
        .await?
        .ok_or_else(invalid)?;
    if found.operation_hash != operation {
        return Err(DomainError::Unauthenticated(
            "The stream ticket was minted for another operation: open the `url` `createStreamTicket` returned, with the same query, operationName and variables. The ticket is used up; mint a new one.".to_owned(),
        ));
    }
    match (found.api_key_id, found.user_id) {
        (Some(key_id), _) => {
            let key = api_keys::active(db, key_id).await?.ok_or_else(invalid)?;
            Ok(Actor {
                organization_id: key.organization_id,
                role: Role::Member,
                credential: Credential::ApiKey {
                    key_id: key.id,
                    mode: key.mode,
                    prefix: key.display_prefix,
                },
                request_id: None,
                expires_at: None,
            })
        }
        (None, Some(user_id)) => {
            let member = members::find(db, found.organization_id, &user_id)
                .await?
                .ok_or_else(|| {
                    DomainError::Forbidden(
                        "You are no longer a member of the organization this stream ticket was minted in.".to_owned(),
                    )
                })?;
            Ok(Actor {
                organization_id: found.organization_id,
                role: member.role,
                credential: Credential::User { user_id },
                request_id: None,
                expires_at: found.session_expires_at,
            })
        }
        (None, None) => Err(invalid()),
    }
}

/// Deletes tickets past their expiry, `batch` rows a statement.
pub async fn purge_expired(db: &Db, now: DateTime<Utc>, batch: u64) -> Result<u64, DomainError> {
    let mut deleted = 0;
    loop {
        let oldest = Query::select()
            .column(Column::TicketHash)
            .from(Entity)
            .and_where(Column::ExpiresAt.lt(now))
            .limit(batch)
            .to_owned();
        let done = Entity::delete_many()
            .filter(Column::TicketHash.in_subquery(oldest))
            .exec(db)
            .await?;
        deleted += done.rows_affected;
        if done.rows_affected < batch {
            return Ok(deleted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operation_is_named_by_its_document_name_and_variables() {
        let vars = |v: Value| v.as_object().cloned().unwrap_or_default();
        let base = operation_hash(Document::Text("subscription { a }"), None, &Map::new());
        assert_eq!(
            base,
            operation_hash(Document::Text("subscription { a }"), Some(""), &Map::new())
        );
        for other in [
            operation_hash(Document::Text("subscription { b }"), None, &Map::new()),
            operation_hash(Document::Id("subscription { a }"), None, &Map::new()),
            operation_hash(Document::Text("subscription { a }"), Some("A"), &Map::new()),
            operation_hash(
                Document::Text("subscription { a }"),
                None,
                &vars(json!({"x": 1})),
            ),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(
            operation_hash(Document::Text("q"), None, &vars(json!({"a": 1, "b": 2}))),
            operation_hash(Document::Text("q"), None, &vars(json!({"b": 2, "a": 1}))),
        );
    }
}
