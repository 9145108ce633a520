//! The HTTP server loop: accepts connections, bounds them per client address, and applies the
//! connection-level timeouts; graceful shutdown with a deadline.
//!
//! It stands in for `axum::serve`, which has no connection timeouts: a client that connects and
//! sends nothing, trickles a request head, or keeps an unused connection open would hold a socket
//! and a task until it chose to leave.
//!
//! The timeouts are kept by a watchdog per connection rather than by hyper's
//! `header_read_timeout`. In hyper 1.12 that timer starts whenever the connection waits for a
//! request head — at accept, and again the moment a keep-alive connection goes idle after a
//! response — with one deadline that later bytes don't move. It would therefore also be the
//! keep-alive idle timeout, so an `idle_timeout` longer than `header_read_timeout` could never
//! apply. hyper has no write timeout either: a client that asks for a response and never reads it
//! stalls its connection for good. The watchdog's rules are on [`ServerLimits`].

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;

use crate::net::ClientKey;

mod lean;
mod per_address;
mod watchdog;

use crate::net::canonical;
use per_address::{PerAddress, Permit, RefusalLog};
use watchdog::{Activity, ConnService, WatchedIo};

/// The runtime long-lived streams run on (WebSocket connections), apart from the one that
/// serves requests. Each event wakes every subscriber's connection at once: on one runtime,
/// ten thousand of them would queue ahead of every request's next step, and a write — which
/// holds SQLite's write lock across several steps — would wait a whole fan-out for each, so
/// writes (and the events they make) would slow to a crawl under a busy fleet of subscribers.
/// Apart, the system's scheduler shares the cores between the two, and a request steps on at
/// once. Its sockets stay registered with the serving runtime's driver, which polls them.
pub fn streams() -> &'static tokio::runtime::Runtime {
    static STREAMS: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    STREAMS.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("cockpit-streams")
            .enable_all()
            .build()
            .expect("a runtime for streams")
    })
}

/// How long the accept loop rests after an error such as EMFILE, which usually lasts until some
/// connections close; retrying at once would spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Connection-level limits of [`serve`].
///
/// Per connection the watchdog enforces, with no request in flight:
/// - before the first request: the whole head of that request must have arrived within
///   `header_read_timeout` of accept, however the bytes trickle in;
/// - between requests on a keep-alive connection: it is closed after `idle_timeout` with no
///   bytes in either direction; once the first byte of the next request arrives, that request's
///   head must be complete within `header_read_timeout`. (Bytes that arrive while a request is
///   in flight, such as a pipelined next request, don't start that clock; the idle rule bounds
///   them.)
///
/// A request is in flight from the moment its head has been read until its handler has produced
/// the response; that time is never cut here (the gateway's request timeout bounds handlers).
/// Writing the response body counts as activity, so a client that stops reading a response is cut
/// after `idle_timeout` without progress. A response body that pauses longer than `idle_timeout`
/// (streaming) would be cut as well: the gateway's event streams send keep-alive comments more
/// often. A connection upgraded to a WebSocket leaves the watchdog; its handler bounds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// A request's head (request line and headers) must arrive within this; also how long a new
    /// connection may stay silent.
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this.
    pub idle_timeout: Duration,
    /// Open connections per client address (IPv4 address, or IPv6 /64); more are closed at
    /// accept. 0 counts as 1. Behind a reverse proxy every connection comes from the proxy's
    /// address, so this must exceed the proxy's connection pool.
    pub max_connections_per_ip: usize,
    /// After the shutdown signal, in-flight requests get this long; then remaining connections
    /// are dropped.
    pub shutdown_timeout: Duration,
    /// Peers not held to `max_connections_per_ip`: the trusted proxies, through which every
    /// client arrives.
    pub unbounded: Vec<ipnet::IpNet>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            // The CLI's default. Behind a proxy that pools connections longer than this, raise it:
            // the proxy should close idle connections first, or it may send a request just as the
            // gateway closes one and answer 502.
            idle_timeout: Duration::from_secs(30),
            max_connections_per_ip: 64,
            // The default request timeout is 30 s, so by then every in-flight request has ended.
            shutdown_timeout: Duration::from_secs(30),
            unbounded: Vec::new(),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes; every request carries
