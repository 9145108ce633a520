//! Live queries (`query @live { … }`) over WebSocket (both protocols) and server-sent events:
//! sent again when a change touches what they read, and only then (never for another
//! organization's, the other mode's or another type's), changes within the interval answered by
//! one run, each run charged, ended when the key is revoked; answered once over plain HTTP.

use std::time::{Duration, Instant};

use cockpit_gateway::domain::{Mode, Role, api_keys};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live::*;

const ENDPOINTS: &str = "query Endpoints @live { endpoints { nodes { id name } } }";

fn webhook(name: &str) -> Value {
    json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/in" })
}

/// The names of the endpoints a result lists, in its order.
fn names(payload: &Value) -> Vec<String> {
    assert!(payload.get("errors").is_none(), "{payload}");
    payload["data"]["endpoints"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["name"].as_str().expect("name").to_owned())
        .collect()
}

async fn live_ws(app: &TestApp, key: &str, query: &str, variables: Value) -> Ws {
    let mut ws = Ws::with_key(&app.address, key).await;
    ws.subscribe("1", query, variables).await;
    ws
}

db_test! {
    async fn a_live_query_over_websocket_is_sent_again_when_a_change_touches_it(app) {
        let mut ws = live_ws(&app, &app.org.test_key, ENDPOINTS, json!({})).await;
        let first = ws.next_payload().await;
        assert_eq!(names(&first), Vec::<String>::new());
        assert_eq!(first["extensions"]["revision"], 1, "{first}");
        assert!(first["extensions"]["cost"]["actualQueryCost"].is_u64(), "{first}");

        app.create_ok(&app.org.test_key, webhook("First")).await;
        let second = ws.next_payload().await;
        assert_eq!(names(&second), ["First"]);
        assert_eq!(second["extensions"]["revision"], 2, "{second}");
        assert!(second["extensions"].get("cockpitCharge").is_none(), "{second}");
    }
}

db_test! {
    async fn a_live_query_is_not_run_again_for_what_it_did_not_read(app) {
        let other = app.new_org("Other").await;
        let mut ws = live_ws(&app, &app.org.test_key, ENDPOINTS, json!({})).await;
        ws.next_payload().await;
        // Another organization's endpoint, this organization's live endpoint, and a phone
        // number of its own mode: none of them is what the query read.
        app.create_ok(&other.test_key, webhook("Theirs")).await;
        app.create_ok(&app.org.live_key, webhook("Live")).await;
        app.add_phone_number(app.org.id, Mode::Test, "+14155550100").await;
        ws.assert_silent(Duration::from_millis(1500)).await;
        // Still live: its own change comes.
        app.create_ok(&app.org.test_key, webhook("Mine")).await;
        assert_eq!(names(&ws.next_payload().await), ["Mine"]);
    }
}

db_test! {
    async fn changes_within_the_interval_are_answered_by_one_run(app) {
        let app = TestApp::builder(app.backend)
            .with_config(|c| c.events.live_query_interval = Duration::from_millis(1500))
            .spawn()
            .await
            .expect("app");
        let key = app.org.test_key.clone();
        let mut ws = live_ws(&app, &key, ENDPOINTS, json!({})).await;
        ws.next_payload().await;
        // The first change after a quiet spell (an interval since the last run) is answered at
        // once.
        tokio::time::sleep(Duration::from_millis(1600)).await;
        let started = Instant::now();
        app.create_ok(&key, webhook("One")).await;
        assert_eq!(names(&ws.next_payload().await), ["One"]);
        assert!(started.elapsed() < Duration::from_millis(1000), "{:?}", started.elapsed());
        // Three more within the interval: one run answers them all.
        for name in ["Two", "Three", "Four"] {
            app.create_ok(&key, webhook(name)).await;
        }
        let next = ws.next_payload().await;
        let mut listed = names(&next);
        listed.sort();
        assert_eq!(listed, ["Four", "One", "Three", "Two"]);
        assert_eq!(next["extensions"]["revision"], 3, "{next}");
        ws.assert_silent(Duration::from_millis(2000)).await;
    }
}

db_test! {
    async fn a_live_query_of_one_endpoint_runs_again_only_for_that_endpoint(app) {
        let watched = app.create_ok(&app.org.test_key, webhook("Watched")).await;
        let other = app.create_ok(&app.org.test_key, webhook("Other")).await;
        let mut ws = live_ws(
            &app,
            &app.org.test_key,
            "query One($id: UUID!) @live { endpoint(id: $id) { name } }",
            json!({ "id": watched["id"] }),
        )
        .await;
        assert_eq!(ws.next_payload().await["data"]["endpoint"]["name"], "Watched");
        app.update_endpoint(&app.org.test_key, json!({ "id": other["id"], "name": "Other 2" })).await.assert_ok();
        app.create_ok(&app.org.test_key, webhook("New")).await;
        ws.assert_silent(Duration::from_millis(1000)).await;
        app.update_endpoint(&app.org.test_key, json!({ "id": watched["id"], "name": "Renamed" })).await.assert_ok();
        assert_eq!(ws.next_payload().await["data"]["endpoint"]["name"], "Renamed");
        app.delete_endpoint(&app.org.test_key, watched["id"].as_str().expect("id")).await.assert_ok();
        let gone = ws.next_payload().await;
        assert_eq!(gone["data"]["endpoint"], Value::Null, "{gone}");
        assert_eq!(gone["errors"][0]["extensions"]["code"], "NOT_FOUND", "{gone}");
    }
}

