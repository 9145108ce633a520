//! Verified API keys, remembered for at most `CREDENTIAL_TTL` so that a request doesn't ask the
//! database who its key is. Revocation stays immediate: every revocation counts
//! (`db::Signals::revocations`), and a key remembered under an older count is not trusted —
//! a revocation in this process counts at once, one in another process sharing a PostgreSQL
//! database when its `NOTIFY` arrives.
//!
//! On PostgreSQL, what is remembered is trusted only while this process is known to hear those
//! notices (`crate::notices`). On SQLite, a revocation made by another process (the CLI) takes
//! effect within `CREDENTIAL_TTL`.

use std::sync::Arc;
use std::time::Duration;

use crate::db::Signals;
use crate::domain::Actor;
use crate::notices::Hearing;

/// The longest a verified key is trusted without the database.
pub const CREDENTIAL_TTL: Duration = Duration::from_secs(2);
/// Keys remembered at once; the least recently used are forgotten first.
const CAPACITY: u64 = 10_000;

pub(super) struct KeyCache {
    /// By the key's hash: the revocation count when it was verified, and its actor.
    entries: moka::sync::Cache<String, (u64, Actor)>,
    /// `None` on SQLite, where there is nothing to hear.
    hearing: Option<Arc<Hearing>>,
    /// The app's signals, which count its revocations.
    signals: Arc<Signals>,
}

impl KeyCache {
    pub(super) fn new(hearing: Option<Arc<Hearing>>, signals: Arc<Signals>) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(CREDENTIAL_TTL)
                .build(),
            hearing,
            signals,
        }
    }

    /// The revocation count to remember a key under, read before the database is asked.
    pub(super) fn count(&self) -> u64 {
        self.signals.revocations()
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
