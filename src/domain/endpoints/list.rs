//! Listing endpoints: filters, orderings, opaque keyset cursors, pages and counts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::endpoint::{self, Column};
use entity::enums::{EndpointStatus, EndpointType, Mode};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Endpoint, MAX_NAME_LEN, MAX_SEARCH_LEN, scoped};
use crate::db::Db;
use crate::domain::access::ModeScope;
use crate::domain::error::DomainError;
use crate::domain::{Actor, has_control_chars};

#[derive(Debug, Clone, Default)]
pub struct EndpointFilter {
    pub types: Option<Vec<EndpointType>>,
    pub statuses: Option<Vec<EndpointStatus>>,
    /// Case-insensitive substring of the name or URL.
    pub search: Option<String>,
    pub mode: Option<Mode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OrderField {
    #[default]
    #[serde(rename = "c")]
    CreatedAt,
    #[serde(rename = "u")]
    UpdatedAt,
    #[serde(rename = "n")]
    Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Direction {
    #[serde(rename = "a")]
    Asc,
    #[default]
    #[serde(rename = "d")]
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ordering {
    pub field: OrderField,
    pub direction: Direction,
}

/// A position in one ordering: the sort value and id of the last row seen. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    f: OrderField,
    d: Direction,
    v: String,
    id: Uuid,
}

/// The cursor of `endpoint` in a list in `ordering`: what `after` takes to continue after it.
pub fn cursor_of(endpoint: &Endpoint, ordering: Ordering) -> String {
    Cursor::of(ordering, endpoint).encode()
}

impl Cursor {
    fn of(ordering: Ordering, e: &Endpoint) -> Self {
        let v = match ordering.field {
            OrderField::CreatedAt => e.created_at.to_rfc3339(),
            OrderField::UpdatedAt => e.updated_at.to_rfc3339(),
            OrderField::Name => e.name.clone(),
        };
        Self {
            f: ordering.field,
            d: ordering.direction,
            v,
            id: e.id,
        }
    }

    fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a cursor is plain data");
        URL_SAFE_NO_PAD.encode(json)
    }

    fn decode(raw: &str, ordering: Ordering) -> Result<Self, DomainError> {
        let bad = || DomainError::BadInput("`after` is not a valid cursor".to_owned());
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        // Made by this gateway from stored values, which never hold control characters.
        if has_control_chars(&cursor.v) || cursor.v.len() > 4 * MAX_NAME_LEN {
            return Err(bad());
        }
        if cursor.f != ordering.field || cursor.d != ordering.direction {
            return Err(DomainError::BadInput(
                "`after` is a cursor from a different orderBy; use cursors with the ordering that produced them"
                    .to_owned(),
            ));
        }
        Ok(cursor)
    }
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

#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<(String, Endpoint)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

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
        cond = cond.add(Column::Type.is_in(types.iter().copied()));
    }
    if let Some(statuses) = &filter.statuses {
        cond = cond.add(Column::Status.is_in(statuses.iter().copied()));
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
        .map(|raw| Cursor::decode(raw, req.order))
        .transpose()?;
    let Some(mut cond) = list_condition(actor, &req.filter) else {
        return Ok(Page {
            items: Vec::new(),
            has_next_page: false,
            has_previous_page: after.is_some(),
        });
    };

    let column = match req.order.field {
        OrderField::CreatedAt => Column::CreatedAt,
        OrderField::UpdatedAt => Column::UpdatedAt,
        OrderField::Name => Column::Name,
    };
    if let Some(cursor) = &after {
        let value: sea_orm::Value = match req.order.field {
            OrderField::Name => cursor.v.clone().into(),
            OrderField::CreatedAt | OrderField::UpdatedAt => {
                DateTime::parse_from_rfc3339(&cursor.v)
                    .map_err(|_| DomainError::BadInput("`after` is not a valid cursor".to_owned()))?
                    .with_timezone(&Utc)
                    .into()
            }
        };
        let beyond = match req.order.direction {
            Direction::Asc => Condition::any().add(column.gt(value.clone())).add(
                Condition::all()
                    .add(column.eq(value))
                    .add(Column::Id.gt(cursor.id)),
            ),
            Direction::Desc => Condition::any().add(column.lt(value.clone())).add(
                Condition::all()
                    .add(column.eq(value))
                    .add(Column::Id.lt(cursor.id)),
            ),
        };
        cond = cond.add(beyond);
    }
    let order = match req.order.direction {
        Direction::Asc => Order::Asc,
        Direction::Desc => Order::Desc,
    };
    let mut rows = endpoint::Entity::find()
        .filter(cond)
        .order_by(column, order.clone())
        .order_by(Column::Id, order)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    let items = rows
        .into_iter()
        .map(|m| {
            let e = Endpoint::try_from(m)?;
            Ok((Cursor::of(req.order, &e).encode(), e))
        })
        .collect::<Result<_, DomainError>>()?;
    Ok(Page {
        items,
        has_next_page,
        has_previous_page: after.is_some(),
    })
}

/// How many endpoints the filter matches across all pages.
pub async fn count(db: &Db, actor: &Actor, filter: &EndpointFilter) -> Result<u64, DomainError> {
    let Some(cond) = list_condition(actor, filter) else {
        return Ok(0);
    };
    Ok(endpoint::Entity::find().filter(cond).count(db).await?)
}
