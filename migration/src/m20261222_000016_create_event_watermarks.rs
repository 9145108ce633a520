//! Creates `event_watermarks`: for each organization and mode (`live`, `test`, or `none` for
//! changes of the whole organization), the last event the retention sweep deleted, written in
//! the sweep's transaction. A cursor before it names events that are gone: resuming from it
//! is refused (`EVENTS_EXPIRED`) instead of silently skipping what was deleted.

use sea_orm_migration::{prelude::*, schema::*};

use crate::Organizations;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EventWatermarks {
    Table,
    OrganizationId,
    Scope,
    PrunedThrough,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventWatermarks::Table)
                    .col(uuid(EventWatermarks::OrganizationId))
                    .col(string_len(EventWatermarks::Scope, 8))
                    .col(big_integer(EventWatermarks::PrunedThrough))
                    .primary_key(
                        Index::create()
                            .col(EventWatermarks::OrganizationId)
                            .col(EventWatermarks::Scope),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-event_watermarks-organization_id")
                            .from(EventWatermarks::Table, EventWatermarks::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EventWatermarks::Table).to_owned())
            .await
    }
}
