//! Keyset pagination, filters and ordering of `endpoints`.

use serde_json::{Value, json};

use crate::helpers::*;

const LIST: &str = r#"
query($first: Int, $after: String, $filter: EndpointFilter, $orderBy: EndpointOrder) {
  endpoints(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    edges { cursor node { id name type status url } }
    nodes { id }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}"#;

async fn list(app: &TestApp, vars: Value) -> Value {
    let res = app.graphql(&app.org.test_key, LIST, vars).await;
    res.assert_ok()["endpoints"].clone()
}

async fn webhook(app: &TestApp, name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let e = app
        .create_ok(&app.org.test_key, json!({ "name": name, "type": "WEBHOOK", "url": format!("https://hooks.example/{slug}") }))
        .await;
    e["id"].as_str().expect("id").to_owned()
}

fn names(conn: &Value) -> Vec<String> {
    conn["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["name"].as_str().expect("name").to_owned())
        .collect()
}

/// Walks every page of `order_by` with `first`, running `between` after each page.
async fn walk(
    app: &TestApp,
    first: i64,
    order_by: Value,
    mut between: impl AsyncFnMut(usize),
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after = Value::Null;
    for page in 0.. {
        let conn = list(
            app,
            json!({ "first": first, "after": after, "orderBy": order_by }),
        )
        .await;
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], !after.is_null());
        let edges = conn["edges"].as_array().expect("edges");
        assert!(edges.len() as i64 <= first);
        let node_ids: Vec<&Value> = edges.iter().map(|e| &e["node"]["id"]).collect();
        let nodes: Vec<&Value> = conn["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| &n["id"])
            .collect();
        assert_eq!(node_ids, nodes, "nodes are the edges' nodes");
        if let Some(last) = edges.last() {
            assert_eq!(conn["pageInfo"]["endCursor"], last["cursor"]);
            assert_eq!(conn["pageInfo"]["startCursor"], edges[0]["cursor"]);
        }
        seen.extend(names(&conn));
        if conn["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
        between(page).await;
    }
    seen
}

db_test! {
    async fn newest_first_pages_are_stable_under_inserts(app) {
        for i in 0..7 {
            webhook(&app, &format!("e{i}")).await;
        }
        let mut inserted = 0;
        let seen = walk(&app, 3, json!(null), async |_| {
            inserted += 1;
            webhook(&app, &format!("new{inserted}")).await;
        })
        .await;
        // Newest first: rows inserted while paging land before the cursor and never shift it.
        assert_eq!(seen, ["e6", "e5", "e4", "e3", "e2", "e1", "e0"]);
        assert_eq!(list(&app, json!({})).await["totalCount"], 9);
    }
}

db_test! {
    async fn oldest_first_pages_pick_up_inserts_at_the_end(app) {
        for i in 0..5 {
            webhook(&app, &format!("e{i}")).await;
        }
        let mut inserted = 0;
        let seen = walk(&app, 2, json!({ "field": "CREATED_AT", "direction": "ASC" }), async |_| {
            inserted += 1;
            webhook(&app, &format!("n{inserted}")).await;
        })
        .await;
        // Each insert lands after the cursor, so the walk sees it, with no gap or repeat.
        assert_eq!(&seen[..5], ["e0", "e1", "e2", "e3", "e4"]);
        let mut sorted = seen.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "no endpoint twice: {seen:?}");
        assert!(seen.len() > 5 && seen[5..].iter().all(|n| n.starts_with('n')), "{seen:?}");
    }
}

db_test! {
    async fn name_order_breaks_ties_by_id_without_gaps(app) {
        for name in ["delta", "alpha", "charlie", "bravo", "alpha", "bravo", "alpha"] {
            webhook(&app, name).await;
        }
        let asc = walk(&app, 2, json!({ "field": "NAME", "direction": "ASC" }), async |_| {}).await;
        assert_eq!(asc, ["alpha", "alpha", "alpha", "bravo", "bravo", "charlie", "delta"]);
        let desc = walk(&app, 3, json!({ "field": "NAME", "direction": "DESC" }), async |_| {}).await;
        assert_eq!(desc, ["delta", "charlie", "bravo", "bravo", "alpha", "alpha", "alpha"]);
    }
}

db_test! {
    async fn updated_at_order_follows_updates(app) {
        let a = webhook(&app, "a").await;
        webhook(&app, "b").await;
        webhook(&app, "c").await;
        app.update_endpoint(&app.org.test_key, json!({ "id": a, "status": "INACTIVE" })).await.assert_ok();
        let seen = walk(&app, 2, json!({ "field": "UPDATED_AT", "direction": "DESC" }), async |_| {}).await;
        assert_eq!(seen, ["a", "c", "b"]);
        let seen = walk(&app, 1, json!({ "field": "UPDATED_AT", "direction": "ASC" }), async |_| {}).await;
        assert_eq!(seen, ["b", "c", "a"]);
    }
}

db_test! {
    async fn filters_by_type_status_and_search(app) {
        let key = app.org.test_key.clone();
        webhook(&app, "Billing Hook").await;
        let inactive = webhook(&app, "support-hook").await;
        app.update_endpoint(&key, json!({ "id": inactive, "status": "INACTIVE" })).await.assert_ok();
        app.create_ok(&key, json!({ "name": "Sales agent", "type": "VAPI",
            "providerConfig": { "vapi": { "assistantId": "sales_bot" } } })).await;
        app.create_ok(&key, json!({ "name": "100%_literal", "type": "RETELL",
            "providerConfig": { "retell": { "agentId": "r1" } } })).await;

        let by = async |filter: Value| {
            let conn = list(&app, json!({ "filter": filter, "orderBy": { "field": "NAME", "direction": "ASC" } })).await;
            let total = conn["totalCount"].as_u64().expect("totalCount");
            let got = names(&conn);
            assert_eq!(total as usize, got.len(), "totalCount matches the filter");
            got
        };
        assert_eq!(by(json!({ "types": ["WEBHOOK"] })).await, ["Billing Hook", "support-hook"]);
        assert_eq!(by(json!({ "types": ["VAPI", "RETELL"] })).await, ["100%_literal", "Sales agent"]);
        assert_eq!(by(json!({ "statuses": ["INACTIVE"] })).await, ["support-hook"]);
        assert_eq!(by(json!({ "types": ["WEBHOOK"], "statuses": ["ACTIVE"] })).await, ["Billing Hook"]);
        assert_eq!(by(json!({ "search": "HOOK" })).await, ["Billing Hook", "support-hook"]);
        // The URL is searched too: the Vapi endpoint's generated URI holds its assistant id.
        assert_eq!(by(json!({ "search": "sales_bot@" })).await, ["Sales agent"]);
        // LIKE wildcards are literal characters.
        assert_eq!(by(json!({ "search": "%_" })).await, ["100%_literal"]);
        assert_eq!(by(json!({ "search": "nothing-like-this" })).await, Vec::<String>::new());
        assert_eq!(by(json!({ "types": [] })).await, Vec::<String>::new());
        let res = app
            .graphql(&key, LIST, json!({ "filter": { "search": "x".repeat(201) } }))
            .await;
        assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{}", res.body);
    }
}

db_test! {
    async fn page_size_defaults_to_50_and_is_limited_to_1_through_100(app) {
        for i in 0..51 {
            webhook(&app, &format!("e{i:02}")).await;
        }
        let conn = list(&app, json!({})).await;
        assert_eq!(conn["edges"].as_array().map(Vec::len), Some(50));
        assert_eq!(conn["pageInfo"]["hasNextPage"], true);
        assert_eq!(conn["totalCount"], 51);
        let conn = list(&app, json!({ "first": 100 })).await;
        assert_eq!(conn["edges"].as_array().map(Vec::len), Some(51));
        assert_eq!(conn["pageInfo"]["hasNextPage"], false);
        for bad in [0, -1, 101] {
            let res = app.graphql(&app.org.test_key, LIST, json!({ "first": bad })).await;
            assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "first: {bad}: {}", res.body);
            assert!(res.body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("first")));
        }
    }
}

db_test! {
    async fn bad_cursors_are_refused(app) {
        webhook(&app, "a").await;
        webhook(&app, "b").await;
        for bad in ["garbage", "eyJ4IjoxfQ", ""] {
            let res = app.graphql(&app.org.test_key, LIST, json!({ "after": bad })).await;
            assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "after: {bad:?}: {}", res.body);
        }
        let by_name = list(&app, json!({ "first": 1, "orderBy": { "field": "NAME" } })).await;
        let cursor = by_name["pageInfo"]["endCursor"].clone();
        let res = app.graphql(&app.org.test_key, LIST, json!({ "after": cursor })).await;
        assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "a cursor of another ordering: {}", res.body);
    }
}

db_test! {
    async fn empty_list_has_empty_page(app) {
        let conn = list(&app, json!({})).await;
        assert_eq!(
            conn,
            json!({ "totalCount": 0, "edges": [], "nodes": [],
                "pageInfo": { "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null } })
        );
    }
}
