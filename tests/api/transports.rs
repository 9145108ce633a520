//! Every transport meets the same gateway: an operation costs, is refunded and is reported
//! the same over HTTP (POST, GET, batch), WebSocket (both protocols) and server-sent events,
//! and one refused before it runs is refused as the protocol has it.

use std::time::Duration;

use futures_util::SinkExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live::*;

const LIST: &str = "{ endpoints(first: 100) { nodes { id name } } }";

/// `extensions.cost` of `query` run once over each transport, by its name.
async fn cost_everywhere(app: &TestApp, query: &str) -> Vec<(&'static str, Value)> {
    let key = app.org.test_key.clone();
    let auth = format!("Bearer {key}");
    let mut costs = Vec::new();

    let post = app.graphql(&key, query, json!({})).await;
    assert_eq!(post.status, StatusCode::OK, "{}", post.body);
    costs.push(("POST", post.cost.clone()));

    let get: Value = reqwest::Client::new()
        .get(format!("{}/graphql", app.address))
        .query(&[("query", query)])
        .header("authorization", &auth)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    costs.push(("GET", get["extensions"]["cost"].clone()));

    let batch = app
        .post(
            &[("authorization", auth.as_str())],
            json!([{ "query": query }]),
        )
        .await;
    costs.push(("batch", batch.body[0]["extensions"]["cost"].clone()));

    for (name, protocol) in [
        ("graphql-transport-ws", Protocol::TransportWs),
        ("graphql-ws", Protocol::Legacy),
    ] {
        let mut ws = Ws::connect(&app.address, protocol, json!({ "x-api-key": key })).await;
        ws.subscribe("1", query, json!({})).await;
        let payload = ws.next_payload().await;
        assert!(!payload["data"].is_null(), "{name}: {payload}");
        costs.push((name, payload["extensions"]["cost"].clone()));
    }

    let mut sse = Sse::post(&app.address, &[("authorization", &auth)], query, json!({})).await;
    let (_, result) = sse.next_result().await;
    costs.push(("SSE", result["extensions"]["cost"].clone()));
    costs
}

/// Each transport's cost is HTTP POST's, and what it left in the bucket went down by its
/// actual cost (give or take the point restored meanwhile).
fn assert_same_cost(costs: &[(&str, Value)]) {
    let (_, http) = &costs[0];
    assert!(
        http["actualQueryCost"].is_u64(),
        "POST reports its cost: {http}"
    );
    let mut left = http["throttleStatus"]["currentlyAvailable"]
        .as_f64()
        .expect("available");
    for (name, cost) in &costs[1..] {
        assert_eq!(
            cost["requestedQueryCost"], http["requestedQueryCost"],
            "{name}: {cost}"
        );
        assert_eq!(
            cost["actualQueryCost"], http["actualQueryCost"],
            "{name}: {cost}"
        );
        let now = cost["throttleStatus"]["currentlyAvailable"]
            .as_f64()
            .expect("available");
        let drawn = left - now;
        let actual = cost["actualQueryCost"].as_f64().expect("actual");
        assert!(
            (drawn - actual).abs() <= 1.0,
            "{name} drew {drawn}, not {actual}: {cost}"
        );
        left = now;
    }
}

async fn the_same_operation_costs_the_same_over_every_transport(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_config(|c| {
            c.rate_limit.bucket_size = 100_000;
            c.rate_limit.restore_rate = 1;
            c.limits.max_batch = Some(2);
        })
        .spawn()
        .await
        .expect(POSTGRES_UNSET);
    let key = app.org.test_key.clone();
    for name in ["One", "Two", "Three"] {
        app.create_ok(
            &key,
            json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/in" }),
        )
        .await;
    }
    let costs = cost_everywhere(&app, LIST).await;
    // Refunded down to what the response returned, far below what 100 could have cost.
    let http = &costs[0].1;
    assert!(
        http["actualQueryCost"].as_u64() < http["requestedQueryCost"].as_u64(),
        "{http}"
    );
    assert_same_cost(&costs);

    // A lookup by id that finds nothing costs as an object returned, over every transport.
    let kept = app
        .create_ok(
            &key,
            json!({ "name": "Kept", "type": "WEBHOOK", "url": "https://hooks.example.com/in" }),
        )
        .await;
    let gone = app
        .create_ok(
            &key,
            json!({ "name": "Gone", "type": "WEBHOOK", "url": "https://hooks.example.com/in" }),
        )
        .await;
    let gone_id = gone["id"].as_str().expect("id");
    app.delete_endpoint(&key, gone_id).await.assert_ok();
    let lookups = format!(
        "{{ nodes(ids: [\"{}\", \"{gone_id}\"]) {{ id }} }}",
        kept["id"].as_str().expect("id")
    );
    assert_same_cost(&cost_everywhere(&app, &lookups).await);
}

