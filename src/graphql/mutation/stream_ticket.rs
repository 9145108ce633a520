//! Stream tickets: how a browser's `EventSource`, which can send no header, authenticates the
//! event stream it opens (`domain::stream_tickets`).

use async_graphql::parser::types::OperationType;
use async_graphql::{Context, InputObject, Json, Object, SimpleObject};
use serde_json::{Map, Value};

use super::payload;
use crate::domain::stream_tickets::{self, Document};
use crate::domain::{DomainError, Field, UserErrorCode};
use crate::graphql::Services;
use crate::graphql::analysis;
use crate::graphql::error::actor;
use crate::graphql::types::{Timestamp, UserError};

#[derive(Default)]
pub struct StreamTicketMutation;

/// The one operation the ticket opens, named as the stream's request will name it.
#[derive(InputObject)]
pub struct CreateStreamTicketInput {
    /// The document's text; or give `documentId`.
    pub query: Option<String>,
    /// A trusted document's id, in place of `query`.
    pub document_id: Option<String>,
    pub operation_name: Option<String>,
    /// A JSON object.
    pub variables: Option<Json<Value>>,
}

#[derive(SimpleObject)]
pub struct CreateStreamTicketPayload {
    /// The ticket: it opens one event stream of the operation, once, until `expiresAt`.
    pub ticket: Option<String>,
    pub expires_at: Option<Timestamp>,
    /// The path and query string an `EventSource` opens: `/graphql?…&ticket=…`, the operation's
    /// parameters included.
    pub url: Option<String>,
    pub user_errors: Vec<UserError>,
}

#[Object]
impl StreamTicketMutation {
    /// Mints a ticket with which a browser's `EventSource` (which can send no header) opens one
    /// event stream of one operation as the caller: `new EventSource(url)`. It is good once,
    /// for a minute (no longer than a session token), and only for a GET of `/graphql` that
    /// accepts `text/event-stream`. To resume after the stream ends, mint a new ticket for
    /// the subscription with `after` set to the last event's `id`.
    async fn create_stream_ticket(
        &self,
        ctx: &Context<'_>,
        input: CreateStreamTicketInput,
    ) -> async_graphql::Result<Option<CreateStreamTicketPayload>> {
        let actor = actor(ctx)?;
        let services = ctx.data::<Services>()?;
        let minted = match checked(&input) {
            Ok((document, variables)) => {
                let url = url(&input, document, &variables);
                if url.len() > MAX_URL_BYTES {
                    Err(DomainError::invalid(
                        Field::Variables,
                        UserErrorCode::TooLong,
                        format!(
                            "The stream's URL would be {} bytes, over the {MAX_URL_BYTES} a browser or proxy reliably takes: send fewer or smaller variables, or a `documentId` instead of the `query`.",
                            url.len()
                        ),
                    ))
                } else {
                    let operation = stream_tickets::operation_hash(
                        document,
                        input.operation_name.as_deref(),
                        &variables,
                    );
                    stream_tickets::mint(&services.db, actor, operation)
                        .await
                        .map(|minted| (minted, url))
                }
            }
            Err(error) => Err(error),
        };
        Ok(payload(ctx, minted, |minted, user_errors| match minted {
            Some((minted, url)) => CreateStreamTicketPayload {
                url: Some(format!("{url}&ticket={}", minted.ticket)),
                ticket: Some(minted.ticket),
                expires_at: Some(minted.expires_at.into()),
                user_errors,
            },
            None => CreateStreamTicketPayload {
                ticket: None,
                expires_at: None,
                url: None,
                user_errors,
            },
        }))
    }
}

/// The longest URL a ticket is minted for (its ticket included), what browsers and proxies
/// reliably take.
const MAX_URL_BYTES: usize = 8 * 1024 - 64;

/// The operation's document and variables, when they name an operation an event stream runs.
fn checked(
    input: &CreateStreamTicketInput,
) -> Result<(Document<'_>, Map<String, Value>), DomainError> {
    let document = match (&input.query, &input.document_id) {
        (Some(query), None) => Document::Text(query),
        (None, Some(id)) => Document::Id(id),
        (Some(_), Some(_)) => {
            return Err(DomainError::invalid(
                Field::DocumentId,
                UserErrorCode::Invalid,
                "Give a `query` or a `documentId`, not both.",
            ));
        }
        (None, None) => {
            return Err(DomainError::invalid(
                Field::Query,
                UserErrorCode::Required,
                "Give the `query` (or `documentId`) of the operation the stream runs.",
            ));
        }
    };
    let variables = match &input.variables {
        None | Some(Json(Value::Null)) => Map::new(),
        Some(Json(Value::Object(variables))) => variables.clone(),
        Some(_) => {
            return Err(DomainError::invalid(
                Field::Variables,
                UserErrorCode::Invalid,
                "`variables` must be a JSON object.",
            ));
        }
    };
    if let Document::Text(text) = document {
        let runs_as_a_stream = async_graphql::parser::parse_query(text)
            .ok()
            .and_then(|parsed| {
                analysis::select_operation(&parsed, input.operation_name.as_deref())
                    .ok()
                    .map(|(_, operation)| operation.node.ty)
            })
            .is_some_and(|ty| matches!(ty, OperationType::Subscription | OperationType::Query));
        if !runs_as_a_stream {
            return Err(DomainError::invalid(
                Field::Query,
                UserErrorCode::Invalid,
                "`query` must parse and name (with `operationName`) one subscription or query: an event stream runs nothing else.",
            ));
        }
    }
    Ok((document, variables))
}

/// The relative URL of the stream's request, without its ticket.
fn url(
    input: &CreateStreamTicketInput,
    document: Document<'_>,
    variables: &Map<String, Value>,
) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    match document {
        Document::Text(text) => query.append_pair("query", text),
        Document::Id(id) => query.append_pair("documentId", id),
    };
    if let Some(name) = input.operation_name.as_deref().filter(|n| !n.is_empty()) {
        query.append_pair("operationName", name);
    }
    if !variables.is_empty() {
        query.append_pair("variables", &Value::Object(variables.clone()).to_string());
    }
    format!("/graphql?{}", query.finish())
}
