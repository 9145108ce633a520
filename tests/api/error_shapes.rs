//! The response of every error code, on each transport that can answer it, as a whole-shape
//! snapshot: status, the headers that go with the error, and the body (ids, times and the
//! varying cost figures redacted).

use insta::assert_json_snapshot;
use serde_json::{Value, json};

use crate::helpers::*;

/// Status, error headers and body of a response, as the snapshots hold it.
async fn shape(res: reqwest::Response) -> Value {
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let headers = json!({
        "content-type": header("content-type"),
        "www-authenticate": header("www-authenticate"),
        "retry-after": header("retry-after").map(|_| "[seconds]"),
        "allow": header("allow"),
    });
    let text = res.text().await.expect("body");
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    json!({ "status": status, "headers": headers, "body": body })
}

fn snapshot(name: &str, value: &Value) {
    assert_json_snapshot!(name, value, {
        ".body.extensions.cost" => "[cost]",
        ".body.errors[].message" => insta::dynamic_redaction(|value, _| {
            // Messages that quote a cost or a wait vary with the bucket; keep their words.
            match value.as_str() {
                Some(m) if m.starts_with("Throttled") => "[throttled message]".into(),
                _ => value,
            }
        }),
        ".body.error" => insta::dynamic_redaction(|value, _| match value.as_str() {
            Some(m) if m.starts_with("Throttled") => "[throttled message]".into(),
            _ => value,
        }),
    });
}

async fn graphql(app: &TestApp, headers: &[(&str, &str)], body: String) -> Value {
    let mut req = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    shape(req.send().await.expect("request")).await
}

async fn rest(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Value {
    let mut req = app.client.request(method, format!("{}{path}", app.address));
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body);
    }
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    shape(req.send().await.expect("request")).await
}

