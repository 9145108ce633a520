//! Gives each membership an id of its own (`organization_members.id`), so that a member is an
//! object like any other (GraphQL's `OrganizationMember`, found by `node(id:)`). Existing
//! members get one here; the id says it names a member, as the gateway's ids say their type
//! (`src/domain/ids.rs`: a UUIDv8 laid out as a UUIDv7, the type in the four bits after the
//! version; a member's is 5).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use uuid::Uuid;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OrganizationMembers {
    Table,
    Id,
    OrganizationId,
    UserId,
}

const INDEX: &str = "idx-organization_members-id";

/// A member's id, as `domain::ids::new_id` makes it at the time of this migration.
fn member_id() -> Uuid {
    let mut bytes = *Uuid::now_v7().as_bytes();
    bytes[6] = 0x85;
    Uuid::from_bytes(bytes)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OrganizationMembers::Table)
                    .add_column(ColumnDef::new(OrganizationMembers::Id).uuid().null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let members = db
            .query_all(
                Query::select()
                    .columns([
                        OrganizationMembers::OrganizationId,
                        OrganizationMembers::UserId,
                    ])
                    .from(OrganizationMembers::Table),
            )
            .await?;
        for member in members {
            let organization_id: Uuid = member.try_get("", "organization_id")?;
            let user_id: String = member.try_get("", "user_id")?;
            db.execute(
                Query::update()
                    .table(OrganizationMembers::Table)
                    .value(OrganizationMembers::Id, member_id())
                    .and_where(Expr::col(OrganizationMembers::OrganizationId).eq(organization_id))
                    .and_where(Expr::col(OrganizationMembers::UserId).eq(user_id)),
            )
            .await?;
        }
        if backend == DbBackend::Postgres {
            // SQLite can't add NOT NULL to a column; the gateway sets the id on every insert.
            db.execute_unprepared("ALTER TABLE organization_members ALTER COLUMN id SET NOT NULL")
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(OrganizationMembers::Table)
                    .col(OrganizationMembers::Id)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name(INDEX)
                    .table(OrganizationMembers::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OrganizationMembers::Table)
                    .drop_column(OrganizationMembers::Id)
                    .to_owned(),
            )
            .await
    }
}