#[tokio::test]
async fn the_same_operation_costs_the_same_over_every_transport_sqlite() {
    the_same_operation_costs_the_same_over_every_transport(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn the_same_operation_costs_the_same_over_every_transport_postgres() {
    the_same_operation_costs_the_same_over_every_transport(Backend::Postgres).await;
}

db_test! {
    async fn a_subscription_reports_what_it_paid_to_start_and_for_each_result(app) {
        let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        for name in ["First", "Second"] {
            app.create_ok(&app.org.test_key, json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/in" }))
                .await;
        }
        let first = ws.next_payload().await;
        let second = ws.next_payload().await;
        let (first, second) = (&first["extensions"]["cost"], &second["extensions"]["cost"]);
        let each = second["actualQueryCost"].as_u64().expect("a result's cost");
        assert!(each > 0, "{second}");
        assert_eq!(second["requestedQueryCost"], second["actualQueryCost"]);
        assert!(second["throttleStatus"]["currentlyAvailable"].is_number(), "{second}");
        // The first result's report includes what starting cost.
        assert!(first["actualQueryCost"].as_u64().expect("cost") > each, "{first}");
    }
}

/// Documents refused before they run, the code each gets, and whether variables go with them.
fn refused_documents() -> Vec<(&'static str, Value, &'static str)> {
    vec![
        ("{ nope }", json!({}), "GRAPHQL_VALIDATION_FAILED"),
        ("{ endpoints(first: 1) {", json!({}), "GRAPHQL_PARSE_FAILED"),
        (
            "query($n: Int!) { endpoints(first: $n) { nodes { id } } }",
            json!({ "n": "many" }),
            "GRAPHQL_VALIDATION_FAILED",
        ),
        (
            "subscription { endpointEvents { nope } }",
            json!({}),
            "GRAPHQL_VALIDATION_FAILED",
        ),
    ]
}

db_test! {
    async fn a_refused_operation_over_websocket_is_the_protocols_error_message(app) {
        for protocol in [Protocol::TransportWs, Protocol::Legacy] {
            let mut ws = Ws::connect(&app.address, protocol, json!({ "x-api-key": app.org.test_key })).await;
            for (query, variables, code) in refused_documents() {
                ws.subscribe("1", query, variables).await;
                let message = ws.next_json().await.expect("a message");
                assert_eq!(message["type"], "error", "{protocol:?} {query}: {message}");
                assert_eq!(message["id"], "1");
                let error = match protocol {
                    Protocol::TransportWs => &message["payload"][0],
                    Protocol::Legacy => &message["payload"],
                };
                assert_eq!(error["extensions"]["code"], code, "{protocol:?} {query}: {message}");
                assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{message}");
            }
            // An error ends the operation (no `complete` follows): its id runs again at once.
            ws.subscribe("1", "{ viewer { mode } }", json!({})).await;
            let message = ws.next_json().await.expect("a message");
            assert_ne!(message["type"], "complete", "{protocol:?}: {message}");
            assert!(message["payload"]["data"]["viewer"].is_object(), "{protocol:?}: {message}");
        }
    }
}

db_test! {
    async fn a_refused_operation_over_sse_is_the_http_error_post_gets(app) {
        let auth = format!("Bearer {}", app.org.test_key);
        for (query, variables, code) in refused_documents() {
            let sse = Sse::post(&app.address, &[("authorization", &auth)], query, variables.clone()).await;
            let status = sse.response.status();
            let kind = sse.response.headers()["content-type"].to_str().expect("type").to_owned();
            assert!(kind.starts_with("application/json"), "{query}: {kind}");
            let body: Value = sse.response.json().await.expect("JSON");
            let (body, _) = split_cost(body);
            assert_eq!(body["errors"][0]["extensions"]["code"], code, "{query}: {body}");
            if query.starts_with("subscription") {
                // POST without a stream refuses any subscription, so there is nothing to match.
                continue;
            }
            let post = app
                .post(
                    &[("authorization", auth.as_str()), ("accept", "application/json")],
                    json!({ "query": query, "variables": variables }),
                )
                .await;
            assert_eq!(status, post.status, "{query}");
            assert_eq!(body, post.body, "{query}");
        }
    }
}

#[tokio::test]
async fn a_websocket_message_over_the_body_limit_is_closed_with_4400() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.limits.max_body_bytes = 4096)
        .spawn()
        .await
        .expect("SQLite");
    let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
    let padding = " ".repeat(8192);
    ws.subscribe("1", &format!("{{ viewer {{ mode }} }}{padding}"), json!({}))
        .await;
    match ws.frame().await {
        Frame::Close(code, reason) => assert_eq!(code, 4400, "{reason}"),
        other => panic!("expected close 4400, got {other:?}"),
    }
}

/// The socket reads a few KiB at a time, so a message many times that within the body limit is
/// read whole and run; one past what the socket takes at all (four times the body limit) ends
/// the connection unrun, as before its read buffer was made small.
#[tokio::test]
async fn websocket_messages_past_the_read_buffer_are_read_whole_within_the_limit() {
    let limit = 256 * 1024;
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.limits.max_body_bytes = limit)
        .spawn()
        .await
        .expect("SQLite");
    let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
    let padding = " ".repeat(limit - 1024);
    ws.subscribe("1", &format!("{{ viewer {{ mode }} }}{padding}"), json!({}))
        .await;
    let payload = ws.next_payload().await;
    assert_eq!(payload["data"]["viewer"]["mode"], "TEST", "{payload}");

    let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
    let padding = " ".repeat(4 * limit + 1);
    let message = json!({ "id": "1", "type": "subscribe", "payload": { "query": format!("{{ viewer {{ mode }} }}{padding}") } });
    // The server may hang up before the whole message is written.
    let _ = ws
        .socket
        .send(tokio_tungstenite::tungstenite::Message::Text(
            message.to_string().into(),
        ))
        .await;
    match ws.frame().await {
        Frame::Json(message) => panic!("a message past the socket's limit was run: {message}"),
        Frame::Close(..) | Frame::Gone => {}
    }
}

