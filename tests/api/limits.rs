//! Query limits: depth, cost, aliases, directives, body size, request time, page size,
//! introspection and suggestions. Each refusal is a 4xx whose error names the limit, and a
//! refused operation does not run. Both sides of each boundary are checked (hence the length).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::*;

/// `1 + 100 × (edges 1 + node 1)`.
const COST_201: &str = "{ endpoints(first: 100) { edges { node { id } } } }";

fn create_input(name: &str) -> Value {
    json!({ "name": name, "type": "WEBHOOK", "url": "https://example.com/hook" })
}

/// The operation was refused before it ran: `status`, a JSON error with `code` whose message
/// contains `names` (the limit), and no `data`.
#[track_caller]
fn assert_limited(res: &Response, status: StatusCode, code: &str, names: &str) {
    assert_eq!(res.status, status, "{}", res.body);
    assert!(
        res.body.get("data").is_none(),
        "a refused operation has no data: {}",
        res.body
    );
    assert_eq!(res.error_code(), Some(code), "{}", res.body);
    let message = res.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.to_lowercase().contains(names),
        "the error names the {names}: {message}"
    );
}

/// `assert_limited` with 400, the usual status of a limit on the operation.
#[track_caller]
fn assert_refused(res: &Response, code: &str, names: &str) {
    assert_limited(res, StatusCode::BAD_REQUEST, code, names);
}

/// A refused mutation writes nothing.
async fn assert_mutation_refused(
    app: &TestApp,
    query: &str,
    variables: Value,
    code: &str,
    names: &str,
) {
    let rows = app.endpoint_rows().await;
    let res = app.graphql(&app.org.test_key, query, variables).await;
    assert_refused(&res, code, names);
    assert_eq!(
        app.endpoint_rows().await,
        rows,
        "a refused mutation writes nothing"
    );
}

db_test! {
    async fn depth_limit_refuses_deeper_operations(app) {
        let app = TestApp::builder(app.backend).with_config(|c| c.limits.max_depth = 3).spawn().await.expect("app");
        let key = app.org.test_key.clone();

        // Depth 3 is allowed.
        let res = app.graphql(&key, "{ endpoints { edges { cursor } } }", json!({})).await;
        assert_eq!(res.assert_ok()["endpoints"]["edges"], json!([]));

        // Depth 4 is refused, however it is spelled.
        for query in [
            "{ endpoints { edges { node { id } } } }",
            "{ ...Page } fragment Page on Query { endpoints { edges { node { id } } } }",
            "{ endpoints { edges { ... on EndpointEdge { node { id } } } } }",
            "query A { viewer { mode } } query B { endpoints { edges { node { id } } } }",
        ] {
            let body = if query.starts_with("query A") {
                json!({ "query": query, "operationName": "B" })
            } else {
                json!({ "query": query })
            };
            let auth = format!("Bearer {key}");
            let res = app.post(&[("authorization", auth.as_str())], body).await;
            assert_refused(&res, "DEPTH_LIMIT_EXCEEDED", "depth limit");
        }

        // A mutation too: `createEndpoint { endpoint { providerConfig { ... { assistantId } } } }`.
        assert_mutation_refused(
            &app,
            &CREATE,
            json!({ "input": create_input("Deep") }),
            "DEPTH_LIMIT_EXCEEDED",
            "depth limit",
        )
        .await;
        let shallow = "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }";
        let res = app.graphql(&key, shallow, json!({ "input": create_input("Shallow") })).await;
        assert!(res.assert_ok()["createEndpoint"]["endpoint"]["id"].is_string(), "{}", res.body);
        assert_eq!(app.endpoint_rows().await, 1);
    }
}

