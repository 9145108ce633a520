//! The database as the app uses it, on SQLite (embedded default) or PostgreSQL: the handle
//! every part reads and writes through (the pool behind its breaker, or a unit of work), the
//! app's signals, write transactions; opening it and migrating in `connect.rs`.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    ConnAcquireErr, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    ExecResult, FromQueryResult, QueryResult, RuntimeErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};
use sea_query_sqlx::SqlxValues;

use tracing::Instrument as _;

use crate::breaker::{Breaker, Permit};
use crate::telemetry::db::statement_span;

/// The embedded default: a SQLite file in the working directory, created when missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://cockpit.db?mode=rwc";

/// How long a request waits for a connection (and a new connection for the server).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

mod connect;

pub use connect::{
    SqliteLocation, connect, connect_existing, connect_options, migrate, sqlite_location,
};
pub use followup::Job;
pub use unit::Unit;

mod followup;
mod unit;

/// Begins a transaction that will write. On SQLite it takes the write lock at `BEGIN`
/// (`IMMEDIATE`): a deferred transaction that reads first and writes later can't wait for
/// the lock (SQLite refuses the upgrade at once, "database is locked"), while an immediate one
/// waits its turn under the busy timeout. PostgreSQL ignores the mode. Within a unit of work
/// it is a savepoint of the unit's transaction.
pub async fn begin_write(db: &Db) -> Result<DatabaseTransaction, DbErr> {
    match db {
        Db::Pool(pool) => pool.guarded(begin_pool_write(&pool.conn)).await,
        Db::Unit(unit) => {
            let guard = unit.txn.lock().await;
            guard.as_ref().ok_or_else(Unit::ended)?.begin().await
        }
    }
}

/// Runs to its end in a task of its own: sqlx counts a PostgreSQL transaction only once the
/// server has answered its `BEGIN`, so a caller that gave up in between (a client hung up, a
/// timeout fired) would hand the connection back to the pool inside a transaction nobody ends,
/// and the statements run on it next would commit or roll back with it. Begun whole, a
/// transaction nobody takes is dropped, which rolls it back.
async fn begin_pool_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let db = db.clone();
    tokio::spawn(async move {
        db.begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await
    })
    .await
    .map_err(|_| DbErr::Custom("the task beginning a transaction ended early".to_owned()))?
}

/// The database as the domain reads and writes it: the pool, or one request's unit of work
/// (a transaction every read and write of the request goes through, so that what it writes
/// and what it answers commit together: see `http::idempotency`).
#[derive(Clone)]
pub enum Db {
    Pool(Pool),
    Unit(Arc<Unit>),
}

/// The pool, and whether it can be reached. A database that hangs (a stalled network, a
/// server that accepts and never answers) would make every request wait the acquire timeout:
/// once one has, the breaker opens and requests are answered at once as unavailable (503)
/// while one at a time probes, after a backoff that doubles up to the acquire timeout.
#[derive(Clone)]
pub struct Pool {
    conn: DatabaseConnection,
    reach: Arc<Breaker>,
    signals: Arc<Signals>,
}

/// What an app's writers tell its own readers as it happens, handed to each part through the
/// app's `Db`: the organizations that committed events (their live subscribers wake) and the
/// revocations made or heard of (remembered keys are checked again). Each `Db` made from a
/// connection has its own, so two apps in one process share none.
pub struct Signals {
    commits: tokio::sync::broadcast::Sender<uuid::Uuid>,
    revocations: std::sync::atomic::AtomicU64,
    /// What numbers committed events on PostgreSQL (`follow_commit`).
    followup: followup::Followup,
}

impl Signals {
    fn new(conn: DatabaseConnection) -> Self {
        Self {
            commits: tokio::sync::broadcast::channel(1024).0,
            revocations: std::sync::atomic::AtomicU64::new(0),
            followup: followup::Followup::new(conn),
        }
    }

    /// `organization_id` committed events.
    pub fn committed(&self, organization_id: uuid::Uuid) {
        // No receiver (no subscription yet) is not an error.
        let _ = self.commits.send(organization_id);
    }

