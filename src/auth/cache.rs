//! Verified API keys, remembered for at most `CREDENTIAL_TTL` so that a request doesn't ask the
//! database who its key is. Revocation stays immediate: every revocation counts
//! (`api_keys::revocation_count`), and a key remembered under an older count is not trusted —
//! a revocation in this process counts at once, one in another process sharing a PostgreSQL
//! database when its `NOTIFY` arrives. While that notice can't be heard (the listening
//! connection is down), nothing is remembered. On SQLite a revocation made by another process
//! (the CLI) takes effect within `CREDENTIAL_TTL`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbBackend};

use crate::domain::Actor;
use crate::domain::api_keys::{REVOCATION_CHANNEL, note_revocation, revocation_count};

/// The longest a verified key is trusted without the database.
pub const CREDENTIAL_TTL: Duration = Duration::from_secs(2);
/// Keys remembered at once; the least recently used are forgotten first.
const CAPACITY: u64 = 10_000;

pub(super) struct KeyCache {
    /// By the key's hash: the revocation count when it was verified, and its actor.
    entries: moka::sync::Cache<String, (u64, Actor)>,
    /// Whether revocations by other processes are heard; nothing is remembered while not.
    hearing: Arc<AtomicBool>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl KeyCache {
    pub(super) fn new(db: &DatabaseConnection) -> Self {
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        let hearing = Arc::new(AtomicBool::new(!postgres));
        let listener = postgres.then(|| {
            let pool = db.get_postgres_connection_pool().clone();
            tokio::spawn(listen(pool, hearing.clone()))
        });
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(CREDENTIAL_TTL)
                .build(),
            hearing,
            listener,
        }
    }

    /// The revocation count to remember a key under, read before the database is asked.
    pub(super) fn count(&self) -> u64 {
        revocation_count()
    }

    pub(super) fn get(&self, hash: &str) -> Option<Actor> {
        let (count, actor) = self.entries.get(hash)?;
        (count == self.count() && self.hearing.load(Ordering::SeqCst)).then_some(actor)
    }

    /// Remembers a key verified when the revocation count was `count`; a revocation since then
    /// may have come too late for that verification to see it.
    pub(super) fn insert(&self, hash: String, count: u64, actor: Actor) {
        if count == self.count() && self.hearing.load(Ordering::SeqCst) {
            self.entries.insert(hash, (count, actor));
        }
    }
}

impl Drop for KeyCache {
    fn drop(&mut self) {
        if let Some(listener) = &self.listener {
            listener.abort();
        }
    }
}

/// Hears the revocations of every process on this PostgreSQL database, for as long as the
/// gateway runs, reconnecting after a second when the connection drops.
async fn listen(pool: sea_orm::sqlx::PgPool, hearing: Arc<AtomicBool>) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        let listener = match PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(REVOCATION_CHANNEL).await {
                Ok(()) => Some(listener),
                Err(_) => None,
            },
            Err(_) => None,
        };
        if let Some(mut listener) = listener {
            // What was remembered while deaf may have been revoked meanwhile.
            note_revocation();
            hearing.store(true, Ordering::SeqCst);
            // `try_recv` gives `None` when the connection is lost; whatever was sent then is
            // lost with it.
            while let Ok(Some(_)) = listener.try_recv().await {
                note_revocation();
            }
            hearing.store(false, Ordering::SeqCst);
            tracing::warn!("stopped hearing API key revocations; reconnecting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
