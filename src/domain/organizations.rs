//! Organizations, the unit of tenancy.

use entity::organization;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, EntityTrait};
use uuid::Uuid;

use super::DomainError;
use super::has_control_chars;

pub async fn create(
    db: &DatabaseConnection,
    name: &str,
) -> Result<organization::Model, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || has_control_chars(name) {
        return Err(DomainError::BadInput(
            "an organization name is 1 to 200 printable characters".to_owned(),
        ));
    }
    let model = organization::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
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
