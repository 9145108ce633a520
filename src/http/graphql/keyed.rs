//! A GraphQL request sent with an `Idempotency-Key`: a mutation runs once, in the key's unit
//! of work, which keeps its response for a retry; anything else runs as without the key.

use async_graphql::parser::types::OperationType;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::error::{ApiError, Envelope};
use super::super::idempotency::{self, Begun};
use super::super::media::{Media, Stream};
use super::delivery::{deliver, json_response};
use super::prepare::{Prepared, Ready, RootKey, prepare, root_keys};
use super::{Arrival, Operation, execute, run_ready};
use crate::domain::Actor;
use crate::graphql::analysis;
use crate::graphql::loaders;
use crate::server::ConnectionScope;

/// A request's `Idempotency-Key`, and the JSON media type a kept response is in (`None` when
/// the client takes no JSON, and so can't send a keyed mutation).
pub(super) struct Keyed {
    pub(super) key: String,
    pub(super) media: Option<Media>,
}

/// Runs one operation sent with an `Idempotency-Key`: a mutation runs once, in the key's unit
/// of work, which stores its response; a retry of the same operation gets that response. Any
/// other operation only reads, and runs as it would without the key.
pub(super) async fn run_once(
    state: &AppState,
    operation: Operation,
    stream: Stream,
    scope: Option<ConnectionScope>,
    keyed: Keyed,
) -> Response {
    let Operation {
        params,
        caller,
        arrival,
        streams,
    } = operation;
    let media = arrival.media;
    let envelope = Envelope::Graphql(media);
    let ready = match prepare(state, &caller, params, arrival).await {
        Ok(Prepared::Ready(ready)) => *ready,
        Ok(Prepared::Answered(answer)) => return json_response(StatusCode::OK, answer, media),
        Err(refusal) => return refusal.render(envelope),
    };
    let actor = match (&ready.actor, ready.operation_type) {
        (Some(actor), OperationType::Mutation) => actor.clone(),
        _ => {
            let multipart = streams.multipart;
            let outcome = run_ready(state, ready, &caller, arrival, streams).await;
            return deliver(state, outcome, media, stream, multipart, scope);
        }
    };
    // What a key keeps is a JSON response, so a keyed mutation is answered in JSON.
    let Some(media) = keyed.media else {
        ready.refund_unrun(state).await;
        return idempotency::invalid(
            "A response kept for an Idempotency-Key is JSON; accept `application/graphql-response+json` or `application/json` to send one.",
        )
        .render(envelope);
    };
    // It runs, and is answered, in that JSON media type.
    let arrival = Arrival { media, ..arrival };
    let envelope = Envelope::Graphql(media);
    if shows_a_secret(&ready) {
        ready.refund_unrun(state).await;
        return idempotency::invalid(
            "`createApiKey` and `createStreamTicket` show their secret once and only its SHA-256 is stored, so their response can't be kept for a retry; send them without an Idempotency-Key.",
        )
        .render(envelope);
    }
    let key = idempotency::Keyed::new(keyed.key, "POST", "/graphql", &the_operation(&ready));
    let alone = writes_more_than_once(&ready);
    let guard = match idempotency::begin(state, &actor, &key, envelope, alone).await {
        Ok(Begun::Run(guard)) => guard,
        Ok(Begun::Replay(response)) => {
            ready.refund_unrun(state).await;
            return response;
        }
        Err(refusal) => {
            ready.refund_unrun(state).await;
            return refusal.render(envelope);
        }
    };
    let mut ready = ready;
    ready.request = with_database(state, ready.request, &actor, guard.db(), false);
    match execute(state, ready, arrival).await {
        Ok((status, answer)) if !answer.server_fault() => {
            guard.finish(json_response(status, answer, media)).await
        }
        // A fault of the gateway or the database: nothing of the request is kept, so that a
        // retry with the key runs it afresh — and the answer says so, rather than show what
        // its other fields did and was rolled back.
        Ok((_, answer)) if answer.unavailable() => {
            guard.discard();
            ApiError::service_unavailable().render(envelope)
        }
        Ok(_) => {
            guard.discard();
            ApiError::unavailable(
                "The request failed in the gateway or its database and nothing of it was written; retry it with the same Idempotency-Key.",
            )
            .render(envelope)
        }
        Err(refusal) => {
            guard.discard();
            refusal.render(envelope)
        }
    }
}

/// The operation a key stands for, however its document was named (its text, APQ's hash, a
/// trusted document's id): the document's text, the operation it runs, and its variables.
fn the_operation(ready: &Ready) -> Value {
    let document = &ready.parsed.document;
    let name = analysis::select_operation(document, ready.operation_name.as_deref())
        .ok()
        .and_then(|(name, _)| name)
        .or_else(|| ready.operation_name.clone());
    json!({
        "query": ready.request.query,
        "operationName": name,
        "variables": ready.request.variables,
    })
}

/// Whether the operation selects a field whose answer holds a secret shown once.
fn shows_a_secret(ready: &Ready) -> bool {
    let names = root_fields(ready, RootKey::Name);
    names.contains("createApiKey") || names.contains("createStreamTicket")
}

/// Whether the operation may write more than once (more than one root field runs), so that its
/// unit of work's writes run alone in the organization (`domain::events::Writes`).
fn writes_more_than_once(ready: &Ready) -> bool {
    root_fields(ready, RootKey::ResponseKey).len() != 1
}

/// The root fields the operation selects, by name or by response key (none for an operation
/// the document doesn't hold).
fn root_fields(ready: &Ready, by: RootKey) -> std::collections::HashSet<&str> {
    let document = &ready.parsed.document;
    let mut keys = std::collections::HashSet::new();
    if let Ok((_, operation)) =
        analysis::select_operation(document, ready.operation_name.as_deref())
    {
        root_keys(
            document,
            &operation.node.selection_set.node,
            &mut keys,
            0,
            by,
        );
    }
    keys
}

/// The request with every read and write of its resolvers and loaders going through `db`
/// (a unit of work), in place of the app's pool.
fn with_database(
    state: &AppState,
    request: async_graphql::Request,
    actor: &Actor,
    db: crate::db::Db,
    query: bool,
) -> async_graphql::Request {
    let loader = loaders::phone_numbers(db.clone(), actor.organization_id, query);
    let services = crate::graphql::Services {
        db,
        ..state.services.clone()
    };
    request.data(services).data(loader)
}
