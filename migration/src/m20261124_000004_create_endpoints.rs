//! Creates `endpoints`, indexed for keyset pages within one organization.

use sea_orm_migration::{prelude::*, schema::*};

use crate::{Endpoints, Organizations};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Endpoints::Table)
                    .col(pk_uuid(Endpoints::Id))
                    .col(uuid(Endpoints::OrganizationId))
                    .col(string_len(Endpoints::Name, 100))
                    .col(string_len(Endpoints::Type, 16))
                    .col(text(Endpoints::Url))
                    .col(string_len(Endpoints::Status, 16))
                    .col(json_binary_null(Endpoints::ProviderConfig))
                    .col(string_len(Endpoints::Mode, 8))
                    .col(timestamp_with_time_zone(Endpoints::CreatedAt))
                    .col(timestamp_with_time_zone(Endpoints::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-endpoints-organization_id")
                            .from(Endpoints::Table, Endpoints::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-endpoints-organization_id-created_at-id")
                    .table(Endpoints::Table)
                    .col(Endpoints::OrganizationId)
                    .col(Endpoints::CreatedAt)
                    .col(Endpoints::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Endpoints::Table).to_owned())
            .await
    }
}
