//! Events: every change the gateway makes, recorded in the transaction that makes it (no
//! change without its event, no event without its change), and read back by the audit log
//! and by subscriptions.
//!
//! An organization's events are numbered (`seq`) in the order they commit: on PostgreSQL a
//! writer takes the organization's advisory lock before numbering its events and holds it
//! until it commits; on SQLite every write transaction holds the database's one write lock.
//! So a reader that has seen `seq` N of an organization will never see a smaller one commit
//! later, and "every event after N" misses nothing.

use chrono::{DateTime, Utc};
use entity::enums::{ActorKind, EventType, Mode};
use entity::event::{self, Column};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::access::ModeScope;
use super::{Actor, Credential, DomainError, Role};
use crate::db::Db;

mod cursor;
pub mod live;
mod snapshot;

pub use cursor::Cursors;
pub use live::Hub;
pub use snapshot::{api_key_change, endpoint_change, member_change, phone_number_change};

/// The PostgreSQL channel an organization's commits are announced on (the payload is the
/// organization's id), so that subscribers in every gateway process look for new events.
pub const CHANNEL: &str = "cockpit_events";

/// Who made a change.
#[derive(Debug, Clone, Copy)]
pub enum Author<'a> {
    Actor(&'a Actor),
    /// The gateway's own CLI (`key create`, `member add`, …).
    System,
}

/// One change, as its event records it.
#[derive(Debug, Clone)]
pub struct Change {
    pub r#type: EventType,
    pub object_id: Uuid,
    /// `None` for a change of the whole organization (a member).
    pub mode: Option<Mode>,
    /// The object's fields before the change (only those that changed, for an update).
    pub before: Option<Value>,
    /// The object's fields after it.
    pub after: Option<Value>,
}

impl Change {
    /// A creation when there is no `before`, a deletion when there is no `after`, else an
    /// update that keeps only the fields that differ (an object's fields one level down too).
    pub fn new(
        r#type: EventType,
        object_id: Uuid,
        mode: Option<Mode>,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Self {
        let (before, after) = match (before, after) {
            (Some(before), Some(after)) => {
                let (before, after) = snapshot::differences(&before, &after);
                (Some(before), Some(after))
            }
            other => other,
        };
        Self {
            r#type,
            object_id,
            mode,
            before,
            after,
        }
    }
}

/// Begins a write of `organization_id`'s data. On PostgreSQL it first takes the
/// organization's advisory lock, which `record` needs before it numbers events and which is
/// held until the transaction ends: every writer takes it before any row lock, so no two
/// writers ever wait for each other's locks in opposite orders — a unit of work
/// (`db::Unit`), whose first write takes it for the rest of the request, as much as a single
/// write.
pub async fn begin(db: &Db, organization_id: Uuid) -> Result<DatabaseTransaction, DomainError> {
    let txn = crate::db::begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1, $2)",
            [LOCK_CLASS.into(), lock_key(organization_id).into()],
        ))
        .await?;
    }
    Ok(txn)
}

/// Records `changes` of `organization_id` in `txn`, numbered after every event of that
/// organization committed before. Commit `txn` with [`commit`], which tells this app's subscribers.
pub async fn record(
    txn: &DatabaseTransaction,
    author: Author<'_>,
    organization_id: Uuid,
    changes: Vec<Change>,
) -> Result<(), DomainError> {
    if changes.is_empty() {
        return Ok(());
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        // The lock orders this organization's events by commit (a writer that began with
        // `begin` holds it already; taking it again costs nothing); the notice is delivered
        // when (and only if) the transaction commits.
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1, $2), pg_notify($3, $4)",
            [
                LOCK_CLASS.into(),
                lock_key(organization_id).into(),
                CHANNEL.into(),
                organization_id.to_string().into(),
            ],
        ))
        .await?;
    }
    let (actor_kind, actor_id, actor_key_prefix, request_id) = match author {
        Author::System => (ActorKind::System, None, None, None),
        Author::Actor(actor) => {
            let (kind, id, prefix) = match &actor.credential {
                Credential::User { user_id } => (ActorKind::User, user_id.clone(), None),
                Credential::ApiKey { key_id, prefix, .. } => {
                    (ActorKind::ApiKey, key_id.to_string(), Some(prefix.clone()))
                }
            };
            (kind, Some(id), prefix, actor.request_id.clone())
        }
    };
    let occurred_at = entity::now();
    let rows = changes.into_iter().map(|change| {
        let mut data = Map::new();
        if let Some(before) = change.before {
            data.insert("before".to_owned(), before);
        }
        if let Some(after) = change.after {
            data.insert("after".to_owned(), after);
        }
        event::ActiveModel {
            seq: sea_orm::ActiveValue::NotSet,
            id: Set(super::ids::new_id(super::ids::Kind::Event)),
            organization_id: Set(organization_id),
            mode: Set(change.mode),
            r#type: Set(change.r#type),
            object_id: Set(change.object_id),
            actor_kind: Set(actor_kind),
            actor_id: Set(actor_id.clone()),
            actor_key_prefix: Set(actor_key_prefix.clone()),
            request_id: Set(request_id.clone()),
            occurred_at: Set(occurred_at),
            data: Set(Value::Object(data)),
        }
    });
    event::Entity::insert_many(rows).exec(txn).await?;
    Ok(())
}

