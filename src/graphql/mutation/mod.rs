//! The root mutation, merged from one object per area.

mod api_key;
mod endpoint;
mod member;
mod phone_number;
mod stream_ticket;

use async_graphql::Context;

use crate::domain::DomainError;
use crate::graphql::error::null_on_error;
use crate::graphql::types::UserError;

#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(
    endpoint::EndpointMutation,
    api_key::ApiKeyMutation,
    phone_number::PhoneNumberMutation,
    member::MemberMutation,
    stream_ticket::StreamTicketMutation,
);

/// Builds a payload from a domain result: the value, or the user errors. Any other failure is
/// a top-level error, and the (nullable) payload is null.
fn payload<T, P>(
    ctx: &Context<'_>,
    result: Result<T, DomainError>,
    build: impl FnOnce(Option<T>, Vec<UserError>) -> P,
) -> Option<P> {
    match result {
        Ok(value) => Some(build(Some(value), Vec::new())),
        Err(DomainError::Invalid(errors)) => {
            Some(build(None, errors.into_iter().map(Into::into).collect()))
        }
        Err(other) => null_on_error(ctx, Err(other)),
    }
}
