//! Which runtime a connection is served on: those whose request head opens a stream go to the
//! streams' runtime, judged from the head's first bytes as they arrive.

use super::*;

/// What `opens_stream` makes of a connection whose client sends `head` (and nothing else).
async fn judged(head: &'static [u8]) -> bool {
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
    assert!(judged(b"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").await);
    assert!(judged(b"GET /graphql HTTP/1.1\r\nHOST: x\r\nUPGRADE: WebSocket\r\n\r\n").await);
    assert!(judged(b"POST /graphql/stream HTTP/1.1\r\naccept: text/event-stream\r\n\r\n").await);
    assert!(
        judged(b"POST /graphql HTTP/1.1\r\nAccept: multipart/mixed;subscriptionSpec=1.0\r\n\r\n")
            .await
    );
}

#[tokio::test]
async fn any_other_request_or_none_is_served_where_it_was_accepted() {
    assert!(!judged(b"POST /graphql HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{}").await);
    assert!(!judged(b"GET /healthz HTTP/1.1\r\n\r\n").await);
    // Nothing sent within the wait: left to the connection's own timeouts.
    assert!(!judged(b"").await);
}
