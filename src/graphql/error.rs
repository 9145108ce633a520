//! Maps domain errors to GraphQL errors with a stable `extensions.code`, once for all resolvers.

use async_graphql::{Context, ErrorExtensions};

use crate::code::Code;
use crate::domain::{Actor, DomainError};

pub fn coded(message: impl Into<String>, code: Code) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

impl ErrorExtensions for DomainError {
    fn extend(&self) -> async_graphql::Error {
        match self {
            DomainError::Unauthenticated(m) => coded(m.clone(), Code::Unauthenticated),
            DomainError::Forbidden(m) => coded(m.clone(), Code::Forbidden),
            DomainError::NotFound(what) => {
                coded(format!("{} not found", capitalize(what)), Code::NotFound)
            }
            DomainError::BadInput(m) => coded(m.clone(), Code::BadUserInput),
            DomainError::Invalid(errors) => coded(
                errors
                    .iter()
                    .map(|e| crate::graphql::types::UserError::from(e.clone()).message)
                    .collect::<Vec<_>>()
                    .join("; "),
                Code::BadUserInput,
            ),
            DomainError::Stale(version) => coded(
                format!(
                    "The endpoint changed since it was read: it was last updated at {}.",
                    crate::domain::time::format(*version)
                ),
                Code::BadUserInput,
            ),
            DomainError::Database(_) if self.is_unavailable() => {
                tracing::error!(error = %self.log_description(), "request failed");
                coded(
                    crate::code::SERVICE_UNAVAILABLE_MESSAGE,
                    Code::ServiceUnavailable,
                )
            }
            DomainError::Database(_) | DomainError::Corrupt(_) => {
                tracing::error!(error = %self.log_description(), "request failed");
                coded("Internal server error", Code::InternalServerError)
            }
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The caller, as authenticated by the HTTP layer. Absent only for introspection-only requests.
pub fn actor<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Actor> {
    ctx.data_opt::<Actor>()
        .ok_or_else(|| coded("Authentication required", Code::Unauthenticated))
}

/// Resolves a nullable field to `null` on failure while still reporting the error with its
/// path. async-graphql 7 would drop a failed field from `data` altogether; the GraphQL spec
/// ("Handling Field Errors") wants the field present as `null`.
pub fn null_on_error<T>(ctx: &Context<'_>, result: Result<T, DomainError>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(err) => {
            let server_error = err.extend().into_server_error(ctx.item.pos);
            ctx.add_error(ctx.set_error_path(server_error));
            None
        }
    }
}

pub trait IntoGql<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> IntoGql<T> for Result<T, DomainError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.extend())
    }
}
