//! Creates `subscription_slots`: the subscriptions each credential holds open, across every
//! gateway process (when no Redis is configured). Each row is a lease its process renews; a
//! process that dies leaves rows that expire and are no longer counted.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SubscriptionSlots {
    Table,
    Id,
    Bucket,
    ProcessId,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SubscriptionSlots::Table)
                    .col(uuid(SubscriptionSlots::Id).primary_key())
                    .col(text(SubscriptionSlots::Bucket))
                    .col(uuid(SubscriptionSlots::ProcessId))
                    .col(timestamp_with_time_zone(SubscriptionSlots::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        // A credential's slots are counted when it opens one; a process renews its own.
        for (name, col) in [
            ("idx-subscription_slots-bucket", SubscriptionSlots::Bucket),
            (
                "idx-subscription_slots-process_id",
                SubscriptionSlots::ProcessId,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(SubscriptionSlots::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SubscriptionSlots::Table).to_owned())
            .await
    }
}