/// The advisory lock's first key: the gateway's events, apart from any other use of advisory
/// locks on the database ("ckev").
const LOCK_CLASS: i32 = 0x636b_6576;

/// The advisory lock's second key: the organization, folded to 32 bits (two organizations that
/// share one only wait for each other).
fn lock_key(organization_id: Uuid) -> i32 {
    let bytes = organization_id.as_bytes();
    let mut key = 0u32;
    for chunk in bytes.chunks(4) {
        key ^= u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    i32::from_le_bytes(key.to_le_bytes())
}

/// Commits `txn`, whose changes `record` wrote for `organization_id`, and tells this process's
/// subscribers.
pub async fn commit(
    db: &Db,
    txn: DatabaseTransaction,
    organization_id: Uuid,
) -> Result<(), DomainError> {
    txn.commit().await?;
    // This process's subscribers; other processes hear it through [`CHANNEL`].
    db.signals().committed(organization_id);
    Ok(())
}

/// Records `changes` made by `actor` in its organization, and commits `txn`.
pub async fn commit_by(
    db: &Db,
    txn: DatabaseTransaction,
    actor: &Actor,
    changes: Vec<Change>,
) -> Result<(), DomainError> {
    record(&txn, Author::Actor(actor), actor.organization_id, changes).await?;
    commit(db, txn, actor.organization_id).await
}

/// Whether `actor` may see `event` (the same rule as the audit log's query).
pub fn visible(actor: &Actor, event: &event::Model) -> bool {
    event.organization_id == actor.organization_id
        && readable_by(actor, event.r#type)
        && actor
            .fixed_mode()
            .is_none_or(|mode| event.mode == Some(mode))
}

/// Which event types a reader may see: API keys see the changes of what they can read
/// themselves (endpoints and phone numbers); memberships and keys are the business of an
/// organization's owners and admins.
fn readable_by(actor: &Actor, ty: EventType) -> bool {
    match actor.credential {
        Credential::User { .. } => true,
        Credential::ApiKey { .. } => matches!(
            ty,
            EventType::EndpointCreated
                | EventType::EndpointUpdated
                | EventType::EndpointDeleted
                | EventType::PhoneNumberCreated
                | EventType::PhoneNumberAttached
                | EventType::PhoneNumberDetached
                | EventType::PhoneNumberDeleted
        ),
    }
}

/// Which events of the audit log a reader asks for.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub types: Option<Vec<EventType>>,
    pub object_id: Option<Uuid>,
    /// A user id or an API key's id.
    pub actor: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub mode: Option<Mode>,
}

/// A page of the audit log, newest first, each event with its cursor.
#[derive(Debug, Clone)]
pub struct EventPage {
    pub items: Vec<(String, event::Model)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

/// Who may read the audit log: owners and admins signed in, and API keys (their own mode,
/// endpoint and phone-number events).
pub fn ensure_can_read_log(actor: &Actor) -> Result<(), DomainError> {
    match (&actor.credential, actor.role) {
        (Credential::ApiKey { .. }, _) | (Credential::User { .. }, Role::Owner | Role::Admin) => {
            Ok(())
        }
        (Credential::User { .. }, _) => Err(DomainError::Forbidden(
            "only organization owners and admins can read the audit log".to_owned(),
        )),
    }
}

/// The condition every read of events is under: the actor's organization, the modes it may
/// see (a change of the whole organization has no mode: only sessions that read both modes
/// see it), and the types it may read.
fn visible_to(actor: &Actor, mode: Option<Mode>) -> Option<Condition> {
    let mut cond = Condition::all().add(Column::OrganizationId.eq(actor.organization_id));
    cond = match actor.read_scope(mode) {
        ModeScope::Nothing => return None,
        ModeScope::Only(mode) => cond.add(Column::Mode.eq(mode)),
        ModeScope::Both => cond,
    };
    if matches!(actor.credential, Credential::ApiKey { .. }) {
        let readable: Vec<EventType> = <EventType as sea_orm::Iterable>::iter()
            .filter(|ty| readable_by(actor, *ty))
            .collect();
        cond = cond.add(Column::Type.is_in(readable));
    }
    Some(cond)
}

/// One page of the actor's organization's events, newest first.
pub async fn list(
    db: &Db,
    cursors: &Cursors,
    actor: &Actor,
    filter: &EventFilter,
    first: Option<i64>,
    max_first: u64,
    after: Option<&str>,
) -> Result<EventPage, DomainError> {
    ensure_can_read_log(actor)?;
    let first = super::page_size(first, max_first)?;
    let after = after
        .map(|after| cursors.decode(actor.organization_id, after, "`after`"))
        .transpose()?;
    if let Some(actor_id) = &filter.actor
        && (actor_id.is_empty() || actor_id.len() > 255 || super::has_control_chars(actor_id))
    {
        return Err(DomainError::BadInput(
            "`filter.actor` is a user id or an API key id: 1 to 255 characters, no control characters"
                .to_owned(),
        ));
    }
    let Some(mut cond) = visible_to(actor, filter.mode) else {
        return Ok(EventPage {
            items: Vec::new(),
            has_next_page: false,
            has_previous_page: after.is_some(),
        });
    };
    if let Some(types) = &filter.types {
        cond = cond.add(Column::Type.is_in(types.iter().copied()));
    }
    if let Some(object_id) = filter.object_id {
        cond = cond.add(Column::ObjectId.eq(object_id));
    }
    if let Some(actor_id) = &filter.actor {
        cond = cond.add(Column::ActorId.eq(actor_id.as_str()));
    }
    if let Some(since) = filter.since {
        cond = cond.add(Column::OccurredAt.gte(since));
    }
    if let Some(until) = filter.until {
        cond = cond.add(Column::OccurredAt.lt(until));
    }
    if let Some(seq) = after {
        cond = cond.add(Column::Seq.lt(seq));
    }
    let mut items = event::Entity::find()
        .filter(cond)
        .order_by_desc(Column::Seq)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next_page = items.len() as u64 > first;
    items.truncate(first as usize);
    Ok(EventPage {
        items: items
            .into_iter()
            .map(|event| (cursors.encode(event.organization_id, event.seq), event))
            .collect(),
        has_next_page,
        has_previous_page: after.is_some(),
    })
}

/// Which reader an event found by its id is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The audit log's (`Event`): owners' and admins' sessions, API keys.
    Log,
    /// A subscription's (`EndpointEvent`, `PhoneNumberEvent`): anyone who may read the objects
    /// of these types.
    Subscriber(&'static [EventType]),
}

/// The event with id `id`, as `reader` may see it: of the actor's organization and a mode and
/// type it reads; another organization's, mode's or type's is not found, as a missing one.
pub async fn get(
    db: &Db,
    actor: &Actor,
    id: Uuid,
    reader: Reader,
) -> Result<event::Model, DomainError> {
    let types = match reader {
        Reader::Log => {
            ensure_can_read_log(actor)?;
            None
        }
        Reader::Subscriber(types) => Some(types),
    };
    let found = event::Entity::find()
        .filter(Column::Id.eq(id))
        .filter(Column::OrganizationId.eq(actor.organization_id))
        .one(db)
        .await?;
    found
        .filter(|event| visible(actor, event))
        .filter(|event| types.is_none_or(|types| types.contains(&event.r#type)))
        .ok_or(DomainError::NotFound("event"))
}

/// Events of the actor's organization after `after`, oldest first, at most `limit`: what a
/// subscriber missed. The same visibility as the audit log, for any role (a subscriber sees
/// only changes of what it can read).
pub async fn since(
    db: &Db,
    actor: &Actor,
    types: &[EventType],
    after: i64,
    limit: u64,
) -> Result<Vec<event::Model>, DomainError> {
    let Some(cond) = visible_to(actor, None) else {
        return Ok(Vec::new());
    };
    Ok(event::Entity::find()
        .filter(cond)
        .filter(Column::Type.is_in(types.iter().copied()))
        .filter(Column::Seq.gt(after))
        .order_by_asc(Column::Seq)
        .limit(limit)
        .all(db)
        .await?)
}

/// The last event the organization has committed (0 when none): where a subscription that
/// asks for nothing missed starts.
pub async fn last_seq(db: &Db, organization_id: Uuid) -> Result<i64, DomainError> {
    let last = event::Entity::find()
        .select_only()
        .column_as(Column::Seq.max(), "seq")
        .filter(Column::OrganizationId.eq(organization_id))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?;
    Ok(last.flatten().unwrap_or(0))
}

/// Deletes events older than `cutoff`, `batch` at a time (each batch its own short statement,
/// so retention never holds a long lock); how many it deleted.
pub async fn purge_older_than(
    db: &Db,
    cutoff: DateTime<Utc>,
    batch: u64,
) -> Result<u64, DomainError> {
    let mut deleted = 0;
    loop {
        let seqs: Vec<i64> = event::Entity::find()
            .select_only()
            .column(Column::Seq)
            .filter(Column::OccurredAt.lt(cutoff))
            .order_by_asc(Column::Seq)
            .limit(batch)
            .into_tuple()
            .all(db)
            .await?;
        if seqs.is_empty() {
            return Ok(deleted);
        }
        let done = event::Entity::delete_many()
            .filter(Column::Seq.is_in(seqs.iter().copied()))
            .exec(db)
            .await?;
        deleted += done.rows_affected;
        if (seqs.len() as u64) < batch {
            return Ok(deleted);
        }
    }
}
