//! The one error of the HTTP transports — a status, a `Code`, a message, and what a client
//! needs to retry — and the envelopes it is rendered in: GraphQL's `errors[].extensions.code`
//! or REST's `{error, code, details}`. The headers that go with an error (`WWW-Authenticate`,
//! `Retry-After`, `Allow`) are set here, once for both.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::media::Media;
use crate::auth::AuthError;
use crate::code::Code;
use crate::domain::DomainError;

/// An error answered before (or instead of) a transport's own result.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Code,
    pub message: String,
    /// Seconds until a throttled request may succeed (`Retry-After`).
    pub retry_after: Option<u64>,
    /// GraphQL's `extensions.cost` of a throttled operation.
    pub cost: Option<Box<Value>>,
    /// REST's `details` (the fields a validation failure names).
    pub details: Option<Box<Value>>,
    /// The methods the resource allows, when the method was wrong (`Allow`).
    pub allow: Option<&'static str>,
}

/// The codes of the errors a response carries, for its log line and metrics.
#[derive(Debug, Clone, Default)]
pub struct ErrorCodes(pub Vec<String>);

/// Which transport a route belongs to, marked on each request by its router, so that layers
/// answer in the transport's envelope without looking at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Graphql,
    Rest,
}

impl Transport {
    /// The transport of a request (GraphQL's for routes outside both).
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        extensions.get::<Self>().copied().unwrap_or(Self::Graphql)
    }

    /// The envelope an error to this request is rendered in.
    pub fn envelope(self, headers: &axum::http::HeaderMap) -> Envelope {
        match self {
            Self::Graphql => Envelope::Graphql(super::media::negotiate(headers).error_media()),
            Self::Rest => Envelope::Rest,
        }
    }
}

/// Which transport's envelope an error is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    Graphql(Media),
    Rest,
}

impl ApiError {
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            cost: None,
            details: None,
            allow: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Code::BadRequest, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, Code::Unauthenticated, message)
    }

    /// The caller sent no credential where one is needed.
    pub fn credential_required() -> Self {
        Self::unauthenticated(
            "Authentication required: send an API key as `Authorization: Bearer kros_…` or `x-api-key: kros_…`.",
        )
    }

    pub fn nesting(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Code::NestingLimitExceeded, message)
    }

    /// 503 `SERVICE_UNAVAILABLE`: the database can't be reached now; the one answer to it on
    /// every transport.
    pub fn service_unavailable() -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::ServiceUnavailable,
            crate::code::SERVICE_UNAVAILABLE_MESSAGE,
        );
        error.retry_after = Some(crate::code::SERVICE_UNAVAILABLE_RETRY_AFTER);
        error
    }

    /// 503 `AUTHENTICATION_UNAVAILABLE`: a session token can't be verified until the JWKS
    /// answers, which is tried again after `retry_after`.
    pub fn authentication_unavailable(retry_after: std::time::Duration) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::AuthenticationUnavailable,
            "Session tokens can't be verified right now: the keys that sign them could not be fetched. Retry later; API keys are not affected.",
        );
        error.retry_after = Some(retry_after_seconds(retry_after));
        error
    }

    /// 503: the gateway or its database failed, and the request may be retried.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::InternalServerError,
            message,
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::InternalServerError,
            "Internal server error",
        )
    }

    /// The body of a GraphQL response holding only this error.
    pub fn graphql_body(&self) -> Value {
        let mut body = json!({ "errors": [{
            "message": self.message,
            "extensions": { "code": self.code.as_str() },
        }] });
        if let Some(cost) = &self.cost {
            body["extensions"] = json!({ "cost": **cost });
        }
        body
    }

    /// The seed's `Error` body.
    pub fn rest_body(&self) -> Value {
        let mut body = json!({ "error": self.message, "code": self.code.as_str() });
        if let Some(details) = &self.details {
            body["details"] = (**details).clone();
        }
        body
    }

    /// The response in `envelope`, with the headers the error calls for.
    pub fn render(self, envelope: Envelope) -> Response {
        let mut response = match envelope {
            Envelope::Graphql(media) => {
                // A GraphQL request error is a 200 under application/json (`media.rs`).
                let status = if self.code.is_request_error() {
                    media.request_error_status()
                } else {
                    self.status
                };
                media.respond(status, &self.graphql_body())
            }
            Envelope::Rest => (self.status, Json(self.rest_body())).into_response(),
        };
        response
            .extensions_mut()
            .insert(ErrorCodes(vec![self.code.as_str().to_owned()]));
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

impl Code {
    /// A GraphQL request error: the document or its variables, not the transport or policy.
    fn is_request_error(self) -> bool {
        matches!(
            self,
            Self::GraphqlParseFailed | Self::GraphqlValidationFailed
        )
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::NotFound(what) => {
                let mut what = what.to_owned();
                if let Some(first) = what.get_mut(..1) {
                    first.make_ascii_uppercase();
                }
                Self::new(
                    StatusCode::NOT_FOUND,
                    Code::NotFound,
                    format!("{what} not found"),
                )
            }
            DomainError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, Code::Forbidden, m),
            DomainError::Unauthenticated(m) => Self::unauthenticated(m),
            DomainError::BadInput(m) => Self::bad_request(m),
            // Each transport reports rule breaks its own way (userErrors, details.errors).
            DomainError::Invalid(errors) => {
                Self::bad_request(format!("the input breaks {} rule(s)", errors.len()))
            }
            DomainError::Stale(version) => Self::new(
                StatusCode::PRECONDITION_FAILED,
                Code::PreconditionFailed,
                format!(
                    "The endpoint changed since the version If-Match names: it was last updated at {} (ETag {}).",
                    crate::domain::time::format(version),
                    super::headers::etag_of(version)
                ),
            ),
            DomainError::Database(_) if err.is_unavailable() => {
                tracing::error!(error = %err.log_description(), "request failed");
                Self::service_unavailable()
            }
            DomainError::Database(_) | DomainError::Corrupt(_) => {
                tracing::error!(error = %err.log_description(), "request failed");
                Self::internal()
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Unauthenticated(m) => Self::unauthenticated(m),
            AuthError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, Code::Forbidden, m),
            AuthError::DatabaseUnavailable => Self::service_unavailable(),
            AuthError::KeysUnavailable(retry_after) => {
                Self::authentication_unavailable(retry_after)
            }
            AuthError::Internal => Self::internal(),
        }
    }
}

/// Whole seconds for `Retry-After`, never 0.
pub fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}
