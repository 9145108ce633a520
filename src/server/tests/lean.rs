//! A connection whose first request asks for an event stream, served without hyper: the
//! stream as it comes, the client's leaving, the watchdog's rules, and everything handed to
//! hyper (requests it doesn't serve, the next request after a stream).

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::State;
use axum::http::header;

use super::*;

/// Streams open in the app, counted by a guard each stream's body holds.
#[derive(Clone, Default)]
struct Open(Arc<AtomicUsize>);

struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Open {
    fn hold(&self) -> Held {
        self.0.fetch_add(1, Ordering::SeqCst);
        Held(Arc::clone(&self.0))
    }

    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// `/events/{n}`: `n` events 50 ms apart (0: none, ever), each naming the request's body and
/// the peer; `/plain` a response of known length.
fn events_app(open: Open) -> Router {
    async fn events(
        State(open): State<Open>,
        Path(n): Path<usize>,
        ConnectInfo(peer): ConnectInfo<SocketAddr>,
        body: String,
    ) -> impl axum::response::IntoResponse {
        let held = open.hold();
        let stream = futures_util::stream::unfold((0, held), move |(i, held)| {
            let body = body.clone();
            async move {
                if n == 0 {
                    std::future::pending::<()>().await;
                }
                if i == n {
                    return None;
                }
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let event = format!("data: {i} {body} {peer}\n\n");
                Some((Ok::<_, Infallible>(event), (i + 1, held)))
            }
        });
        (
            [(header::CONTENT_TYPE, "text/event-stream")],
            Body::from_stream(stream),
        )
    }
    async fn late(State(open): State<Open>) -> &'static str {
        let _held = open.hold();
        tokio::time::sleep(Duration::from_millis(300)).await;
        "late"
    }
    Router::new()
        .route("/events/{n}", get(events).post(events))
        .route("/late", get(late))
        .route("/plain", get(|| async { "plain" }))
        .route("/big", get(|| async { vec![b'x'; BIG] }))
        .route("/bulk", get(|| async { vec![b'x'; BULK] }))
        .route(
            "/interim",
            get(|| async { axum::http::StatusCode::EARLY_HINTS }),
        )
        .route(
            "/signed-length",
            get(|| async { ([(header::CONTENT_LENGTH, "+5")], "plain") }),
        )
        .with_state(open)
}

/// More than loopback's socket buffers hold, in one frame, and less than [`BIG`], which a
/// reader that keeps up takes a while over.
const BULK: usize = 32 << 20;

async fn start() -> (Server, Open) {
    let open = Open::default();
    let server = Server::start_with(limits(), events_app(open.clone())).await;
    (server, open)
}

/// Reads into `received` until it holds `needle`; returns where it ends.
async fn read_until(stream: &TcpStream, received: &mut Vec<u8>, needle: &[u8]) -> usize {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(at) = received.windows(needle.len()).position(|w| w == needle) {
            return at + needle.len();
        }
        let n = timeout(LONG, read_some(stream, &mut chunk))
            .await
            .expect("bytes in time")
            .expect("read");
        assert!(
            n > 0,
            "closed before {:?} in {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(received)
        );
        received.extend_from_slice(&chunk[..n]);
    }
}

/// A connection that has sent `request`.
async fn sent(server: &Server, request: &str) -> TcpStream {
    let conn = server.connect().await;
    write_all(&conn, request.as_bytes()).await.expect("send");
    conn
}

/// What the server sends in answer to `request` until it closes the connection, lower-cased.
async fn answer_then_close(server: &Server, request: &str) -> String {
    let mut conn = sent(server, request).await;
    let (_, answer) = closed(&mut conn, Instant::now(), SLACK * 2).await;
    text(&answer)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_ascii_lowercase()
}

const ASK: &str = "Accept: text/event-stream\r\nHost: test";