/// `axum::extract::ConnectInfo<SocketAddr>` as axum::serve's `into_make_service_with_connect_info`
/// gives it. Returns Ok(()) also when the deadline cut connections (the process should exit 0).
///
/// HTTP/1.1, with upgrades to WebSocket: an upgraded connection keeps its place in the
/// per-address count through the [`ConnectionScope`] its request carries, and is told to close
/// at shutdown once no request handler is running any more.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut shutdown = pin!(shutdown);
    let timeouts = Timeouts {
        header_read: limits.header_read_timeout,
        idle: limits.idle_timeout,
    };
    let per_address = Arc::new(PerAddress::new(limits.max_connections_per_ip));
    let mut http = http1::Builder::new();
    // hyper's own header timer is off: it would also close idle keep-alive connections after
    // `header_read_timeout` (see the module docs). The timer is set anyway so that turning it on
    // later cannot panic for want of one.
    http.timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let http = Arc::new(http);
    // Shutdown in three steps: every connection stops taking requests (`draining`); once no
    // handler runs, long-lived responses and upgraded connections close (`closing`); then the
    // server waits for every connection and every holder of a scope (`alive`).
    let (draining, _) = watch::channel(false);
    let closing = Closer::default();
    let (alive, mut all_gone) = mpsc::channel::<()>(1);
    let handlers = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // A JoinSet rather than detached tasks, so that connections still open at the shutdown
    // deadline can be dropped before `serve` returns.
    let mut connections = JoinSet::new();
    let mut refusals = RefusalLog::default();

    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                log_join(joined);
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            // The peer gave up while in the backlog: nothing is wrong with the listener.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::error!(error = %e, "accept failed");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => continue,
                }
            }
        };
        let permit = if limits
            .unbounded
            .iter()
            .any(|net| net.contains(&canonical(peer.ip())))
        {
            None
        } else {
            let Some(permit) = per_address.try_acquire(ClientKey::of(peer.ip())) else {
                drop(stream);
                refusals.record(peer.ip(), per_address.max);
                continue;
            };
            Some(permit)
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "could not set TCP_NODELAY");
        }
        let scope = ConnectionScope {
            _permit: permit.map(Arc::new),
            closing: closing.sender.subscribe(),
            closed: Arc::clone(&closing.flag),
            _alive: alive.clone(),
        };
        let connection = Connection {
            peer,
            app: app.clone(),
            http: Arc::clone(&http),
            draining: draining.subscribe(),
            timeouts,
            scope,
            handlers: Arc::clone(&handlers),
        };
        connections.spawn(on_its_runtime(stream, connection));
    }

    // Closing the listener makes new connection attempts fail at once instead of queueing.
    drop(listener);
    reap_finished(&mut connections);
    tracing::info!(
        open = connections.len(),
        "stopped accepting connections; letting in-flight requests finish"
    );
    let deadline = Instant::now() + limits.shutdown_timeout;
    let _ = draining.send(true);
    drop(alive);
    let drained = tokio::time::timeout_at(deadline, async {
        // In-flight requests first; subscriptions (SSE bodies, WebSockets) close after them.
        while handlers.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        closing.close();
        while let Some(joined) = connections.join_next().await {
            log_join(joined);
        }
        // Every upgraded connection, and every request, has let go of its scope.
        let _ = all_gone.recv().await;
    })
    .await;
    if drained.is_err() {
        reap_finished(&mut connections);
        tracing::warn!(
            cut = connections.len(),
            shutdown_timeout = ?limits.shutdown_timeout,
            "shutdown deadline passed; dropping the remaining connections"
        );
        closing.close();
        connections.shutdown().await;
    }
    Ok(())
}

