//! A connection whose first request asks for an event stream, served without hyper.
//!
//! hyper keeps two 8 KiB buffers for as long as a connection lives: the one it reads request
//! heads into and the one it writes response heads through. An event stream holds its
//! connection for hours and is idle nearly all that time, so with 10,000 subscribers those
//! buffers alone would be 160 MiB, half of what the subscriptions cost. Here the head is read
//! into a buffer the size of the head, the response head is written from one the size of the
//! response head and each event from one the size of the event; between events the connection
//! holds none.
//!
//! Only the plain case is served here: an HTTP/1.1 GET or POST whose body, if any, has a
//! Content-Length of at most [`MAX_BODY`]. Anything else (a chunked body, `Expect`, an upgrade,
//! HTTP/1.0, a head that doesn't parse or is larger than [`MAX_HEAD`]) goes to hyper with the
//! bytes already read, so that every finer rule of HTTP stays hyper's. So does a keep-alive
//! connection once its stream has ended. The watchdog's rules hold as on hyper's connections:
//! the head is due `header_read` after the accept, and a response that makes no progress for
//! `idle` (a client that stopped reading) is cut. So do hyper's others: the body reaches the
//! handler as it arrives (the app's body read timeout bounds it and answers 408), a client that
//! closes its end before its response drops its handler and gets nothing, and what it sends
//! after its request waits for hyper (8 KiB of it read while the response streams, the rest
//! left in the socket).

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::Response;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

use super::watchdog::{Activity, WatchedIo};
use super::{Connection, mentions, sleep_until};

/// The largest request head served here; hyper reads on from there.
const MAX_HEAD: usize = 8 * 1024;
/// How much the head's buffer grows by at a time: most heads fit in one step.
const HEAD_STEP: usize = 1024;
const MAX_HEADERS: usize = 64;
/// The largest request body served here (a subscription's document and variables).
const MAX_BODY: usize = 64 * 1024;
/// The most of a body read from the socket at once (and held until the handler takes it).
const FEED_STEP: usize = 8 * 1024;
/// Bytes a client may send while its response is made and streams (the start of its next
/// request) that are read and kept for hyper; more wait in the socket.
const MAX_AHEAD: usize = 8 * 1024;

/// Serves `stream`, whose first bytes ask for an event stream, until it closes or is handed to
/// hyper. `activity` is what the connection has done so far (from its accept).
pub(super) async fn serve(stream: TcpStream, connection: Connection, activity: Arc<Activity>) {
    let mut io = WatchedIo::new(stream, Bytes::new(), Arc::clone(&activity));
    let mut buf = Vec::new();
    let head = match read_head(&mut io, &mut buf, &connection, &activity).await {
        Some(Parsed::Complete(head)) => head,
        Some(Parsed::Unusual) => {
            return connection.serve(io.inner, Bytes::from(buf), activity).await;
        }
        Some(Parsed::Partial) | None => return,
    };
    // The body: what came with the head, and the rest as the handler reads it (the app reads
    // bodies under its own body read timeout, and answers 408 past it, as on hyper).
    let wanted = head.len + head.body;
    let came = buf.len().min(wanted);
    let first = Bytes::copy_from_slice(&buf[head.len..came]);
    let mut ahead = if buf.len() > wanted {
        buf.split_off(wanted)
    } else {
        Vec::new()
    };
    drop(buf);
    let Head {
        mut request, close, ..
    } = *head;
    let mut unread = wanted - came;
    let body = if unread == 0 {
        *request.body_mut() = Body::from(first);
        None
    } else {
        let (body, rest) = mpsc::channel::<io::Result<Bytes>>(1);
        let _ = body.try_send(Ok(first));
        *request.body_mut() =
            Body::from_stream(futures_util::stream::unfold(rest, |mut rest| async move {
                rest.recv().await.map(|chunk| (chunk, rest))
            }));
        Some(body)
    };

    // Boxed: the router's future is let go of once it has answered, not kept in this task's
    // state for as long as the stream runs.
    let responding = Box::pin(connection.service(&activity).respond(request));
    let Some(response) = produce(&mut io, responding, body, &mut unread, &mut ahead).await else {
        return;
    };
    let draining = || *connection.draining.borrow();
    // A body the handler left unread would be read as the next request.
    let close = close || unread > 0 || draining();
    let kept = respond(&mut io, response, close, &mut ahead, &connection, &activity).await;
    if kept && !draining() {
        connection
            .serve(io.inner, Bytes::from(ahead), activity)
            .await;
    } else {
        let _ = timeout(Duration::from_secs(1), io.shutdown()).await;
    }
}

