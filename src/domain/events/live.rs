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

use super::visible;
use crate::db::Db;
use crate::domain::endpoints::Endpoint;
use crate::domain::{Actor, Credential, DomainError};
use entity::phone_number;

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
    pub event: event::Model,
    endpoint: tokio::sync::OnceCell<Option<Endpoint>>,
    phone_number: tokio::sync::OnceCell<Option<phone_number::Model>>,
}

impl Delivery {
    pub fn new(event: event::Model) -> Arc<Self> {
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
    ) -> Result<Option<phone_number::Model>, DomainError> {
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
                        .await?,
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while the map was held leaves it consistent (each change is one insert or
    // remove), so a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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

/// The organization's events after `seq`, oldest first, a batch at most.
async fn after(feeds: &Feeds, org: Uuid, seq: i64) -> Result<Vec<event::Model>, DomainError> {
    let _permit = feeds.reads.acquire().await;
    let db = &feeds.db;
    Ok(event::Entity::find()
        .filter(Column::OrganizationId.eq(org))
        .filter(Column::Seq.gt(seq))
        .order_by_asc(Column::Seq)
        .limit(READ_BATCH)
        .all(db)
        .await?)
}

/// What a subscriber asks for.
#[derive(Debug, Clone)]
pub struct Watch {
    pub actor: Actor,
    /// The event types it wants (those it can't read are never sent).
    pub types: Vec<EventType>,
    /// Only changes of these objects, when given.
    pub object_ids: Option<Vec<Uuid>>,
    /// Continue after this place (`seq`) in the organization's events; `None` starts with what
    /// commits from now on.
    pub after: Option<i64>,
    /// Whether it delivers the audit log's events whole (owners' and admins'), so that losing
    /// that role ends it.
    pub reads_log: bool,
}

/// Why a subscription ended before its client ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It fell behind by more than its buffer.
    TooSlow,
    /// Its API key was revoked.
    KeyRevoked,
    /// Its user was removed from the organization.
    MemberRemoved,
    /// Its user's role no longer lets it read the audit log it delivers.
    Demoted,
}

/// The subscriber's access as the database has it once replay's starting point is known:
/// every access change committed up to `verified` is already in it, so only those after
/// `verified` (in commit order) can take it away. A user's access is one membership: a
/// removal or role change of an earlier membership (before they were added back) is history.
#[derive(Debug, Clone, Copy)]
struct Access {
    verified: i64,
    /// The user's membership now (`None` for an API key).
    membership: Option<Uuid>,
}

/// Whether `event`, judged by `access`, takes away what the subscription needs.
fn ends(watch: &Watch, access: Access, event: &event::Model) -> Option<Ending> {
    match (&watch.actor.credential, event.r#type) {
        // A revoked key stays revoked, wherever its revocation is in the history.
        (Credential::ApiKey { key_id, .. }, EventType::ApiKeyRevoked)
            if event.object_id == *key_id =>
        {
            Some(Ending::KeyRevoked)
        }
        (Credential::User { .. }, EventType::MemberDeleted)
            if Some(event.object_id) == access.membership =>
        {
            Some(Ending::MemberRemoved)
        }
        (Credential::User { .. }, EventType::MemberUpdated)
            if Some(event.object_id) == access.membership && event.seq > access.verified =>
        {
            let role = event.data["after"]["role"]
                .as_str()
                .and_then(|r| Role::try_from_value(&r.to_owned()).ok());
            // A role the event doesn't name (never written so) is judged as the least one.
            demoted(watch, role.unwrap_or(Role::Viewer)).then_some(Ending::Demoted)
        }
        _ => None,
    }
}

/// Whether a user acting with `role` lost what `watch` delivers: the audit log's events.
fn demoted(watch: &Watch, role: Role) -> bool {
    let now = Actor {
        role,
        ..watch.actor.clone()
    };
    watch.reads_log
        && super::ensure_can_read_log(&watch.actor).is_ok()
        && super::ensure_can_read_log(&now).is_err()
}

/// The subscriber's access, read after the organization's last event `verified`, or the
/// ending of a subscriber that lost what it needs since it was authenticated.
async fn access_now(
    db: &Db,
    watch: &Watch,
    verified: i64,
) -> Result<Result<Access, Ending>, DomainError> {
    let membership = match &watch.actor.credential {
        Credential::ApiKey { .. } => None,
        Credential::User { user_id } => {
            match crate::domain::members::find(db, watch.actor.organization_id, user_id).await? {
                None => return Ok(Err(Ending::MemberRemoved)),
                Some(member) if demoted(watch, member.role) => return Ok(Err(Ending::Demoted)),
                Some(member) => Some(member.id),
            }
        }
    };
    Ok(Ok(Access {
        verified,
        membership,
    }))
}

struct Reader {
    feeds: Feeds,
    watch: Watch,
    access: Access,
    receiver: broadcast::Receiver<Arc<Batch>>,
    /// The organization's last event this reader has passed (sent, or not for it).
    position: i64,
    pending: VecDeque<Arc<Delivery>>,
    caught_up: bool,
    /// Why it ends before it reads anything.
    ending: Option<Ending>,
    done: bool,
}

impl Reader {
    /// Takes the events after `position`; `Err` when one of them ends the subscription.
    fn take<'a>(
        &mut self,
        deliveries: impl Iterator<Item = &'a Arc<Delivery>>,
    ) -> Result<(), Ending> {
        for delivery in deliveries {
            let event = &delivery.event;
            if event.seq <= self.position {
                continue;
            }
            self.position = event.seq;
            if let Some(ending) = ends(&self.watch, self.access, event) {
                return Err(ending);
            }
            let wanted = visible(&self.watch.actor, event)
                && self.watch.types.contains(&event.r#type)
                && self
                    .watch
                    .object_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&event.object_id));
            if wanted {
                self.pending.push_back(delivery.clone());
            }
        }
        Ok(())
    }