db_test! {
    async fn cost_limit_refuses_costlier_operations(app) {
        let at_200 = TestApp::builder(app.backend).with_config(|c| {
            c.limits.max_cost = 200;
            // Room for the aliased mutation below: only its cost is over a limit.
            c.limits.max_aliases = 200;
        }).spawn().await.expect("app");
        let key = at_200.org.test_key.clone();
        let res = at_200.graphql(&key, COST_201, json!({})).await;
        assert_refused(&res, "COST_LIMIT_EXCEEDED", "cost limit");
        let message = res.body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("201") && message.contains("200"), "{message}");

        // The page size may come from a variable.
        let by_variable = "query($n: Int) { endpoints(first: $n) { edges { node { id } } } }";
        let res = at_200.graphql(&key, by_variable, json!({ "n": 100 })).await;
        assert_refused(&res, "COST_LIMIT_EXCEEDED", "cost limit");
        let res = at_200.graphql(&key, by_variable, json!({ "n": 99 })).await;
        assert_eq!(res.assert_ok()["endpoints"]["edges"], json!([]));

        // No `first` means the default page size (50): 1 + 50 × 2 = 101.
        let res = at_200.graphql(&key, "{ endpoints { edges { node { id } } } }", json!({})).await;
        res.assert_ok();

        // Mutations are costed too: 100 aliased fields cost at least 100 × 2.
        let many: String = (0..101)
            .map(|i| format!("c{i}: createEndpoint(input: $input) {{ endpoint {{ id }} }} "))
            .collect();
        let mutation = format!("mutation($input: CreateEndpointInput!) {{ {many} }}");
        assert_mutation_refused(&at_200, &mutation, json!({ "input": create_input("Costly") }), "COST_LIMIT_EXCEEDED", "cost limit").await;

        let at_201 = TestApp::builder(app.backend).with_config(|c| c.limits.max_cost = 201).spawn().await.expect("app");
        let res = at_201.graphql(&at_201.org.test_key, COST_201, json!({})).await;
        assert_eq!(res.assert_ok()["endpoints"]["edges"], json!([]));
    }
}

db_test! {
    async fn alias_limit_refuses_more_aliases(app) {
        let app = TestApp::builder(app.backend).with_config(|c| c.limits.max_aliases = 2).spawn().await.expect("app");
        let key = app.org.test_key.clone();

        let res = app.graphql(&key, "{ a: viewer { mode } b: viewer { mode } }", json!({})).await;
        assert_eq!(res.assert_ok(), &json!({ "a": { "mode": "TEST" }, "b": { "mode": "TEST" } }));

        for query in [
            "{ a: viewer { mode } b: viewer { mode } c: viewer { mode } }",
            "{ a: viewer { m: mode o: organizationId } }",
            "{ ...F } fragment F on Query { a: viewer { mode } b: viewer { mode } c: __typename }",
        ] {
            let res = app.graphql(&key, query, json!({})).await;
            assert_refused(&res, "ALIAS_LIMIT_EXCEEDED", "alias limit");
        }

        let three = "mutation($input: CreateEndpointInput!) { \
                     a: createEndpoint(input: $input) { endpoint { id } } \
                     b: createEndpoint(input: $input) { endpoint { id } } \
                     c: createEndpoint(input: $input) { endpoint { id } } }";
        assert_mutation_refused(&app, three, json!({ "input": create_input("Aliased") }), "ALIAS_LIMIT_EXCEEDED", "alias limit").await;
        assert_eq!(app.endpoint_rows().await, 0);
    }
}

db_test! {
    async fn directive_limit_refuses_more_directives(app) {
        let app = TestApp::builder(app.backend).with_config(|c| c.limits.max_directives = 2).spawn().await.expect("app");
        let key = app.org.test_key.clone();

        let res = app
            .graphql(&key, "{ viewer { mode @include(if: true) organizationId @skip(if: true) } }", json!({}))
            .await;
        assert_eq!(res.assert_ok(), &json!({ "viewer": { "mode": "TEST" } }));

        for query in [
            "{ viewer { mode @include(if: true) organizationId @skip(if: true) credentialKind @include(if: true) } }",
            "{ viewer { mode @include(if: true) @skip(if: false) organizationId @include(if: true) } }",
            "{ viewer @include(if: true) { ... @include(if: true) { mode } ...F @skip(if: false) } } fragment F on Viewer { mode }",
        ] {
            let res = app.graphql(&key, query, json!({})).await;
            assert_refused(&res, "DIRECTIVE_LIMIT_EXCEEDED", "directive limit");
        }

        let three = "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) @include(if: true) { \
                     endpoint @include(if: true) { id @include(if: true) } } }";
        assert_mutation_refused(&app, three, json!({ "input": create_input("Directed") }), "DIRECTIVE_LIMIT_EXCEEDED", "directive limit").await;
        assert_eq!(app.endpoint_rows().await, 0);
    }
}

