//! The root query, merged from one object per area.

mod api_key;
mod endpoint;
mod member;
mod node;
mod phone_number;
mod viewer;

#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    endpoint::EndpointQuery,
    viewer::ViewerQuery,
    api_key::ApiKeyQuery,
    node::NodeQuery,
    phone_number::PhoneNumberQuery,
    member::MemberQuery,
);
