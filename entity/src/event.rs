//! `events`: every change the gateway makes, in the order each organization's were committed.

use sea_orm::entity::prelude::*;

use crate::enums::{ActorKind, EventType, Mode};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    /// The event's own id (a typed UUID, as every object's), apart from its place in the order.
    #[sea_orm(unique)]
    pub id: Uuid,
    pub organization_id: Uuid,
    /// `None` for changes of the whole organization (members, the organization itself).
    pub mode: Option<Mode>,
    pub r#type: EventType,
    pub object_id: Uuid,
    pub actor_kind: ActorKind,
    /// The user id (JWT `sub`) or the API key's id; `None` for the CLI.
    pub actor_id: Option<String>,
    /// The API key's display prefix (`kros_test_ab12`), never the key.
    pub actor_key_prefix: Option<String>,
    pub request_id: Option<String>,
    /// The W3C `traceparent` of the write that recorded it, when traces are exported.
    pub trace_parent: Option<String>,
    pub occurred_at: DateTimeUtc,
    /// `{"before": …, "after": …}`: the object's fields (those that changed, for an update),
    /// secrets shown only as whether they are set.
    pub data: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
