//! Budgets readable before they are hit: the RateLimit-Policy and RateLimit headers on every
//! response that drew on a bucket (and on none other), the `rateLimit` query field, and the
//! per-field cost debug.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live::{Protocol, Ws};

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
    async fn a_batch_answered_200_tells_when_the_bucket_is_full_though_its_last_operation_was_refused(app) {
        let app = TestApp::builder(app.backend)
            .with_config(|c| {
                c.limits.max_batch = Some(5);
                c.rate_limit.bucket_size = 30;
                c.rate_limit.restore_rate = 2;
            })
            .spawn()
            .await
            .expect("app");
        let costly = json!({ "query": "{ a: viewer { mode } b: viewer { mode } c: viewer { mode } d: viewer { mode } e: viewer { mode } f: viewer { mode } g: viewer { mode } h: viewer { mode } i: viewer { mode } j: viewer { mode } }" });
        let res = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&app.org.test_key)
            .json(&json!([costly, costly, costly, costly]))
            .send()
            .await
            .expect("batch");
        assert_eq!(res.status(), StatusCode::OK);
        let headers = res.headers().clone();
        let body: Value = res.json().await.expect("JSON");
        assert_eq!(body[3]["errors"][0]["extensions"]["code"], "RATE_LIMITED", "{body}");
        // Not a refusal of the response: `t` is when the bucket is full, not a retry's wait.
        let left = param(&headers, "ratelimit", "r");
        assert_eq!(param(&headers, "ratelimit", "t"), (30 - left).div_ceil(2), "{headers:?}");
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
    async fn rate_limit_tells_each_credential_its_own_bucket_never_another_organizations_or_modes(app) {
        // Refilled slowly enough that what one key spends still shows when the others ask.
        let app = TestApp::builder(app.backend).with_config(|c| c.rate_limit.restore_rate = 1).spawn().await.expect("app");
        let other = app.new_org("other").await;
        for _ in 0..10 {
            app.graphql(&app.org.test_key, "{ viewer { mode } }", json!({})).await.assert_ok();
        }
        let spent = app.graphql(&app.org.test_key, RATE_LIMIT, json!({})).await;
        let spent = spent.assert_ok()["rateLimit"]["remaining"].as_i64().expect("remaining");
        assert!(spent <= 1000 - 8, "{spent}");
        // The same organization's live key and another organization's key each see a bucket
        // nothing was taken from but their own one-point query.
        for key in [&app.org.live_key, &other.test_key, &other.live_key] {
            let res = app.graphql(key, RATE_LIMIT, json!({})).await;
            let remaining = res.assert_ok()["rateLimit"]["remaining"].as_i64().expect("remaining");
            assert_eq!(remaining, 1000 - 1, "another bucket's spending shows");
        }
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

const DEBUG: &str = "cockpit-graphql-cost-debug";
/// endpoints 1 + 10 × (edges 1 + node 1), viewer 1: 22, well over its floor.
const PRICED: &str = "{ list: endpoints(first: 10) { edges { node { id } } } v: viewer { mode } }";

/// `extensions.cost.fields` in Shopify's shape: response-key paths, leaves with no children's
/// cost, each total its own cost and its children's, and the roots adding up to the requested
/// cost.
#[track_caller]
fn assert_fields_add_up(cost: &Value) {
    let fields = cost["fields"]
        .as_array()
        .unwrap_or_else(|| panic!("no fields in {cost}"));
    let at = |path: Value| {
        fields
            .iter()
            .find(|f| f["path"] == path)
            .unwrap_or_else(|| panic!("no {path} in {cost}"))
    };
    let list = at(json!(["list"]));
    assert_eq!(
        (
            &list["definedCost"],
            &list["requestedChildrenCost"],
            &list["requestedTotalCost"]
        ),
        (&json!(1), &json!(20), &json!(21)),
        "{cost}"
    );
    let id = at(json!(["list", "edges", "node", "id"]));
    assert_eq!(id["requestedTotalCost"], 0, "{cost}");
    assert!(id["requestedChildrenCost"].is_null(), "{cost}");
    assert_eq!(at(json!(["v"]))["requestedTotalCost"], 1, "{cost}");
    for field in fields {
        let children = field["requestedChildrenCost"].as_u64().unwrap_or(0);
        assert_eq!(
            field["requestedTotalCost"].as_u64(),
            field["definedCost"].as_u64().map(|d| d + children),
            "{field}"
        );
    }
    let roots: u64 = fields
        .iter()
        .filter(|f| f["path"].as_array().map(Vec::len) == Some(1))
        .filter_map(|f| f["requestedTotalCost"].as_u64())
        .sum();
    assert_eq!(Some(roots), cost["requestedQueryCost"].as_u64(), "{cost}");
}

db_test! {
    async fn cost_debug_tells_each_field_and_its_roots_add_up_to_the_requested_cost(app) {
        let auth = format!("Bearer {}", app.org.test_key);
        let body = json!({ "query": PRICED });
        for asked in ["1", "true", "TRUE"] {
            let res = app.post(&[("authorization", &auth), (DEBUG, asked)], body.clone()).await;
            res.assert_ok();
            assert_fields_add_up(&res.cost);
        }
        // Without the header, or with another value, the report is as it always was.
        for headers in [vec![("authorization", auth.as_str())], vec![("authorization", &auth), (DEBUG, "yes")], vec![("authorization", &auth), (DEBUG, "0")]] {
            let res = app.post(&headers, body.clone()).await;
            res.assert_ok();
            assert!(res.cost.get("fields").is_none(), "{headers:?}: {}", res.cost);
            assert_eq!(res.cost["requestedQueryCost"], 22, "{}", res.cost);
        }
        // An operation's `extensions` may ask too.
        let res = app.post(&[("authorization", &auth)], json!({ "query": PRICED, "extensions": { "Cockpit-GraphQL-Cost-Debug": true } })).await;
        assert_fields_add_up(&res.cost);

        // By GET.
        let res = app
            .client
            .get(format!("{}/graphql", app.address))
            .query(&[("query", PRICED)])
            .header("authorization", &auth)
            .header(DEBUG, "1")
            .send()
            .await
            .expect("get");
        let body: Value = res.json().await.expect("JSON");
        assert_fields_add_up(&body["extensions"]["cost"]);

        // A keyed mutation: the one field it selects.
        let res = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("authorization", &auth)
            .header("idempotency-key", "debug-1")
            .header(DEBUG, "1")
            .json(&json!({
                "query": "mutation { gone: deleteEndpoint(input: { id: \"00000000-0000-0000-0000-000000000000\" }) { deletedEndpointId } }",
            }))
            .send()
            .await
            .expect("keyed");
        let body: Value = res.json().await.expect("JSON");
        let fields = &body["extensions"]["cost"]["fields"];
        assert_eq!(fields[1]["path"], json!(["gone"]), "{body}");
        assert_eq!(fields[0]["path"], json!(["gone", "deletedEndpointId"]), "{body}");

        // REST has no per-field cost: the header changes nothing, the RateLimit headers tell
        // the bucket.
        let res = app
            .client
            .get(format!("{}/v1/endpoints", app.address))
            .header("authorization", &auth)
            .header(DEBUG, "1")
            .send()
            .await
            .expect("rest");
        assert_eq!(res.status(), StatusCode::OK);
        assert_default_policy(res.headers());
        let body: Value = res.json().await.expect("JSON");
        assert!(!body.to_string().contains("requestedTotalCost"), "{body}");
    }
}

db_test! {
    async fn cost_debug_tells_each_operation_of_a_batch_and_an_event_stream(app) {
        let app = TestApp::builder(app.backend).with_config(|c| c.limits.max_batch = Some(3)).spawn().await.expect("app");
        let res = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&app.org.test_key)
            .header(DEBUG, "1")
            .json(&json!([{ "query": PRICED }, { "query": VIEWER }]))
            .send()
            .await
            .expect("batch");
        let body: Value = res.json().await.expect("JSON");
        assert_fields_add_up(&body[0]["extensions"]["cost"]);
        let second = &body[1]["extensions"]["cost"];
        assert_eq!(second["fields"].as_array().map(Vec::len), Some(2), "{second}");
        assert_eq!(second["fields"][1]["path"], json!(["viewer"]), "{second}");

        // A query answered as an event stream.
        let res = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&app.org.test_key)
            .header("accept", "text/event-stream")
            .header(DEBUG, "1")
            .json(&json!({ "query": PRICED }))
            .send()
            .await
            .expect("stream");
        let text = res.text().await.expect("events");
        let data = text
            .lines()
            .find_map(|line| line.strip_prefix("data: ").filter(|d| d.starts_with('{')))
            .expect("a next event");
        let answer: Value = serde_json::from_str(data).expect("JSON");
        assert_fields_add_up(&answer["extensions"]["cost"]);
    }
}

