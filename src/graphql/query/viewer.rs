//! `viewer`: who is calling, in which organization and mode.

use async_graphql::{Context, Object};
use uuid::Uuid;

use crate::domain::{Actor, Credential, organizations};
use crate::graphql::Services;
use crate::graphql::error::{IntoGql, actor};
use crate::graphql::types::{CredentialKind, Mode, Organization};

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The caller: its organization, credential kind and mode.
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
        organizations::get(&services.db, self.0.organization_id)
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
    /// The only mode this credential sees; null for a dashboard session, which sees both.
    async fn mode(&self) -> Option<Mode> {
        self.0.fixed_mode().map(Into::into)
    }
    /// The API key's id, when the credential is an API key.
    async fn api_key_id(&self) -> Option<Uuid> {
        match self.0.credential {
            Credential::ApiKey { key_id, .. } => Some(key_id),
            Credential::User { .. } => None,
        }
    }
}
