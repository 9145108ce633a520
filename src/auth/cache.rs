//! Verified API keys, remembered for at most `CREDENTIAL_TTL` so that a request doesn't ask the
//! database who its key is. Revocation stays immediate: every revocation counts
//! (`api_keys::revocation_count`), and a key remembered under an older count is not trusted —
//! a revocation in this process counts at once, one in another process sharing a PostgreSQL
//! database when its `NOTIFY` arrives.
//!
//! On PostgreSQL, what is remembered is trusted only while this process is known to hear those
//! notices: a connection of its own LISTENs (so it never waits behind requests for the pool),
//! and a heartbeat this process sends itself through the same channel mechanism must have
//! arrived within `HEARING_WINDOW`. A listening connection that drops, or dies silently, stops
//! the trust within that window; after reconnecting, everything remembered before is forgotten.
//! On SQLite, a revocation made by another process (the CLI) takes effect within
//! `CREDENTIAL_TTL`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgListener, PgPoolOptions};
use sea_orm::{DatabaseConnection, DbBackend};

use crate::domain::Actor;
use crate::domain::api_keys::{REVOCATION_CHANNEL, note_revocation, revocation_count};

/// The longest a verified key is trusted without the database.
pub const CREDENTIAL_TTL: Duration = Duration::from_secs(2);
/// Keys remembered at once; the least recently used are forgotten first.
const CAPACITY: u64 = 10_000;
/// How often this process proves to itself that it hears notices.
const HEARTBEAT: Duration = Duration::from_millis(250);
/// How recent that proof must be for remembered keys to be trusted.
const HEARING_WINDOW: Duration = Duration::from_millis(750);
/// The pause before listening again after the connection is lost.
const RECONNECT_AFTER: Duration = Duration::from_millis(200);

pub(super) struct KeyCache {
    /// By the key's hash: the revocation count when it was verified, and its actor.
    entries: moka::sync::Cache<String, (u64, Actor)>,
    /// `None` on SQLite, where there is nothing to hear.
    hearing: Option<Arc<Hearing>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl KeyCache {
    pub(super) fn new(db: &DatabaseConnection) -> Self {
        let mut tasks = Vec::new();
        let hearing = (db.get_database_backend() == DbBackend::Postgres).then(|| {
            let hearing = Arc::new(Hearing::new());
            let pool = db.get_postgres_connection_pool().clone();
            tasks.push(tokio::spawn(listen(pool.clone(), hearing.clone())));
            tasks.push(tokio::spawn(heartbeat(pool, hearing.channel.clone())));
            hearing
        });
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(CREDENTIAL_TTL)
                .build(),
            hearing,
            tasks,
        }
    }

    /// The revocation count to remember a key under, read before the database is asked.
    pub(super) fn count(&self) -> u64 {
        revocation_count()
    }

    fn trusted(&self) -> bool {
        self.hearing.as_ref().is_none_or(|h| h.recent())
    }

    pub(super) fn get(&self, hash: &str) -> Option<Actor> {
        let (count, actor) = self.entries.get(hash)?;
        (count == self.count() && self.trusted()).then_some(actor)
    }

    /// Remembers a key verified when the revocation count was `count`; a revocation since then
    /// may have come too late for that verification to see it.
    pub(super) fn insert(&self, hash: String, count: u64, actor: Actor) {
        if count == self.count() && self.trusted() {
            self.entries.insert(hash, (count, actor));
        }
    }
}

impl Drop for KeyCache {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// When this process last knew it was hearing notices.
struct Hearing {
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

    fn recent(&self) -> bool {
        let last = self.last.load(Ordering::SeqCst);
        let window = u64::try_from(HEARING_WINDOW.as_millis()).unwrap_or(u64::MAX);
        last != 0 && self.now().saturating_sub(last) <= window
    }
}

/// Hears revocations (and this process's heartbeat) on a connection of its own, for as long as
/// the gateway runs, listening again shortly after the connection is lost.
async fn listen(pool: sea_orm::sqlx::PgPool, hearing: Arc<Hearing>) {
    // A pool of one, for the listener alone, so that reconnecting never queues behind requests.
    let own = own_connection(&pool);
    loop {
        if let Ok(mut listener) = PgListener::connect_with(&own).await {
            // Return at once when the connection is lost, rather than after reconnecting.
            listener.eager_reconnect(false);
            let channels = [REVOCATION_CHANNEL, hearing.channel.as_str()];
            if listener.listen_all(channels).await.is_ok() {
                // What was remembered while deaf may have been revoked meanwhile.
                note_revocation();
                hearing.heard();
                while let Ok(Some(notice)) = listener.try_recv().await {
                    if notice.channel() == REVOCATION_CHANNEL {
                        note_revocation();
                    }
                    hearing.heard();
                }
                hearing.deaf();
                tracing::warn!("stopped hearing API key revocations; listening again");
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
