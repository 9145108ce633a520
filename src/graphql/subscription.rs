//! Live events: `endpointEvents` and `phoneNumberEvents`, each event as it is committed, and
//! first those after `after` that the subscriber missed. Run over WebSocket or server-sent
//! events (`http::graphql::stream`); the transport checks the credential while it runs.

use std::sync::Arc;

use crate::domain::EventType as Stored;
use crate::domain::events::{ENDPOINT_TYPES, PHONE_NUMBER_TYPES};
use async_graphql::{Context, ID, InputObject, Object, Subscription};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use uuid::Uuid;

use crate::code::Code;
use crate::domain::DomainError;
use crate::domain::events;
use crate::domain::events::live::{self, Delivery, Ending, Watch};
use crate::domain::ids::{self, Kind};
use crate::graphql::Services;
use crate::graphql::error::{IntoGql, actor, coded};
use crate::graphql::types::{Endpoint, Event, EventType, PhoneNumber};

/// The most objects one subscription may name.
const MAX_IDS: usize = 100;

#[derive(Default)]
pub struct Subscription;

/// Which endpoint events a subscription receives.
#[derive(InputObject, Default)]
pub struct EndpointEventFilter {
    /// ENDPOINT_CREATED, ENDPOINT_UPDATED and/or ENDPOINT_DELETED (all three when left out).
    pub types: Option<Vec<EventType>>,
    /// Only events of these endpoints (at most 100).
    pub endpoint_ids: Option<Vec<Uuid>>,
}

/// Which phone-number events a subscription receives.
#[derive(InputObject, Default)]
pub struct PhoneNumberEventFilter {
    /// PHONE_NUMBER_CREATED, _ATTACHED, _DETACHED and/or _DELETED (all four when left out).
    pub types: Option<Vec<EventType>>,
    /// Only events of these numbers (at most 100).
    pub phone_number_ids: Option<Vec<Uuid>>,
}

/// Where a reconnecting client left off (server-sent events' `Last-Event-ID`, a cursor of
/// well-formed shape): it takes the place of the subscription's `after`.
#[derive(Clone)]
pub struct ResumeAfter(pub String);

/// The stored types a subscription asks for: `asked`, each of them one of `allowed` (all of
/// `allowed` when left out).
fn types_of(
    asked: Option<Vec<EventType>>,
    allowed: &[Stored],
    what: &str,
) -> async_graphql::Result<Vec<Stored>> {
    let Some(asked) = asked else {
        return Ok(allowed.to_vec());
    };
    let asked: Vec<Stored> = asked.into_iter().map(Into::into).collect();
    if asked.is_empty() || asked.iter().any(|t| !allowed.contains(t)) {
        return Err(coded(
            format!("`filter.types` lists {what} event types only (at least one)"),
            Code::BadUserInput,
        ));
    }
    Ok(asked)
}

fn ids_of(ids: Option<Vec<Uuid>>, field: &str) -> async_graphql::Result<Option<Vec<Uuid>>> {
    match ids {
        Some(ids) if ids.len() > MAX_IDS => Err(coded(
            format!("`filter.{field}` names at most {MAX_IDS} objects"),
            Code::BadUserInput,
        )),
        other => Ok(other),
    }
}

/// The watch a subscription runs, from its arguments and the request.
fn watch_of(
    ctx: &Context<'_>,
    types: Vec<Stored>,
    object_ids: Option<Vec<Uuid>>,
    after: Option<String>,
) -> async_graphql::Result<Watch> {
    let actor = actor(ctx)?.clone();
    let cursors = &ctx.data::<Services>()?.cursors;
    let org = actor.organization_id;
    let after = match (ctx.data_opt::<ResumeAfter>(), after) {
        (Some(resume), _) => Some(cursors.decode(org, &resume.0, "`Last-Event-ID`").gql()?),
        (None, Some(after)) => Some(cursors.decode(org, &after, "`after`").gql()?),
        (None, None) => None,
    };
    Ok(Watch {
        actor,
        types,
        object_ids,
        after,
        reads_log: ctx.look_ahead().field("event").exists(),
    })
}

/// What a subscriber's stream of events is: each delivery, or the ending that is its last.
pub type Deliveries = BoxStream<'static, Result<Arc<Delivery>, Ending>>;

