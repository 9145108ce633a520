//! `apiKeys`: the organization's API keys, for owners and admins.

use async_graphql::{Context, Object};

use crate::domain::api_keys;
use crate::graphql::Services;
use crate::graphql::error::{actor, null_on_error};
use crate::graphql::types::ApiKey;

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The organization's API keys, newest first, revoked ones included. Owners and admins
    /// only; for anyone else, null and a FORBIDDEN error. Never the key or its hash.
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Vec<ApiKey>>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let keys = api_keys::list(&services.db, actor).await;
        Ok(null_on_error(ctx, keys).map(|keys| keys.into_iter().map(ApiKey::from).collect()))
    }
}
