//! Organization memberships: which user (JWT `sub`) acts in which organization, with what role.

use entity::enums::Role;
use entity::{organization, organization_member};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{DomainError, has_control_chars};

/// A user's membership, with its organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub organization: organization::Model,
    pub role: Role,
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

pub fn validate_user_id(user_id: &str) -> Result<(), DomainError> {
    if user_id.trim().is_empty() || user_id.len() > 255 || has_control_chars(user_id) {
        return Err(DomainError::BadInput(
            "a user id is 1 to 255 printable characters (the JWT `sub`)".to_owned(),
        ));
    }
    Ok(())
}

/// Adds `user_id` to the organization, or changes their role if they are a member already.
pub async fn upsert(
    db: &DatabaseConnection,
    organization_id: Uuid,
    user_id: &str,
    role: Role,
) -> Result<organization_member::Model, DomainError> {
    validate_user_id(user_id)?;
    super::organizations::get(db, organization_id).await?;
    let txn = crate::db::begin_write(db).await?;
    let existing = organization_member::Entity::find_by_id((organization_id, user_id.to_owned()))
        .lock_exclusive()
        .one(&txn)
        .await?;
    let member = match existing {
        Some(member) => {
            let mut active: organization_member::ActiveModel = member.into();
            active.role = Set(role);
            active.update(&txn).await?
        }
        None => {
            organization_member::ActiveModel {
                organization_id: Set(organization_id),
                user_id: Set(user_id.to_owned()),
                id: Set(super::ids::new_id(super::ids::Kind::OrganizationMember)),
                role: Set(role),
                created_at: Set(entity::now()),
            }
            .insert(&txn)
            .await?
        }
    };
    txn.commit().await?;
    Ok(member)
}

/// Every organization the user belongs to, the one they joined first first.
pub async fn of_user(
    db: &DatabaseConnection,
    user_id: &str,
) -> Result<Vec<Membership>, DomainError> {
    let rows = organization_member::Entity::find()
        .filter(organization_member::Column::UserId.eq(user_id))
        .order_by_asc(organization_member::Column::CreatedAt)
        .order_by_asc(organization_member::Column::OrganizationId)
        .find_also_related(organization::Entity)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(member, org)| {
            org.map(|organization| Membership {
                organization,
                role: member.role,
                joined_at: member.created_at,
            })
        })
        .collect())
}

/// The membership `id` of the organization; any other is "not found".
pub async fn get(
    db: &DatabaseConnection,
    organization_id: Uuid,
    id: Uuid,
) -> Result<organization_member::Model, DomainError> {
    organization_member::Entity::find()
        .filter(organization_member::Column::Id.eq(id))
        .filter(organization_member::Column::OrganizationId.eq(organization_id))
        .one(db)
        .await?
        .ok_or(DomainError::NotFound("member"))
}
