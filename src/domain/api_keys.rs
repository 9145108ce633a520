//! API keys: `kros_live_…` / `kros_test_…`. Only a key's SHA-256 is stored; the key itself is
//! shown once, when it is created.

use chrono::{DateTime, Duration, Utc};
use entity::api_key::{self, Column};
use entity::enums::{Mode, Role};
use rand::Rng;
use rand::distr::Alphanumeric;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend,
    EntityTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use entity::enums::EventType;

use super::events::{self, Author};
use super::{Actor, Credential, DomainError, Field};
use crate::db::Db;

const SECRET_LEN: usize = 32;
const MAX_NAME_LEN: usize = 100;
/// Characters of the secret part kept in the display prefix.
const SHOWN_SECRET_CHARS: usize = 4;
/// `last_used_at` is written at most this often per key, so reads don't all become writes.
const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);

pub fn prefix_for(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "kros_live_",
        Mode::Test => "kros_test_",
    }
}

/// Whether a bearer token is meant as an API key (rather than a JWT).
pub fn looks_like_api_key(token: &str) -> bool {
    token.starts_with("kros_")
}

pub fn hash_key(key: &str) -> String {
    // The digest's own lower-hex form: one pass, where a `format!` per byte made 32 strings.
    format!("{:x}", Sha256::digest(key.as_bytes()))
}

/// An API key as the domain hands it out: never its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub mode: Mode,
    /// The key's first characters (`kros_test_AbCd`), to recognise it by.
    pub display_prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_key::Model> for ApiKey {
    fn from(m: api_key::Model) -> Self {
        Self {
            id: m.id,
            organization_id: m.organization_id,
            name: m.name,
            mode: m.mode,
            display_prefix: m.display_prefix,
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            revoked_at: m.revoked_at,
        }
    }
}

pub struct CreatedKey {
    pub key: ApiKey,
    /// The whole key: returned to the creator once and stored nowhere.
    pub plaintext: String,
}

fn check_name(name: &str) -> Result<String, DomainError> {
    super::text::check_name(name, MAX_NAME_LEN)
        .map_err(|(code, message)| DomainError::invalid(Field::Name, code, message))
}

/// Creates a key in the actor's organization: owners and admins only.
pub async fn create(
    db: &Db,
    actor: &Actor,
    mode: Mode,
    name: &str,
) -> Result<CreatedKey, DomainError> {
    actor.ensure_can_manage_organization()?;
    create_by(db, Author::Actor(actor), actor.organization_id, mode, name).await
}

/// The actor's organization's keys, newest first: owners and admins only.
pub async fn list(db: &Db, actor: &Actor) -> Result<Vec<ApiKey>, DomainError> {
    actor.ensure_can_manage_organization()?;
    let rows = api_key::Entity::find()
        .filter(Column::OrganizationId.eq(actor.organization_id))
        .order_by_desc(Column::CreatedAt)
        .order_by_desc(Column::Id)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(ApiKey::from).collect())
}

/// A key of the actor's organization (another's is "not found"): owners and admins only.
pub async fn get(db: &Db, actor: &Actor, id: Uuid) -> Result<ApiKey, DomainError> {
    actor.ensure_can_manage_organization()?;
    api_key::Entity::find()
        .filter(Column::Id.eq(id))
        .filter(Column::OrganizationId.eq(actor.organization_id))
        .one(db)
        .await?
        .map(ApiKey::from)
        .ok_or(DomainError::NotFound("API key"))
}

/// Revokes a key of the actor's organization (another's is "not found"): owners and admins.
pub async fn revoke(db: &Db, actor: &Actor, id: Uuid) -> Result<ApiKey, DomainError> {
    actor.ensure_can_manage_organization()?;
    let owned = api_key::Entity::find()
        .filter(Column::Id.eq(id))
        .filter(Column::OrganizationId.eq(actor.organization_id))
        .one(db)
        .await?;
    if owned.is_none() {
        return Err(DomainError::NotFound("API key"));
    }
    revoke_by(db, Author::Actor(actor), id).await
}

/// The command line's paths: no actor, any organization.
pub mod system {
    use super::*;

    /// Creates a key in `organization_id` (the CLI's `key create`).
    pub async fn create(
        db: &Db,
        organization_id: Uuid,
        mode: Mode,
        name: &str,
    ) -> Result<CreatedKey, DomainError> {
        create_by(db, Author::System, organization_id, mode, name).await
    }

    /// Revokes a key, as [`super::revoke`] does (the CLI's `key revoke`).
    pub async fn revoke(db: &Db, id: Uuid) -> Result<ApiKey, DomainError> {
        revoke_by(db, Author::System, id).await
    }
}

