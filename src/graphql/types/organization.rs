//! Organizations, memberships, roles and API keys.

use super::*;
use crate::domain::{api_keys, members, organizations};

/// An organization: the unit of tenancy.
#[derive(SimpleObject)]
pub struct Organization {
    /// The organization's id (its UUID, which says it names an organization).
    #[graphql(owned)]
    pub id: ID,
    /// The same UUID as `id`, typed as the arguments and `x-organization-id` take it.
    pub uuid: Uuid,
    pub name: String,
    pub created_at: Timestamp,
}

impl From<organizations::Organization> for Organization {
    fn from(m: organizations::Organization) -> Self {
        Self {
            id: global_id::of(m.id),
            uuid: m.id,
            name: m.name,
            created_at: m.created_at.into(),
        }
    }
}

/// A user's membership of the organization, and their role in it.
#[derive(SimpleObject)]
pub struct OrganizationMember {
    /// The membership's id (its UUID, which says it names a member).
    #[graphql(owned)]
    pub id: ID,
    /// The membership's UUID.
    pub uuid: Uuid,
    /// The user's id (the JWT `sub`).
    pub user_id: String,
    pub role: Role,
    pub joined_at: Timestamp,
}

impl From<members::Member> for OrganizationMember {
    fn from(m: members::Member) -> Self {
        Self {
            id: global_id::of(m.id),
            uuid: m.id,
            user_id: m.user_id,
            role: m.role.into(),
            joined_at: m.joined_at.into(),
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::Role")]
/// What a member may do: viewers read; members and up change endpoints; owners and admins
/// also manage API keys and members. API keys act as members.
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

/// An organization the caller belongs to, and the caller's role there.
#[derive(SimpleObject)]
pub struct OrganizationMembership {
    pub organization: Organization,
    pub role: Role,
}

/// An API key of the organization. The key itself is shown once, when it is created.
#[derive(SimpleObject)]
pub struct ApiKey {
    /// The key's id (its UUID, which says it names an API key).
    #[graphql(owned)]
    pub id: ID,
    /// The same UUID as `id`, typed as the arguments and the CLI take it.
    pub uuid: Uuid,
    pub name: String,
    /// A TEST key sees only test data, a LIVE key only live data.
    pub mode: Mode,
    /// The key's first characters (`kros_test_AbCd`), to recognise it by.
    pub display_prefix: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// When it was revoked; a revoked key is refused from the next request on.
    pub revoked_at: Option<Timestamp>,
}

impl From<api_keys::ApiKey> for ApiKey {
    fn from(m: api_keys::ApiKey) -> Self {
        Self {
            id: global_id::of(m.id),
            uuid: m.id,
            name: m.name,
            mode: m.mode.into(),
            display_prefix: m.display_prefix,
            created_at: m.created_at.into(),
            last_used_at: m.last_used_at.map(Into::into),
            revoked_at: m.revoked_at.map(Into::into),
        }
    }
}

/// What `totalCount` of `members` counts: the actor's organization's members.
pub struct MemberCount(pub Actor);

impl TotalCount for MemberCount {
    async fn total(&self, db: &crate::db::Db) -> Result<u64, crate::domain::DomainError> {
        members::count(db, &self.0).await
    }
}

connection!(
    OrganizationMemberConnection,
    #[doc = "A member in a list, with its cursor."]
    OrganizationMemberEdge,
    node: OrganizationMember from members::Member,
    cursor: "Opaque; pass it as `after` to continue after this member.",
    nodes: "The members of `edges`, without cursors.",
    total_count: MemberCount => "How many members the organization has.",
);
