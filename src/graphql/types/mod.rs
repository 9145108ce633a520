//! GraphQL types, built from domain values; the entity crate knows nothing of GraphQL. The
//! enums shared by every area live here (`EndpointType` with the providers, from the catalog);
//! each area's types in a file of its own.

use crate::domain::EndpointType as EntityEndpointType;
use async_graphql::{
    Context, Enum, ErrorExtensions, ID, InputObject, Interface, Object, OneofObject, SimpleObject,
    Union,
};
use uuid::Uuid;

use crate::domain::endpoints::{self, Direction, EndpointFilter as DomainFilter, OrderField};
use crate::domain::provider::{self as domain_provider, ProviderConfigInput as DomainConfigInput};
use crate::domain::{Actor, Field, FieldError, endpoints::Endpoint as DomainEndpoint};
use crate::graphql::global_id;

mod connection;
mod endpoint;
mod event;
mod node;
mod organization;
mod phone_number;
mod plain;
mod providers;
mod scalars;
mod user_error;

use connection::connection;
pub use connection::{PageInfo, TotalCount};
pub use endpoint::*;
pub use event::*;
pub use node::*;
pub use organization::*;
pub use phone_number::*;
pub use providers::*;
pub use scalars::*;
pub use user_error::*;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::EndpointStatus")]
/// Clients set ACTIVE or INACTIVE; ERROR is set by the system.
pub enum EndpointStatus {
    Active,
    Inactive,
    Error,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::Mode")]
/// Test and live data are kept apart: a test key sees only test data, a live key only live data.
pub enum Mode {
    Live,
    Test,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
/// The kind of credential a request was made with.
pub enum CredentialKind {
    ApiKey,
    User,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum EndpointOrderField {
    #[default]
    CreatedAt,
    UpdatedAt,
    Name,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum OrderDirection {
    Asc,
    #[default]
    Desc,
}
