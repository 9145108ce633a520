//! Organizations, the unit of tenancy.

use chrono::{DateTime, Utc};
use entity::organization;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use uuid::Uuid;

use entity::enums::EventType;

use super::{Actor, DomainError, events};
use crate::db::Db;

/// An organization, as the domain hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<organization::Model> for Organization {
    fn from(m: organization::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            created_at: m.created_at,
        }
    }
}

/// The actor's organization when `id` names it; any other is "not found".
pub async fn get(db: &Db, actor: &Actor, id: Uuid) -> Result<Organization, DomainError> {
    if id != actor.organization_id {
        return Err(DomainError::NotFound("organization"));
    }
    system::get(db, id).await
}

/// Paths without an actor, for any organization: the command line's, and the domain's own
/// look-ups.
pub mod system {
    use super::*;

    /// Creates an organization (the CLI's `org create`).
    pub async fn create(db: &Db, name: &str) -> Result<Organization, DomainError> {
        let name = crate::domain::text::check_name(name, 200).map_err(|(_, message)| {
            DomainError::BadInput(message.replace("{field}", "the name"))
        })?;
        let model = organization::ActiveModel {
            id: Set(crate::domain::ids::new_id(
                crate::domain::ids::Kind::Organization,
            )),
            name: Set(name),
            created_at: Set(entity::now()),
        };
        let txn = crate::db::begin_write(db).await?;
        let created = model.insert(&txn).await?;
        let change = events::Change::new(
            EventType::OrganizationCreated,
            created.id,
            None,
            None,
            Some(serde_json::json!({ "name": created.name })),
        );
        events::record(&txn, events::Author::System, created.id, vec![change]).await?;
        events::commit(db, txn, created.id).await?;
        Ok(created.into())
    }

    /// The organization `id`, whoever asks.
    pub async fn get(db: &Db, id: Uuid) -> Result<Organization, DomainError> {
        organization::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(Organization::from)
            .ok_or(DomainError::NotFound("organization"))
    }
}
