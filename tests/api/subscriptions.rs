//! Subscriptions over WebSocket (graphql-transport-ws and the legacy graphql-ws) and
//! server-sent events: changes arrive as they are committed, only the subscriber's
//! organization and mode, resumable with the last event id, ended when the credential goes.

use std::time::{Duration, Instant};

use cockpit_gateway::domain::{Mode, Role, api_keys, events, ids};
use futures_util::SinkExt as _;
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::helpers::*;
use crate::jwt::{claims, sign};
use crate::live::*;

fn webhook(name: &str) -> Value {
    json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/in" })
}

async fn rename(app: &TestApp, key: &str, id: &str, name: &str) {
    let res = app
        .update_endpoint(key, json!({ "id": id, "name": name }))
        .await;
    assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"], json!([]));
}

db_test! {
    async fn a_websocket_subscriber_sees_every_change_made_over_http(app) {
        let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        // Nothing is sent until something changes.
        ws.assert_silent(Duration::from_millis(300)).await;

        let created = app.create_ok(&app.org.test_key, webhook("First")).await;
        let id = created["id"].as_str().expect("id");
        let event = ws.next_event().await;
        assert_eq!(event["type"], "ENDPOINT_CREATED");
        assert_eq!(event["endpointId"], id);
        assert_eq!(event["endpoint"]["name"], "First");
        assert_eq!(event["event"]["actor"]["kind"], "API_KEY");
        assert!(event["event"]["actor"]["apiKeyPrefix"].as_str().is_some_and(|p| p.starts_with("kros_test_")));
        assert_eq!(event["event"]["after"]["name"], "First");

        rename(&app, &app.org.test_key, id, "Second").await;
        let event = ws.next_event().await;
        assert_eq!(event["type"], "ENDPOINT_UPDATED");
        assert_eq!(event["event"]["before"], json!({ "name": "First" }));
        assert_eq!(event["event"]["after"], json!({ "name": "Second" }));
        assert_eq!(event["endpoint"]["name"], "Second");

        app.delete_endpoint(&app.org.test_key, id).await.assert_ok();
        let event = ws.next_event().await;
        assert_eq!(event["type"], "ENDPOINT_DELETED");
        assert_eq!(event["endpoint"], Value::Null, "a deleted endpoint is null");
        assert_eq!(event["endpointId"], id);
    }
}

