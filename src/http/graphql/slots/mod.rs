//! Subscription slots: how many subscriptions each credential holds open across every gateway
//! process — in Redis when one is configured, else in the database — and the slot each one
//! holds, given back when it ends however it ends (its `Slot` dropped).
//!
//! A slot is a lease: its process renews its slots every third of `lease`, so a process that
//! dies without giving its slots back leaves them counted for at most `lease` (30 s by
//! default). A process that stops serving gives back all it holds, before its database
//! connections close ([`SlotsReleased`]). Slots ended together (a burst of disconnects, a
//! shutdown) are given back together, a statement for many.

mod database;
mod redis;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use uuid::Uuid;

use crate::db::Db;
use crate::locks::lock;

pub use self::redis::RedisSlots;

/// Where the slots of every process are counted.
pub enum SlotStore {
    /// The `subscription_slots` table.
    Database(Db),
    /// Redis sorted sets, one per credential (when Redis is down, each process counts its own).
    Redis(RedisSlots),
}

/// Open subscriptions per credential (its rate-limit bucket), across processes.
pub struct SubscriptionSlots {
    shared: Arc<Shared>,
    pub(super) max: usize,
    /// Dropped with the app: the renewer gives back this process's slots and stops.
    _stop: oneshot::Sender<()>,
}

struct Shared {
    /// This process, as its leases name it.
    process: Uuid,
    store: SlotStore,
    lease: Duration,
    /// The slots this process holds: id → bucket.
    held: Mutex<HashMap<Uuid, String>>,
    /// Slots ended and not yet given back in the store, which the renewer gives back.
    ended: Mutex<Vec<(Uuid, String)>>,
    ending: tokio::sync::Notify,
    /// Taken around each of this process's writes to the slots table, one at a time: a burst
    /// of subscriptions waits here, holding no pooled connection, rather than in the
    /// database's write lock holding every one (SQLite lets one writer in at a time; the
    /// others would hold connections the rest of the gateway needs while they wait).
    writes: tokio::sync::Mutex<()>,
    /// Slots asked for of the database and not yet taken: whoever next holds `writes` takes
    /// them all, a transaction for each credential's.
    waiting: Mutex<Vec<Waiting>>,
}

/// A slot asked for of the database, and where its answer goes.
struct Waiting {
    id: Uuid,
    bucket: String,
    max: usize,
    answer: oneshot::Sender<Result<bool, crate::domain::DomainError>>,
}

/// Slots taken in one statement at most (each row binds four values).
const OPEN_AT_ONCE: usize = 500;

/// A subscription's place among its credential's (its bucket is in `held`); given back when
/// dropped.
pub(super) struct Slot {
    shared: Arc<Shared>,
    id: Uuid,
}

impl SubscriptionSlots {
    /// At most `max` (at least 1) per credential, counted in `store`, each a lease of `lease`
    /// renewed while its subscription runs. Call within the runtime.
    pub fn new(max: usize, store: SlotStore, lease: Duration) -> (Self, SlotsReleased) {
        let lease = lease.max(Duration::from_secs(1));
        let shared = Arc::new(Shared {
            process: Uuid::now_v7(),
            store,
            lease,
            held: Mutex::default(),
            ended: Mutex::default(),
            ending: tokio::sync::Notify::new(),
            writes: tokio::sync::Mutex::new(()),
            waiting: Mutex::default(),
        });
        let shared_for_renewer = Arc::clone(&shared);
        let (stop, stopped) = oneshot::channel();
        let (done, released) = oneshot::channel();
        tokio::spawn(async move {
            renew(shared_for_renewer, stopped).await;
            let _ = done.send(());
        });
        (
            Self {
                shared,
                max: max.max(1),
                _stop: stop,
            },
            SlotsReleased(released),
        )
    }

    /// A slot for one more subscription of `bucket`, unless it holds all it may in every
    /// process together; `Err` when the database can't say. Taken in a task of its own: a
    /// caller that gives up halfway (its client gone, its subscription stopped) leaves no
    /// slot taken in the store and unknown to the process, which would be renewed for as long
    /// as the process lives; one taken for nobody is given back at once.
    pub(super) async fn open(
        &self,
        bucket: &str,
    ) -> Result<Option<Slot>, crate::domain::DomainError> {
        let (shared, bucket, max) = (Arc::clone(&self.shared), bucket.to_owned(), self.max);
        tokio::spawn(async move { Shared::open(&shared, &bucket, max).await })
            .await
            .map_err(|_| {
                crate::domain::DomainError::Corrupt("taking a subscription slot failed".to_owned())
            })?
    }

    /// Subscriptions open in this process.
    pub fn total(&self) -> usize {
        self.shared.held().len()
    }
}

