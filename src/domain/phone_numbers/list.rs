//! Listing phone numbers: a filter, opaque keyset cursors (newest first), pages and counts.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::phone_number::{self, Column};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::PhoneNumber;
use crate::db::Db;
use crate::domain::error::DomainError;
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

#[derive(Debug, Clone)]
pub struct NumberPage {
    /// Each number with its cursor.
    pub items: Vec<(String, PhoneNumber)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

/// A position in the list: the creation time and id of the last number seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    c: DateTime<Utc>,
    id: Uuid,
}

impl Cursor {
    fn of(number: &PhoneNumber) -> Self {
        Self {
            c: number.created_at,
            id: number.id,
        }
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor is plain data"))
    }

    fn decode(raw: &str) -> Result<Self, DomainError> {
        let bad = || DomainError::BadInput("`after` is not a valid cursor".to_owned());
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }
}

/// The cursor of `number` in the list: what `after` takes to continue after it.
pub fn cursor_of(number: &PhoneNumber) -> String {
    Cursor::of(number).encode()
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
    let after = req.after.as_deref().map(Cursor::decode).transpose()?;
    let mut cond = condition(actor, &req.filter)?;
    if let Some(cursor) = &after {
        cond = cond.add(
            Condition::any().add(Column::CreatedAt.lt(cursor.c)).add(
                Condition::all()
                    .add(Column::CreatedAt.eq(cursor.c))
                    .add(Column::Id.lt(cursor.id)),
            ),
        );
    }
    let mut rows = phone_number::Entity::find()
        .filter(cond)
        .order_by(Column::CreatedAt, Order::Desc)
        .order_by(Column::Id, Order::Desc)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next_page = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok(NumberPage {
        items: rows
            .into_iter()
            .map(|m| {
                let number = PhoneNumber::from(m);
                (cursor_of(&number), number)
            })
            .collect(),
        has_next_page,
        has_previous_page: after.is_some(),
    })
}

/// How many numbers the filter matches across all pages.
pub async fn count(db: &Db, actor: &Actor, filter: &NumberFilter) -> Result<u64, DomainError> {
    let cond = condition(actor, filter)?;
    Ok(phone_number::Entity::find().filter(cond).count(db).await?)
}
