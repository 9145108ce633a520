//! Operating the gateway: liveness and readiness probes, Prometheus metrics, request ids and
//! CORS. Long: one test per probe, metric and header.

use migration::{Migrator, MigratorTrait};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const VIEWER: &str = "{ viewer { mode } }";
const ORIGIN: &str = "https://app.example";

/// A GET of `path` with `headers`.
async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.client.get(format!("{}{path}", app.address));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("request")
}

/// The status and JSON body of a GET of `path`.
async fn get_json(app: &TestApp, path: &str) -> (StatusCode, HeaderMap, Value) {
    let res = get(app, path, &[]).await;
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, headers, body)
}

/// One scrape of `/metrics`, which must succeed.
pub(crate) async fn scrape(app: &TestApp) -> String {
    let res = get(app, "/metrics", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.expect("metrics text")
}

/// The value of the sample whose name and labels are exactly `series` (labels in rendered
/// order); `None` when the scrape has no such line.
pub(crate) fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(
            value
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("a numeric sample: {line}")),
        )
    })
}

/// Like `sample`, but the series must be there.
#[track_caller]
fn sample_present(text: &str, series: &str) -> f64 {
    sample(text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

fn graphql_requests(status: u16) -> String {
    format!(r#"cockpit_http_requests_total{{method="POST",route="/graphql",status="{status}"}}"#)
}

fn graphql_errors(code: &str) -> String {
    format!(r#"cockpit_graphql_errors_total{{code="{code}"}}"#)
}

/// The response's `x-request-id`, which must be there.
#[track_caller]
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .expect("an x-request-id header")
        .to_str()
        .expect("a readable x-request-id")
        .to_owned()
}

/// The response's `x-request-id`, which must be a UUID the gateway made.
#[track_caller]
fn generated_request_id(headers: &HeaderMap) -> Uuid {
    let id = request_id(headers);
    Uuid::parse_str(&id).unwrap_or_else(|_| panic!("a generated request id is a UUID: {id:?}"))
}

/// The comma-separated, lowercased items of a header (empty when absent).
fn header_items(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().expect("readable header").split(','))
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

/// A CORS preflight for `POST /graphql` from `origin`.
async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, format!("{}/graphql", app.address))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, x-api-key, x-organization-id",
        )
        .send()
        .await
        .expect("preflight")
}

/// A simple authenticated `POST /graphql` from `origin`.
async fn post_from(app: &TestApp, origin: &str) -> Response {
    let auth = format!("Bearer {}", app.org.test_key);
    let res = app
        .post(
            &[("authorization", auth.as_str()), ("origin", origin)],
            json!({ "query": VIEWER }),
        )
        .await;
    res.assert_ok();
    res
}

#[track_caller]
fn assert_no_cors_headers(headers: &HeaderMap) {
    for name in [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-allow-credentials",
        "access-control-expose-headers",
    ] {
        assert!(
            headers.get(name).is_none(),
            "unexpected {name}: {:?}",
            headers.get(name)
        );
    }
}

async fn spawn_with_cors(origins: &[&str]) -> TestApp {
    let origins: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
    TestApp::builder(Backend::Sqlite)
        .with_config(move |config| config.cors_origins = origins)
        .spawn()
        .await
        .expect("SQLite")
}

// ---- Liveness and readiness ----

#[tokio::test]
async fn healthz_answers_ok_without_credentials() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let (status, headers, body) = get_json(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "status": "ok" }));
    generated_request_id(&headers);
}

db_test! {
    async fn readyz_is_ready_when_the_database_is_up_and_migrated(app) {
        let (status, _, body) = get_json(&app, "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body,
            json!({ "status": "ready", "database": "up", "migrations": "current", "rateLimiter": "memory", "jwks": "up" })
        );
    }
}

