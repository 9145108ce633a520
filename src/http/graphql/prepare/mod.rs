//! Every step before an operation runs, the same for every transport, each a stage of its own:
//! the document resolved (trusted documents, APQ), measured before parsing, the caller
//! identified and the floor charged, the document parsed (or taken from the cache) and
//! analysed, the operation admitted by the rules that need no database, its cost reserved, and
//! the request built with its actor.

use std::sync::Arc;

use async_graphql::Variables;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use axum::http::StatusCode;
use serde_json::Value;

use super::super::AppState;
use super::super::error::ApiError;
use super::super::pipeline;
use super::answer::Answer;
use super::cost::{
    FIELDS_PER_COST_POINT, budget, check_limits, cost_floor, debug_fields, refused_with_fields,
    within_a_bucket,
};
use super::params::Params;
use super::{Arrival, Caller, ParsedDocument};
use crate::code::Code;
use crate::config::Limits;
use crate::domain::Actor;
use crate::graphql::analysis::{self, Analysis};
use crate::graphql::loaders;
use crate::graphql::query::{Budget, Lookups};
use crate::scan::DocumentShape;

mod again;
mod resolve;
mod roots;

pub(super) use again::{Again, Rerun};
use resolve::{not_trusted, resolve, ticketed_operation};
pub(super) use roots::{RootKey, root_keys};

/// What `prepare` makes of an operation.
pub(super) enum Prepared {
    /// Checked, authenticated and paid for: ready to run.
    Ready(Box<Ready>),
    /// Answered without running (the APQ protocol's answers).
    Answered(Answer),
}

/// An operation ready to run, and what its run needs to settle its cost.
pub(super) struct Ready {
    pub(super) request: async_graphql::Request,
    pub(super) parsed: Arc<ParsedDocument>,
    /// Whether the document passed full validation before (see `prepare`).
    pub(super) prevalidated: bool,
    /// Whether full validation of this request vouches for the whole document.
    pub(super) vouches: bool,
    pub(super) bucket: String,
    pub(super) floor: u64,
    /// The cost reserved from the bucket.
    pub(super) requested: u64,
    pub(super) operation_name: Option<String>,
    pub(super) operation_type: OperationType,
    /// Who is calling; `None` for an introspection-only operation without a credential.
    pub(super) actor: Option<Actor>,
    /// Its lookups by id that returned nothing, which it pays for as objects returned.
    pub(super) lookups: Lookups,
    /// What `rateLimit` tells, and the objects of it served (which cost nothing).
    pub(super) budget: Budget,
    /// Each field's cost, for `extensions.cost.fields`, when the client asked for it.
    pub(super) cost_fields: Option<Value>,
    /// The client it is counted for (its name as the metrics label it).
    pub(super) client: Arc<str>,
}

impl Ready {
    /// Gives back what the operation reserved beyond its floor, for when it doesn't run (or
    /// a subscription ends): it is charged as a query that returned nothing.
    pub(super) async fn refund_unrun(&self, state: &AppState) -> crate::ratelimit::ThrottleStatus {
        pipeline::refund(state, &self.bucket, self.requested - self.floor).await
    }
}

