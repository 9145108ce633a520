//! A resume from before what retention kept ends with `EVENTS_EXPIRED` on every streaming
//! transport, instead of silently skipping the deleted events; the last deleted event's cursor
//! still resumes; one organization's or mode's deletions expire nobody else's cursors.

use std::time::Duration;

use cockpit_gateway::domain::{Mode, Role, events, ids};
use sea_orm::ConnectionTrait as _;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live::*;
use crate::multipart::{Multipart, Part};

fn webhook(name: &str) -> Value {
    json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/in" })
}

/// The caller's latest events, newest first: each one's cursor and time.
async fn latest(
    app: &TestApp,
    key: &str,
    first: u32,
) -> Vec<(String, chrono::DateTime<chrono::Utc>)> {
    let res = app
        .graphql(
            key,
            "query($first: Int) { events(first: $first) { nodes { cursor occurredAt } } }",
            json!({ "first": first }),
        )
        .await;
    res.assert_ok()["events"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            let at = chrono::DateTime::parse_from_rfc3339(n["occurredAt"].as_str().expect("time"))
                .expect("RFC 3339");
            (
                n["cursor"].as_str().expect("cursor").to_owned(),
                at.to_utc(),
            )
        })
        .collect()
}

/// Renames the endpoint, a millisecond apart from the change before.
async fn rename(app: &TestApp, key: &str, id: &str, name: &str) {
    tokio::time::sleep(Duration::from_millis(3)).await;
    let res = app
        .update_endpoint(key, json!({ "id": id, "name": name }))
        .await;
    assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"], json!([]));
}

fn assert_expired(payload: &Value, what: &str) {
    let error = &payload["errors"][0];
    assert_eq!(
        error["extensions"]["code"], "EVENTS_EXPIRED",
        "{what}: {payload}"
    );
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("retention") && message.contains("without `after`"),
        "{what}: {message}"
    );
    assert!(
        payload["data"].is_null() || payload["data"]["endpointEvents"].is_null(),
        "{what}: nothing delivered: {payload}"
    );
}

db_test! {
    async fn a_resume_from_before_what_retention_kept_ends_with_events_expired_on_every_transport(app) {
        let key = app.org.test_key.clone();
        let auth = format!("Bearer {key}");
        let endpoint = app.create_ok(&key, webhook("One")).await;
        let endpoint_id = endpoint["id"].as_str().expect("id");
        rename(&app, &key, endpoint_id, "Two").await;
        rename(&app, &key, endpoint_id, "Three").await;
        let newest = latest(&app, &key, 3).await;
        let [(kept, kept_at), (boundary, _), (before, _)] = &newest[..] else { panic!("{newest:?}") };
        // Everything up to "Two" goes: "One" and all before it.
        let deleted = events::purge_older_than(&app.db, *kept_at, 500).await.expect("purge");
        assert!(deleted >= 2, "{deleted}");
        assert_eq!(latest(&app, &key, 10).await.len(), 1, "only \"Three\" is kept");

        // A cursor before the last deleted event: refused on every transport.
        for protocol in [Protocol::TransportWs, Protocol::Legacy] {
            let mut ws = Ws::connect(&app.address, protocol, json!({ "Authorization": auth })).await;
            ws.subscribe("old", ENDPOINT_EVENTS, json!({ "after": before })).await;
            assert_expired(&ws.next_payload().await, &format!("{protocol:?}"));
            assert_eq!(ws.next_json().await.expect("complete")["type"], "complete", "{protocol:?}");
            // The last deleted event itself is a good place: all after it is kept.
            ws.subscribe("boundary", ENDPOINT_EVENTS, json!({ "after": boundary })).await;
            let event = ws.next_event().await;
            assert_eq!((&event["cursor"], &event["endpoint"]["name"]), (&json!(kept), &json!("Three")), "{protocol:?}");
            ws.assert_silent(Duration::from_millis(200)).await;
        }
        // Server-sent events, by Last-Event-ID and by `after`.
        for (headers, variables) in [
            (vec![("authorization", auth.as_str()), ("last-event-id", before.as_str())], json!({})),
            (vec![("authorization", auth.as_str())], json!({ "after": before })),
        ] {
            let mut sse = Sse::post(&app.address, &headers, ENDPOINT_EVENTS, variables.clone()).await;
            assert_eq!(sse.response.status(), 200);
            let (id, result) = sse.next_result().await;
            assert_eq!(id, None, "{variables}");
            assert_expired(&result, &format!("SSE {variables}"));
            assert_eq!(sse.next().await.event, "complete");
        }
        let mut sse = Sse::post(&app.address, &[("authorization", &auth), ("last-event-id", boundary)], ENDPOINT_EVENTS, json!({})).await;
        let (id, result) = sse.next_result().await;
        assert_eq!(id.as_deref(), Some(kept.as_str()), "{result}");
        // Apollo's multipart subscriptions: an ending beside a null payload.
        let mut parts = Multipart::post(&app.address, &[("authorization", &auth)], ENDPOINT_EVENTS, json!({ "after": before })).await;
        let Part::Json(ending) = parts.next_part().await else { panic!("an ending before the close") };
        assert_eq!(ending["payload"], Value::Null, "{ending}");
        assert_expired(&ending, "multipart");
        assert_eq!(parts.next_part().await, Part::Closed);
        let mut parts = Multipart::post(&app.address, &[("authorization", &auth)], ENDPOINT_EVENTS, json!({ "after": boundary })).await;
        assert_eq!(parts.next_payload().await["data"]["endpointEvents"]["cursor"], json!(kept));

        // Without `after`, a subscription starts afresh as ever.
        let mut ws = Ws::with_key(&app.address, &key).await;
        ws.subscribe("new", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        rename(&app, &key, endpoint_id, "Four").await;
        assert_eq!(ws.next_event().await["endpoint"]["name"], "Four");
    }
}

/// `count` events of `org` in `mode`, a year old, written straight to the table.
async fn insert_old_events(app: &TestApp, org: uuid::Uuid, mode: Mode, count: usize) {
    let mode = match mode {
        Mode::Live => "live",
        Mode::Test => "test",
    };
    for _ in 0..count {
        app.db
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                app.db.get_database_backend(),
                match app.backend {
                    Backend::Sqlite => "INSERT INTO events (id, organization_id, mode, type, object_id, actor_kind, occurred_at, data) VALUES (?, ?, ?, 'endpoint.created', ?, 'system', ?, ?)",
                    Backend::Postgres => "INSERT INTO events (id, organization_id, mode, type, object_id, actor_kind, occurred_at, data) VALUES ($1, $2, $3, 'endpoint.created', $4, 'system', $5, $6)",
                },
                [
                    ids::new_id(ids::Kind::Event).into(),
                    org.into(),
                    mode.into(),
                    uuid::Uuid::new_v4().into(),
                    (chrono::Utc::now() - chrono::Duration::days(365)).into(),
                    json!({ "after": { "name": "old" } }).into(),
                ],
            ))
            .await
            .expect("an event");
    }
    // Numbered as a write's are once it has committed (on PostgreSQL).
    events::published(&app.db, org).await;
}