/// What a request holds of its connection's place in the server. A handler that keeps the
/// connection beyond its response (a WebSocket, a stream of server-sent events) keeps this:
/// the connection then still counts against its address's limit, and shutdown waits for it
/// (to the deadline) after telling it to close.
#[derive(Clone)]
pub struct ConnectionScope {
    _permit: Option<Arc<Permit>>,
    closing: watch::Receiver<bool>,
    /// Raised before `closing` tells: what is read on every poll of [`Self::closing`].
    closed: Arc<AtomicBool>,
    _alive: mpsc::Sender<()>,
}

impl ConnectionScope {
    /// Completes when the server shuts down and long-lived responses should close.
    ///
    /// Polled as often as its connection's task runs (every result of a subscription), and
    /// every connection's waits on the one channel: each poll of that wait takes the channel's
    /// lock to look at its waker, ten thousand connections contending for it. So the wait is
    /// polled once, which leaves the task's waker with the channel, and after that only once
    /// the flag says the server is closing; until then a poll reads the flag alone.
    pub async fn closing(&self) {
        let mut closing = self.closing.clone();
        // The sender lives as long as the server; gone, it is closing too (`Closer` raises the
        // flag as it goes).
        // Unconstrained: a wait polled with the task's budget spent would return without leaving
        // the waker, and with no second poll it would never be woken.
        let mut waiting = pin!(tokio::task::unconstrained(async move {
            let _ = closing.wait_for(|closing| *closing).await;
        }));
        let mut polled = false;
        std::future::poll_fn(|cx| {
            if std::mem::replace(&mut polled, true) && !self.is_closing() {
                return std::task::Poll::Pending;
            }
            waiting.as_mut().poll(cx)
        })
        .await;
    }

    pub fn is_closing(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// Tells long-lived responses to close: raises the flag their polls read, then wakes them
/// through the channel. Dropped (the server gone), it raises the flag and the channel's end
/// wakes them.
#[derive(Default)]
struct Closer {
    flag: Arc<AtomicBool>,
    sender: watch::Sender<bool>,
}

impl Closer {
    fn close(&self) {
        self.flag.store(true, Ordering::Release);
        self.sender.send_replace(true);
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        self.flag.store(true, Ordering::Release);
    }
}

/// The same errors `axum::serve` retries at once.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

fn reap_finished(connections: &mut JoinSet<()>) {
    while let Some(joined) = connections.try_join_next() {
        log_join(joined);
    }
}

fn log_join(joined: Result<(), JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        tracing::error!(error = %e, "connection task panicked");
    }
}

#[derive(Debug, Clone, Copy)]
struct Timeouts {
    header_read: Duration,
    idle: Duration,
}

/// One accepted connection's place in the server: what serving it needs, by hyper or by
/// [`lean`].
struct Connection {
    peer: SocketAddr,
    app: Router,
    http: Arc<http1::Builder>,
    draining: watch::Receiver<bool>,
    timeouts: Timeouts,
    /// Its place in the per-address count (none for unbounded peers), which goes with each
    /// request to whoever keeps the connection longer.
    scope: ConnectionScope,
    /// Request handlers running on any connection of the server.
    handlers: Arc<std::sync::atomic::AtomicUsize>,
}

impl Connection {
    /// The router as this connection's service, reporting to `activity`.
    fn service(&self, activity: &Arc<Activity>) -> ConnService {
        ConnService {
            app: self.app.clone(),
            peer: self.peer,
            activity: Arc::clone(activity),
            scope: self.scope.clone(),
            handlers: Arc::clone(&self.handlers),
        }
    }