/// Where a subscription hands its events over instead of yielding them for async-graphql to
/// resolve for it alone: the transport then renders each event once for every subscriber
/// whose result would be the same (`http::graphql::stream::shared`). Taken by the first
/// subscription field that starts; the span is the subscription's.
#[derive(Clone, Default)]
pub struct Handoff(Arc<std::sync::Mutex<Option<(Deliveries, tracing::Span)>>>);

impl Handoff {
    /// The events handed over, once the subscription started and its arguments were good.
    pub fn take(&self) -> Option<(Deliveries, tracing::Span)> {
        self.0.lock().ok().and_then(|mut handed| handed.take())
    }

    fn put(&self, deliveries: Deliveries) {
        if let Ok(mut handed) = self.0.lock() {
            *handed = Some((deliveries, tracing::Span::current()));
        }
    }
}

/// One event (or ending) to resolve the subscription's selection for, instead of subscribing:
/// a render shared by the subscribers whose result it is.
#[derive(Clone)]
pub struct Render(pub Result<Arc<Delivery>, Ending>);

/// The one item a render resolves, given as `wrap` makes it.
fn rendered<T: Send + 'static>(
    render: &Render,
    wrap: fn(Arc<Delivery>) -> T,
) -> BoxStream<'static, async_graphql::Result<T>> {
    let item = render.0.clone().map(wrap).map_err(ended);
    futures_util::stream::once(async move { item }).boxed()
}

/// Starts the events `watch` asks for and hands them over to the transport's [`Handoff`],
/// which renders each (see `Render`); the stream async-graphql resolves is empty. Every
/// transport's request carries a handoff.
async fn run<T: Send + 'static>(
    ctx: &Context<'_>,
    watch: Watch,
) -> async_graphql::Result<BoxStream<'static, async_graphql::Result<T>>> {
    let Some(handoff) = ctx.data_opt::<Handoff>() else {
        return Err(coded(
            "A subscription runs through the gateway's streaming transports.",
            Code::InternalServerError,
        ));
    };
    let services = ctx.data::<Services>()?;
    let stream = live::subscribe(&services.hub, watch).await.gql()?;
    handoff.put(stream.boxed());
    Ok(futures_util::stream::empty().boxed())
}

fn ended(ending: Ending) -> async_graphql::Error {
    match ending {
        Ending::TooSlow => coded(
            "The subscription fell too far behind its events and was ended; subscribe again with `after` set to the `cursor` of the last event received.",
            Code::SlowConsumer,
        ),
        Ending::KeyRevoked => coded(
            "The API key of this subscription was revoked.",
            Code::Unauthenticated,
        ),
        Ending::MemberRemoved => coded(
            "You were removed from the organization of this subscription.",
            Code::Forbidden,
        ),
        Ending::Expired => coded(
            "The events after this cursor are older than the retention period and were deleted: resuming from it would miss them. Read the current state again (a query), then subscribe again without `after` (or `Last-Event-ID`).",
            Code::EventsExpired,
        ),
        Ending::Demoted => coded(
            "Your role changed and no longer lets you read the audit log this subscription selects (`event`); subscribe again without it, or ask an owner or admin.",
            Code::Forbidden,
        ),
    }
}

#[Subscription]
impl Subscription {
    /// Every change of the caller's endpoints (its organization and the modes it sees), as it
    /// is committed by any gateway process. With `after` (an event's `cursor`), first every
    /// event after it that the subscriber missed, then live ones: none twice, none lost.
    async fn endpoint_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EndpointEventFilter>,
        #[graphql(desc = "The `cursor` of the last event received: continue after it.")]
        after: Option<String>,
    ) -> async_graphql::Result<BoxStream<'static, async_graphql::Result<EndpointEvent>>> {
        if let Some(render) = ctx.data_opt::<Render>() {
            return Ok(rendered(render, EndpointEvent));
        }
        let filter = filter.unwrap_or_default();
        let types = types_of(filter.types, &ENDPOINT_TYPES, "endpoint")?;
        let ids = ids_of(filter.endpoint_ids, "endpointIds")?;
        let watch = watch_of(ctx, types, ids, after)?;
        run(ctx, watch).await
    }

    /// Every change of the caller's phone numbers, as `endpointEvents` gives endpoints'.
    async fn phone_number_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<PhoneNumberEventFilter>,
        #[graphql(desc = "The `cursor` of the last event received: continue after it.")]
        after: Option<String>,
    ) -> async_graphql::Result<BoxStream<'static, async_graphql::Result<PhoneNumberEvent>>> {
        if let Some(render) = ctx.data_opt::<Render>() {
            return Ok(rendered(render, PhoneNumberEvent));
        }
        let filter = filter.unwrap_or_default();
        let types = types_of(filter.types, &PHONE_NUMBER_TYPES, "phone number")?;
        let ids = ids_of(filter.phone_number_ids, "phoneNumberIds")?;
        let watch = watch_of(ctx, types, ids, after)?;
        run(ctx, watch).await
    }
}

