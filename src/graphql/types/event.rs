//! Events: every change, as the audit log (`events`) and subscriptions give it.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use uuid::Uuid;

use super::{Mode, Timestamp, connection};
use crate::domain::events;
use crate::graphql::Services;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::EventType")]
/// What a change did (stored and shown in REST as `endpoint.created`, …).
pub enum EventType {
    EndpointCreated,
    EndpointUpdated,
    EndpointDeleted,
    PhoneNumberCreated,
    /// A number was routed to an endpoint (`endpointId` before and after).
    PhoneNumberAttached,
    /// A number stopped routing to an endpoint (detached, or its endpoint deleted).
    PhoneNumberDetached,
    PhoneNumberDeleted,
    ApiKeyCreated,
    ApiKeyRevoked,
    MemberCreated,
    /// A member's role changed.
    MemberUpdated,
    MemberDeleted,
    OrganizationCreated,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::ActorKind")]
/// Who made a change.
pub enum ActorKind {
    /// A dashboard session (`userId`).
    User,
    /// An API key (`apiKeyId`, `apiKeyPrefix`).
    ApiKey,
    /// The gateway's own CLI.
    System,
}

/// Who made a change. Never the key itself.
#[derive(SimpleObject)]
pub struct EventActor {
    pub kind: ActorKind,
    /// The user's id (JWT `sub`), for a session.
    pub user_id: Option<String>,
    /// The API key's id, for a key.
    pub api_key_id: Option<ID>,
    /// The API key's display prefix (`kros_test_AbCd`), for a key.
    pub api_key_prefix: Option<String>,
}

/// One change: what it was, to which object, by whom, and the object's fields before and
/// after it (for an update only those that changed; secrets only as `"[redacted]"`).
pub struct Event(pub events::Event);

#[Object]
impl Event {
    /// The event's id, as every object's: a UUID that says it names an event.
    pub async fn id(&self) -> ID {
        crate::graphql::global_id::of(self.0.id)
    }
    /// The event's place in its organization's events (an opaque token): pass it as `after`
    /// to `events` or to a subscription to continue after it.
    async fn cursor(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(ctx.data::<Services>()?.cursors.of(&self.0))
    }
    async fn r#type(&self) -> EventType {
        self.0.r#type.into()
    }
    /// The id of the object that changed (an endpoint's, a phone number's, …).
    async fn object_id(&self) -> ID {
        crate::graphql::global_id::of(self.0.object_id)
    }
    /// The mode of the object; null for a change of the whole organization (a member).
    async fn mode(&self) -> Option<Mode> {
        self.0.mode.map(Into::into)
    }
    async fn actor(&self) -> EventActor {
        let kind: ActorKind = self.0.actor_kind.into();
        let id = self.0.actor_id.clone();
        EventActor {
            kind,
            user_id: id.clone().filter(|_| kind == ActorKind::User),
            api_key_id: id.filter(|_| kind == ActorKind::ApiKey).map(ID),
            api_key_prefix: self.0.actor_key_prefix.clone(),
        }
    }
    /// The `x-request-id` of the request that made the change (null for the CLI).
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    async fn occurred_at(&self) -> Timestamp {
        self.0.occurred_at.into()
    }
    /// The object's fields before the change, by their REST names (null for a creation).
    async fn before(&self) -> Option<Json<serde_json::Value>> {
        self.0.before.clone().map(Json)
    }
    /// The object's fields after the change (null for a deletion).
    async fn after(&self) -> Option<Json<serde_json::Value>> {
        self.0.after.clone().map(Json)
    }
}

/// Which events `events` lists.
#[derive(InputObject, Default)]
pub struct EventFilter {
    /// Only events of these types.
    pub types: Option<Vec<EventType>>,
    /// Only changes of this object.
    pub object_id: Option<Uuid>,
    /// Only changes made by this user id or API key id.
    pub actor: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events before this time.
    pub until: Option<Timestamp>,
    /// Only events of this mode (a session sees both unless it asks; an API key sees its own).
    pub mode: Option<Mode>,
}

impl From<EventFilter> for events::EventFilter {
    fn from(f: EventFilter) -> Self {
        Self {
            types: f
                .types
                .map(|types| types.into_iter().map(Into::into).collect()),
            object_id: f.object_id,
            actor: f.actor,
            since: f.since.map(Into::into),
            until: f.until.map(Into::into),
            mode: f.mode.map(Into::into),
        }
    }
}

impl From<events::Event> for Event {
    fn from(event: events::Event) -> Self {
        Self(event)
    }
}

connection!(
    EventConnection, EventEdge,
    node: Event from events::Event,
    cursor: "The event's `cursor`: pass it as `after` to continue after it.",
    nodes: "The events of `edges`, without cursors.",
);
