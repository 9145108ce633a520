//! The endpoint service: create, read, list, update and delete endpoints within the actor's
//! organization and mode, enforcing every rule of the seed. Reads here and in `list.rs`,
//! writes in `write.rs`, the rules of an endpoint's fields in `routing.rs`.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use entity::endpoint::{self, Column};
use entity::enums::{EndpointStatus, EndpointType, Mode};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryResult, QuerySelect, QueryTrait, Statement, Value,
};
use uuid::Uuid;

use super::Actor;
use super::error::DomainError;
use super::provider::{ProviderConfig, ProviderConfigInput, SipDomains};
use super::secrets::SecretBox;
use crate::db::Db;

mod list;
mod routing;
mod versions;
mod write;

pub use list::{
    Direction, EndpointFilter, OrderField, Ordering, Page, PageRequest, count, cursor_of, list,
};
pub use versions::Versions;
pub use write::{create, delete, update};

pub const MAX_NAME_LEN: usize = 100;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_SEARCH_LEN: usize = 200;

/// What endpoint writes need beyond the database: where generated URIs point, and the key
/// secrets are sealed with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub sip_domains: SipDomains,
    pub secrets: SecretBox,
    /// Whether webhook URLs may point at `localhost` or private, loopback and link-local
    /// addresses (off by default: a webhook must be a public address).
    pub allow_private_webhooks: bool,
    /// The versions this process last wrote, which an update writes over without reading.
    pub versions: Versions,
}

