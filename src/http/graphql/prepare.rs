//! Every step before an operation runs, the same for every transport, each a stage of its own:
//! the document resolved (trusted documents, APQ), measured before parsing, the caller
//! identified and the floor charged, the document parsed (or taken from the cache) and
//! analysed, the operation admitted by the rules that need no database, its cost reserved, and
//! the request built with its actor.

use std::sync::Arc;

use async_graphql::Variables;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::super::AppState;
use super::super::apq::{ApqError, Hash, Resolved};
use super::super::error::ApiError;
use super::super::pipeline;
use super::super::trusted::TrustedMode;
use super::answer::Answer;
use super::cost::{FIELDS_PER_COST_POINT, check_limits, cost_floor, within_a_bucket};
use super::params::Params;
use super::{Arrival, Caller, ParsedDocument};
use crate::code::Code;
use crate::config::Limits;
use crate::domain::Actor;
use crate::graphql::analysis::{self, Analysis};
use crate::graphql::loaders;
use crate::graphql::query::Lookups;
use crate::scan::DocumentShape;

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
}

/// The document an operation runs, once its name (trusted document id, APQ hash) is resolved.
struct Document {
    text: String,
    /// APQ's hash, when the text is to be remembered under it.
    register: Option<Hash>,
    /// Sent as text that is no trusted document, in `enforce` mode: it runs only if it only
    /// introspects.
    only_introspection: bool,
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
    pipeline::charge(state, &bucket, requested - paid, requested).await?;

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
        .data(lookups.clone());
    request.set_parsed_query(executable.clone());
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
    })))
}

/// The document the operation names: a trusted document's text, APQ's remembered one, or the
/// text sent; `Ok(Err(answer))` for the APQ protocol's answers, which clients act on.
fn resolve(state: &AppState, params: &mut Params) -> Result<Result<Document, Answer>, ApiError> {
    let trusted = trusted_document(state, params)?;
    let only_introspection = trusted == Trusted::IfIntrospection;
    let query = params.query.take();
    let resolved = match (trusted, &state.apq) {
        (Trusted::Named(text), _) => Ok(Some(Resolved::sent(text.to_string()))),
        (_, Some(apq)) => apq.resolve(query, &params.extensions),
        (_, None) if params.extensions.contains_key("persistedQuery") => {
            Err(ApqError::NotSupported)
        }
        (_, None) => Ok(query.map(Resolved::sent)),
    };
    let apq_answer = |message: &str, code: Code| {
        Ok(Err(Answer::Made(json!({ "errors": [{ "message": message,
            "extensions": { "code": code.as_str() } }] }))))
    };
    match resolved {
        Ok(Some(Resolved { query, register })) => Ok(Ok(Document {
            text: query,
            register,
            only_introspection,
        })),
        Ok(None) => Err(ApiError::bad_request("`query` is required.")),
        // Apollo's protocol answers these with 200, so that clients send the query next.
        Err(ApqError::NotFound) => {
            apq_answer("PersistedQueryNotFound", Code::PersistedQueryNotFound)
        }
        Err(ApqError::NotSupported) => apq_answer(
            "PersistedQueryNotSupported",
            Code::PersistedQueryNotSupported,
        ),
        Err(ApqError::Invalid(message)) => Err(ApiError::bad_request(message)),
    }
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
    Ok((Arc::new(ParsedDocument::new(document)), true))
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

/// The operation a stream ticket must have been minted for, as the request names it.
fn ticketed_operation(params: &Params) -> String {
    use crate::domain::stream_tickets::{Document, operation_hash};
    let document = match (&params.document_id, &params.query) {
        (Some(id), _) => Document::Id(id),
        (None, text) => Document::Text(text.as_deref().unwrap_or_default()),
    };
    operation_hash(
        document,
        params.operation_name.as_deref(),
        &params.variables,
    )
}

/// What the trusted documents make of an operation.
#[derive(Debug, PartialEq, Eq)]
enum Trusted {
    /// Named by `documentId` or APQ's hash: this document of the manifest runs.
    Named(Arc<str>),
    /// Sent as text, which may run: a document of the manifest, or any text when the mode
    /// allows it.
    Text,
    /// Sent as text that is no trusted document, in `enforce` mode with introspection allowed:
    /// it runs only if it only introspects.
    IfIntrospection,
}

/// Looks the operation up in the trusted documents; in `enforce` mode anything else is refused.
fn trusted_document(state: &AppState, params: &mut Params) -> Result<Trusted, ApiError> {
    let documents = &state.trusted;
    let mode = documents.mode();
    if let Some(id) = params.document_id.take() {
        if mode == TrustedMode::Off {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::PersistedQueryNotSupported,
                "`documentId` names a trusted document, and this gateway keeps none (`--trusted-documents`); send the `query`.",
            ));
        }
        if params.query.is_some() {
            return Err(ApiError::bad_request(
                "Send a `documentId` or a `query`, not both.",
            ));
        }
        return match documents.current().by_id(&id) {
            Some(text) => Ok(Trusted::Named(text)),
            None => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::PersistedQueryNotFound,
                format!(
                    "No trusted document has the id `{}`; the client and the gateway's manifest are of different builds.",
                    id.chars().take(80).collect::<String>()
                ),
            )),
        };
    }
    if mode == TrustedMode::Off {
        return Ok(Trusted::Text);
    }
    let manifest = documents.current();
    let hash = params
        .extensions
        .get("persistedQuery")
        .and_then(|p| p.get("sha256Hash"))
        .and_then(Value::as_str)
        .and_then(super::super::apq::parse_hash);
    match (&params.query, hash) {
        (None, Some(hash)) => {
            if let Some(text) = manifest.by_hash(&hash) {
                return Ok(Trusted::Named(text));
            }
        }
        (Some(text), _) if manifest.contains_text(text) => return Ok(Trusted::Text),
        _ => {}
    }
    match mode {
        TrustedMode::Enforce
            if documents.settings.allow_introspection && params.query.is_some() =>
        {
            Ok(Trusted::IfIntrospection)
        }
        TrustedMode::Enforce => Err(not_trusted()),
        _ => Ok(Trusted::Text),
    }
}

