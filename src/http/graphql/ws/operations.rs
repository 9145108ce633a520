//! Each operation of a WebSocket read into the transport's one `Operation` and run through the
//! same pipeline as over HTTP, its outcome streamed back as async-graphql responses.

use std::sync::Arc;

use async_graphql::{Data, Executor, Response};
use axum::extract::ws::Message;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tracing::Instrument as _;

use super::super::super::AppState;
use super::super::super::error::ApiError;
use super::super::super::media::Media;
use super::super::params::Params;
use super::super::{Arrival, Operation, Streams, stream as streaming};
use super::{Connection, DOCUMENT_ID, OPERATION_ID};

#[derive(Clone)]
pub(super) struct Operations {
    pub(super) state: AppState,
    pub(super) connection: Arc<Connection>,
    /// The connection's queue to its socket, which a shared render's results go to directly.
    pub(super) outgoing: mpsc::Sender<Message>,
    /// Told when the writer takes messages off that queue.
    pub(super) drained: Arc<tokio::sync::Notify>,
    /// graphql-transport-ws rather than the legacy protocol.
    pub(super) transport_ws: bool,
}

impl Executor for Operations {
    async fn execute(&self, request: async_graphql::Request) -> Response {
        // async-graphql's WebSocket runs every operation as a stream.
        self.execute_stream(request, None)
            .next()
            .await
            .unwrap_or_default()
    }

    fn execute_stream(
        &self,
        request: async_graphql::Request,
        _session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let Some(caller) = self.connection.caller.get().cloned() else {
            // `Gate` lets no operation through before `connection_init` is accepted.
            return stream::empty().boxed();
        };
        let metrics = &self.state.metrics;
        metrics.record_client(metrics.client_label(caller.app.name.as_deref()));
        let variables = serde_json::to_value(&request.variables).unwrap_or(Value::Null);
        let extensions = serde_json::to_value(&request.extensions).unwrap_or(Value::Null);
        let request_bytes = request.query.len() + variables.to_string().len();
        let mut extensions = match extensions {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        let operation_id = match extensions.remove(OPERATION_ID) {
            Some(Value::String(id)) => Some(id),
            _ => None,
        };
        let document_id = match extensions.remove(DOCUMENT_ID) {
            Some(Value::String(id)) => Some(id),
            _ => None,
        };
        let params = Params {
            // graphql-ws sends a hash-only persisted query with an empty `query`.
            query: Some(request.query).filter(|q| !q.is_empty()),
            document_id,
            operation_name: request.operation_name,
            variables: match variables {
                Value::Object(map) => map,
                _ => serde_json::Map::new(),
            },
            extensions,
            // A stream ticket is for an EventSource's GET, never a WebSocket.
            ticket: None,
        };
        let arrival = Arrival {
            via_get: false,
            media: Media::Json,
            request_bytes,
            streaming: true,
            subscriptions_only: false,
            live: true,
        };
        let mut operation = Operation {
            params,
            caller,
            arrival,
            // A subscribe whose id is carried has its results written by `sent_directly`.
            streams: Streams {
                direct: operation_id.is_some(),
                ..Streams::default()
            },
        };
        // The connection's HTTP span ended with the upgrade: each operation is a server span
        // of its own, continuing the trace its `extensions` name, else its `connection_init`'s.
        let span = crate::telemetry::graphql::websocket_span(
            crate::telemetry::trace_context_in(operation.params.extensions.iter())
                .as_ref()
                .or(self.connection.trace.get()),
        );
        let starts = [
            Arc::clone(&self.connection.starts),
            Arc::clone(&self.state.operation_starts),
        ];
        let state = self.state.clone();
        // Every step before the stream (several KiB of future, tens while it waits for the
        // database) is allocated only once it may start: a fleet of clients that subscribe at
        // once (10,000 dashboards reconnecting) waits in a line of small futures rather than
        // each holding its steps' memory, which the allocator keeps long after. The wait and
        // the steps run in a task of their own, so that a place is taken and given back while
        // the connection's task polls none of its operations (a client that reads slowly
        // stalls it), not held by a stalled connection while others' operations wait. Places
        // go in the order the tasks first run, which the runtime chooses (as async-graphql
        // chose the order it first polled a connection's operations in).
        // Aborted with the stream: an operation completed or whose connection went before it
        // started doesn't start.
        let started = crate::tasks::AbortOnDrop(tokio::spawn(
            async move {
                for places in starts {
                    // Never closed.
                    if let Ok(place) = places.acquire_owned().await {
                        operation.streams.starting.push(place);
                    }
                }
                Box::pin(super::super::run(&state, operation)).await
            }
            .instrument(span.clone()),
        ));
        let run = async move {
            let mut started = started;
            let outcome = (&mut started.0)
                .await
                .unwrap_or_else(|_| Err(ApiError::internal()));
            streaming::responses(outcome)
        };
        let responses = stream::once(Box::pin(run.instrument(span))).flatten();
        match operation_id {
            Some(id) => sent_directly(
                responses,
                id,
                (self.outgoing.clone(), Arc::clone(&self.drained)),
                self.transport_ws,
            ),
            // Not carried (the gate carries every subscribe's): async-graphql writes them all.
            None => responses.map(streaming::unrendered).boxed(),
        }
    }
}

/// `responses`, a shared render's results (`RENDERED`) written straight to the connection's
/// queue as the protocol's `next` (legacy: `data`) message under `id`, its data as it was
/// serialized once for every subscriber; async-graphql, which would copy and serialize each,
/// is handed the rest. Each is queued before the next is asked for, so the order holds, and
/// async-graphql's `complete` follows the last.
///
/// A full queue is waited out by being told the writer drained it (`drained`), then trying
/// again — never by waiting in the queue's line: a place in that line is handed to its waiter
/// as room frees, and a subscription's waiter is only polled while async-graphql polls its
/// streams, which it doesn't while its own message waits for room. Subscriptions waiting in
/// line took every place and the connection stopped for good (found with 20 subscriptions on
/// a connection whose client paused reading).
fn sent_directly(
    responses: impl futures_util::Stream<Item = Response> + Send + 'static,
    id: String,
    (outgoing, drained): (mpsc::Sender<Message>, Arc<tokio::sync::Notify>),
    transport_ws: bool,
) -> BoxStream<'static, Response> {
    let kind = if transport_ws { "next" } else { "data" };
    let head = format!(
        "{{\"type\":\"{kind}\",\"id\":{},\"payload\":",
        serde_json::to_string(&id).unwrap_or_else(|_| "\"\"".to_owned())
    );
    let responses = Box::pin(responses);
    stream::unfold(
        (responses, head, outgoing, drained),
        |(mut responses, head, outgoing, drained)| async move {
            loop {
                let response = responses.next().await?;
                if !response.extensions.contains_key(streaming::RENDERED) {
                    return Some((response, (responses, head, outgoing, drained)));
                }
                let mut message = String::with_capacity(head.len() + 512);
                message.push_str(&head);
                streaming::write_payload(&mut message, response);
                message.push('}');
                let mut message = Message::Text(message.into());
                loop {
                    // Listening before trying, so that a drain in between isn't missed.
                    let mut told = std::pin::pin!(drained.notified());
                    told.as_mut().enable();
                    match outgoing.try_send(message) {
                        Ok(()) => break,
                        // The connection is closing: what is left goes nowhere.
                        Err(mpsc::error::TrySendError::Closed(_)) => return None,
                        Err(mpsc::error::TrySendError::Full(again)) => {
                            message = again;
                            told.await;
                        }
                    }
                }
            }
        },
    )
    .boxed()
}