#[tokio::test]
async fn every_error_code_has_one_shape_per_transport() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.fault_injection = true)
        .spawn()
        .await
        .expect("SQLite");
    let key = format!("Bearer {}", app.org.test_key);
    let auth: &[(&str, &str)] = &[("authorization", &key)];
    let other_org = app.new_org("Other").await.id.to_string();
    let q = |query: &str| json!({ "query": query }).to_string();

    let graphql_cases = [
        ("unauthenticated", graphql(&app, &[], q("{ viewer { mode } }")).await),
        (
            "forbidden",
            graphql(&app, &[("authorization", &key), ("x-organization-id", &other_org)], q("{ viewer { mode } }")).await,
        ),
        ("bad_request", graphql(&app, auth, "[1]".to_owned()).await),
        ("graphql_parse_failed", graphql(&app, auth, q("{")).await),
        ("graphql_validation_failed", graphql(&app, auth, q("{ nope }")).await),
        ("bad_user_input", graphql(&app, auth, q("{ endpoints(first: 0) { totalCount } }")).await),
        (
            "not_found",
            graphql(&app, auth, q("{ endpoint(id: \"00000000-0000-0000-0000-000000000000\") { id } }")).await,
        ),
        (
            "depth_limit_exceeded",
            graphql(&app, auth, q(&format!("{{ {}mode{} }}", "viewer { ".repeat(16), " }".repeat(16)))).await,
        ),
        (
            "nesting_limit_exceeded",
            graphql(&app, auth, q(&format!("{{ a(x: {}1{}) }}", "[".repeat(40), "]".repeat(40)))).await,
        ),
        ("token_limit_exceeded", graphql(&app, auth, q(&format!("{{ {} }}", "__typename ".repeat(10_001)))).await),
        (
            "field_limit_exceeded",
            graphql(&app, auth, q(&{
                let mut d = String::from("query { ...F0 }");
                for i in 0..20 {
                    d.push_str(&format!(" fragment F{i} on Query {{ ...F{n} ...F{n} }}", n = i + 1));
                }
                d + " fragment F20 on Query { __typename }"
            })).await,
        ),
        (
            "alias_limit_exceeded",
            graphql(&app, auth, q(&format!("{{ {} }}", (0..31).map(|i| format!("a{i}: __typename ")).collect::<String>()))).await,
        ),
        (
            "directive_limit_exceeded",
            graphql(&app, auth, q(&format!("{{ __typename {} }}", "@skip(if: false) ".repeat(51)))).await,
        ),
        (
            "cost_limit_exceeded",
            graphql(&app, auth, q(&format!(
                "{{ {} }}",
                (0..5)
                    .map(|i| format!("e{i}: endpoints(first: 100) {{ nodes {{ phoneNumbers {{ id }} }} }} "))
                    .collect::<String>()
            )))
            .await,
        ),
        (
            "persisted_query_not_found",
            graphql(&app, auth, json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "0".repeat(64) } } }).to_string()).await,
        ),
        ("internal_server_error", {
            let res = app
                .client
                .post(format!("{}/__fault/panic", app.address))
                .header("authorization", &key)
                .send()
                .await
                .expect("request");
            shape(res).await
        }),
    ];
    for (name, value) in &graphql_cases {
        snapshot(&format!("graphql_{name}"), value);
    }

    let id = "00000000-0000-0000-0000-000000000000";
    let item = format!("/v1/endpoints/{id}");
    let rest_cases = [
        (
            "unauthenticated",
            rest(&app, reqwest::Method::GET, "/v1/endpoints", &[], None).await,
        ),
        (
            "forbidden",
            rest(
                &app,
                reqwest::Method::GET,
                "/v1/endpoints",
                &[("authorization", &key), ("x-organization-id", &other_org)],
                None,
            )
            .await,
        ),
        (
            "not_found",
            rest(&app, reqwest::Method::GET, &item, auth, None).await,
        ),
        (
            "bad_request",
            rest(
                &app,
                reqwest::Method::POST,
                "/v1/endpoints",
                auth,
                Some("{".to_owned()),
            )
            .await,
        ),
        ("unsupported_media_type", {
            let res = app
                .client
                .post(format!("{}/v1/endpoints", app.address))
                .header("authorization", &key)
                .header("content-type", "text/plain")
                .body("{}")
                .send()
                .await
                .expect("request");
            shape(res).await
        }),
        (
            "validation_failed",
            rest(
                &app,
                reqwest::Method::POST,
                "/v1/endpoints",
                auth,
                Some(json!({ "name": "", "type": "vapi" }).to_string()),
            )
            .await,
        ),
        (
            "nesting_limit_exceeded",
            rest(
                &app,
                reqwest::Method::POST,
                "/v1/endpoints",
                auth,
                Some(format!("{}{}", "[".repeat(40), "]".repeat(40))),
            )
            .await,
        ),
    ];
    for (name, value) in &rest_cases {
        snapshot(&format!("rest_{name}"), value);
    }

    // Limits that need a small configuration.
    let small = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.limits.max_body_bytes = 256;
            // Room for the failed-authentication throttle's 20, and a few costly queries.
            c.rate_limit.bucket_size = 25;
            c.rate_limit.restore_rate = 1;
        })
        .spawn()
        .await
        .expect("SQLite");
    let key = format!("Bearer {}", small.org.test_key);
    let auth: &[(&str, &str)] = &[("authorization", &key)];
    let big = json!({ "query": format!("{{ __typename }} # {}", "x".repeat(300)) }).to_string();
    snapshot(
        "graphql_body_limit_exceeded",
        &graphql(&small, auth, big.clone()).await,
    );
    snapshot(
        "rest_body_limit_exceeded",
        &rest(
            &small,
            reqwest::Method::POST,
            "/v1/endpoints",
            auth,
            Some(big),
        )
        .await,
    );
    let mut last = Value::Null;
    let costly = format!(
        "{{ {} }}",
        (0..10)
            .map(|i| format!("v{i}: viewer {{ mode }} "))
            .collect::<String>()
    );
    for _ in 0..4 {
        last = graphql(&small, auth, q(&costly)).await;
    }
    snapshot("graphql_rate_limited", &last);
    for _ in 0..5 {
        last = rest(&small, reqwest::Method::GET, "/v1/endpoints", auth, None).await;
    }
    snapshot("rest_rate_limited", &last);
}