db_test! {
    async fn the_legacy_graphql_ws_protocol_delivers_the_same_events(app) {
        let mut ws = Ws::connect(
            &app.address,
            Protocol::Legacy,
            json!({ "x-api-key": app.org.test_key }),
        )
        .await;
        ws.subscribe("a", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.create_ok(&app.org.test_key, webhook("Legacy")).await;
        let message = ws.next_json().await.expect("a message");
        assert_eq!(message["type"], "data", "{message}");
        assert_eq!(message["id"], "a");
        assert_eq!(message["payload"]["data"]["endpointEvents"]["endpoint"]["name"], "Legacy");
        // Stopping it completes it.
        ws.send(json!({ "id": "a", "type": "stop" })).await;
        let message = ws.next_json().await.expect("a message");
        assert_eq!(message["type"], "complete");
    }
}

db_test! {
    async fn a_subscriber_sees_only_its_organization_and_mode(app) {
        let other = app.new_org("Other").await;
        let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Another organization's change, and this organization's live change: not for it.
        app.create_ok(&other.test_key, webhook("Theirs")).await;
        app.create_ok(&app.org.live_key, webhook("Live")).await;
        // A member's change (no mode): not for an API key either.
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        app.graphql(&owner, "mutation { addMember(input: {userId: \"someone\", role: VIEWER}) { userErrors { code } } }", json!({}))
            .await
            .assert_ok();
        // Its own test change comes, and is the first thing it sees: events arrive in order.
        app.create_ok(&app.org.test_key, webhook("Mine")).await;
        let event = ws.next_event().await;
        assert_eq!(event["endpoint"]["name"], "Mine");
        assert_eq!(event["endpoint"]["mode"], "TEST");
        ws.assert_silent(Duration::from_millis(300)).await;

        // A dashboard session sees both modes of its organization, and still nothing else.
        let mut session = Ws::connect(
            &app.address,
            Protocol::TransportWs,
            json!({ "headers": { "authorization": format!("Bearer {owner}") } }),
        )
        .await;
        session.subscribe("s", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.create_ok(&other.live_key, webhook("Theirs again")).await;
        app.create_ok(&app.org.live_key, webhook("Live again")).await;
        app.create_ok(&app.org.test_key, webhook("Test again")).await;
        assert_eq!(session.next_event().await["endpoint"]["name"], "Live again");
        assert_eq!(session.next_event().await["endpoint"]["name"], "Test again");
        session.assert_silent(Duration::from_millis(300)).await;
    }
}

db_test! {
    async fn a_filter_narrows_the_events_to_types_and_endpoints(app) {
        let watched = app.create_ok(&app.org.test_key, webhook("Watched")).await;
        let other = app.create_ok(&app.org.test_key, webhook("Other")).await;
        let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
        ws.subscribe(
            "1",
            ENDPOINT_EVENTS,
            json!({ "filter": { "types": ["ENDPOINT_UPDATED"], "endpointIds": [watched["id"]] } }),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.create_ok(&app.org.test_key, webhook("New")).await;
        rename(&app, &app.org.test_key, other["id"].as_str().expect("id"), "Other 2").await;
        rename(&app, &app.org.test_key, watched["id"].as_str().expect("id"), "Watched 2").await;
        let event = ws.next_event().await;
        assert_eq!(event["type"], "ENDPOINT_UPDATED");
        assert_eq!(event["endpoint"]["name"], "Watched 2");
        ws.assert_silent(Duration::from_millis(300)).await;

        // A type that isn't an endpoint's is refused.
        ws.subscribe("2", ENDPOINT_EVENTS, json!({ "filter": { "types": ["MEMBER_CREATED"] } })).await;
        let payload = ws.next_payload().await;
        assert_eq!(payload["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{payload}");
    }
}

db_test! {
    async fn a_client_that_reconnects_with_its_last_event_id_misses_nothing_and_sees_nothing_twice(app) {
        let key = app.org.test_key.clone();
        let mut ws = Ws::with_key(&app.address, &key).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let first = app.create_ok(&key, webhook("One")).await;
        let seen = ws.next_event().await;
        let last_id = seen["cursor"].as_str().expect("event cursor").to_owned();
        drop(ws);

        // While it is away: three changes.
        let id = first["id"].as_str().expect("id");
        rename(&app, &key, id, "Two").await;
        rename(&app, &key, id, "Three").await;
        app.create_ok(&key, webhook("Four")).await;

        let mut ws = Ws::with_key(&app.address, &key).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({ "after": last_id })).await;
        let missed: Vec<Value> = vec![ws.next_event().await, ws.next_event().await, ws.next_event().await];
        let names: Vec<&str> = missed.iter().map(|e| e["event"]["after"]["name"].as_str().unwrap_or_default()).collect();
        assert_eq!(names, ["Two", "Three", "Four"]);
        let ids: Vec<i64> = missed.iter().map(|e| app.seq_of(&e["cursor"])).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
        assert!(ids[0] > app.seq_of(&json!(last_id)));
        // Then live ones, with nothing repeated at the seam.
        app.create_ok(&key, webhook("Five")).await;
        assert_eq!(ws.next_event().await["event"]["after"]["name"], "Five");
        ws.assert_silent(Duration::from_millis(300)).await;

        // A cursor of no event of the organization is refused, and so is anything that isn't
        // a cursor (the event numbers clients once saw among them).
        for (id, after) in [("3", "-1"), ("4", "1e3"), ("5", "999999999"), ("6", "0"), ("7", "")] {
            ws.subscribe(id, ENDPOINT_EVENTS, json!({ "after": after })).await;
            let payload = ws.next_payload().await;
            assert_eq!(payload["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{after}: {payload}");
            let complete = ws.next_json().await.expect("complete");
            assert_eq!((complete["type"].as_str(), complete["id"].as_str()), (Some("complete"), Some(id)));
        }
        // A cursor of this organization past its last event (whose events retention deleted)
        // goes on from the last there is.
        let beyond = app.cursors().encode(app.org.id, 999_999_999);
        ws.subscribe("2", ENDPOINT_EVENTS, json!({ "after": beyond })).await;
        ws.assert_silent(Duration::from_millis(300)).await;
        app.create_ok(&key, webhook("Six")).await;
        assert_eq!(ws.next_event().await["event"]["after"]["name"], "Six");
    }
}

db_test! {
    async fn many_changes_committed_at_once_all_arrive_in_order(app) {
        let key = app.org.test_key.clone();
        let mut ws = Ws::with_key(&app.address, &key).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Concurrent writers: commits race, and each one's event still arrives once, in the
        // order the organization's events were numbered.
        let mut writers = tokio::task::JoinSet::new();
        for n in 0..20 {
            let (address, key) = (app.address.clone(), key.clone());
            writers.spawn(async move {
                let client = reqwest::Client::new();
                let res = client
                    .post(format!("{address}/graphql"))
                    .bearer_auth(key)
                    .json(&json!({ "query": CREATE.as_str(), "variables": { "input": webhook(&format!("n{n}")) } }))
                    .send()
                    .await
                    .expect("send");
                assert!(res.status().is_success());
            });
        }
        while writers.join_next().await.is_some() {}
        let mut ids = Vec::new();
        let mut names = std::collections::HashSet::new();
        for _ in 0..20 {
            let event = ws.next_event().await;
            ids.push(app.seq_of(&event["cursor"]));
            names.insert(event["event"]["after"]["name"].as_str().expect("name").to_owned());
        }
        assert_eq!(names.len(), 20, "each change once");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "in order: {ids:?}");
        ws.assert_silent(Duration::from_millis(300)).await;
    }
}

db_test! {
    async fn events_arrive_in_the_order_their_writes_committed_not_the_order_they_began(app) {
        // A write records its event and waits before it commits, while another write of the
        // organization commits: subscribers get the two in the order they committed, and a
        // client resuming after the first still gets the second. (Events numbered as they are
        // inserted, with writers that don't wait for each other, would place the slow write's
        // event before the other's, behind a position the subscriber had passed: it would
        // never arrive.)
        let key = app.org.test_key.clone();
        let mut ws = Ws::with_key(&app.address, &key).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let slow = events::Change::new(
            entity::enums::EventType::EndpointCreated,
            uuid::Uuid::new_v4(),
            Some(Mode::Test),
            None,
            Some(json!({ "name": "slow" })),
        );
        let txn = events::begin(&app.db, app.org.id, events::Writes::Beside)
            .await
            .expect("begin");
        events::record(&txn, events::Author::System, app.org.id, vec![slow])
            .await
            .expect("record");
        let (address, quick_key) = (app.address.clone(), key.clone());
        let mut quick = tokio::spawn(async move {
            let res = reqwest::Client::new()
                .post(format!("{address}/graphql"))
                .bearer_auth(quick_key)
                .json(&json!({ "query": CREATE.as_str(), "variables": { "input": webhook("quick") } }))
                .send()
                .await
                .expect("send");
            assert!(res.status().is_success());
        });
        // On PostgreSQL the quick write doesn't wait for the slow one; on SQLite it waits for
        // its write lock, so it commits second.
        let quick_first = tokio::time::timeout(Duration::from_secs(2), &mut quick).await.is_ok();
        assert_eq!(quick_first, app.backend == Backend::Postgres);
        events::commit(&app.db, txn, app.org.id).await.expect("commit");
        if !quick_first {
            quick.await.expect("the quick write");
        }
        let order = if quick_first { ["quick", "slow"] } else { ["slow", "quick"] };
        let first = ws.next_event().await;
        let second = ws.next_event().await;
        assert_eq!(
            [&first["event"]["after"]["name"], &second["event"]["after"]["name"]],
            order,
            "{first} {second}"
        );
        assert!(app.seq_of(&first["cursor"]) < app.seq_of(&second["cursor"]));
        // Resumed after the first, the second; the audit log, newest first.
        let mut resumed = Ws::with_key(&app.address, &key).await;
        resumed.subscribe("2", ENDPOINT_EVENTS, json!({ "after": first["cursor"] })).await;
        assert_eq!(resumed.next_event().await["event"]["after"]["name"], order[1]);
        resumed.assert_silent(Duration::from_millis(300)).await;
        let log = app
            .graphql(&key, "{ events(first: 2) { nodes { after } } }", json!({}))
            .await
            .body;
        assert_eq!(log["data"]["events"]["nodes"][0]["after"]["name"], order[1], "{log}");
        assert_eq!(log["data"]["events"]["nodes"][1]["after"]["name"], order[0], "{log}");
    }
}

db_test! {
    async fn server_sent_events_deliver_results_and_resume_from_last_event_id(app) {
        let key = app.org.test_key.clone();
        let auth = format!("Bearer {key}");
        let mut sse = Sse::post(&app.address, &[("authorization", &auth)], ENDPOINT_EVENTS, json!({})).await;
        assert_eq!(sse.response.status(), 200);
        assert!(
            sse.response.headers()["content-type"].to_str().expect("type").starts_with("text/event-stream")
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let endpoint = app.create_ok(&key, webhook("Streamed")).await;
        let (id, result) = sse.next_result().await;
        let id = id.expect("a subscription's message has an id");
        assert_eq!(result["data"]["endpointEvents"]["cursor"], id.as_str());
        assert_eq!(result["data"]["endpointEvents"]["endpoint"]["name"], "Streamed");
        drop(sse);

        let endpoint_id = endpoint["id"].as_str().expect("id");
        rename(&app, &key, endpoint_id, "Missed 1").await;
        rename(&app, &key, endpoint_id, "Missed 2").await;
        let mut sse = Sse::post(
            &app.address,
            &[("authorization", &auth), ("last-event-id", &id)],
            ENDPOINT_EVENTS,
            json!({}),
        )
        .await;
        let (first, one) = sse.next_result().await;
        let (second, two) = sse.next_result().await;
        assert_eq!(one["data"]["endpointEvents"]["event"]["after"]["name"], "Missed 1");
        assert_eq!(two["data"]["endpointEvents"]["event"]["after"]["name"], "Missed 2");
        assert!(app.seq_of(&json!(first.expect("id"))) < app.seq_of(&json!(second.expect("id"))));
        rename(&app, &key, endpoint_id, "Live").await;
        let (_, live) = sse.next_result().await;
        assert_eq!(live["data"]["endpointEvents"]["event"]["after"]["name"], "Live");

        // A malformed Last-Event-ID is refused before anything streams.
        let bad = Sse::post(&app.address, &[("authorization", &auth), ("last-event-id", "abc")], ENDPOINT_EVENTS, json!({})).await;
        assert_eq!(bad.response.status(), 400);
    }
}

db_test! {
    async fn an_event_source_can_subscribe_with_get_and_a_query_completes(app) {
        let key = app.org.test_key.clone();
        let auth = format!("Bearer {key}");
        let mut sse = Sse::get(&app.address, &[("authorization", &auth)], "subscription { endpointEvents { type endpoint { name } } }").await;
        assert_eq!(sse.response.status(), 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.create_ok(&key, webhook("By GET")).await;
        let (_, result) = sse.next_result().await;
        assert_eq!(result["data"]["endpointEvents"]["endpoint"]["name"], "By GET");

        // A query streams one result, then completes.
        let mut sse = Sse::post(&app.address, &[("authorization", &auth)], "{ viewer { mode } }", json!({})).await;
        let (id, result) = sse.next_result().await;
        assert_eq!(id, None);
        assert_eq!(result["data"]["viewer"]["mode"], "TEST");
        assert_eq!(sse.next().await.event, "complete");

        // A mutation is not sent by GET, even as an event stream.
        let mut sse = Sse::get(&app.address, &[("authorization", &auth)], "mutation { revokeApiKey(input: {id: \"00000000-0000-0000-0000-000000000000\"}) { userErrors { code } } }").await;
        let status = sse.response.status();
        assert_eq!(status, 405, "{:?}", sse.next_within(Duration::from_secs(1)).await);
    }
}

db_test! {
    async fn a_subscription_over_plain_http_is_refused_with_where_to_send_it(app) {
        // Over plain HTTP, for a client that takes no event stream.
        let auth = format!("Bearer {}", app.org.test_key);
        let res = app
            .post(
                &[("authorization", auth.as_str()), ("accept", "application/json")],
                json!({ "query": "subscription { endpointEvents { type } }" }),
            )
            .await;
        assert_eq!(res.status, 400, "{}", res.body);
        let message = res.body["errors"][0]["message"].as_str().expect("message");
        assert!(message.contains("WebSocket") && message.contains("text/event-stream"), "{message}");
    }
}

db_test! {
    async fn connection_init_is_held_to_the_rules_of_http_credentials(app) {
        // No credential, a wrong key, a key of another organization than named: 4403.
        for payload in [
            json!({}),
            json!({ "Authorization": "Bearer kros_test_00000000000000000000000000000000" }),
            json!({ "x-api-key": app.org.test_key, "x-organization-id": uuid::Uuid::new_v4().to_string() }),
            json!({ "Authorization": 42 }),
            json!({ "Authorization": format!("Bearer {}", app.org.test_key), "x-api-key": app.org.live_key }),
            // Flat and under `headers` are one set of headers: two credentials are two, and a
            // named organization counts wherever it is written.
            json!({ "Authorization": format!("Bearer {}", app.org.test_key), "headers": { "x-api-key": app.org.live_key } }),
            json!({ "Authorization": format!("Bearer {}", app.org.test_key), "headers": { "Authorization": format!("Bearer {}", app.org.live_key) } }),
            json!({ "x-api-key": app.org.test_key, "headers": { "x-organization-id": uuid::Uuid::new_v4().to_string() } }),
        ] {
            let mut ws = Ws::open(&app.address, Protocol::TransportWs).await;
            ws.send(json!({ "type": "connection_init", "payload": payload })).await;
            match ws.frame().await {
                Frame::Close(code, reason) => {
                    assert_eq!(code, 4403, "{payload}: {reason}");
                    assert!(!reason.is_empty());
                }
                other => panic!("{payload}: expected a close, got {other:?}"),
            }
        }
        // A subscribe before connection_init is refused too.
        let mut ws = Ws::open(&app.address, Protocol::TransportWs).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        assert!(matches!(ws.frame().await, Frame::Close(_, _) | Frame::Gone));
        // Without a GraphQL subprotocol there is no WebSocket.
        let res = reqwest::Client::new()
            .get(format!("{}/graphql", app.address))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 400);
    }
}

#[tokio::test]
async fn a_connection_that_never_initialises_is_closed_with_4408() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.server.header_read_timeout = Duration::from_millis(500))
        .spawn()
        .await
        .expect("SQLite");
    let mut ws = Ws::open(&app.address, Protocol::TransportWs).await;
    let started = Instant::now();
    match ws.frame().await {
        Frame::Close(code, _) => assert_eq!(code, 4408),
        other => panic!("expected 4408, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

db_test! {
    async fn a_revoked_keys_subscription_ends_with_an_error_within_two_seconds(app) {
        let key = api_keys::system::create(&app.db, app.org.id, Mode::Test, "to revoke").await.expect("key");
        let mut ws = Ws::with_key(&app.address, &key.plaintext).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
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
    async fn a_key_revoked_by_the_cli_ends_its_subscription_within_two_seconds(app) {
        let key = api_keys::system::create(&app.db, app.org.id, Mode::Test, "to revoke").await.expect("key");
        let mut ws = Ws::with_key(&app.address, &key.plaintext).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let revoked = Instant::now();
        // As `key revoke` does it: the domain's revocation, not through this gateway's HTTP.
        api_keys::system::revoke(&app.db, key.key.id).await.expect("revoke");
        let payload = ws.next_payload().await;
        assert_eq!(payload["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{payload}");
        assert!(revoked.elapsed() < Duration::from_secs(2), "{:?}", revoked.elapsed());
    }
}

db_test! {
    async fn a_key_revoked_out_of_sight_ends_every_subscription_it_holds_and_no_other(app) {
        use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, sea_query::Expr};
        let key = api_keys::system::create(&app.db, app.org.id, Mode::Test, "to revoke").await.expect("key");
        let kept = api_keys::system::create(&app.db, app.org.id, Mode::Test, "kept").await.expect("key");
        // Two connections of the key, two subscriptions each; one of another key.
        let mut revoked = Vec::new();
        for _ in 0..2 {
            let mut ws = Ws::with_key(&app.address, &key.plaintext).await;
            ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
            ws.subscribe("2", ENDPOINT_EVENTS, json!({})).await;
            revoked.push(ws);
        }
        let mut other = Ws::with_key(&app.address, &kept.plaintext).await;
        other.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Behind the gateway's back: no event, no notice, no count of revocations — only the
        // checks of running subscriptions can see it.
        entity::api_key::Entity::update_many()
            .col_expr(entity::api_key::Column::RevokedAt, Expr::value(chrono::Utc::now()))
            .filter(entity::api_key::Column::Id.eq(key.key.id))
            .exec(&app.db)
            .await
            .expect("revoke");
        let started = Instant::now();
        for ws in &mut revoked {
            let mut ended = std::collections::BTreeSet::new();
            while ended.len() < 2 {
                let message = ws.next_json().await.expect("a message");
                if message["type"] == "complete" {
                    continue;
                }
                assert_eq!(message["type"], "next", "{message}");
                let payload = &message["payload"];
                assert_eq!(payload["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{payload}");
                assert!(ended.insert(message["id"].as_str().expect("id").to_owned()), "{message}");
            }
        }
        // A remembered key is trusted for CREDENTIAL_TTL; each credential is checked each second.
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        app.create_ok(&kept.plaintext, webhook("Still heard")).await;
        assert_eq!(other.next_event().await["endpoint"]["name"], "Still heard");
    }
}

db_test! {
    async fn a_removed_members_subscription_ends_with_an_error(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let (user, token) = app.member(app.org.id, Role::Viewer).await;
        let mut ws = Ws::connect(&app.address, Protocol::TransportWs, json!({ "Authorization": format!("Bearer {token}") })).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // A viewer reads endpoints, so it sees their changes; who made them, and how, is the
        // audit log's, which viewers may not read.
        app.create_ok(&app.org.test_key, webhook("Seen")).await;
        let payload = ws.next_payload().await;
        let event = &payload["data"]["endpointEvents"];
        assert_eq!(event["endpoint"]["name"], "Seen");
        assert_eq!(event["type"], "ENDPOINT_CREATED");
        assert_eq!(event["event"], Value::Null, "{payload}");
        assert_eq!(payload["errors"][0]["extensions"]["code"], "FORBIDDEN", "{payload}");
        assert_eq!(payload["errors"][0]["path"], json!(["endpointEvents", "event"]));
        let members = app.graphql(&owner, "{ members(first: 100) { nodes { uuid userId } } }", json!({})).await;
        let member_id = members.assert_ok()["members"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|m| m["userId"] == user.as_str())
            .expect("the member")["uuid"]
            .clone();
        let removed = Instant::now();
        app.graphql(&owner, "mutation($id: UUID!) { removeMember(input: {memberId: $id}) { userErrors { code } } }", json!({ "id": member_id }))
            .await
            .assert_ok();
        let payload = ws.next_payload().await;
        assert_eq!(payload["errors"][0]["extensions"]["code"], "FORBIDDEN", "{payload}");
        assert!(removed.elapsed() < Duration::from_secs(2));
    }
}

/// The membership id of `user` in the app's organization, as `owner` reads it.
async fn membership_of(app: &TestApp, owner: &str, user: &str) -> Value {
    let members = app
        .graphql(
            owner,
            "{ members(first: 100) { nodes { uuid userId } } }",
            json!({}),
        )
        .await;
    members.assert_ok()["members"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|m| m["userId"] == user)
        .expect("the member")["uuid"]
        .clone()
}

async fn remove_member(app: &TestApp, owner: &str, user: &str) {
    let id = membership_of(app, owner, user).await;
    let res = app
        .graphql(
            owner,
            "mutation($id: UUID!) { removeMember(input: {memberId: $id}) { userErrors { code } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(res.assert_ok()["removeMember"]["userErrors"], json!([]));
}

async fn set_role(app: &TestApp, owner: &str, user: &str, role: &str) {
    let id = membership_of(app, owner, user).await;
    let res = app
        .graphql(owner, "mutation($id: UUID!, $role: Role!) { updateMemberRole(input: {memberId: $id, role: $role}) { userErrors { code } } }", json!({ "id": id, "role": role }))
        .await;
    assert_eq!(res.assert_ok()["updateMemberRole"]["userErrors"], json!([]));
}

async fn session_ws(app: &TestApp, token: &str) -> Ws {
    Ws::connect(
        &app.address,
        Protocol::TransportWs,
        json!({ "Authorization": format!("Bearer {token}") }),
    )
    .await
}

db_test! {
    async fn a_member_removed_and_added_back_resumes_after_the_last_event_it_saw(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let (user, token) = app.member(app.org.id, Role::Admin).await;
        let key = app.org.test_key.clone();
        let mut ws = session_ws(&app, &token).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.create_ok(&key, webhook("Before")).await;
        let last_id = ws.next_event().await["cursor"].as_str().expect("event cursor").to_owned();
        drop(ws);

        // Removed, a change while away, added back (with another role), a change since.
        remove_member(&app, &owner, &user).await;
        app.create_ok(&key, webhook("While away")).await;
        app.add_member(app.org.id, &user, Role::Admin).await;
        app.create_ok(&key, webhook("Back")).await;

        // The removal of the membership it had is history: the one it has now counts. What
        // committed while it was away comes too, as it would to any admin who asks after
        // `last_id` (the audit log is the organization's, not the member's).
        let mut ws = session_ws(&app, &token).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({ "after": last_id })).await;
        assert_eq!(ws.next_event().await["endpoint"]["name"], "While away");
        assert_eq!(ws.next_event().await["endpoint"]["name"], "Back");
        app.create_ok(&key, webhook("Live")).await;
        assert_eq!(ws.next_event().await["endpoint"]["name"], "Live");
        ws.assert_silent(Duration::from_millis(300)).await;

        // Over server-sent events, with Last-Event-ID, the same.
        let auth = format!("Bearer {token}");
        let mut sse = Sse::post(&app.address, &[("authorization", &auth), ("last-event-id", &last_id)], ENDPOINT_EVENTS, json!({})).await;
        assert_eq!(sse.response.status(), 200);
        for name in ["While away", "Back", "Live"] {
            let (_, result) = sse.next_result().await;
            assert_eq!(result["data"]["endpointEvents"]["endpoint"]["name"], name, "{result}");
        }

        // Removed again, for good: the running subscriptions end, and no new one starts.
        remove_member(&app, &owner, &user).await;
        let payload = ws.next_payload().await;
        assert_eq!(payload["errors"][0]["extensions"]["code"], "FORBIDDEN", "{payload}");
        let event = sse.next().await;
        assert!(event.data.contains("FORBIDDEN"), "{event:?}");
        let refused = Sse::post(&app.address, &[("authorization", &auth), ("last-event-id", &last_id)], ENDPOINT_EVENTS, json!({})).await;
        assert_eq!(refused.response.status(), 403);
    }
}

db_test! {
    async fn a_role_change_ends_only_a_subscription_that_needs_the_role_it_lost(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let (user, token) = app.member(app.org.id, Role::Admin).await;
        let key = app.org.test_key.clone();
        // One subscription reads the audit log's events, one only the endpoints.
        let mut audit = session_ws(&app, &token).await;
        audit.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        let plain_query = "subscription($after: String) { endpointEvents(after: $after) { id endpoint { name } } }";
        let mut plain = session_ws(&app, &token).await;
        plain.subscribe("1", plain_query, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.create_ok(&key, webhook("Admin's")).await;
        let seen = audit.next_event().await;
        assert_eq!(seen["event"]["after"]["name"], "Admin's");
        let last_id = seen["cursor"].as_str().expect("event cursor").to_owned();
        assert_eq!(plain.next_event().await["endpoint"]["name"], "Admin's");

        // A promotion takes nothing away.
        set_role(&app, &owner, &user, "OWNER").await;
        app.create_ok(&key, webhook("Owner's")).await;
        assert_eq!(audit.next_event().await["event"]["after"]["name"], "Owner's");
        assert_eq!(plain.next_event().await["endpoint"]["name"], "Owner's");

        // Demoted to viewer: the audit log is no longer theirs, endpoints still are.
        set_role(&app, &owner, &user, "VIEWER").await;
        let payload = audit.next_payload().await;
        assert_eq!(payload["errors"][0]["extensions"]["code"], "FORBIDDEN", "{payload}");
        assert!(payload["errors"][0]["message"].as_str().is_some_and(|m| m.contains("role")), "{payload}");
        app.create_ok(&key, webhook("Viewer's")).await;
        assert_eq!(plain.next_event().await["endpoint"]["name"], "Viewer's");

        // Resumed as a viewer: the role changes in between are history; each event comes
        // without its audit part, as a viewer gets any.
        let mut again = session_ws(&app, &token).await;
        again.subscribe("1", ENDPOINT_EVENTS, json!({ "after": last_id })).await;
        for name in ["Owner's", "Viewer's"] {
            let payload = again.next_payload().await;
            assert_eq!(payload["data"]["endpointEvents"]["endpoint"]["name"], name, "{payload}");
            assert_eq!(payload["data"]["endpointEvents"]["event"], Value::Null, "{payload}");
            assert_eq!(payload["errors"][0]["path"], json!(["endpointEvents", "event"]), "{payload}");
        }
        again.assert_silent(Duration::from_millis(300)).await;
    }
}

db_test! {
    async fn a_sessions_subscription_ends_when_its_token_expires(app) {
        let (user, _) = app.member(app.org.id, Role::Member).await;
        let mut expiring = claims(&user);
        let exp = chrono::Utc::now().timestamp() + 2;
        expiring["exp"] = json!(exp);
        let token = sign("rsa-1", Some("rsa-1"), &expiring);
        let mut ws = Ws::connect(&app.address, Protocol::TransportWs, json!({ "Authorization": format!("Bearer {token}") })).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        let payload = ws.next_payload().await;
        assert_eq!(payload["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{payload}");
        let now = chrono::Utc::now().timestamp_millis();
        assert!(now >= exp * 1000 && now < exp * 1000 + 1500, "ended at {now}, exp {exp}");
    }
}

db_test! {
    async fn a_subscription_selects_exactly_one_root_field(app) {
        let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
        for (n, query) in [
            "subscription { a: endpointEvents { id } b: endpointEvents { id } }",
            "subscription { endpointEvents { id } phoneNumberEvents { id } }",
            "subscription { ...Both } fragment Both on Subscription { endpointEvents { id } phoneNumberEvents { id } }",
            "subscription { endpointEvents { id } ... on Subscription { again: endpointEvents { id } } }",
            "subscription { __typename }",
            "subscription { endpointEvents { id } __typename }",
        ]
        .iter()
        .enumerate()
        {
            ws.subscribe(&n.to_string(), query, json!({})).await;
            let payload = ws.next_payload().await;
            assert_eq!(payload["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{query}: {payload}");
            // The protocol's `error` ends the operation: no `complete` follows.
            ws.assert_silent(Duration::from_millis(100)).await;
        }
        // The same field twice under one key is one root field.
        ws.subscribe("ok", "subscription { endpointEvents { id } endpointEvents { type } }", json!({})).await;
        ws.assert_silent(Duration::from_millis(300)).await;
        let auth = format!("Bearer {}", app.org.test_key);
        let sse = Sse::post(&app.address, &[("authorization", &auth)], "subscription { a: endpointEvents { id } b: endpointEvents { id } }", json!({})).await;
        assert_eq!(sse.response.status(), 200, "a request error is 200 under application/json");
        let body: Value = sse.response.json().await.expect("JSON");
        assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{body}");
    }
}

db_test! {
    async fn a_session_token_past_its_exp_starts_no_subscription(app) {
        let (user, _) = app.member(app.org.id, Role::Member).await;
        // Within the clock leeway a request still passes; a subscription would end at once.
        let mut expired = claims(&user);
        expired["exp"] = json!(chrono::Utc::now().timestamp() - 5);
        let token = sign("rsa-1", Some("rsa-1"), &expired);
        let mut ws = Ws::connect(&app.address, Protocol::TransportWs, json!({ "Authorization": format!("Bearer {token}") })).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({ "after": app.start_cursor() })).await;
        let payload = ws.next_payload().await;
        assert_eq!(payload["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{payload}");
        assert!(payload["data"].is_null(), "no history replayed: {payload}");
    }
}

#[tokio::test]
async fn a_subscription_pays_for_what_it_delivers() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.rate_limit.bucket_size = 60;
            c.rate_limit.restore_rate = 1;
        })
        .spawn()
        .await
        .expect("SQLite");
    insert_events(&app, 100, "{}").await;
    // Replaying the history costs what reading it would: the bucket runs out part way.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
    ws.subscribe(
        "1",
        "subscription($after: String) { endpointEvents(after: $after) { id endpoint { id name } } }",
        json!({ "after": app.start_cursor() }),
    )
    .await;
    let mut delivered = 0;
    loop {
        let payload = ws.next_payload().await;
        if let Some(code) = payload["errors"][0]["extensions"]["code"].as_str() {
            assert_eq!(code, "RATE_LIMITED", "{payload}");
            break;
        }
        delivered += 1;
        assert!(delivered < 100, "the whole history was delivered for free");
    }
    assert!(delivered > 0);
    assert_eq!(ws.next_json().await.expect("complete")["type"], "complete");
}

/// `count` test-mode endpoint events of the harness's organization, written straight to the
/// table (no endpoint behind them), with `data`.
async fn insert_events(app: &TestApp, count: usize, data: &str) {
    for _ in 0..count {
        app.db
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                app.db.get_database_backend(),
                match app.backend {
                    Backend::Sqlite => "INSERT INTO events (id, organization_id, mode, type, object_id, actor_kind, occurred_at, data) VALUES (?, ?, 'test', 'endpoint.created', ?, 'system', ?, ?)",
                    Backend::Postgres => "INSERT INTO events (id, organization_id, mode, type, object_id, actor_kind, occurred_at, data) VALUES ($1, $2, 'test', 'endpoint.created', $3, 'system', $4, $5)",
                },
                [
                    ids::new_id(ids::Kind::Event).into(),
                    app.org.id.into(),
                    uuid::Uuid::new_v4().into(),
                    chrono::Utc::now().into(),
                    serde_json::from_str::<Value>(data).expect("JSON").into(),
                ],
            ))
            .await
            .expect("an event");
    }
    // Numbered as a write's are once it has committed (on PostgreSQL).
    events::published(&app.db, app.org.id).await;
}

// A client that subscribes to replays and never reads holds no pooled connection: other
// organizations' requests are answered meanwhile.
db_test! {
    async fn a_client_that_never_reads_does_not_starve_the_database_pool(app) {
    let big = json!({ "after": { "name": "x".repeat(4000) } }).to_string();
    insert_events(&app, 400, &big).await;
    // Three keys, each with as many subscriptions as it may hold.
    let mut hogs = Vec::new();
    for k in 0..3 {
        let key = api_keys::system::create(&app.db, app.org.id, Mode::Test, &format!("hog {k}")).await.expect("key");
        let mut hog = Ws::open_small(&app.address, Protocol::TransportWs, 4096).await;
        hog.send(json!({ "type": "connection_init", "payload": { "x-api-key": key.plaintext } })).await;
        assert_eq!(hog.next_json().await.expect("ack")["type"], "connection_ack");
        for n in 0..25 {
            hog.subscribe(&n.to_string(), ENDPOINT_EVENTS, json!({ "after": app.start_cursor() })).await;
        }
        hogs.push(hog);
    }
    // They read nothing from here on.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let other = app.new_org("Bystander").await;
    for _ in 0..5 {
        let started = Instant::now();
        let res = app.graphql(&other.test_key, "{ endpoints { totalCount } viewer { mode } }", json!({})).await;
        res.assert_ok();
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }
    drop(hogs);
}
}

#[tokio::test]
async fn subscriptions_per_credential_are_bounded() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.events.max_subscriptions_per_credential = 2)
        .spawn()
        .await
        .expect("SQLite");
    let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
    ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
    ws.subscribe("2", ENDPOINT_EVENTS, json!({})).await;
    ws.assert_silent(Duration::from_millis(300)).await;
    // Another connection of the same key counts too.
    let mut other = Ws::with_key(&app.address, &app.org.test_key).await;
    other.subscribe("3", ENDPOINT_EVENTS, json!({})).await;
    let payload = other.next_payload().await;
    assert_eq!(
        payload["errors"][0]["extensions"]["code"], "SUBSCRIPTION_LIMIT_EXCEEDED",
        "{payload}"
    );
    // The protocol's `error` ends the operation: no `complete` follows.
    other.assert_silent(Duration::from_millis(200)).await;
    // Another credential is not held to this one's count.
    let mut live = Ws::with_key(&app.address, &app.org.live_key).await;
    live.subscribe("4", ENDPOINT_EVENTS, json!({})).await;
    live.assert_silent(Duration::from_millis(300)).await;
    // Ending one frees its place.
    ws.send(json!({ "id": "1", "type": "complete" })).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    other.subscribe("5", ENDPOINT_EVENTS, json!({})).await;
    other.assert_silent(Duration::from_millis(300)).await;
    app.create_ok(&app.org.test_key, webhook("Counted")).await;
    assert_eq!(other.next_event().await["endpoint"]["name"], "Counted");
    // Open: "2", "5" and the live key's "4"; /metrics says so.
    let metrics = reqwest::get(format!("{}/metrics", app.address))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.lines().any(|l| l == "cockpit_subscriptions_open 3"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_subscription_pays_its_cost_when_it_starts() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.rate_limit.bucket_size = 30;
            c.rate_limit.restore_rate = 1;
        })
        .spawn()
        .await
        .expect("SQLite");
    let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
    let mut refused = None;
    for n in 0..40 {
        ws.subscribe(
            &n.to_string(),
            "subscription { endpointEvents { id endpoint { id name url status } } }",
            json!({}),
        )
        .await;
        if let Some(Frame::Json(message)) = ws.frame_within(Duration::from_millis(200)).await {
            refused = Some((n, message));
            break;
        }
    }
    let (n, message) = refused.expect("the bucket runs out");
    assert!(
        n < 30,
        "each subscription costs at least one point: refused at {n}"
    );
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(
        message["payload"][0]["extensions"]["code"], "RATE_LIMITED",
        "{message}"
    );
}

#[tokio::test]
async fn a_websocket_counts_against_its_addresss_connections() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.server.max_connections_per_ip = 2)
        .spawn()
        .await
        .expect("SQLite");
    let _one = Ws::with_key(&app.address, &app.org.test_key).await;
    let _two = Ws::with_key(&app.address, &app.org.test_key).await;
    // Upgraded connections still hold their places: a third is closed at once.
    let url = format!("{}/graphql", app.address.replacen("http://", "ws://", 1));
    let third = tokio::time::timeout(
        Duration::from_secs(3),
        tokio_tungstenite::connect_async(url),
    )
    .await;
    assert!(
        matches!(third, Ok(Err(_))),
        "the third connection is refused"
    );
}

