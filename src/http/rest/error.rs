//! The REST transport's failure: the one `ApiError`, in the seed's `Error` body, with the
//! domain's rule breaks listed field by field.

use super::shape::field_name;
use super::*;

/// A failure, answered with the seed's `Error` body.
pub struct RestError(ApiError);

impl RestError {
    pub(super) fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        Self(ApiError::new(status, code, message))
    }

    pub(super) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, Code::NotFound, "Endpoint not found")
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        Self(ApiError::bad_request(message))
    }

    pub(super) fn invalid(errors: Vec<FieldError>) -> Self {
        let rendered: Vec<Value> = errors
            .iter()
            .map(|e| {
                let field = field_name(e.field);
                json!({ "field": field, "code": e.code.as_str(), "message": e.render(&field) })
            })
            .collect();
        let message = rendered
            .iter()
            .filter_map(|e| e["message"].as_str())
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = ApiError::new(StatusCode::BAD_REQUEST, Code::ValidationFailed, message);
        error.details = Some(Box::new(
            json!({ "field": rendered[0]["field"], "errors": rendered }),
        ));
        Self(error)
    }
}

impl From<DomainError> for RestError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Invalid(errors) if !errors.is_empty() => Self::invalid(errors),
            DomainError::NotFound(_) => Self::not_found(),
            other => Self(other.into()),
        }
    }
}

impl From<ApiError> for RestError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        self.0.render(Envelope::Rest)
    }
}
