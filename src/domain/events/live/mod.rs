//! Live events: one feed per organization that has subscribers in this process, fed from the
//! events table, and the subscriber streams that read it.
//!
//! A pump wakes when an organization commits events — in this process (its `db::Signals`),
//! or in another one (its `NOTIFY`, handed over with [`Hub::wake`]) — and, as a safety net,
//! every second when notices may have been missed (SQLite, or PostgreSQL while the listener is
//! deaf). It reads what the organization committed after the last event it read, once for
//! every subscriber, and broadcasts it as a batch that names the event before it. A subscriber
//! first reads what it missed from the table, then takes batches, skipping what it has; a
//! batch that starts after a gap sends it back to the table. So a subscriber sees every event
//! once, in order, however notices arrive. A subscriber that falls `capacity` batches behind
//! is ended as too slow; nobody else waits for it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entity::enums::{EventType, Role};
use entity::event::{self, Column};
use futures_util::Stream;
use sea_orm::{ActiveEnum as _, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use super::{Event, visible};
use crate::db::Db;
use crate::domain::endpoints::Endpoint;
use crate::domain::phone_numbers::PhoneNumber;
use crate::domain::{Actor, Credential, DomainError};
use crate::locks::lock;
use entity::phone_number;

mod subscriber;

pub use subscriber::{Ending, Watch, subscribe};

/// Events read from the table at once, by the pump and by a subscriber catching up.
const READ_BATCH: u64 = 200;
/// How often the pump looks for events whose notice it may have missed.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// Subscription reads of the database at once, in this process (catching up, reading an
/// object as it is now): however many subscribers replay history, most of the pool stays
/// for requests.
const CONCURRENT_READS: usize = 4;

/// An event on its way to subscribers, with the object it is about as it is now, read once
/// for all of them.
#[derive(Debug)]
pub struct Delivery {
    pub event: Event,
    endpoint: tokio::sync::OnceCell<Option<Endpoint>>,
    phone_number: tokio::sync::OnceCell<Option<PhoneNumber>>,
}

impl Delivery {
    pub fn new(event: Event) -> Arc<Self> {
        Arc::new(Self {
            event,
            endpoint: tokio::sync::OnceCell::new(),
            phone_number: tokio::sync::OnceCell::new(),
        })
    }
}

/// Events an organization committed after `prev` (and none between), in order.
#[derive(Debug)]
pub struct Batch {
    pub prev: i64,
    pub events: Vec<Arc<Delivery>>,
}

struct Feed {
    sender: broadcast::Sender<Arc<Batch>>,
    /// The last event read for this feed.
    last: i64,
}

#[derive(Clone)]
struct Feeds {
    db: Db,
    map: Arc<Mutex<HashMap<Uuid, Feed>>>,
    capacity: usize,
    reads: Arc<tokio::sync::Semaphore>,
}

/// This process's live events.
pub struct Hub {
    feeds: Feeds,
    wake: mpsc::UnboundedSender<Wake>,
    pump: tokio::task::JoinHandle<()>,
}

enum Wake {
    Organization(Uuid),
    All,
}

impl Hub {
    /// Starts the pump (call within the runtime). `deaf` says whether notices from other
    /// processes may be missed right now, so that the pump polls.
    pub fn new(db: Db, capacity: usize, deaf: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        let feeds = Feeds {
            db,
            map: Arc::default(),
            capacity: capacity.max(1),
            reads: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_READS)),
        };
        let (wake, woken) = mpsc::unbounded_channel();
        let pump = tokio::spawn(pump(feeds.clone(), woken, Box::new(deaf)));
        Self { feeds, wake, pump }
    }

    /// Another process committed events of `organization_id` (its notice arrived).
    pub fn wake(&self, organization_id: Uuid) {
        let _ = self.wake.send(Wake::Organization(organization_id));
    }

    /// Notices may have been missed (the listener reconnected): look at every feed.
    pub fn wake_all(&self) {
        let _ = self.wake.send(Wake::All);
    }

    /// The endpoint `delivery` is about, as it is now (`None` once deleted): read once for
    /// every subscriber it goes to. The event's visibility was checked, and the endpoint is
    /// of its organization and mode.
    pub async fn endpoint_now(&self, delivery: &Delivery) -> Result<Option<Endpoint>, DomainError> {
        let found = delivery
            .endpoint
            .get_or_try_init(|| async {
                let _permit = self.feeds.reads.acquire().await;
                let model = entity::endpoint::Entity::find_by_id(delivery.event.object_id)
                    .filter(
                        entity::endpoint::Column::OrganizationId.eq(delivery.event.organization_id),
                    )
                    .one(&self.feeds.db)
                    .await?;
                model.map(Endpoint::try_from).transpose()
            })
            .await?;
        Ok(found.clone())
    }

    /// The phone number `delivery` is about, as it is now (`None` once removed), read once.
    pub async fn phone_number_now(
        &self,
        delivery: &Delivery,
    ) -> Result<Option<PhoneNumber>, DomainError> {
        let found = delivery
            .phone_number
            .get_or_try_init(|| async {
                let _permit = self.feeds.reads.acquire().await;
                Ok::<_, DomainError>(
                    phone_number::Entity::find_by_id(delivery.event.object_id)
                        .filter(
                            phone_number::Column::OrganizationId.eq(delivery.event.organization_id),
                        )
                        .one(&self.feeds.db)
                        .await?
                        .map(PhoneNumber::from),
                )
            })
            .await?;
        Ok(found.clone())
    }

    /// How many subscribers are reading live events in this process.
    pub fn subscribers(&self) -> usize {
        lock(&self.feeds.map)
            .values()
            .map(|f| f.sender.receiver_count())
            .sum()
    }

    /// A receiver of the organization's batches, opening its feed if it has none.
    async fn join(
        &self,
        organization_id: Uuid,
    ) -> Result<broadcast::Receiver<Arc<Batch>>, DomainError> {
        if let Some(feed) = lock(&self.feeds.map).get(&organization_id) {
            return Ok(feed.sender.subscribe());
        }
        // Read before the feed exists: what commits meanwhile comes after `last`, and the
        // pump reads it at its next wake.
        let last = super::last_seq(&self.feeds.db, organization_id).await?;
        let mut map = lock(&self.feeds.map);
        let feed = map.entry(organization_id).or_insert_with(|| Feed {
            sender: broadcast::channel(self.feeds.capacity).0,
            last,
        });
        Ok(feed.sender.subscribe())
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.pump.abort();
    }
}

