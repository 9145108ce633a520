//! Field usage as stored: how often each schema field (`Type.field`) was resolved for each
//! client, per UTC day, added to by every gateway process. Deployment-wide operating data, not
//! an organization's: nothing here is reachable through the API.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use entity::field_usage::{self, Column, Entity};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::DomainError;
use crate::db::Db;

/// Rows written per statement.
const BATCH: usize = 500;

/// How often one client used a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientUsage {
    pub client_name: String,
    pub count: i64,
}

/// Adds `counts` (coordinate, client name, count) to `day`'s rows, each row made if it isn't
/// there yet: processes writing the same row add up.
pub async fn add(db: &Db, day: NaiveDate, counts: &[(&str, &str, u64)]) -> Result<(), DomainError> {
    for chunk in counts.chunks(BATCH) {
        let rows = chunk
            .iter()
            .map(|&(coordinate, client, count)| field_usage::ActiveModel {
                day: sea_orm::ActiveValue::Set(day),
                coordinate: sea_orm::ActiveValue::Set(coordinate.to_owned()),
                client_name: sea_orm::ActiveValue::Set(client.to_owned()),
                count: sea_orm::ActiveValue::Set(i64::try_from(count).unwrap_or(i64::MAX)),
            });
        Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([Column::Day, Column::Coordinate, Column::ClientName])
                    .value(
                        Column::Count,
                        Expr::col((Entity, Column::Count))
                            .add(Expr::col((Alias::new("excluded"), Column::Count))),
                    )
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The clients that used the field at `coordinate` (`Type.field`) on the last `since_days`
/// days (today included), with how often each did, most first.
pub async fn clients_of(
    db: &Db,
    coordinate: &str,
    since_days: u32,
) -> Result<Vec<ClientUsage>, DomainError> {
    let mut found = totals(db, since_days, Some(coordinate)).await?;
    Ok(found.remove(coordinate).unwrap_or_default())
}

/// Every field's clients on the last `since_days` days (today included), by coordinate, each
/// with how often it used the field, most first.
pub async fn recorded(
    db: &Db,
    since_days: u32,
) -> Result<BTreeMap<String, Vec<ClientUsage>>, DomainError> {
    totals(db, since_days, None).await
}

/// The counts of the last `since_days` days summed by coordinate (only `coordinate`'s, when
/// given) and client, each coordinate's clients most first.
async fn totals(
    db: &Db,
    since_days: u32,
    coordinate: Option<&str>,
) -> Result<BTreeMap<String, Vec<ClientUsage>>, DomainError> {
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Days::new(u64::from(since_days.saturating_sub(1)));
    let mut query = Entity::find()
        .select_only()
        .column(Column::Coordinate)
        .column(Column::ClientName)
        .column_as(
            Expr::expr(Func::cast_as(
                Func::sum(Expr::col(Column::Count)),
                Alias::new("bigint"),
            )),
            "count",
        )
        .filter(Column::Day.gte(from));
    if let Some(coordinate) = coordinate {
        query = query.filter(Column::Coordinate.eq(coordinate));
    }
    let rows: Vec<(String, String, Option<i64>)> = query
        .group_by(Column::Coordinate)
        .group_by(Column::ClientName)
        .into_tuple()
        .all(db)
        .await?;
    let mut by_coordinate = BTreeMap::<String, Vec<ClientUsage>>::new();
    for (coordinate, client_name, count) in rows {
        by_coordinate
            .entry(coordinate)
            .or_default()
            .push(ClientUsage {
                client_name,
                count: count.unwrap_or(0),
            });
    }
    for clients in by_coordinate.values_mut() {
        clients.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.client_name.cmp(&b.client_name))
        });
    }
    Ok(by_coordinate)
}

/// Deletes the days before `first_kept`; how many rows it deleted.
pub async fn purge_before(db: &Db, first_kept: NaiveDate) -> Result<u64, DomainError> {
    let done = Entity::delete_many()
        .filter(Column::Day.lt(first_kept))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}
