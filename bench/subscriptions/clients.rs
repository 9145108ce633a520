//! The load generator's subscribers: each is a task that opens its subscription (over
//! graphql-transport-ws, or as a graphql-sse event stream) and reads every message it is sent
//! for as long as it runs, noting each delivery and its latency in the shared [`Tally`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// How a subscriber reaches the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Transport {
    #[value(name = "websocket")]
    WebSocket,
    Sse,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Self::WebSocket => "WebSocket",
            Self::Sse => "SSE",
        }
    }
}

/// What every subscriber saw, together.
#[derive(Default)]
pub struct Tally {
    /// Subscriptions sent (WebSocket) or answered 200 (SSE).
    pub opened: AtomicU64,
    /// Results of an event received.
    pub delivered: AtomicU64,
    /// Error results (a subscription ended as too slow, for one) and closed connections.
    pub failed: AtomicU64,
    /// Whether deliveries' latencies are noted.
    pub timing: AtomicBool,
    /// Microseconds from each delivered event's `occurredAt` to its arrival, while timing.
    pub latencies: std::sync::Mutex<Vec<u32>>,
}

impl Tally {
    /// Notes a message: a delivery when it carries an event's `occurredAt`, an error when it
    /// carries errors.
    fn note(&self, message: &[u8]) {
        const AT: &[u8] = b"\"occurredAt\":\"";
        if let Some(start) = find(message, AT).map(|i| i + AT.len()) {
            let arrived = chrono::Utc::now();
            self.delivered.fetch_add(1, Ordering::Relaxed);
            if self.timing.load(Ordering::Relaxed)
                && let Some(end) = message[start..].iter().position(|b| *b == b'"')
                && let Ok(at) = std::str::from_utf8(&message[start..start + end])
                && let Ok(at) = chrono::DateTime::parse_from_rfc3339(at)
            {
                let micros = (arrived - at.with_timezone(&chrono::Utc))
                    .num_microseconds()
                    .unwrap_or(0)
                    .clamp(0, i64::from(u32::MAX));
                self.latencies
                    .lock()
                    .expect("latencies")
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
        } else if [
            &b"\"errors\""[..],
            b"\"type\":\"error\"",
            b"\"type\":\"complete\"",
        ]
        .iter()
        .any(|ending| find(message, ending).is_some())
        {
            // An error result, or the subscription's end (the protocol's `error`, `complete`).
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Opens `n` subscribers, `parallel` handshakes at a time; each then reads until aborted.
pub async fn open(
    transport: Transport,
    n: usize,
    address: &str,
    key: &str,
    query: &str,
    tally: &Arc<Tally>,
) -> tokio::task::JoinSet<()> {
    let handshakes = Arc::new(Semaphore::new(64));
    let mut subscribers = tokio::task::JoinSet::new();
    for _ in 0..n {
        let permit = Arc::clone(&handshakes)
            .acquire_owned()
            .await
            .expect("semaphore");
        let (address, key, query, tally) = (
            address.to_owned(),
            key.to_owned(),
            query.to_owned(),
            Arc::clone(tally),
        );
        subscribers.spawn(async move {
            match transport {
                Transport::WebSocket => websocket(&address, &key, &query, &tally, permit).await,
                Transport::Sse => sse(&address, &key, &query, &tally, permit).await,
            }
        });
    }
    // Every handshake done.
    let _ = handshakes.acquire_many(64).await;
    subscribers
}

/// A graphql-transport-ws subscriber; its handshake holds `permit`.
async fn websocket(
    address: &str,
    key: &str,
    query: &str,
    tally: &Tally,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let mut request = format!("ws://{address}/graphql")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    // Small buffers: 10,000 clients at tungstenite's default 128 KiB would take 1.3 GB here.
    // tungstenite zeroes what it reads into before every read, a fifteenth of the client's CPU
    // at 4 KiB; at 1 KiB, a client behind (several messages of ~0.4 KiB waiting) made more
    // reads, and commit-to-delivery p99 came out no better.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .expect("connect");
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .expect("init");
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.contains("connection_ack") => break,
            Some(Ok(_)) => {}
            other => panic!("no ack: {other:?}"),
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .expect("subscribe");
    tally.opened.fetch_add(1, Ordering::Relaxed);
    drop(permit);
    // Pings are answered as they are read.
    while let Some(message) = socket.next().await {
        match message {
            Ok(Message::Text(text)) => tally.note(text.as_bytes()),
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    tally.failed.fetch_add(1, Ordering::Relaxed);
}

/// A graphql-sse subscriber (a `POST` that accepts only `text/event-stream`), over a plain
/// HTTP/1.1 connection of its own; its request holds `permit` until answered.
async fn sse(
    address: &str,
    key: &str,
    query: &str,
    tally: &Tally,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let _ = stream.set_nodelay(true);
    let body = json!({ "query": query }).to_string();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {key}\r\naccept: text/event-stream\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream
        .write_all(format!("{head}{body}").as_bytes())
        .await
        .expect("request");
    // Messages end with a blank line; chunk sizes in between are harmless to the search.
    let mut pending: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let mut answered = None;
    let mut permit = Some(permit);
    loop {
        let read =
            match tokio::time::timeout(Duration::from_secs(600), stream.read(&mut chunk)).await {
                Ok(Ok(0) | Err(_)) | Err(_) => break,
                Ok(Ok(read)) => read,
            };
        pending.extend_from_slice(&chunk[..read]);
        if answered.is_none() {
            let Some(end) = find(&pending, b"\r\n\r\n") else {
                continue;
            };
            let ok = pending.starts_with(b"HTTP/1.1 200");
            assert!(
                ok,
                "the event stream was refused: {}",
                String::from_utf8_lossy(&pending[..end])
            );
            answered = Some(());
            tally.opened.fetch_add(1, Ordering::Relaxed);
            drop(permit.take());
            pending.drain(..end + 4);
        }
        while let Some(end) = find(&pending, b"\n\n") {
            tally.note(&pending[..end]);
            pending.drain(..end + 2);
        }
    }
    tally.failed.fetch_add(1, Ordering::Relaxed);
}
