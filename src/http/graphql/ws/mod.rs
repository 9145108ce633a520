//! GraphQL over WebSocket on `/graphql` (`graphql-transport-ws` and the legacy `graphql-ws`,
//! driven by async-graphql): the upgrade and the session loop; each operation's run in
//! `operations.rs`, each message's checks in `gate.rs`, closes in the protocol's terms `frames.rs`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::FromRequestParts;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;

use super::super::AppState;
use super::super::auth::{Presented, missing_in_payload};
use super::super::client::ClientApp;
use super::super::error::{ApiError, Envelope};
use super::super::headers::REQUEST_ID;
use super::super::media::Media;
use super::Caller;

mod frames;
mod gate;
mod operations;

use crate::code::Code;
use crate::server::ConnectionScope;
use frames::{close, in_protocol};
use gate::{Gate, Refusal, RefusedOperations, Rewritten, RunningIds};
use operations::Operations;

/// A message the client doesn't take within this is taken as a client gone: the connection
/// is cut, and its subscriptions end.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages queued for the socket at once.
const OUTGOING: usize = 16;
/// What tungstenite reads from the socket at once, into a buffer it allocates at this size for
/// every connection and zeroes this much of before every read — each time the connection's
/// task runs, delivering a result included. Its default, 128 KiB, was most of an idle
/// subscription's memory; at 4 KiB, zeroing was a seventh of the instructions of delivering an
/// event. Client messages are small (a subscribe fits); a larger one grows the buffer to its
/// length (up to the message limit set at the upgrade), read this much a call.
const READ_BUFFER: usize = 512;
/// How long a closed connection waits for the client's close in answer to its own.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How often the server pings a quiet connection; one that sends nothing back (not even the
/// pong its WebSocket library answers with) for two of these is taken as gone.
const PING_EVERY: Duration = Duration::from_secs(30);

/// Whether a request asks to become a WebSocket.
pub(super) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `GET /graphql` with `Upgrade: websocket`, in the protocol `Sec-WebSocket-Protocol` names:
/// graphql-transport-ws (the graphql-ws library's) or graphql-ws (subscriptions-transport-ws).
pub(super) async fn upgrade(state: AppState, request: axum::extract::Request) -> HttpResponse {
    let client = super::client_ip(request.extensions());
    let app = super::client_app(request.extensions());
    let scope = request.extensions().get::<ConnectionScope>().cloned();
    let request_id = request.headers().get(REQUEST_ID).cloned();
    let (mut parts, _) = request.into_parts();
    let Ok(protocol) = GraphQLProtocol::from_request_parts(&mut parts, &state).await else {
        return ApiError::bad_request(
            "Name a GraphQL WebSocket subprotocol: `Sec-WebSocket-Protocol: graphql-transport-ws` (or the legacy `graphql-ws`).",
        )
        .render(Envelope::Graphql(Media::Json));
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            let status = rejection.status();
            let mut refusal = ApiError::new(status, Code::BadRequest, rejection.body_text());
            if status == StatusCode::METHOD_NOT_ALLOWED {
                refusal.allow = Some("GET");
            }
            return refusal.render(Envelope::Graphql(Media::Json));
        }
    };
    // The protocol async-graphql picked: the first of the client's that it speaks.
    let transport_ws = parts
        .headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| matches!(*p, "graphql-transport-ws" | "graphql-ws"))
        == Some("graphql-transport-ws");
    // Past the gateway's own limit, so that its check (`Gate`, which closes with 4400) sees an
    // over-limit message rather than tungstenite, which would drop the connection unanswered.
    let max = state.limits.max_body_bytes.saturating_mul(4);
    let peer = Peer {
        client,
        app,
        scope,
        request_id,
        transport_ws,
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(READ_BUFFER)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            // On the streams' own runtime (see `server::streams`): usually it is there already
            // (its head said so), but a head whose first bytes didn't (sent a byte at a time)
            // was served where it was accepted. The connection's scope goes with it, which is
            // what shutdown waits for; this task ends at once.
            drop(crate::server::streams().spawn(serve(state, socket, protocol, peer)));
        })
        .into_response()
}

