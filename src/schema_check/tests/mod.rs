use super::*;

mod check;
mod diff;
mod walk;

/// A small schema with every kind of type, for the rules to change.
const BASE: &str = r#"
schema { query: Query mutation: Mutation }
directive @beta on FIELD
interface Node { id: ID! }
type Query {
  node(id: ID!): Node
  endpoints(first: Int, after: String, filter: EndpointFilter): [Endpoint!]!
  search(term: String): SearchResult
}
type Mutation { createEndpoint(input: CreateEndpointInput!): Endpoint }
type Endpoint implements Node { id: ID! name: String status: Status! legacy: String }
type Number implements Node { id: ID! e164: String! }
union SearchResult = Endpoint | Number
enum Status { ACTIVE PAUSED RETIRED }
input EndpointFilter { status: Status name: String }
input CreateEndpointInput { name: String! status: Status }
scalar DateTime
"#;

fn schema(sdl: &str) -> Schema {
    Schema::parse(sdl).expect("valid SDL")
}

/// BASE with each `(from, to)` replaced once.
fn edited(edits: &[(&str, &str)]) -> String {
    edits.iter().fold(BASE.to_owned(), |sdl, (from, to)| {
        assert!(sdl.contains(from), "BASE lacks {from}");
        sdl.replacen(from, to, 1)
    })
}
