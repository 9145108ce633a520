//! Shutdown: in-flight requests finish and idle connections close; at the deadline the rest
//! are cut.

use super::*;

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
async fn shutdown_closes_a_connection_that_has_sent_nothing_at_once() {
    let mut server = Server::start(ServerLimits {
        header_read_timeout: Duration::from_secs(10),
        shutdown_timeout: Duration::from_secs(10),
        ..limits()
    })
    .await;
    let mut silent = server.connect().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let since = Instant::now();
    server.shut_down();
    // Not at its header read timeout, nor at the shutdown deadline.
    let (_, sent) = closed(&mut silent, since, SLACK).await;
    assert!(sent.is_empty(), "sent {sent:?}");
    server.stopped(SLACK).await;
}

/// A stream that polls its connection's `closing` first when its task has spent its budget
/// (a busy response, say) is still told at shutdown: that first poll leaves its waker with the
/// server, though later polls look only at a flag until the server closes.
#[tokio::test]
async fn closing_first_polled_with_the_budget_spent_still_completes_at_shutdown() {
    let (told, heard) = oneshot::channel::<()>();
    let told = Arc::new(std::sync::Mutex::new(Some(told)));
    let app = Router::new().route(
        "/held",
        get(move |request: axum::extract::Request| {
            let told = Arc::clone(&told);
            async move {
                let scope = request
                    .extensions()
                    .get::<ConnectionScope>()
                    .cloned()
                    .expect("a scope");
                tokio::spawn(async move {
                    let mut closing = Box::pin(async move { scope.closing().await });
                    let mut first = true;
                    std::future::poll_fn(|cx| {
                        if std::mem::take(&mut first) {
                            // Spend the budget; running out schedules the task again.
                            while std::pin::pin!(tokio::task::consume_budget())
                                .poll(cx)
                                .is_ready()
                            {}
                            assert!(closing.as_mut().poll(cx).is_pending());
                            return std::task::Poll::Pending;
                        }
                        closing.as_mut().poll(cx)
                    })
                    .await;
                    if let Some(told) = told.lock().expect("lock").take() {
                        let _ = told.send(());
                    }
                });
                "held"
            }
        }),
    );
    let mut server = Server::start_with(limits(), app).await;
    let mut client = server.connect().await;
    let (status, _, body) = request(&mut client, "/held").await;
    assert_eq!((status, body.as_str()), (200, "held"));
    // Its task has polled `closing` twice by now: once out of budget, once with it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shut_down();
    timeout(Duration::from_secs(2), heard)
        .await
        .expect("told of the shutdown in time")
        .expect("told");
}
