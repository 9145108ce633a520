//! `api_keys`: organization credentials. Only the SHA-256 of a key is stored, never the key.

use sea_orm::entity::prelude::*;

use crate::enums::Mode;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub mode: Mode,
    /// The first characters of the key, enough to recognise it in a list.
    pub display_prefix: String,
    /// Lowercase hex SHA-256 of the whole key.
    #[sea_orm(unique)]
    pub key_hash: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