/// Two gateway processes on one PostgreSQL: a change through one reaches a subscriber of the
/// other within a second, through NOTIFY.
#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_change_through_one_process_reaches_a_subscriber_of_another_within_a_second_on_postgres()
{
    let app = TestApp::builder(Backend::Postgres)
        .spawn()
        .await
        .expect(POSTGRES_UNSET);
    let (mut first, first_address) = serve_process(&app.test_db, &[]).await;
    let (mut second, second_address) = serve_process(&app.test_db, &[]).await;
    let first_address = format!("http://{first_address}");
    let second_address = format!("http://{second_address}");
    let mut ws = Ws::with_key(&first_address, &app.org.test_key).await;
    ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = Vec::new();
    for n in 0..5 {
        let started = Instant::now();
        let res = reqwest::Client::new()
            .post(format!("{second_address}/graphql"))
            .bearer_auth(&app.org.test_key)
            .json(&json!({ "query": CREATE.as_str(), "variables": { "input": webhook(&format!("across {n}")) } }))
            .send()
            .await
            .expect("send");
        assert!(res.status().is_success());
        let event = ws.next_event().await;
        latencies.push(started.elapsed());
        assert_eq!(event["endpoint"]["name"], format!("across {n}"));
    }
    assert!(
        latencies.iter().all(|l| *l < Duration::from_secs(1)),
        "{latencies:?}"
    );
    let _ = first.kill();
    let _ = second.kill();
    let _ = first.wait();
    let _ = second.wait();
}

