//! Indexes each ordering of an endpoint list as the list filters it: by organization and mode,
//! then the order column and id (the keyset's tie-break). Replaces the index without the mode.

use sea_orm_migration::prelude::*;

use crate::Endpoints;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each ordering's column, and its index's name.
const ORDERINGS: [(Endpoints, &str); 3] = [
    (
        Endpoints::CreatedAt,
        "idx-endpoints-organization_id-mode-created_at-id",
    ),
    (
        Endpoints::UpdatedAt,
        "idx-endpoints-organization_id-mode-updated_at-id",
    ),
    (
        Endpoints::Name,
        "idx-endpoints-organization_id-mode-name-id",
    ),
];
const REPLACED: &str = "idx-endpoints-organization_id-created_at-id";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (column, name) in ORDERINGS {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Endpoints::Table)
                        .col(Endpoints::OrganizationId)
                        .col(Endpoints::Mode)
                        .col(column)
                        .col(Endpoints::Id)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_index(
                Index::drop()
                    .name(REPLACED)
                    .table(Endpoints::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name(REPLACED)
                    .table(Endpoints::Table)
                    .col(Endpoints::OrganizationId)
                    .col(Endpoints::CreatedAt)
                    .col(Endpoints::Id)
                    .to_owned(),
            )
            .await?;
        for (_, name) in ORDERINGS {
            manager
                .drop_index(Index::drop().name(name).table(Endpoints::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
