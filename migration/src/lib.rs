//! Schema migrations, one change per file; a landed migration is never edited.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_create_organizations;
mod m20261124_000002_create_organization_members;
mod m20261124_000003_create_api_keys;
mod m20261124_000004_create_endpoints;
mod m20261124_000005_create_phone_numbers;
mod m20261124_000006_create_settings;
mod m20261125_000007_index_endpoint_orderings_by_mode;
mod m20261126_000008_add_organization_member_ids;
mod m20261202_000009_create_events;
mod m20261202_000010_create_idempotency_keys;
mod m20261203_000011_round_endpoint_times_to_milliseconds;
mod m20261210_000012_add_event_ids;
mod m20261211_000013_create_stream_tickets;
mod m20261220_000014_add_event_trace_parents;
mod m20261221_000015_create_field_usage;
mod m20261222_000016_create_event_watermarks;
mod m20261222_000017_create_subscription_slots;
mod m20261223_000018_number_events_after_commit;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_organizations::Migration),
            Box::new(m20261124_000002_create_organization_members::Migration),
            Box::new(m20261124_000003_create_api_keys::Migration),
            Box::new(m20261124_000004_create_endpoints::Migration),
            Box::new(m20261124_000005_create_phone_numbers::Migration),
            Box::new(m20261124_000006_create_settings::Migration),
            Box::new(m20261125_000007_index_endpoint_orderings_by_mode::Migration),
            Box::new(m20261126_000008_add_organization_member_ids::Migration),
            Box::new(m20261202_000009_create_events::Migration),
            Box::new(m20261202_000010_create_idempotency_keys::Migration),
            Box::new(m20261203_000011_round_endpoint_times_to_milliseconds::Migration),
            Box::new(m20261210_000012_add_event_ids::Migration),
            Box::new(m20261211_000013_create_stream_tickets::Migration),
            Box::new(m20261220_000014_add_event_trace_parents::Migration),
            Box::new(m20261221_000015_create_field_usage::Migration),
            Box::new(m20261222_000016_create_event_watermarks::Migration),
            Box::new(m20261222_000017_create_subscription_slots::Migration),
            Box::new(m20261223_000018_number_events_after_commit::Migration),
        ]
    }
}

/// Table and column names shared by several migrations.
#[derive(DeriveIden)]
pub(crate) enum Organizations {
    Table,
    Id,
}

#[derive(DeriveIden)]
pub(crate) enum Endpoints {
    Table,
    Id,
    OrganizationId,
    Name,
    Type,
    Url,
    Status,
    ProviderConfig,
    Mode,
    CreatedAt,
    UpdatedAt,
}
