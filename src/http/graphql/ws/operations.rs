//! Each operation of a WebSocket read into the transport's one `Operation` and run through the
//! same pipeline as over HTTP, its outcome streamed back as async-graphql responses.

use std::sync::Arc;

use async_graphql::{Data, Executor, Response};
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::Value;
use tracing::Instrument as _;

use super::super::super::AppState;
use super::super::super::media::Media;
use super::super::params::Params;
use super::super::{Arrival, Operation, Streams, stream as streaming};
use super::{Connection, DOCUMENT_ID};

#[derive(Clone)]
pub(super) struct Operations {
    pub(super) state: AppState,
    pub(super) connection: Arc<Connection>,
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
        let operation = Operation {
            params,
            caller,
            arrival,
            streams: Streams::default(),
        };
        // The connection's HTTP span ended with the upgrade: each operation is a server span
        // of its own, continuing the trace its `extensions` name, else its `connection_init`'s.
        let span = crate::telemetry::graphql::websocket_span(
            crate::telemetry::trace_context_in(operation.params.extensions.iter())
                .as_ref()
                .or(self.connection.trace.get()),
        );
        let state = self.state.clone();
        let run = async move { streaming::responses(super::super::run(&state, operation).await) };
        // Boxed on its own, so that the pipeline's future (several KiB) is let go of once it
        // has made the stream, rather than kept inline for as long as a subscription runs.
        stream::once(Box::pin(run.instrument(span)))
            .flatten()
            .boxed()
    }
}
