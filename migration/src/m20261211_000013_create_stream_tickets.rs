//! Creates `stream_tickets`: short-lived, single-use tickets with which a browser's
//! `EventSource` (which can send no header) opens one event stream. Only a ticket's SHA-256 is
//! stored; a ticket is bound to the credential that minted it and to one operation.

use sea_orm_migration::{prelude::*, schema::*};

use crate::Organizations;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum StreamTickets {
    Table,
    TicketHash,
    OrganizationId,
    ApiKeyId,
    UserId,
    OperationHash,
    SessionExpiresAt,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StreamTickets::Table)
                    .col(string_len(StreamTickets::TicketHash, 64).primary_key())
                    .col(uuid(StreamTickets::OrganizationId))
                    .col(uuid_null(StreamTickets::ApiKeyId))
                    .col(string_len_null(StreamTickets::UserId, 255))
                    .col(string_len(StreamTickets::OperationHash, 64))
                    .col(timestamp_with_time_zone_null(
                        StreamTickets::SessionExpiresAt,
                    ))
                    .col(timestamp_with_time_zone(StreamTickets::CreatedAt))
                    .col(timestamp_with_time_zone(StreamTickets::ExpiresAt))
                    .col(timestamp_with_time_zone_null(StreamTickets::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-stream_tickets-organization_id")
                            .from(StreamTickets::Table, StreamTickets::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk-stream_tickets-api_key_id")
                            .from(StreamTickets::Table, StreamTickets::ApiKeyId)
                            .to(ApiKeys::Table, ApiKeys::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The retention sweep deletes by expiry.
        manager
            .create_index(
                Index::create()
                    .name("idx-stream_tickets-expires_at")
                    .table(StreamTickets::Table)
                    .col(StreamTickets::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StreamTickets::Table).to_owned())
            .await
    }
}
