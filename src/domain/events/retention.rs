//! Retention: events older than the retention period are deleted, and each organization's
//! watermarks (per mode) say up to where, so that a reader resuming from before them is told
//! that events it would have read are gone (`EVENTS_EXPIRED`) rather than silently skipping
//! them.
//!
//! A batch of events and the watermarks they raise are one transaction: a reader sees both or
//! neither. The sweep deletes the oldest first, but a watermark is the highest `seq` deleted
//! of its organization and mode, so "a cursor before the watermark" is exactly "an event after
//! the cursor, of a mode the reader reads, was deleted" whatever order they went in.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::enums::{EventType, Mode};
use entity::event::{self, Column};
use entity::event_watermark;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::db::Db;
use crate::domain::access::ModeScope;
use crate::domain::{Actor, DomainError};

/// A watermark's scope: the events' mode, or `none` for changes of the whole organization.
fn scope_of(mode: Option<Mode>) -> &'static str {
    match mode {
        Some(Mode::Live) => "live",
        Some(Mode::Test) => "test",
        None => "none",
    }
}

/// Whether events of this type belong to no mode (a change of the whole organization).
fn modeless(ty: EventType) -> bool {
    matches!(
        ty,
        EventType::MemberCreated
            | EventType::MemberUpdated
            | EventType::MemberDeleted
            | EventType::OrganizationCreated
    )
}

/// Deletes events older than `cutoff`, `batch` at a time, each batch in a short transaction of
/// its own with the watermarks it raises; how many it deleted. On PostgreSQL a batch takes only
/// rows no other sweep holds (`SKIP LOCKED`), so processes sweeping at once never wait on each
/// other nor count one row twice.
pub async fn purge_older_than(
    db: &Db,
    cutoff: DateTime<Utc>,
    batch: u64,
) -> Result<u64, DomainError> {
    let mut deleted = 0;
    loop {
        let txn = crate::db::begin_write(db).await?;
        let mut oldest = event::Entity::find()
            .select_only()
            .column(Column::Seq)
            .column(Column::OrganizationId)
            .column(Column::Mode)
            .filter(Column::OccurredAt.lt(cutoff))
            .filter(super::read::numbered())
            .order_by_asc(Column::Seq)
            .limit(batch);
        if txn.get_database_backend() == DbBackend::Postgres {
            oldest = oldest.lock_with_behavior(
                sea_orm::sea_query::LockType::Update,
                sea_orm::sea_query::LockBehavior::SkipLocked,
            );
        }
        let rows: Vec<(i64, Uuid, Option<Mode>)> = oldest.into_tuple().all(&txn).await?;
        if rows.is_empty() {
            return Ok(deleted);
        }
        let done = event::Entity::delete_many()
            .filter(Column::Seq.is_in(rows.iter().map(|(seq, _, _)| *seq)))
            .exec(&txn)
            .await?;
        let mut highest: HashMap<(Uuid, &'static str), i64> = HashMap::new();
        for (seq, org, mode) in &rows {
            let top = highest.entry((*org, scope_of(*mode))).or_insert(*seq);
            *top = (*top).max(*seq);
        }
        raise(&txn, highest).await?;
        txn.commit().await?;
        deleted += done.rows_affected;
        if (rows.len() as u64) < batch {
            return Ok(deleted);
        }
    }
}

/// Raises each watermark to at least its given `seq` (never lowers one: sweeps of several
/// processes may commit in any order).
async fn raise(
    txn: &sea_orm::DatabaseTransaction,
    highest: HashMap<(Uuid, &'static str), i64>,
) -> Result<(), DomainError> {
    let greatest = match txn.get_database_backend() {
        DbBackend::Postgres => "GREATEST",
        _ => "MAX",
    };
    for ((organization_id, scope), seq) in highest {
        let row = event_watermark::ActiveModel {
            organization_id: Set(organization_id),
            scope: Set(scope.to_owned()),
            pruned_through: Set(seq),
        };
        event_watermark::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    event_watermark::Column::OrganizationId,
                    event_watermark::Column::Scope,
                ])
                .value(
                    event_watermark::Column::PrunedThrough,
                    Expr::cust(format!(
                        "{greatest}(event_watermarks.pruned_through, excluded.pruned_through)"
                    )),
                )
                .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// Which watermarks a reader's place is held to: those of the modes it reads, and of the
/// organization's own changes when it reads any.
#[derive(Debug, Clone)]
pub struct Expiry {
    organization_id: Uuid,
    scopes: Vec<&'static str>,
}

impl Expiry {
    /// What `actor` reading events of `types` is held to.
    pub fn of(actor: &Actor, types: &[EventType]) -> Self {
        let mut scopes = match actor.read_scope(None) {
            ModeScope::Nothing => Vec::new(),
            ModeScope::Only(mode) => vec![scope_of(Some(mode))],
            ModeScope::Both => vec![scope_of(Some(Mode::Live)), scope_of(Some(Mode::Test))],
        };
        if scopes.len() > 1 && types.iter().copied().any(modeless) {
            scopes.push(scope_of(None));
        }
        Self {
            organization_id: actor.organization_id,
            scopes,
        }
    }

    /// Whether retention deleted an event after `seq` that this reader would read: its cursor
    /// names a place before what is kept. The last event deleted is itself a good place (all
    /// after it is kept); one before it is not.
    pub async fn expired(&self, db: &Db, seq: i64) -> Result<bool, DomainError> {
        if self.scopes.is_empty() {
            return Ok(false);
        }
        let highest = event_watermark::Entity::find()
            .select_only()
            .column_as(
                event_watermark::Column::PrunedThrough.max(),
                "pruned_through",
            )
            .filter(event_watermark::Column::OrganizationId.eq(self.organization_id))
            .filter(event_watermark::Column::Scope.is_in(self.scopes.iter().copied()))
            .into_tuple::<Option<i64>>()
            .one(db)
            .await?;
        Ok(highest.flatten().is_some_and(|pruned| pruned > seq))
    }
}