/// Operations of one connection that run their steps before their stream at once (see
/// `Operations::execute_stream`): a connection that sends a flood of them holds no more of the
/// process's [`crate::http::AppState::operation_starts`] than this.
const STARTING: usize = 16;

/// What a connection knows once `connection_init` is accepted.
struct Connection {
    /// Its operations that may run their steps before their stream at once ([`STARTING`]).
    starts: Arc<tokio::sync::Semaphore>,
    /// Who it is, as its `connection_init` presented it.
    caller: OnceLock<Caller>,
    /// The close code of a refused `connection_init` (4403 or 1013, not async-graphql's 1002);
    /// 0 until one is refused.
    refused: AtomicU16,
    /// The W3C trace context its `connection_init` carried, which its operations continue
    /// unless their own `extensions` carry one.
    trace: OnceLock<serde_json::Map<String, Value>>,
}

impl Default for Connection {
    fn default() -> Self {
        Self {
            starts: Arc::new(tokio::sync::Semaphore::new(STARTING)),
            caller: OnceLock::new(),
            refused: AtomicU16::new(0),
            trace: OnceLock::new(),
        }
    }
}

/// Who is at the other end of a WebSocket, and in which protocol.
struct Peer {
    client: Option<IpAddr>,
    /// The name the upgrade request gave the client, for when `connection_init` gives none.
    app: ClientApp,
    scope: Option<ConnectionScope>,
    request_id: Option<HeaderValue>,
    /// graphql-transport-ws rather than the legacy protocol.
    transport_ws: bool,
}

