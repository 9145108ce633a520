use std::sync::Arc;

use async_graphql::{
    EmptyMutation, EmptySubscription, Enum, InputObject, Interface, Object, Schema, SimpleObject,
    Union, Variables,
};

use super::typenames::TYPE_KEY;
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

    /// A circle, then a square.
    async fn shapes(&self) -> Vec<Shape> {
        vec![
            Shape::Circle(Circle { radius: 1 }),
            Shape::Square(Square { side: 2 }),
        ]
    }

    /// A named thing: an item.
    async fn named(&self) -> Named {
        Named::Item(Item)
    }

    async fn nothing(&self) -> Option<Item> {
        None
    }
}

struct Item;

#[Object]
impl Item {
    async fn name(&self) -> &str {
        "item"
    }
}

#[derive(SimpleObject)]
struct Circle {
    radius: i32,
}

#[derive(SimpleObject)]
struct Square {
    side: i32,
}

#[derive(Union)]
enum Shape {
    Circle(Circle),
    Square(Square),
}

#[derive(Interface)]
#[graphql(field(name = "name", ty = "&str"))]
enum Named {
    Item(Item),
}

type TestSchema = Schema<Query, EmptyMutation, EmptySubscription>;

fn schema() -> TestSchema {
    Schema::build(Query, EmptyMutation, EmptySubscription).finish()
}

fn usage(tally: &Arc<Tally>) -> Usage {
    Usage::new::<Query, EmptyMutation, EmptySubscription>(Arc::clone(tally))
}

/// Runs `query` as the gateway does — the document with the count's `__typename`s, its result
/// counted for `client` — and gives the result.
async fn run(
    schema: &TestSchema,
    usage: &Usage,
    query: &str,
    variables: Option<Variables>,
    client: &str,
) -> async_graphql::Response {
    let document = async_graphql::parser::parse_query(query).expect("parses");
    let mut request = async_graphql::Request::new(query);
    if let Some(variables) = &variables {
        request = request.variables(variables.clone());
    }
    request.set_parsed_query(
        usage
            .runnable(&document)
            .unwrap_or_else(|| document.clone()),
    );
    let mut response = schema.execute(request).await;
    let (_, operation) =
        crate::graphql::analysis::select_operation(&document, None).expect("one operation");
    let client: Arc<str> = Arc::from(client);
    let ran = Run {
        document: &document,
        operation_type: operation.node.ty,
        set: &operation.node.selection_set.node,
        variables: variables.as_ref(),
        client: &client,
    };
    usage.count(ran, &mut response, true);
    response
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
    let (schema, usage) = (schema(), usage(&tally));
    let response = run(
        &schema,
        &usage,
        "{ current { name } __typename }",
        None,
        "web",
    )
    .await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert!(!response.extensions.contains_key("warnings"));
    assert!(response.http_headers.get("deprecation").is_none());
    let query = "{ current { name } __schema { queryType { name } } nothing { name } }";
    run(&schema, &usage, query, None, "unknown").await;
    assert_eq!(
        counts(&tally),
        [
            ("Item.name".to_owned(), "unknown".to_owned(), 2),
            ("Item.name".to_owned(), "web".to_owned(), 2),
            ("Query.current".to_owned(), "unknown".to_owned(), 1),
            ("Query.current".to_owned(), "web".to_owned(), 1),
            ("Query.nothing".to_owned(), "unknown".to_owned(), 1),
        ]
    );
}

#[tokio::test]
async fn a_deprecated_field_is_warned_about_counted_and_dated() {
    let tally = Arc::new(Tally::default());
    let (schema, usage) = (schema(), usage(&tally));
    let response = run(&schema, &usage, "{ legacy current { name } }", None, "web").await;
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
    let response = run(&schema, &usage, "{ older }", None, "web").await;
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
    let (schema, usage) = (schema(), usage(&tally));
    let query = "{ paint(with: { colour: RED }, colours: [RED, RED]) }";
    let response = run(&schema, &usage, query, None, "unknown").await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert!(!response.extensions.contains_key("warnings"));
    let variables = Variables::from_json(serde_json::json!({
        "p": { "colour": "RED" },
        "c": "RED",
    }));
    let query = "query($p: Paint, $c: [Colour!]) { paint(with: $p, colours: $c) }";
    let response = run(&schema, &usage, query, Some(variables), "unknown").await;
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
    let (schema, usage) = (schema(), usage(&tally));
    let variables = Variables::from_json(serde_json::json!({
        "p": { "hex": "#ff0000", "colour": "CRIMSON" },
    }));
    let query = "query($p: Paint) { paint(with: $p, colours: [CRIMSON], opacity: 0.5) }";
    let response = run(&schema, &usage, query, Some(variables), "web").await;
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
    let response = run(&schema, &usage, "{ paint(colours: [RED]) }", None, "web").await;
    assert!(response.http_headers.get("deprecation").is_none());
    assert!(!response.extensions.contains_key("warnings"));
}