    /// Runs the connection on hyper until it ends (or is upgraded), the watchdog finds it timed
    /// out, or the task is aborted at the shutdown deadline. `ahead` is what was read from it
    /// already (by [`lean`]), which hyper reads first; `activity` is what the connection has
    /// done so far (from its accept).
    async fn serve(self, io: TcpStream, ahead: Bytes, activity: Arc<Activity>) {
        let service = self.service(&activity);
        let Self {
            peer,
            http,
            mut draining,
            timeouts,
            ..
        } = self;
        let io = TokioIo::new(WatchedIo::new(io, ahead, Arc::clone(&activity)));
        let mut conn = pin!(http.serve_connection(io, service).with_upgrades());
        let mut told = false;
        loop {
            let deadline = activity.deadline(timeouts);
            tokio::select! {
                ended = conn.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                // Shutdown: finish the request in flight, take no other.
                _ = draining.wait_for(|draining| *draining), if !told => {
                    told = true;
                    conn.as_mut().graceful_shutdown();
                }
                // The deadline may have moved earlier (a request head began) or appeared (a
                // request finished): compute it again.
                () = activity.changed.notified() => {}
                () = sleep_until(deadline) => {
                    // Activity since the sleep began may have pushed the deadline back.
                    if activity.deadline(timeouts).is_some_and(|d| d <= Instant::now()) {
                        tracing::debug!(%peer, "closing connection: header read or idle timeout");
                        return;
                    }
                }
            }
        }
    }
}

/// Serves a connection on the runtime it belongs to: one that opens a stream (a WebSocket
/// upgrade, an event stream, a multipart subscription: its request head says so) on the
/// streams' runtime, from its first byte — so its buffers are made and let go of on the threads
/// that serve it —, any other here; one that asks for an event stream without hyper
/// ([`lean`]). The head is looked at (not read) as it arrives; a connection that sends nothing
/// within the header read timeout is closed, as the watchdog would, and the watchdog counts the
/// rest from the accept, not from the look.
async fn on_its_runtime(stream: TcpStream, connection: Connection) {
    // Boxed, each: this task stays a few words, not the size of a connection's serving (which
    // a stream's waits beside for as long as it runs) or of the look at its head.
    let accepted = Instant::now();
    let mut draining = connection.draining.clone();
    let looked = tokio::select! {
        looked = Box::pin(opens_stream(&stream, connection.timeouts.header_read)) => looked,
        // Shutdown closes a connection that has asked nothing yet at once, as hyper does.
        _ = draining.wait_for(|draining| *draining) => None,
    };
    let activity = Arc::new(Activity::new(accepted));
    match looked {
        // Nothing sent within the header read timeout (or the peer left): closed.
        None => {}
        Some(Opens::Request) => Box::pin(connection.serve(stream, Bytes::new(), activity)).await,
        Some(opens) => {
            let serving = async move {
                if opens == Opens::EventStream {
                    lean::serve(stream, connection, activity).await;
                } else {
                    connection.serve(stream, Bytes::new(), activity).await;
                }
            };
            // Aborted with this task (at the shutdown deadline), as the connection would be here.
            let mut task = crate::tasks::AbortOnDrop(streams().spawn(serving));
            let _ = (&mut task.0).await;
        }
    }
}

/// What a connection's first request head opens, as far as [`opens_stream`] can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opens {
    /// A request like any other.
    Request,
    /// A WebSocket, or a multipart response.
    Stream,
    /// An event stream (and no WebSocket).
    EventStream,
}

/// What the request head arriving on `stream` opens, as far as its first bytes (up to 2 KiB,
/// within `wait`) tell: a WebSocket upgrade, or a response asked for as an event stream or
/// multipart. A guess that only chooses where (and by what) the connection is served; `None`
/// when nothing came (the peer closed, or sent nothing within `wait`).
async fn opens_stream(stream: &TcpStream, wait: Duration) -> Option<Opens> {
    let mut head = [0u8; 2048];
    let n = match tokio::time::timeout(wait, stream.peek(&mut head)).await {
        Ok(Ok(n)) if n > 0 => n,
        _ => return None,
    };
    let has = |needle: &[u8]| mentions(&head[..n], needle);
    Some(if has(b"upgrade: websocket") {
        Opens::Stream
    } else if has(b"text/event-stream") {
        Opens::EventStream
    } else if has(b"multipart/mixed") {
        Opens::Stream
    } else {
        Opens::Request
    })
}

/// Whether `bytes` holds `needle`, in any letter case.
fn mentions(bytes: &[u8], needle: &[u8]) -> bool {
    bytes
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
