//! The header read and idle timeouts: a connection that sends too slowly, idles or stops
//! reading is closed; a slow request is not.

use super::*;

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
