//! `event_watermarks`: per organization and mode, the last event retention deleted.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_watermarks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    /// The events' mode (`live`, `test`), or `none` for changes of the whole organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    /// The `seq` of the last of these events the retention sweep deleted.
    pub pruned_through: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
