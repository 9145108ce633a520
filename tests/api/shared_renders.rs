//! Subscribers alike share one render of each event: the subscription's selection resolved
//! once for every subscriber whose result is the same, never for one whose result differs (a
//! role that may not read the audit log, another document), and each subscriber still gets
//! only what it may see.

use std::time::Duration;

use cockpit_gateway::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live::*;
use crate::ops::{sample, scrape};

fn webhook(name: &str) -> Value {
    json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/in" })
}

const RENDERS: &str = "cockpit_subscription_renders_total";
const DELIVERIES: &str = "cockpit_subscription_deliveries_total";

async fn counts(app: &TestApp) -> (f64, f64) {
    let text = scrape(app).await;
    (
        sample(&text, RENDERS).unwrap_or_else(|| panic!("no {RENDERS} in\n{text}")),
        sample(&text, DELIVERIES).unwrap_or_else(|| panic!("no {DELIVERIES} in\n{text}")),
    )
}

/// Waits until the metrics count `renders` and `deliveries` more than `before`, or fails.
async fn assert_counted(app: &TestApp, before: (f64, f64), renders: f64, deliveries: f64) {
    let mut now = counts(app).await;
    for _ in 0..50 {
        if now.1 - before.1 >= deliveries {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        now = counts(app).await;
    }
    assert_eq!(
        (now.0 - before.0, now.1 - before.1),
        (renders, deliveries),
        "renders and deliveries"
    );
}

db_test! {
    async fn subscribers_alike_share_one_render_of_each_event_over_every_transport(app) {
        let key = app.org.test_key.clone();
        let mut sockets = Vec::new();
        for protocol in [Protocol::TransportWs, Protocol::TransportWs, Protocol::Legacy] {
            let mut ws = Ws::connect(&app.address, protocol, json!({ "x-api-key": key })).await;
            ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
            sockets.push(ws);
        }
        let auth = format!("Bearer {key}");
        let mut sse = Sse::post(&app.address, &[("authorization", auth.as_str())], ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        let before = counts(&app).await;
        let created = app.create_ok(&key, webhook("Shared")).await;
        let id = created["id"].as_str().expect("id");
        let mut payloads = Vec::new();
        for ws in &mut sockets {
            payloads.push(ws.next_payload().await);
        }
        let (event_id, data) = sse.next_result().await;
        payloads.push(data);
        for payload in &payloads {
            let event = &payload["data"]["endpointEvents"];
            assert_eq!(event["endpointId"], id, "{payload}");
            assert_eq!(event["endpoint"]["name"], "Shared", "{payload}");
            assert_eq!(event["event"]["after"]["name"], "Shared", "{payload}");
            assert!(payload.get("errors").is_none(), "{payload}");
            // Each subscriber's own cost report; the render's charge marker never leaks.
            assert!(payload["extensions"]["cost"]["actualQueryCost"].as_u64().is_some(), "{payload}");
            assert!(!payload.to_string().contains("cockpit"), "{payload}");
        }
        assert_eq!(
            event_id.as_deref(),
            payloads[0]["data"]["endpointEvents"]["cursor"].as_str(),
            "server-sent events name each message by its event's cursor"
        );
        assert_counted(&app, before, 1.0, 4.0).await;

        // A subscriber of another document renders for itself; the others still share.
        let mut other = Ws::with_key(&app.address, &key).await;
        other
            .subscribe("1", "subscription { endpointEvents { type endpoint { name } } }", json!({}))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = counts(&app).await;
        app.create_ok(&key, webhook("Again")).await;
        for ws in &mut sockets {
            assert_eq!(ws.next_event().await["endpoint"]["name"], "Again");
        }
        assert_eq!(sse.next_result().await.1["data"]["endpointEvents"]["endpoint"]["name"], "Again");
        let payload = other.next_payload().await;
        assert_eq!(
            payload["data"],
            json!({ "endpointEvents": { "type": "ENDPOINT_CREATED", "endpoint": { "name": "Again" } } }),
            "{payload}"
        );
        assert_counted(&app, before, 2.0, 5.0).await;
    }
}

db_test! {
    async fn subscribers_who_may_read_differently_never_share_a_render(app) {
        let other = app.new_org("Other").await;
        let (_, viewer) = app.member(app.org.id, Role::Viewer).await;
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let session = |token: &str| json!({ "headers": { "authorization": format!("Bearer {token}") } });
        // The same document for all: a viewer first, then an owner, keys of both modes and a
        // key of another organization.
        let mut viewing = Ws::connect(&app.address, Protocol::TransportWs, session(&viewer)).await;
        viewing.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        let mut owning = Ws::connect(&app.address, Protocol::TransportWs, session(&owner)).await;
        owning.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        let mut test_key = Ws::with_key(&app.address, &app.org.test_key).await;
        test_key.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        let mut live_key = Ws::with_key(&app.address, &app.org.live_key).await;
        live_key.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        let mut theirs = Ws::with_key(&app.address, &other.test_key).await;
        theirs.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        for round in 0..2 {
            let name = format!("Round {round}");
            let before = counts(&app).await;
            app.create_ok(&app.org.test_key, webhook(&name)).await;
            // The viewer: the endpoint, not the audit log's part.
            let payload = viewing.next_payload().await;
            assert_eq!(payload["data"]["endpointEvents"]["endpoint"]["name"], name.as_str(), "{payload}");
            assert_eq!(payload["data"]["endpointEvents"]["event"], Value::Null, "{payload}");
            assert_eq!(payload["errors"][0]["extensions"]["code"], "FORBIDDEN", "{payload}");
            // The owner and the test key: the whole event.
            for ws in [&mut owning, &mut test_key] {
                let payload = ws.next_payload().await;
                assert_eq!(payload["data"]["endpointEvents"]["event"]["after"]["name"], name.as_str(), "{payload}");
                assert!(payload.get("errors").is_none(), "{payload}");
            }
            // Another mode, another organization: nothing.
            live_key.assert_silent(Duration::from_millis(200)).await;
            theirs.assert_silent(Duration::from_millis(200)).await;
            // The viewer's, the owner's and the key's results are three renders.
            assert_counted(&app, before, 3.0, 3.0).await;
        }
    }
}

db_test! {
    async fn a_subscriber_catching_up_gets_objects_as_they_are_now_not_a_live_render(app) {
        let key = app.org.test_key.clone();
        let auth = format!("Bearer {key}");
        let query = "subscription($after: String) { endpointEvents(after: $after) { type cursor endpoint { name } } }";
        let mut live = Sse::post(&app.address, &[("authorization", auth.as_str())], query, json!({})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let created = app.create_ok(&key, webhook("Original")).await;
        let id = created["id"].as_str().expect("id").to_owned();
        let first = live.next_result().await.1;
        assert_eq!(first["data"]["endpointEvents"]["endpoint"]["name"], "Original", "{first}");
        let after_first = first["data"]["endpointEvents"]["cursor"].as_str().expect("cursor").to_owned();
        app.update_endpoint(&key, json!({ "id": id, "name": "Changed" })).await.assert_ok();
        assert_eq!(live.next_result().await.1["data"]["endpointEvents"]["endpoint"]["name"], "Changed");
        app.delete_endpoint(&key, &id).await.assert_ok();
        assert_eq!(live.next_result().await.1["data"]["endpointEvents"]["endpoint"], Value::Null);

        // The same document (and variables), resuming after the first event while the live
        // subscriber still holds the shape: each event's endpoint as it is now (deleted), as
        // any replay reads it, not the render made when the event was live.
        let headers = [("authorization", auth.as_str()), ("last-event-id", after_first.as_str())];
        let mut late = Sse::post(&app.address, &headers, query, json!({})).await;
        for kind in ["ENDPOINT_UPDATED", "ENDPOINT_DELETED"] {
            let payload = late.next_result().await.1;
            assert_eq!(payload["data"]["endpointEvents"]["type"], kind, "{payload}");
            assert_eq!(payload["data"]["endpointEvents"]["endpoint"], Value::Null, "{payload}");
        }
        drop(live);
    }
}

db_test! {
    /// However a subscribe message spells its extensions (none, `null`, `{}`, a client's own
    /// `cockpitOperationId`), each subscription gets the shared render's result, whole, under
    /// its own id, on either protocol.
    async fn a_shared_render_reaches_every_subscriber_whole_however_it_subscribed(app) {
        let key = app.org.test_key.clone();
        let spellings = [
            None,
            Some(Value::Null),
            Some(json!({})),
            Some(json!({ "cockpitOperationId": "someone else" })),
        ];
        let mut sockets = Vec::new();
        for protocol in [Protocol::TransportWs, Protocol::Legacy] {
            let mut ws = Ws::connect(&app.address, protocol, json!({ "x-api-key": key })).await;
            let kind = if protocol == Protocol::TransportWs { "subscribe" } else { "start" };
            for (n, extensions) in spellings.iter().enumerate() {
                let mut payload = json!({ "query": ENDPOINT_EVENTS });
                if let Some(extensions) = extensions {
                    payload["extensions"] = extensions.clone();
                }
                ws.send(json!({ "id": format!("op \"{n}\""), "type": kind, "payload": payload })).await;
            }
            sockets.push(ws);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let created = app.create_ok(&app.org.test_key, webhook("Spelled")).await;
        for ws in &mut sockets {
            let mut ids = Vec::new();
            for _ in 0..spellings.len() {
                let message = ws.next_json().await.expect("a result");
                let payload = &message["payload"];
                assert_eq!(payload["data"]["endpointEvents"]["endpoint"]["id"], created["id"], "{message}");
                let extensions = payload["extensions"].as_object().expect("extensions");
                assert_eq!(extensions.keys().collect::<Vec<_>>(), ["cost"], "{message}");
                ids.push(message["id"].as_str().expect("an id").to_owned());
            }
            ids.sort();
            assert_eq!(ids, (0..spellings.len()).map(|n| format!("op \"{n}\"")).collect::<Vec<_>>());
        }
    }
}
