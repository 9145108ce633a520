//! Creates `organization_members`: user (JWT `sub`) × organization, with a role.

use sea_orm_migration::{prelude::*, schema::*};

use crate::Organizations;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OrganizationMembers {
    Table,
    OrganizationId,
    UserId,
    Role,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrganizationMembers::Table)
                    .col(uuid(OrganizationMembers::OrganizationId))
                    .col(string_len(OrganizationMembers::UserId, 255))
                    .col(string_len(OrganizationMembers::Role, 16))
                    .col(timestamp_with_time_zone(OrganizationMembers::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(OrganizationMembers::OrganizationId)
                            .col(OrganizationMembers::UserId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-organization_members-organization_id")
                            .from(
                                OrganizationMembers::Table,
                                OrganizationMembers::OrganizationId,
                            )
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // "The organization a user joined first" is looked up by user.
        manager
            .create_index(
                Index::create()
                    .name("idx-organization_members-user_id-created_at")
                    .table(OrganizationMembers::Table)
                    .col(OrganizationMembers::UserId)
                    .col(OrganizationMembers::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OrganizationMembers::Table).to_owned())
            .await
    }
}
