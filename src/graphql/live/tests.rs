//! What a live query reads, and its `@live` read with variables.

use super::*;
use async_graphql::parser::parse_query;
use async_graphql::parser::types::DocumentOperations;

fn shape() -> SchemaShape {
    SchemaShape::from_sdl(&crate::graphql::sdl())
}

fn operation(document: &ExecutableDocument) -> &OperationDefinition {
    match &document.operations {
        DocumentOperations::Single(op) => &op.node,
        DocumentOperations::Multiple(ops) => &ops.values().next().expect("one").node,
    }
}

fn reads_of(query: &str, variables: serde_json::Value) -> Reads {
    let document = parse_query(query).expect("parses");
    let variables = Variables::from_json(variables);
    reads(&document, operation(&document), &shape(), &variables)
}

#[test]
fn endpoints_read_endpoint_events_only() {
    let reads = reads_of(
        "query @live { endpoints { nodes { id name } } }",
        serde_json::json!({}),
    );
    assert_eq!(reads.types, ENDPOINT_TYPES.to_vec());
    assert_eq!(reads.endpoint_ids, None);
    assert!(!reads.touched_by(EventType::PhoneNumberCreated, Uuid::nil()));
}

#[test]
fn an_empty_page_still_reads_its_type() {
    let reads = reads_of(
        "query @live { endpoints { totalCount } phoneNumbers { totalCount } }",
        serde_json::json!({}),
    );
    assert!(reads.types.contains(&EventType::EndpointCreated));
    assert!(reads.types.contains(&EventType::PhoneNumberCreated));
    assert!(!reads.types.contains(&EventType::ApiKeyCreated));
}

#[test]
fn one_endpoint_by_id_reads_its_own_events_and_its_numbers() {
    let id = Uuid::new_v4();
    let reads = reads_of(
        "query Q($id: UUID!) @live { endpoint(id: $id) { name ...N } } fragment N on Endpoint { phoneNumbers { e164 } }",
        serde_json::json!({ "id": id }),
    );
    assert_eq!(reads.endpoint_ids, Some(vec![id]));
    assert!(reads.touched_by(EventType::EndpointUpdated, id));
    assert!(!reads.touched_by(EventType::EndpointUpdated, Uuid::new_v4()));
    assert!(reads.touched_by(EventType::PhoneNumberAttached, Uuid::new_v4()));
}

#[test]
fn endpoints_reached_another_way_are_read_whole() {
    let id = Uuid::new_v4();
    let reads = reads_of(
        &format!("query @live {{ endpoint(id: \"{id}\") {{ name }} endpoints {{ totalCount }} }}"),
        serde_json::json!({}),
    );
    assert_eq!(reads.endpoint_ids, None);
    assert!(reads.touched_by(EventType::EndpointUpdated, Uuid::new_v4()));
}

#[test]
fn node_and_the_audit_log_read_every_event() {
    let all = <EventType as sea_orm::Iterable>::iter().count();
    assert_eq!(
        reads_of(
            "query @live { node(id: \"x\") { id } }",
            serde_json::json!({})
        )
        .types
        .len(),
        all
    );
    assert_eq!(
        reads_of(
            "query @live { events { totalCount } }",
            serde_json::json!({})
        )
        .types
        .len(),
        all
    );
    assert!(
        reads_of("query @live { rateLimit { cost } }", serde_json::json!({}))
            .types
            .is_empty()
    );
}

#[test]
fn live_reads_its_arguments_with_variables_and_defaults() {
    let document = parse_query(
        "query Q($on: Boolean = false, $ms: Int) @live(if: $on, throttle: $ms) { viewer { role } }",
    )
    .expect("parses");
    let op = operation(&document);
    assert_eq!(live_of(op, &Variables::default()), None);
    let asked = Variables::from_json(serde_json::json!({ "on": true, "ms": 1500 }));
    assert_eq!(
        live_of(op, &asked),
        Some(Live {
            throttle: Some(Duration::from_millis(1500))
        })
    );
    let plain = parse_query("query { viewer { role } }").expect("parses");
    assert_eq!(live_of(operation(&plain), &Variables::default()), None);
}
