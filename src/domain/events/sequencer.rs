//! Numbering committed events, on PostgreSQL. A write inserts its events unnumbered (a
//! negative `seq`, from `events_pending`: the order they were inserted in) and commits without
//! waiting for any other writer of its organization; then the sequencer — one at a time across
//! every gateway process, under its own advisory lock — gives every event that has committed its
//! place (`seq` from `events_numbers`), in the order they were inserted, and announces
//! the organizations on [`super::CHANNEL`], all in one statement and one transaction a batch.
//!
//! Why that order is safe: a batch numbers only what its statement's snapshot sees committed,
//! above every number given before (batches commit one after another under the lock), so an
//! event that commits later can never take a place below one a reader has passed. And a write
//! that changes an object locks its row before it inserts the object's event, so it inserts
//! after any earlier change of the object has committed: an object's events keep their order.
//! Readers read numbered events only (`seq > 0`).

use std::sync::LazyLock;

use futures_util::FutureExt as _;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use uuid::Uuid;

use super::CHANNEL;
use crate::db::Db;
use crate::domain::DomainError;

/// The sequencer's advisory lock ("ckeq"), apart from the organizations' (`LOCK_CLASS`).
const LOCK_CLASS: i32 = 0x636b_6571;

/// At most this many events a batch; a run numbers batches until none is left.
const BATCH: i64 = 10_000;

/// Numbers what has committed in one statement, a transaction of its own: the sequencer's
/// lock (one per schema: gateways on other schemas of the database number their own events),
/// the oldest pending events (at most `BATCH`), the block of numbers they take from
/// `events_numbers`, the update, and one notice per organization (sent when the statement
/// commits). It answers the organizations, each with the count of events numbered.
///
/// Its snapshot is taken as it starts, before the lock is granted: it may see as pending
/// events that the batch it waited for has numbered since. The update skips those (under READ
/// COMMITTED an `UPDATE` checks its condition again on a row changed meanwhile, and `seq` is
/// no longer the one it read), so they keep their numbers; the numbers it takes still follow
/// that batch's, as it takes them once the lock is held.
///
/// Its plan must not depend on the table's statistics: taken while many events were pending
/// (a burst, a sequencer that lagged), they make the planner expect thousands of pending rows
/// and scan the whole of `events` twice a batch (a sequential scan for the pending, a hash join
/// for the update), so each batch costs the table's size, the sequencer lags further behind
/// and the next statistics are as wrong. The statement is sent with `PLAN` in one simple query
/// (PostgreSQL runs it as one transaction, to which `SET LOCAL` holds), so the pending are read
/// backwards along the primary key and the update finds each by it, however many the
/// statistics expect. Its values are constants, written in.
static NUMBER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH locked AS MATERIALIZED ( \
            SELECT pg_advisory_xact_lock({LOCK_CLASS}, hashtext(current_schema()))), \
          pending AS MATERIALIZED ( \
            SELECT seq, organization_id, row_number() OVER (ORDER BY seq DESC) AS n \
            FROM (SELECT seq, organization_id FROM events, locked WHERE seq < 0 ORDER BY seq DESC LIMIT {BATCH}) oldest), \
          reserved AS MATERIALIZED ( \
            SELECT setval('events_numbers', nextval('events_numbers') + count(*) - 1) - count(*) AS base \
            FROM pending, locked HAVING count(*) > 0), \
          numbered AS ( \
            UPDATE events e SET seq = reserved.base + pending.n FROM pending, reserved \
            WHERE e.seq = pending.seq RETURNING e.organization_id) \
          SELECT organization_id, (SELECT count(*) FROM pending) AS events, \
            pg_notify('{CHANNEL}', organization_id::text)::text AS notice \
          FROM (SELECT DISTINCT organization_id FROM numbered) organizations"
    )
});

/// The planner's settings for `NUMBER`, for its transaction only: no sequential scan of
/// `events`, no hash or merge join over all of it, and no bitmap scan: every event numbered
/// leaves its pending key dead in the index until vacuum, and a plain index scan marks those
/// it passes so the next batches skip them, where a bitmap scan visits them all again.
const PLAN: &str = "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; \
    SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off";

/// The numbering statement and the settings it runs under, for a test to see its plan.
#[doc(hidden)]
pub fn numbering() -> (&'static str, &'static str) {
    (PLAN, NUMBER.as_str())
}

/// Tells `organization_id`'s readers that it has committed events, once they can read them:
/// on SQLite at once (events are numbered as they are inserted); on PostgreSQL once a sequencer
/// run begun after this call has numbered them.
pub async fn published(db: &Db, organization_id: Uuid) {
    match db.get_database_backend() {
        DbBackend::Postgres => db.signals().follow_commit(run).await,
        _ => db.signals().committed(organization_id),
    }
}

/// Starts numbering `db`'s committed events, on PostgreSQL: the loop also runs every few
/// seconds with no write to serve, for what a process that died between its commit and its
/// run left unnumbered.
pub fn start(db: &Db) {
    if db.get_database_backend() == DbBackend::Postgres {
        db.signals().start_following(run);
    }
}

/// One run: batches until nothing committed is left unnumbered. The organizations it numbered
/// events of; `None` when it failed.
fn run(conn: DatabaseConnection) -> futures_util::future::BoxFuture<'static, Option<Vec<Uuid>>> {
    async move {
        let mut organizations = Vec::new();
        loop {
            match batch(&conn).await {
                Ok((numbered, full)) => {
                    organizations.extend(numbered);
                    if !full {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(
                        error = %err.log_description(),
                        "could not number committed events; trying again shortly"
                    );
                    return None;
                }
            }
        }
        organizations.sort_unstable();
        organizations.dedup();
        Some(organizations)
    }
    .boxed()
}

/// One batch: the organizations, and whether the batch was full (more may wait).
async fn batch(conn: &DatabaseConnection) -> Result<(Vec<Uuid>, bool), DomainError> {
    static SENT: LazyLock<String> = LazyLock::new(|| format!("{PLAN}; {}", *NUMBER));
    let rows = crate::db::simple_query(conn, &SENT).await?;
    let organizations = rows
        .iter()
        .map(|row| row.try_get::<Uuid>("", "organization_id"))
        .collect::<Result<Vec<_>, _>>()?;
    let numbered = match rows.first() {
        Some(row) => row.try_get::<i64>("", "events")?,
        None => 0,
    };
    Ok((organizations, numbered >= BATCH))
}
