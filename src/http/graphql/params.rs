//! One operation's parameters as a client sends them: a JSON body, or a GET query string
//! decoded strictly; and the bounds on the strings a client names freely, for every transport.

use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::code::Code;
use crate::http::error::ApiError;

/// Bounds on what a client names freely, the same over every transport; the document and the
/// variables are bounded by the body size and nesting limits instead. Each is far past what a
/// client library sends (a UUID or a counter as an id, a hash as a document id, an identifier
/// as a name, a few extensions), and small enough that nothing repeats kilobytes of it.
pub(super) mod bounds {
    /// A WebSocket operation's `id`, in bytes (echoed in every message of the operation).
    pub const OPERATION_ID: usize = 128;
    /// `operationName`, in bytes.
    pub const OPERATION_NAME: usize = 1024;
    /// `documentId`, in bytes; a trusted documents manifest with a longer id doesn't load.
    pub const DOCUMENT_ID: usize = crate::http::trusted::MAX_ID_BYTES;
    /// Members of `extensions`.
    pub const EXTENSIONS: usize = 32;
    /// The name of a member of `extensions`, in bytes.
    pub const EXTENSION_KEY: usize = 128;
}

/// Why the freely named parameters of one operation are refused: one past its bound (the
/// message names it and the bound); `None` when all are within.
pub(super) fn out_of_bounds(
    operation_name: Option<&str>,
    document_id: Option<&str>,
    extensions: Option<&Map<String, Value>>,
) -> Option<String> {
    let too_long = |name: &str, text: Option<&str>, max: usize| {
        let len = text.map_or(0, str::len);
        (len > max).then(|| format!("`{name}` is {len} bytes long; the limit is {max} bytes."))
    };
    too_long("operationName", operation_name, bounds::OPERATION_NAME)
        .or_else(|| too_long("documentId", document_id, bounds::DOCUMENT_ID))
        .or_else(|| {
            let extensions = extensions?;
            if extensions.len() > bounds::EXTENSIONS {
                return Some(format!(
                    "`extensions` has {} members; the limit is {}.",
                    extensions.len(),
                    bounds::EXTENSIONS
                ));
            }
            let key = extensions
                .keys()
                .find(|key| key.len() > bounds::EXTENSION_KEY)?;
            Some(format!(
                "A member of `extensions` is named with {} bytes; the limit is {} bytes.",
                key.len(),
                bounds::EXTENSION_KEY
            ))
        })
}

/// One operation's parameters, as the client sent them.
#[derive(Default)]
pub(super) struct Params {
    pub(super) query: Option<String>,
    /// A trusted document's id, sent instead of `query`.
    pub(super) document_id: Option<String>,
    pub(super) operation_name: Option<String>,
    pub(super) variables: Map<String, Value>,
    pub(super) extensions: Map<String, Value>,
    /// A stream ticket (`createStreamTicket`): read only from a GET query string, and taken
    /// only for an event stream.
    pub(super) ticket: Option<String>,
}

impl Params {
    pub(super) fn from_json(value: Value) -> Result<Self, ApiError> {
        let Value::Object(mut object) = value else {
            return Err(ApiError::bad_request(
                "The request body must be a JSON object with a `query`.",
            ));
        };
        let query = match object.remove("query") {
            None | Some(Value::Null) => None,
            Some(Value::String(q)) => Some(q),
            Some(_) => return Err(ApiError::bad_request("`query` must be a string.")),
        };
        let document_id = match object.remove("documentId") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id),
            Some(_) => return Err(ApiError::bad_request("`documentId` must be a string.")),
        };
        let operation_name = match object.remove("operationName") {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) => Some(n),
            Some(_) => return Err(ApiError::bad_request("`operationName` must be a string.")),
        };
        Self {
            query,
            document_id,
            operation_name,
            variables: object_param(object.remove("variables"), "variables")?,
            extensions: object_param(object.remove("extensions"), "extensions")?,
            ticket: None,
        }
        .within_bounds()
    }

    /// These parameters, or 400 `PARAMETER_LIMIT_EXCEEDED` when one is past its bound.
    fn within_bounds(self) -> Result<Self, ApiError> {
        match out_of_bounds(
            self.operation_name.as_deref(),
            self.document_id.as_deref(),
            Some(&self.extensions),
        ) {
            Some(message) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Code::ParameterLimitExceeded,
                message,
            )),
            None => Ok(self),
        }
    }

    pub(super) fn from_query_string(raw: &str, nesting_limit: usize) -> Result<Self, ApiError> {
        let pairs = strict_form_pairs(raw).ok_or_else(|| {
            ApiError::bad_request(
                "The query string is not valid: its percent-escapes must decode to UTF-8.",
            )
        })?;
        let mut params = Self::default();
        let mut seen = std::collections::HashSet::new();
        for (key, value) in pairs {
            let known = matches!(
                key.as_str(),
                "query" | "documentId" | "operationName" | "variables" | "extensions" | "ticket"
            );
            if known && !seen.insert(key.clone()) {
                return Err(ApiError::bad_request(format!(
                    "`{key}` is given more than once in the query string; give it once."
                )));
            }
            match key.as_str() {
                "query" => params.query = Some(value),
                "documentId" => params.document_id = Some(value),
                "ticket" => params.ticket = Some(value),
                "operationName" if !value.is_empty() => params.operation_name = Some(value),
                "variables" | "extensions" if !value.is_empty() => {
                    crate::http::check_json_nesting(value.as_bytes(), nesting_limit)
                        .map_err(ApiError::nesting)?;
                    let parsed: Value = serde_json::from_str(&value).map_err(|_| {
                        ApiError::bad_request(format!("`{key}` is not valid JSON."))
                    })?;
                    let object = object_param(Some(parsed), &key)?;
                    if key == "variables" {
                        params.variables = object;
                    } else {
                        params.extensions = object;
                    }
                }
                _ => {}
            }
        }
        params.within_bounds()
    }
}

/// `application/x-www-form-urlencoded` pairs, with `None` for an escape that doesn't decode to
/// UTF-8 (`serde_urlencoded` would silently turn it into U+FFFD and run a different query).
fn strict_form_pairs(raw: &str) -> Option<Vec<(String, String)>> {
    let decode = |part: &str| {
        let spaced = part.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(key)?, decode(value)?))
        })
        .collect()
}

fn object_param(value: Option<Value>, name: &str) -> Result<Map<String, Value>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(o)) => Ok(o),
        Some(_) => Err(ApiError::bad_request(format!(
            "`{name}` must be a JSON object."
        ))),
    }
}
