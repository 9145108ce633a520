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

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;

use crate::net::ClientKey;

/// How long the accept loop rests after an error such as EMFILE, which usually lasts until some
/// connections close; retrying at once would spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Refusals over the per-address bound are warned about at most this often, so that a client
/// hammering the bound cannot flood the log.
const REFUSAL_WARN_INTERVAL: Duration = Duration::from_secs(10);

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
/// (streaming) would be cut as well; the gateway sends none.
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
/// HTTP/1.1 only, without upgrades (the gateway enables neither HTTP/2 nor WebSockets).
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
    let graceful = GracefulShutdown::new();
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
        connections.spawn(serve_connection(
            stream,
            peer,
            app.clone(),
            Arc::clone(&http),
            graceful.watcher(),
            timeouts,
            permit,
        ));
    }

    // Closing the listener makes new connection attempts fail at once instead of queueing.
    drop(listener);
    reap_finished(&mut connections);
    tracing::info!(
        open = connections.len(),
        "stopped accepting connections; letting in-flight requests finish"
    );
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        graceful.shutdown().await;
        while let Some(joined) = connections.join_next().await {
            log_join(joined);
        }
    })
    .await;
    if drained.is_err() {
        reap_finished(&mut connections);
        tracing::warn!(
            cut = connections.len(),
            shutdown_timeout = ?limits.shutdown_timeout,
            "shutdown deadline passed; dropping the remaining connections"
        );
        connections.shutdown().await;
    }
    Ok(())
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

/// Runs one connection until it ends, the watchdog finds it timed out, or the task is aborted at
/// the shutdown deadline. `_permit` holds its place in the per-address count until then (none for unbounded peers).
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    http: Arc<http1::Builder>,
    watcher: Watcher,
    timeouts: Timeouts,
    _permit: Option<Permit>,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(WatchedIo {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let service = ConnService {
        app,
        peer,
        activity: Arc::clone(&activity),
    };
    let mut conn = pin!(watcher.watch(http.serve_connection(io, service)));
    loop {
        let deadline = activity.deadline(timeouts);
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            // The deadline may have moved earlier (a request head began) or appeared (a request
            // finished): compute it again.
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

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What the watchdog of one connection knows. Everything that changes it runs in the
/// connection's own task, so the lock is never contended.
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

struct ActivityState {
    /// Requests whose handler has not yet produced a response.
    in_flight: usize,
    served_any: bool,
    /// Accept, or when the last in-flight request finished.
    idle_since: Instant,
    /// The first byte received while no request was in flight: a new request head has begun.
    head_started: Option<Instant>,
    last_write: Instant,
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                served_any: false,
                idle_since: now,
                head_started: None,
                last_write: now,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ActivityState> {
        // Plain counters and instants: still meaningful if a holder panicked.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When the connection is to be closed; `None` while a request is in flight.
    fn deadline(&self, timeouts: Timeouts) -> Option<Instant> {
        let state = self.lock();
        if state.in_flight > 0 {
            None
        } else if !state.served_any {
            // Counted from accept rather than from the first byte, so a client can't double its
            // time by waiting before it starts to trickle.
            state.idle_since.checked_add(timeouts.header_read)
        } else if let Some(started) = state.head_started {
            started.checked_add(timeouts.header_read)
        } else {
            state
                .idle_since
                .max(state.last_write)
                .checked_add(timeouts.idle)
        }
    }

    fn on_read(&self) {
        let mut state = self.lock();
        if state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn on_write(&self) {
        self.lock().last_write = Instant::now();
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        let mut state = self.lock();
        state.in_flight += 1;
        state.served_any = true;
        state.head_started = None;
        InFlight(Arc::clone(self))
    }
}

/// Marks a request as in flight until dropped: when its handler has produced the response, or
/// when the connection is dropped under it.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
        drop(state);
        self.0.changed.notify_one();
    }
}

/// The socket, reporting to the watchdog every read and write that moved bytes.
struct WatchedIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.on_read();
        }
        polled
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.on_write();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.on_write();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The router as one connection's hyper service: adds the peer address as `ConnectInfo` and
/// tells the watchdog which requests are in flight.
#[derive(Clone)]
struct ConnService {
    app: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let in_flight = self.activity.request_started();
        // No poll_ready first: Router is always ready.
        let response = tower::Service::call(&mut self.app.clone(), request);
        Box::pin(async move {
            let response = response.await;
            drop(in_flight);
            response
        })
    }
}

/// Open connections per client. Only clients with an open connection have an entry, so the map is
/// no larger than the number of open connections.
struct PerAddress {
    max: usize,
    open: Mutex<HashMap<ClientKey, usize>>,
}

impl PerAddress {
    fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ClientKey, usize>> {
        // Counts only: still right if a holder panicked.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_acquire(self: &Arc<Self>, key: ClientKey) -> Option<Permit> {
        let mut open = self.lock();
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Permit {
            per_address: Arc::clone(self),
            key,
        })
    }
}

/// An IPv4 peer seen through a dual-stack socket as its IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One open connection in the per-address count.
struct Permit {
    per_address: Arc<PerAddress>,
    key: ClientKey,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Entry::Occupied(mut entry) = self.per_address.lock().entry(self.key) {
            let count = entry.get_mut();
            *count = count.saturating_sub(1);
            if *count == 0 {
                entry.remove();
            }
        }
    }
}

#[derive(Default)]
struct RefusalLog {
    last_warned: Option<Instant>,
    unreported: u64,
}

impl RefusalLog {
    fn record(&mut self, ip: IpAddr, max: usize) {
        tracing::debug!(client = %ip, "refused connection: too many open from this address");
        self.unreported += 1;
        let now = Instant::now();
        if self
            .last_warned
            .is_some_and(|last| now.duration_since(last) < REFUSAL_WARN_INTERVAL)
        {
            return;
        }
        tracing::warn!(
            refused = self.unreported,
            latest_client = %ip,
            max_connections_per_ip = max,
            "refused connections over the per-address bound (reported at most every 10 s)"
        );
        self.last_warned = Some(now);
        self.unreported = 0;
    }
}

#[cfg(test)]
mod tests;