#[tokio::test]
async fn an_event_stream_is_sent_chunked_as_it_comes_with_its_request_body() {
    let (server, open) = start().await;
    let head = format!("POST /events/3 HTTP/1.1\r\n{ASK}\r\nContent-Length: 5\r\n\r\nhello");
    let conn = sent(&server, &head).await;
    let peer = conn.local_addr().expect("address");
    let mut received = Vec::new();
    let head_end = read_until(&conn, &mut received, b"\r\n\r\n").await;
    let head = text(&received[..head_end]);
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(
        head.contains("\r\ntransfer-encoding: chunked\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\ncontent-type: text/event-stream\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\ndate: "), "{head}");
    // The first event arrives before the stream ends (50 ms apart), as its own chunk.
    let first = format!("data: 0 hello {peer}\n\n");
    let end = read_until(&conn, &mut received, first.as_bytes()).await;
    let frame = format!("{:X}\r\n{first}", first.len());
    assert_eq!(
        text(&received[end - frame.len()..end]),
        text(frame.as_bytes())
    );
    assert!(
        !received.ends_with(b"0\r\n\r\n"),
        "the stream ended with its first event"
    );
    assert_eq!(open.count(), 1);
    read_until(&conn, &mut received, b"\r\n0\r\n\r\n").await;
    let events = text(&received[head_end..]);
    assert_eq!(events.matches("data: ").count(), 3, "{events}");
}

