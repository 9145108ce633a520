//! async-graphql's WebSocket messages in the protocol's terms: its closes given the protocol's
//! codes, and close frames within their size.

use axum::extract::ws::{CloseFrame, Message};
use serde_json::Value;

/// A message of async-graphql's in the protocol's terms, and the close to follow it with. Its
/// closes carry the protocol's codes: it closes a refused init and a message it can't read
/// alike with 1002 (4403 and 4400), an operation before the ack with 1011 (4401). In the legacy
/// protocol a refused init's `connection_error` is followed by a close (4403) rather than a
/// dropped socket.
pub(super) fn in_protocol(
    message: Message,
    refused: u16,
    transport_ws: bool,
) -> (Message, Option<Message>) {
    match message {
        Message::Close(Some(frame)) if frame.code == 1002 && refused != 0 => {
            (close(refused, frame.reason.as_str()), None)
        }
        Message::Close(Some(frame)) if frame.code == 1002 => (
            close(
                4400,
                &format!("Invalid message received: {}", frame.reason.as_str()),
            ),
            None,
        ),
        Message::Close(Some(frame)) if frame.code == 1011 => (close(4401, "Unauthorized"), None),
        Message::Text(text)
            if !transport_ws
                && refused != 0
                && text.starts_with("{\"type\":\"connection_error\"") =>
        {
            let reason = serde_json::from_str::<Value>(text.as_str())
                .ok()
                .and_then(|error| error["payload"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "Forbidden".to_owned());
            (Message::Text(text), Some(close(refused, &reason)))
        }
        other => (other, None),
    }
}

pub(super) fn close(code: u16, reason: &str) -> Message {
    // A close frame's reason is at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}
