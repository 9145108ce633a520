//! Subscription slots in the database (`subscription_slots`), for deployments without Redis:
//! a credential's slots are counted and taken under a lock of its own (PostgreSQL's advisory
//! lock; SQLite's one writer), so two processes never both take its last slot.

use std::time::Duration;

use entity::subscription_slot::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Statement,
};
use uuid::Uuid;

use crate::db::Db;
use crate::domain::DomainError;

/// The advisory lock's first key: subscription slots ("ckss").
const LOCK_CLASS: i32 = 0x636b_7373;

/// When a lease taken or renewed now ends.
fn lease_end(lease: Duration) -> chrono::DateTime<chrono::Utc> {
    entity::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30))
}

/// The advisory lock's second key: the bucket, hashed to 32 bits (two buckets that share one
/// only wait for each other).
fn lock_key(bucket: &str) -> i32 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bucket.as_bytes());
    i32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Takes slot `id` for `bucket` unless it holds `max` whose leases still run.
pub(super) async fn open(
    db: &Db,
    process: Uuid,
    id: Uuid,
    bucket: &str,
    max: usize,
    lease: Duration,
) -> Result<bool, DomainError> {
    Ok(open_many(db, process, &[id], bucket, max, lease).await? == 1)
}

/// Takes as many of the slots `ids` for `bucket`, in order, as it has room for below `max`
/// whose leases still run, in one transaction; how many it took. Opening many subscriptions of
/// one credential at once (a dashboard fleet reconnecting) is then a write for a batch of them
/// rather than one each, every one counting the credential's slots again.
pub(super) async fn open_many(
    db: &Db,
    process: Uuid,
    ids: &[Uuid],
    bucket: &str,
    max: usize,
    lease: Duration,
) -> Result<usize, DomainError> {
    let txn = crate::db::begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1, $2)",
            [LOCK_CLASS.into(), lock_key(bucket).into()],
        ))
        .await?;
    }
    let now = entity::now();
    Entity::delete_many()
        .filter(Column::Bucket.eq(bucket))
        .filter(Column::ExpiresAt.lte(now))
        .exec(&txn)
        .await?;
    let open = Entity::find()
        .filter(Column::Bucket.eq(bucket))
        .count(&txn)
        .await?;
    let room = usize::try_from(open).map_or(0, |open| max.saturating_sub(open));
    let taken = &ids[..room.min(ids.len())];
    if taken.is_empty() {
        return Ok(0);
    }
    let expires_at = lease_end(lease);
    Entity::insert_many(taken.iter().map(|id| subscription_slot::ActiveModel {
        id: Set(*id),
        bucket: Set(bucket.to_owned()),
        process_id: Set(process),
        expires_at: Set(expires_at),
    }))
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(taken.len())
}

/// Renews every lease of `process`, and forgets leases that ended (of dead processes).
pub(super) async fn renew(db: &Db, process: Uuid, lease: Duration) -> Result<(), DomainError> {
    Entity::update_many()
        .col_expr(Column::ExpiresAt, Expr::value(lease_end(lease)))
        .filter(Column::ProcessId.eq(process))
        .exec(db)
        .await?;
    Entity::delete_many()
        .filter(Column::ExpiresAt.lte(entity::now()))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives back the slots `ids`, a few hundred a statement.
pub(super) async fn release(db: &Db, ids: &[Uuid]) -> Result<(), DomainError> {
    for ids in ids.chunks(500) {
        Entity::delete_many()
            .filter(Column::Id.is_in(ids.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Gives back every slot of `process` (it stops serving).
pub(super) async fn release_process(db: &Db, process: Uuid) -> Result<(), DomainError> {
    Entity::delete_many()
        .filter(Column::ProcessId.eq(process))
        .exec(db)
        .await?;
    Ok(())
}