db_test! {
    async fn readyz_is_unavailable_when_the_database_is_unreachable(app) {
        app.pool.clone().close().await.expect("close the pool");

        let (status, _, body) = get_json(&app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["status"], "unavailable", "{body}");
        assert_eq!(body["database"], "down", "{body}");

        // Liveness does not depend on the database.
        let (status, _, body) = get_json(&app, "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({ "status": "ok" }));
    }
}

db_test! {
    async fn readyz_is_unavailable_while_a_migration_is_pending(app) {
        Migrator::down(&app.pool, Some(1)).await.expect("roll back one migration");

        let (status, _, body) = get_json(&app, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(
            body,
            json!({ "status": "unavailable", "database": "up", "migrations": "pending", "rateLimiter": "memory", "jwks": "up" })
        );

        // Ready again once the migration is applied.
        Migrator::up(&app.pool, None).await.expect("migrate again");
        let (status, _, body) = get_json(&app, "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body,
            json!({ "status": "ready", "database": "up", "migrations": "current", "rateLimiter": "memory", "jwks": "up" })
        );
    }
}

// ---- Metrics ----

db_test! {
    async fn metrics_are_prometheus_text_with_pool_gauges(app) {
        // A family appears once it has a series: one answered request and one error.
        app.graphql(&app.org.test_key, VIEWER, json!({})).await.assert_ok();
        let res = app.post(&[], json!({ "query": VIEWER })).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);

        let res = get(&app, "/metrics", &[]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let content_type = res
            .headers()
            .get("content-type")
            .expect("a content type")
            .to_str()
            .expect("readable")
            .to_owned();
        assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
        let text = res.text().await.expect("text");

        for family in [
            "cockpit_http_requests counter",
            "cockpit_graphql_errors counter",
            "cockpit_http_request_duration_seconds histogram",
            "cockpit_db_pool_connections gauge",
        ] {
            assert!(
                text.lines().any(|l| l == format!("# TYPE {family}")),
                "no `# TYPE {family}` in\n{text}"
            );
        }
        let idle = sample_present(&text, r#"cockpit_db_pool_connections{state="idle"}"#);
        let in_use = sample_present(&text, r#"cockpit_db_pool_connections{state="in_use"}"#);
        assert!(idle >= 0.0 && in_use >= 0.0, "idle {idle}, in use {in_use}");
        assert!(
            idle + in_use >= 1.0,
            "the pool has opened a connection by now: idle {idle}, in use {in_use}"
        );
    }
}

db_test! {
    async fn metrics_count_requests_by_method_route_and_status(app) {
        let before = scrape(&app).await;
        let ok_before = sample(&before, &graphql_requests(200)).unwrap_or(0.0);
        let unauthorized_before = sample(&before, &graphql_requests(401)).unwrap_or(0.0);

        for _ in 0..3 {
            app.graphql(&app.org.test_key, VIEWER, json!({})).await.assert_ok();
        }
        let res = app.post(&[], json!({ "query": VIEWER })).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);

        let after = scrape(&app).await;
        assert_eq!(
            sample_present(&after, &graphql_requests(200)) - ok_before,
            3.0,
            "{after}"
        );
        assert_eq!(
            sample_present(&after, &graphql_requests(401)) - unauthorized_before,
            1.0,
            "{after}"
        );
        // The first scrape was counted once it was answered.
        assert_eq!(
            sample(
                &after,
                r#"cockpit_http_requests_total{method="GET",route="/metrics",status="200"}"#
            ),
            Some(1.0),
            "{after}"
        );
    }
}

db_test! {
    async fn metrics_count_graphql_errors_by_code(app) {
        let before = scrape(&app).await;
        let not_found_before = sample(&before, &graphql_errors("NOT_FOUND")).unwrap_or(0.0);
        let unauthenticated_before =
            sample(&before, &graphql_errors("UNAUTHENTICATED")).unwrap_or(0.0);

        let missing = Uuid::new_v4().to_string();
        let res = app
            .graphql(
                &app.org.test_key,
                "query($id: UUID!) { endpoint(id: $id) { id } }",
                json!({ "id": missing }),
            )
            .await;
        assert_eq!(res.error_code(), Some("NOT_FOUND"), "{}", res.body);

        let res = app.post(&[], json!({ "query": VIEWER })).await;
        assert_eq!(res.error_code(), Some("UNAUTHENTICATED"), "{}", res.body);

        let after = scrape(&app).await;
        assert_eq!(
            sample_present(&after, &graphql_errors("NOT_FOUND")) - not_found_before,
            1.0,
            "{after}"
        );
        assert_eq!(
            sample_present(&after, &graphql_errors("UNAUTHENTICATED")) - unauthenticated_before,
            1.0,
            "{after}"
        );
        // A successful request adds no error.
        app.graphql(&app.org.test_key, VIEWER, json!({})).await.assert_ok();
        let last = scrape(&app).await;
        let errors = |text: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with("cockpit_graphql_errors_total{"))
                .map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).expect("value"))
                .sum()
        };
        assert_eq!(errors(&last), errors(&after), "{last}");
    }
}

