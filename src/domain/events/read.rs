//! Reading events back: the audit log's pages, one event by id, what a subscriber missed.

use chrono::{DateTime, Utc};
use entity::enums::{EventType, Mode};
use entity::event::{self, Column};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{Cursors, Event, readable_by, visible};
use crate::db::Db;
use crate::domain::access::ModeScope;
use crate::domain::page::Page;
use crate::domain::{Actor, Credential, DomainError, Role};

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

/// A page of the audit log, newest first, each event with its cursor (a [`Cursors`] token,
/// not the keyset format of the other lists: it must hide the events' numbering).
pub type EventPage = Page<Event>;

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
/// see it), the types it may read, and only events already numbered.
fn visible_to(actor: &Actor, mode: Option<Mode>) -> Option<Condition> {
    let mut cond = Condition::all()
        .add(Column::OrganizationId.eq(actor.organization_id))
        .add(numbered());
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

/// Events that have their place in the order: on PostgreSQL an event's `seq` is negative
/// until the sequencer numbers it, after its write has committed (`sequencer`).
pub(super) fn numbered() -> sea_orm::sea_query::SimpleExpr {
    Column::Seq.gt(0)
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
    let first = crate::domain::page_size(first, max_first)?;
    let after = after
        .map(|after| cursors.decode(actor.organization_id, after, "`after`"))
        .transpose()?;
    if let Some(actor_id) = &filter.actor
        && (actor_id.is_empty()
            || actor_id.len() > 255
            || crate::domain::has_control_chars(actor_id))
    {
        return Err(DomainError::BadInput(
            "`filter.actor` is a user id or an API key id: 1 to 255 characters, no control characters"
                .to_owned(),
        ));
    }
    let Some(mut cond) = visible_to(actor, filter.mode) else {
        return Ok(EventPage::empty(after.is_some()));
    };
    if let Some(types) = &filter.types {
        cond = cond.add(Column::Type.is_in(crate::domain::distinct(types)));
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
    let rows = event::Entity::find()
        .filter(cond)
        .order_by_desc(Column::Seq)
        .limit(first + 1)
        .all(db)
        .await?;
    let cursors = cursors.clone();
    Page::of_rows(
        rows,
        first,
        after.is_some(),
        |event| Ok(Event::from(event)),
        move |event| cursors.of(event),
    )
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
pub async fn get(db: &Db, actor: &Actor, id: Uuid, reader: Reader) -> Result<Event, DomainError> {
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
        .filter(numbered())
        .one(db)
        .await?;
    found
        .map(Event::from)
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
) -> Result<Vec<Event>, DomainError> {
    let Some(cond) = visible_to(actor, None) else {
        return Ok(Vec::new());
    };
    let rows = event::Entity::find()
        .filter(cond)
        .filter(Column::Type.is_in(crate::domain::distinct(types)))
        .filter(Column::Seq.gt(after))
        .order_by_asc(Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(Event::from).collect())
}

/// The last event the organization has committed (0 when none): where a subscription that
/// asks for nothing missed starts.
pub async fn last_seq(db: &Db, organization_id: Uuid) -> Result<i64, DomainError> {
    let last = event::Entity::find()
        .select_only()
        .column_as(Column::Seq.max(), "seq")
        .filter(Column::OrganizationId.eq(organization_id))
        .filter(numbered())
        .into_tuple::<Option<i64>>()
        .one(db)
        .await?;
    Ok(last.flatten().unwrap_or(0))
}