db_test! {
    async fn the_legacy_graphql_ws_protocol_streams_a_live_query_too(app) {
        let mut ws = Ws::connect(&app.address, Protocol::Legacy, json!({ "x-api-key": app.org.test_key })).await;
        ws.subscribe("a", ENDPOINTS, json!({})).await;
        let first = ws.next_json().await.expect("a message");
        assert_eq!(first["type"], "data", "{first}");
        app.create_ok(&app.org.test_key, webhook("Legacy")).await;
        let second = ws.next_json().await.expect("a message");
        assert_eq!(second["type"], "data", "{second}");
        assert_eq!(names(&second["payload"]), ["Legacy"]);
    }
}

db_test! {
    async fn a_live_query_over_server_sent_events_streams_its_results(app) {
        let auth = format!("Bearer {}", app.org.test_key);
        let mut sse = Sse::post(&app.address, &[("authorization", &auth)], ENDPOINTS, json!({})).await;
        assert_eq!(sse.response.status(), 200);
        let (_, first) = sse.next_result().await;
        assert_eq!(names(&first), Vec::<String>::new());
        // The other mode's change is not for it; its own is.
        app.create_ok(&app.org.live_key, webhook("Live")).await;
        app.create_ok(&app.org.test_key, webhook("Streamed")).await;
        let (id, second) = sse.next_result().await;
        assert_eq!(names(&second), ["Streamed"]);
        assert_eq!(second["extensions"]["revision"], 2, "{second}");
        assert_eq!(id, None, "a live query's results name no event");
    }
}

db_test! {
    async fn a_live_query_reading_nothing_that_changes_is_answered_once_and_holds_no_slot(app) {
        for query in [
            "query @live { rateLimit { remaining } }",
            "query @live { __typename }",
            "query @live { __schema { queryType { name } } }",
        ] {
            let mut ws = live_ws(&app, &app.org.test_key, query, json!({})).await;
            let first = ws.next_payload().await;
            assert!(first.get("errors").is_none(), "{query}: {first}");
            assert_eq!(ws.next_json().await.expect("complete")["type"], "complete", "{query}");
        }
    }
}

db_test! {
    async fn over_plain_http_a_live_query_is_answered_once(app) {
        app.create_ok(&app.org.test_key, webhook("Once")).await;
        // reqwest's `Accept: */*`, and urql's default, which takes an event stream but prefers
        // JSON: one JSON answer.
        let res = app.graphql(&app.org.test_key, ENDPOINTS, json!({})).await;
        assert_eq!(names(&res.body), ["Once"]);
        assert!(res.cost["actualQueryCost"].is_u64(), "{}", res.cost);
        let auth = format!("Bearer {}", app.org.test_key);
        let res = app
            .post(
                &[
                    ("authorization", auth.as_str()),
                    ("accept", "application/graphql-response+json, application/json, text/event-stream, multipart/mixed"),
                ],
                json!({ "query": ENDPOINTS }),
            )
            .await;
        assert_eq!(names(&res.body), ["Once"]);
    }
}

db_test! {
    async fn a_revoked_keys_live_query_ends_with_an_error(app) {
        let key = api_keys::system::create(&app.db, app.org.id, Mode::Test, "to revoke").await.expect("key");
        let mut ws = live_ws(&app, &key.plaintext, ENDPOINTS, json!({})).await;
        ws.next_payload().await;
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let revoked = Instant::now();
        app.graphql(
            &owner,
            "mutation($id: UUID!) { revokeApiKey(input: {id: $id}) { apiKey { revokedAt } } }",
            json!({ "id": key.key.id }),
        )
        .await
        .assert_ok();
        let payload = ws.next_payload().await;
        assert_eq!(payload["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{payload}");
        assert!(revoked.elapsed() < Duration::from_secs(2), "{:?}", revoked.elapsed());
        assert_eq!(ws.next_json().await.expect("complete")["type"], "complete");
    }
}

db_test! {
    async fn each_run_of_a_live_query_is_charged_as_a_run_of_the_query(app) {
        let key = app.org.test_key.clone();
        let mut ws = live_ws(&app, &key, ENDPOINTS, json!({})).await;
        ws.next_payload().await;
        for name in ["A", "B"] {
            app.create_ok(&key, webhook(name)).await;
        }
        // The run that lists both costs what the same query over HTTP costs now.
        let mut rerun = ws.next_payload().await;
        while names(&rerun).len() < 2 {
            rerun = ws.next_payload().await;
        }
        let over_http = app.graphql(&key, ENDPOINTS, json!({})).await;
        let cost = &rerun["extensions"]["cost"];
        assert_eq!(cost["actualQueryCost"], over_http.cost["actualQueryCost"], "{rerun} {}", over_http.cost);
        // Drawn from the bucket: what is left went down by at least that.
        let left = cost["throttleStatus"]["currentlyAvailable"].as_f64().expect("available");
        let full = cost["throttleStatus"]["maximumAvailable"].as_f64().expect("maximum");
        assert!(left < full, "{cost}");
    }
}

db_test! {
    async fn a_live_query_counts_against_the_subscription_limit(app) {
        let app = TestApp::builder(app.backend)
            .with_config(|c| c.events.max_subscriptions_per_credential = 1)
            .spawn()
            .await
            .expect("app");
        let mut ws = live_ws(&app, &app.org.test_key, ENDPOINTS, json!({})).await;
        ws.next_payload().await;
        ws.subscribe("2", ENDPOINTS, json!({})).await;
        let refused = ws.next_payload().await;
        assert_eq!(refused["errors"][0]["extensions"]["code"], "SUBSCRIPTION_LIMIT_EXCEEDED", "{refused}");
    }
}
