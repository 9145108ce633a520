//! Clients of the streaming transports for the tests: GraphQL over WebSocket (both protocols)
//! and over server-sent events, each reading with a deadline so a test can't hang.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for a message before it fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// `subscription { endpointEvents(…) { … } }` with the fields the tests read.
pub const ENDPOINT_EVENTS: &str = "subscription($after: String, $filter: EndpointEventFilter) { endpointEvents(after: $after, filter: $filter) { id cursor type endpointId endpoint { id name mode } event { id cursor type actor { kind apiKeyId apiKeyPrefix userId } requestId before after } } }";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// graphql-transport-ws (the graphql-ws library's).
    TransportWs,
    /// The legacy subscriptions-transport-ws.
    Legacy,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Self::TransportWs => "graphql-transport-ws",
            Self::Legacy => "graphql-ws",
        }
    }
}

/// A WebSocket connection speaking one of the protocols.
pub struct Ws {
    pub socket: Socket,
    pub protocol: Protocol,
}

/// What the server sent: a text message's JSON, or the close frame's code and reason.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Json(Value),
    Close(u16, String),
    /// The connection ended without a close frame.
    Gone,
}

impl Ws {
    /// Opens the socket; no `connection_init` yet.
    pub async fn open(address: &str, protocol: Protocol) -> Ws {
        let url = format!("{}/graphql", address.replacen("http://", "ws://", 1));
        let mut request = url.into_client_request().expect("ws request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(protocol.name()),
        );
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("connect the WebSocket");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(protocol.name())
        );
        Ws { socket, protocol }
    }

    /// Opens the socket with a receive buffer of `bytes` (a client that reads slowly fills it
    /// soon); no `connection_init` yet.
    pub async fn open_small(address: &str, protocol: Protocol, bytes: u32) -> Ws {
        let host = address.trim_start_matches("http://");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(bytes).expect("buffer size");
        let stream = socket
            .connect(host.parse().expect("address"))
            .await
            .expect("connect");
        let mut request = format!("ws://{host}/graphql")
            .into_client_request()
            .expect("ws request");
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(protocol.name()),
        );
        let (socket, _) = tokio_tungstenite::client_async(
            request,
            tokio_tungstenite::MaybeTlsStream::Plain(stream),
        )
        .await
        .expect("handshake");
        Ws { socket, protocol }
    }

    /// Opens the socket and initialises it with `payload`; panics unless acknowledged.
    pub async fn connect(address: &str, protocol: Protocol, payload: Value) -> Ws {
        let mut ws = Self::open(address, protocol).await;
        ws.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        match ws.next_json().await {
            Some(message) if message["type"] == "connection_ack" => ws,
            other => panic!("no connection_ack: {other:?}"),
        }
    }

    /// Connects with an API key in the payload.
    pub async fn with_key(address: &str, key: &str) -> Ws {
        Self::connect(
            address,
            Protocol::TransportWs,
            json!({ "Authorization": format!("Bearer {key}") }),
        )
        .await
    }

    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    /// Starts operation `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = match self.protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::Legacy => "start",
        };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next frame, ping/pong aside; `None` when nothing came within `wait`.
    pub async fn frame_within(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?;
            return Some(match message {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON message");
                    if matches!(value["type"].as_str(), Some("ping" | "pong" | "ka")) {
                        continue;
                    }
                    Frame::Json(value)
                }
                Some(Ok(Message::Close(frame))) => match frame {
                    Some(frame) => Frame::Close(frame.code.into(), frame.reason.to_string()),
                    None => Frame::Close(1005, String::new()),
                },
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Frame::Gone,
            });
        }
    }

    pub async fn frame(&mut self) -> Frame {
        self.frame_within(WAIT).await.expect("a frame within 5 s")
    }

    pub async fn next_json(&mut self) -> Option<Value> {
        match self.frame().await {
            Frame::Json(value) => Some(value),
            _ => None,
        }
    }

    /// The payload of the next result of any operation (`next` or legacy `data`); an
    /// operation refused before it ran (the protocol's `error`) as `{ "errors": [...] }`.
    pub async fn next_payload(&mut self) -> Value {
        let message = self.next_json().await.expect("a message");
        let kind = message["type"].as_str().unwrap_or_default();
        match (kind, &message["payload"]) {
            ("error", Value::Array(errors)) => json!({ "errors": errors }),
            ("error", error) => json!({ "errors": [error] }),
            _ => {
                assert!(
                    matches!(kind, "next" | "data"),
                    "expected a result, got {message}"
                );
                message["payload"].clone()
            }
        }
    }

    /// The next result's `endpointEvents` (asserting it has no errors).
    pub async fn next_event(&mut self) -> Value {
        let payload = self.next_payload().await;
        assert!(payload.get("errors").is_none(), "{payload}");
        payload["data"]["endpointEvents"].clone()
    }

    /// Nothing arrives within `wait`.
    pub async fn assert_silent(&mut self, wait: Duration) {
        if let Some(frame) = self.frame_within(wait).await {
            panic!("expected nothing, got {frame:?}");
        }
    }
}

/// One message of an event stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// A stream of server-sent events, read as it arrives.
pub struct Sse {
    pub response: reqwest::Response,
    buffer: String,
}

impl Sse {
    /// `POST /graphql` with `Accept: text/event-stream`.
    pub async fn post(
        address: &str,
        headers: &[(&str, &str)],
        query: &str,
        variables: Value,
    ) -> Sse {
        let mut request = reqwest::Client::new()
            .post(format!("{address}/graphql"))
            .header("accept", "text/event-stream")
            .json(&json!({ "query": query, "variables": variables }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request");
        Sse {
            response,
            buffer: String::new(),
        }
    }

    /// `GET /graphql?query=…` with `Accept: text/event-stream`, as `EventSource` asks.
    pub async fn get(address: &str, headers: &[(&str, &str)], query: &str) -> Sse {
        let mut request = reqwest::Client::new()
            .get(format!("{address}/graphql"))
            .query(&[("query", query)])
            .header("accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request");
        Sse {
            response,
            buffer: String::new(),
        }
    }

    /// `GET {address}{url}` with `Accept: text/event-stream` and nothing else, as an
    /// `EventSource` opens the `url` of a stream ticket.
    pub async fn open(address: &str, url: &str, headers: &[(&str, &str)]) -> Sse {
        let mut request = reqwest::Client::new()
            .get(format!("{address}{url}"))
            .header("accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request");
        Sse {
            response,
            buffer: String::new(),
        }
    }

    /// The next message (comments skipped); `None` when the stream ended or nothing came in time.
    pub async fn next_within(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event.event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                if event.event.is_empty() && data.is_empty() {
                    continue; // a keep-alive comment
                }
                event.data = data.join("\n");
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    pub async fn next(&mut self) -> SseEvent {
        self.next_within(WAIT)
            .await
            .expect("an SSE message within 5 s")
    }

    /// The next `next` message's JSON.
    pub async fn next_result(&mut self) -> (Option<String>, Value) {
        let event = self.next().await;
        assert_eq!(event.event, "next", "{event:?}");
        (
            event.id,
            serde_json::from_str(&event.data).expect("JSON data"),
        )
    }
}