    /// The organizations that commit events from now on.
    pub fn commits(&self) -> tokio::sync::broadcast::Receiver<uuid::Uuid> {
        self.commits.subscribe()
    }

    /// A key was revoked, here or (heard of) by another process.
    pub fn revoked(&self) {
        self.revocations
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Revocations made or heard of so far.
    pub fn revocations(&self) -> u64 {
        self.revocations.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Pool {
    /// Runs `call` (a future not yet polled) if the breaker lets it, and tells the breaker how
    /// it went; answered as a connection not had in time while the breaker is open.
    async fn guarded<T>(&self, call: impl Future<Output = Result<T, DbErr>>) -> Result<T, DbErr> {
        let permit = self
            .reach
            .permit()
            .ok_or(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout))?;
        let result = call.await;
        self.settle(permit, &result);
        result
    }

    fn settle<T>(&self, permit: Permit<'_>, result: &Result<T, DbErr>) {
        match result {
            Err(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)) => {
                let opened = permit.failed();
                if opened.was_up {
                    tracing::warn!(
                        backoff_ms = opened.backoff.as_millis() as u64,
                        "no database connection within the acquire timeout: requests are answered as unavailable until a probe gets one"
                    );
                }
            }
            // Closed, a call's success changes nothing (one lock the fewer per statement).
            _ if self.reach.is_up() => drop(permit),
            _ => {
                permit.succeeded();
                tracing::info!("the database answers again");
            }
        }
    }
}

impl Db {
    /// The pool's connection; `None` for a unit of work.
    pub fn connection(&self) -> Option<&DatabaseConnection> {
        match self {
            Db::Pool(pool) => Some(&pool.conn),
            Db::Unit(_) => None,
        }
    }

    /// A write through this handle has committed a change (to the unit, for a unit of work:
    /// see `Unit::wrote`).
    pub fn changed(&self) {
        if let Db::Unit(unit) = self {
            unit.changed
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Whether this is a unit of work whose writes run alone in their organization.
    pub fn unit_alone(&self) -> bool {
        matches!(self, Db::Unit(unit) if unit.alone)
    }

    /// The signals of the app this `Db` belongs to.
    pub fn signals(&self) -> &Arc<Signals> {
        match self {
            Db::Pool(pool) => &pool.signals,
            Db::Unit(unit) => &unit.signals,
        }
    }

    /// Runs `f` once what has been written through this handle is visible to others: at once
    /// on the pool (call it after the write's transaction has committed), when the unit of
    /// work commits otherwise — and never if it rolls back.
    pub fn after_commit(&self, f: impl FnOnce() + Send + 'static) {
        match self {
            Db::Pool(_) => f(),
            Db::Unit(unit) => unit
                .after_commit
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Box::new(f)),
        }
    }
}

impl From<DatabaseConnection> for Db {
    fn from(conn: DatabaseConnection) -> Self {
        Self::Pool(Pool {
            signals: Arc::new(Signals::new(conn.clone())),
            conn,
            reach: Arc::new(Breaker::new(Duration::from_millis(500), ACQUIRE_TIMEOUT)),
        })
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pool(_) => f.write_str("Db::Pool"),
            Self::Unit(_) => f.write_str("Db::Unit"),
        }
    }
}

macro_rules! through {
    ($db:expr, $conn:ident => $call:expr) => {
        match $db {
            Db::Pool(pool) => {
                let $conn = &pool.conn;
                pool.guarded(async { $call }).await
            }
            Db::Unit(unit) => {
                let guard = unit.txn.lock().await;
                let $conn = guard.as_ref().ok_or_else(Unit::ended)?;
                $call
            }
        }
    };
}

#[async_trait::async_trait]
impl ConnectionTrait for Db {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Db::Pool(pool) => pool.conn.get_database_backend(),
            Db::Unit(unit) => unit.backend,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let span = statement_span(stmt.db_backend, &stmt.sql);
        async { through!(self, conn => conn.execute_raw(stmt).await) }
            .instrument(span)
            .await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        let span = statement_span(self.get_database_backend(), sql);
        async { through!(self, conn => conn.execute_unprepared(sql).await) }
            .instrument(span)
            .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            // Every write of one row on PostgreSQL is one such statement.
            Db::Pool(pool) => pool.first_row(stmt).await,
            Db::Unit(_) => {
                let span = statement_span(stmt.db_backend, &stmt.sql);
                async { through!(self, conn => conn.query_one_raw(stmt).await) }
                    .instrument(span)
                    .await
            }
        }
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let span = statement_span(stmt.db_backend, &stmt.sql);
        async { through!(self, conn => conn.query_all_raw(stmt).await) }
            .instrument(span)
            .await
    }
}

