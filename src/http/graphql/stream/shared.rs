//! One render of each event for every subscriber whose result would be the same: what a
//! subscription's selection makes of an event depends on the document, its variables, the
//! organization, and what the caller's role and mode let it read — not on which subscriber
//! asks. Subscribers alike share a [`Shape`], which resolves each event once (the first of them
//! to reach it does, the others wait for that) and hands every one of them a copy; each
//! subscriber's own events (what it may see, where it resumes, what ends it) stay its own.
//! A dashboard fleet of one organization is then one execution per event, not one per tab.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

use async_graphql::Response;
use futures_util::stream::{BoxStream, StreamExt};
use tracing::Instrument as _;
use uuid::Uuid;

use super::super::super::AppState;
use super::super::order;
use super::super::prepare::{Again, Ready};
use super::{EVENT_ID, RENDERED, guard::CHARGE};
use crate::domain::Actor;
use crate::domain::events::live::Delivery;
use crate::graphql::subscription::{Deliveries, Render};
use crate::locks::lock;

/// Renders a shape keeps, newest last: enough for its subscribers to be a little apart in
/// their events; one further behind renders its event again.
const KEEP: usize = 64;

/// What a subscription's result depends on besides its event. Subscribers with equal keys get
/// equal results. The whole document and variables are in it, so a subscription differing in
/// anything shares nothing; so is the client's name, which field usage is counted under.
#[derive(Hash, PartialEq, Eq)]
struct Key {
    text: String,
    operation_name: Option<String>,
    variables: String,
    organization: Uuid,
    role: crate::domain::Role,
    /// The one mode a key is of; `None` for a user, who sees both.
    mode: Option<crate::domain::Mode>,
    api_key: bool,
    client: Arc<str>,
}

impl Key {
    fn of(ready: &Ready, actor: &Actor, client: &Arc<str>) -> Self {
        Self {
            text: ready.request.query.clone(),
            operation_name: ready.operation_name.clone(),
            variables: serde_json::to_string(&ready.request.variables).unwrap_or_default(),
            organization: actor.organization_id,
            role: actor.role,
            mode: actor.fixed_mode(),
            api_key: matches!(actor.credential, crate::domain::Credential::ApiKey { .. }),
            client: Arc::clone(client),
        }
    }
}

/// The shapes subscribers have now, so that a new subscriber joins its equals.
#[derive(Default)]
pub struct Shapes(Mutex<HashMap<Arc<Key>, Weak<Shape>>>);

impl Shapes {
    /// The shape of a subscription `ready` (made by `actor`), shared with its equals.
    pub(super) fn of(&self, ready: &Ready, actor: &Actor, client: Arc<str>) -> Arc<Shape> {
        let key = Key::of(ready, actor, &client);
        let mut shapes = lock(&self.0);
        if let Some(shape) = shapes.get(&key).and_then(Weak::upgrade) {
            return shape;
        }
        // Keys of shapes nobody holds any more go as the map grows.
        if shapes.len() >= 64 && shapes.len().is_power_of_two() {
            shapes.retain(|_, shape| shape.strong_count() > 0);
        }
        let shape = Arc::new(Shape {
            again: ready.again(Arc::clone(&client)),
            renders: Mutex::new(VecDeque::with_capacity(KEEP)),
        });
        shapes.insert(Arc::new(key), Arc::downgrade(&shape));
        shape
    }
}

/// What subscribers alike share: how to run their operation again, and its recent renders.
pub(super) struct Shape {
    again: Again,
    /// By the delivery rendered: a live event is one delivery for all its subscribers, while
    /// a subscriber catching up reads its own, rendered afresh (its objects as they are now,
    /// not as they were when the event was live). Kept here, a delivery's address names no
    /// other.
    renders: Mutex<VecDeque<(Arc<Delivery>, RenderOnce)>>,
}

/// A delivery's render, made by the first subscriber to reach it.
type RenderOnce = Arc<tokio::sync::OnceCell<Rendered>>;