/// Every step before an operation runs, for every transport, in the order they run.
pub(super) async fn prepare(
    state: &AppState,
    caller: &Caller,
    mut params: Params,
    arrival: Arrival,
) -> Result<Prepared, ApiError> {
    let ticket = params
        .ticket
        .take()
        .map(|ticket| (ticket, ticketed_operation(&params)));
    let document = match resolve(state, &mut params)? {
        Ok(document) => document,
        Err(answer) => return Ok(Prepared::Answered(answer)),
    };
    let shape = measure(&document.text, &state.limits)?;
    // Who is calling, and the floor paid, before any parsing: a document that never parses,
    // validates or authenticates has still cost the work of reading it, and that work is
    // charged to the credential, or to the address of an anonymous caller.
    let actor = match ticket {
        Some((ticket, operation)) => {
            Some(pipeline::redeem(state, &caller.presented, &ticket, &operation).await?)
        }
        None => pipeline::identify(state, &caller.presented).await?,
    };
    let bucket = pipeline::bucket(actor.as_ref(), caller.client);
    // A hash-only APQ request reads the remembered document, so its size counts too.
    let paid = cost_floor(shape.tokens, arrival.request_bytes.max(document.text.len()));
    within_a_bucket(
        state,
        paid,
        "The document is so large that reading it costs",
    )?;
    pipeline::charge(state, &bucket, paid, paid).await?;

    let (parsed, fresh) = parse(state, &document.text)?;
    let analysis = analysis::analyse(
        &parsed.document,
        params.operation_name.as_deref(),
        &params.variables,
        &state.schema_shape,
    )
    .map_err(|analysis::AnalysisError::UnknownOperation(m)| {
        ApiError::new(StatusCode::BAD_REQUEST, Code::GraphqlValidationFailed, m)
    })?;
    admit(
        &analysis,
        &parsed.document,
        params.operation_name.as_deref(),
        Admission {
            arrival,
            only_introspection: document.only_introspection,
            introspection: state.limits.introspection,
            identified: actor.is_some(),
        },
        &state.limits,
    )?;

    // Only an authenticated caller's query text is remembered, so anonymous traffic can't
    // fill the cache.
    if let (Some(apq), Some(hash), Some(_)) = (&state.apq, document.register, &actor) {
        apq.remember(hash, &document.text);
    }
    if fresh && actor.is_some() {
        state.documents.keep(&document.text, &parsed);
    }
    // The floor grows with the fields the operation selects (fragments expanded): validating
    // and planning them is work whatever the response holds. The rest of what the operation
    // may cost is reserved now; what its response doesn't use goes back, down to the floor.
    let floor = paid + analysis.fields / FIELDS_PER_COST_POINT;
    let requested = analysis.cost.max(floor);
    within_a_bucket(state, requested, "The query may cost")?;
    let cost_fields = debug_fields(state, caller.cost_debug, &parsed.document, &params);
    let reserved = pipeline::charge(state, &bucket, requested - paid, requested)
        .await
        .map_err(|refusal| refused_with_fields(refusal, cost_fields.as_ref()))?;
    let budget = budget(requested, reserved);

    let executable = &parsed.document;
    // A document that passed every rule before is validated only for what this request
    // changes, its variables; a document with several operations always in full (the rules
    // read variables of operations it doesn't run).
    let operation = single_operation(executable)
        .then(|| analysis::select_operation(executable, params.operation_name.as_deref()).ok())
        .flatten()
        .map(|(_, operation)| &operation.node);
    let prevalidated = parsed.validated()
        && operation.is_some_and(|operation| {
            state
                .schema_shape
                .inputs
                .variables_surely_valid(operation, &params.variables)
        });
    // Full validation vouches for the whole document only when every variable was given: the
    // arguments rule skips an argument whole (its literal parts too) when a variable in it
    // is missing.
    let vouches = operation.is_some_and(|operation| {
        operation
            .variable_definitions
            .iter()
            .all(|d| params.variables.contains_key(d.node.name.node.as_str()))
    });
    // Parsed once: async-graphql runs the document already parsed here.
    let lookups = Lookups::default();
    let mut request = async_graphql::Request::new(document.text)
        .variables(Variables::from_json(Value::Object(params.variables)))
        .data(lookups.clone())
        .data(budget.clone());
    request.set_parsed_query(parsed.runnable().clone());
    if let Some(name) = params.operation_name.clone() {
        request = request.operation_name(name);
    }
    if let Some(actor) = &actor {
        let query = analysis.operation_type == OperationType::Query;
        request = with_actor(state, request, actor.clone(), query);
    }
    Ok(Prepared::Ready(Box::new(Ready {
        request,
        parsed,
        prevalidated,
        vouches,
        bucket,
        floor,
        requested,
        operation_name: params.operation_name,
        operation_type: analysis.operation_type,
        actor,
        lookups,
        budget,
        cost_fields,
        client: state.metrics.client_label(caller.app.name.as_deref()),
    })))
}

/// The document's shape, measured before parsing: the parser recurses once per bracket, and its
/// work grows with the tokens, so both are bounded before it runs.
fn measure(text: &str, limits: &Limits) -> Result<DocumentShape, ApiError> {
    let shape = crate::scan::document_shape(text);
    if shape.nesting > limits.max_nesting {
        return Err(ApiError::nesting(super::super::nesting_message(
            "The document",
            shape.nesting,
            limits.max_nesting,
        )));
    }
    if shape.tokens > limits.max_tokens {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::TokenLimitExceeded,
            format!(
                "The document has {} tokens; the token limit is {} (`--max-tokens`).",
                shape.tokens, limits.max_tokens
            ),
        ));
    }
    Ok(shape)
}

