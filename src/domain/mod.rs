//! Domain layer: endpoint rules, validation, SIP URI generation and tenancy checks.
//! Knows SeaORM entities but nothing of GraphQL or HTTP; every transport calls these functions.

pub mod access;
pub mod api_keys;
pub mod endpoints;
pub mod error;
pub mod members;
pub mod organizations;
pub mod phone_numbers;
pub mod provider;
pub mod secrets;

pub use access::{Actor, Credential};
pub use entity::enums::{EndpointStatus, EndpointType, Mode, Role};
pub use error::{DomainError, Field, FieldError, UserErrorCode};

/// Control characters have no business in names, identifiers or secrets; rejecting them keeps
/// log lines and SIP headers clean.
pub(crate) fn has_control_chars(value: &str) -> bool {
    value.chars().any(char::is_control)
}