/// An endpoint as the domain hands it to transports: the stored row with its config decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub r#type: EndpointType,
    pub url: String,
    pub status: EndpointStatus,
    pub provider_config: Option<ProviderConfig>,
    pub mode: Mode,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<endpoint::Model> for Endpoint {
    type Error = DomainError;

    fn try_from(m: endpoint::Model) -> Result<Self, Self::Error> {
        let provider_config = ProviderConfig::from_stored(m.r#type, m.provider_config.as_ref())
            .map_err(|e| {
                DomainError::Corrupt(format!(
                    "provider config of endpoint {} does not decode: {e}",
                    m.id
                ))
            })?;
        Ok(Self {
            id: m.id,
            organization_id: m.organization_id,
            name: m.name,
            r#type: m.r#type,
            url: m.url,
            status: m.status,
            provider_config,
            mode: m.mode,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct NewEndpoint {
    pub name: String,
    pub r#type: Option<EndpointType>,
    pub url: Option<String>,
    pub status: Option<EndpointStatus>,
    pub provider_config: Option<ProviderConfigInput>,
    pub phone_number_id: Option<Uuid>,
    pub mode: Option<Mode>,
}

/// Fields left `None` keep their stored value. A provider config replaces the stored one
/// whole, except that secrets left out are kept.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub name: Option<String>,
    pub r#type: Option<EndpointType>,
    pub url: Option<String>,
    pub status: Option<EndpointStatus>,
    pub provider_config: Option<ProviderConfigInput>,
    /// The `updated_at` the client last read: when the stored one differs, nothing is
    /// written and the update fails as [`DomainError::Stale`].
    pub expected_updated_at: Option<DateTime<Utc>>,
}

pub(super) fn scoped(actor: &Actor, mode: Option<Mode>) -> Condition {
    let mut cond = Condition::all().add(Column::OrganizationId.eq(actor.organization_id));
    if let Some(mode) = mode {
        cond = cond.add(Column::Mode.eq(mode));
    }
    cond
}

fn find_scoped(actor: &Actor, id: Uuid) -> sea_orm::Select<endpoint::Entity> {
    endpoint::Entity::find()
        .filter(Column::Id.eq(id))
        .filter(scoped(actor, actor.fixed_mode()))
}

async fn find_model(db: &Db, actor: &Actor, id: Uuid) -> Result<endpoint::Model, DomainError> {
    let statement = by_id_statement(
        sea_orm::ConnectionTrait::get_database_backend(db),
        actor,
        id,
    );
    crate::db::query_one::<Row>(db, statement)
        .await?
        .map(|row| row.0)
        .ok_or(DomainError::NotFound("endpoint"))
}

/// An endpoint row read by each column's position rather than its name: every statement here
/// selects or returns the columns in `Column`'s order (`Entity::find`, `RETURNING` of
/// `events::write_recording`). SeaORM's derived mapping looks every column up by name, a
/// hash of the name per column per row: a sixth of a page of 50's instructions. A test holds
/// `Column`'s order to the positions read here.
pub(crate) struct Row(pub endpoint::Model);

impl FromQueryResult for Row {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        if !pre.is_empty() {
            // A row joined under a prefix: by name, as SeaORM maps it.
            return endpoint::Model::from_query_result(row, pre).map(Self);
        }
        if let Some(row) = row.try_as_pg_row() {
            return Row::of_postgres(row);
        }
        Ok(Self(endpoint::Model {
            id: row.try_get_by_index(0)?,
            organization_id: row.try_get_by_index(1)?,
            name: row.try_get_by_index(2)?,
            r#type: row.try_get_by_index(3)?,
            url: row.try_get_by_index(4)?,
            status: row.try_get_by_index(5)?,
            provider_config: row.try_get_by_index(6)?,
            mode: row.try_get_by_index(7)?,
            created_at: row.try_get_by_index(8)?,
            updated_at: row.try_get_by_index(9)?,
        }))
    }
}

impl Row {
    /// A PostgreSQL row, decoded by sqlx without the check of each column's type against the
    /// one asked for (a list of the types each Rust type takes, per column per row): the
    /// columns' types are the migrations', which the API tests read through here.
    fn of_postgres(row: &sea_orm::sqlx::postgres::PgRow) -> Result<Self, DbErr> {
        use sea_orm::ActiveEnum;
        use sea_orm::sqlx::Row as _;
        let decoded = |e: sea_orm::sqlx::Error| DbErr::Type(e.to_string());
        let text = |i: usize| row.try_get_unchecked::<&str, _>(i).map_err(decoded);
        Ok(Self(endpoint::Model {
            id: row.try_get_unchecked(0).map_err(decoded)?,
            organization_id: row.try_get_unchecked(1).map_err(decoded)?,
            name: text(2)?.to_owned(),
            r#type: EndpointType::try_from_value(&text(3)?.to_owned())?,
            url: text(4)?.to_owned(),
            status: EndpointStatus::try_from_value(&text(5)?.to_owned())?,
            provider_config: row.try_get_unchecked(6).map_err(decoded)?,
            mode: Mode::try_from_value(&text(7)?.to_owned())?,
            created_at: row.try_get_unchecked(8).map_err(decoded)?,
            updated_at: row.try_get_unchecked(9).map_err(decoded)?,
        }))
    }
}

/// `find_scoped`'s statement (first row). Its SQL is the same for every id, so it is rendered
/// once per backend and mode filter and given each read's values, so a read by id doesn't
/// pay for rendering SQL. A test holds the two equal.
fn by_id_statement(backend: DbBackend, actor: &Actor, id: Uuid) -> Statement {
    static SQL: [OnceLock<String>; 4] = [const { OnceLock::new() }; 4];
    let mode = actor.fixed_mode();
    let slot = 2 * usize::from(backend == DbBackend::Postgres) + usize::from(mode.is_some());
    let sql = SQL[slot].get_or_init(|| find_scoped(actor, id).limit(1).build(backend).sql);
    let mut values = vec![Value::from(id), Value::from(actor.organization_id)];
    values.extend(mode.map(Value::from));
    values.push(Value::from(1u64)); // LIMIT 1
    Statement::from_sql_and_values(backend, sql.as_str(), values)
}

/// One endpoint of the actor's organization and mode; any other is "not found".
pub async fn get(db: &Db, actor: &Actor, id: Uuid) -> Result<Endpoint, DomainError> {
    find_model(db, actor, id).await?.try_into()
}

#[cfg(test)]
mod tests;
