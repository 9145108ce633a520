//! One request's unit of work: a transaction every read and write of the request goes
//! through, committed with what it answers.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement};

use super::{Db, Pool, Signals, begin_pool_write};

/// One request's transaction. The domain's own transactions within it are savepoints, and
/// nothing is visible to anyone else until [`Unit::commit`].
pub struct Unit {
    pub(super) txn: tokio::sync::Mutex<Option<DatabaseTransaction>>,
    pub(super) backend: DbBackend,
    /// What is to happen once the unit has committed (`Db::after_commit`).
    pub(super) after_commit: std::sync::Mutex<Vec<Box<dyn FnOnce() + Send>>>,
    /// The count of changed rows when the unit began (see `wrote`).
    pub(super) changes_at_begin: i64,
    /// The signals of the `Db` it was begun on.
    pub(super) signals: Arc<Signals>,
}

impl Unit {
    /// A unit of work on `db`'s pool, holding SQLite's write lock from its start (as
    /// `begin_write`).
    pub async fn begin(db: &Db) -> Result<Arc<Self>, DbErr> {
        let Db::Pool(Pool { conn: pool, .. }) = db else {
            return Err(DbErr::Custom(
                "a unit of work begins on the pool, not inside another".to_owned(),
            ));
        };
        let txn = begin_pool_write(pool).await?;
        let backend = pool.get_database_backend();
        let changes_at_begin = changed_rows(&txn, backend).await?;
        Ok(Arc::new(Self {
            backend,
            txn: tokio::sync::Mutex::new(Some(txn)),
            after_commit: std::sync::Mutex::default(),
            changes_at_begin,
            signals: Arc::clone(db.signals()),
        }))
    }

    /// Whether anything has inserted, updated or deleted a row in the unit so far, counting
    /// its savepoints, those rolled back included (a row locked or read is no change).
    pub async fn wrote(&self) -> Result<bool, DbErr> {
        let guard = self.txn.lock().await;
        let txn = guard.as_ref().ok_or_else(Self::ended)?;
        Ok(changed_rows(txn, self.backend).await? != self.changes_at_begin)
    }

    pub(super) fn ended() -> DbErr {
        DbErr::Custom("the request's unit of work has ended".to_owned())
    }

    /// Commits everything the request wrote, then runs what was to follow the commit; later
    /// reads through the unit fail.
    pub async fn commit(&self) -> Result<(), DbErr> {
        let txn = self.txn.lock().await.take().ok_or_else(Self::ended)?;
        txn.commit().await?;
        let after = std::mem::take(
            &mut *self
                .after_commit
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        after.into_iter().for_each(|f| f());
        Ok(())
    }

    /// Drops everything the request wrote.
    pub async fn rollback(&self) -> Result<(), DbErr> {
        match self.txn.lock().await.take() {
            Some(txn) => txn.rollback().await,
            None => Ok(()),
        }
    }
}

/// A count that grows with every row the connection inserts, updates or deletes within a
/// transaction: SQLite's since the connection opened; on PostgreSQL the backend's statistics
/// of its own tuples in the tables requests write, not yet reported (which row locks don't
/// touch, and which on PostgreSQL 15 may hold earlier transactions' too, so only a difference
/// tells). Named tables, as `pg_stat_xact_user_tables` reads every table of the database.
async fn changed_rows(txn: &DatabaseTransaction, backend: DbBackend) -> Result<i64, DbErr> {
    let sql = match backend {
        DbBackend::Sqlite => "SELECT total_changes() AS n",
        _ => {
            "SELECT CAST(COALESCE(SUM(pg_stat_get_xact_tuples_inserted(t) \
             + pg_stat_get_xact_tuples_updated(t) + pg_stat_get_xact_tuples_deleted(t)), 0) \
             AS BIGINT) AS n FROM unnest(ARRAY[to_regclass('organizations'), \
             to_regclass('organization_members'), to_regclass('api_keys'), \
             to_regclass('endpoints'), to_regclass('phone_numbers'), to_regclass('events'), \
             to_regclass('settings')]) AS t"
        }
    };
    let row = txn
        .query_one_raw(Statement::from_string(backend, sql))
        .await?
        .ok_or_else(|| DbErr::Custom("no row from a count of changes".to_owned()))?;
    row.try_get("", "n")
}