#[tokio::test]
async fn body_size_limit_is_413() {
    let limit = 512;
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.limits.max_body_bytes = limit)
        .spawn()
        .await
        .expect("app");
    let url = format!("{}/graphql", app.address);
    // A body of exactly `size` bytes: `{ __typename }` padded with spaces.
    let body_of = |size: usize| {
        let shell = json!({ "query": "{ __typename }" }).to_string();
        let padded = format!("{{ __typename{}}}", " ".repeat(size - shell.len() + 1));
        let body = json!({ "query": padded }).to_string();
        assert_eq!(body.len(), size);
        body
    };

    let res = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body_of(limit))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.expect("JSON");
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"], json!({ "__typename": "Query" }));

    let res = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(body_of(limit + 1))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = res.text().await.expect("body");
    // Like every other refusal: a JSON error whose message names the limit.
    assert!(
        content_type.starts_with("application/json"),
        "Content-Type {content_type:?}: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert!(body.get("data").is_none(), "{body}");
    let message = body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        message.contains("limit") && message.contains("512"),
        "{message}"
    );
}

db_test! {
    async fn request_timeout_is_504(app) {
        let app = TestApp::builder(app.backend).with_config(|c| c.limits.request_timeout = Duration::from_millis(300)).spawn()
            .await
            .expect("app");
        let key = app.org.test_key.clone();
        // Authenticating records the key's use; after this request it writes nothing for a minute.
        app.graphql(&key, "{ viewer { mode } }", json!({})).await.assert_ok();

        // Another connection blocks writes to `endpoints` (SQLite: the database's write lock;
        // PostgreSQL: an exclusive table lock), so creating an endpoint has to wait.
        let blocker = app.pool.begin().await.expect("begin");
        let lock = match app.backend {
            Backend::Sqlite => "UPDATE organizations SET name = name",
            Backend::Postgres => "LOCK TABLE endpoints IN ACCESS EXCLUSIVE MODE",
        };
        blocker.execute_unprepared(lock).await.expect("lock");

        let started = Instant::now();
        let shallow = "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } }";
        let res = app.graphql(&key, shallow, json!({ "input": create_input("Slow") })).await;
        let waited = started.elapsed();
        blocker.rollback().await.expect("rollback");

        assert_limited(&res, StatusCode::GATEWAY_TIMEOUT, "TIMEOUT", "timeout");
        assert!(waited < Duration::from_secs(3), "the timeout, not the database, ended it: {waited:?}");
        assert!(waited >= Duration::from_millis(300), "{waited:?}");

        // Fast requests still run.
        app.graphql(&key, "{ viewer { mode } }", json!({})).await.assert_ok();
    }
}

db_test! {
    async fn page_size_limit_refuses_larger_pages(app) {
        let app = TestApp::builder(app.backend).with_config(|c| c.limits.max_page_size = 10).spawn().await.expect("app");
        let key = app.org.test_key.clone();
        for i in 0..11 {
            app.create_ok(&key, create_input(&format!("E{i}"))).await;
        }

        let res = app.graphql(&key, "{ endpoints(first: 10) { edges { node { id } } pageInfo { hasNextPage } } }", json!({})).await;
        let data = res.assert_ok();
        assert_eq!(data["endpoints"]["edges"].as_array().map(Vec::len), Some(10));
        assert_eq!(data["endpoints"]["pageInfo"]["hasNextPage"], true);

        let query = "query($n: Int) { endpoints(first: $n) { edges { node { id } } } }";
        let res = app.graphql(&key, query, json!({ "n": 11 })).await;
        assert_eq!(res.status, StatusCode::OK, "a field error: {}", res.body);
        assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{}", res.body);
        assert_eq!(res.body["errors"][0]["path"], json!(["endpoints"]), "{}", res.body);
        let message = res.body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("page size limit") && message.contains("10"), "{message}");
        assert!(res.data()["endpoints"].is_null(), "{}", res.body);
    }
}

