//! Listing endpoints: filters, orderings, opaque keyset cursors, pages and counts.

use entity::endpoint::{self, Column};
use entity::enums::{EndpointStatus, EndpointType, Mode};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::{Endpoint, MAX_SEARCH_LEN, scoped};
use crate::db::Db;
use crate::domain::access::ModeScope;
use crate::domain::error::DomainError;
pub use crate::domain::page::Direction;
use crate::domain::page::{self, Keyset};
use crate::domain::{Actor, has_control_chars};

#[derive(Debug, Clone, Default)]
pub struct EndpointFilter {
    pub types: Option<Vec<EndpointType>>,
    pub statuses: Option<Vec<EndpointStatus>>,
    /// Case-insensitive substring of the name or URL.
    pub search: Option<String>,
    pub mode: Option<Mode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderField {
    #[default]
    CreatedAt,
    UpdatedAt,
    Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ordering {
    pub field: OrderField,
    pub direction: Direction,
}

impl Ordering {
    /// The keyset a list in this ordering is in (its cursors name the field as `c`, `u`, `n`).
    fn keyset(self) -> Keyset {
        let key = match self.field {
            OrderField::CreatedAt => page::CREATED,
            OrderField::UpdatedAt => page::UPDATED,
            OrderField::Name => page::NAME,
        };
        Keyset {
            list: page::List::Endpoints,
            key,
            direction: self.direction,
        }
    }
}

/// The cursor of `endpoint` in a list in `ordering`: what `after` takes to continue after it.
pub fn cursor_of(endpoint: &Endpoint, ordering: Ordering) -> String {
    let value = match ordering.field {
        OrderField::CreatedAt => endpoint.created_at.to_rfc3339(),
        OrderField::UpdatedAt => endpoint.updated_at.to_rfc3339(),
        OrderField::Name => endpoint.name.clone(),
    };
    page::encode(ordering.keyset(), value, endpoint.id)
}

#[derive(Debug, Clone)]
pub struct PageRequest {
    pub first: Option<i64>,
    /// The largest `first` allowed (the configured page size limit).
    pub max_first: u64,
    pub after: Option<String>,
    pub filter: EndpointFilter,
    pub order: Ordering,
}

pub type Page = page::Page<Endpoint>;

/// The rows a list covers: the actor's organization and mode, then the client's filter.
/// `None` when the filter asks for a mode the credential can't see.
fn list_condition(actor: &Actor, filter: &EndpointFilter) -> Option<Condition> {
    let mode = match actor.read_scope(filter.mode) {
        ModeScope::Nothing => return None,
        ModeScope::Only(mode) => Some(mode),
        ModeScope::Both => None,
    };
    let mut cond = scoped(actor, mode);
    if let Some(types) = &filter.types {
        cond = cond.add(Column::Type.is_in(crate::domain::distinct(types)));
    }
    if let Some(statuses) = &filter.statuses {
        cond = cond.add(Column::Status.is_in(crate::domain::distinct(statuses)));
    }
    if let Some(search) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let escaped = search
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let like = |col: Column| {
            Expr::expr(Func::lower(Expr::col(col)))
                .like(LikeExpr::new(pattern.clone()).escape('\\'))
        };
        cond = cond.add(
            Condition::any()
                .add(like(Column::Name))
                .add(like(Column::Url)),
        );
    }
    Some(cond)
}

/// One page in keyset order: stable while rows are inserted between requests.
pub async fn list(db: &Db, actor: &Actor, req: PageRequest) -> Result<Page, DomainError> {
    let first = crate::domain::page_size(req.first, req.max_first)?;
    if let Some(search) = &req.filter.search {
        if search.chars().count() > MAX_SEARCH_LEN {
            return Err(DomainError::BadInput(format!(
                "`filter.search` is longer than {MAX_SEARCH_LEN} characters"
            )));
        }
        if has_control_chars(search) {
            return Err(DomainError::BadInput(
                "`filter.search` contains control characters".to_owned(),
            ));
        }
    }
    let after = req
        .after
        .as_deref()
        .map(|raw| page::decode(raw, req.order.keyset()))
        .transpose()?;
    let Some(mut cond) = list_condition(actor, &req.filter) else {
        return Ok(Page::empty(after.is_some()));
    };

    let column = match req.order.field {
        OrderField::CreatedAt => Column::CreatedAt,
        OrderField::UpdatedAt => Column::UpdatedAt,
        OrderField::Name => Column::Name,
    };
    if let Some((value, id)) = &after {
        let value: sea_orm::Value = match req.order.field {
            OrderField::Name => value.clone().into(),
            OrderField::CreatedAt | OrderField::UpdatedAt => page::parse_time(value)?.into(),
        };
        let beyond = match req.order.direction {
            Direction::Asc => Condition::any().add(column.gt(value.clone())).add(
                Condition::all()
                    .add(column.eq(value))
                    .add(Column::Id.gt(*id)),
            ),
            Direction::Desc => Condition::any().add(column.lt(value.clone())).add(
                Condition::all()
                    .add(column.eq(value))
                    .add(Column::Id.lt(*id)),
            ),
        };
        cond = cond.add(beyond);
    }
    let order = match req.order.direction {
        Direction::Asc => Order::Asc,
        Direction::Desc => Order::Desc,
    };
    let rows = endpoint::Entity::find()
        .filter(cond)
        .order_by(column, order.clone())
        .order_by(Column::Id, order)
        .limit(first + 1)
        .into_model::<super::Row>()
        .all(db)
        .await?;
    let order = req.order;
    Page::of_rows(
        rows,
        first,
        after.is_some(),
        |row| Endpoint::try_from(row.0),
        move |e| cursor_of(e, order),
    )
}

/// How many endpoints the filter matches across all pages.
pub async fn count(db: &Db, actor: &Actor, filter: &EndpointFilter) -> Result<u64, DomainError> {
    let Some(cond) = list_condition(actor, filter) else {
        return Ok(0);
    };
    Ok(endpoint::Entity::find().filter(cond).count(db).await?)
}
