//! Unit tests of `analysis`.

use super::*;
use async_graphql::parser::parse_query;

/// The page size the schema gives `endpoints(first:)` by default.
const DEFAULT_FIRST: u64 = 50;

fn shape() -> SchemaShape {
    SchemaShape::from_sdl(&crate::graphql::sdl())
}

fn run(query: &str, name: Option<&str>, vars: serde_json::Value) -> Analysis {
    let doc = parse_query(query).expect("parses");
    let vars: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(vars).expect("variables");
    analyse(&doc, name, &vars, &shape()).expect("analyses")
}

#[test]
fn recognises_introspection() {
    let intro = |q: &str, n: Option<&str>| run(q, n, serde_json::json!({})).introspection_only;
    assert!(intro("{ __schema { types { name } } }", None));
    assert!(intro("query { __typename }", None));
    assert!(intro(
        "query Q { ...F } fragment F on Query { __type(name: \"Endpoint\") { name } }",
        None
    ));
    assert!(!intro("{ __typename endpoints { totalCount } }", None));
    assert!(!intro("{ viewer { mode } }", None));
    assert!(intro(
        "query A { __typename } query B { viewer { mode } }",
        Some("A")
    ));
    assert!(!intro(
        "query A { __typename } query B { viewer { mode } }",
        Some("B")
    ));
}

#[test]
fn connections_cost_first_times_their_selections() {
    let a = run(
        "query($n: Int) { endpoints(first: $n) { edges { node { id phoneNumbers { e164 } } } } }",
        None,
        serde_json::json!({ "n": 10 }),
    );
    // endpoints 1 + 10 × (edges 1 + node 1 + phoneNumbers 1)
    assert_eq!(a.cost, 31);
    assert_eq!(a.depth, 5);
    assert_eq!(a.operation_type, OperationType::Query);
    let default = run(
        "{ endpoints { nodes { id } } }",
        None,
        serde_json::json!({}),
    );
    assert_eq!(default.cost, 1 + DEFAULT_FIRST);
    let aliased = run(
        "{ a: viewer { mode } b: viewer { mode @skip(if: true) } }",
        None,
        serde_json::json!({}),
    );
    assert_eq!(
        (aliased.aliases, aliased.directives, aliased.cost),
        (2, 1, 2)
    );
}

