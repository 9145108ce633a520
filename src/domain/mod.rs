//! Domain layer: endpoint rules, validation, SIP URI generation and tenancy checks.
//! Knows SeaORM entities but nothing of GraphQL or HTTP; every transport calls these functions.

pub mod access;
pub mod api_keys;
pub mod endpoints;
pub mod error;
pub mod events;
pub mod idempotency;
pub mod ids;
pub mod members;
pub mod organizations;
pub mod page;
pub mod phone_numbers;
pub mod provider;
pub mod secrets;
pub mod sip_uri;
pub mod stream_tickets;
pub mod text;
pub mod time;
pub mod usage;
pub mod webhook_host;

pub use access::{Actor, Credential};
pub use entity::enums::{ActorKind, EndpointStatus, EndpointType, EventType, Mode, Role};
pub use error::{DomainError, Field, FieldError, UserErrorCode};

pub(crate) use text::has_control_chars;

/// A list's page size when `first` is left out (a smaller configured limit shortens it).
pub const DEFAULT_PAGE_SIZE: u64 = 50;

/// The page size a list asks for: `first`, from 1 to `max_first` (the page size limit), or
/// the default, shortened to that limit.
pub fn page_size(first: Option<i64>, max_first: u64) -> Result<u64, DomainError> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE.min(max_first)),
        Some(n) if n >= 1 && n.unsigned_abs() <= max_first => Ok(n.unsigned_abs()),
        Some(n) => Err(DomainError::BadInput(format!(
            "`first` must be between 1 and {max_first} (the page size limit), got {n}"
        ))),
    }
}

/// The distinct values of a list of enum values, in first-seen order: what a filter's `IN`
/// binds. A list may repeat a value any number of times; the statement binds each once, so no
/// list a request can send outgrows the database's limit on bound parameters.
pub(crate) fn distinct<T: PartialEq + Copy>(values: &[T]) -> Vec<T> {
    let mut seen = Vec::new();
    for value in values {
        if !seen.contains(value) {
            seen.push(*value);
        }
    }
    seen
}
