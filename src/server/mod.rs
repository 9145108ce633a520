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
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;

use crate::net::ClientKey;

mod per_address;
mod watchdog;

use crate::net::canonical;
use per_address::{PerAddress, Permit, RefusalLog};
use watchdog::{Activity, ConnService, WatchedIo};

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

#[cfg(test)]
mod tests;
