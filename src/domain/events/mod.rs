//! Events: every change the gateway makes, recorded in the transaction that makes it (no
//! change without its event, no event without its change), and read back by the audit log
//! and by subscriptions.
//!
//! An organization's events are numbered (`seq`) in the order they commit, so a reader that
//! has seen `seq` N of an organization will never see a smaller one commit later, and "every
//! event after N" misses nothing: on PostgreSQL the sequencer numbers events once their writes
//! have committed (`sequencer`); on SQLite every write transaction holds the database's one
//! write lock, and events are numbered as they are inserted.
//!
//! On PostgreSQL the writes of one organization run side by side; only those that must run
//! alone wait for the others (`Writes`).

use chrono::{DateTime, Utc};
use entity::enums::{ActorKind, EventType, Mode};
use entity::event;
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Expr, Query, SubQueryStatement, WithClause, WithQuery,
};
use sea_orm::{
    ActiveModelTrait as _, ActiveValue, ActiveValue::Set, ConnectionTrait, DatabaseTransaction,
    DbBackend, EntityTrait, QueryResult, Statement,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Actor, Credential, DomainError};
use crate::db::Db;
use tracing::Instrument as _;

mod cursor;
pub mod live;
mod read;
mod retention;
mod sequencer;
mod snapshot;

pub use cursor::Cursors;
pub use live::Hub;
pub use read::{EventFilter, EventPage, Reader, ensure_can_read_log, get, last_seq, list, since};
pub use retention::{Expiry, purge_older_than};
pub use sequencer::{numbering, published, start as start_numbering};
pub use snapshot::{api_key_change, endpoint_change, member_change, phone_number_change};

/// The types of an endpoint's events.
pub const ENDPOINT_TYPES: [EventType; 3] = [
    EventType::EndpointCreated,
    EventType::EndpointUpdated,
    EventType::EndpointDeleted,
];

/// The types of a phone number's events.
pub const PHONE_NUMBER_TYPES: [EventType; 4] = [
    EventType::PhoneNumberCreated,
    EventType::PhoneNumberAttached,
    EventType::PhoneNumberDetached,
    EventType::PhoneNumberDeleted,
];

/// The PostgreSQL channel an organization's newly numbered events are announced on (the payload
/// is the organization's id), so that subscribers in every gateway process look for them.
pub const CHANNEL: &str = "cockpit_events";

/// A recorded change, as the domain hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: Uuid,
    /// The event's place in its organization's events. Clients only ever see it as a
    /// [`Cursors`] token, which hides the numbering.
    pub seq: i64,
    pub organization_id: Uuid,
    /// `None` for a change of the whole organization (a member).
    pub mode: Option<Mode>,
    pub r#type: EventType,
    pub object_id: Uuid,
    pub actor_kind: ActorKind,
    /// The user's id or the API key's id; `None` for the CLI.
    pub actor_id: Option<String>,
    pub actor_key_prefix: Option<String>,
    pub request_id: Option<String>,
    /// The `traceparent` of the write that recorded it (see `telemetry`).
    pub trace_parent: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// The object's fields before the change (only those that changed, for an update).
    pub before: Option<Value>,
    /// The object's fields after it.
    pub after: Option<Value>,
}

impl From<event::Model> for Event {
    fn from(m: event::Model) -> Self {
        Self {
            before: m.data.get("before").cloned(),
            after: m.data.get("after").cloned(),
            id: m.id,
            seq: m.seq,
            organization_id: m.organization_id,
            mode: m.mode,
            r#type: m.r#type,
            object_id: m.object_id,
            actor_kind: m.actor_kind,
            actor_id: m.actor_id,
            actor_key_prefix: m.actor_key_prefix,
            request_id: m.request_id,
            trace_parent: m.trace_parent,
            occurred_at: m.occurred_at,
        }
    }
}

impl Event {
    /// The span that delivers this event under `subscription`, linked to its write.
    pub fn delivery_span(&self, subscription: &tracing::Span) -> tracing::Span {
        let stored = sea_orm::ActiveEnum::to_value(&self.r#type);
        crate::telemetry::events::delivery_span(subscription, &stored, self.trace_parent.as_deref())
    }
}

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

/// How a write stands with the other writes of its organization (on PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// A write that locks one row (or only inserts) and waits for no lock once it holds one:
    /// it can't be part of a circle of transactions waiting for each other, so it takes no
    /// lock of the organization's.
    OneRow,
    /// A write of an endpoint and its phone numbers, which runs beside the organization's
    /// other such writes (its lock, shared). Each locks at most one endpoint and then phone
    /// numbers, never the other way round, and waits for no other lock once it holds a phone
    /// number's, so no two of them wait for each other in a circle.
    Beside,
    /// A write that runs alone in its organization (its lock, exclusive): members and API
    /// keys (whose rules read the organization's other rows: the last owner stays), and every
    /// write of a unit of work with more than one (`db::Unit::begin`), whose writes may lock
    /// rows in any order.
    Alone,
}

/// Begins a write of `organization_id`'s data; on PostgreSQL with the organization's lock
/// that `writes` takes (every write of a unit of work that runs alone takes it exclusive: its
/// first write takes it for the rest of the request).
pub async fn begin(
    db: &Db,
    organization_id: Uuid,
    writes: Writes,
) -> Result<DatabaseTransaction, DomainError> {
    let txn = crate::db::begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        let writes = if db.unit_alone() {
            Writes::Alone
        } else {
            writes
        };
        let sql = match writes {
            Writes::Alone => "SELECT pg_advisory_xact_lock($1, $2)",
            Writes::Beside => "SELECT pg_advisory_xact_lock_shared($1, $2)",
            Writes::OneRow => return Ok(txn),
        };
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [LOCK_CLASS.into(), lock_key(organization_id).into()],
        ))
        .await?;
    }
    Ok(txn)
}

