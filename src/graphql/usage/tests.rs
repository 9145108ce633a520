use std::sync::{Arc, OnceLock};

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

use super::*;

struct Query;

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
}

struct Item;

#[Object]
impl Item {
    async fn name(&self) -> &str {
        "item"
    }
}

fn schema(tally: &Arc<Tally>) -> Schema<Query, EmptyMutation, EmptySubscription> {
    let deprecations = Arc::new(OnceLock::new());
    let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
        .extension(FieldUsageExtension {
            tally: tally.clone(),
            deprecations: deprecations.clone(),
        })
        .finish();
    let _ = deprecations.set(Deprecations::from_sdl(&schema.sdl()));
    schema
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
    let warnings = response
        .extensions
        .get("warnings")
        .cloned()
        .expect("warnings")
        .into_json()
        .expect("JSON");
    assert_eq!(
        warnings,
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