db_test! {
    async fn metrics_time_requests_in_a_latency_histogram(app) {
        for _ in 0..2 {
            app.graphql(&app.org.test_key, VIEWER, json!({})).await.assert_ok();
        }
        let text = scrape(&app).await;
        let count = sample_present(
            &text,
            r#"cockpit_http_request_duration_seconds_count{route="/graphql"}"#,
        );
        assert_eq!(count, 2.0, "{text}");
        let sum = sample_present(
            &text,
            r#"cockpit_http_request_duration_seconds_sum{route="/graphql"}"#,
        );
        assert!(sum > 0.0, "{text}");
        let buckets: Vec<f64> = text
            .lines()
            .filter(|l| {
                l.starts_with("cockpit_http_request_duration_seconds_bucket{")
                    && l.contains(r#"route="/graphql""#)
            })
            .map(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("value"))
            .collect();
        assert!(buckets.len() >= 2, "{text}");
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "buckets are cumulative: {buckets:?}"
        );
        assert_eq!(
            sample_present(
                &text,
                r#"cockpit_http_request_duration_seconds_bucket{le="+Inf",route="/graphql"}"#
            ),
            2.0,
            "{text}"
        );
    }
}

db_test! {
    async fn metrics_label_unknown_paths_as_other(app) {
        let res = get(&app, "/nope", &[]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let res = get(&app, "/x/9f0c1e2d-unique-path?token=secret", &[]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);

        let text = scrape(&app).await;
        assert_eq!(
            sample(
                &text,
                r#"cockpit_http_requests_total{method="GET",route="other",status="404"}"#
            ),
            Some(2.0),
            "{text}"
        );
        for leaked in ["/nope", "9f0c1e2d", "secret"] {
            assert!(!text.contains(leaked), "{leaked:?} is in the metrics:\n{text}");
        }
    }
}

// ---- Request ids ----

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");

    let ok = app.graphql(&app.org.test_key, VIEWER, json!({})).await;
    ok.assert_ok();
    generated_request_id(&ok.headers);

    let unauthenticated = app.post(&[], json!({ "query": VIEWER })).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    generated_request_id(&unauthenticated.headers);

    for (path, status) in [
        ("/healthz", StatusCode::OK),
        ("/readyz", StatusCode::OK),
        ("/metrics", StatusCode::OK),
        ("/nope", StatusCode::NOT_FOUND),
    ] {
        let res = get(&app, path, &[]).await;
        assert_eq!(res.status(), status, "{path}");
        generated_request_id(res.headers());
    }
}

#[tokio::test]
async fn a_short_plain_request_id_is_echoed() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let longest = "a".repeat(64);
    for given in [
        "a",
        "req-123",
        "Trace_ID.v2-abc",
        "0af7651916cd43dd8448eb211c80319c",
        longest.as_str(),
    ] {
        let res = get(&app, "/healthz", &[("x-request-id", given)]).await;
        assert_eq!(request_id(res.headers()), given);

        let auth = format!("Bearer {}", app.org.test_key);
        let res = app
            .post(
                &[("authorization", auth.as_str()), ("x-request-id", given)],
                json!({ "query": VIEWER }),
            )
            .await;
        res.assert_ok();
        assert_eq!(request_id(&res.headers), given);

        let res = get(&app, "/nope", &[("x-request-id", given)]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(request_id(res.headers()), given);
    }
}

#[tokio::test]
async fn a_long_or_unsafe_request_id_is_replaced() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let too_long = "a".repeat(65);
    for given in [
        too_long.as_str(),
        "has space",
        "<script>",
        "a/b",
        "id\"quoted",
        "semi;colon",
        "",
    ] {
        let res = get(&app, "/healthz", &[("x-request-id", given)]).await;
        let id = generated_request_id(res.headers());
        assert_ne!(id.to_string(), given);

        let res = app
            .post(&[("x-request-id", given)], json!({ "query": VIEWER }))
            .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        generated_request_id(&res.headers);
    }
}