db_test! {
    async fn another_organizations_or_modes_deletions_expire_no_cursor_of_this_one(app) {
        let (test_key, live_key) = (app.org.test_key.clone(), app.org.live_key.clone());
        app.create_ok(&test_key, webhook("Test one")).await;
        app.create_ok(&live_key, webhook("Live one")).await;
        let (test_cursor, _) = latest(&app, &test_key, 1).await.remove(0);
        let (live_cursor, _) = latest(&app, &live_key, 1).await.remove(0);
        // After both cursors: another organization's old test events and this one's old live
        // events, deleted by retention.
        let other = app.new_org("Other").await;
        insert_old_events(&app, other.id, Mode::Test, 3).await;
        insert_old_events(&app, app.org.id, Mode::Live, 2).await;
        let deleted = events::purge_older_than(&app.db, chrono::Utc::now() - chrono::Duration::days(1), 2)
            .await
            .expect("purge");
        assert_eq!(deleted, 5, "in batches of 2");

        // The test key's cursor lost nothing of its mode: it resumes.
        let mut ws = Ws::with_key(&app.address, &test_key).await;
        ws.subscribe("test", ENDPOINT_EVENTS, json!({ "after": test_cursor })).await;
        ws.assert_silent(Duration::from_millis(300)).await;
        app.create_ok(&test_key, webhook("Test two")).await;
        assert_eq!(ws.next_event().await["endpoint"]["name"], "Test two");
        // The live key's lost live events: expired. So is a session's, which reads both modes.
        let mut live = Ws::with_key(&app.address, &live_key).await;
        live.subscribe("live", ENDPOINT_EVENTS, json!({ "after": live_cursor })).await;
        assert_expired(&live.next_payload().await, "live key");
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let mut session = Ws::connect(&app.address, Protocol::TransportWs, json!({ "Authorization": format!("Bearer {owner}") })).await;
        session.subscribe("both", ENDPOINT_EVENTS, json!({ "after": test_cursor })).await;
        assert_expired(&session.next_payload().await, "session");

        // The other organization's subscriber, from before its deleted events: expired; its
        // deletions moved nothing of this organization's (above).
        let mut theirs = Ws::with_key(&app.address, &other.test_key).await;
        let start = app.cursors().encode(other.id, 0);
        theirs.subscribe("theirs", ENDPOINT_EVENTS, json!({ "after": start })).await;
        assert_expired(&theirs.next_payload().await, "other organization");
    }
}
