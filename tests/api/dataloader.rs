//! A page of endpoints with their phone numbers costs the same number of queries at any size.

use cockpit_gateway::domain::Mode;
use serde_json::{Value, json};

use crate::helpers::*;

const PAGE: &str =
    "query($first: Int) { endpoints(first: $first) { nodes { name phoneNumbers { e164 } } } }";

/// The statements `query` ran that read endpoints or phone numbers: the operation's own.
/// Verifying the key is left out, as it runs again whenever the key's 2 s in the credential
/// cache have passed, which a loaded machine reaches between any two requests.
async fn reads_of(app: &TestApp, query: &str, variables: Value) -> (Value, Vec<String>) {
    let before = app.statements_since(0).len();
    let res = app.graphql(&app.org.test_key, query, variables).await;
    let data = res.assert_ok().clone();
    let reads = app
        .statements_since(before)
        .into_iter()
        .filter(|sql| sql.contains("\"endpoints\"") || sql.contains("\"phone_numbers\""))
        .collect();
    (data, reads)
}

/// Reads one request for a page of `first` endpoints made, after checking what it returned.
async fn reads_for_page(app: &TestApp, first: usize) -> Vec<String> {
    let (data, reads) = reads_of(app, PAGE, json!({ "first": first })).await;
    let nodes = data["endpoints"]["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), first);
    for node in nodes {
        assert_eq!(
            node["phoneNumbers"].as_array().map(Vec::len),
            Some(1),
            "{node}"
        );
    }
    reads
}

db_test! {
    async fn phone_numbers_of_a_page_load_in_one_query(app) {
        for i in 0..12 {
            let number = app.add_phone_number(app.org.id, Mode::Test, &format!("+1415555{i:04}")).await;
            app.create_ok(&app.org.test_key, json!({ "name": format!("e{i}"), "type": "WEBHOOK",
                "url": "https://a.example", "phoneNumberId": number })).await;
        }
        let small = reads_for_page(&app, 2).await;
        let large = reads_for_page(&app, 12).await;
        assert_eq!(small.len(), large.len(), "query count must not grow with the page: {large:#?}");
        // The page, and one batched phone-number query.
        assert_eq!(large.len(), 2, "{large:#?}");
        assert_eq!(large.iter().filter(|sql| sql.contains("\"phone_numbers\"")).count(), 1, "{large:#?}");
        // Through edges and a fragment too.
        for query in [
            "{ endpoints(first: 12) { edges { node { phoneNumbers { e164 } } } } }",
            "{ endpoints(first: 12) { nodes { ...N } } } fragment N on Endpoint { phoneNumbers { e164 } }",
        ] {
            let (data, reads) = reads_of(&app, query, json!({})).await;
            assert_eq!(data.to_string().matches("+1415555").count(), 12, "{data}");
            assert_eq!(reads.len(), 2, "{query}: {reads:#?}");
        }
    }
}
