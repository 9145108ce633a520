//! Creates `field_usage`: how often each schema field (`Type.field`) was resolved for each
//! client, per UTC day. Each gateway process adds its counts to the day's row, so the rows are
//! the deployment's total.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum FieldUsage {
    Table,
    Day,
    Coordinate,
    ClientName,
    Count,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FieldUsage::Table)
                    .col(date(FieldUsage::Day))
                    .col(string_len(FieldUsage::Coordinate, 255))
                    .col(string_len(FieldUsage::ClientName, 64))
                    .col(big_integer(FieldUsage::Count))
                    .primary_key(
                        Index::create()
                            .col(FieldUsage::Day)
                            .col(FieldUsage::Coordinate)
                            .col(FieldUsage::ClientName),
                    )
                    .to_owned(),
            )
            .await?;
        // Who uses a field is asked by coordinate, over the last days.
        manager
            .create_index(
                Index::create()
                    .name("idx-field_usage-coordinate-day")
                    .table(FieldUsage::Table)
                    .col(FieldUsage::Coordinate)
                    .col(FieldUsage::Day)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FieldUsage::Table).to_owned())
            .await
    }
}
