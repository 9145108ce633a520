//! One operation's parameters as a client sends them: a JSON body, or a GET query string
//! decoded strictly.

use serde_json::{Map, Value};

use crate::http::error::ApiError;

/// One operation's parameters, as the client sent them.
#[derive(Debug, Default)]
pub(super) struct Params {
    pub(super) query: Option<String>,
    /// A trusted document's id, sent instead of `query`.
    pub(super) document_id: Option<String>,
    pub(super) operation_name: Option<String>,
    pub(super) variables: Map<String, Value>,
    pub(super) extensions: Map<String, Value>,
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
        Ok(Self {
            query,
            document_id,
            operation_name,
            variables: object_param(object.remove("variables"), "variables")?,
            extensions: object_param(object.remove("extensions"), "extensions")?,
        })
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
                "query" | "documentId" | "operationName" | "variables" | "extensions"
            );
            if known && !seen.insert(key.clone()) {
                return Err(ApiError::bad_request(format!(
                    "`{key}` is given more than once in the query string; give it once."
                )));
            }
            match key.as_str() {
                "query" => params.query = Some(value),
                "documentId" => params.document_id = Some(value),
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
        Ok(params)
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