/// SIGTERM: an HTTP request in flight finishes, then subscriptions are closed with the
/// protocol's close code (1001 for a WebSocket; an event stream completes; a multipart one ends
/// with an error and its closing boundary), and the process
/// exits 0.
#[tokio::test]
async fn shutdown_closes_subscriptions_after_in_flight_requests_finish() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let app = TestApp::builder(Backend::Sqlite)
        .on(db.shared())
        .spawn()
        .await
        .expect("SQLite");
    let (mut child, address) = serve_process(&db, &[]).await;
    let address = format!("http://{address}");
    let mut ws = Ws::with_key(&address, &app.org.test_key).await;
    ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
    let auth = format!("Bearer {}", app.org.test_key);
    let mut sse = Sse::post(
        &address,
        &[("authorization", &auth)],
        ENDPOINT_EVENTS,
        json!({}),
    )
    .await;
    let mut parts = crate::multipart::Multipart::post(
        &address,
        &[("authorization", &auth)],
        ENDPOINT_EVENTS,
        json!({}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    match ws.frame().await {
        Frame::Close(code, _) => assert_eq!(code, 1001),
        other => panic!("expected 1001, got {other:?}"),
    }
    assert_eq!(sse.next().await.event, "complete");
    // Multipart subscriptions: an error the client raises, then the closing boundary.
    let crate::multipart::Part::Json(ending) = parts.next_part().await else {
        panic!("an error before the close");
    };
    assert_eq!(ending["payload"], Value::Null, "{ending}");
    assert_eq!(
        ending["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{ending}"
    );
    assert_eq!(parts.next_part().await, crate::multipart::Part::Closed);
    let exited = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert!(exited.success(), "{exited:?}");
}

db_test! {
    async fn a_subscribe_with_a_running_id_closes_the_connection_4409(app) {
        let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
        // An operation that completes frees its id.
        for _ in 0..2 {
            ws.subscribe("q", "{ viewer { mode } }", json!({})).await;
            let payload = ws.next_payload().await;
            assert_eq!(payload["data"]["viewer"]["mode"], "TEST", "{payload}");
            match ws.frame().await {
                Frame::Json(message) => assert_eq!((message["type"].as_str(), message["id"].as_str()), (Some("complete"), Some("q")), "{message}"),
                other => panic!("expected complete, got {other:?}"),
            }
        }
        // So does the client's `complete` of a running one.
        ws.subscribe("s", ENDPOINT_EVENTS, json!({})).await;
        ws.assert_silent(Duration::from_millis(200)).await;
        ws.send(json!({ "id": "s", "type": "complete" })).await;
        // (async-graphql acknowledges it with a `complete` of its own)
        if let Some(Frame::Json(message)) = ws.frame_within(Duration::from_millis(300)).await {
            assert_eq!(message["type"], "complete", "{message}");
        }
        ws.subscribe("s", ENDPOINT_EVENTS, json!({})).await;
        ws.assert_silent(Duration::from_millis(200)).await;
        // A running one's id is not taken again.
        ws.subscribe("s", ENDPOINT_EVENTS, json!({})).await;
        match ws.frame().await {
            Frame::Close(code, reason) => {
                assert_eq!(code, 4409, "{reason}");
                assert_eq!(reason, "Subscriber for s already exists");
            }
            other => panic!("expected close 4409, got {other:?}"),
        }
    }
}

/// The next frames of a refused connection: in the legacy protocol a `connection_error` saying
/// why, then (both protocols) the close; its code and reason.
async fn refusal(ws: &mut Ws) -> (u16, String) {
    if ws.protocol == Protocol::Legacy {
        match ws.frame().await {
            Frame::Json(message) => {
                assert_eq!(message["type"], "connection_error", "{message}");
                assert!(
                    message["payload"]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty()),
                    "{message}"
                );
            }
            other => panic!("expected connection_error, got {other:?}"),
        }
    }
    match ws.frame().await {
        Frame::Close(code, reason) => (code, reason),
        other => panic!("expected a close, got {other:?}"),
    }
}

/// `message` in `protocol`'s words: the legacy protocol starts and stops operations.
fn spoken(protocol: Protocol, mut message: Value) -> Value {
    if protocol == Protocol::Legacy {
        let legacy = match message["type"].as_str() {
            Some("subscribe") => "start",
            Some("complete") => "stop",
            _ => return message,
        };
        message["type"] = json!(legacy);
    }
    message
}

db_test! {
    async fn messages_before_the_ack_and_a_second_init_close_with_the_protocols_codes(app) {
        let credentials = json!({ "Authorization": format!("Bearer {}", app.org.test_key) });
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "{ viewer { mode } }" } });
        for protocol in [Protocol::TransportWs, Protocol::Legacy] {
            // An operation message before the ack is unauthorised (4401), never the server's
            // fault (1011); a message the protocol doesn't know is invalid (4400).
            for (message, code) in [
                (subscribe.clone(), 4401),
                (json!({ "id": "1", "type": "complete" }), 4401),
                (json!({ "id": "1", "type": "next", "payload": {} }), 4400),
                (json!({ "type": "whatever" }), 4400),
                (json!({ "id": "1" }), 4400),
                (json!(["connection_init"]), 4400),
            ] {
                let message = spoken(protocol, message);
                let mut ws = Ws::open(&app.address, protocol).await;
                ws.send(message.clone()).await;
                let (closed, reason) = refusal(&mut ws).await;
                assert_eq!(closed, code, "{protocol:?} {message}: {reason}");
                assert!(!reason.is_empty());
            }
            let mut ws = Ws::open(&app.address, protocol).await;
            ws.socket.send(WsMessage::Text("not json".into())).await.expect("send");
            assert_eq!(refusal(&mut ws).await.0, 4400, "{protocol:?}");

            // A second connection_init, before or after the ack, is one too many (4429).
            let mut ws = Ws::connect(&app.address, protocol, credentials.clone()).await;
            ws.send(json!({ "type": "connection_init", "payload": credentials })).await;
            assert_eq!(refusal(&mut ws).await, (4429, "Too many initialisation requests".to_owned()), "{protocol:?}");
            let mut ws = Ws::open(&app.address, protocol).await;
            for _ in 0..2 {
                ws.send(json!({ "type": "connection_init", "payload": credentials })).await;
            }
            assert_eq!(ws.next_json().await.expect("ack")["type"], "connection_ack");
            assert_eq!(refusal(&mut ws).await.0, 4429, "{protocol:?}");

            // A refused connection_init is 4403 (in the legacy protocol too, after its
            // connection_error, rather than a dropped socket).
            let mut ws = Ws::open(&app.address, protocol).await;
            ws.send(json!({ "type": "connection_init", "payload": {} })).await;
            assert_eq!(refusal(&mut ws).await.0, 4403, "{protocol:?}");
        }
        // graphql-transport-ws: a ping may come before the ack (answered, nothing closed).
        let mut ws = Ws::open(&app.address, Protocol::TransportWs).await;
        ws.send(json!({ "type": "ping" })).await;
        ws.send(json!({ "type": "connection_init", "payload": credentials })).await;
        assert_eq!(ws.next_json().await.expect("ack")["type"], "connection_ack");
        ws.send(subscribe).await;
        assert_eq!(ws.next_payload().await["data"]["viewer"]["mode"], "TEST");
    }
}

