//! Unit tests of `server`: each connection rule driven over real sockets (long, one test per rule).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use axum::extract::{ConnectInfo, Path};
use axum::routing::get;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::*;

const HEADER: Duration = Duration::from_millis(200);
const IDLE: Duration = Duration::from_millis(800);
/// Room for scheduling delays on a busy two-core CI machine.
const SLACK: Duration = Duration::from_millis(500);
/// Timers fire at or after their deadline, but a client measuring from a response starts its
/// clock after the server's last write, later still when the machine is busy.
const EARLY: Duration = Duration::from_millis(300);
const LONG: Duration = Duration::from_secs(30);
/// Far more than the socket buffers of both ends hold, so a client that doesn't read stalls
/// the server's writes.
const BIG: usize = 64 << 20;

fn limits() -> ServerLimits {
    ServerLimits {
        header_read_timeout: HEADER,
        idle_timeout: IDLE,
        max_connections_per_ip: 64,
        shutdown_timeout: Duration::from_secs(5),
        unbounded: Vec::new(),
    }
}

fn app() -> Router {
    Router::new()
        .route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/slow/{ms}",
            get(|Path(ms): Path<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "done"
            }),
        )
        .route("/big", get(|| async { vec![b'x'; BIG] }))
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl Server {
    async fn start(limits: ServerLimits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app(), limits, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.expect("connect")
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for `serve` to return Ok within `limit`.
    async fn stopped(self, limit: Duration) {
        let returned = timeout(limit, self.task)
            .await
            .expect("serve returns in time")
            .expect("serve task does not panic");
        assert!(returned.is_ok(), "serve returned {returned:?}");
    }
}

// Raw socket calls rather than AsyncReadExt/AsyncWriteExt: those need tokio's io-util
// feature, which the gateway doesn't ask for.
async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => return done,
        }
    }
}

