//! What the gateway checks and keeps of a WebSocket's messages beside async-graphql: each
//! client message held to the limits and the protocol before async-graphql reads it (`Gate`),
//! the running operation ids graphql-transport-ws refuses to reuse, and the operations refused
//! before they ran, whose answer goes out as the protocol's `error` message.

use std::sync::Arc;

use serde_json::Value;

use super::super::params::{bounds, out_of_bounds};
use super::super::stream as streaming;
use super::{Connection, DOCUMENT_ID, OPERATION_ID};

/// The operation ids of a graphql-transport-ws connection that are running: the protocol
/// closes a connection that subscribes with one of them again (4409), which async-graphql
/// would instead take as replacing it.
#[derive(Default)]
pub(super) struct RunningIds(std::sync::Mutex<Ids>);

#[derive(Default)]
pub(super) struct Ids {
    running: std::collections::HashSet<String>,
    /// Completed by the client: async-graphql answers each with a `complete` of its own.
    stopping: std::collections::HashSet<String>,
}

impl RunningIds {
    fn ids(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes note of a client's operation message; `Err` with the refusal of a duplicate.
    pub(super) fn heard(&self, kind: &str, id: &str) -> Result<(), Refusal> {
        let mut ids = self.ids();
        match kind {
            "subscribe" if !ids.running.insert(id.to_owned()) => Err(Refusal(
                4409,
                format!(
                    "Subscriber for {} already exists",
                    id.chars().take(64).collect::<String>()
                ),
            )),
            "complete" => {
                if ids.running.remove(id) {
                    ids.stopping.insert(id.to_owned());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Takes note of a `complete` the server sends: the answer to the client's, or the end of
    /// an operation.
    pub(super) fn sent(&self, text: &str) {
        // async-graphql writes the type first.
        if text.starts_with("{\"type\":\"complete\"")
            && let Ok(message) = serde_json::from_str::<Value>(text)
            && let Some(id) = message["id"].as_str()
        {
            self.ended(id);
        }
    }

    /// Takes note of an operation's end (its `complete` or `error`).
    pub(super) fn ended(&self, id: &str) {
        let mut ids = self.ids();
        if !ids.stopping.remove(id) {
            ids.running.remove(id);
        }
    }
}

/// The operations refused before they ran (marked by `stream::REQUEST_ERROR`), whose one
/// response goes out as the protocol's `error` message rather than `next`/`data`, and ends
/// the operation: the `complete` async-graphql sends after it is dropped.
#[derive(Default)]
pub(super) struct RefusedOperations(std::sync::Mutex<std::collections::HashSet<String>>);

/// What becomes of a message async-graphql sends.
pub(super) enum Rewritten {
    Kept,
    Error { id: String, message: String },
    Dropped,
}

impl RefusedOperations {
    fn ids(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn rewrite(&self, text: &str, transport_ws: bool) -> Rewritten {
        // async-graphql writes the type first; a result only names the marker in its data
        // when a client's string does, so the marker is looked for where only we put it.
        let result =
            text.starts_with("{\"type\":\"next\"") || text.starts_with("{\"type\":\"data\"");
        if result && text.contains(streaming::REQUEST_ERROR) {
            let Ok(message) = serde_json::from_str::<Value>(text) else {
                return Rewritten::Kept;
            };
            let payload = &message["payload"];
            if payload["extensions"][streaming::REQUEST_ERROR] != Value::Bool(true) {
                return Rewritten::Kept;
            }
            let Some(id) = message["id"].as_str() else {
                return Rewritten::Kept;
            };
            let errors = payload["errors"].clone();
            // graphql-transport-ws's payload is the errors; subscriptions-transport-ws's is
            // one error (its clients read an array too, but its server sends one).
            let payload = if transport_ws {
                errors
            } else {
                errors[0].clone()
            };
            self.ids().insert(id.to_owned());
            let error = serde_json::json!({ "type": "error", "id": id, "payload": payload });
            return Rewritten::Error {
                id: id.to_owned(),
                message: error.to_string(),
            };
        }
        if text.starts_with("{\"type\":\"complete\"")
            && let Ok(message) = serde_json::from_str::<Value>(text)
            && let Some(id) = message["id"].as_str()
            && self.ids().remove(id)
        {
            return Rewritten::Dropped;
        }
        Rewritten::Kept
    }
}

/// A client message refused before async-graphql reads it: the close code and its reason.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Refusal(pub(super) u16, pub(super) String);

impl Refusal {
    pub(super) fn invalid(reason: impl Into<String>) -> Self {
        Self(4400, reason.into())
    }
}

/// What the gateway checks of each client message before async-graphql reads it, the same in
/// both protocols: the nesting limit, the protocol's message types and fields, the bounds on
/// what the client names (4400 past any); an operation message before `connection_ack` (4401)
/// and a second `connection_init` (4429), as graphql-transport-ws has it; and in that
/// protocol a running operation's id taken again (4409).
pub(super) struct Gate {
    pub(super) transport_ws: bool,
    pub(super) max_nesting: usize,
    /// The body limit, which a message is held to as a request body is.
    pub(super) max_bytes: usize,
    pub(super) connection: Arc<Connection>,
    pub(super) running: Arc<RunningIds>,
    pub(super) init_seen: bool,
}

impl Gate {
    /// The message as async-graphql is to read it, or why the connection closes.
    pub(super) fn check(&mut self, text: &str) -> Result<Option<String>, Refusal> {
        if text.len() > self.max_bytes {
            return Err(Refusal::invalid(format!(
                "Invalid message received: it is {} bytes long; the limit is {} bytes (`--max-body-bytes`).",
                text.len(),
                self.max_bytes
            )));
        }
        super::super::super::check_json_nesting(text.as_bytes(), self.max_nesting)
            .map_err(Refusal::invalid)?;
        let message: Value = serde_json::from_str(text)
            .map_err(|_| Refusal::invalid("Invalid message received: not JSON."))?;
        let kind = message
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| Refusal::invalid("Invalid message received: no `type`."))?;
        let known: &[&str] = if self.transport_ws {
            &["connection_init", "ping", "pong", "subscribe", "complete"]
        } else {
            &["connection_init", "start", "stop", "connection_terminate"]
        };
        if !known.contains(&kind) {
            return Err(Refusal::invalid(format!(
                "Invalid message received: unknown type `{}`.",
                kind.chars().take(32).collect::<String>()
            )));
        }
        let operation = matches!(kind, "subscribe" | "complete" | "start" | "stop");
        let id = match message.get("id") {
            _ if !operation => None,
            Some(Value::String(id)) if id.is_empty() => {
                return Err(Refusal::invalid("Invalid message received: an empty `id`."));
            }
            Some(Value::String(id)) if id.len() > bounds::OPERATION_ID => {
                return Err(Refusal::invalid(format!(
                    "Invalid message received: `id` is {} bytes long; the limit is {} bytes.",
                    id.len(),
                    bounds::OPERATION_ID
                )));
            }
            Some(Value::String(id)) => Some(id.as_str()),
            _ => {
                return Err(Refusal::invalid(
                    "Invalid message received: `id` must be a string.",
                ));
            }
        };
        if matches!(kind, "subscribe" | "start") {
            let payload = message
                .get("payload")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    Refusal::invalid("Invalid message received: `payload` must be an object.")
                })?;
            if let Some(why) = out_of_bounds(
                payload.get("operationName").and_then(Value::as_str),
                payload.get(DOCUMENT_ID).and_then(Value::as_str),
                payload.get("extensions").and_then(Value::as_object),
            ) {
                return Err(Refusal::invalid(format!("Invalid message received: {why}")));
            }
        }
        if kind == "connection_init" {
            if self.init_seen {
                return Err(Refusal(4429, "Too many initialisation requests".to_owned()));
            }
            self.init_seen = true;
        } else if operation && self.connection.caller.get().is_none() {
            return Err(Refusal(4401, "Unauthorized".to_owned()));
        }
        if self.transport_ws
            && let Some(id) = id
        {
            self.running.heard(kind, id)?;
        }
        Ok(match kind {
            "subscribe" | "start" => carried(message),
            _ => None,
        })
    }
}

/// A subscribe message with what async-graphql's parser would drop carried in its payload's
/// `extensions`: the trusted document it names (`documentId`, as over HTTP), and its `id`
/// (`OPERATION_ID`, which its results are sent under without async-graphql).
fn carried(mut message: Value) -> Option<String> {
    let id = message.get("id")?.clone();
    let payload = message.get_mut("payload")?.as_object_mut()?;
    let document_id = payload.remove(DOCUMENT_ID);
    let extensions = payload
        .entry("extensions")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    // `null` is as good as none: async-graphql reads it so.
    if extensions.is_null() {
        *extensions = Value::Object(serde_json::Map::new());
    }
    let extensions = extensions.as_object_mut()?;
    if let Some(document_id) = document_id {
        extensions.insert(DOCUMENT_ID.to_owned(), document_id);
    }
    extensions.insert(OPERATION_ID.to_owned(), id);
    Some(message.to_string())
}
