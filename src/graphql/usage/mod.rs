//! Field usage: how often each schema field is resolved (and each argument, input field and
//! enum value given) for each client, counted from each result the operation makes
//! (`count.rs`) — not by an extension of the schema, which would make async-graphql take its
//! slow path for every field of every result — added up in memory and written to the database
//! at most once a flush interval (and once more when the app goes), so every process's counts
//! add up and survive restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::registry::Registry;
use async_graphql::{ObjectType, SubscriptionType, Variables};
use tokio::sync::oneshot;

use crate::db::Db;

mod coordinates;
mod count;
mod deprecations;
mod inputs;
mod typenames;

use coordinates::Coordinates;
pub use deprecations::DEPRECATION;
use deprecations::Deprecations;
pub use typenames::TYPE_KEY;

/// Counts what operations use, for the schema of `Query`, `Mutation` and `Subscription`.
pub struct Usage {
    tally: Arc<Tally>,
    /// The schema's types, as async-graphql registers them.
    registry: Registry,
    coordinates: Coordinates,
    deprecations: Deprecations,
}

impl Usage {
    /// Counts into `tally` what operations on the schema of these roots use.
    pub fn new<Q: ObjectType, M: ObjectType, S: SubscriptionType>(tally: Arc<Tally>) -> Self {
        // What async-graphql's schema builder registers, its own types aside.
        let mut registry = Registry {
            query_type: Q::type_name().into_owned(),
            mutation_type: (!M::is_empty()).then(|| M::type_name().into_owned()),
            subscription_type: (!S::is_empty()).then(|| S::type_name().into_owned()),
            ..Registry::default()
        };
        Q::create_type_info(&mut registry);
        if !M::is_empty() {
            M::create_type_info(&mut registry);
        }
        if !S::is_empty() {
            S::create_type_info(&mut registry);
        }
        Self {
            tally,
            coordinates: Coordinates::of(&registry),
            deprecations: Deprecations::of(&registry),
            registry,
        }
    }

    /// The document to run for `document`: with `__typename` selected wherever the count
    /// needs it (`None`: run it as it is).
    pub fn runnable(&self, document: &ExecutableDocument) -> Option<ExecutableDocument> {
        typenames::with_typenames(&self.coordinates, document)
    }

    /// Counts for `client` what `response`, one result of the operation `operation_type`
    /// whose root selection is `set`, used; when `warn`, tells it of what it used that is
    /// deprecated (`extensions.warnings` and the `Deprecation` header).
    pub fn count(&self, result: Run<'_>, response: &mut async_graphql::Response, warn: bool) {
        let Some(root) = self.coordinates.root(result.operation_type) else {
            return;
        };
        let counts = count::count(
            &self.coordinates,
            &self.registry,
            result.document,
            root,
            result.set,
            &response.data,
            result.variables.filter(|v| !v.is_empty()),
        );
        if counts.is_empty() {
            return;
        }
        if warn && !self.deprecations.is_empty() {
            let mut used: Vec<String> = counts
                .iter()
                .map(|(id, _)| self.coordinates.coordinate(id).to_string())
                .collect();
            used.sort();
            if let Some((warnings, header)) = self.deprecations.answer(&used) {
                response.http_headers.insert(DEPRECATION, header);
                if let Ok(warnings) =
                    async_graphql::Value::from_json(serde_json::Value::Array(warnings))
                {
                    response.extensions.insert("warnings".to_owned(), warnings);
                }
            }
        }
        self.tally.add(
            result.client,
            counts
                .iter()
                .map(|(id, n)| (Arc::clone(self.coordinates.coordinate(id)), n)),
        );
    }
}

/// One result to count: what ran (the document as the client sent it, its operation) and for
/// whom.
pub struct Run<'a> {
    pub document: &'a ExecutableDocument,
    pub operation_type: OperationType,
    /// The operation's root selection.
    pub set: &'a async_graphql::parser::types::SelectionSet,
    pub variables: Option<&'a Variables>,
    pub client: &'a Arc<str>,
}

/// Distinct (field, client) pairs held between writes; pairs beyond it wait for the next
/// write. Fields are the schema's and clients are bounded by `--max-client-names`, so this is
/// only a backstop.
const MAX_PAIRS: usize = 100_000;

/// Counts by (coordinate, client).
type Counts = HashMap<(Arc<str>, Arc<str>), u64, foldhash::fast::RandomState>;

/// The counts not yet written.
#[derive(Default)]
pub struct Tally(Mutex<Counts>);

impl Tally {
    /// Adds one operation's counts for `client`.
    fn add(&self, client: &Arc<str>, counts: impl IntoIterator<Item = (Arc<str>, u64)>) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (coordinate, count) in counts {
            let key = (coordinate, client.clone());
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
            self.add(&client, [(coordinate, count)]);
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
