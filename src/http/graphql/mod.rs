//! GraphQL on `/graphql`, one pipeline for every transport: each reads its request into an
//! `Operation` and hands it to `run` (`run.rs`: the stages in `prepare/`, then the one executor,
//! `run_ready`; a subscription through `stream/`). The `Outcome` goes out in the transport's
//! terms: plain HTTP (`handlers.rs`, `delivery.rs`, `batch.rs`, keyed requests in `keyed.rs`),
//! server-sent events (`sse.rs`), Apollo's multipart subscriptions (`multipart.rs`), WebSocket
//! (`ws/`).

use std::net::IpAddr;

use axum::http::{Extensions, StatusCode};
use futures_util::stream::BoxStream;

use super::auth::Presented;
use super::client::ClientApp;
use super::error::ApiError;
use super::media::{Media, Negotiated};
use crate::graphql::subscription::ResumeAfter;

mod answer;
mod batch;
mod cost;
mod delivery;
mod documents;
mod handlers;
mod keyed;
mod multipart;
mod order;
mod params;
mod prepare;
mod run;
mod slots;
mod sse;
mod stream;
mod streamed;
mod ws;

use answer::Answer;
pub use cost::BYTES_PER_COST_POINT;
pub use documents::{ParsedDocument, ParsedDocuments};
pub use handlers::{get, post};
use params::Params;
use prepare::Ready;
use run::{execute, run, run_ready};
pub use slots::{RedisSlots, SlotStore, SlotsReleased, SubscriptionSlots};
pub use stream::{Rechecks, Shapes};

/// How one operation arrived: by GET or POST, the media type it is answered in, and how many
/// bytes of the request are its share (the document, its variables and extensions alike are
/// read before anything runs, so their size sets the cost floor).
#[derive(Debug, Clone, Copy)]
struct Arrival {
    via_get: bool,
    media: Media,
    request_bytes: usize,
    /// Whether a subscription may run: over a transport that streams results (WebSocket,
    /// server-sent events), or over plain HTTP for a client that accepts an event stream, which
    /// the subscription is then answered with. Otherwise subscriptions are refused.
    streaming: bool,
    /// Whether only a subscription can be answered: the client takes multipart alone.
    subscriptions_only: bool,
    /// Whether a live query (`@live`) streams its results: over WebSocket, or over plain HTTP
    /// for a client that prefers an event stream to JSON. Otherwise it is answered once.
    live: bool,
}

impl Arrival {
    /// How a plain HTTP request arrived, as its `Accept` negotiated.
    fn over_http(
        via_get: bool,
        media: Media,
        request_bytes: usize,
        negotiated: Negotiated,
    ) -> Self {
        Self {
            via_get,
            media,
            request_bytes,
            // A subscription has no JSON answer: it streams whenever the client takes a
            // stream at all.
            streaming: negotiated.streams(),
            subscriptions_only: negotiated.subscriptions_only(),
            live: negotiated.stream == super::media::Stream::Preferred,
        }
    }
}

/// Who sends an operation: what it presents of who it is (read once, from headers or a
/// WebSocket's `connection_init`), its address, the name and version the client gives itself
/// (a label, never trusted), and whether it asked the same way for each field's cost
/// (`Cockpit-GraphQL-Cost-Debug`).
#[derive(Debug, Clone)]
pub(super) struct Caller {
    presented: Presented,
    client: Option<IpAddr>,
    pub(super) app: ClientApp,
    cost_debug: bool,
}

/// One operation as any transport hands it over: what it asks, who asks, how it arrived, and
/// what a subscription of it is to do.
struct Operation {
    params: Params,
    caller: Caller,
    arrival: Arrival,
    streams: Streams,
}

/// What a transport asks of a subscription beyond the operation itself.
struct Streams {
    /// The event to resume after (SSE's `Last-Event-ID`); `Err` when the client named no
    /// cursor there, which refuses a subscription and nothing else.
    resume: Result<Option<ResumeAfter>, ApiError>,
    /// Whether each result names the event it delivers (`stream::EVENT_ID`), for a transport
    /// that names its messages by it.
    tagged: bool,
    /// Whether a subscription over plain HTTP is answered as Apollo's multipart subscriptions
    /// rather than an event stream.
    multipart: bool,
    /// Whether the transport takes each result as it is made and writes it to its client
    /// itself, cutting a client that stops reading (WebSocket, `sent_directly`): the results
    /// are then made on the connection's own task rather than a task of their own.
    direct: bool,
    /// The places among the operations starting at once that it holds (WebSocket: its
    /// connection's and the process's), given back once a subscription has started, or once
    /// any other operation is ready to run (`run`).
    starting: Vec<tokio::sync::OwnedSemaphorePermit>,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            resume: Ok(None),
            tagged: false,
            multipart: false,
            direct: false,
            starting: Vec::new(),
        }
    }
}

/// What running an operation comes to, for each transport to deliver in its own terms.
enum Outcome {
    /// One answer and its HTTP status: an executed query or mutation, a request error (a
    /// document that failed validation, variables that failed coercion), the APQ protocol's
    /// answers.
    Answered(StatusCode, Answer),
    /// A subscription's results, each paid for as it is delivered (`stream::subscribe`).
    Streaming(BoxStream<'static, async_graphql::Response>),
}

/// The name the client gives itself, as `ops::observe` read it from the request's headers.
fn client_app(extensions: &Extensions) -> ClientApp {
    extensions.get::<ClientApp>().cloned().unwrap_or_default()
}

/// The client's address, when the server was started with connection info.
fn client_ip(extensions: &Extensions) -> Option<IpAddr> {
    extensions.get::<super::ClientAddr>().map(|c| c.0)
}