#[test]
fn exponential_fragment_spreads_are_analysed_in_linear_time() {
    // F0 spreads F1 twice, F1 spreads F2 twice, … : 2^40 paths, 41 fragments.
    let mut query = String::from("query { ...F0 }");
    for i in 0..40 {
        query.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    query.push_str(" fragment F40 on Query { a: viewer { mode } }");
    let a = run(&query, None, serde_json::json!({}));
    assert_eq!(a.depth, 2);
    assert_eq!(
        a.cost,
        1u64 << 40,
        "each path counts, saturating rather than looping"
    );
    assert_eq!(
        a.fields,
        2 * (1u64 << 40),
        "every expanded selection counts, leaves too"
    );
    // Leaves alone: no object to cost, but every spread path is work.
    let mut leaves = String::from("query { ...F0 }");
    for i in 0..30 {
        leaves.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    leaves.push_str(" fragment F30 on Query { __typename }");
    let a = run(&leaves, None, serde_json::json!({}));
    assert_eq!((a.cost, a.fields), (0, 1u64 << 30));
    let cyclic = run(
        "query { ...A } fragment A on Query { ...A ...A __typename }",
        None,
        serde_json::json!({}),
    );
    assert_eq!(cyclic.depth, 1);
}

#[test]
fn connections_and_their_default_page_sizes_come_from_the_schema() {
    let shape = SchemaShape::from_sdl(
        "type Query { things(first: Int = 7): ThingConnection! plain(first: Int): Thing }
         type ThingConnection { nodes: [Thing!]! }
         type Thing { name: String other(first: Int = 3): ThingConnection }",
    );
    let doc = parse_query("{ things { nodes { name other { nodes { name } } } } plain { name } }")
        .expect("parses");
    let a = analyse(&doc, None, &serde_json::Map::new(), &shape).expect("analyses");
    // things 1 + 7 × (nodes 1 + other 1 + 3 × nodes 1), plain 1: `first` alone doesn't
    // make a connection.
    assert_eq!(a.cost, 1 + 7 * (1 + 1 + 3) + 1);
    // An unknown field is costed as a plain one (validation refuses it later).
    let doc = parse_query("{ nope(first: 90) { nodes { name } } }").expect("parses");
    let a = analyse(&doc, None, &serde_json::Map::new(), &shape).expect("analyses");
    assert_eq!(a.cost, 2);
}

#[test]
fn variable_defaults_count_as_page_sizes() {
    let a = run(
        "query($n: Int = 100) { endpoints(first: $n) { nodes { id } } }",
        None,
        serde_json::json!({}),
    );
    assert_eq!(a.cost, 101);
    let given = run(
        "query($n: Int = 100) { endpoints(first: $n) { nodes { id } } }",
        None,
        serde_json::json!({ "n": 3 }),
    );
    assert_eq!(given.cost, 4);
    // A variable that isn't a number is no page size: the default stands.
    let listed = run(
        "query($n: Int = 100) { endpoints(first: $n) { nodes { id } } }",
        None,
        serde_json::json!({ "n": vec![0; 1000] }),
    );
    assert_eq!(listed.cost, 1 + DEFAULT_FIRST);
}

#[test]
fn operation_selection() {
    let doc = parse_query("query A { viewer { mode } } mutation B { __typename }").expect("parses");
    let vars = serde_json::Map::new();
    assert!(analyse(&doc, None, &vars, &shape()).is_err());
    assert_eq!(
        analyse(&doc, Some("B"), &vars, &shape()).map(|a| a.operation_type),
        Ok(OperationType::Mutation)
    );
    assert!(analyse(&doc, Some("C"), &vars, &shape()).is_err());
}

/// Whether the variables of `query` surely pass async-graphql's argument checks.
fn surely(query: &str, vars: serde_json::Value) -> bool {
    let doc = parse_query(query).expect("parses");
    let (_, op) = select_operation(&doc, None).expect("one operation");
    let vars: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(vars).expect("variables");
    shape().inputs.variables_surely_valid(&op.node, &vars)
}

#[test]
fn variables_are_surely_valid_only_when_every_value_is_known_good() {
    use serde_json::json;
    let create = "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { userErrors { code } } }";
    let vapi = json!({ "name": "A", "type": "VAPI", "providerConfig": { "vapi": { "assistantId": "a" } } });
    assert!(surely(create, json!({ "input": vapi })));
    // Not given: skipped by the rule whichever way validation runs.
    assert!(surely(create, json!({})));
    assert!(!surely(create, json!({ "input": null })));
    // A required field left out, an unknown field, an unknown enum value, a number for a string.
    assert!(!surely(create, json!({ "input": { "type": "VAPI" } })));
    assert!(!surely(
        create,
        json!({ "input": { "name": "A", "type": "VAPI", "nope": 1 } })
    ));
    assert!(!surely(
        create,
        json!({ "input": { "name": "A", "type": "NOPE" } })
    ));
    assert!(!surely(
        create,
        json!({ "input": { "name": 5, "type": "VAPI" } })
    ));
    // @oneOf: exactly one variant, not null.
    for config in [
        json!({}),
        json!({ "vapi": null }),
        json!({ "vapi": { "assistantId": "a" }, "retell": { "agentId": "b" } }),
    ] {
        let input = json!({ "name": "A", "type": "VAPI", "providerConfig": config });
        assert!(!surely(create, json!({ "input": input })), "{config}");
    }

    let page = "query($n: Int, $after: String, $skip: Boolean!) { endpoints(first: $n, after: $after) @skip(if: $skip) { totalCount } }";
    assert!(surely(page, json!({ "n": 5, "after": "c", "skip": true })));
    for n in [
        json!(-1),
        json!(1.5),
        json!(2_147_483_648_u64),
        json!("5"),
        json!([5]),
    ] {
        assert!(!surely(page, json!({ "n": n, "skip": true })), "{n}");
    }
    assert!(!surely(page, json!({ "skip": 1 })));

    // A scalar whose checks the schema doesn't show is never "surely".
    let custom = "query($at: DateTime) { viewer { mode } }";
    assert!(!surely(custom, json!({ "at": "2026-01-01T00:00:00Z" })));
    // Nor is a type the schema doesn't have (validation refuses the document anyway).
    assert!(!surely(
        "query($x: Nope) { viewer { mode } }",
        json!({ "x": 1 })
    ));
}

#[test]
fn lookups_by_id_reserve_every_table_an_id_may_be_looked_for_in() {
    use crate::domain::ids::{Kind, MOST_CANDIDATES, new_id};
    let most = MOST_CANDIDATES as u64;
    let typed = new_id(Kind::Endpoint).to_string();
    let untyped = uuid::Uuid::now_v7().to_string();
    let cost = |query: &str, vars: serde_json::Value| run(query, None, vars).cost;
    let nodes = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }";
    // A typed id is one lookup, the object it finds; an untyped one each table's.
    assert_eq!(cost(nodes, serde_json::json!({ "ids": [typed] })), 1);
    assert_eq!(cost(nodes, serde_json::json!({ "ids": [untyped] })), most);
    // The found object's selections come on top, once.
    assert_eq!(
        cost(
            "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Endpoint { phoneNumbers { id } } } }",
            serde_json::json!({ "ids": [untyped, typed] })
        ),
        (most - 1 + 2) + 2
    );
    // Duplicates are each looked up; literal lists, items from variables and a variable's
    // default are read alike; what can't be known before the run is reserved at the most.
    let mixed = format!("{{ nodes(ids: [\"{typed}\", \"{untyped}\", \"{typed}\"]) {{ id }} }}");
    assert_eq!(cost(&mixed, serde_json::json!({})), 2 + most);
    assert_eq!(
        cost(
            "query($a: ID!, $b: ID!) { nodes(ids: [$a, $b]) { id } }",
            serde_json::json!({ "a": typed, "b": untyped })
        ),
        1 + most
    );
    let defaulted = format!(
        "query($ids: [ID!]! = [\"{untyped}\", \"{typed}\"]) {{ nodes(ids: $ids) {{ id }} }}"
    );
    assert_eq!(cost(&defaulted, serde_json::json!({})), most + 1);
    assert_eq!(cost(nodes, serde_json::json!({ "ids": [1] })), most);
    // `node` alike, and aliases each on their own.
    let node = "query($id: ID!) { a: node(id: $id) { id } b: node(id: $id) { id } }";
    assert_eq!(cost(node, serde_json::json!({ "id": typed })), 2);
    assert_eq!(cost(node, serde_json::json!({ "id": untyped })), 2 * most);
    // A field of one type looks in its own table only.
    assert_eq!(
        cost(
            "query($id: UUID!) { endpoint(id: $id) { id } }",
            serde_json::json!({ "id": untyped })
        ),
        1
    );
    // Not an id at all: refused before any lookup, reserved as one.
    assert_eq!(cost(nodes, serde_json::json!({ "ids": ["nope"] })), 1);
}

fn fields_of(query: &str, vars: serde_json::Value) -> Vec<FieldCost> {
    let doc = parse_query(query).expect("parses");
    let vars: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(vars).expect("variables");
    cost_fields(&doc, None, &vars, &shape()).expect("analyses")
}

#[test]
fn each_field_tells_its_cost_at_its_response_path_and_the_roots_add_up() {
    let query = "query($n: Int) { list: endpoints(first: $n) { edges { node { ...E } } } v: viewer { mode } } fragment E on Endpoint { id phoneNumbers { e164 } }";
    let vars = serde_json::json!({ "n": 10 });
    let fields = fields_of(query, vars.clone());
    let at = |path: &[&str]| {
        fields
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path:?} in {fields:?}"))
    };
    let list = at(&["list"]);
    assert_eq!(
        (
            list.defined_cost,
            list.requested_children_cost,
            list.requested_total_cost
        ),
        (1, Some(30), 31)
    );
    let id = at(&["list", "edges", "node", "id"]);
    assert_eq!(
        (
            id.defined_cost,
            id.requested_total_cost,
            id.requested_children_cost
        ),
        (0, 0, None)
    );
    let numbers = at(&["list", "edges", "node", "phoneNumbers"]);
    assert_eq!(numbers.requested_total_cost, 1);
    // Children come before their parent.
    let position = |path: &[&str]| fields.iter().position(|f| f.path == path);
    assert!(position(&["list", "edges"]) < position(&["list"]));
    let roots: u64 = fields
        .iter()
        .filter(|f| f.path.len() == 1)
        .map(|f| f.requested_total_cost)
        .sum();
    assert_eq!(roots, run(query, None, vars).cost);
}

#[test]
fn a_fragment_spread_twice_is_told_at_both_paths() {
    let query = "{ a: viewer { ...V } b: viewer { ...V } } fragment V on Viewer { mode }";
    let fields = fields_of(query, serde_json::json!({}));
    let paths: Vec<Vec<&str>> = fields
        .iter()
        .map(|f| f.path.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(
        paths,
        vec![vec!["a", "mode"], vec!["a"], vec!["b", "mode"], vec!["b"]]
    );
    let total: u64 = fields
        .iter()
        .filter(|f| f.path.len() == 1)
        .map(|f| f.requested_total_cost)
        .sum();
    assert_eq!(total, run(query, None, serde_json::json!({})).cost);
}
