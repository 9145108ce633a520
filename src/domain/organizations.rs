//! Organizations, the unit of tenancy.

use entity::organization;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use uuid::Uuid;

use entity::enums::EventType;

use super::{DomainError, events};
use crate::db::Db;

pub async fn create(db: &Db, name: &str) -> Result<organization::Model, DomainError> {
    let name = super::text::check_name(name, 200)
        .map_err(|(_, message)| DomainError::BadInput(message.replace("{field}", "the name")))?;
    let model = organization::ActiveModel {
        id: Set(super::ids::new_id(super::ids::Kind::Organization)),
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
    Ok(created)
}

pub async fn get(db: &Db, id: Uuid) -> Result<organization::Model, DomainError> {
    organization::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("organization"))
}
