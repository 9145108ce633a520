//! Budgets readable before they are hit: the RateLimit-Policy and RateLimit headers on every
//! response that drew on a bucket (and on none other), the `rateLimit` query field, and the
//! per-field cost debug.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::helpers::*;

const VIEWER: &str = "{ viewer { mode } }";

/// The parameters of a RateLimit header item named `"cost"`.
#[track_caller]
fn item(headers: &HeaderMap, name: &str) -> Vec<(String, u64)> {
    let value = headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
        .to_str()
        .expect("text");
    let mut parts = value.split(';');
    assert_eq!(parts.next(), Some("\"cost\""), "{value}");
    parts
        .map(|p| {
            let (k, v) = p.split_once('=').expect("key=value");
            (k.to_owned(), v.parse().expect("integer"))
        })
        .collect()
}

#[track_caller]
fn param(headers: &HeaderMap, name: &str, key: &str) -> u64 {
    item(headers, name)
        .into_iter()
        .find(|(k, _)| k == key)
        .unwrap_or_else(|| panic!("no {key} in {name}"))
        .1
}

#[track_caller]
fn assert_no_budget(headers: &HeaderMap, what: &str) {
    assert!(headers.get("ratelimit").is_none(), "{what}: {headers:?}");
    assert!(
        headers.get("ratelimit-policy").is_none(),
        "{what}: {headers:?}"
    );
}

/// The policy is the default bucket: 1000 points, refilled from empty in 1000 / 50 s.
#[track_caller]
fn assert_default_policy(headers: &HeaderMap) {
    assert_eq!(
        item(headers, "ratelimit-policy"),
        vec![("q".to_owned(), 1000), ("w".to_owned(), 20)]
    );
}

/// `RateLimit` agrees with `extensions.cost`: what is left, and the seconds until it is full.
#[track_caller]
fn assert_matches_cost(headers: &HeaderMap, cost: &Value) {
    let available = cost["throttleStatus"]["currentlyAvailable"]
        .as_f64()
        .expect("number");
    let remaining = param(headers, "ratelimit", "r");
    assert_eq!(remaining, available as u64, "{cost}");
    let until_full = param(headers, "ratelimit", "t");
    assert_eq!(
        until_full,
        ((1000.0 - available) / 50.0).ceil() as u64,
        "{cost}"
    );
}

async fn rest_get(app: &TestApp, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(format!("{}{path}", app.address));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await.expect("request")
}

db_test! {
    async fn graphql_responses_tell_the_bucket_in_ratelimit_headers(app) {
        let key = app.org.test_key.clone();
        let res = app.graphql(&key, "{ endpoints(first: 50) { edges { node { id } } } }", json!({})).await;
        res.assert_ok();
        assert_default_policy(&res.headers);
        assert_matches_cost(&res.headers, &res.cost);
        assert!(param(&res.headers, "ratelimit", "r") < 1000);

        // By GET too.
        let res = app
            .client
            .get(format!("{}/graphql", app.address))
            .query(&[("query", VIEWER)])
            .bearer_auth(&key)
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), StatusCode::OK);
        assert_default_policy(res.headers());
        assert!(param(res.headers(), "ratelimit", "r") < 1000);

        // A keyed mutation.
        let res = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&key)
            .header("idempotency-key", "budget-1")
            .json(&json!({
                "query": "mutation { deleteEndpoint(input: { id: \"00000000-0000-0000-0000-000000000000\" }) { deletedEndpointId } }",
            }))
            .send()
            .await
            .expect("keyed");
        let headers = res.headers().clone();
        let body: Value = res.json().await.expect("JSON");
        assert_default_policy(&headers);
        assert_matches_cost(&headers, &body["extensions"]["cost"]);
    }
}

