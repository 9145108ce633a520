//! The root query, merged from one object per area.

mod api_key;
mod endpoint;
mod event;
mod member;
mod node;
mod phone_number;
mod rate_limit;
mod viewer;

pub use node::Lookups;
pub use rate_limit::Budget;

#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    endpoint::EndpointQuery,
    viewer::ViewerQuery,
    api_key::ApiKeyQuery,
    node::NodeQuery,
    phone_number::PhoneNumberQuery,
    member::MemberQuery,
    event::EventQuery,
    rate_limit::RateLimitQuery,
);

/// A connection's `first`, when the request gave it. Left out, the schema's default of 50 is
/// not passed on, so that a smaller configured page size limit shortens the page rather than
/// refusing it.
fn first_given(
    ctx: &async_graphql::Context<'_>,
    first: Option<i32>,
) -> async_graphql::Result<Option<i64>> {
    let given = ctx
        .field()
        .arguments()?
        .iter()
        .any(|(name, _)| name.as_str() == "first");
    Ok(first.filter(|_| given).map(i64::from))
}