/// What a bucket has left, as a cheap query reports it.
async fn available(app: &TestApp) -> f64 {
    let res = app
        .graphql(&app.org.test_key, "{ viewer { mode } }", json!({}))
        .await;
    res.cost["throttleStatus"]["currentlyAvailable"]
        .as_f64()
        .expect("a throttle status")
}

/// A subscription whose reservation is well above its floor: each object it may return costs
/// a point, and it selects the same object under a dozen names.
const HOLDING: &str = "subscription { endpointEvents { cursor a: endpoint { id } b: endpoint { id } c: endpoint { id } d: endpoint { id } e: endpoint { id } f: endpoint { id } g: endpoint { id } h: endpoint { id } i: endpoint { id } j: endpoint { id } k: endpoint { id } l: endpoint { id } } }";

/// A subscription holds what it reserved beyond its floor while it runs, and gives it back when
/// it ends, however it ends: here the client completes it, and then the client hangs up.
async fn a_subscription_holds_its_reservation_until_it_ends(backend: Backend) {
    let app = TestApp::builder(backend)
        // Slow enough that what comes back is the refund, not the bucket refilling.
        .with_config(|c| c.rate_limit.restore_rate = 1)
        .spawn()
        .await
        .expect(POSTGRES_UNSET);
    for ending in ["complete", "hang up"] {
        let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
        ws.subscribe("1", HOLDING, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.create_ok(
            &app.org.test_key,
            json!({ "name": ending, "type": "WEBHOOK", "url": "https://hooks.example.com/in" }),
        )
        .await;
        let first = ws.next_payload().await;
        let cost = &first["extensions"]["cost"];
        let requested = cost["requestedQueryCost"].as_f64().expect("requested");
        let actual = cost["actualQueryCost"].as_f64().expect("actual");
        let held = requested - actual;
        assert!(
            held >= 10.0,
            "the first result reports what is held: {cost}"
        );
        let open = available(&app).await;
        match ending {
            "complete" => ws.send(json!({ "type": "complete", "id": "1" })).await,
            _ => drop(ws),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ended = available(&app).await;
        // Given back, less the query that read it (and give or take a point restored).
        assert!(
            ended - open >= held - 2.0,
            "{ending}: {open} while open, {ended} after, {held} held"
        );
    }
}

#[tokio::test]
async fn a_subscription_holds_its_reservation_until_it_ends_sqlite() {
    a_subscription_holds_its_reservation_until_it_ends(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_subscription_holds_its_reservation_until_it_ends_postgres() {
    a_subscription_holds_its_reservation_until_it_ends(Backend::Postgres).await;
}
