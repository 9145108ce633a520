use super::*;

/// The breaking changes from BASE to BASE edited, as (coordinate, message).
fn changes(edits: &[(&str, &str)]) -> Vec<(String, String)> {
    breaking_changes(&schema(BASE), &schema(&edited(edits)))
        .into_iter()
        .map(|c| (c.coordinate, c.message))
        .collect()
}

fn one(coordinate: &str, message: &str) -> Vec<(String, String)> {
    vec![(coordinate.to_owned(), message.to_owned())]
}

#[test]
fn the_same_schema_has_no_breaking_changes() {
    assert_eq!(changes(&[]), vec![]);
}

#[test]
fn additions_are_not_breaking() {
    assert_eq!(
        changes(&[
            (
                "scalar DateTime",
                "scalar DateTime\nscalar Url\ntype Extra { a: Int }"
            ),
            ("legacy: String }", "legacy: String created: DateTime }"),
            ("RETIRED }", "RETIRED DELETED }"),
            ("= Endpoint | Number", "= Endpoint | Number | Extra"),
            (
                "after: String,",
                "after: String, before: String, limit: Int! = 10,"
            ),
            ("name: String }", "name: String org: ID }"),
            (
                "type Number implements Node",
                "type Number implements Node & Extra2"
            ),
            (
                "scalar DateTime",
                "scalar DateTime\ninterface Extra2 { id: ID! }"
            ),
            (
                "directive @beta on FIELD",
                "directive @beta on FIELD\ndirective @new on FIELD"
            ),
        ]),
        vec![]
    );
}

#[test]
fn a_removed_type_or_a_changed_kind_is_breaking() {
    assert_eq!(
        changes(&[("scalar DateTime", "")]),
        one("DateTime", "type `DateTime` was removed")
    );
    assert_eq!(
        changes(&[("scalar DateTime", "enum DateTime { NOW }")]),
        one("DateTime", "`DateTime` changed from a scalar to an enum")
    );
}

#[test]
fn a_removed_field_is_breaking() {
    assert_eq!(
        changes(&[(" legacy: String", "")]),
        one("Endpoint.legacy", "field `Endpoint.legacy` was removed")
    );
}

#[test]
fn an_output_may_become_non_null_but_not_nullable() {
    assert_eq!(
        changes(&[("name: String status", "name: String! status")]),
        vec![]
    );
    assert_eq!(
        changes(&[("status: Status!", "status: Status")]),
        one(
            "Endpoint.status",
            "field `Endpoint.status` changed type from `Status!` to `Status`"
        )
    );
    assert_eq!(
        changes(&[("[Endpoint!]!", "[Endpoint]!")]),
        one(
            "Query.endpoints",
            "field `Query.endpoints` changed type from `[Endpoint!]!` to `[Endpoint]!`"
        )
    );
    assert_eq!(
        changes(&[("e164: String!", "e164: [String!]!")]),
        one(
            "Number.e164",
            "field `Number.e164` changed type from `String!` to `[String!]!`"
        )
    );
}

#[test]
fn arguments_may_loosen_but_not_be_removed_tightened_or_retyped() {
    assert_eq!(changes(&[("node(id: ID!)", "node(id: ID)")]), vec![]);
    assert_eq!(
        changes(&[("after: String, ", "")]),
        one(
            "Query.endpoints(after:)",
            "argument `Query.endpoints(after:)` was removed"
        )
    );
    assert_eq!(
        changes(&[("first: Int,", "first: Int!,")]),
        one(
            "Query.endpoints(first:)",
            "argument `Query.endpoints(first:)` became required (`Int` to `Int!`)"
        )
    );
    assert_eq!(
        changes(&[("term: String", "term: Int")]),
        one(
            "Query.search(term:)",
            "argument `Query.search(term:)` changed type from `String` to `Int`"
        )
    );
    assert_eq!(
        changes(&[("after: String,", "after: String, limit: Int!,")]),
        one(
            "Query.endpoints(limit:)",
            "required argument `Query.endpoints(limit:)` was added"
        )
    );
}

