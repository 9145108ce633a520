//! The root mutation, merged from one object per area.

mod endpoint;

#[derive(async_graphql::MergedObject, Default)]
pub struct Mutation(endpoint::EndpointMutation);