#[tokio::test]
async fn introspection_can_be_turned_off() {
    let off = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.limits.introspection = false)
        .spawn()
        .await
        .expect("app");
    for query in [
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"Endpoint\") { name } }",
        "query IntrospectionQuery { __schema { types { name } } }",
    ] {
        for key in [None, Some(off.org.test_key.as_str())] {
            let auth = key.map(|k| format!("Bearer {k}"));
            let headers: Vec<(&str, &str)> =
                auth.iter().map(|a| ("authorization", a.as_str())).collect();
            let res = off.post(&headers, json!({ "query": query })).await;
            // A request error: 200 under application/json, which reqwest's `*/*` gets.
            assert_eq!(res.status, StatusCode::OK, "{query}: {}", res.body);
            assert!(res.body.get("data").is_none(), "{}", res.body);
            assert_eq!(
                res.error_code(),
                Some("GRAPHQL_VALIDATION_FAILED"),
                "{}",
                res.body
            );
        }
    }
    let res = off.post(&[], json!({ "query": "{ __typename }" })).await;
    assert_eq!(res.assert_ok(), &json!({ "__typename": "Query" }));

    let on = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("app");
    let res = on
        .post(
            &[],
            json!({ "query": "{ __schema { queryType { name } } }" }),
        )
        .await;
    assert_eq!(
        res.assert_ok(),
        &json!({ "__schema": { "queryType": { "name": "Query" } } })
    );
}

db_test! {
    async fn suggestions_can_be_turned_off(app) {
        let misspelled = "{ viewr { mode } }";
        let res = app.graphql(&app.org.test_key, misspelled, json!({})).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(res.error_code(), Some("GRAPHQL_VALIDATION_FAILED"), "{}", res.body);
        let message = res.body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("Did you mean"), "suggestions are on by default: {message}");
        assert!(message.contains("viewer"), "{message}");

        let off = TestApp::builder(app.backend).with_config(|c| c.limits.suggestions = false).spawn().await.expect("app");
        for query in [misspelled, "{ viewer { mdoe } }", "{ endpoints(frist: 1) { totalCount } }"] {
            let res = off.graphql(&off.org.test_key, query, json!({})).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
            assert_eq!(res.error_code(), Some("GRAPHQL_VALIDATION_FAILED"), "{}", res.body);
            for error in res.body["errors"].as_array().expect("errors") {
                let message = error["message"].as_str().unwrap_or_default();
                assert!(!message.contains("Did you mean"), "{message}");
            }
        }
    }
}

#[tokio::test]
async fn a_page_size_limit_below_the_default_shortens_default_pages() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.limits.max_page_size = 3)
        .spawn()
        .await
        .expect("app");
    let key = app.org.test_key.clone();
    for i in 0..5 {
        app.create_ok(
            &key,
            serde_json::json!({ "name": format!("e{i}"), "type": "WEBHOOK", "url": "https://a.example" }),
        )
        .await;
    }
    let res = app
        .graphql(
            &key,
            "{ endpoints { nodes { id } pageInfo { hasNextPage } } }",
            serde_json::json!({}),
        )
        .await;
    let conn = &res.assert_ok()["endpoints"];
    assert_eq!(conn["nodes"].as_array().map(Vec::len), Some(3));
    assert_eq!(conn["pageInfo"]["hasNextPage"], true);
    let explicit = app
        .graphql(
            &key,
            "{ endpoints(first: 4) { nodes { id } } }",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(
        explicit.error_code(),
        Some("BAD_USER_INPUT"),
        "an explicit larger page is still refused"
    );
}