async fn write_all(stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        stream.writable().await?;
        match stream.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn request(stream: &mut TcpStream, path: &str) -> (u16, String, String) {
    let head = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    write_all(stream, head.as_bytes()).await.expect("send");
    read_response(stream).await
}

/// One response with a Content-Length body: status, lower-cased head, body.
async fn read_response(stream: &mut TcpStream) -> (u16, String, String) {
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    let head_len = loop {
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = timeout(LONG, read_some(stream, &mut chunk))
            .await
            .expect("response in time")
            .expect("read response");
        assert!(n > 0, "connection closed before a full response head");
        received.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&received[..head_len]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status code");
    let body_len: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|len| len.trim().parse().ok())
        .expect("content-length");
    while received.len() < head_len + body_len {
        let n = timeout(LONG, read_some(stream, &mut chunk))
            .await
            .expect("body in time")
            .expect("read body");
        assert!(n > 0, "connection closed before the whole body");
        received.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&received[head_len..head_len + body_len]).into_owned();
    (status, head, body)
}

/// Reads until the server closes the connection, which must happen within `limit` of `since`;
/// returns how long after `since` that was, and whatever the server sent first.
async fn closed(stream: &mut TcpStream, since: Instant, limit: Duration) -> (Duration, Vec<u8>) {
    let mut received = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match tokio::time::timeout_at(since + limit, read_some(stream, &mut chunk)).await {
            Err(_) => panic!("connection still open {limit:?} later"),
            Ok(Ok(0) | Err(_)) => return (since.elapsed(), received),
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test]
async fn silent_connection_is_closed_after_header_read_timeout() {
    let server = Server::start(limits()).await;
    let since = Instant::now();
    let mut silent = server.connect().await;
    let (after, sent) = closed(&mut silent, since, HEADER + SLACK).await;
    assert!(after >= HEADER, "closed after {after:?}");
    assert!(sent.is_empty(), "sent {sent:?}");
}

#[tokio::test]
async fn half_sent_head_is_closed_after_header_read_timeout() {
    let server = Server::start(limits()).await;
    let since = Instant::now();
    let mut half = server.connect().await;
    write_all(&half, b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send");
    let (after, _maybe_408) = closed(&mut half, since, HEADER + SLACK).await;
    assert!(after >= HEADER, "closed after {after:?}");
}

#[tokio::test]
async fn trickled_head_does_not_extend_header_read_timeout() {
    let server = Server::start(limits()).await;
    let since = Instant::now();
    let trickle = server.connect().await;
    write_all(&trickle, b"GET / HTTP/1.1\r\n")
        .await
        .expect("send");
    let mut chunk = [0u8; 64];
    loop {
        assert!(
            since.elapsed() < HEADER + SLACK,
            "still open after {:?}",
            since.elapsed()
        );
        if write_all(&trickle, b"X-Slow: y\r\n").await.is_err() {
            break;
        }
        let read = timeout(Duration::from_millis(50), read_some(&trickle, &mut chunk)).await;
        if matches!(read, Ok(Ok(0) | Err(_))) {
            break;
        }
    }
    assert!(
        since.elapsed() >= HEADER,
        "closed after {:?}",
        since.elapsed()
    );
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let server = Server::start(limits()).await;
    let mut conn = server.connect().await;
    let (status, _, _) = request(&mut conn, "/").await;
    assert_eq!(status, 200);
    let (after, sent) = closed(&mut conn, Instant::now(), IDLE + SLACK).await;
    // Not at header_read_timeout: the idle wait between requests has a timeout of its own.
    assert!(after >= IDLE - EARLY, "closed after {after:?}");
    assert!(sent.is_empty(), "sent {sent:?}");
}

#[tokio::test]
async fn next_head_on_keep_alive_connection_gets_header_read_timeout() {
    let server = Server::start(limits()).await;
    let mut conn = server.connect().await;
    let (status, _, _) = request(&mut conn, "/").await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let since = Instant::now();
    write_all(&conn, b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send");
    // Before the idle deadline, 750 ms from here.
    let (after, _maybe_408) = closed(&mut conn, since, HEADER + SLACK).await;
    assert!(after >= HEADER, "closed after {after:?}");
}

#[tokio::test]
async fn request_longer_than_idle_timeout_completes() {
    let server = Server::start(limits()).await;
    let mut conn = server.connect().await;
    let slow = format!("/slow/{}", (IDLE * 2).as_millis());
    let (status, _, body) = request(&mut conn, &slow).await;
    assert_eq!((status, body.as_str()), (200, "done"));
    // And the connection is still good for another request.
    let (status, _, _) = request(&mut conn, "/").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn client_that_stops_reading_is_cut_after_idle_timeout() {
    let server = Server::start(limits()).await;
    let mut conn = server.connect().await;
    write_all(&conn, b"GET /big HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("send");
    tokio::time::sleep(IDLE + SLACK).await;
    let (_, sent) = closed(&mut conn, Instant::now(), Duration::from_secs(5)).await;
    assert!(!sent.is_empty());
    assert!(sent.len() < BIG, "the whole response was sent");
}

#[tokio::test]
async fn connections_over_the_per_address_bound_are_closed_at_accept() {
    let max = 3;
    let server = Server::start(ServerLimits {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        max_connections_per_ip: max,
        shutdown_timeout: Duration::from_secs(5),
        unbounded: Vec::new(),
    })
    .await;
    let mut open = Vec::new();
    for _ in 0..max {
        let mut conn = server.connect().await;
        let (status, _, _) = request(&mut conn, "/").await;
        assert_eq!(status, 200);
        open.push(conn);
    }

    let since = Instant::now();
    let mut extra = server.connect().await;
    let (_, sent) = closed(&mut extra, since, Duration::from_secs(1)).await;
    assert!(sent.is_empty(), "sent {sent:?}");

    for conn in &mut open {
        let (status, _, _) = request(conn, "/").await;
        assert_eq!(status, 200);
    }

    drop(open.pop());
    // The server notices the close a moment after the client made it.
    let mut accepted = false;
    for _ in 0..50 {
        let mut conn = server.connect().await;
        let head = b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
        if write_all(&conn, head).await.is_ok() {
            let (_, sent) = closed(&mut conn, Instant::now(), Duration::from_secs(1)).await;
            if !sent.is_empty() {
                assert!(sent.starts_with(b"HTTP/1.1 200"), "sent {sent:?}");
                accepted = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(accepted, "no connection accepted after one closed");
}

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_request_finish() {
    let mut server = Server::start(ServerLimits {
        idle_timeout: Duration::from_secs(10),
        shutdown_timeout: Duration::from_secs(5),
        ..limits()
    })
    .await;
    let addr = server.addr;
    let mut idle = server.connect().await;
    let (status, _, _) = request(&mut idle, "/").await;
    assert_eq!(status, 200);
    let mut busy = server.connect().await;
    write_all(&busy, b"GET /slow/500 HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let since = Instant::now();
    server.shut_down();

    // An idle keep-alive connection is closed at once.
    closed(&mut idle, since, SLACK).await;

    let mut refused = false;
    for _ in 0..50 {
        match TcpStream::connect(addr).await {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            // Raced the listener's close: it is dropped unanswered.
            Ok(mut late) => {
                closed(&mut late, Instant::now(), Duration::from_secs(1)).await;
            }
            Err(e) => panic!("unexpected connect error {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "new connections still accepted");

    let (status, head, body) = read_response(&mut busy).await;
    assert_eq!((status, body.as_str()), (200, "done"));
    assert!(head.contains("connection: close"), "head {head}");
    closed(&mut busy, Instant::now(), Duration::from_secs(1)).await;

    server.stopped(Duration::from_secs(2)).await;
    assert!(since.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn shutdown_deadline_cuts_remaining_connections() {
    let shutdown_timeout = Duration::from_millis(300);
    let mut server = Server::start(ServerLimits {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        max_connections_per_ip: 64,
        shutdown_timeout,
        unbounded: Vec::new(),
    })
    .await;
    let mut half = server.connect().await;
    write_all(&half, b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("send");
    let mut busy = server.connect().await;
    write_all(&busy, b"GET /slow/10000 HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let since = Instant::now();
    server.shut_down();
    server.stopped(shutdown_timeout + SLACK).await;
    assert!(since.elapsed() >= shutdown_timeout, "{:?}", since.elapsed());

    // serve returned only after dropping them.
    let (_, sent) = closed(&mut busy, Instant::now(), SLACK).await;
    assert!(sent.is_empty(), "sent {sent:?}");
    closed(&mut half, Instant::now(), SLACK).await;
}

#[tokio::test]
async fn handler_gets_connect_info() {
    let server = Server::start(limits()).await;
    let mut conn = server.connect().await;
    let local = conn.local_addr().expect("local address");
    let (status, _, body) = request(&mut conn, "/").await;
    assert_eq!((status, body), (200, local.to_string()));
}

#[test]
fn client_key_groups_ipv6_by_64_and_maps_ipv4() {
    let v4 = Ipv4Addr::new(192, 0, 2, 7);
    assert_eq!(ClientKey::of(IpAddr::V4(v4)), ClientKey::V4(v4));
    assert_eq!(
        ClientKey::of(IpAddr::V6(v4.to_ipv6_mapped())),
        ClientKey::V4(v4)
    );
    let a: Ipv6Addr = "2001:db8:1:2::1".parse().expect("address");
    let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().expect("address");
    let c: Ipv6Addr = "2001:db8:1:3::1".parse().expect("address");
    assert_eq!(ClientKey::of(IpAddr::V6(a)), ClientKey::of(IpAddr::V6(b)));
    assert_ne!(ClientKey::of(IpAddr::V6(a)), ClientKey::of(IpAddr::V6(c)));
}

#[test]
fn per_address_counts_are_released_and_forgotten() {
    let per_address = Arc::new(PerAddress::new(2));
    let one = ClientKey::V4(Ipv4Addr::new(192, 0, 2, 1));
    let two = ClientKey::V4(Ipv4Addr::new(192, 0, 2, 2));
    let first = per_address.try_acquire(one).expect("first");
    let second = per_address.try_acquire(one).expect("second");
    assert!(per_address.try_acquire(one).is_none());
    let other = per_address.try_acquire(two).expect("other client");
    drop(first);
    let third = per_address.try_acquire(one).expect("after a release");
    drop((second, third, other));
    assert!(per_address.lock().is_empty());
}
