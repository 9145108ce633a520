//! Field usage: how often each schema field is resolved (and each argument, input field and
//! enum value given) for each client, counted by an extension of the schema (`extension.rs`),
//! added up in memory and written to the database at most once a flush interval (and once
//! more when the app goes), so every process's counts add up and survive restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::db::Db;

mod deprecations;
mod extension;
mod inputs;

pub use deprecations::DEPRECATION;
pub use extension::FieldUsageExtension;

/// Distinct (field, client) pairs held between writes; pairs beyond it wait for the next
/// write. Fields are the schema's and clients are bounded by `--max-client-names`, so this is
/// only a backstop.
const MAX_PAIRS: usize = 100_000;

/// The client an operation is counted for: its name as the metrics label it.
#[derive(Debug, Clone)]
pub struct UsageClient(pub Arc<str>);

/// Counts by (coordinate, client).
type Counts = HashMap<(Arc<str>, Arc<str>), u64>;

/// The counts not yet written.
#[derive(Default)]
pub struct Tally(Mutex<Counts>);

impl Tally {
    /// Adds one operation's counts for `client`.
    fn add(&self, client: &Arc<str>, counts: impl IntoIterator<Item = (String, u64)>) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (coordinate, count) in counts {
            let key = (Arc::from(coordinate), client.clone());
            if let Some(total) = all.get_mut(&key) {
                *total = total.saturating_add(count);
            } else if all.len() < MAX_PAIRS {
                all.insert(key, count);
            }
        }
    }

    /// Takes every count, leaving none.
    fn take(&self) -> Counts {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts back counts a write failed to store, for the next one.
    fn restore(&self, counts: Counts) {
        for ((coordinate, client), count) in counts {
            self.add(&client, [(coordinate.to_string(), count)]);
        }
    }

    /// Writes every count to today's rows; on failure they are kept for the next write.
    pub async fn flush(&self, db: &Db) {
        let counts = self.take();
        if counts.is_empty() {
            return;
        }
        let day = chrono::Utc::now().date_naive();
        let rows: Vec<(&str, &str, u64)> = counts
            .iter()
            .map(|((coordinate, client), count)| (&**coordinate, &**client, *count))
            .collect();
        if let Err(err) = crate::domain::usage::add(db, day, &rows).await {
            tracing::warn!(error = %err.log_description(), "could not write field usage; trying again at the next write");
            drop(rows);
            self.restore(counts);
        }
    }
}

/// Writes the tally every `every`, and once more when dropped (the app going away). Dropping
/// it only asks for the last write; [`UsageWritten`] tells when it is done.
pub struct Flusher {
    _stop: oneshot::Sender<()>,
}

/// Resolves once the last write of field usage is done (or can't be).
pub struct UsageWritten(oneshot::Receiver<()>);

impl UsageWritten {
    /// Waits for the last write, at most `limit`.
    pub async fn wait(self, limit: Duration) {
        if tokio::time::timeout(limit, self.0).await.is_err() {
            tracing::warn!("field usage was not written before the shutdown's end");
        }
    }
}

impl Flusher {
    pub fn start(db: Db, tally: Arc<Tally>, every: Duration) -> (Self, UsageWritten) {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let (done, written) = oneshot::channel();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => tally.flush(&db).await,
                    // Sent never: the sender dropped is the signal.
                    _ = &mut stopped => break,
                }
            }
            tally.flush(&db).await;
            let _ = done.send(());
        });
        (Self { _stop: stop }, UsageWritten(written))
    }
}

#[cfg(test)]
mod tests;