fn not_trusted() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        Code::PersistedQueryNotAllowed,
        "This gateway runs only its trusted documents (`--trusted-documents-mode enforce`); send the `documentId` of one of them.",
    )
}

/// The response keys of a selection set's fields, its fragments expanded (the GraphQL spec's
/// "single root field" rule counts them); fragments nested past the nesting limit's worth
/// count as one more key each, so a cycle can't loop.
pub(super) fn root_keys<'a>(
    document: &'a ExecutableDocument,
    set: &'a async_graphql::parser::types::SelectionSet,
    keys: &mut std::collections::HashSet<&'a str>,
    depth: usize,
    by: RootKey,
) {
    use async_graphql::parser::types::Selection;
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                keys.insert(match by {
                    RootKey::ResponseKey => field.node.response_key().node.as_str(),
                    RootKey::Name => field.node.name.node.as_str(),
                });
            }
            _ if depth > 32 => {
                keys.insert("(fragments nested too deep)");
            }
            Selection::InlineFragment(inline) => {
                root_keys(
                    document,
                    &inline.node.selection_set.node,
                    keys,
                    depth + 1,
                    by,
                );
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    root_keys(
                        document,
                        &fragment.node.selection_set.node,
                        keys,
                        depth + 1,
                        by,
                    );
                }
            }
        }
    }
}

/// What `root_keys` collects of each field: its response key (its alias, if any) or its name.
#[derive(Debug, Clone, Copy)]
pub(super) enum RootKey {
    ResponseKey,
    Name,
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
mod tests {
    use super::super::super::media::Media;
    use super::*;

    fn analysis(operation_type: OperationType) -> Analysis {
        Analysis {
            operation_type,
            operation_name: None,
            introspection_only: false,
            introspects: false,
            depth: 2,
            aliases: 0,
            directives: 0,
            cost: 2,
            fields: 2,
        }
    }

    fn admission(via_get: bool, streaming: bool) -> Admission {
        Admission {
            arrival: Arrival {
                via_get,
                media: Media::Json,
                request_bytes: 40,
                streaming,
                subscriptions_only: false,
            },
            only_introspection: false,
            introspection: true,
            identified: true,
        }
    }

    fn admitted(text: &str, analysis: &Analysis, admission: Admission) -> Result<(), ApiError> {
        let document = async_graphql::parser::parse_query(text).expect("a document");
        admit(analysis, &document, None, admission, &Limits::default())
    }