#[test]
fn a_removed_enum_value_or_union_member_is_breaking() {
    assert_eq!(
        changes(&[(" RETIRED", "")]),
        one("Status.RETIRED", "enum value `Status.RETIRED` was removed")
    );
    assert_eq!(
        changes(&[("= Endpoint | Number", "= Endpoint")]),
        one(
            "SearchResult",
            "`Number` was removed from the union `SearchResult`"
        )
    );
}

#[test]
fn input_fields_may_be_added_optional_but_not_required_removed_or_retyped() {
    assert_eq!(
        changes(&[("name: String }", "name: String org: ID! }")]),
        one(
            "EndpointFilter.org",
            "required input field `EndpointFilter.org` was added"
        )
    );
    assert_eq!(
        changes(&[("status: Status name: String }", "status: Status }")]),
        one(
            "EndpointFilter.name",
            "input field `EndpointFilter.name` was removed"
        )
    );
    assert_eq!(
        changes(&[("{ name: String! status", "{ name: Int! status")]),
        one(
            "CreateEndpointInput.name",
            "input field `CreateEndpointInput.name` changed type from `String!` to `Int!`"
        )
    );
    assert_eq!(
        changes(&[("{ name: String! status", "{ name: String status")]),
        vec![]
    );
}

#[test]
fn an_interface_an_object_no_longer_implements_is_breaking() {
    assert_eq!(
        changes(&[("type Number implements Node", "type Number")]),
        one("Number", "`Number` no longer implements `Node`")
    );
}

#[test]
fn built_ins_an_sdl_leaves_out_are_not_removed() {
    let old = format!("{BASE}\nscalar String\ndirective @include(if: Boolean!) on FIELD");
    assert_eq!(breaking_changes(&schema(&old), &schema(BASE)), vec![]);
}

#[test]
fn a_removed_directive_is_breaking() {
    assert_eq!(
        changes(&[("directive @beta on FIELD", "")]),
        one("@beta", "directive `@beta` was removed")
    );
    assert_eq!(
        changes(&[(
            "directive @beta on FIELD",
            "directive @beta(reason: String!) on FIELD"
        )]),
        one(
            "@beta(reason:)",
            "required argument `@beta(reason:)` was added"
        )
    );
}

#[test]
fn changes_reach_the_uses_they_break() {
    let reach = |edits: &[(&str, &str)]| {
        breaking_changes(&schema(BASE), &schema(&edited(edits)))
            .into_iter()
            .map(|c| c.reach)
            .collect::<Vec<_>>()
    };
    // A new required argument breaks every use of its field, not only the ones giving it.
    assert_eq!(
        reach(&[("after: String,", "after: String, limit: Int!,")]),
        vec![Reach::Coordinate("Query.endpoints".to_owned())]
    );
    assert_eq!(
        reach(&[("name: String }", "name: String org: ID! }")]),
        vec![Reach::Coordinate("EndpointFilter".to_owned())]
    );
    assert_eq!(
        reach(&[("= Endpoint | Number", "= Endpoint")]),
        vec![Reach::Spread(
            "SearchResult".to_owned(),
            "Number".to_owned()
        )]
    );
    assert_eq!(
        reach(&[("scalar DateTime", "")]),
        vec![Reach::Type("DateTime".to_owned())]
    );
}

#[test]
fn sdl_that_defines_a_type_twice_or_names_a_missing_root_is_refused() {
    for (sdl, says) in [
        (
            "type Query { a: Int }\ntype Query { b: Int }",
            "defined twice",
        ),
        (
            "type Query { a: Int }\nextend input Query { b: Int }",
            "another kind",
        ),
        (
            "schema { query: Nope }\ntype Query { a: Int }",
            "`Nope` is not defined",
        ),
    ] {
        let refused = Schema::parse(sdl).expect_err(sdl);
        assert!(refused.contains(says), "{sdl}: {refused}");
    }
    // An extension adds to its type.
    let extended =
        Schema::parse("type Query { a: Int }\nextend type Query { b: Int }").expect("an extension");
    assert!(extended.field("Query", "b").is_some());
}