async fn pump(
    feeds: Feeds,
    mut woken: mpsc::UnboundedReceiver<Wake>,
    deaf: Box<dyn Fn() -> bool + Send + Sync>,
) {
    let mut commits = feeds.db.signals().commits();
    let mut poll = tokio::time::interval(POLL_EVERY);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut due: Vec<Uuid> = Vec::new();
        let mut all = false;
        tokio::select! {
            commit = commits.recv() => match commit {
                Ok(org) => due.push(org),
                // Commits came faster than the pump read them: look at every feed.
                Err(broadcast::error::RecvError::Lagged(_)) => all = true,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            wake = woken.recv() => match wake {
                Some(Wake::Organization(org)) => due.push(org),
                Some(Wake::All) => all = true,
                None => return,
            },
            _ = poll.tick() => all = deaf(),
        }
        // Everything else already waiting is served in the same pass.
        while let Ok(org) = commits.try_recv() {
            due.push(org);
        }
        while let Ok(wake) = woken.try_recv() {
            match wake {
                Wake::Organization(org) => due.push(org),
                Wake::All => all = true,
            }
        }
        let orgs: Vec<Uuid> = {
            let mut map = lock(&feeds.map);
            // A feed nobody reads any more is closed.
            map.retain(|_, feed| feed.sender.receiver_count() > 0);
            if all {
                map.keys().copied().collect()
            } else {
                due.sort_unstable();
                due.dedup();
                due.into_iter()
                    .filter(|org| map.contains_key(org))
                    .collect()
            }
        };
        for org in orgs {
            if let Err(err) = feed(&feeds, org).await {
                tracing::warn!(error = %err.log_description(), "could not read new events; trying again at the next wake");
            }
        }
    }
}

