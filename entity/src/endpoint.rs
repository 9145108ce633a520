//! `endpoints`: where a call is routed — a webhook, an AI voice-agent provider or a SIP URI.

use sea_orm::ActiveValue;
use sea_orm::entity::prelude::*;

use crate::enums::{EndpointStatus, EndpointType, Mode};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    #[sea_orm(column_name = "type")]
    pub r#type: EndpointType,
    pub url: String,
    pub status: EndpointStatus,
    /// The provider variant's fields under the seed's snake_case names; null for webhooks.
    pub provider_config: Option<Json>,
    pub mode: Mode,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

#[async_trait::async_trait]
impl ActiveModelBehavior for ActiveModel {
    /// Every update moves `updated_at` forward, even when two land within the same millisecond,
    /// so that no two versions of an endpoint share one; `created_at` is never touched here.
    async fn before_save<C>(mut self, _db: &C, insert: bool) -> Result<Self, DbErr>
    where
        C: ConnectionTrait,
    {
        if !insert {
            let now = crate::now();
            let next = match &self.updated_at {
                ActiveValue::Unchanged(previous) | ActiveValue::Set(previous)
                    if *previous >= now =>
                {
                    crate::truncate(*previous) + crate::PRECISION
                }
                _ => now,
            };
            self.updated_at = ActiveValue::Set(next);
        }
        Ok(self)
    }
}