db_test! {
    async fn a_batch_tells_the_bucket_after_its_last_operation(app) {
        let app = TestApp::builder(app.backend).with_config(|c| c.limits.max_batch = Some(3)).spawn().await.expect("app");
        let auth = format!("Bearer {}", app.org.test_key);
        let res = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("authorization", auth)
            .json(&json!([{ "query": VIEWER }, { "query": "{ endpoints(first: 10) { edges { node { id } } } }" }]))
            .send()
            .await
            .expect("batch");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers().get_all("ratelimit").iter().count(), 1);
        let headers = res.headers().clone();
        let body: Value = res.json().await.expect("JSON");
        assert_default_policy(&headers);
        assert_matches_cost(&headers, &body[1]["extensions"]["cost"]);
    }
}

db_test! {
    async fn a_throttled_request_tells_the_bucket_and_resets_at_retry_after(app) {
        let app = TestApp::builder(app.backend)
            .with_config(|c| {
                c.rate_limit.bucket_size = 30;
                c.rate_limit.restore_rate = 2;
            })
            .spawn()
            .await
            .expect("app");
        let key = app.org.test_key.clone();
        let costly = "{ a: viewer { mode } b: viewer { mode } c: viewer { mode } d: viewer { mode } e: viewer { mode } f: viewer { mode } g: viewer { mode } h: viewer { mode } i: viewer { mode } j: viewer { mode } }";
        let mut throttled = None;
        for _ in 0..6 {
            let res = app.graphql(&key, costly, json!({})).await;
            assert_eq!(item(&res.headers, "ratelimit-policy"), vec![("q".to_owned(), 30), ("w".to_owned(), 15)]);
            if res.status == StatusCode::TOO_MANY_REQUESTS {
                throttled = Some(res);
                break;
            }
        }
        let throttled = throttled.expect("the bucket of 30 runs dry");
        let retry_after: u64 = throttled.headers["retry-after"].to_str().expect("text").parse().expect("seconds");
        assert_eq!(param(&throttled.headers, "ratelimit", "t"), retry_after);
        assert!(param(&throttled.headers, "ratelimit", "r") < 10);

        // REST's refusal tells it too.
        let res = rest_get(&app, "/v1/endpoints", Some(&key)).await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.headers().contains_key("ratelimit"));
        }
    }
}

