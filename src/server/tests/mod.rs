//! Unit tests of `server`: each connection rule driven over real sockets, one test per rule
//! (timeouts in `timeouts.rs`, per-address bounds `addresses.rs`, shutdown `shutdown.rs`).

use axum::extract::{ConnectInfo, Path};
use axum::routing::get;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::*;

mod addresses;
mod lean;
mod runtimes;
mod shutdown;
mod timeouts;

const HEADER: Duration = Duration::from_millis(200);
const IDLE: Duration = Duration::from_millis(800);
/// Room for scheduling delays on a busy machine.
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
        Self::start_with(limits, app()).await
    }

    async fn start_with(limits: ServerLimits, app: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, limits, async move {
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

// Raw socket calls: each step says what it waits for (readable, writable) and nothing buffers.
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