/// The parsed document: the cache's, or parsed now (`true` when it is to be kept).
fn parse(state: &AppState, text: &str) -> Result<(Arc<ParsedDocument>, bool), ApiError> {
    if let Some(parsed) = state.documents.get(text) {
        return Ok((parsed, false));
    }
    let document = async_graphql::parser::parse_query(text).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::GraphqlParseFailed,
            format!("The query does not parse: {e}"),
        )
    })?;
    Ok((Arc::new(ParsedDocument::new(document, &state.usage)), true))
}

/// What admitting an operation depends on besides its analysis and the limits.
#[derive(Debug, Clone, Copy)]
struct Admission {
    arrival: Arrival,
    /// The trusted documents let it run only if it only introspects.
    only_introspection: bool,
    /// Whether introspection is on.
    introspection: bool,
    /// Whether the caller presented a credential that authenticated.
    identified: bool,
}

/// The rules an operation is held to once analysed, none of which needs the database: one root
/// field per subscription, subscriptions only where they can stream (and only they where
/// nothing else can be answered), only queries (and an
/// event stream's subscriptions) by GET, the trusted documents, introspection, the limits, and
/// a credential for anything but introspection.
fn admit(
    analysis: &Analysis,
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    admission: Admission,
    limits: &Limits,
) -> Result<(), ApiError> {
    let subscription = analysis.operation_type == OperationType::Subscription;
    if subscription && let Ok((_, operation)) = analysis::select_operation(document, operation_name)
    {
        let mut keys = std::collections::HashSet::new();
        root_keys(
            document,
            &operation.node.selection_set.node,
            &mut keys,
            0,
            RootKey::ResponseKey,
        );
        if keys.len() != 1 || keys.contains("__typename") {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::GraphqlValidationFailed,
                "A subscription selects exactly one root field (not __typename), with its fragments expanded; open one subscription per field.",
            ));
        }
    }
    let arrival = admission.arrival;
    if subscription && !arrival.streaming {
        return Err(ApiError::bad_request(
            "Subscriptions run over WebSocket (graphql-transport-ws or graphql-ws on this URL), server-sent events (`Accept: text/event-stream`) or multipart subscriptions (`Accept: multipart/mixed;subscriptionSpec=1.0`).",
        ));
    }
    if !subscription && arrival.subscriptions_only {
        return Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            Code::BadRequest,
            "Multipart subscriptions carry subscriptions only; accept application/graphql-response+json or application/json for a query or mutation.",
        ));
    }
    // A subscription only reads, so an event stream may ask for it by GET (EventSource).
    let safe =
        analysis.operation_type == OperationType::Query || (arrival.streaming && subscription);
    if arrival.via_get && !safe {
        let mut refusal = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Code::BadRequest,
            "Only queries may be sent with GET; send mutations with POST.",
        );
        refusal.allow = Some("POST");
        return Err(refusal);
    }
    if admission.only_introspection && !analysis.introspection_only {
        return Err(not_trusted());
    }
    if analysis.introspects && !admission.introspection {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::GraphqlValidationFailed,
            "Introspection is turned off on this gateway; the schema is published as schema.graphql.",
        ));
    }
    check_limits(analysis, limits)?;
    if !admission.identified && !analysis.introspection_only {
        return Err(ApiError::credential_required());
    }
    Ok(())
}

fn single_operation(document: &ExecutableDocument) -> bool {
    match &document.operations {
        DocumentOperations::Single(_) => true,
        DocumentOperations::Multiple(operations) => operations.len() == 1,
    }
}

/// The request's actor, and its loaders (caching only for a query).
fn with_actor(
    state: &AppState,
    request: async_graphql::Request,
    actor: Actor,
    query: bool,
) -> async_graphql::Request {
    let loader = loaders::phone_numbers(state.services.db.clone(), actor.organization_id, query);
    request.data(actor).data(loader)
}

#[cfg(test)]
mod tests;
