//! Organizations, the unit of tenancy.

use entity::organization;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait};
use uuid::Uuid;

use super::DomainError;

pub async fn create(
    db: &DatabaseConnection,
    name: &str,
) -> Result<organization::Model, DomainError> {
    let name = super::text::check_name(name, 200)
        .map_err(|(_, message)| DomainError::BadInput(message.replace("{field}", "the name")))?;
    let model = organization::ActiveModel {
        id: Set(super::ids::new_id(super::ids::Kind::Organization)),
        name: Set(name),
        created_at: Set(entity::now()),
    };
    Ok(model.insert(db).await?)
}

pub async fn get(db: &DatabaseConnection, id: Uuid) -> Result<organization::Model, DomainError> {
    organization::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("organization"))
}