impl Shared {
    async fn open(
        shared: &Arc<Self>,
        bucket: &str,
        max: usize,
    ) -> Result<Option<Slot>, crate::domain::DomainError> {
        let id = Uuid::now_v7();
        let taken = match &shared.store {
            SlotStore::Database(db) => {
                let (answer, answered) = oneshot::channel();
                lock(&shared.waiting).push(Waiting {
                    id,
                    bucket: bucket.to_owned(),
                    max,
                    answer,
                });
                let mut answered = std::pin::pin!(answered);
                // Answered while in line for the writes, by a holder that took this one with
                // its own, it leaves the line: were it to stay, each of a batch's askers would
                // in turn hold the writes for whoever asked since, a transaction each.
                let answer = tokio::select! {
                    biased;
                    answer = &mut answered => answer,
                    one_at_a_time = shared.writes.lock() => {
                        // Empty when a holder before took this one with its own.
                        let waiting = std::mem::take(&mut *lock(&shared.waiting));
                        shared.open_waiting(db, waiting).await;
                        drop(one_at_a_time);
                        answered.await
                    }
                };
                answer.map_err(|_| {
                    crate::domain::DomainError::Corrupt(
                        "taking a subscription slot failed".to_owned(),
                    )
                })??
            }
            SlotStore::Redis(redis) => match redis.open(id, bucket, max, shared.lease).await {
                Some(taken) => taken,
                // Redis can't say: this process counts its own meanwhile.
                None => shared.held_by(bucket) < max,
            },
        };
        if !taken {
            return Ok(None);
        }
        shared.held().insert(id, bucket.to_owned());
        Ok(Some(Slot {
            shared: Arc::clone(shared),
            id,
        }))
    }

    /// Takes the slots `waiting` asked for, each credential's together (in the order asked),
    /// and answers each. A batch the database refuses is taken one by one, so that each
    /// asker gets its own answer (and error).
    async fn open_waiting(&self, db: &Db, mut waiting: Vec<Waiting>) {
        while !waiting.is_empty() {
            let (bucket, max) = (waiting[0].bucket.clone(), waiting[0].max);
            let (mut same, rest): (Vec<_>, Vec<_>) = waiting
                .into_iter()
                .partition(|w| w.bucket == bucket && w.max == max);
            waiting = rest;
            while !same.is_empty() {
                let batch: Vec<Waiting> = same.drain(..same.len().min(OPEN_AT_ONCE)).collect();
                let ids: Vec<Uuid> = batch.iter().map(|w| w.id).collect();
                let opened =
                    database::open_many(db, self.process, &ids, &bucket, max, self.lease).await;
                let answers = match opened {
                    Ok(taken) => (0..batch.len()).map(|n| Ok(n < taken)).collect(),
                    Err(_) => {
                        let mut answers = Vec::with_capacity(batch.len());
                        for w in &batch {
                            answers.push(
                                database::open(db, self.process, w.id, &bucket, max, self.lease)
                                    .await,
                            );
                        }
                        answers
                    }
                };
                for (w, answer) in batch.into_iter().zip(answers) {
                    // The asker's task is spawned and waits for its answer.
                    let _ = w.answer.send(answer);
                }
            }
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, String>> {
        lock(&self.held)
    }

    fn held_by(&self, bucket: &str) -> usize {
        self.held().values().filter(|b| *b == bucket).count()
    }

    /// Gives back in the store the slots ended since the last call.
    async fn release_ended(&self) {
        let ended = std::mem::take(&mut *lock(&self.ended));
        if ended.is_empty() {
            return;
        }
        let released = match &self.store {
            SlotStore::Database(db) => {
                let ids: Vec<Uuid> = ended.iter().map(|(id, _)| *id).collect();
                let _one_at_a_time = self.writes.lock().await;
                database::release(db, &ids).await
            }
            SlotStore::Redis(redis) => {
                redis.release(&ended).await;
                Ok(())
            }
        };
        if let Err(err) = released {
            tracing::warn!(error = %err.log_description(), count = ended.len(), "could not give back subscription slots; their leases end them");
        }
    }
}

impl Drop for Slot {
    /// Counted free in this process at once; given back in the store by the renewer.
    fn drop(&mut self) {
        let Some(bucket) = self.shared.held().remove(&self.id) else {
            return;
        };
        lock(&self.shared.ended).push((self.id, bucket));
        self.shared.ending.notify_one();
    }
}

/// Resolves once a stopped app's slots are given back (or can't be).
pub struct SlotsReleased(oneshot::Receiver<()>);

impl SlotsReleased {
    /// Waits for it, at most `limit`.
    pub async fn wait(self, limit: Duration) {
        if tokio::time::timeout(limit, self.0).await.is_err() {
            tracing::warn!(
                "subscription slots were not given back before the shutdown's end; their leases end them"
            );
        }
    }
}

/// Renews this process's leases every third of a lease until the app goes, then gives back
/// every slot it still holds.
async fn renew(shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let every = shared.lease / 3;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shared.ending.notified() => {
                shared.release_ended().await;
                continue;
            }
            // Sent never: the sender dropped is the signal.
            _ = &mut stopped => break,
        }
        let renewed = match &shared.store {
            SlotStore::Database(db) => {
                let _one_at_a_time = shared.writes.lock().await;
                database::renew(db, shared.process, shared.lease).await
            }
            SlotStore::Redis(redis) => {
                let held: Vec<(Uuid, String)> = shared
                    .held()
                    .iter()
                    .map(|(id, bucket)| (*id, bucket.clone()))
                    .collect();
                redis.renew(&held, shared.lease).await;
                Ok(())
            }
        };
        if let Err(err) = renewed {
            tracing::warn!(error = %err.log_description(), "could not renew subscription slots; trying again shortly");
        }
    }
    let held: Vec<(Uuid, String)> = shared.held().drain().collect();
    match &shared.store {
        SlotStore::Database(db) => {
            let _one_at_a_time = shared.writes.lock().await;
            if let Err(err) = database::release_process(db, shared.process).await {
                tracing::warn!(error = %err.log_description(), "could not give back this process's subscription slots; their leases end them");
            }
        }
        SlotStore::Redis(redis) => {
            shared.release_ended().await;
            redis.release(&held).await;
        }
    }
}
