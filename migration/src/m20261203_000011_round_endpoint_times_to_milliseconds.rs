//! Rounds the endpoints' `created_at` and `updated_at` written at a microsecond up to the next
//! millisecond, the precision every time is written at from now on (`entity::PRECISION`): an
//! endpoint's `updated_at` is its version, and a client's date type (a JavaScript `Date`)
//! holds milliseconds.
//!
//! Up, never down: a version only moves forward, so the version stored now is later than any
//! version a client may still hold, and rounding it up keeps it apart from all of them (it
//! can't land on an earlier whole millisecond). Both columns round alike, so an endpoint never
//! updated keeps `created_at` equal to `updated_at`. Other tables' times are no versions: they
//! keep what they hold and are shown at a millisecond.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;
use sea_orm_migration::sea_orm::prelude::ChronoDateTimeUtc;
use uuid::Uuid;

use crate::Endpoints;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `at` rounded up to a whole millisecond.
fn round_up(at: ChronoDateTimeUtc) -> ChronoDateTimeUtc {
    use chrono::{DurationRound, TimeDelta};
    let millisecond = TimeDelta::milliseconds(1);
    match at.duration_trunc(millisecond) {
        Ok(whole) if whole < at => whole + millisecond,
        _ => at,
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let endpoints = db
            .query_all(
                Query::select()
                    .columns([Endpoints::Id, Endpoints::CreatedAt, Endpoints::UpdatedAt])
                    .from(Endpoints::Table),
            )
            .await?;
        for endpoint in endpoints {
            let id: Uuid = endpoint.try_get("", "id")?;
            let created_at: ChronoDateTimeUtc = endpoint.try_get("", "created_at")?;
            let updated_at: ChronoDateTimeUtc = endpoint.try_get("", "updated_at")?;
            let rounded = (round_up(created_at), round_up(updated_at));
            if rounded == (created_at, updated_at) {
                continue;
            }
            db.execute(
                Query::update()
                    .table(Endpoints::Table)
                    .value(Endpoints::CreatedAt, rounded.0)
                    .value(Endpoints::UpdatedAt, rounded.1)
                    .and_where(Expr::col(Endpoints::Id).eq(id)),
            )
            .await?;
        }
        Ok(())
    }

    /// Nothing to undo: times at a millisecond are times at a microsecond too, and the code
    /// of before reads them as they are.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> ChronoDateTimeUtc {
        text.parse().expect("time")
    }

    #[test]
    fn a_time_finer_than_a_millisecond_rounds_up_and_a_whole_one_stays() {
        assert_eq!(
            round_up(at("2026-01-02T03:04:05.678001Z")),
            at("2026-01-02T03:04:05.679Z")
        );
        assert_eq!(
            round_up(at("2026-01-02T03:04:05.999999Z")),
            at("2026-01-02T03:04:06Z")
        );
        assert_eq!(
            round_up(at("2026-01-02T03:04:05.678Z")),
            at("2026-01-02T03:04:05.678Z")
        );
    }
}
