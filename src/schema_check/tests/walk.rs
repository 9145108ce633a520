use super::*;

fn used(document: &str) -> Uses {
    let document = async_graphql::parser::parse_query(document).expect("document parses");
    uses(&schema(BASE), &document)
}

fn set<const N: usize>(items: [&str; N]) -> std::collections::BTreeSet<String> {
    items.into_iter().map(str::to_owned).collect()
}

#[test]
fn fields_arguments_input_fields_and_enum_values_are_named() {
    let uses = used(
        r#"query List($after: String) {
            __typename
            endpoints(first: 5, after: $after, filter: {status: PAUSED, name: "a"}) {
                id
                name @beta
            }
        }"#,
    );
    assert_eq!(
        uses.coordinates,
        set([
            "String",
            "Query.endpoints",
            "Query.endpoints(first:)",
            "Query.endpoints(after:)",
            "Query.endpoints(filter:)",
            "EndpointFilter",
            "EndpointFilter.status",
            "EndpointFilter.name",
            "Status.PAUSED",
            "Endpoint.id",
            "Endpoint.name",
            "@beta",
        ])
    );
    assert!(uses.spreads.is_empty());
}

#[test]
fn variables_name_their_types_and_defaults_their_values() {
    let uses = used(
        r#"mutation Create($input: CreateEndpointInput! = {name: "x", status: ACTIVE}) {
            createEndpoint(input: $input) { id }
        }"#,
    );
    assert_eq!(
        uses.coordinates,
        set([
            "CreateEndpointInput",
            "CreateEndpointInput.name",
            "CreateEndpointInput.status",
            "Status.ACTIVE",
            "Mutation.createEndpoint",
            "Mutation.createEndpoint(input:)",
            "Endpoint.id",
        ])
    );
}

#[test]
fn fragments_name_their_type_conditions_and_where_they_are_spread() {
    let uses = used(
        r#"query Find {
            search(term: "x") { ...NumberParts ... on Endpoint { status } }
            node(id: "1") { id ... on Number { e164 } }
        }
        fragment NumberParts on Number { e164 }"#,
    );
    assert_eq!(
        uses.coordinates,
        set([
            "Query.search",
            "Query.search(term:)",
            "Query.node",
            "Query.node(id:)",
            "Number",
            "Number.e164",
            "Endpoint",
            "Endpoint.status",
            "Node.id",
        ])
    );
    assert_eq!(
        uses.spreads,
        [
            ("Node", "Number"),
            ("SearchResult", "Endpoint"),
            ("SearchResult", "Number"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
    );
}

#[test]
fn a_list_of_enum_values_and_unknown_fields_are_named_as_written() {
    let sdl = edited(&[("term: String", "term: String statuses: [Status!]")]);
    let document = async_graphql::parser::parse_query(
        r#"{ search(statuses: [ACTIVE, PAUSED]) { __typename } gone { x } }"#,
    )
    .expect("parses");
    let uses = uses(&schema(&sdl), &document);
    assert_eq!(
        uses.coordinates,
        set([
            "Query.search",
            "Query.search(statuses:)",
            "Status.ACTIVE",
            "Status.PAUSED",
            "Query.gone",
        ])
    );
}