/// The whole event, for those who may read the audit log (owners' and admins' sessions, API
/// keys); for anyone else (members' and viewers' sessions) null, with a FORBIDDEN error: who
/// made a change and what it was are the audit log's.
fn audited(ctx: &Context<'_>, delivery: &Delivery) -> Option<Event> {
    let allowed = actor(ctx)
        .map_err(|_| DomainError::Unauthenticated("Authentication required".to_owned()))
        .and_then(events::ensure_can_read_log);
    crate::graphql::error::null_on_error(ctx, allowed).map(|()| Event(delivery.event.clone()))
}

/// The `cursor` of the event `event`: its place in its organization's events.
fn cursor_of(ctx: &Context<'_>, event: &events::Event) -> async_graphql::Result<String> {
    Ok(ctx.data::<Services>()?.cursors.of(event))
}

/// A change of an endpoint, as a subscription delivers it: not the event record itself
/// (`event`), so its `id` is its own.
pub struct EndpointEvent(pub Arc<Delivery>);

#[Object]
impl EndpointEvent {
    /// This delivery's id (the same each time its event is delivered; not the event's `id`).
    pub async fn id(&self) -> ID {
        crate::graphql::global_id::of(ids::retag(self.0.event.id, Kind::EndpointEvent))
    }
    /// The event's place in its organization's events: pass it as `after` (or, over
    /// server-sent events, `Last-Event-ID`) to continue after it.
    async fn cursor(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        cursor_of(ctx, &self.0.event)
    }
    async fn r#type(&self) -> EventType {
        self.0.event.r#type.into()
    }
    async fn endpoint_id(&self) -> ID {
        crate::graphql::global_id::of(self.0.event.object_id)
    }
    /// The endpoint as it is now (not as it was at the event); null once it is deleted.
    async fn endpoint(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Endpoint>> {
        let hub = &ctx.data::<Services>()?.hub;
        Ok(hub.endpoint_now(&self.0).await.gql()?.map(Endpoint))
    }
    /// The whole event: who made the change, when, and the fields it changed. Null, with a
    /// FORBIDDEN error, for members and viewers, who may not read the audit log.
    async fn event(&self, ctx: &Context<'_>) -> Option<Event> {
        audited(ctx, &self.0)
    }
}

/// A change of a phone number, as a subscription delivers it.
pub struct PhoneNumberEvent(pub Arc<Delivery>);

#[Object]
impl PhoneNumberEvent {
    /// This delivery's id (the same each time its event is delivered; not the event's `id`).
    pub async fn id(&self) -> ID {
        crate::graphql::global_id::of(ids::retag(self.0.event.id, Kind::PhoneNumberEvent))
    }
    /// The event's place in its organization's events, as `EndpointEvent.cursor`.
    async fn cursor(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        cursor_of(ctx, &self.0.event)
    }
    async fn r#type(&self) -> EventType {
        self.0.event.r#type.into()
    }
    async fn phone_number_id(&self) -> ID {
        crate::graphql::global_id::of(self.0.event.object_id)
    }
    /// The number as it is now; null once it is removed.
    async fn phone_number(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<PhoneNumber>> {
        let hub = &ctx.data::<Services>()?.hub;
        Ok(hub.phone_number_now(&self.0).await.gql()?.map(Into::into))
    }
    /// The whole event, as `EndpointEvent.event` gives it.
    async fn event(&self, ctx: &Context<'_>) -> Option<Event> {
        audited(ctx, &self.0)
    }
}
