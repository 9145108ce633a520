//! `viewer`: who is calling, in which organization, role and mode.

use async_graphql::{Context, Object};
use uuid::Uuid;

use crate::domain::{Actor, Credential, members, organizations};
use crate::graphql::Services;
use crate::graphql::error::{IntoGql, actor};
use crate::graphql::types::{CredentialKind, Mode, Organization, OrganizationMembership, Role};

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The caller: its organization, credential, role and mode.
    async fn viewer(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        Ok(Viewer(actor(ctx)?.clone()))
    }
}

pub struct Viewer(Actor);

#[Object]
impl Viewer {
    /// The organization every read and write of this request is scoped to.
    async fn organization_id(&self) -> Uuid {
        self.0.organization_id
    }
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        let services = ctx.data::<Services>()?;
        organizations::get(&services.db, &self.0, self.0.organization_id)
            .await
            .gql()
            .map(Into::into)
    }
    async fn credential_kind(&self) -> CredentialKind {
        match self.0.credential {
            Credential::ApiKey { .. } => CredentialKind::ApiKey,
            Credential::User { .. } => CredentialKind::User,
        }
    }
    /// The caller's role in the organization; API keys act as MEMBER.
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// The only mode this credential sees; null for a dashboard session, which sees both.
    async fn mode(&self) -> Option<Mode> {
        self.0.fixed_mode().map(Into::into)
    }
    /// The signed-in user's id (the JWT `sub`); null for an API key.
    async fn user_id(&self) -> Option<&str> {
        match &self.0.credential {
            Credential::User { user_id } => Some(user_id),
            Credential::ApiKey { .. } => None,
        }
    }
    /// The API key's id, when the credential is an API key.
    async fn api_key_id(&self) -> Option<Uuid> {
        match self.0.credential {
            Credential::ApiKey { key_id, .. } => Some(key_id),
            Credential::User { .. } => None,
        }
    }
    /// Every organization the caller may act in (send its id as `x-organization-id`), the
    /// one joined first first. An API key belongs to its own organization only.
    async fn organizations(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<OrganizationMembership>> {
        let services = ctx.data::<Services>()?;
        match &self.0.credential {
            Credential::User { user_id } => Ok(members::of_user(&services.db, user_id)
                .await
                .gql()?
                .into_iter()
                .map(|m| OrganizationMembership {
                    organization: m.organization.into(),
                    role: m.role.into(),
                })
                .collect()),
            Credential::ApiKey { .. } => {
                let org = organizations::get(&services.db, &self.0, self.0.organization_id)
                    .await
                    .gql()?;
                Ok(vec![OrganizationMembership {
                    organization: org.into(),
                    role: self.0.role.into(),
                }])
            }
        }
    }
}
