//! Creates `events`: every change the gateway makes, written in the transaction that makes it.
//! `seq` orders an organization's events as they were committed (writers of one organization
//! take a lock before they number theirs), so it is the audit log's and subscriptions' cursor.

use sea_orm_migration::{prelude::*, schema::*};

use crate::Organizations;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Events {
    Table,
    Seq,
    OrganizationId,
    Mode,
    Type,
    ObjectId,
    ActorKind,
    ActorId,
    ActorKeyPrefix,
    RequestId,
    OccurredAt,
    Data,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(big_pk_auto(Events::Seq))
                    .col(uuid(Events::OrganizationId))
                    .col(string_len_null(Events::Mode, 8))
                    .col(string_len(Events::Type, 32))
                    .col(uuid(Events::ObjectId))
                    .col(string_len(Events::ActorKind, 16))
                    .col(string_len_null(Events::ActorId, 255))
                    .col(string_len_null(Events::ActorKeyPrefix, 32))
                    .col(string_len_null(Events::RequestId, 128))
                    .col(timestamp_with_time_zone(Events::OccurredAt))
                    .col(json(Events::Data))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-events-organization_id")
                            .from(Events::Table, Events::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The audit log and catching up read an organization's events by `seq`; an object's
        // history by its id; retention deletes by age.
        for (name, cols) in [
            (
                "idx-events-organization_id-seq",
                &[Events::OrganizationId, Events::Seq][..],
            ),
            (
                "idx-events-organization_id-object_id-seq",
                &[Events::OrganizationId, Events::ObjectId, Events::Seq][..],
            ),
            ("idx-events-occurred_at", &[Events::OccurredAt][..]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Events::Table);
            for col in cols {
                index.col(*col);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Events::Table).to_owned())
            .await
    }
}