#[tokio::test]
async fn a_client_that_leaves_ends_its_stream() {
    let (server, open) = start().await;
    let head = format!("GET /events/1000 HTTP/1.1\r\n{ASK}\r\n\r\n");
    let conn = sent(&server, &head).await;
    let mut received = Vec::new();
    read_until(&conn, &mut received, b"data: 0").await;
    assert_eq!(open.count(), 1);
    drop(conn);
    let since = Instant::now();
    while open.count() > 0 {
        assert!(since.elapsed() < SLACK, "the stream outlived its client");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn after_a_stream_the_connection_serves_a_pipelined_request_and_closes_when_asked() {
    let (server, _open) = start().await;
    // Both requests in one write: the second waits, unread by the stream, for hyper.
    let both = format!(
        "GET /events/2 HTTP/1.1\r\n{ASK}\r\n\r\nGET /plain HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    );
    let conn = sent(&server, &both).await;
    let mut received = Vec::new();
    let stream_end = read_until(&conn, &mut received, b"\r\n0\r\n\r\n").await;
    let after = read_until(&conn, &mut received, b"\r\n\r\nplain").await;
    let second = text(&received[stream_end..after]);
    assert!(second.starts_with("http/1.1 200 ok\r\n"), "{second}");
    assert!(second.contains("\r\ncontent-length: 5\r\n"), "{second}");
    let mut conn = conn;
    let (_, rest) = closed(&mut conn, Instant::now(), SLACK).await;
    assert!(rest.is_empty(), "{rest:?}");

    // `Connection: close` on the stream's own request: closed once it ends.
    let head = format!("GET /events/2 HTTP/1.1\r\n{ASK}\r\nConnection: close\r\n\r\n");
    let answer = answer_then_close(&server, &head).await;
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n0\r\n\r\n"), "{answer}");
}

#[tokio::test]
async fn requests_it_does_not_serve_get_hyper_s_answer() {
    let (server, _open) = start().await;
    // A chunked request body: read by hyper, and the stream still sent.
    let head = format!(
        "POST /events/1 HTTP/1.1\r\n{ASK}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    );
    let conn = sent(&server, &head).await;
    let mut received = Vec::new();
    read_until(&conn, &mut received, b"data: 0 abcde ").await;

    // Expect: hyper's 100 Continue first.
    let head = format!(
        "POST /events/1 HTTP/1.1\r\n{ASK}\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    );
    let conn = sent(&server, &head).await;
    let mut received = Vec::new();
    read_until(&conn, &mut received, b"HTTP/1.1 100 Continue\r\n\r\n").await;
    write_all(&conn, b"hi").await.expect("send");
    read_until(&conn, &mut received, b"data: 0 hi ").await;

    // HTTP/1.0, which has no chunked framing: hyper's answer, closed at its end.
    let head = format!("GET /events/1 HTTP/1.0\r\n{ASK}\r\n\r\n");
    let answer = answer_then_close(&server, &head).await;
    assert!(
        answer.starts_with("http/1.") && answer.contains(" 200 ok\r\n"),
        "{answer}"
    );
    assert!(!answer.contains("transfer-encoding"), "{answer}");
    assert!(answer.contains("data: 0"), "{answer}");

    // A head that doesn't parse: hyper's 400.
    let head = format!("GET /events/1 HTTP/1.1\r\n{ASK}\r\nBad Header: x\r\n\r\n");
    let answer = answer_then_close(&server, &head).await;
    assert!(answer.starts_with("http/1.1 400 "), "{answer}");

    // A head longer than the lean path reads (hyper takes up to ~400 KiB): served.
    let padding = "x".repeat(20_000);
    let head = format!("GET /events/1 HTTP/1.1\r\n{ASK}\r\nX-Padding: {padding}\r\n\r\n");
    let conn = sent(&server, &head).await;
    let mut received = Vec::new();
    read_until(&conn, &mut received, b"data: 0").await;
    assert!(text(&received).starts_with("http/1.1 200 ok\r\n"));

    // Two Content-Lengths: hyper refuses.
    let head = format!(
        "POST /events/1 HTTP/1.1\r\n{ASK}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    );
    let answer = answer_then_close(&server, &head).await;
    assert!(answer.starts_with("http/1.1 400 "), "{answer}");
}

#[tokio::test]
async fn a_slow_head_is_closed_at_the_header_read_timeout() {
    let (server, _open) = start().await;
    let since = Instant::now();
    let head = format!("GET /events/1 HTTP/1.1\r\n{ASK}\r\n");
    let mut half = sent(&server, &head).await;
    let (after, sent) = closed(&mut half, since, HEADER + SLACK).await;
    assert!(after >= HEADER, "closed after {after:?}");
    assert!(sent.is_empty(), "sent {sent:?}");
}

#[tokio::test]
async fn a_silent_stream_or_a_client_that_stops_reading_is_cut_after_the_idle_timeout() {
    let (server, open) = start().await;
    let head = format!("GET /events/0 HTTP/1.1\r\n{ASK}\r\n\r\n");
    let mut silent = sent(&server, &head).await;
    let mut received = Vec::new();
    read_until(&silent, &mut received, b"\r\n\r\n").await;
    let since = Instant::now();
    let (after, _) = closed(&mut silent, since, IDLE + SLACK).await;
    assert!(after >= IDLE - EARLY, "closed after {after:?}");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(open.count(), 0, "the stream outlived its connection");

    let head = format!("GET /big HTTP/1.1\r\n{ASK}\r\n\r\n");
    let mut stalled = sent(&server, &head).await;
    tokio::time::sleep(IDLE + SLACK).await;
    let (_, sent) = closed(&mut stalled, Instant::now(), Duration::from_secs(5)).await;
    let head = text(&sent[..sent.len().min(200)]);
    assert!(head.contains(&format!("content-length: {BIG}")), "{head}");
    assert!(sent.len() < BIG, "the whole response was sent");
}

#[tokio::test]
async fn shutdown_closes_a_half_sent_head_at_once_and_ends_when_the_stream_does() {
    let (mut server, _open) = start().await;
    let head = format!("GET /events/1 HTTP/1.1\r\n{ASK}\r\n");
    let mut half = sent(&server, &head).await;
    let head = format!("GET /events/10 HTTP/1.1\r\n{ASK}\r\n\r\n");
    let streaming = sent(&server, &head).await;
    let mut received = Vec::new();
    read_until(&streaming, &mut received, b"data: 0").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shut_down();
    let (after, _) = closed(&mut half, Instant::now(), SLACK).await;
    assert!(after < HEADER, "closed after {after:?}");
    // The stream runs to its end (ten events), then the connection closes: it takes no other
    // request.
    let end = read_until(&streaming, &mut received, b"\r\n0\r\n\r\n").await;
    assert_eq!(text(&received[..end]).matches("data: ").count(), 10);
    let mut streaming = streaming;
    let (_, rest) = closed(&mut streaming, Instant::now(), SLACK).await;
    assert!(rest.is_empty());
    server.stopped(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn more_than_8_kib_pipelined_behind_a_response_waits_for_hyper_and_is_answered() {
    let (server, _open) = start().await;
    let padding = "p".repeat(9_000);
    let both = format!(
        "GET /events/2 HTTP/1.1\r\n{ASK}\r\n\r\nGET /plain HTTP/1.1\r\nHost: test\r\nX-Padding: {padding}\r\n\r\n"
    );
    let conn = sent(&server, &both).await;
    let mut received = Vec::new();
    let stream_end = read_until(&conn, &mut received, b"\r\n0\r\n\r\n").await;
    let events = text(&received[..stream_end]);
    assert_eq!(events.matches("data: ").count(), 2, "{events}");
    let after = read_until(&conn, &mut received, b"\r\n\r\nplain").await;
    assert!(text(&received[stream_end..after]).starts_with("http/1.1 200 ok\r\n"));
}

#[tokio::test]
async fn a_body_that_arrives_after_the_header_read_timeout_is_read_by_the_handler() {
    let (server, _open) = start().await;
    let head = format!("POST /events/1 HTTP/1.1\r\n{ASK}\r\nContent-Length: 10\r\n\r\nabcde");
    let conn = sent(&server, &head).await;
    // Past the header read timeout: the head was whole, and the body is the handler's to wait for
    // (the gateway's body read timeout bounds it, as on hyper's connections).
    tokio::time::sleep(HEADER * 2).await;
    write_all(&conn, b"fghij").await.expect("send");
    let mut received = Vec::new();
    read_until(&conn, &mut received, b"data: 0 abcdefghij ").await;
}

#[tokio::test]
async fn a_client_that_closes_its_end_before_the_response_gets_none_and_its_handler_is_dropped() {
    let (server, open) = start().await;
    let head = format!("GET /late HTTP/1.1\r\n{ASK}\r\n\r\n");
    let mut conn = sent(&server, &head).await;
    let since = Instant::now();
    while open.count() == 0 {
        assert!(since.elapsed() < SLACK, "the handler never ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_, mut write) = conn.split();
    tokio::io::AsyncWriteExt::shutdown(&mut write)
        .await
        .expect("half-close");
    let (after, sent) = closed(&mut conn, Instant::now(), SLACK).await;
    assert!(sent.is_empty(), "sent {:?}", text(&sent));
    assert!(after < Duration::from_millis(250), "closed after {after:?}");
    assert_eq!(open.count(), 0, "the handler ran on");
}

#[tokio::test]
async fn a_slow_reader_of_a_large_response_gets_all_of_it_however_long_it_takes() {
    let (server, _open) = start().await;
    let head = format!("GET /bulk HTTP/1.1\r\n{ASK}\r\nConnection: close\r\n\r\n");
    let conn = sent(&server, &head).await;
    let since = Instant::now();
    let mut received = 0usize;
    let mut chunk = vec![0u8; 64 << 10];
    // 1 MiB every 100 ms: the whole takes longer than the idle timeout, no pause nearly as long.
    'reading: loop {
        let mut this_round = 0;
        while this_round < 1 << 20 {
            let n = timeout(LONG, read_some(&conn, &mut chunk))
                .await
                .expect("bytes in time")
                .expect("read");
            if n == 0 {
                break 'reading;
            }
            this_round += n;
            received += n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(since.elapsed() > IDLE, "read in {:?}", since.elapsed());
    assert!(received > BULK, "{received} bytes of a {BULK}-byte body");
}

#[tokio::test]
async fn a_handler_s_odd_answers_are_framed_as_hyper_would() {
    let (server, _open) = start().await;
    // An interim status is no answer: a 500, and the connection closed.
    let answer =
        answer_then_close(&server, &format!("GET /interim HTTP/1.1\r\n{ASK}\r\n\r\n")).await;
    assert!(answer.starts_with("http/1.1 500 "), "{answer}");
    // A length hyper would not read (a sign before its digits) is not sent: the body is chunked.
    let head = format!("GET /signed-length HTTP/1.1\r\n{ASK}\r\nConnection: close\r\n\r\n");
    let answer = answer_then_close(&server, &head).await;
    assert!(!answer.contains("content-length"), "{answer}");
    assert!(
        answer.contains("\r\ntransfer-encoding: chunked\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("\r\n\r\n5\r\nplain\r\n0\r\n\r\n"),
        "{answer}"
    );
}
