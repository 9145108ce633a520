//! Creates `phone_numbers`; deleting an endpoint detaches its numbers (ON DELETE SET NULL).

use sea_orm_migration::{prelude::*, schema::*};

use crate::{Endpoints, Organizations};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PhoneNumbers {
    Table,
    Id,
    OrganizationId,
    Mode,
    E164,
    EndpointId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PhoneNumbers::Table)
                    .col(pk_uuid(PhoneNumbers::Id))
                    .col(uuid(PhoneNumbers::OrganizationId))
                    .col(string_len(PhoneNumbers::Mode, 8))
                    .col(string_len(PhoneNumbers::E164, 16))
                    .col(uuid_null(PhoneNumbers::EndpointId))
                    .col(timestamp_with_time_zone(PhoneNumbers::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-phone_numbers-organization_id")
                            .from(PhoneNumbers::Table, PhoneNumbers::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-phone_numbers-endpoint_id")
                            .from(PhoneNumbers::Table, PhoneNumbers::EndpointId)
                            .to(Endpoints::Table, Endpoints::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-phone_numbers-organization_id-mode-e164")
                    .table(PhoneNumbers::Table)
                    .col(PhoneNumbers::OrganizationId)
                    .col(PhoneNumbers::Mode)
                    .col(PhoneNumbers::E164)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-phone_numbers-endpoint_id")
                    .table(PhoneNumbers::Table)
                    .col(PhoneNumbers::EndpointId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PhoneNumbers::Table).to_owned())
            .await
    }
}
