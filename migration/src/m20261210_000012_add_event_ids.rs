//! Gives each event an id of its own (`events.id`), so that an event is an object like any
//! other (GraphQL's `Event`, found by `node(id:)`) and its place in the order (`seq`, shared by
//! every organization) stays inside the gateway. Existing events get one here; the id says it
//! names an event, as the gateway's ids say their type (`src/domain/ids.rs`: a UUIDv8 laid out
//! as a UUIDv7, the type in the four bits after the version; an event's is 6).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};
use uuid::Uuid;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    Seq,
}

const INDEX: &str = "idx-events-id";

/// An event's id, as `domain::ids::new_id` makes it at the time of this migration.
fn event_id() -> Uuid {
    let mut bytes = *Uuid::now_v7().as_bytes();
    bytes[6] = 0x86;
    Uuid::from_bytes(bytes)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .add_column(ColumnDef::new(Events::Id).uuid().null())
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let events = db
            .query_all(Query::select().column(Events::Seq).from(Events::Table))
            .await?;
        for event in events {
            let seq: i64 = event.try_get("", "seq")?;
            db.execute(
                Query::update()
                    .table(Events::Table)
                    .value(Events::Id, event_id())
                    .and_where(Expr::col(Events::Seq).eq(seq)),
            )
            .await?;
        }
        if backend == DbBackend::Postgres {
            // SQLite can't add NOT NULL to a column; the gateway sets the id on every insert.
            db.execute_unprepared("ALTER TABLE events ALTER COLUMN id SET NOT NULL")
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(INDEX)
                    .table(Events::Table)
                    .col(Events::Id)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name(INDEX).table(Events::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Events::Table)
                    .drop_column(Events::Id)
                    .to_owned(),
            )
            .await
    }
}