#[tokio::test]
async fn requests_without_a_request_id_get_distinct_ones() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let first = generated_request_id(get(&app, "/healthz", &[]).await.headers());
    let second = generated_request_id(get(&app, "/healthz", &[]).await.headers());
    assert_ne!(first, second);

    let a = app.graphql(&app.org.test_key, VIEWER, json!({})).await;
    let b = app.graphql(&app.org.test_key, VIEWER, json!({})).await;
    assert_ne!(
        generated_request_id(&a.headers),
        generated_request_id(&b.headers)
    );
}

// ---- CORS ----

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");

    let res = post_from(&app, ORIGIN).await;
    assert_no_cors_headers(&res.headers);

    let res = preflight(&app, ORIGIN).await;
    assert_no_cors_headers(res.headers());
}

#[tokio::test]
async fn cors_allows_a_configured_origin() {
    let app = spawn_with_cors(&[ORIGIN]).await;

    let res = preflight(&app, ORIGIN).await;
    assert!(res.status().is_success(), "{}", res.status());
    let headers = res.headers();
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(ORIGIN)
    );
    let methods = header_items(headers, "access-control-allow-methods");
    assert!(methods.contains(&"post".to_owned()), "{methods:?}");
    let allowed = header_items(headers, "access-control-allow-headers");
    for name in [
        "authorization",
        "content-type",
        "x-api-key",
        "x-organization-id",
    ] {
        assert!(
            allowed.contains(&name.to_owned()),
            "{name} not in {allowed:?}"
        );
    }

    let res = post_from(&app, ORIGIN).await;
    assert_eq!(
        res.headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some(ORIGIN)
    );
    let exposed = header_items(&res.headers, "access-control-expose-headers");
    assert!(exposed.contains(&"x-request-id".to_owned()), "{exposed:?}");
}

#[tokio::test]
async fn cors_refuses_an_unlisted_origin() {
    let app = spawn_with_cors(&[ORIGIN]).await;

    let res = preflight(&app, "https://evil.example").await;
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "{:?}",
        res.headers()
    );

    let res = post_from(&app, "https://evil.example").await;
    assert!(
        res.headers.get("access-control-allow-origin").is_none(),
        "{:?}",
        res.headers
    );
}

#[tokio::test]
async fn cors_wildcard_allows_any_origin() {
    let app = spawn_with_cors(&["*"]).await;
    for origin in ["https://app.example", "https://elsewhere.example"] {
        let res = preflight(&app, origin).await;
        assert!(res.status().is_success(), "{}", res.status());
        let allowed = res
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert!(
            allowed.as_deref() == Some("*") || allowed.as_deref() == Some(origin),
            "{origin}: {allowed:?}"
        );
        let methods = header_items(res.headers(), "access-control-allow-methods");
        assert!(methods.contains(&"post".to_owned()), "{methods:?}");

        let res = post_from(&app, origin).await;
        assert!(
            res.headers.get("access-control-allow-origin").is_some(),
            "{origin}: {:?}",
            res.headers
        );
    }
}

#[tokio::test]
async fn cors_preflight_responses_carry_a_request_id() {
    let app = spawn_with_cors(&[ORIGIN]).await;
    let res = preflight(&app, ORIGIN).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert!(
        res.headers().contains_key("x-request-id"),
        "a preflight answered {} without x-request-id: {:?}",
        res.status(),
        res.headers()
    );
    generated_request_id(res.headers());
}

#[tokio::test]
async fn large_answers_are_compressed_when_the_client_accepts_it() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let introspection = json!({ "query": "{ __schema { types { name fields { name } } } }" });
    for (accept, expected) in [
        ("gzip", Some("gzip")),
        ("br", Some("br")),
        ("identity", None),
    ] {
        let res = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("accept-encoding", accept)
            .json(&introspection)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()
                .get("content-encoding")
                .and_then(|v| v.to_str().ok()),
            expected,
            "Accept-Encoding: {accept}"
        );
        let asset = app
            .client
            .get(format!(
                "{}/graphiql/assets/graphiql-3.9.0.min.js",
                app.address
            ))
            .header("accept-encoding", accept)
            .send()
            .await
            .expect("asset");
        assert_eq!(
            asset
                .headers()
                .get("content-encoding")
                .and_then(|v| v.to_str().ok()),
            expected,
            "asset, Accept-Encoding: {accept}"
        );
    }
    // Tiny answers go as they are.
    let res = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .expect("healthz");
    assert!(res.headers().get("content-encoding").is_none());
    assert_eq!(res.json::<Value>().await.expect("json")["status"], "ok");
}