/// Waits for the handler's response while feeding it the rest of its request body (`unread`
/// bytes) through `body`, and watching the client: `None` when it leaves (or half-closes) first,
/// whereupon the handler is dropped, as hyper drops it. Bytes the client sends after its body
/// (its next request) are kept in `ahead`, up to [`MAX_AHEAD`].
async fn produce(
    io: &mut WatchedIo,
    mut responding: Pin<Box<impl Future<Output = Response>>>,
    mut body: Option<mpsc::Sender<io::Result<Bytes>>>,
    unread: &mut usize,
    ahead: &mut Vec<u8>,
) -> Option<Response> {
    loop {
        let step = async {
            if *unread > 0
                && let Some(body) = &body
            {
                Step::Fed(feed(io, body, unread).await)
            } else if ahead.len() < MAX_AHEAD {
                Step::Peer(poll_fn(|cx| poll_peer(io, cx, ahead)).await)
            } else {
                std::future::pending().await
            }
        };
        let step = tokio::select! {
            biased;
            response = &mut responding => Err(response),
            step = step => Ok(step),
        };
        let step = match step {
            Ok(step) => step,
            Err(response) => {
                // A handler still reading its body after answering gets an error, not a body
                // that ends short.
                if *unread > 0
                    && let Some(body) = &body
                {
                    let short = io::Error::new(io::ErrorKind::UnexpectedEof, "body not sent");
                    let _ = body.try_send(Err(short));
                }
                return Some(response);
            }
        };
        match step {
            // The whole body handed over: dropping the sender ends it.
            Step::Fed(Fed::More) if *unread == 0 => body = None,
            Step::Fed(Fed::More) | Step::Peer(true) => {}
            // The handler has stopped reading (it answers without the rest): `unread` says so.
            Step::Fed(Fed::Unwanted) => body = None,
            Step::Fed(Fed::Gone) | Step::Peer(false) => return None,
        }
    }
}

enum Step {
    Fed(Fed),
    Peer(bool),
}

enum Fed {
    More,
    Unwanted,
    Gone,
}

/// Reads the next part of the request body (at most `unread` bytes) and hands it to the
/// handler.
async fn feed(
    io: &mut WatchedIo,
    body: &mpsc::Sender<io::Result<Bytes>>,
    unread: &mut usize,
) -> Fed {
    let mut chunk = Vec::with_capacity((*unread).min(FEED_STEP));
    let limit = u64::try_from(*unread).unwrap_or(u64::MAX);
    match (&mut *io).take(limit).read_buf(&mut chunk).await {
        Ok(n) if n > 0 => {
            let sent = body.send(Ok(Bytes::from(chunk))).await;
            // Counted once handed over: a chunk dropped mid-send leaves the body short, which
            // closes the connection after the response.
            *unread -= n;
            if sent.is_err() {
                return Fed::Unwanted;
            }
            Fed::More
        }
        _ => {
            let gone = io::Error::new(io::ErrorKind::UnexpectedEof, "the client left mid-body");
            let _ = body.send(Err(gone)).await;
            Fed::Gone
        }
    }
}

/// Reads the connection's first request head into `buf`, until it parses, is found unusual, or
/// the header read deadline passes, the peer leaves or the server shuts down (`None`).
async fn read_head(
    io: &mut WatchedIo,
    buf: &mut Vec<u8>,
    connection: &Connection,
    activity: &Activity,
) -> Option<Parsed> {
    let deadline = activity.deadline(connection.timeouts);
    let mut draining = connection.draining.clone();
    loop {
        buf.reserve(HEAD_STEP.min(MAX_HEAD + 1 - buf.len()));
        let read = tokio::select! {
            read = io.read_buf(buf) => read,
            // Shutdown closes a connection that has not finished its head at once.
            _ = draining.wait_for(|draining| *draining) => return None,
            () = sleep_until(deadline) => return None,
        };
        match read {
            Ok(n) if n > 0 => {}
            _ => return None,
        }
        match parse(buf) {
            Parsed::Partial => continue,
            parsed => return Some(parsed),
        }
    }
}