    async fn next(&mut self) -> Option<Result<Arc<Delivery>, Ending>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(ending) = self.ending.take() {
                self.done = true;
                return Some(Err(ending));
            }
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            let taken = if self.caught_up {
                match self.receiver.recv().await {
                    Ok(batch) if batch.prev > self.position => {
                        // Events between are in no batch this reader has: read them.
                        self.caught_up = false;
                        Ok(())
                    }
                    Ok(batch) => self.take(batch.events.iter()),
                    Err(broadcast::error::RecvError::Lagged(_)) => Err(Ending::TooSlow),
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            } else {
                // Batches sent before this read hold nothing the table doesn't: the receiver
                // starts anew, so that only falling behind live events counts as too slow.
                // Whatever commits after the read starts is broadcast after this.
                self.receiver = self.receiver.resubscribe();
                match after(&self.feeds, self.watch.actor.organization_id, self.position).await {
                    Ok(events) => {
                        self.caught_up = (events.len() as u64) < READ_BATCH;
                        let events: Vec<Arc<Delivery>> =
                            events.into_iter().map(Delivery::new).collect();
                        self.take(events.iter())
                    }
                    Err(err) => {
                        tracing::warn!(error = %err.log_description(), "a subscriber could not read the events it missed");
                        tokio::time::sleep(POLL_EVERY).await;
                        Ok(())
                    }
                }
            };
            if let Err(ending) = taken {
                self.done = true;
                self.pending.clear();
                return Some(Err(ending));
            }
        }
    }
}

