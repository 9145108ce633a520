//! The document an operation names, resolved: a trusted document's text (by `documentId` or
//! APQ's hash), APQ's remembered text, or the text sent, held to the trusted documents' mode;
//! and the operation a stream ticket must have been minted for.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::super::super::AppState;
use super::super::super::apq::{ApqError, Hash, Resolved};
use super::super::super::error::ApiError;
use super::super::super::trusted::TrustedMode;
use super::super::answer::Answer;
use super::super::params::Params;
use crate::code::Code;

/// The document an operation runs, once its name (trusted document id, APQ hash) is resolved.
pub(super) struct Document {
    pub(super) text: String,
    /// APQ's hash, when the text is to be remembered under it.
    pub(super) register: Option<Hash>,
    /// Sent as text that is no trusted document, in `enforce` mode: it runs only if it only
    /// introspects.
    pub(super) only_introspection: bool,
}

/// The document the operation names: a trusted document's text, APQ's remembered one, or the
/// text sent; `Ok(Err(answer))` for the APQ protocol's answers, which clients act on.
pub(super) fn resolve(
    state: &AppState,
    params: &mut Params,
) -> Result<Result<Document, Answer>, ApiError> {
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

/// The operation a stream ticket must have been minted for, as the request names it.
pub(super) fn ticketed_operation(params: &Params) -> String {
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
        .and_then(super::super::super::apq::parse_hash);
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

pub(super) fn not_trusted() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        Code::PersistedQueryNotAllowed,
        "This gateway runs only its trusted documents (`--trusted-documents-mode enforce`); send the `documentId` of one of them.",
    )
}