#[tokio::test]
async fn a_panicking_handler_answers_500_and_leaves_the_bucket_as_charged() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.fault_injection = true;
            c.rate_limit.restore_rate = 1;
        })
        .spawn()
        .await
        .expect("SQLite");
    let auth = format!("Bearer {}", app.org.test_key);
    for round in 1..=2u64 {
        let res = app
            .client
            .post(format!("{}/__fault/panic", app.address))
            .header("authorization", &auth)
            .send()
            .await
            .expect("the server answers");
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(res.headers().contains_key("x-request-id"));
        let text = res.text().await.expect("body");
        assert!(
            !text.contains("injected fault"),
            "no panic message reaches the client: {text}"
        );
        let body: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            "INTERNAL_SERVER_ERROR"
        );
        // The panic took exactly its 10 points, no more and no fewer; the next request works.
        let res = app
            .graphql(&app.org.test_key, "{ viewer { mode } }", json!({}))
            .await;
        assert_eq!(res.assert_ok()["viewer"]["mode"], "TEST");
        let left = res.cost["throttleStatus"]["currentlyAvailable"]
            .as_f64()
            .expect("available");
        let spent = 11 * round;
        assert!(
            left <= (1000 - spent + 2) as f64 && left >= (1000 - spent - 1) as f64,
            "{left} after {spent}"
        );
    }
    // Without fault injection (the default) the route doesn't exist.
    let plain = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let res = plain
        .client
        .post(format!("{}/__fault/panic", plain.address))
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// What a browser's request may carry that the gateway reads (or will: trace context and
/// client identification).
const BROWSER_SENDS: [&str; 17] = [
    "authorization",
    "content-type",
    "accept",
    "x-api-key",
    "x-organization-id",
    "x-request-id",
    "idempotency-key",
    "if-match",
    "if-none-match",
    "last-event-id",
    "cockpit-graphql-cost-debug",
    "traceparent",
    "tracestate",
    "apollographql-client-name",
    "apollographql-client-version",
    "graphql-client-name",
    "graphql-client-version",
];

/// What a browser's script reads of a response, beyond what CORS always shows.
const BROWSER_READS: [&str; 10] = [
    "x-request-id",
    "idempotent-replayed",
    "etag",
    "location",
    "retry-after",
    "www-authenticate",
    "allow",
    "ratelimit-policy",
    "ratelimit",
    "deprecation",
];