db_test! {
    async fn client_named_strings_past_their_bounds_close_the_websocket_4400(app) {
        let credentials = json!({ "Authorization": format!("Bearer {}", app.org.test_key) });
        let query = "{ viewer { mode } }";
        // At the bounds, an operation runs and its id is echoed whole.
        let id = "i".repeat(128);
        let many: serde_json::Map<String, Value> = (0..32).map(|i| (format!("{i:0>128}"), json!(1))).collect();
        for protocol in [Protocol::TransportWs, Protocol::Legacy] {
            let mut ws = Ws::connect(&app.address, protocol, credentials.clone()).await;
            ws.send(spoken(protocol, json!({ "id": id, "type": "subscribe", "payload": {
                "query": format!("query {} {query}", "N".repeat(1024)), "operationName": "N".repeat(1024), "extensions": many } }))).await;
            let message = ws.next_json().await.expect("a result");
            assert_eq!(message["id"], id.as_str(), "{protocol:?}");
            assert_eq!(message["payload"]["data"]["viewer"]["mode"], "TEST", "{protocol:?}: {message}");
        }
        let mut too_many = many.clone();
        too_many.insert("one more".to_owned(), json!(1));
        let operation = |id: Value, payload: Value| json!({ "id": id, "type": "subscribe", "payload": payload });
        let cases = [
            (operation(json!("i".repeat(129)), json!({ "query": query })), "`id` is 129 bytes long; the limit is 128 bytes"),
            (operation(json!("i".repeat(100_000)), json!({ "query": query })), "`id` is 100000 bytes long"),
            (json!({ "id": "c".repeat(129), "type": "complete" }), "`id` is 129 bytes long"),
            (operation(json!(""), json!({ "query": query })), "an empty `id`"),
            (operation(json!(7), json!({ "query": query })), "`id` must be a string"),
            (operation(json!("1"), json!({ "query": query, "operationName": "N".repeat(1025) })), "`operationName` is 1025 bytes long; the limit is 1024 bytes"),
            (operation(json!("1"), json!({ "documentId": "d".repeat(257) })), "`documentId` is 257 bytes long; the limit is 256 bytes"),
            (operation(json!("1"), json!({ "query": query, "extensions": too_many })), "`extensions` has 33 members; the limit is 32"),
            (operation(json!("1"), json!({ "query": query, "extensions": { "k".repeat(129): 1 } })), "named with 129 bytes; the limit is 128 bytes"),
            (operation(json!("1"), json!("{ viewer { mode } }")), "`payload` must be an object"),
        ];
        for (message, words) in cases {
            for protocol in [Protocol::TransportWs, Protocol::Legacy] {
                let message = spoken(protocol, message.clone());
                let mut ws = Ws::connect(&app.address, protocol, credentials.clone()).await;
                ws.send(message.clone()).await;
                let (code, reason) = refusal(&mut ws).await;
                assert_eq!(code, 4400, "{protocol:?} {words}: {reason}");
                assert!(reason.contains(words), "{protocol:?}: {reason}");
            }
        }
        // A binary message is held to the same rules.
        let mut ws = Ws::with_key(&app.address, &app.org.test_key).await;
        let long = operation(json!("i".repeat(10_000)), json!({ "query": query }));
        ws.socket.send(WsMessage::Binary(long.to_string().into_bytes().into())).await.expect("send");
        assert_eq!(refusal(&mut ws).await.0, 4400);
    }
}

