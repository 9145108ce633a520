//! Identity: turns a credential (API key or Supabase JWT) and the requested organization into
//! the `Actor` every domain call is scoped by. Shared by every transport.

mod cache;
pub mod jwks;
pub mod jwt;

pub use cache::CREDENTIAL_TTL;

use uuid::Uuid;

use crate::db::Db;
use crate::domain::{Actor, Credential, DomainError, api_keys, members};
use jwt::{JwtError, JwtSettings, JwtVerifier};

#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    /// 401: no usable credential.
    Unauthenticated(String),
    /// 403: a valid credential that may not act in the requested organization.
    Forbidden(String),
    /// 503: the database could not be reached to check the credential.
    DatabaseUnavailable,
    /// 503: the JWKS could not be fetched to verify the token; it may be tried again after
    /// this long.
    KeysUnavailable(std::time::Duration),
    /// 500: checking the credential failed in the gateway or its database.
    Internal,
}

impl From<DomainError> for AuthError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Unauthenticated(m) => Self::Unauthenticated(m),
            DomainError::Forbidden(m) => Self::Forbidden(m),
            other => {
                let unavailable = other.is_unavailable();
                tracing::error!(error = %other.log_description(), "authentication failed");
                if unavailable {
                    Self::DatabaseUnavailable
                } else {
                    Self::Internal
                }
            }
        }
    }
}

pub struct Authenticator {
    db: Db,
    jwt: Option<JwtVerifier>,
    keys: cache::KeyCache,
}

impl Authenticator {
    /// Keys are remembered while `hearing` (PostgreSQL's notices) is recent; on SQLite, with
    /// no hearing, until `CREDENTIAL_TTL`.
    pub fn new(
        db: Db,
        jwt: &JwtSettings,
        hearing: Option<std::sync::Arc<crate::notices::Hearing>>,
    ) -> Self {
        Self {
            keys: cache::KeyCache::new(hearing, std::sync::Arc::clone(db.signals())),
            db,
            jwt: jwt.is_enabled().then(|| JwtVerifier::new(jwt)),
        }
    }

    /// Whether the JWKS answered its last fetch, when session tokens are verified with one.
    pub fn jwks_up(&self) -> Option<bool> {
        self.jwt.as_ref().and_then(JwtVerifier::jwks_up)
    }

    /// The actor of an API key: remembered, or verified by the database and remembered.
    async fn api_key_actor(&self, key: &str) -> Result<Actor, AuthError> {
        let hash = api_keys::hash_key(key);
        if let Some(actor) = self.keys.get(&hash) {
            return Ok(actor);
        }
        let count = self.keys.count();
        let actor = api_keys::authenticate(&self.db, key, &hash).await?;
        self.keys.insert(hash, count, actor.clone());
        Ok(actor)
    }

    /// The actor for a bearer credential, in `organization` when the caller named one.
    pub async fn authenticate(
        &self,
        credential: &str,
        organization: Option<Uuid>,
    ) -> Result<Actor, AuthError> {
        if api_keys::looks_like_api_key(credential) {
            let actor = self.api_key_actor(credential).await?;
            if organization.is_some_and(|org| org != actor.organization_id) {
                return Err(AuthError::Forbidden(
                    "This API key does not belong to the organization named by x-organization-id."
                        .to_owned(),
                ));
            }
            return Ok(actor);
        }
        let Some(jwt) = &self.jwt else {
            return Err(AuthError::Unauthenticated(
                "The credential is not an API key (kros_live_… or kros_test_…), and this gateway accepts no JWT sessions."
                    .to_owned(),
            ));
        };
        let session = jwt.verify(credential).await.map_err(|e| match e {
            JwtError::Rejected(message) => AuthError::Unauthenticated(message),
            JwtError::Unavailable(retry_after) => {
                tracing::warn!(
                    "session token not verified: the JWKS could not be fetched and no key fetched before verifies it"
                );
                AuthError::KeysUnavailable(retry_after)
            }
        })?;
        self.user_actor(session, organization).await
    }

    async fn user_actor(
        &self,
        session: jwt::Session,
        organization: Option<Uuid>,
    ) -> Result<Actor, AuthError> {
        let user_id = session.user_id;
        let memberships = members::of_user(&self.db, &user_id).await?;
        let membership = match organization {
            Some(org) => memberships
                .into_iter()
                .find(|m| m.organization.id == org)
                .ok_or_else(|| {
                    AuthError::Forbidden(
                        "You are not a member of the organization named by x-organization-id.".to_owned(),
                    )
                })?,
            None => memberships.into_iter().next().ok_or_else(|| {
                AuthError::Forbidden(
                    "You are not a member of any organization yet; ask an organization owner to add you."
                        .to_owned(),
                )
            })?,
        };
        Ok(Actor {
            organization_id: membership.organization.id,
            role: membership.role,
            credential: Credential::User { user_id },
            request_id: None,
            expires_at: session.expires_at,
        })
    }
}