db_test! {
    async fn cost_debug_over_graphql_transport_ws_is_asked_in_connection_init(app) {
        let key = app.org.test_key.clone();
        let auth = format!("Bearer {key}");
        for payload in [
            json!({ "Authorization": auth, "Cockpit-GraphQL-Cost-Debug": "1" }),
            json!({ "headers": { "Authorization": auth, "cockpit-graphql-cost-debug": "true" } }),
        ] {
            let mut ws = Ws::connect(&app.address, Protocol::TransportWs, payload.clone()).await;
            ws.subscribe("1", PRICED, json!({})).await;
            let result = ws.next_payload().await;
            assert!(result.get("errors").is_none(), "{payload}: {result}");
            assert_fields_add_up(&result["extensions"]["cost"]);
        }
        // Not asked: no fields; one operation may ask in its `extensions`.
        let mut ws = Ws::with_key(&app.address, &key).await;
        ws.subscribe("1", PRICED, json!({})).await;
        let result = ws.next_payload().await;
        assert!(result["extensions"]["cost"].get("fields").is_none(), "{result}");
        assert_eq!(result["extensions"]["cost"]["requestedQueryCost"], 22, "{result}");
        ws.send(json!({ "id": "2", "type": "subscribe", "payload": { "query": PRICED, "extensions": { "Cockpit-GraphQL-Cost-Debug": "1" } } })).await;
        // The first operation's `complete` comes first.
        let result = loop {
            let message = ws.next_json().await.expect("a message");
            if message["id"] == "2" {
                break message;
            }
        };
        assert_eq!(result["type"], "next", "{result}");
        assert_fields_add_up(&result["payload"]["extensions"]["cost"]);

        // A subscription tells its fields with its first result (whose report adds that
        // result's objects to what starting it reserved), and only then.
        let mut ws = Ws::connect(&app.address, Protocol::TransportWs, json!({ "x-api-key": key, "Cockpit-GraphQL-Cost-Debug": "1" })).await;
        ws.subscribe("3", "subscription { endpointEvents { type } }", json!({})).await;
        ws.assert_silent(std::time::Duration::from_millis(200)).await;
        for name in ["Priced", "Repriced"] {
            app.create_ok(&key, json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/in" })).await;
        }
        let first = ws.next_payload().await;
        let fields = &first["extensions"]["cost"]["fields"];
        assert_eq!(fields[1]["path"], json!(["endpointEvents"]), "{first}");
        assert_eq!(fields[0]["path"], json!(["endpointEvents", "type"]), "{first}");
        let second = ws.next_payload().await;
        assert!(second["extensions"]["cost"].get("fields").is_none(), "{second}");
    }
}