db_test! {
    async fn rest_routes_that_charge_tell_the_bucket(app) {
        let key = app.org.test_key.clone();
        let res = rest_get(&app, "/v1/endpoints", Some(&key)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_default_policy(res.headers());
        let listed = param(res.headers(), "ratelimit", "r");
        assert!(listed < 1000);
        let res = app
            .client
            .post(format!("{}/v1/endpoints", app.address))
            .bearer_auth(&key)
            .json(&json!({ "name": "Budget", "type": "webhook", "url": "https://hooks.example/b" }))
            .send()
            .await
            .expect("create");
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_default_policy(res.headers());
        let id = res.json::<Value>().await.expect("JSON")["id"].as_str().expect("id").to_owned();
        let res = rest_get(&app, &format!("/v1/endpoints/{id}"), Some(&key)).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_default_policy(res.headers());
    }
}

db_test! {
    async fn responses_that_drew_on_no_bucket_have_no_ratelimit_headers(app) {
        for path in ["/healthz", "/v1/openapi.json"] {
            let res = rest_get(&app, path, None).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            assert_no_budget(res.headers(), path);
        }
        let res = rest_get(&app, "/v1/endpoints", None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_no_budget(res.headers(), "REST without a credential");
        let res = app.graphql("sk_test_not_a_key", VIEWER, json!({})).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
        assert_no_budget(&res.headers, "a refused credential");
        let res = app.post(&[], json!({ "query": VIEWER, "variables": [] })).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert_no_budget(&res.headers, "a request refused before it is read");
    }
}

db_test! {
    async fn an_event_stream_tells_the_bucket_its_start_drew_on(app) {
        let res = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&app.org.test_key)
            .header("accept", "text/event-stream")
            .json(&json!({ "query": "subscription { endpointEvents { type } }" }))
            .send()
            .await
            .expect("subscribe");
        assert_eq!(res.status(), StatusCode::OK);
        assert_default_policy(res.headers());
        assert!(param(res.headers(), "ratelimit", "r") < 1000);
    }
}

const RATE_LIMIT: &str = "{ rateLimit { limit cost remaining used resetAt } viewer { mode } }";

/// `rateLimit` agrees with `extensions.cost`: the bucket, the requested cost, and what was
/// left once it was reserved (the refund of what went unused comes after).
#[track_caller]
fn assert_rate_limit_matches_cost(data: &Value, cost: &Value) {
    let rate_limit = &data["rateLimit"];
    assert_eq!(rate_limit["limit"], 1000, "{rate_limit}");
    assert_eq!(
        rate_limit["cost"], cost["requestedQueryCost"],
        "{rate_limit} {cost}"
    );
    let remaining = rate_limit["remaining"].as_i64().expect("remaining");
    assert_eq!(rate_limit["used"].as_i64(), Some(1000 - remaining));
    let refunded = cost["requestedQueryCost"].as_i64().expect("requested")
        - cost["actualQueryCost"].as_i64().expect("actual");
    let after = cost["throttleStatus"]["currentlyAvailable"]
        .as_f64()
        .expect("available") as i64;
    assert!(
        (after - refunded - remaining).abs() <= 1,
        "{rate_limit} {cost}"
    );
    let reset_at: chrono::DateTime<chrono::Utc> = rate_limit["resetAt"]
        .as_str()
        .expect("resetAt")
        .parse()
        .expect("a time");
    let until = reset_at - chrono::Utc::now();
    assert!(until <= chrono::Duration::seconds(20), "{reset_at}");
}

db_test! {
    async fn rate_limit_tells_the_bucket_as_extensions_cost_does(app) {
        let key = app.org.test_key.clone();
        let res = app.graphql(&key, RATE_LIMIT, json!({})).await;
        assert_rate_limit_matches_cost(res.assert_ok(), &res.cost);
        // It costs nothing itself, however often it is asked.
        assert_eq!(res.cost["requestedQueryCost"], 1, "{}", res.cost);
        assert_eq!(res.cost["actualQueryCost"], 1, "{}", res.cost);
        let res = app.graphql(&key, "{ a: rateLimit { cost } b: rateLimit { cost } endpoints(first: 5) { edges { node { id } } } }", json!({})).await;
        res.assert_ok();
        assert_eq!(res.cost["requestedQueryCost"], 11, "{}", res.cost);
        assert_eq!(res.cost["actualQueryCost"], 1, "{}", res.cost);
        assert_eq!(res.data()["a"]["cost"], 11);

        // After some spending, what is left goes down.
        let page = app.graphql(&key, "{ rateLimit { remaining } endpoints(first: 50) { edges { node { id } } } }", json!({})).await;
        let remaining = page.assert_ok()["rateLimit"]["remaining"].as_i64().expect("remaining");
        assert!(remaining < 1000 - 100, "the page's reservation is taken: {remaining}");
    }
}

db_test! {
    async fn rate_limit_answers_the_same_in_a_batch_and_an_event_stream(app) {
        let app = TestApp::builder(app.backend).with_config(|c| c.limits.max_batch = Some(3)).spawn().await.expect("app");
        let res = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&app.org.test_key)
            .json(&json!([{ "query": RATE_LIMIT }, { "query": RATE_LIMIT }]))
            .send()
            .await
            .expect("batch");
        let body: Value = res.json().await.expect("JSON");
        for answer in body.as_array().expect("array") {
            assert_rate_limit_matches_cost(&answer["data"], &answer["extensions"]["cost"]);
        }
        assert!(body[1]["data"]["rateLimit"]["remaining"].as_i64() < body[0]["data"]["rateLimit"]["remaining"].as_i64());

        // A query answered as an event stream.
        let res = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&app.org.test_key)
            .header("accept", "text/event-stream")
            .json(&json!({ "query": RATE_LIMIT }))
            .send()
            .await
            .expect("stream");
        assert!(res.headers().contains_key("ratelimit"));
        let text = res.text().await.expect("events");
        let data = text
            .lines()
            .find_map(|line| line.strip_prefix("data: ").filter(|d| d.starts_with('{')))
            .expect("a next event");
        let answer: Value = serde_json::from_str(data).expect("JSON");
        assert_rate_limit_matches_cost(&answer["data"], &answer["extensions"]["cost"]);
    }
}