db_test! {
    async fn a_cursor_of_another_organization_or_no_cursor_at_all_is_refused_on_every_transport(app) {
        let key = app.org.test_key.clone();
        let auth = format!("Bearer {key}");
        // A cursor of another organization, as its subscriber received it.
        let other = app.new_org("Other").await;
        let mut theirs = Ws::with_key(&app.address, &other.test_key).await;
        theirs.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.create_ok(&other.test_key, webhook("Theirs")).await;
        let foreign = theirs.next_event().await["cursor"].as_str().expect("cursor").to_owned();
        drop(theirs);
        // And one of this organization's, to show a good cursor still works beside them.
        app.create_ok(&key, webhook("Ours 1")).await;
        let ours = app.graphql(&key, "{ events(first: 1) { edges { cursor } } }", json!({})).await;
        let ours = ours.assert_ok()["events"]["edges"][0]["cursor"].as_str().expect("cursor").to_owned();
        app.create_ok(&key, webhook("Ours 2")).await;

        for protocol in [Protocol::TransportWs, Protocol::Legacy] {
            let mut ws = Ws::connect(&app.address, protocol, json!({ "Authorization": auth })).await;
            for (n, (after, says)) in [
                (foreign.as_str(), "not a cursor of this organization's events"),
                ("12", "not an event cursor"),
                ("", "not an event cursor"),
                ("not a cursor", "not an event cursor"),
            ]
            .into_iter()
            .enumerate()
            {
                ws.subscribe(&n.to_string(), ENDPOINT_EVENTS, json!({ "after": after })).await;
                let payload = ws.next_payload().await;
                assert_eq!(payload["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{protocol:?} {after}: {payload}");
                let message = payload["errors"][0]["message"].as_str().unwrap_or_default();
                assert!(message.contains("`after`") && message.contains(says), "{protocol:?} {after}: {message}");
                assert_eq!(ws.next_json().await.expect("complete")["type"], "complete", "{protocol:?}");
            }
            ws.subscribe("ok", ENDPOINT_EVENTS, json!({ "after": ours })).await;
            assert_eq!(ws.next_event().await["event"]["after"]["name"], "Ours 2", "{protocol:?}");
        }

        // Server-sent events: another organization's Last-Event-ID ends the stream with the
        // same error; one that is no cursor is refused before it starts.
        let mut sse = Sse::post(&app.address, &[("authorization", &auth), ("last-event-id", &foreign)], ENDPOINT_EVENTS, json!({})).await;
        assert_eq!(sse.response.status(), 200);
        let (id, result) = sse.next_result().await;
        assert_eq!(id, None);
        assert_eq!(result["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{result}");
        assert!(result["errors"][0]["message"].as_str().is_some_and(|m| m.contains("`Last-Event-ID`")), "{result}");
        assert_eq!(sse.next().await.event, "complete");
        for bad in ["12", "not a cursor", &format!("{ours}=")] {
            let refused = Sse::post(&app.address, &[("authorization", &auth), ("last-event-id", bad)], ENDPOINT_EVENTS, json!({})).await;
            assert_eq!(refused.response.status(), 400, "{bad}");
            let body: Value = refused.response.json().await.expect("JSON");
            assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{bad}: {body}");
        }
        let mut sse = Sse::post(&app.address, &[("authorization", &auth), ("last-event-id", &ours)], ENDPOINT_EVENTS, json!({})).await;
        let (id, result) = sse.next_result().await;
        assert_eq!(result["data"]["endpointEvents"]["event"]["after"]["name"], "Ours 2");
        assert_eq!(id.as_deref(), result["data"]["endpointEvents"]["cursor"].as_str());
    }
}

db_test! {
    async fn a_subscribers_cursors_do_not_move_with_another_organizations_writes(app) {
        let key = app.org.test_key.clone();
        let other = app.new_org("Busy").await;
        let mut ws = Ws::with_key(&app.address, &key).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let endpoint = app.create_ok(&key, webhook("Mine")).await;
        let first = ws.next_event().await;
        for n in 0..5 {
            app.create_ok(&other.test_key, webhook(&format!("Theirs {n}"))).await;
        }
        rename(&app, &key, endpoint["id"].as_str().expect("id"), "Mine 2").await;
        let second = ws.next_event().await;
        let (c1, c2) = (first["cursor"].as_str().expect("cursor"), second["cursor"].as_str().expect("cursor"));
        assert!(app.seq_of(&second["cursor"]) - app.seq_of(&first["cursor"]) > 5, "shared numbering");
        // Opaque, of one length, and not a number: nothing to subtract.
        for cursor in [c1, c2] {
            assert_eq!(cursor.len(), 22, "{cursor}");
            assert!(cursor.parse::<i64>().is_err(), "{cursor}");
        }
        // Resuming after the first (as WebSocket `after`) misses nothing of this organization
        // and shows nothing of the other's.
        let mut again = Ws::with_key(&app.address, &key).await;
        again.subscribe("1", ENDPOINT_EVENTS, json!({ "after": c1 })).await;
        let resumed = again.next_event().await;
        assert_eq!((&resumed["cursor"], &resumed["id"]), (&second["cursor"], &second["id"]));
        again.assert_silent(Duration::from_millis(300)).await;
    }
}

/// A gateway whose rate-limit bucket two dozen subscribers' results don't drain, configured
/// further by `configure`.
async fn with_roomy_bucket(
    backend: Backend,
    configure: impl FnOnce(&mut cockpit_gateway::config::Config),
) -> TestApp {
    let Some(app) = TestApp::builder(backend)
        .with_config(|c| {
            c.rate_limit.bucket_size = 1_000_000;
            c.rate_limit.restore_rate = 1_000_000;
            configure(c);
        })
        .spawn()
        .await
    else {
        panic!("{POSTGRES_UNSET}");
    };
    app
}

/// Subscribers that start while changes are being made each get every change from some point
/// on, in order, none twice and none skipped; one that resumes nowhere reads no history.
async fn subscribers_starting_amid_changes_get_every_change_after_their_start(backend: Backend) {
    const CHANGES: usize = 40;
    let app = with_roomy_bucket(backend, |_| {}).await;
    let key = app.org.test_key.clone();
    let writes = async {
        for n in 0..CHANGES {
            app.create_ok(&key, webhook(&format!("amid {n:02}"))).await;
        }
    };
    let opens = async {
        let mut sockets = Vec::new();
        for _ in 0..6 {
            let mut ws = Ws::with_key(&app.address, &key).await;
            for id in 0..4 {
                ws.subscribe(&id.to_string(), ENDPOINT_EVENTS, json!({}))
                    .await;
            }
            sockets.push(ws);
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        sockets
    };
    let ((), mut sockets) = tokio::join!(writes, opens);
    let mut started_amid = 0;
    for ws in &mut sockets {
        let mut seen: std::collections::HashMap<String, Vec<usize>> = Default::default();
        while let Some(frame) = ws.frame_within(Duration::from_millis(700)).await {
            let Frame::Json(message) = frame else {
                panic!("the connection ended: {frame:?}");
            };
            assert_eq!(message["type"], "next", "{message}");
            let name = message["payload"]["data"]["endpointEvents"]["endpoint"]["name"]
                .as_str()
                .unwrap_or_else(|| panic!("{message}"));
            let n: usize = name.trim_start_matches("amid ").parse().expect("a number");
            let id = message["id"].as_str().expect("id").to_owned();
            seen.entry(id).or_default().push(n);
        }
        for (id, got) in seen {
            let from = got[0];
            assert_eq!(
                got,
                (from..CHANGES).collect::<Vec<_>>(),
                "subscription {id}"
            );
            started_amid += usize::from(from > 0);
        }
    }
    // The race was run: some started after the first change.
    assert!(started_amid > 0);
}

#[tokio::test]
async fn subscribers_starting_amid_changes_get_every_change_after_their_start_on_sqlite() {
    subscribers_starting_amid_changes_get_every_change_after_their_start(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn subscribers_starting_amid_changes_get_every_change_after_their_start_on_postgres() {
    subscribers_starting_amid_changes_get_every_change_after_their_start(Backend::Postgres).await;
}

/// A client that stops reading with many subscriptions on one connection, while changes are
/// made, gets messages again once it reads: each subscription's results, in order, either all
/// of them or up to where it fell behind and then its SLOW_CONSUMER ending; and the connection
/// still answers. Its subscriptions and async-graphql's own messages share the connection's
/// queue: the subscriptions used to take every place in its line and stop the connection for
/// good.
async fn a_paused_client_with_many_subscriptions_is_answered_when_it_reads(backend: Backend) {
    const SUBSCRIPTIONS: usize = 24;
    const CHANGES: usize = 250;
    let app = with_roomy_bucket(backend, |c| c.events.subscription_buffer = 8).await;
    let key = app.org.test_key.clone();
    let id = app.create_ok(&key, webhook("Paused")).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut ws = Ws::open_small(&app.address, Protocol::TransportWs, 4096).await;
    ws.send(json!({ "type": "connection_init", "payload": { "x-api-key": key } }))
        .await;
    assert_eq!(ws.next_json().await.expect("ack")["type"], "connection_ack");
    for n in 0..SUBSCRIPTIONS {
        ws.subscribe(&n.to_string(), ENDPOINT_EVENTS, json!({}))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The client reads nothing meanwhile.
    for n in 0..CHANGES {
        rename(&app, &key, &id, &format!("renamed {n}")).await;
    }
    let mut results = [0usize; SUBSCRIPTIONS];
    let mut ended = [false; SUBSCRIPTIONS];
    while let Some(frame) = ws.frame_within(Duration::from_secs(3)).await {
        let Frame::Json(message) = frame else {
            panic!("the connection ended: {frame:?}");
        };
        let n: usize = message["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("an id");
        assert!(!ended[n], "after its end: {message}");
        match message["type"].as_str() {
            Some("next") if message["payload"]["errors"].is_null() => {
                let name = &message["payload"]["data"]["endpointEvents"]["event"]["after"]["name"];
                assert_eq!(*name, json!(format!("renamed {}", results[n])), "{message}");
                results[n] += 1;
            }
            Some("next") => assert_eq!(
                message["payload"]["errors"][0]["extensions"]["code"], "SLOW_CONSUMER",
                "{message}"
            ),
            Some("complete") => ended[n] = true,
            _ => panic!("unexpected: {message}"),
        }
    }
    for n in 0..SUBSCRIPTIONS {
        assert!(
            results[n] == CHANGES || ended[n],
            "subscription {n}: {} results, not ended",
            results[n]
        );
    }
    // The connection still answers.
    ws.send(json!({ "id": "q", "type": "subscribe", "payload": { "query": "{ __typename }" } }))
        .await;
    let answer = ws.next_json().await.expect("an answer");
    assert_eq!(answer["payload"]["data"]["__typename"], "Query", "{answer}");
}

#[tokio::test]
async fn a_paused_client_with_many_subscriptions_is_answered_when_it_reads_on_sqlite() {
    a_paused_client_with_many_subscriptions_is_answered_when_it_reads(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_paused_client_with_many_subscriptions_is_answered_when_it_reads_on_postgres() {
    a_paused_client_with_many_subscriptions_is_answered_when_it_reads(Backend::Postgres).await;
}

/// Operations of one connection that wait on the database while they run hold none of the
/// places among the operations starting at once: with more such queries waiting than a
/// connection starts at once, what needs no database is still answered at once, and every
/// waiting one is answered once the database lets them through.
#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn queries_waiting_on_the_database_hold_no_place_among_those_starting() {
    // More than a connection starts at once (16), at most what the pool holds and one more.
    const WAITING: usize = 17;
    let app = with_roomy_bucket(Backend::Postgres, |_| {}).await;
    let key = app.org.test_key.clone();
    let mut ws = Ws::with_key(&app.address, &key).await;
    let blocker = sea_orm::TransactionTrait::begin(&app.pool)
        .await
        .expect("begin");
    blocker
        .execute_unprepared("LOCK TABLE endpoints IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock");
    for n in 0..WAITING {
        ws.subscribe(
            &format!("waiting {n}"),
            "{ endpoints(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    }
    // Every one of them has asked for its place before this does.
    tokio::time::sleep(Duration::from_millis(500)).await;
    ws.subscribe("at once", "{ __typename }", json!({})).await;
    let answer = ws
        .frame_within(Duration::from_secs(3))
        .await
        .expect("answered while the others wait");
    let Frame::Json(answer) = answer else {
        panic!("{answer:?}");
    };
    assert_eq!(answer["id"], "at once", "{answer}");
    assert_eq!(answer["payload"]["data"]["__typename"], "Query", "{answer}");
    blocker.rollback().await.expect("rollback");
    let mut answered = std::collections::HashSet::new();
    while answered.len() < WAITING {
        let Some(Frame::Json(message)) = ws.frame_within(Duration::from_secs(10)).await else {
            panic!("{} of {WAITING} answered", answered.len());
        };
        let id = message["id"].as_str().unwrap_or_default().to_owned();
        match message["type"].as_str() {
            Some("next") if id.starts_with("waiting") => {
                assert!(
                    message["payload"]["data"]["endpoints"]["edges"].is_array(),
                    "{message}"
                );
                answered.insert(id);
            }
            Some("complete") => {}
            _ => panic!("unexpected: {message}"),
        }
    }
}