/// Records `changes` of `organization_id` in `txn` (numbered, on PostgreSQL, once `txn`
/// commits). Commit `txn` with [`commit`], which tells subscribers.
pub async fn record(
    txn: &DatabaseTransaction,
    author: Author<'_>,
    organization_id: Uuid,
    changes: Vec<Change>,
) -> Result<(), DomainError> {
    if changes.is_empty() {
        return Ok(());
    }
    let (rows, span) = rows(author, organization_id, changes);
    event::Entity::insert_many(rows)
        .exec(txn)
        .instrument(span)
        .await?;
    Ok(())
}

/// Runs `write` — an `INSERT` or `UPDATE` of one row of `E` — and records `change` for the
/// row it writes (nothing when it writes none): the row, every column of `E` by name (never
/// `*`: a column added while the gateway runs would change a prepared statement's answer).
/// On PostgreSQL both are one statement (the event inserted from the written row), which on
/// the pool is a transaction of its own; elsewhere two, so `conn` is then a transaction.
pub async fn write_recording<E: EntityTrait, C: ConnectionTrait>(
    conn: &C,
    write: impl Into<SubQueryStatement>,
    author: Author<'_>,
    organization_id: Uuid,
    change: Change,
) -> Result<Option<QueryResult>, DomainError> {
    let columns: Vec<E::Column> = <E::Column as sea_orm::Iterable>::iter().collect();
    let returning = Query::returning().columns(columns.clone());
    let mut write = write.into();
    match &mut write {
        SubQueryStatement::InsertStatement(s) => {
            s.returning(returning);
        }
        SubQueryStatement::UpdateStatement(s) => {
            s.returning(returning);
        }
        _ => {
            return Err(DomainError::Corrupt(
                "a write is an INSERT or an UPDATE".to_owned(),
            ));
        }
    }
    let backend = conn.get_database_backend();
    let (mut rows, span) = rows(author, organization_id, vec![change]);
    let event = rows.pop().expect("one change, one row");
    if backend != DbBackend::Postgres {
        let written = match &write {
            SubQueryStatement::InsertStatement(s) => conn.query_one(s).await?,
            SubQueryStatement::UpdateStatement(s) => conn.query_one(s).await?,
            _ => None,
        };
        if written.is_some() {
            event::Entity::insert(event)
                .exec(conn)
                .instrument(span)
                .await?;
        }
        return Ok(written);
    }
    let written = Alias::new("written");
    let (mut event_columns, mut values) = (Vec::new(), Vec::new());
    for column in <event::Column as sea_orm::Iterable>::iter() {
        if let ActiveValue::Set(value) = event.get(column) {
            event_columns.push(column);
            values.push(Expr::val(value));
        }
    }
    let mut insert = Query::insert();
    insert
        .into_table(event::Entity)
        .columns(event_columns)
        .select_from(Query::select().exprs(values).from(written.clone()).take())
        .map_err(|_| DomainError::Corrupt("an event's columns and values differ".to_owned()))?;
    // Built in place: sea-query's chained builders clone the whole statement at each step.
    let mut with = WithClause::new();
    for (name, query) in [("written", write), ("recorded", insert.into())] {
        let mut cte = CommonTableExpression::new();
        cte.query(query).table_name(Alias::new(name));
        with.cte(cte);
    }
    let mut select = Query::select();
    select.columns(columns).from(written);
    let mut statement = WithQuery::new();
    statement.with_clause(with).query(select);
    Ok(conn.query_one(&statement).instrument(span).await?)
}

/// The rows `changes` are recorded as, and the span whose context they carry to whoever
/// delivers them.
fn rows(
    author: Author<'_>,
    organization_id: Uuid,
    changes: Vec<Change>,
) -> (Vec<event::ActiveModel>, tracing::Span) {
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
    let span = tracing::info_span!(target: crate::telemetry::TARGET, "record events");
    let trace_parent = crate::telemetry::traceparent_of(&span);
    let occurred_at = entity::now();
    let rows = changes
        .into_iter()
        .map(|change| {
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
                trace_parent: Set(trace_parent.clone()),
                occurred_at: Set(occurred_at),
                data: Set(Value::Object(data)),
            }
        })
        .collect();
    (rows, span)
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

/// Commits `txn`, whose changes `record` wrote for `organization_id`, and tells subscribers
/// once the events can be read ([`published`]). Within a unit of work, that is when the unit
/// commits.
pub async fn commit(
    db: &Db,
    txn: DatabaseTransaction,
    organization_id: Uuid,
) -> Result<(), DomainError> {
    txn.commit().await?;
    committed(db, organization_id).await;
    Ok(())
}

/// Tells subscribers of a write of `organization_id` through `db` that has committed: once
/// its events can be read ([`published`]) on the pool; within a unit of work, when the unit
/// commits.
pub async fn committed(db: &Db, organization_id: Uuid) {
    match db {
        Db::Pool(_) => published(db, organization_id).await,
        Db::Unit(_) => db.changed(),
    }
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
pub fn visible(actor: &Actor, event: &Event) -> bool {
    event.organization_id == actor.organization_id
        && readable_by(actor, event.r#type)
        && actor
            .fixed_mode()
            .is_none_or(|mode| event.mode == Some(mode))
}

/// Which event types a reader may see: API keys see the changes of what they can read
/// themselves (endpoints and phone numbers); memberships and keys are the business of an
/// organization's owners and admins.
pub(super) fn readable_by(actor: &Actor, ty: EventType) -> bool {
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