/// A CORS preflight for `method path` from `origin`, asking to send `headers`.
async fn preflight_for(
    app: &TestApp,
    method: &str,
    path: &str,
    origin: &str,
    headers: &str,
) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, format!("{}{path}", app.address))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn cors_lets_a_browser_send_and_read_every_header_the_gateway_uses() {
    let app = spawn_with_cors(&[ORIGIN]).await;
    let auth = format!("Bearer {}", app.org.test_key);
    let created = app
        .client
        .post(format!("{}/v1/endpoints", app.address))
        .header("authorization", &auth)
        .json(&json!({ "name": "Browser", "type": "webhook", "url": "https://hooks.example/b" }))
        .send()
        .await
        .expect("create");
    let created: Value = created.json().await.expect("JSON");
    let one = format!("/v1/endpoints/{}", created["id"].as_str().expect("id"));
    let routes = [
        ("POST", "/graphql"),
        ("GET", "/graphql"),
        ("GET", "/v1/endpoints"),
        ("POST", "/v1/endpoints"),
        ("GET", one.as_str()),
        ("PATCH", one.as_str()),
        ("DELETE", one.as_str()),
    ];
    for (method, path) in routes {
        for name in BROWSER_SENDS
            .iter()
            .copied()
            .chain([BROWSER_SENDS.join(", ").as_str()])
        {
            let res = preflight_for(&app, method, path, ORIGIN, name).await;
            let context = format!("{method} {path}, {name}");
            assert!(res.status().is_success(), "{context}: {}", res.status());
            assert_eq!(
                res.headers()
                    .get("access-control-allow-origin")
                    .and_then(|v| v.to_str().ok()),
                Some(ORIGIN),
                "{context}"
            );
            let methods = header_items(res.headers(), "access-control-allow-methods");
            assert!(
                methods.contains(&method.to_ascii_lowercase()),
                "{context}: {methods:?}"
            );
            let allowed = header_items(res.headers(), "access-control-allow-headers");
            for asked in name.split(", ") {
                assert!(
                    allowed.contains(&asked.to_owned()),
                    "{context}: {asked} not in {allowed:?}"
                );
            }
        }

        // Another origin learns nothing, before or in an actual request (a GET: the server
        // runs what it is sent whatever the origin; only the browser holds the answer back).
        let res = preflight_for(
            &app,
            method,
            path,
            "https://evil.example",
            &BROWSER_SENDS.join(", "),
        )
        .await;
        assert_no_cors_headers(res.headers());
        let res = app
            .client
            .get(format!("{}{path}", app.address))
            .header("origin", "https://evil.example")
            .header("authorization", &auth)
            .send()
            .await
            .expect("request");
        assert_no_cors_headers(res.headers());
    }

    // Actual responses, GraphQL's and REST's, expose each header a client reads; a keyed
    // retry's replay shows it is one.
    let key_body = json!({ "name": "Keyed", "type": "webhook", "url": "https://hooks.example/k" });
    for _ in 0..2 {
        let res = app
            .client
            .post(format!("{}/v1/endpoints", app.address))
            .header("origin", ORIGIN)
            .header("authorization", &auth)
            .header("idempotency-key", "browser-1")
            .json(&key_body)
            .send()
            .await
            .expect("create");
        assert!(res.status().is_success(), "{}", res.status());
        let exposed = header_items(res.headers(), "access-control-expose-headers");
        for name in BROWSER_READS {
            assert!(
                exposed.contains(&name.to_owned()),
                "{name} not in {exposed:?}"
            );
        }
    }
    let res = post_from(&app, ORIGIN).await;
    let exposed = header_items(&res.headers, "access-control-expose-headers");
    for name in BROWSER_READS {
        assert!(
            exposed.contains(&name.to_owned()),
            "GraphQL: {name} not in {exposed:?}"
        );
    }
    let res = get(&app, &one, &[("origin", ORIGIN), ("authorization", &auth)]).await;
    assert!(res.headers().contains_key("etag"));
    let exposed = header_items(res.headers(), "access-control-expose-headers");
    for name in BROWSER_READS {
        assert!(
            exposed.contains(&name.to_owned()),
            "REST GET: {name} not in {exposed:?}"
        );
    }
}

/// The log line names the code of every refusal, those made before a transport noted its
/// outcome included: a body that isn't JSON, a parameter past its bound, a REST refusal.
#[tokio::test]
async fn every_refusal_logs_its_code() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let (mut child, address, log) = serve_process_logged(&db, &[]).await;
    let client = reqwest::Client::new();
    let post = |body: &'static str| {
        client
            .post(format!("http://{address}/graphql"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let refusals = [
        (post("{not json").await.expect("post"), "BAD_REQUEST"),
        (
            post(r#"{"query":"{ __typename }","extensions":{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"j":1,"k":1,"l":1,"m":1,"n":1,"o":1,"p":1,"q":1,"r":1,"s":1,"t":1,"u":1,"v":1,"w":1,"x":1,"y":1,"z":1,"aa":1,"ab":1,"ac":1,"ad":1,"ae":1,"af":1,"ag":1}}"#)
                .await
                .expect("post"),
            "PARAMETER_LIMIT_EXCEEDED",
        ),
    ];
    for (response, code) in refusals {
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("request id")
            .to_owned();
        let line = log.wait_for(json!({ "request_id": id })).await;
        assert_eq!(line["error_codes"], code, "{line}");
    }
    let _ = child.kill();
    let _ = child.wait();
}