/// The first row of a statement built for `db`'s backend (one kept rendered: see
/// `endpoints::by_id_statement`), mapped to `M`; on the pool without `Db::query_one_raw`'s
/// own boxed future (`async_trait`), costly on the hottest read.
pub async fn query_one<M: FromQueryResult>(
    db: &Db,
    statement: sea_orm::Statement,
) -> Result<Option<M>, DbErr> {
    let row = match db {
        Db::Pool(pool) => pool.first_row(statement).await?,
        Db::Unit(_) => db.query_one_raw(statement).await?,
    };
    row.map(|row| M::from_query_result(&row, "")).transpose()
}

impl Pool {
    /// The first row of `statement`, read through sqlx directly: SeaORM's executor wraps
    /// sqlx's future in two more boxed layers (the backend enum, a tracing span), each a copy
    /// of it. SeaORM's metric callback (unused here) doesn't see these.
    async fn first_row(&self, statement: Statement) -> Result<Option<QueryResult>, DbErr> {
        let span = statement_span(statement.db_backend, &statement.sql);
        self.guarded(fetch_optional(&self.conn, statement))
            .instrument(span)
            .await
    }
}

async fn fetch_optional(
    db: &DatabaseConnection,
    statement: sea_orm::Statement,
) -> Result<Option<QueryResult>, DbErr> {
    let values = SqlxValues(statement.values.unwrap_or(sea_orm::Values(Vec::new())));
    let sql = sea_orm::sqlx::AssertSqlSafe(statement.sql.as_str());
    match db.get_database_backend() {
        DbBackend::Postgres => sea_orm::sqlx::query_with(sql, values)
            .fetch_optional(db.get_postgres_connection_pool())
            .await
            .map(|row| row.map(QueryResult::from)),
        DbBackend::Sqlite => sea_orm::sqlx::query_with(sql, values)
            .fetch_optional(db.get_sqlite_connection_pool())
            .await
            .map(|row| row.map(QueryResult::from)),
        _ => unreachable!("the gateway connects to SQLite or PostgreSQL only"),
    }
    .map_err(sqlx_error)
}

/// An sqlx error as SeaORM's executor reports it.
fn sqlx_error(e: sea_orm::sqlx::Error) -> DbErr {
    match e {
        sea_orm::sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        sea_orm::sqlx::Error::PoolClosed => {
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)
        }
        e => DbErr::Query(RuntimeErr::SqlxError(e.into())),
    }
}

/// The rows of `sql` on PostgreSQL: statements without parameters, sent as one simple query,
/// which PostgreSQL runs as one transaction (a `SET LOCAL` among them holds for the rest of
/// them only).
pub(crate) async fn simple_query(
    conn: &DatabaseConnection,
    sql: &'static str,
) -> Result<Vec<QueryResult>, DbErr> {
    let span = statement_span(DbBackend::Postgres, sql);
    sea_orm::sqlx::raw_sql(sea_orm::sqlx::AssertSqlSafe(sql))
        .fetch_all(conn.get_postgres_connection_pool())
        .instrument(span)
        .await
        .map(|rows| rows.into_iter().map(QueryResult::from).collect())
        .map_err(sqlx_error)
}
