//! A subscriber's stream: the events of its feed it may see, replayed from where it resumes,
//! then live, and its end when its access is taken away (a key revoked, a member removed or
//! demoted below what it selects needs).

use super::*;

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
    /// Retention deleted events after the place it resumes from, of a mode it reads: it can't
    /// go on without missing them.
    Expired,
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
fn ends(watch: &Watch, access: Access, event: &Event) -> Option<Ending> {
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
            let role = event
                .after
                .as_ref()
                .and_then(|after| after["role"].as_str())
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
        && super::super::ensure_can_read_log(&watch.actor).is_ok()
        && super::super::ensure_can_read_log(&now).is_err()
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
    /// The watermarks of the events it reads, and the place it resumed from (its cursor,
    /// before any clamping to the last event there is): a catch-up read is only good when
    /// retention deleted nothing it would read after where it is.
    expiry: super::super::Expiry,
    resumed: i64,
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

    /// The events after `position` from the table, a batch at most; `None` when retention
    /// deleted some it would read. The watermarks are read after the events: one raised since
    /// by a sweep that deleted none of these yet only ends a subscription whose place is
    /// already past retention; one raised before is never missed.
    async fn read_missed(&self) -> Result<Option<Vec<Event>>, DomainError> {
        let org = self.watch.actor.organization_id;
        let events = after(&self.feeds, org, self.position).await?;
        let place = self.position.max(self.resumed);
        let expired = {
            let _permit = self.feeds.reads.acquire().await;
            self.expiry.expired(&self.feeds.db, place).await?
        };
        Ok((!expired).then_some(events))
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
                match self.read_missed().await {
                    Ok(None) => Err(Ending::Expired),
                    Ok(Some(events)) => {
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
    let last = super::super::last_seq(&hub.feeds.db, org).await?;
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
    let watch_after_none = watch.after.is_none();
    let expiry = super::super::Expiry::of(&watch.actor, &watch.types);
    let resumed = watch.after.unwrap_or(last);
    let reader = Reader {
        expiry,
        resumed,
        feeds: hub.feeds.clone(),
        watch,
        access,
        receiver,
        position,
        pending: VecDeque::new(),
        // One that resumes nowhere has nothing in the table to read: what commits after `last`
        // comes in batches its receiver, joined before `last` was read, takes (a batch it has
        // part of is skipped as far as `last`). So a fleet subscribing at once, while changes
        // are made, doesn't read the table once each.
        caught_up: watch_after_none,
        ending,
        done: false,
    };
    // Boxed: the reader goes in and out of each step's future, a pointer rather than the
    // whole reader moved each time.
    Ok(futures_util::stream::unfold(
        Box::new(reader),
        |mut reader| async move {
            let item = reader.next().await?;
            Some((item, reader))
        },
    ))
}
