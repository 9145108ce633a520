//! One request's unit of work: a transaction every read and write of the request goes
//! through, committed with what it answers.

use std::sync::Arc;

use sea_orm::{DatabaseTransaction, DbBackend, DbErr};

use super::{Db, Pool, Signals, begin_pool_write};

/// One request's transaction. The domain's own transactions within it are savepoints, and
/// nothing is visible to anyone else until [`Unit::commit`].
pub struct Unit {
    pub(super) txn: tokio::sync::Mutex<Option<DatabaseTransaction>>,
    pub(super) backend: DbBackend,
    /// What is to happen once the unit has committed (`Db::after_commit`).
    pub(super) after_commit: std::sync::Mutex<Vec<Box<dyn FnOnce() + Send>>>,
    /// Whether a write in it has committed (to the unit) a change (see `wrote`).
    pub(super) changed: std::sync::atomic::AtomicBool,
    /// The signals of the `Db` it was begun on.
    pub(super) signals: Arc<Signals>,
    /// Whether its writes run alone in their organization (`Unit::begin`).
    pub(super) alone: bool,
}

impl Unit {
    /// A unit of work on `db`'s pool, holding SQLite's write lock from its start (as
    /// `begin_write`). `alone` when it may write more than once: its writes then take their
    /// organization's lock exclusive (`domain::events::Writes`), since they may lock rows in
    /// an order no single write does.
    pub async fn begin(db: &Db, alone: bool) -> Result<Arc<Self>, DbErr> {
        let Db::Pool(Pool { conn: pool, .. }) = db else {
            return Err(DbErr::Custom(
                "a unit of work begins on the pool, not inside another".to_owned(),
            ));
        };
        let txn = begin_pool_write(pool).await?;
        let backend = pool.get_database_backend();
        Ok(Arc::new(Self {
            backend,
            txn: tokio::sync::Mutex::new(Some(txn)),
            after_commit: std::sync::Mutex::default(),
            changed: std::sync::atomic::AtomicBool::new(false),
            signals: Arc::clone(db.signals()),
            alone,
        }))
    }

    /// Whether a write in the unit has changed something so far (`Db::changed`): a write
    /// refused for its input, a missing object or a stale version changes nothing, nor does a
    /// row it locked or read, nor one whose savepoint rolled back.
    pub fn wrote(&self) -> bool {
        self.changed.load(std::sync::atomic::Ordering::SeqCst)
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
