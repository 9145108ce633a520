//! `subscription_slots`: each open subscription's lease on one of its credential's slots.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscription_slots")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The credential's rate-limit bucket (what the limit is counted by).
    pub bucket: String,
    /// The gateway process that holds it and renews its lease.
    pub process_id: Uuid,
    /// When the lease ends unless renewed: a dead process's slots stop counting then.
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