enum Parsed {
    /// More bytes are needed.
    Partial,
    /// A request this module doesn't serve (hyper does).
    Unusual,
    /// Boxed: a request's parts are ten times the size of the other variants.
    Complete(Box<Head>),
}

struct Head {
    request: Request<Body>,
    /// The head's length in bytes.
    len: usize,
    /// The body's, from Content-Length.
    body: usize,
    /// The client said `Connection: close`.
    close: bool,
}

/// The request head at the start of `buf`, if it is one this module serves.
fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Parsed::Partial,
        _ => return Parsed::Unusual,
    };
    if len > MAX_HEAD || parsed.version != Some(1) {
        return Parsed::Unusual;
    }
    let method = match parsed.method {
        Some("GET") => Method::GET,
        Some("POST") => Method::POST,
        _ => return Parsed::Unusual,
    };
    // Origin form only ("/path?query"); the others are hyper's to judge.
    let Some(Ok(uri)) = parsed
        .path
        .filter(|path| path.starts_with('/'))
        .map(str::parse::<Uri>)
    else {
        return Parsed::Unusual;
    };
    let mut map = HeaderMap::with_capacity(parsed.headers.len());
    let mut body = None;
    let mut close = false;
    let mut event_stream = false;
    for field in parsed.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(field.name.as_bytes()),
            HeaderValue::from_bytes(field.value),
        ) else {
            return Parsed::Unusual;
        };
        if name == header::TRANSFER_ENCODING || name == header::EXPECT || name == header::UPGRADE {
            return Parsed::Unusual;
        }
        if name == header::CONTENT_LENGTH {
            match (body, content_length(field.value)) {
                (None, Some(length)) if length <= MAX_BODY => body = Some(length),
                _ => return Parsed::Unusual,
            }
        }
        if name == header::CONNECTION {
            for token in field.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"upgrade") {
                    return Parsed::Unusual;
                }
                close |= token.eq_ignore_ascii_case(b"close");
            }
        }
        if name == header::ACCEPT {
            event_stream |= mentions(field.value, b"text/event-stream");
        }
        map.append(name, value);
    }
    if !event_stream {
        return Parsed::Unusual;
    }
    let mut request = Request::new(Body::empty());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = map;
    Parsed::Complete(Box::new(Head {
        request,
        len,
        body: body.unwrap_or(0),
        close,
    }))
}

/// A Content-Length value: digits only.
fn content_length(value: &[u8]) -> Option<usize> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (204, 304).
    None,
    /// Content-Length: this many bytes still to send.
    Length(u64),
    Chunked,
}

