//! Domain layer: endpoint rules, validation, SIP URI generation and tenancy checks.
//! Knows SeaORM entities but nothing of GraphQL or HTTP; every transport calls these functions.

pub mod access;
pub mod api_keys;
pub mod endpoints;
pub mod error;
pub mod ids;
pub mod members;
pub mod organizations;
pub mod phone_numbers;
pub mod provider;
pub mod secrets;
pub mod sip_uri;
pub mod text;
pub mod webhook_host;

pub use access::{Actor, Credential};
pub use entity::enums::{EndpointStatus, EndpointType, Mode, Role};
pub use error::{DomainError, Field, FieldError, UserErrorCode};

pub(crate) use text::has_control_chars;