async fn create_by(
    db: &Db,
    author: Author<'_>,
    organization_id: Uuid,
    mode: Mode,
    name: &str,
) -> Result<CreatedKey, DomainError> {
    let name = check_name(name)?;
    super::organizations::system::get(db, organization_id).await?;
    let secret: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect();
    let prefix = prefix_for(mode);
    let plaintext = format!("{prefix}{secret}");
    let model = api_key::ActiveModel {
        id: Set(super::ids::new_id(super::ids::Kind::ApiKey)),
        organization_id: Set(organization_id),
        name: Set(name),
        mode: Set(mode),
        display_prefix: Set(plaintext[..prefix.len() + SHOWN_SECRET_CHARS].to_owned()),
        key_hash: Set(hash_key(&plaintext)),
        created_at: Set(entity::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    };
    let txn = super::events::begin(db, organization_id, events::Writes::Alone).await?;
    let model = model.insert(&txn).await?;
    let change = events::api_key_change(EventType::ApiKeyCreated, None, Some(&model));
    events::record(&txn, author, organization_id, vec![change]).await?;
    events::commit(db, txn, organization_id).await?;
    Ok(CreatedKey {
        key: model.into(),
        plaintext,
    })
}

/// The PostgreSQL channel a revocation is announced on, so that every gateway process forgets
/// the keys it remembers (`auth::cache`).
pub const REVOCATION_CHANNEL: &str = "cockpit_api_key_revoked";

/// Revokes a key; it stops working on the next request, in every process (on PostgreSQL the
/// revocation is announced on `REVOCATION_CHANNEL`). Revoking twice keeps the first time.
async fn revoke_by(db: &Db, author: Author<'_>, id: Uuid) -> Result<ApiKey, DomainError> {
    let key = api_key::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("API key"))?;
    if key.revoked_at.is_some() {
        return Ok(key.into());
    }
    // Conditional, so that of two revocations racing, the first time is the one kept (and
    // recorded once); the announcement is part of the same transaction, so there is no
    // revocation without it.
    let txn = super::events::begin(db, key.organization_id, events::Writes::Alone).await?;
    let revoked = api_key::Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(entity::now()))
        .filter(Column::Id.eq(id))
        .filter(Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if revoked.rows_affected == 1 {
        let after = api_key::Entity::find_by_id(id)
            .one(&txn)
            .await?
            .ok_or(DomainError::NotFound("API key"))?;
        let change = events::api_key_change(EventType::ApiKeyRevoked, Some(&key), Some(&after));
        events::record(&txn, author, key.organization_id, vec![change]).await?;
    }
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!("NOTIFY {REVOCATION_CHANNEL}"))
            .await?;
    }
    events::commit(db, txn, key.organization_id).await?;
    // Within a unit of work, the revocation is made when the unit commits.
    let signals = std::sync::Arc::clone(db.signals());
    db.after_commit(move || signals.revoked());
    api_key::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(ApiKey::from)
        .ok_or(DomainError::NotFound("API key"))
}

/// The key with this id, unless it is revoked.
pub async fn active(db: &Db, id: Uuid) -> Result<Option<ApiKey>, DomainError> {
    Ok(api_key::Entity::find_by_id(id)
        .filter(Column::RevokedAt.is_null())
        .one(db)
        .await?
        .map(ApiKey::from))
}

/// The actor an API key acts as: its organization, its mode, member rights. `hash` is the
/// key's `hash_key`, which the caller has made already to look the key up in its cache.
pub async fn authenticate(db: &Db, key: &str, hash: &str) -> Result<Actor, DomainError> {
    let invalid = || DomainError::Unauthenticated("The API key is not valid.".to_owned());
    let well_formed = [Mode::Live, Mode::Test].iter().any(|m| {
        key.strip_prefix(prefix_for(*m)).is_some_and(|secret| {
            secret.len() == SECRET_LEN && secret.chars().all(|c| c.is_ascii_alphanumeric())
        })
    });
    if !well_formed {
        return Err(invalid());
    }
    let found = api_key::Entity::find()
        .filter(Column::KeyHash.eq(hash))
        .one(db)
        .await?
        .ok_or_else(invalid)?;
    // A revoked key reads as an unknown one: the answer tells a holder of a leaked key
    // nothing about whether it ever worked.
    if found.revoked_at.is_some() {
        return Err(invalid());
    }
    let now = entity::now();
    if found
        .last_used_at
        .is_none_or(|used| now - used >= LAST_USED_RESOLUTION)
    {
        // Bookkeeping: a failure to record the time must not refuse a valid key.
        let recorded = api_key::Entity::update_many()
            .col_expr(Column::LastUsedAt, Expr::value(now))
            .filter(Column::Id.eq(found.id))
            .filter(
                Condition::any()
                    .add(Column::LastUsedAt.is_null())
                    .add(Column::LastUsedAt.lt(now - LAST_USED_RESOLUTION)),
            )
            .exec(db)
            .await;
        if let Err(err) = recorded {
            tracing::warn!(error = %DomainError::Database(err).log_description(), "could not record an API key's last use");
        }
    }
    Ok(Actor {
        organization_id: found.organization_id,
        role: Role::Member,
        credential: Credential::ApiKey {
            key_id: found.id,
            mode: found.mode,
            prefix: found.display_prefix,
        },
        request_id: None,
        expires_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::hash_key;

    #[test]
    fn a_key_is_stored_as_its_sha256_in_lower_hex() {
        // Stored hashes must keep matching: FIPS 180-2's test vector for "abc".
        assert_eq!(
            hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