/// An event's result, as every subscriber of a shape gets it, and what it costs each.
struct Rendered {
    /// The result, its `data` taken out into `data`.
    response: Response,
    /// Its `data` as JSON text (a `Value::Binary`), written once for every subscriber.
    data: async_graphql::Value,
    points: u64,
}

impl Rendered {
    fn new(mut response: Response) -> Self {
        let points = super::super::cost::returned_objects(&response.data);
        let data = std::mem::take(&mut response.data);
        let json = serde_json::to_vec(&data).unwrap_or_else(|_| b"null".to_vec());
        Self {
            response,
            data: async_graphql::Value::Binary(json.into()),
            points,
        }
    }

    /// A subscriber's copy (`Response` has no `Clone`): all a streaming transport sends, its
    /// data the one JSON text (`RENDERED`) rather than a copy of the tree each.
    fn copy(&self) -> Response {
        let mut response =
            Response::new(async_graphql::Value::Null).cache_control(self.response.cache_control);
        response.errors.clone_from(&self.response.errors);
        response.extensions.clone_from(&self.response.extensions);
        response
            .extensions
            .insert(RENDERED.to_owned(), self.data.clone());
        response
    }
}

impl Shape {
    /// The result of `delivery` for this shape, rendered once.
    async fn render(&self, state: &AppState, delivery: &Arc<Delivery>) -> Response {
        let cell = {
            let mut renders = lock(&self.renders);
            match renders
                .iter()
                .rev()
                .find(|(rendered, _)| Arc::ptr_eq(rendered, delivery))
            {
                Some((_, cell)) => Arc::clone(cell),
                None => {
                    let cell = Arc::default();
                    if renders.len() == KEEP {
                        renders.pop_front();
                    }
                    renders.push_back((Arc::clone(delivery), Arc::clone(&cell)));
                    cell
                }
            }
        };
        // The first subscriber's run is boxed: the future of every other one, made for each
        // event and moved into place, stays a few words rather than the size of a run.
        let rendered = cell
            .get_or_init(|| {
                Box::pin(async {
                    state.metrics.subscription_renders.inc();
                    Rendered::new(self.run(state, Ok(Arc::clone(delivery))).await)
                })
            })
            .await;
        let mut response = rendered.copy();
        // What it costs, counted once: the guard charges it without counting again.
        response.extensions.insert(
            CHARGE.to_owned(),
            async_graphql::Value::from(rendered.points),
        );
        response
    }

    /// Runs the operation for one event (or ending), as its subscription would resolve it.
    async fn run(
        &self,
        state: &AppState,
        item: Result<Arc<Delivery>, crate::domain::events::live::Ending>,
    ) -> Response {
        let rerun = self.again.rerun(state);
        let request = rerun.request.data(Render(item));
        let mut response = state
            .schema_for_validated
            .execute_stream(request)
            .next()
            .await
            .unwrap_or_default();
        order::finish(&state.usage, &mut response, self.again.ran(false));
        response
    }
}

/// A subscriber's results: its own `deliveries`, each rendered once for its shape; the event's
/// cursor in `EVENT_ID` when `tagged`. Each delivery is a span of `subscription`'s.
pub(super) fn results(
    state: AppState,
    shape: Arc<Shape>,
    deliveries: Deliveries,
    subscription: tracing::Span,
    tagged: bool,
) -> BoxStream<'static, Response> {
    deliveries
        .then(move |item| {
            let (state, shape, subscription) =
                (state.clone(), Arc::clone(&shape), subscription.clone());
            async move {
                let delivery = match item {
                    Ok(delivery) => delivery,
                    // An ending is this subscriber's alone.
                    Err(ending) => return Box::pin(shape.run(&state, Err(ending))).await,
                };
                let span = if subscription.is_disabled() {
                    tracing::Span::none()
                } else {
                    delivery.event.delivery_span(&subscription)
                };
                let mut response = shape.render(&state, &delivery).instrument(span).await;
                state.metrics.subscription_deliveries.inc();
                if tagged {
                    let cursor = state.services.cursors.of(&delivery.event);
                    response
                        .extensions
                        .insert(EVENT_ID.to_owned(), async_graphql::Value::from(cursor));
                }
                response
            }
        })
        .boxed()
}
