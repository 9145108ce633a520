use std::sync::Arc;

use async_graphql::{EmptyMutation, EmptySubscription, Enum, InputObject, Object, Schema};

use super::*;

struct Query;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
enum Colour {
    Red,
    #[graphql(deprecation = "Use RED.")]
    Crimson,
}

#[derive(InputObject)]
struct Paint {
    colour: Option<Colour>,
    #[graphql(deprecation = "Use `colour`; deprecated since 2025-03-01.")]
    hex: Option<String>,
}

#[Object]
impl Query {
    async fn current(&self) -> Vec<Item> {
        vec![Item, Item]
    }

    #[graphql(deprecation = "Use `current`; deprecated since 2026-01-15.")]
    async fn legacy(&self) -> i32 {
        1
    }

    #[graphql(deprecation = "Use `current`.")]
    async fn older(&self) -> i32 {
        2
    }

    async fn paint(
        &self,
        with: Option<Paint>,
        colours: Option<Vec<Colour>>,
        #[graphql(deprecation = "Paint is always opaque.")] opacity: Option<f64>,
    ) -> i32 {
        let _ = (with, colours, opacity);
        3
    }
}

struct Item;

#[Object]
impl Item {
    async fn name(&self) -> &str {
        "item"
    }
}

fn schema(tally: &Arc<Tally>) -> Schema<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query, EmptyMutation, EmptySubscription)
        .extension(FieldUsageExtension::new(tally.clone()))
        .finish()
}

fn counts(tally: &Tally) -> Vec<(String, String, u64)> {
    let mut counts: Vec<_> = tally
        .take()
        .into_iter()
        .map(|((coordinate, client), n)| (coordinate.to_string(), client.to_string(), n))
        .collect();
    counts.sort();
    counts
}

#[tokio::test]
async fn each_resolution_is_counted_for_the_operations_client() {
    let tally = Arc::new(Tally::default());
    let schema = schema(&tally);
    let request = async_graphql::Request::new("{ current { name } __typename }")
        .data(UsageClient(Arc::from("web")));
    let response = schema.execute(request).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert!(!response.extensions.contains_key("warnings"));
    assert!(response.http_headers.get("deprecation").is_none());
    schema
        .execute("{ current { name } __schema { queryType { name } } }")
        .await;
    assert_eq!(
        counts(&tally),
        [
            ("Item.name".to_owned(), "unknown".to_owned(), 2),
            ("Item.name".to_owned(), "web".to_owned(), 2),
            ("Query.current".to_owned(), "unknown".to_owned(), 1),
            ("Query.current".to_owned(), "web".to_owned(), 1),
        ]
    );
}

#[tokio::test]
async fn a_deprecated_field_is_warned_about_counted_and_dated() {
    let tally = Arc::new(Tally::default());
    let schema = schema(&tally);
    let response = schema.execute("{ legacy current { name } }").await;
    assert_eq!(
        warnings(&response),
        serde_json::json!([{
            "message": "`Query.legacy` is deprecated: Use `current`; deprecated since 2026-01-15.",
            "code": "DEPRECATED_FIELD",
            "coordinate": "Query.legacy",
        }])
    );
    // 2026-01-15T00:00:00Z.
    assert_eq!(
        response
            .http_headers
            .get("deprecation")
            .map(|v| v.as_bytes()),
        Some(&b"@1768435200"[..])
    );
    assert!(
        counts(&tally)
            .iter()
            .any(|(c, _, n)| c == "Query.legacy" && *n == 1)
    );
    // Without a date in its reason, the header says only that it is deprecated.
    let response = schema.execute("{ older }").await;
    assert_eq!(
        response
            .http_headers
            .get("deprecation")
            .map(|v| v.as_bytes()),
        Some(&b"@0"[..])
    );
}

/// The warnings of `response`, as JSON.
fn warnings(response: &async_graphql::Response) -> serde_json::Value {
    response
        .extensions
        .get("warnings")
        .cloned()
        .expect("warnings")
        .into_json()
        .expect("JSON")
}

#[tokio::test]
async fn arguments_input_fields_and_enum_values_are_counted_from_literals_and_variables() {
    let tally = Arc::new(Tally::default());
    let schema = schema(&tally);
    let response = schema
        .execute("{ paint(with: { colour: RED }, colours: [RED, RED]) }")
        .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert!(!response.extensions.contains_key("warnings"));
    let request = async_graphql::Request::new(
        "query($p: Paint, $c: [Colour!]) { paint(with: $p, colours: $c) }",
    )
    .variables(async_graphql::Variables::from_json(serde_json::json!({
        "p": { "colour": "RED" },
        "c": "RED",
    })));
    let response = schema.execute(request).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let unknown = |c: &str, n| (c.to_owned(), "unknown".to_owned(), n);
    assert_eq!(
        counts(&tally),
        [
            unknown("Colour.RED", 5),
            unknown("Paint.colour", 2),
            unknown("Query.paint", 2),
            unknown("Query.paint(colours:)", 2),
            unknown("Query.paint(with:)", 2),
        ]
    );
}

#[tokio::test]
async fn deprecated_arguments_input_fields_and_enum_values_are_warned_about() {
    let tally = Arc::new(Tally::default());
    let schema = schema(&tally);
    let request = async_graphql::Request::new(
        "query($p: Paint) { paint(with: $p, colours: [CRIMSON], opacity: 0.5) }",
    )
    .variables(async_graphql::Variables::from_json(serde_json::json!({
        "p": { "hex": "#ff0000", "colour": "CRIMSON" },
    })));
    let response = schema.execute(request).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(
        warnings(&response),
        serde_json::json!([
            {
                "message": "`Colour.CRIMSON` is deprecated: Use RED.",
                "code": "DEPRECATED_ENUM_VALUE",
                "coordinate": "Colour.CRIMSON",
            },
            {
                "message": "`Paint.hex` is deprecated: Use `colour`; deprecated since 2025-03-01.",
                "code": "DEPRECATED_INPUT_FIELD",
                "coordinate": "Paint.hex",
            },
            {
                "message": "`Query.paint(opacity:)` is deprecated: Paint is always opaque.",
                "code": "DEPRECATED_ARGUMENT",
                "coordinate": "Query.paint(opacity:)",
            },
        ])
    );
    // The earliest date any of them names: 2025-03-01T00:00:00Z.
    assert_eq!(
        response
            .http_headers
            .get("deprecation")
            .map(|v| v.as_bytes()),
        Some(&b"@1740787200"[..])
    );
    // Only what an operation gives is warned about: nothing deprecated given, no warning.
    let response = schema.execute("{ paint(colours: [RED]) }").await;
    assert!(response.http_headers.get("deprecation").is_none());
    assert!(!response.extensions.contains_key("warnings"));
}

#[test]
fn a_tally_holds_what_a_failed_write_gives_back() {
    let tally = Tally::default();
    let client: Arc<str> = Arc::from("ios");
    tally.add(&client, [("Query.a".to_owned(), 2)]);
    let taken = tally.take();
    tally.add(&client, [("Query.a".to_owned(), 1)]);
    tally.restore(taken);
    assert_eq!(
        counts(&tally),
        [("Query.a".to_owned(), "ios".to_owned(), 3)]
    );
}
