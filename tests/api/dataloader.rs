//! A page of endpoints with their phone numbers costs the same number of queries at any size.

use cockpit_gateway::domain::Mode;
use serde_json::json;

use crate::helpers::*;

const PAGE: &str =
    "query($first: Int) { endpoints(first: $first) { nodes { name phoneNumbers { e164 } } } }";

/// Statements one request for a page of `first` endpoints executes: the fewer of two tries,
/// as a try that lands past the key's 2 s in the credential cache verifies it again.
async fn queries_for_page(app: &TestApp, first: usize) -> usize {
    let once = queries_for_page_once(app, first).await;
    once.min(queries_for_page_once(app, first).await)
}

async fn queries_for_page_once(app: &TestApp, first: usize) -> usize {
    let before = app.query_count();
    let res = app
        .graphql(&app.org.test_key, PAGE, json!({ "first": first }))
        .await;
    let nodes = res.assert_ok()["endpoints"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone();
    assert_eq!(nodes.len(), first);
    for node in &nodes {
        assert_eq!(
            node["phoneNumbers"].as_array().map(Vec::len),
            Some(1),
            "{node}"
        );
    }
    app.query_count() - before
}

db_test! {
    async fn phone_numbers_of_a_page_load_in_one_query(app) {
        for i in 0..12 {
            let number = app.add_phone_number(app.org.id, Mode::Test, &format!("+1415555{i:04}")).await;
            app.create_ok(&app.org.test_key, json!({ "name": format!("e{i}"), "type": "WEBHOOK",
                "url": "https://a.example", "phoneNumberId": number })).await;
        }
        // The key is verified once, then remembered (for up to 2 s): measured right after.
        queries_for_page(&app, 1).await;
        let small = queries_for_page(&app, 2).await;
        let large = queries_for_page(&app, 12).await;
        assert_eq!(small, large, "query count must not grow with the page");
        // The page, and one batched phone-number query.
        assert_eq!(large, 2);
        // Through edges and a fragment too.
        for query in [
            "{ endpoints(first: 12) { edges { node { phoneNumbers { e164 } } } } }",
            "{ endpoints(first: 12) { nodes { ...N } } } fragment N on Endpoint { phoneNumbers { e164 } }",
        ] {
            let mut counts = Vec::new();
            for _ in 0..2 {
                let before = app.query_count();
                let res = app.graphql(&app.org.test_key, query, json!({})).await;
                assert!(res.assert_ok().to_string().matches("+1415555").count() == 12, "{}", res.body);
                counts.push(app.query_count() - before);
            }
            assert_eq!(counts.iter().min(), Some(&2), "{query}: {counts:?}");
        }
    }
}
