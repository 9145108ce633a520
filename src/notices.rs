//! What this process hears from the others on one PostgreSQL database: API key revocations
//! (`api_keys::REVOCATION_CHANNEL`), which make remembered keys untrusted, and committed
//! events (`events::CHANNEL`), which wake subscribers. A connection of its own LISTENs (so it
//! never waits behind requests for the pool), and a heartbeat this process sends itself through
//! the same channel mechanism must have arrived within `HEARING_WINDOW` for the process to count
//! as hearing. A listening connection that drops, or dies silently, stops that within the
//! window; after reconnecting, every remembered key is forgotten and every subscriber looks for
//! what it may have missed. Nothing is heard on SQLite: there, the others' changes are found
//! by looking (remembered keys expire, subscribers poll).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
use sea_orm::{DatabaseConnection, DbBackend};

use crate::db::Signals;
use crate::domain::api_keys::REVOCATION_CHANNEL;
use crate::domain::events::{self, Hub};

/// How often this process proves to itself that it hears notices.
const HEARTBEAT: Duration = Duration::from_millis(250);
/// How recent that proof must be for the process to count as hearing.
const HEARING_WINDOW: Duration = Duration::from_millis(750);
/// The pause before listening again after the connection is lost.
const RECONNECT_AFTER: Duration = Duration::from_millis(200);

/// The listener and its heartbeat, for as long as this lives.
pub struct Notices {
    /// `None` on SQLite, where there is nothing to hear.
    pub hearing: Option<Arc<Hearing>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Notices {
    /// What a process on `db` hears; on PostgreSQL it starts listening (call it within the
    /// runtime) and hands event notices to `hub`, once `hub` is given with [`Notices::listen`].
    pub fn new(db: &DatabaseConnection) -> Self {
        let hearing =
            (db.get_database_backend() == DbBackend::Postgres).then(|| Arc::new(Hearing::new()));
        Self {
            hearing,
            tasks: Vec::new(),
        }
    }

    /// Whether notices may be missed right now (always on SQLite).
    pub fn deaf(hearing: Option<&Arc<Hearing>>) -> bool {
        hearing.is_none_or(|h| !h.recent())
    }

    /// Starts listening on PostgreSQL; event notices wake `hub`.
    pub fn listen(&mut self, db: &DatabaseConnection, hub: Arc<Hub>, signals: Arc<Signals>) {
        let Some(hearing) = &self.hearing else {
            return;
        };
        let pool = db.get_postgres_connection_pool().clone();
        self.tasks.push(tokio::spawn(listen(
            pool.clone(),
            hearing.clone(),
            hub,
            signals,
        )));
        self.tasks
            .push(tokio::spawn(heartbeat(pool, hearing.channel.clone())));
    }
}

impl Drop for Notices {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// When this process last knew it was hearing notices.
pub struct Hearing {
    start: Instant,
    /// Milliseconds since `start` of the last proof, plus one (0: never, or deaf since).
    last: AtomicU64,
    /// This process's own heartbeat channel.
    channel: String,
}

impl Hearing {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
            channel: format!("cockpit_heartbeat_{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX) + 1
    }

    fn heard(&self) {
        self.last.store(self.now(), Ordering::SeqCst);
    }

    fn deaf(&self) {
        self.last.store(0, Ordering::SeqCst);
    }

    /// Whether a notice (at least the heartbeat) arrived within the hearing window.
    pub fn recent(&self) -> bool {
        let last = self.last.load(Ordering::SeqCst);
        let window = u64::try_from(HEARING_WINDOW.as_millis()).unwrap_or(u64::MAX);
        last != 0 && self.now().saturating_sub(last) <= window
    }
}

/// Hears revocations, events (and this process's heartbeat) on a connection of its own, for as
/// long as the gateway runs, listening again shortly after the connection is lost.
async fn listen(
    pool: sea_orm::sqlx::PgPool,
    hearing: Arc<Hearing>,
    hub: Arc<Hub>,
    signals: Arc<Signals>,
) {
    // A pool of one, for the listener alone, so that reconnecting never queues behind requests.
    let own = own_connection(&pool);
    loop {
        if let Ok(mut listener) = PgListener::connect_with(&own).await {
            // Return at once when the connection is lost, rather than after reconnecting.
            listener.eager_reconnect(false);
            let channels = [
                REVOCATION_CHANNEL,
                events::CHANNEL,
                hearing.channel.as_str(),
            ];
            if listener.listen_all(channels).await.is_ok() {
                // What was remembered while deaf may have been revoked meanwhile, and events
                // may have been committed unheard.
                signals.revoked();
                hub.wake_all();
                hearing.heard();
                while let Ok(Some(notice)) = listener.try_recv().await {
                    match notice.channel() {
                        REVOCATION_CHANNEL => signals.revoked(),
                        events::CHANNEL => match notice.payload().parse() {
                            Ok(organization) => hub.wake(organization),
                            Err(_) => hub.wake_all(),
                        },
                        _ => {}
                    }
                    hearing.heard();
                }
                hearing.deaf();
                tracing::warn!("stopped hearing other gateway processes; listening again");
            }
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// A pool of one connection to the shared pool's database, opened when first used.
fn own_connection(pool: &sea_orm::sqlx::PgPool) -> sea_orm::sqlx::PgPool {
    PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with((*pool.connect_options()).clone())
}

/// Sends this process's heartbeat; the listener hears it only while its connection really works.
async fn heartbeat(pool: sea_orm::sqlx::PgPool, channel: String) {
    // On a connection of its own: through the shared pool, it would keep every pooled
    // connection from ever sitting idle long enough to be checked before use (`db.rs`).
    let pool = own_connection(&pool);
    let mut ticks = tokio::time::interval(HEARTBEAT);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // A failure shows as a heartbeat not heard: the trust lapses, which is safe.
        let _ = sea_orm::sqlx::query("SELECT pg_notify($1, '')")
            .bind(&channel)
            .execute(&pool)
            .await;
    }
}
