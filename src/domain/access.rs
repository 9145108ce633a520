//! Who is acting: the organization, role and credential every domain call is scoped by.

use entity::enums::{Mode, Role};
use uuid::Uuid;

use super::DomainError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key acts in its own organization and mode only.
    ApiKey {
        key_id: Uuid,
        mode: Mode,
        /// The key's display prefix (`kros_test_ab12`), which events name it by.
        prefix: String,
    },
    /// A dashboard user (JWT `sub`) sees both modes.
    User { user_id: String },
}

/// Which modes a read covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeScope {
    Both,
    Only(Mode),
    /// The caller asked for a mode its credential can't see: the read is empty.
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub organization_id: Uuid,
    pub role: Role,
    pub credential: Credential,
    /// The `x-request-id` of the request acting, recorded with the changes it makes.
    pub request_id: Option<String>,
    /// When the credential stops being valid (a session token's `exp`); a subscription made
    /// with it ends then.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Actor {
    /// The one mode this actor may touch, or `None` when it may see both.
    pub fn fixed_mode(&self) -> Option<Mode> {
        match self.credential {
            Credential::ApiKey { mode, .. } => Some(mode),
            Credential::User { .. } => None,
        }
    }

    /// The modes a read may cover: the credential's own, narrowed by what the caller asked for.
    pub fn read_scope(&self, requested: Option<Mode>) -> ModeScope {
        match (self.fixed_mode(), requested) {
            (Some(fixed), Some(asked)) if fixed != asked => ModeScope::Nothing,
            (Some(mode), _) | (None, Some(mode)) => ModeScope::Only(mode),
            (None, None) => ModeScope::Both,
        }
    }

    /// API keys and members are managed by a signed-in owner or admin; an API key never
    /// manages keys, whatever it may otherwise do.
    pub fn ensure_can_manage_organization(&self) -> Result<(), DomainError> {
        match (&self.credential, self.role) {
            (Credential::ApiKey { .. }, _) => Err(DomainError::Forbidden(
                "API keys can't manage API keys or members; sign in as an organization owner or admin".to_owned(),
            )),
            (Credential::User { .. }, Role::Owner | Role::Admin) => Ok(()),
            (Credential::User { .. }, _) => Err(DomainError::Forbidden(
                "only organization owners and admins can manage API keys and members".to_owned(),
            )),
        }
    }

    pub fn ensure_can_write(&self) -> Result<(), DomainError> {
        match self.role {
            Role::Owner | Role::Admin | Role::Member => Ok(()),
            Role::Viewer => Err(DomainError::Forbidden(
                "viewers can read endpoints and phone numbers but not change them".to_owned(),
            )),
        }
    }
}
