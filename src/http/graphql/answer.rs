//! An operation's answer as it goes on the wire. async-graphql's response is written straight
//! to bytes: no `serde_json::Value` tree in between, and the fields of `data` in the order the
//! query selected them (a `serde_json::Map` would have sorted them).

use async_graphql::{ServerError, Value as GqlValue};
use axum::http::StatusCode;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::super::error::ErrorCodes;
use crate::code::Code;

pub(super) enum Answer {
    /// An executed operation. A request error (a document that failed validation, variables
    /// that failed coercion) is written without `data`.
    Executed {
        response: Box<async_graphql::Response>,
        request_error: bool,
    },
    /// A body made here: the APQ protocol's answers, an operation refused inside a batch.
    Made(Value),
    /// A batch's answers, in the order of its operations.
    Batch(Vec<Answer>),
}

impl Answer {
    /// The executed response and its HTTP status: a document that failed validation or
    /// variables that failed coercion (no data, and no error tied to a field) are a request
    /// error, whose status depends on the media type; they lose `data` and say
    /// `GRAPHQL_VALIDATION_FAILED` when async-graphql gave them no code. Anything that
    /// executed is a 200. `cost` goes in `extensions.cost` (Shopify's report of what the
    /// operation cost).
    pub(super) fn executed(
        mut response: async_graphql::Response,
        request_error_status: StatusCode,
        cost: Value,
    ) -> (StatusCode, Answer) {
        if let Ok(cost) = GqlValue::from_json(cost) {
            response.extensions.insert("cost".to_owned(), cost);
        }
        let request_error = response.data == GqlValue::Null
            && !response.errors.is_empty()
            && response
                .errors
                .iter()
                .all(|e| e.path.is_empty() || is_input_coercion_error(e));
        let status = if request_error {
            for error in &mut response.errors {
                let extensions = error.extensions.get_or_insert_with(Default::default);
                if extensions.get("code").is_none() {
                    extensions.set("code", Code::GraphqlValidationFailed.as_str());
                }
            }
            request_error_status
        } else if no_data(&response.data) && response.errors.iter().any(is_unavailable) {
            // Nothing was answered because the database couldn't be reached: the same 503
            // as when the credential couldn't be checked.
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        let answer = Answer::Executed {
            response: Box::new(response),
            request_error,
        };
        (status, answer)
    }

    /// Whether the operation ran: executed, and no request error.
    pub(super) fn ran(&self) -> bool {
        matches!(
            self,
            Answer::Executed {
                request_error: false,
                ..
            }
        )
    }

    /// The `Deprecation` header an operation that used a deprecated field set (the first of a
    /// batch's).
    pub(super) fn deprecation(&self) -> Option<&axum::http::HeaderValue> {
        match self {
            Answer::Executed { response, .. } => {
                response.http_headers.get(crate::http::headers::DEPRECATION)
            }
            Answer::Made(_) => None,
            Answer::Batch(answers) => answers.iter().find_map(Answer::deprecation),
        }
    }

    /// Whether an error in the answer is a fault of the gateway or its database rather than
    /// of the request.
    pub(super) fn server_fault(&self) -> bool {
        self.error_codes().0.iter().any(|code| {
            [
                Code::InternalServerError,
                Code::Timeout,
                Code::ServiceUnavailable,
            ]
            .iter()
            .any(|c| code == c.as_str())
        })
    }

    /// Whether an error in the answer is the database being unavailable.
    pub(super) fn unavailable(&self) -> bool {
        self.error_codes()
            .0
            .iter()
            .any(|code| code == Code::ServiceUnavailable.as_str())
    }

    /// The `extensions.code` of every error in the answer (of every operation of a batch), for
    /// the log line and metrics.
    pub(super) fn error_codes(&self) -> ErrorCodes {
        let mut codes = Vec::new();
        self.collect_codes(&mut codes);
        ErrorCodes(codes)
    }

    fn collect_codes(&self, codes: &mut Vec<String>) {
        match self {
            Answer::Executed { response, .. } => {
                codes.extend(response.errors.iter().map(|e| {
                    match e.extensions.as_ref().and_then(|x| x.get("code")) {
                        Some(GqlValue::String(code)) => code.clone(),
                        _ => "UNKNOWN".to_owned(),
                    }
                }));
            }
            Answer::Made(body) => {
                let errors = body.get("errors").and_then(Value::as_array);
                codes.extend(errors.into_iter().flatten().map(|e| {
                    e.pointer("/extensions/code")
                        .and_then(Value::as_str)
                        .unwrap_or("UNKNOWN")
                        .to_owned()
                }));
            }
            Answer::Batch(answers) => answers.iter().for_each(|a| a.collect_codes(codes)),
        }
    }
}

impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Answer::Executed {
                response,
                request_error,
            } => {
                let mut map = serializer.serialize_map(None)?;
                if !request_error {
                    map.serialize_entry("data", &response.data)?;
                }
                if !response.errors.is_empty() {
                    map.serialize_entry("errors", &response.errors)?;
                }
                if !response.extensions.is_empty() {
                    map.serialize_entry("extensions", &response.extensions)?;
                }
                map.end()
            }
            Answer::Made(body) => body.serialize(serializer),
            Answer::Batch(answers) => answers.serialize(serializer),
        }
    }
}

/// No field produced data: `data` is null, or each of its fields is.
fn no_data(data: &GqlValue) -> bool {
    match data {
        GqlValue::Null => true,
        GqlValue::Object(fields) => fields.values().all(|v| *v == GqlValue::Null),
        _ => false,
    }
}

fn is_unavailable(error: &ServerError) -> bool {
    error.extensions.as_ref().and_then(|x| x.get("code"))
        == Some(&GqlValue::String(
            Code::ServiceUnavailable.as_str().to_owned(),
        ))
}

/// async-graphql checks custom scalars (UUID) and variable values only as fields resolve;
/// their failures are the client's input, which GraphQL counts as request errors. They are
/// the errors that carry no `extensions.code` (every resolver error here has one) and read
/// as async-graphql words them.
fn is_input_coercion_error(error: &ServerError) -> bool {
    let coded = error
        .extensions
        .as_ref()
        .is_some_and(|e| e.get("code").is_some());
    !coded
        && (error.message.starts_with("Failed to parse \"")
            || error.message.starts_with("Expected input type \"")
            || error.message.starts_with("Invalid value for argument")
            || (error.message.starts_with("Variable ") && error.message.contains("is not defined")))
}