/// The events `watch` asks for, in order: first those after `watch.after` from the table,
/// then live ones, each once. Ends with `Err` when the subscriber is too slow or loses its
/// credential. `watch.after` is a place in the organization's events (its cursor says so).
pub async fn subscribe(
    hub: &Hub,
    watch: Watch,
) -> Result<impl Stream<Item = Result<Arc<Delivery>, Ending>> + Send + use<>, DomainError> {
    let org = watch.actor.organization_id;
    let receiver = hub.join(org).await?;
    let last = super::last_seq(&hub.feeds.db, org).await?;
    // A cursor the gateway made for this organization past its last event names events that
    // are gone (retention deleted every one): nothing is missed after the last there is.
    let position = watch.after.map_or(last, |after| after.min(last));
    // Read after `last`: a change of access committed since is after `last` too, and is
    // judged when the reader reaches it.
    let (access, ending) = match access_now(&hub.feeds.db, &watch, last).await? {
        Ok(access) => (access, None),
        Err(ending) => (
            Access {
                verified: last,
                membership: None,
            },
            Some(ending),
        ),
    };
    let reader = Reader {
        feeds: hub.feeds.clone(),
        watch,
        access,
        receiver,
        position,
        pending: VecDeque::new(),
        caught_up: false,
        ending,
        done: false,
    };
    Ok(futures_util::stream::unfold(
        reader,
        |mut reader| async move {
            let item = reader.next().await?;
            Some((item, reader))
        },
    ))
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::domain::Mode;
    use crate::domain::{api_keys, members, organizations};

    /// A migrated SQLite database in a folder of its own (kept while the test runs).
    async fn database() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/live.db?mode=rwc", dir.path().display());
        let db = crate::db::connect(&url).await.expect("connect");
        crate::db::migrate(&db).await.expect("migrate");
        (db.into(), dir)
    }

    fn actor(organization_id: Uuid) -> Actor {
        Actor {
            organization_id,
            role: Role::Owner,
            credential: Credential::User {
                user_id: "watcher".to_owned(),
            },
            request_id: None,
            expires_at: None,
        }
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_its_buffer_is_ended_as_too_slow() {
        let (db, _dir) = database().await;
        let hub = Hub::new(db.clone(), 1, || false);
        let org = organizations::create(&db, "Slow").await.expect("org");
        members::upsert(&db, org.id, "watcher", Role::Owner)
            .await
            .expect("member");
        let watch = Watch {
            actor: actor(org.id),
            types: vec![EventType::ApiKeyCreated],
            object_ids: None,
            after: None,
            reads_log: true,
        };
        let mut stream = Box::pin(subscribe(&hub, watch).await.expect("subscribe"));
        // Caught up (nothing yet), then one live event taken.
        api_keys::create(&db, org.id, Mode::Test, "one")
            .await
            .expect("key");
        let first = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(matches!(first, Ok(Some(Ok(_)))), "{first:?}");
        // Three commits, three batches, while the subscriber reads nothing: more than its
        // buffer of one.
        for name in ["two", "three", "four"] {
            api_keys::create(&db, org.id, Mode::Test, name)
                .await
                .expect("key");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let next = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(matches!(next, Ok(Some(Err(Ending::TooSlow)))), "{next:?}");
        let after = tokio::time::timeout(Duration::from_secs(1), stream.next()).await;
        assert!(matches!(after, Ok(None)), "it ends there: {after:?}");
    }

    #[tokio::test]
    async fn what_committed_while_a_subscriber_caught_up_is_not_taken_for_falling_behind() {
        let (db, _dir) = database().await;
        let hub = Hub::new(db.clone(), 1, || false);
        let org = organizations::create(&db, "Busy").await.expect("org");
        members::upsert(&db, org.id, "watcher", Role::Owner)
            .await
            .expect("member");
        // An event to continue after, then more than a buffer's worth before anyone reads.
        api_keys::create(&db, org.id, Mode::Test, "zero")
            .await
            .expect("key");
        let start = super::super::last_seq(&db, org.id).await.expect("seq");
        let watch = Watch {
            actor: actor(org.id),
            types: vec![EventType::ApiKeyCreated],
            object_ids: None,
            after: Some(start),
            reads_log: true,
        };
        let mut stream = Box::pin(subscribe(&hub, watch).await.expect("subscribe"));
        for name in ["one", "two", "three"] {
            api_keys::create(&db, org.id, Mode::Test, name)
                .await
                .expect("key");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The table has them all: every one arrives, in order, and the stream stays open.
        let mut names = Vec::new();
        for _ in 0..3 {
            let item = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
            let Ok(Some(Ok(event))) = item else {
                panic!("expected an event, got {item:?}");
            };
            names.push(
                event.event.data["after"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        assert_eq!(names, ["one", "two", "three"]);
        api_keys::create(&db, org.id, Mode::Test, "live")
            .await
            .expect("key");
        let live = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
        assert!(matches!(live, Ok(Some(Ok(_)))), "{live:?}");
    }
}
