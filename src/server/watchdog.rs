//! The watchdog of one connection: what it has read and written, which requests are in
//! flight, and so when its header-read or idle deadline falls.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::response::Response;
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Timeouts;

/// What the watchdog of one connection knows. Everything that changes it runs in the
/// connection's own task, so the lock is never contended.
pub(super) struct Activity {
    state: Mutex<ActivityState>,
    pub(super) changed: Notify,
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
    /// A connection accepted at `accepted`: its first head is due `header_read` after it.
    pub(super) fn new(accepted: Instant) -> Self {
        let now = accepted;
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
    pub(super) fn deadline(&self, timeouts: Timeouts) -> Option<Instant> {
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

/// The socket, reporting to the watchdog every read and write that moved bytes; bytes already
/// read from it (`ahead`, by the event stream's own path) are read again first.
pub(super) struct WatchedIo {
    pub(super) inner: TcpStream,
    ahead: Bytes,
    activity: Arc<Activity>,
}

impl WatchedIo {
    pub(super) fn new(inner: TcpStream, ahead: Bytes, activity: Arc<Activity>) -> Self {
        Self {
            inner,
            ahead,
            activity,
        }
    }
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = if this.ahead.is_empty() {
            Pin::new(&mut this.inner).poll_read(cx, buf)
        } else {
            let n = this.ahead.len().min(buf.remaining());
            buf.put_slice(&this.ahead.split_to(n));
            Poll::Ready(Ok(()))
        };
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
pub(super) struct ConnService {
    pub(super) app: Router,
    pub(super) peer: SocketAddr,
    pub(super) activity: Arc<Activity>,
    pub(super) scope: super::ConnectionScope,
    /// Request handlers running on any connection of the server.
    pub(super) handlers: Arc<std::sync::atomic::AtomicUsize>,
}

impl ConnService {
    /// The router's response to `request`, which is in flight (for the watchdog, and for
    /// shutdown's count of running handlers) until it is produced.
    pub(super) fn respond<B>(
        &self,
        mut request: Request<B>,
    ) -> impl Future<Output = Response> + Send + 'static
    where
        B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
        B::Error: Into<axum::BoxError>,
    {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        request.extensions_mut().insert(self.scope.clone());
        let in_flight = self.activity.request_started();
        let running = Running::new(&self.handlers);
        // No poll_ready first: Router is always ready.
        let response = tower::Service::call(&mut self.app.clone(), request);
        async move {
            let response = match response.await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            drop(in_flight);
            drop(running);
            response
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let response = self.respond(request);
        Box::pin(async move { Ok(response.await) })
    }
}

/// One request handler running, counted until it answers or is dropped (its client left).
struct Running(Arc<std::sync::atomic::AtomicUsize>);

impl Running {
    fn new(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(Arc::clone(count))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}