    #[test]
    fn a_document_past_a_bound_is_refused_before_it_is_parsed() {
        let limits = Limits {
            max_nesting: 3,
            max_tokens: 12,
            ..Limits::default()
        };
        let shape = measure("{ a { b } }", &limits).expect("within the bounds");
        assert_eq!((shape.tokens, shape.nesting), (6, 2));
        let deep = measure("{ a { b { c { d } } } }", &limits).expect_err("too deep");
        assert_eq!(deep.code, Code::NestingLimitExceeded);
        let long = measure("{ a b c d e f g h i j k l m }", &limits).expect_err("too long");
        assert_eq!(long.code, Code::TokenLimitExceeded);
    }

    #[test]
    fn a_subscription_runs_only_where_it_streams_and_selects_one_root_field() {
        let subscription = analysis(OperationType::Subscription);
        let one = "subscription { endpointEvents { cursor } }";
        admitted(one, &subscription, admission(false, true)).expect("streams");
        // An EventSource subscribes by GET.
        admitted(one, &subscription, admission(true, true)).expect("an event stream's GET");
        let refusal =
            admitted(one, &subscription, admission(false, false)).expect_err("nowhere to stream");
        assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
        for two in [
            "subscription { a: endpointEvents { cursor } b: endpointEvents { cursor } }",
            "subscription { ... on Subscription { endpointEvents { cursor } } __typename }",
            "subscription { __typename }",
        ] {
            let refusal =
                admitted(two, &subscription, admission(false, true)).expect_err("not one root");
            assert_eq!(refusal.code, Code::GraphqlValidationFailed, "{two}");
        }
    }

    #[test]
    fn a_client_that_takes_multipart_alone_can_only_subscribe() {
        let multipart_only = Admission {
            arrival: Arrival {
                subscriptions_only: true,
                ..admission(false, true).arrival
            },
            ..admission(false, true)
        };
        let refusal = admitted("{ a }", &analysis(OperationType::Query), multipart_only)
            .expect_err("a query has no multipart answer");
        assert_eq!(refusal.status, StatusCode::NOT_ACCEPTABLE);
        admitted(
            "subscription { endpointEvents { cursor } }",
            &analysis(OperationType::Subscription),
            multipart_only,
        )
        .expect("a subscription has");
    }

    #[test]
    fn only_queries_are_sent_with_get() {
        let mutation = analysis(OperationType::Mutation);
        let refusal = admitted("mutation { a }", &mutation, admission(true, false))
            .expect_err("a mutation by GET");
        assert_eq!(refusal.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(refusal.allow, Some("POST"));
        admitted("mutation { a }", &mutation, admission(false, false)).expect("by POST");
        admitted(
            "{ a }",
            &analysis(OperationType::Query),
            admission(true, false),
        )
        .expect("a query by GET");
    }

    #[test]
    fn introspection_and_credentials_are_ruled_on_by_what_the_operation_selects() {
        let introspection = Analysis {
            introspection_only: true,
            introspects: true,
            ..analysis(OperationType::Query)
        };
        let anonymous = Admission {
            identified: false,
            ..admission(false, false)
        };
        admitted("{ __schema { types { name } } }", &introspection, anonymous)
            .expect("introspection needs no credential");
        let refusal = admitted("{ a }", &analysis(OperationType::Query), anonymous)
            .expect_err("anything else does");
        assert_eq!(refusal.status, StatusCode::UNAUTHORIZED);
        let off = Admission {
            introspection: false,
            ..admission(false, false)
        };
        let refusal = admitted("{ __schema { types { name } } }", &introspection, off)
            .expect_err("introspection turned off");
        assert_eq!(refusal.code, Code::GraphqlValidationFailed);
        let untrusted = Admission {
            only_introspection: true,
            ..admission(false, false)
        };
        admitted("{ __schema { types { name } } }", &introspection, untrusted)
            .expect("an untrusted text may introspect");
        let refusal = admitted("{ a }", &analysis(OperationType::Query), untrusted)
            .expect_err("and nothing else");
        assert_eq!(refusal.code, Code::PersistedQueryNotAllowed);
    }

    #[test]
    fn the_limits_are_checked_in_their_order() {
        let deep = Analysis {
            depth: 99,
            aliases: 99,
            ..analysis(OperationType::Query)
        };
        let refusal =
            admitted("{ a }", &deep, admission(false, false)).expect_err("over two limits");
        assert_eq!(refusal.code, Code::DepthLimitExceeded);
    }
}
