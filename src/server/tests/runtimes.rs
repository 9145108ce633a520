//! Which runtime a connection is served on: those whose request head opens a stream go to the
//! streams' runtime, judged from the head's first bytes as they arrive.

use super::*;

/// What `opens_stream` makes of a connection whose client sends `head` (and nothing else).
async fn judged(head: &'static [u8]) -> Option<Opens> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let client = tokio::spawn(async move {
        let mut client = TcpStream::connect(address).await.expect("connect");
        tokio::io::AsyncWriteExt::write_all(&mut client, head)
            .await
            .expect("write");
        // Held open while the server looks.
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    let (stream, _) = listener.accept().await.expect("accept");
    let judged = opens_stream(&stream, Duration::from_millis(500)).await;
    client.abort();
    judged
}

#[tokio::test]
async fn a_websocket_upgrade_or_a_stream_asked_for_opens_a_stream_in_any_letter_case() {
    assert_eq!(Some(Opens::Stream), judged(b"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").await);
    assert_eq!(
        Some(Opens::Stream),
        judged(b"GET /graphql HTTP/1.1\r\nHOST: x\r\nUPGRADE: WebSocket\r\n\r\n").await
    );
    assert_eq!(
        Some(Opens::EventStream),
        judged(b"POST /graphql/stream HTTP/1.1\r\naccept: Text/Event-Stream\r\n\r\n").await
    );
    assert_eq!(
        Some(Opens::Stream),
        judged(b"POST /graphql HTTP/1.1\r\nAccept: multipart/mixed;subscriptionSpec=1.0\r\n\r\n")
            .await
    );
    // An upgrade is a WebSocket's, whatever else the head asks for.
    assert_eq!(
        Some(Opens::Stream),
        judged(b"GET /graphql HTTP/1.1\r\nAccept: text/event-stream\r\nUpgrade: websocket\r\n\r\n")
            .await
    );
}

#[tokio::test]
async fn any_other_request_is_served_where_it_was_accepted_and_nothing_sent_is_none() {
    assert_eq!(
        Some(Opens::Request),
        judged(b"POST /graphql HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{}").await
    );
    assert_eq!(
        Some(Opens::Request),
        judged(b"GET /healthz HTTP/1.1\r\n\r\n").await
    );
    // Nothing sent within the wait: left to the connection's own timeouts.
    assert_eq!(None, judged(b"").await);
}

#[tokio::test]
async fn the_look_at_the_head_does_not_add_to_the_header_read_timeout() {
    // Long enough that two of them can't pass for one and some slack.
    let header = Duration::from_secs(1);
    let server = Server::start(ServerLimits {
        header_read_timeout: header,
        ..limits()
    })
    .await;
    // Silent: closed once the timeout has passed since the accept, not twice that.
    let since = Instant::now();
    let mut silent = server.connect().await;
    let (after, sent) = closed(&mut silent, since, header + SLACK).await;
    assert!(after >= header, "closed after {after:?}");
    assert!(sent.is_empty(), "sent {sent:?}");
    // A head begun late and never finished: due `header` after the accept, not after its
    // first byte.
    let since = Instant::now();
    let mut late = server.connect().await;
    tokio::time::sleep(header * 3 / 4).await;
    write_all(&late, b"GET / HTTP/1.1\r\n").await.expect("send");
    let (after, _maybe_408) = closed(&mut late, since, header + SLACK).await;
    assert!(after >= header, "closed after {after:?}");
}