#[test]
fn a_tally_holds_what_a_failed_write_gives_back() {
    let tally = Tally::default();
    let client: Arc<str> = Arc::from("ios");
    tally.add(&client, [(Arc::from("Query.a"), 2)]);
    let taken = tally.take();
    tally.add(&client, [(Arc::from("Query.a"), 1)]);
    tally.restore(taken);
    assert_eq!(
        counts(&tally),
        [("Query.a".to_owned(), "ios".to_owned(), 3)]
    );
}

#[tokio::test]
async fn fields_of_union_and_interface_values_count_for_the_type_each_value_is() {
    let tally = Arc::new(Tally::default());
    let (schema, usage) = (schema(), usage(&tally));
    let query = "{ shapes { ... on Circle { radius } ...SquareSide } named { name } } \
                 fragment SquareSide on Square { side }";
    let response = run(&schema, &usage, query, None, "web").await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    // The run selected the type of each under a key of its own (the gateway's ordering drops
    // it again).
    assert_eq!(
        response.data.into_json().expect("JSON"),
        serde_json::json!({
            "shapes": [
                { "radius": 1, TYPE_KEY: "Circle" },
                { "side": 2, TYPE_KEY: "Square" },
            ],
            "named": { "name": "item", TYPE_KEY: "Item" },
        })
    );
    let web = |c: &str, n| (c.to_owned(), "web".to_owned(), n);
    assert_eq!(
        counts(&tally),
        [
            web("Circle.radius", 1),
            web("Item.name", 1),
            web("Query.named", 1),
            web("Query.shapes", 1),
            web("Square.side", 1),
        ]
    );
}

#[tokio::test]
async fn a_field_selected_twice_counts_once_and_a_document_using_the_type_key_runs_unchanged() {
    let tally = Arc::new(Tally::default());
    let (schema, usage) = (schema(), usage(&tally));
    let query = "{ current { name ...N } a: current { name } } fragment N on Item { name }";
    run(&schema, &usage, query, None, "web").await;
    let web = |c: &str, n| (c.to_owned(), "web".to_owned(), n);
    assert_eq!(
        counts(&tally),
        [web("Item.name", 4), web("Query.current", 2)]
    );
    // A client's own `__typename`, aliased or not, is its own: the type is read from the key
    // the run adds.
    let query = "{ named { __typename: name } shapes { __typename } }";
    let response = run(&schema, &usage, query, None, "web").await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(
        response.data.into_json().expect("JSON")["named"]["__typename"],
        "item"
    );
    assert_eq!(
        counts(&tally),
        [
            web("Item.name", 1),
            web("Query.named", 1),
            web("Query.shapes", 1)
        ]
    );
    // A document that uses the key itself runs as it is; what its values are can't be told.
    let query = format!("{{ named {{ {TYPE_KEY}: name }} }}");
    let document = async_graphql::parser::parse_query(&query).expect("parses");
    assert!(usage.runnable(&document).is_none());
    let response = run(&schema, &usage, &query, None, "web").await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(counts(&tally), [web("Query.named", 1)]);
}

#[test]
fn a_document_whose_fragments_spread_each_other_is_made_runnable_at_once() {
    // Refused by validation later; made runnable before it, so each fragment is looked at once,
    // not once per spread (this one spreads itself twice at each of 64 levels).
    let tally = Arc::new(Tally::default());
    let usage = usage(&tally);
    let query = "{ named { ...F } } fragment F on Named { ...F ...F name }";
    let document = async_graphql::parser::parse_query(query).expect("parses");
    let runnable = usage
        .runnable(&document)
        .expect("a type added under `named`");
    assert_eq!(runnable.fragments.len(), 1);
}
