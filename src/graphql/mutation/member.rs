//! Membership writes, for owners' and admins' sessions: add a member, change a role, remove a
//! member. Only owners make, unmake or remove owners; nobody changes their own role; an
//! organization always keeps an owner.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use uuid::Uuid;

use super::payload;
use crate::domain::members;
use crate::graphql::Services;
use crate::graphql::error::actor;
use crate::graphql::types::{OrganizationMember, OrganizationMemberEdge, Role, UserError};

#[derive(Default)]
pub struct MemberMutation;

#[derive(InputObject)]
pub struct AddMemberInput {
    /// The user's id: the `sub` of their dashboard session's JWT.
    pub user_id: String,
    pub role: Role,
}

#[derive(InputObject)]
pub struct UpdateMemberRoleInput {
    pub member_id: Uuid,
    pub role: Role,
}

#[derive(InputObject)]
pub struct RemoveMemberInput {
    pub member_id: Uuid,
}

#[derive(SimpleObject)]
pub struct AddMemberPayload {
    /// The new member; null when `userErrors` is not empty.
    pub member: Option<OrganizationMember>,
    /// The new member as an edge of `members` (the last one), for a client's cached list.
    pub member_edge: Option<OrganizationMemberEdge>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct UpdateMemberRolePayload {
    /// The member with their new role; null when `userErrors` is not empty.
    pub member: Option<OrganizationMember>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct RemoveMemberPayload {
    /// The removed member's id, for a client cache to drop it; null when `userErrors` is
    /// not empty.
    pub removed_member_id: Option<ID>,
    pub user_errors: Vec<UserError>,
}

#[Object]
impl MemberMutation {
    /// Adds a user to the organization (owners and admins; only owners add owners).
    async fn add_member(
        &self,
        ctx: &Context<'_>,
        input: AddMemberInput,
    ) -> async_graphql::Result<Option<AddMemberPayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let added = members::create(&services.db, actor, &input.user_id, input.role.into()).await;
        Ok(payload(ctx, added, |member, user_errors| {
            AddMemberPayload {
                member_edge: member.as_ref().map(|m| OrganizationMemberEdge {
                    cursor: members::cursor_of(m),
                    node: m.clone(),
                }),
                member: member.map(Into::into),
                user_errors,
            }
        }))
    }

    /// Changes a member's role (owners and admins; only owners make or unmake owners; not
    /// your own; the last owner stays one).
    async fn update_member_role(
        &self,
        ctx: &Context<'_>,
        input: UpdateMemberRoleInput,
    ) -> async_graphql::Result<Option<UpdateMemberRolePayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let updated =
            members::update(&services.db, actor, input.member_id, input.role.into()).await;
        Ok(payload(ctx, updated, |member, user_errors| {
            UpdateMemberRolePayload {
                member: member.map(Into::into),
                user_errors,
            }
        }))
    }

    /// Removes a member (owners and admins; only owners remove owners; the last owner
    /// stays). Their sessions lose the organization from their next request.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        input: RemoveMemberInput,
    ) -> async_graphql::Result<Option<RemoveMemberPayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let removed = members::remove(&services.db, actor, input.member_id).await;
        Ok(payload(ctx, removed, |id, user_errors| {
            RemoveMemberPayload {
                removed_member_id: id.map(crate::graphql::global_id::of),
                user_errors,
            }
        }))
    }
}
