//! Maps domain errors to GraphQL errors with a stable `extensions.code`, once for all resolvers.

use async_graphql::{Context, ErrorExtensions};

use crate::domain::{Actor, DomainError};

/// Top-level error codes, spelled as Apollo Router spells them.
pub mod code {
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    pub const FORBIDDEN: &str = "FORBIDDEN";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    pub const TIMEOUT: &str = "TIMEOUT";
    pub const DEPTH_LIMIT_EXCEEDED: &str = "DEPTH_LIMIT_EXCEEDED";
    pub const NESTING_LIMIT_EXCEEDED: &str = "NESTING_LIMIT_EXCEEDED";
    pub const TOKEN_LIMIT_EXCEEDED: &str = "TOKEN_LIMIT_EXCEEDED";
    pub const COST_LIMIT_EXCEEDED: &str = "COST_LIMIT_EXCEEDED";
    pub const ALIAS_LIMIT_EXCEEDED: &str = "ALIAS_LIMIT_EXCEEDED";
    pub const DIRECTIVE_LIMIT_EXCEEDED: &str = "DIRECTIVE_LIMIT_EXCEEDED";
    pub const RATE_LIMITED: &str = "RATE_LIMITED";
    pub const BODY_LIMIT_EXCEEDED: &str = "BODY_LIMIT_EXCEEDED";
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    pub const PERSISTED_QUERY_NOT_SUPPORTED: &str = "PERSISTED_QUERY_NOT_SUPPORTED";
}

pub fn coded(message: impl Into<String>, code: &'static str) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

impl ErrorExtensions for DomainError {
    fn extend(&self) -> async_graphql::Error {
        match self {
            DomainError::Unauthenticated(m) => coded(m.clone(), code::UNAUTHENTICATED),
            DomainError::Forbidden(m) => coded(m.clone(), code::FORBIDDEN),
            DomainError::NotFound(what) => {
                coded(format!("{} not found", capitalize(what)), code::NOT_FOUND)
            }
            DomainError::BadInput(m) => coded(m.clone(), code::BAD_USER_INPUT),
            DomainError::Invalid(errors) => coded(
                errors
                    .iter()
                    .map(|e| crate::graphql::types::UserError::from(e.clone()).message)
                    .collect::<Vec<_>>()
                    .join("; "),
                code::BAD_USER_INPUT,
            ),
            DomainError::Database(_) | DomainError::Corrupt(_) => {
                tracing::error!(error = %self.log_description(), "request failed");
                coded("Internal server error", code::INTERNAL_SERVER_ERROR)
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
        .ok_or_else(|| coded("Authentication required", code::UNAUTHENTICATED))
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
