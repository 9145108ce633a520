//! Listing phone numbers: a filter, opaque keyset cursors (newest first), pages and counts.

use entity::phone_number::{self, Column};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::PhoneNumber;
use crate::db::Db;
use crate::domain::error::DomainError;
use crate::domain::page::{self, Direction, Keyset, Page};
use crate::domain::{Actor, has_control_chars};

/// The longest `filter.search`.
const MAX_SEARCH_LEN: usize = 16;

#[derive(Debug, Clone, Default)]
pub struct NumberFilter {
    /// Only numbers routed to an endpoint (`true`) or to none (`false`).
    pub attached: Option<bool>,
    /// A substring of the E.164 form (`+1415`, `555`).
    pub search: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NumberPageRequest {
    pub first: Option<i64>,
    pub max_first: u64,
    pub after: Option<String>,
    pub filter: NumberFilter,
}

pub type NumberPage = Page<PhoneNumber>;

/// Numbers are listed newest first.
const ORDER: Keyset = Keyset {
    list: page::List::PhoneNumbers,
    key: page::CREATED,
    direction: Direction::Desc,
};

/// The cursor of `number` in the list: what `after` takes to continue after it.
pub fn cursor_of(number: &PhoneNumber) -> String {
    page::encode(ORDER, number.created_at.to_rfc3339(), number.id)
}

/// The numbers a list covers: the actor's organization and mode, then the filter.
fn condition(actor: &Actor, filter: &NumberFilter) -> Result<Condition, DomainError> {
    let mut cond = Condition::all().add(Column::OrganizationId.eq(actor.organization_id));
    if let Some(mode) = actor.fixed_mode() {
        cond = cond.add(Column::Mode.eq(mode));
    }
    match filter.attached {
        Some(true) => cond = cond.add(Column::EndpointId.is_not_null()),
        Some(false) => cond = cond.add(Column::EndpointId.is_null()),
        None => {}
    }
    if let Some(search) = filter.search.as_deref() {
        if has_control_chars(search) {
            return Err(DomainError::BadInput(
                "`filter.search` contains control characters".to_owned(),
            ));
        }
        let search = search.trim();
        if search.chars().count() > MAX_SEARCH_LEN {
            return Err(DomainError::BadInput(format!(
                "`filter.search` is part of an E.164 number: at most {MAX_SEARCH_LEN} characters"
            )));
        }
        if !search.is_empty() {
            let escaped = search
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            cond = cond.add(
                Expr::col(Column::E164).like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
            );
        }
    }
    Ok(cond)
}

/// One page, newest first, in keyset order: stable while numbers are added.
pub async fn list(
    db: &Db,
    actor: &Actor,
    req: NumberPageRequest,
) -> Result<NumberPage, DomainError> {
    let first = crate::domain::page_size(req.first, req.max_first)?;
    let after = req
        .after
        .as_deref()
        .map(|raw| page::decode_created(raw, ORDER))
        .transpose()?;
    let mut cond = condition(actor, &req.filter)?;
    if let Some((at, id)) = after {
        cond = cond.add(
            Condition::any().add(Column::CreatedAt.lt(at)).add(
                Condition::all()
                    .add(Column::CreatedAt.eq(at))
                    .add(Column::Id.lt(id)),
            ),
        );
    }
    let rows = phone_number::Entity::find()
        .filter(cond)
        .order_by(Column::CreatedAt, Order::Desc)
        .order_by(Column::Id, Order::Desc)
        .limit(first + 1)
        .all(db)
        .await?;
    Page::of_rows(
        rows,
        first,
        after.is_some(),
        |m| Ok(PhoneNumber::from(m)),
        cursor_of,
    )
}

/// How many numbers the filter matches across all pages.
pub async fn count(db: &Db, actor: &Actor, filter: &NumberFilter) -> Result<u64, DomainError> {
    let cond = condition(actor, filter)?;
    Ok(phone_number::Entity::find().filter(cond).count(db).await?)
}