/// Serves one connection: `connection_init` authenticates with the credentials HTTP headers
/// carry, each client message passes [`Gate`], and the writer adds what the protocol leaves to
/// the server: the init deadline (4408), pings, the send timeout and 1001 at shutdown, once no
/// HTTP request is in flight. Every close code is listed in docs/events.md.
async fn serve(state: AppState, socket: WebSocket, protocol: GraphQLProtocol, peer: Peer) {
    let Peer {
        client,
        app,
        scope,
        request_id,
        transport_ws,
    } = peer;
    let (mut sink, mut source) = socket.split();
    let (outgoing, mut queued) = mpsc::channel::<Message>(OUTGOING);
    let connection = Arc::new(Connection::default());

    // Incoming messages, each checked before async-graphql parses it.
    let closer = outgoing.clone();
    // When the client last sent anything, pongs included.
    let heard = Arc::new(std::sync::Mutex::new(tokio::time::Instant::now()));
    let heard_from = Arc::clone(&heard);
    let running = Arc::new(RunningIds::default());
    let mut gate = Gate {
        transport_ws,
        max_nesting: state.limits.max_nesting,
        max_bytes: state.limits.max_body_bytes,
        connection: Arc::clone(&connection),
        running: Arc::clone(&running),
        init_seen: false,
    };
    // Borrowed, so that what the client sends after the server's close can still be read.
    let incoming = source.by_ref().map(move |message| {
        *heard_from
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = tokio::time::Instant::now();
        // Binary messages are read as text by async-graphql: held to the same rules.
        let text = match &message {
            Ok(Message::Text(text)) => Ok(text.as_str()),
            Ok(Message::Binary(bytes)) => std::str::from_utf8(bytes)
                .map_err(|_| Refusal::invalid("Invalid message received: not UTF-8 text.")),
            _ => return message,
        };
        match text.and_then(|text| gate.check(text)) {
            Ok(Some(rewritten)) => Ok(Message::Text(rewritten.into())),
            Ok(None) => message,
            Err(Refusal(code, reason)) => {
                // The legacy protocol has no close codes of its own: its clients hear of a
                // refused connection through `connection_error`.
                if !transport_ws {
                    let error = serde_json::json!({ "type": "connection_error", "payload": { "message": reason } });
                    let _ = closer.try_send(Message::Text(error.to_string().into()));
                }
                let _ = closer.try_send(close(code, &reason));
                Err(axum::Error::new(reason))
            }
        }
    });
    let answering = Arc::clone(&connection);
    let refused_operations = Arc::new(RefusedOperations::default());
    let direct = outgoing.clone();
    // Told each time the writer takes messages off the queue (see `sent_directly`).
    let drained = Arc::new(tokio::sync::Notify::new());
    let to_queue = futures_util::sink::unfold(outgoing, move |outgoing, message: Message| {
        let (running, connection) = (Arc::clone(&running), Arc::clone(&answering));
        let refused_operations = Arc::clone(&refused_operations);
        async move {
            let message = match message {
                Message::Text(text) => {
                    match refused_operations.rewrite(text.as_str(), transport_ws) {
                        Rewritten::Kept => {
                            running.sent(text.as_str());
                            Message::Text(text)
                        }
                        Rewritten::Error { id, message } => {
                            running.ended(&id);
                            Message::Text(message.into())
                        }
                        Rewritten::Dropped => return Ok(outgoing),
                    }
                }
                other => other,
            };
            let refused = connection.refused.load(Ordering::SeqCst);
            let (message, then) = in_protocol(message, refused, transport_ws);
            for message in std::iter::once(message).chain(then) {
                outgoing
                    .send(message)
                    .await
                    .map_err(|_| axum::Error::new("the connection is closing"))?;
            }
            Ok::<_, axum::Error>(outgoing)
        }
    });

    let executor = Operations {
        state: state.clone(),
        connection: Arc::clone(&connection),
        outgoing: direct,
        drained: Arc::clone(&drained),
        transport_ws,
    };
    let init = {
        let (state, connection) = (state.clone(), Arc::clone(&connection));
        move |payload: Value| async move {
            let refused_with = |code: u16, message: String| {
                connection.refused.store(code, Ordering::SeqCst);
                Err(async_graphql::Error::new(message))
            };
            let refused = |message: String| refused_with(4403, message);
            let request_id = request_id
                .as_ref()
                .and_then(|id| id.to_str().ok())
                .map(str::to_owned);
            let presented = match Presented::from_payload(&payload, request_id) {
                Ok(presented) => presented,
                Err(message) => return refused(message),
            };
            match super::super::pipeline::identify(&state, &presented).await {
                Ok(Some(_)) => {
                    let app = ClientApp::from_payload(&payload).or(&app);
                    let cost_debug = payload
                        .as_object()
                        .is_some_and(super::cost::debug_in_payload);
                    if let Some(trace) = payload.as_object().and_then(|map| {
                        crate::telemetry::trace_context_in(crate::http::auth::payload_entries(map))
                    }) {
                        let _ = connection.trace.set(trace);
                    }
                    let _ = connection.caller.set(Caller {
                        presented,
                        client,
                        app,
                        cost_debug,
                    });
                    Ok(Data::default())
                }
                Ok(None) => refused(missing_in_payload()),
                Err(error) => {
                    if error.status == StatusCode::UNAUTHORIZED
                        && let Some(ip) = client
                    {
                        super::super::ops::failed_authentication(&state, ip).await;
                    }
                    // A credential that couldn't be checked is not refused: try again later.
                    let code = if error.status == StatusCode::SERVICE_UNAVAILABLE {
                        1013
                    } else {
                        4403
                    };
                    refused_with(code, error.message)
                }
            }
        }
    };
    let protocol_loop = GraphQLWebSocket::new_with_pair(to_queue, incoming, executor, protocol)
        .on_connection_init(init)
        .serve();

    let init_deadline = tokio::time::Instant::now() + state.server_limits.header_read_timeout;
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Made once rather than each time round: the loop ends with the close it sends.
    let mut shutting_down = std::pin::pin!(closing(scope.as_ref()));
    // What the protocol queued is taken without leaving a waker with the queue (`queued_now`):
    // every message is queued while the protocol is polled, and the writer is polled right
    // after it in the same poll of this task (below), so it never needs waking for one. Waiting
    // in `recv` had each message wake the task once more — a second poll of everything (the
    // protocol, every subscription's stream, the socket's read side) for every result sent.
    let writer = async {
        loop {
            let message = tokio::select! {
                // The close at shutdown first, then what is queued: the timers are looked at
                // only when nothing is waiting to go out.
                biased;
                () = &mut shutting_down => close(1001, "The gateway is shutting down; reconnect and resubscribe with `after`."),
                queued = std::future::poll_fn(|_| queued_now(&mut queued)) => match queued {
                    Some(message) => {
                        drained.notify_waiters();
                        message
                    }
                    None => return,
                },
                _ = pings.tick() => {
                    let quiet = heard
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .elapsed();
                    if quiet > 2 * PING_EVERY {
                        close(1001, "No answer to pings: the connection is taken as gone.")
                    } else {
                        Message::Ping(Vec::new().into())
                    }
                }
                () = tokio::time::sleep_until(init_deadline), if connection.caller.get().is_none() => {
                    close(4408, "Connection initialisation timeout")
                }
            };
            // What else is queued goes out with it, in one write: under load a subscriber's
            // events leave together rather than a system call each.
            let mut last = matches!(message, Message::Close(_));
            let sent = tokio::time::timeout(SEND_TIMEOUT, async {
                sink.feed(message).await?;
                while !last && let Ok(more) = queued.try_recv() {
                    drained.notify_waiters();
                    last = matches!(more, Message::Close(_));
                    sink.feed(more).await?;
                }
                sink.flush().await
            });
            match sent.await {
                Ok(Ok(())) if !last => {}
                _ => return,
            }
        }
    };
    // Unconstrained: a client that keeps its side readable spends the task's budget in the
    // protocol's reads, and the writer's select, polled next, would give up before looking at
    // anything (its timers and shutdown included) as long as the flood went on. It writes only
    // what the protocol queued in this poll, so it can't hold the thread.
    let mut writer = std::pin::pin!(tokio::task::unconstrained(writer));
    tokio::select! {
        // The protocol first, then the writer, in every poll: see `queued_now`.
        biased;
        () = protocol_loop => {
            // What the protocol queued last (its close) still goes out.
            let _ = tokio::time::timeout(SEND_TIMEOUT, &mut writer).await;
        }
        () = &mut writer => {}
    }
    // The close handshake: what the client sent meanwhile is read (and dropped) until its
    // close comes back, for a while. A socket closed with the client's messages unread is
    // reset by the kernel, and the close frame just sent is lost with it (the client sees
    // 1006 rather than the code and reason).
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(message)) = source.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// The next message queued for the socket; `None` once every sender is gone. Pending when
/// there is none yet, without a waker left with the queue (see `serve`'s writer).
fn queued_now(queued: &mut mpsc::Receiver<Message>) -> std::task::Poll<Option<Message>> {
    match queued.try_recv() {
        Ok(message) => std::task::Poll::Ready(Some(message)),
        Err(mpsc::error::TryRecvError::Disconnected) => std::task::Poll::Ready(None),
        Err(mpsc::error::TryRecvError::Empty) => std::task::Poll::Pending,
    }
}

async fn closing(scope: Option<&ConnectionScope>) {
    match scope {
        Some(scope) => scope.closing().await,
        None => std::future::pending().await,
    }
}

/// Where a subscribe message's `documentId` is carried past async-graphql's parser, which
/// keeps only the fields it knows.
const DOCUMENT_ID: &str = "documentId";
/// Where a subscribe message's `id` is carried past async-graphql, for results sent without it
/// (`Operations`); a client's own value is overwritten.
const OPERATION_ID: &str = "cockpitOperationId";