/// Reads what `org` committed after its feed's last event and broadcasts it.
async fn feed(feeds: &Feeds, org: Uuid) -> Result<(), DomainError> {
    loop {
        let Some(last) = lock(&feeds.map).get(&org).map(|f| f.last) else {
            return Ok(());
        };
        let events = after(feeds, org, last).await?;
        let Some(newest) = events.last().map(|e| e.seq) else {
            return Ok(());
        };
        let full = events.len() as u64 == READ_BATCH;
        let batch = Arc::new(Batch {
            prev: last,
            events: events.into_iter().map(Delivery::new).collect(),
        });
        if let Err(err) = read_objects(feeds, org, &batch.events).await {
            // Each render reads its object itself instead.
            tracing::warn!(error = %err.log_description(), "could not read the objects of new events");
        }
        if let Some(feed) = lock(&feeds.map).get_mut(&org) {
            feed.last = newest;
            // No receiver left is not an error: the feed closes at the next pass.
            let _ = feed.sender.send(batch);
        }
        if !full {
            return Ok(());
        }
    }
}

/// Reads the objects `deliveries` are about as they are now (endpoints and phone numbers, one
/// query each for the batch), before they are broadcast. A render would read each when it
/// first needs it, and meanwhile every subscriber that reached the event would wait for that
/// read and be woken again after it — ten thousand connections' tasks polled twice for each
/// event. Read here, a render runs to its end at once, and one query serves a whole batch.
async fn read_objects(
    feeds: &Feeds,
    org: Uuid,
    deliveries: &[Arc<Delivery>],
) -> Result<(), DomainError> {
    let of = |types: &'static [EventType]| {
        deliveries
            .iter()
            .filter(move |d| types.contains(&d.event.r#type))
    };
    let wanted = |types: &'static [EventType]| -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = of(types).map(|d| d.event.object_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let endpoints = wanted(&super::ENDPOINT_TYPES);
    if !endpoints.is_empty() {
        let found: HashMap<Uuid, Endpoint> = {
            let _permit = feeds.reads.acquire().await;
            entity::endpoint::Entity::find()
                .filter(entity::endpoint::Column::Id.is_in(endpoints))
                .filter(entity::endpoint::Column::OrganizationId.eq(org))
                .all(&feeds.db)
                .await?
        }
        .into_iter()
        .map(|model| Ok((model.id, Endpoint::try_from(model)?)))
        .collect::<Result<_, DomainError>>()?;
        for delivery in of(&super::ENDPOINT_TYPES) {
            let _ = delivery
                .endpoint
                .set(found.get(&delivery.event.object_id).cloned());
        }
    }
    let numbers = wanted(&super::PHONE_NUMBER_TYPES);
    if !numbers.is_empty() {
        let found: HashMap<Uuid, PhoneNumber> = {
            let _permit = feeds.reads.acquire().await;
            phone_number::Entity::find()
                .filter(phone_number::Column::Id.is_in(numbers))
                .filter(phone_number::Column::OrganizationId.eq(org))
                .all(&feeds.db)
                .await?
        }
        .into_iter()
        .map(|model| (model.id, PhoneNumber::from(model)))
        .collect();
        for delivery in of(&super::PHONE_NUMBER_TYPES) {
            let _ = delivery
                .phone_number
                .set(found.get(&delivery.event.object_id).cloned());
        }
    }
    Ok(())
}

/// The organization's events after `seq`, oldest first, a batch at most.
async fn after(feeds: &Feeds, org: Uuid, seq: i64) -> Result<Vec<Event>, DomainError> {
    let _permit = feeds.reads.acquire().await;
    let db = &feeds.db;
    let rows = event::Entity::find()
        .filter(Column::OrganizationId.eq(org))
        .filter(Column::Seq.gt(seq))
        .order_by_asc(Column::Seq)
        .limit(READ_BATCH)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(Event::from).collect())
}

#[cfg(test)]
mod tests;