/// Writes `response` to the client. True when the connection may serve another request: the
/// whole response was written as framed and nobody asked to close.
async fn respond(
    io: &mut WatchedIo,
    mut response: Response,
    mut close: bool,
    ahead: &mut Vec<u8>,
    connection: &Connection,
    activity: &Activity,
) -> bool {
    if response.status().is_informational() {
        // Not a final response (and 101 is hyper's, through an upgrade): as hyper does, a 500.
        tracing::error!(status = %response.status(), "a handler answered with an interim status");
        response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        close = true;
    }
    let (mut parts, mut body) = response.into_parts();
    let status = parts.status;
    let headers = &mut parts.headers;
    headers.remove(header::TRANSFER_ENCODING);
    // The handler may ask to close (after a body it did not read, say).
    let close = close
        || headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
    let lengths = headers.get_all(header::CONTENT_LENGTH).iter().count();
    let mut framing = if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        Framing::None
    } else if lengths > 0 {
        let length = headers
            .get(header::CONTENT_LENGTH)
            .map(HeaderValue::as_bytes);
        match length.and_then(content_length).filter(|_| lengths == 1) {
            Some(length) => Framing::Length(length as u64),
            // The handler's own header, unreadable or repeated: ours instead.
            None => {
                headers.remove(header::CONTENT_LENGTH);
                Framing::Chunked
            }
        }
    } else if let Some(length) = HttpBody::size_hint(&body).exact() {
        headers.insert(header::CONTENT_LENGTH, length.into());
        Framing::Length(length)
    } else {
        Framing::Chunked
    };
    if framing == Framing::Chunked {
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
    }
    if close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if !headers.contains_key(header::DATE)
        && let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(SystemTime::now()))
    {
        headers.insert(header::DATE, date);
    }
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in headers.iter() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    drop(parts);
    let idle = connection.timeouts.idle;
    if !write_progressing(io, &head, idle).await {
        return false;
    }
    drop(head);
    if framing == Framing::None {
        return !close;
    }

    // The client's end: still open, or closed (it left, or half-closed).
    let mut peer_open = true;
    loop {
        let deadline = activity.deadline(connection.timeouts);
        let frame = tokio::select! {
            biased;
            more = poll_fn(|cx| poll_peer(io, cx, ahead)), if peer_open && ahead.len() < MAX_AHEAD => {
                if more {
                    continue;
                }
                // A stream ends with its client. A response of known length is finished (a
                // client that half-closed still reads it), then the connection closed.
                if !matches!(framing, Framing::Length(_)) {
                    return false;
                }
                peer_open = false;
                continue;
            }
            () = activity.changed.notified() => continue,
            () = sleep_until(deadline) => {
                if activity.deadline(connection.timeouts).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!(peer = %connection.peer, "closing event stream: idle timeout");
                    return false;
                }
                continue;
            }
            frame = body.frame() => frame,
        };
        let data = match frame {
            None => break,
            Some(Err(e)) => {
                tracing::debug!(peer = %connection.peer, error = %e, "response body failed");
                return false;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => data,
                // Trailers (not sent on HTTP/1), or an empty frame (which would end a chunked body).
                _ => continue,
            },
        };
        let wire = match &mut framing {
            Framing::Length(left) => {
                let Some(after) = left.checked_sub(data.len() as u64) else {
                    tracing::debug!(peer = %connection.peer, "response body longer than its length");
                    return false;
                };
                *left = after;
                data
            }
            _ => {
                let size = format!("{:X}\r\n", data.len());
                let mut wire = Vec::with_capacity(size.len() + data.len() + 2);
                wire.extend_from_slice(size.as_bytes());
                wire.extend_from_slice(&data);
                wire.extend_from_slice(b"\r\n");
                Bytes::from(wire)
            }
        };
        if !write_progressing(io, &wire, idle).await {
            return false;
        }
    }
    let close = close || !peer_open;
    match framing {
        Framing::Chunked => write_progressing(io, b"0\r\n\r\n", idle).await && !close,
        Framing::Length(left) => left == 0 && !close,
        Framing::None => !close,
    }
}

/// Writes all of `data`; false when the client leaves or takes none of it for `idle` (as the
/// watchdog cuts hyper's connections: a response that makes no progress, however long a slow
/// reader takes over a large one).
async fn write_progressing(io: &mut WatchedIo, mut data: &[u8], idle: Duration) -> bool {
    while !data.is_empty() {
        match timeout(idle, io.write(data)).await {
            Ok(Ok(n)) if n > 0 => data = &data[n..],
            _ => return false,
        }
    }
    true
}

/// Reads what the client sends while it waits for its response: `Ready(true)` after keeping
/// some (a pipelined next request) in `ahead`, never past [`MAX_AHEAD`] (the caller stops
/// asking then, and the rest waits in the socket for hyper, as it would on hyper's
/// connections: the watchdog's header read timeout runs from its first byte); `Ready(false)`
/// when the client closed its end. The scratch space is on the stack of this poll only, not
/// kept with the connection.
fn poll_peer(io: &mut WatchedIo, cx: &mut Context<'_>, ahead: &mut Vec<u8>) -> Poll<bool> {
    let mut scratch = [0u8; 1024];
    let room = MAX_AHEAD.saturating_sub(ahead.len()).min(scratch.len());
    let mut read = ReadBuf::new(&mut scratch[..room]);
    match Pin::new(io).poll_read(cx, &mut read) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Ok(())) if !read.filled().is_empty() => {
            ahead.extend_from_slice(read.filled());
            Poll::Ready(true)
        }
        Poll::Ready(_) => Poll::Ready(false),
    }
}
