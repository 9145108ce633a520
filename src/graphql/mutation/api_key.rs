//! API key management for owners and admins: create (the key is returned once) and revoke.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use uuid::Uuid;

use super::payload;
use crate::domain::api_keys;
use crate::graphql::Services;
use crate::graphql::error::actor;
use crate::graphql::types::{ApiKey, Mode, UserError};

#[derive(Default)]
pub struct ApiKeyMutation;

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// 1 to 100 characters, to tell keys apart.
    pub name: String,
    /// TEST keys see only test data; LIVE keys only live data.
    pub mode: Mode,
}

#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    pub id: Uuid,
}

#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    pub api_key: Option<ApiKey>,
    /// The whole key. Shown this once: only its SHA-256 is stored.
    pub plaintext_key: Option<String>,
    pub user_errors: Vec<UserError>,
}

#[derive(SimpleObject)]
pub struct RevokeApiKeyPayload {
    pub api_key: Option<ApiKey>,
    pub user_errors: Vec<UserError>,
}

#[Object]
impl ApiKeyMutation {
    /// Creates an API key (owners and admins). Store the returned key: it is not shown again.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<Option<CreateApiKeyPayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let created = api_keys::create(&services.db, actor, input.mode.into(), &input.name).await;
        Ok(payload(ctx, created, |created, user_errors| {
            let (api_key, plaintext_key) = match created {
                Some(c) => (Some(c.key.into()), Some(c.plaintext)),
                None => (None, None),
            };
            CreateApiKeyPayload {
                api_key,
                plaintext_key,
                user_errors,
            }
        }))
    }

    /// Revokes an API key (owners and admins); it is refused from the next request on by this
    /// gateway process, and by every other process sharing the database as soon as the
    /// database's notice reaches it (milliseconds). Revoking twice keeps the first time.
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        input: RevokeApiKeyInput,
    ) -> async_graphql::Result<Option<RevokeApiKeyPayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let revoked = api_keys::revoke(&services.db, actor, input.id).await;
        Ok(payload(ctx, revoked, |key, user_errors| {
            RevokeApiKeyPayload {
                api_key: key.map(Into::into),
                user_errors,
            }
        }))
    }
}
