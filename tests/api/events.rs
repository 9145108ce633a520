//! Events: every change recorded in its own transaction (never one without the other), with
//! its actor and request id and no secret; the audit log (`events`) with its access rules,
//! tenancy, filters and pages; retention.

use std::time::Duration;

use cockpit_gateway::domain::{Mode, Role, ids};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live::{ENDPOINT_EVENTS, Ws};

const EVENTS: &str = "query($first: Int, $after: String, $filter: EventFilter) { events(first: $first, after: $after, filter: $filter) { edges { cursor node { id } } nodes { id cursor type objectId mode actor { kind userId apiKeyId apiKeyPrefix } requestId occurredAt before after } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

async fn events(app: &TestApp, credential: &str, variables: Value) -> Vec<Value> {
    let res = app.graphql(credential, EVENTS, variables).await;
    res.assert_ok()["events"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone()
}

fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default())
        .collect()
}

/// Every stored event's data, as text.
async fn stored_data(app: &TestApp) -> String {
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT data FROM events",
        ))
        .await
        .expect("events");
    rows.iter()
        .map(|r| r.try_get::<Value>("", "data").expect("data").to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn event_rows(app: &TestApp) -> i64 {
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM events",
        ))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

db_test! {
    async fn an_endpoints_changes_are_recorded_with_who_made_them_and_no_secret(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let password = "s3cret-Password-never-shown";
        let res = app
            .post(
                &[("authorization", &format!("Bearer {}", app.org.test_key)), ("x-request-id", "req-create-1")],
                json!({ "query": CREATE.as_str(), "variables": { "input": {
                    "name": "Vogent", "type": "VOGENT",
                    "providerConfig": { "vogent": { "vogentSipPrefix": "p", "vogentSipUsername": "u", "vogentSipPassword": password } }
                } } }),
            )
            .await;
        let id = res.assert_ok()["createEndpoint"]["endpoint"]["id"].as_str().expect("id").to_owned();
        let res = app
            .update_endpoint(&app.org.test_key, json!({ "id": id, "name": "Renamed",
                "providerConfig": { "vogent": { "vogentSipPassword": "another-Password-2" } } }))
            .await;
        res.assert_ok();
        // An update that changes nothing records nothing (`unchanged.rs`).
        app.update_endpoint(&app.org.test_key, json!({ "id": id })).await.assert_ok();
        app.delete_endpoint(&app.org.test_key, &id).await.assert_ok();

        let log = events(&app, &owner, json!({ "filter": { "objectId": id } })).await;
        assert_eq!(types(&log), ["ENDPOINT_DELETED", "ENDPOINT_UPDATED", "ENDPOINT_CREATED"], "newest first");
        let (deleted, updated, created) = (&log[0], &log[1], &log[2]);
        for event in &log {
            assert_eq!(event["objectId"], id.as_str());
            assert_eq!(event["mode"], "TEST");
            assert_eq!(event["actor"]["kind"], "API_KEY");
            assert!(event["actor"]["apiKeyId"].as_str().is_some());
            assert!(event["actor"]["apiKeyPrefix"].as_str().is_some_and(|p| p.starts_with("kros_test_") && p.len() < 20));
            assert_eq!(event["actor"]["userId"], Value::Null);
        }
        assert_eq!(created["requestId"], "req-create-1");
        assert!(updated["requestId"].as_str().is_some_and(|r| !r.is_empty()), "a request id is given to every request");
        assert_eq!(created["before"], Value::Null);
        assert_eq!(created["after"]["name"], "Vogent");
        assert_eq!(created["after"]["type"], "vogent");
        assert_eq!(created["after"]["provider_config"]["vogent_sip_password"], "[redacted]");
        assert_eq!(created["after"]["provider_config"]["vogent_sip_username"], "u");
        // An update lists what changed, the password only as replaced.
        assert_eq!(updated["before"], json!({ "name": "Vogent", "provider_config": { "vogent_sip_password": "[redacted]" } }));
        assert_eq!(updated["after"], json!({ "name": "Renamed", "provider_config": { "vogent_sip_password": "[redacted]" } }));
        assert_eq!(deleted["before"]["name"], "Renamed");
        assert_eq!(deleted["after"], Value::Null);

        // Neither password, sealed or plain, nor any key is stored in an event.
        let stored = stored_data(&app).await;
        assert!(!stored.contains(password) && !stored.contains("another-Password-2"), "{stored}");
        assert!(!stored.contains("v1:"), "no sealed secret: {stored}");
        assert!(!stored.contains(&app.org.test_key) && !stored.contains(&app.org.live_key));
    }
}

db_test! {
    async fn every_kind_of_change_is_an_event(app) {
        let (owner_id, owner) = app.member(app.org.id, Role::Owner).await;
        let number = app.add_phone_number(app.org.id, Mode::Test, "+14155550100").await;
        let endpoint = app
            .create_ok(&app.org.test_key, json!({ "name": "Routed", "type": "WEBHOOK", "url": "https://hooks.example.com/a", "phoneNumberId": number }))
            .await;
        let endpoint_id = endpoint["id"].as_str().expect("id");
        let res = app.graphql(&app.org.test_key, "mutation($p: UUID!) { detachPhoneNumber(input: {phoneNumberId: $p}) { userErrors { code } } }", json!({ "p": number })).await;
        res.assert_ok();
        let res = app.graphql(&app.org.test_key, "mutation($p: UUID!, $e: UUID!) { attachPhoneNumber(input: {phoneNumberId: $p, endpointId: $e}) { userErrors { code } } }", json!({ "p": number, "e": endpoint_id })).await;
        res.assert_ok();
        // Deleting the endpoint detaches its number: two events of one change.
        app.delete_endpoint(&app.org.test_key, endpoint_id).await.assert_ok();
        let res = app.graphql(&app.org.test_key, "mutation($p: UUID!) { removePhoneNumber(input: {phoneNumberId: $p}) { userErrors { code } } }", json!({ "p": number })).await;
        res.assert_ok();
        let res = app.graphql(&app.org.test_key, "mutation { addPhoneNumber(input: {e164: \"+14155550111\"}) { userErrors { code } } }", json!({})).await;
        res.assert_ok();
        let res = app.graphql(&owner, "mutation { addMember(input: {userId: \"new-user\", role: VIEWER}) { member { uuid } userErrors { code } } }", json!({})).await;
        let member = res.assert_ok()["addMember"]["member"]["uuid"].clone();
        app.graphql(&owner, "mutation($m: UUID!) { updateMemberRole(input: {memberId: $m, role: MEMBER}) { userErrors { code } } }", json!({ "m": member })).await.assert_ok();
        app.graphql(&owner, "mutation($m: UUID!) { removeMember(input: {memberId: $m}) { userErrors { code } } }", json!({ "m": member })).await.assert_ok();
        let res = app.graphql(&owner, "mutation { createApiKey(input: {name: \"ci\", mode: TEST}) { apiKey { uuid } plaintextKey } }", json!({})).await;
        let key_id = res.assert_ok()["createApiKey"]["apiKey"]["uuid"].clone();
        app.graphql(&owner, "mutation($id: UUID!) { revokeApiKey(input: {id: $id}) { apiKey { revokedAt } } }", json!({ "id": key_id })).await.assert_ok();

        let log = events(&app, &owner, json!({ "first": 100 })).await;
        let mut seen = types(&log);
        seen.reverse();
        assert_eq!(
            seen,
            [
                "ORGANIZATION_CREATED", "API_KEY_CREATED", "API_KEY_CREATED", "MEMBER_CREATED",
                "PHONE_NUMBER_CREATED",
                "ENDPOINT_CREATED", "PHONE_NUMBER_ATTACHED",
                "PHONE_NUMBER_DETACHED", "PHONE_NUMBER_ATTACHED",
                "ENDPOINT_DELETED", "PHONE_NUMBER_DETACHED",
                "PHONE_NUMBER_DELETED", "PHONE_NUMBER_CREATED",
                "MEMBER_CREATED", "MEMBER_UPDATED", "MEMBER_DELETED",
                "API_KEY_CREATED", "API_KEY_REVOKED",
            ]
        );
        let by_type = |ty: &str| log.iter().filter(|e| e["type"] == ty).cloned().collect::<Vec<_>>();
        // What the CLI (and the test harness, as the CLI does) made is the system's.
        assert_eq!(by_type("ORGANIZATION_CREATED")[0]["actor"]["kind"], "SYSTEM");
        assert_eq!(by_type("ORGANIZATION_CREATED")[0]["requestId"], Value::Null);
        let attached = &by_type("PHONE_NUMBER_ATTACHED")[1];
        assert_eq!(attached["before"], json!({ "endpoint_id": null }));
        assert_eq!(attached["after"], json!({ "endpoint_id": endpoint_id }));
        let member_updated = &by_type("MEMBER_UPDATED")[0];
        assert_eq!(member_updated["mode"], Value::Null);
        assert_eq!(member_updated["actor"]["kind"], "USER");
        assert_eq!(member_updated["actor"]["userId"], owner_id.as_str());
        assert_eq!((&member_updated["before"], &member_updated["after"]), (&json!({ "role": "viewer" }), &json!({ "role": "member" })));
        let revoked = &by_type("API_KEY_REVOKED")[0];
        assert_eq!(revoked["before"], json!({ "revoked_at": null }));
        assert!(revoked["after"]["revoked_at"].is_string());
        let stored = stored_data(&app).await;
        assert!(!stored.contains("key_hash") && !stored.contains(&app.org.test_key));
    }
}

/// Makes the next insert into `table` fail inside its transaction.
async fn fail_inserts_into(app: &TestApp, table: &str) {
    let statements = match app.backend {
        Backend::Sqlite => vec![format!(
            "CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'injected'); END"
        )],
        Backend::Postgres => vec![
            "CREATE FUNCTION fail_insert() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql".to_owned(),
            format!("CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION fail_insert()"),
        ],
    };
    for statement in statements {
        app.db
            .execute_unprepared(&statement)
            .await
            .expect("trigger");
    }
}

db_test! {
    async fn a_change_whose_event_cannot_be_written_is_not_made(app) {
        let before = event_rows(&app).await;
        fail_inserts_into(&app, "events").await;
        let res = app
            .graphql(&app.org.test_key, &CREATE, json!({ "input": { "name": "Unrecorded", "type": "WEBHOOK", "url": "https://hooks.example.com/a" } }))
            .await;
        assert_eq!(res.error_code(), Some("INTERNAL_SERVER_ERROR"), "{}", res.body);
        assert_eq!(app.endpoint_rows().await, 0, "no change without its event");
        assert_eq!(event_rows(&app).await, before);
        // Nor a phone number, a member or a key.
        let res = app.graphql(&app.org.test_key, "mutation { addPhoneNumber(input: {e164: \"+14155550122\"}) { userErrors { code } } }", json!({})).await;
        assert_eq!(res.error_code(), Some("INTERNAL_SERVER_ERROR"));
        let res = app.graphql(&app.org.test_key, "{ phoneNumbers { totalCount } }", json!({})).await;
        assert_eq!(res.assert_ok()["phoneNumbers"]["totalCount"], 0);
    }
}

db_test! {
    async fn an_event_is_not_kept_when_its_change_fails(app) {
        let number = app.add_phone_number(app.org.id, Mode::Test, "+14155550133").await;
        let before = event_rows(&app).await;
        // The endpoint is inserted, then attaching its number fails: neither is kept, nor any
        // event of either.
        let statements = match app.backend {
            Backend::Sqlite => vec!["CREATE TRIGGER fail_attach BEFORE UPDATE ON phone_numbers BEGIN SELECT RAISE(ABORT, 'injected'); END".to_owned()],
            Backend::Postgres => vec![
                "CREATE FUNCTION fail_update() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql".to_owned(),
                "CREATE TRIGGER fail_attach BEFORE UPDATE ON phone_numbers FOR EACH ROW EXECUTE FUNCTION fail_update()".to_owned(),
            ],
        };
        for statement in statements {
            app.db.execute_unprepared(&statement).await.expect("trigger");
        }
        let res = app
            .graphql(&app.org.test_key, &CREATE, json!({ "input": { "name": "Half", "type": "WEBHOOK", "url": "https://hooks.example.com/a", "phoneNumberId": number } }))
            .await;
        assert_eq!(res.error_code(), Some("INTERNAL_SERVER_ERROR"), "{}", res.body);
        assert_eq!(app.endpoint_rows().await, 0);
        assert_eq!(event_rows(&app).await, before, "no event without its change");
    }
}

db_test! {
    async fn the_audit_log_is_for_owners_admins_and_keys_of_the_organization(app) {
        let other = app.new_org("Other").await;
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let (_, admin) = app.member(app.org.id, Role::Admin).await;
        let (_, member) = app.member(app.org.id, Role::Member).await;
        let (_, viewer) = app.member(app.org.id, Role::Viewer).await;
        let (_, other_owner) = app.member(other.id, Role::Owner).await;
        app.create_ok(&app.org.test_key, json!({ "name": "Test one", "type": "WEBHOOK", "url": "https://hooks.example.com/t" })).await;
        app.create_ok(&app.org.live_key, json!({ "name": "Live one", "type": "WEBHOOK", "url": "https://hooks.example.com/l" })).await;
        app.create_ok(&other.test_key, json!({ "name": "Theirs", "type": "WEBHOOK", "url": "https://hooks.example.com/o" })).await;

        for session in [&member, &viewer] {
            let res = app.graphql(session, EVENTS, json!({})).await;
            assert_eq!(res.error_code(), Some("FORBIDDEN"), "{}", res.body);
        }
        // The names of the endpoints and organizations made.
        let names = |log: &[Value]| {
            log.iter()
                .filter(|e| matches!(e["type"].as_str(), Some("ENDPOINT_CREATED" | "ORGANIZATION_CREATED")))
                .filter_map(|e| e["after"]["name"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        };
        for session in [&owner, &admin] {
            let log = events(&app, session, json!({ "first": 100 })).await;
            assert_eq!(names(&log), ["Live one", "Test one", "Acme"], "both modes, its organization only");
            assert!(types(&log).contains(&"MEMBER_CREATED"));
            let test_only = events(&app, session, json!({ "filter": { "mode": "TEST" } })).await;
            assert_eq!(names(&test_only), ["Test one"]);
            assert!(test_only.iter().all(|e| e["mode"] == "TEST"));
        }
        // A key sees its own mode's endpoint and phone-number events, nothing of members or keys.
        let log = events(&app, &app.org.test_key, json!({ "first": 100 })).await;
        assert_eq!(types(&log), ["ENDPOINT_CREATED"]);
        assert_eq!(names(&log), ["Test one"]);
        let live = events(&app, &app.org.test_key, json!({ "filter": { "mode": "LIVE" } })).await;
        assert!(live.is_empty(), "a test key asking for live events gets none");
        let theirs = events(&app, &other_owner, json!({ "first": 100 })).await;
        assert_eq!(names(&theirs), ["Theirs", "Other"]);
        // Another organization's object id finds nothing.
        let their_id = theirs[0]["objectId"].clone();
        assert!(events(&app, &owner, json!({ "filter": { "objectId": their_id } })).await.is_empty());
    }
}

db_test! {
    async fn the_audit_log_filters_and_pages_newest_first(app) {
        let (owner_id, owner) = app.member(app.org.id, Role::Owner).await;
        let mut ids = Vec::new();
        for n in 0..5 {
            let e = app.create_ok(&app.org.test_key, json!({ "name": format!("E{n}"), "type": "WEBHOOK", "url": "https://hooks.example.com/a" })).await;
            ids.push(e["id"].as_str().expect("id").to_owned());
        }
        let by_owner = app.create_ok(&owner, json!({ "name": "By owner", "type": "WEBHOOK", "url": "https://hooks.example.com/a", "mode": "TEST" })).await;
        let only_endpoints = json!({ "types": ["ENDPOINT_CREATED"] });
        let first = app.graphql(&owner, EVENTS, json!({ "first": 4, "filter": only_endpoints })).await;
        let page = first.assert_ok()["events"].clone();
        let names: Vec<&str> = page["nodes"].as_array().expect("nodes").iter().map(|e| e["after"]["name"].as_str().expect("name")).collect();
        assert_eq!(names, ["By owner", "E4", "E3", "E2"]);
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
        assert_eq!(page["pageInfo"]["hasPreviousPage"], false);
        assert_eq!(page["edges"][3]["cursor"], page["pageInfo"]["endCursor"]);
        assert_eq!(page["edges"][0]["cursor"], page["nodes"][0]["cursor"]);
        assert_eq!(page["edges"][0]["node"]["id"], page["nodes"][0]["id"]);
        let next = app.graphql(&owner, EVENTS, json!({ "first": 4, "after": page["pageInfo"]["endCursor"], "filter": only_endpoints })).await;
        let page = next.assert_ok()["events"].clone();
        let names: Vec<&str> = page["nodes"].as_array().expect("nodes").iter().map(|e| e["after"]["name"].as_str().expect("name")).collect();
        assert_eq!(names, ["E1", "E0"]);
        assert_eq!(page["pageInfo"]["hasNextPage"], false);
        assert_eq!(page["pageInfo"]["hasPreviousPage"], true);

        let mine = events(&app, &owner, json!({ "filter": { "actor": owner_id } })).await;
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0]["objectId"], by_owner["id"]);
        let one = events(&app, &owner, json!({ "filter": { "objectId": ids[2] } })).await;
        assert_eq!(one.len(), 1);
        let all = events(&app, &owner, json!({ "first": 100 })).await;
        let newest = all[0]["occurredAt"].as_str().expect("time").to_owned();
        assert!(events(&app, &owner, json!({ "filter": { "until": all.last().expect("one")["occurredAt"] } })).await.is_empty());
        let since = events(&app, &owner, json!({ "filter": { "since": newest } })).await;
        assert!(!since.is_empty() && since.iter().all(|e| e["occurredAt"].as_str() >= Some(newest.as_str())));

        for (variables, what) in [
            (json!({ "after": "not-a-cursor" }), "cursor"),
            (json!({ "after": "-5" }), "negative cursor"),
            (json!({ "first": 0 }), "first"),
            (json!({ "first": 101 }), "first over the limit"),
            (json!({ "filter": { "actor": "" } }), "empty actor"),
            (json!({ "filter": { "actor": "a\u{0}b" } }), "control character"),
        ] {
            let res = app.graphql(&owner, EVENTS, variables).await;
            assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{what}: {}", res.body);
        }
    }
}

#[tokio::test]
async fn events_older_than_the_retention_period_are_deleted() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    // A first gateway makes the tables and an organization with its events. It keeps events
    // for ten years: its own sweep runs once at its start, which on a busy machine may come
    // after the events below are in, and would delete them before they are counted.
    let app = TestApp::builder(Backend::Sqlite)
        .on(db.shared())
        .with_config(|c| c.events.retention = Duration::from_secs(10 * 365 * 24 * 60 * 60))
        .spawn()
        .await
        .expect("SQLite");
    let old = chrono::Utc::now() - chrono::Duration::days(91);
    let recent = chrono::Utc::now() - chrono::Duration::days(89);
    for at in [old, old, old, recent] {
        app.db
            .execute_raw(Statement::from_sql_and_values(
                app.db.get_database_backend(),
                "INSERT INTO events (id, organization_id, type, object_id, actor_kind, occurred_at, data) VALUES (?, ?, 'endpoint.created', ?, 'system', ?, '{}')",
                [ids::new_id(ids::Kind::Event).into(), app.org.id.into(), uuid::Uuid::new_v4().into(), at.into()],
            ))
            .await
            .expect("an event");
    }
    let before = event_rows(&app).await;
    // A gateway that sweeps often deletes the three older than 90 days, and keeps the rest.
    let _sweeper = TestApp::builder(Backend::Sqlite)
        .on(db.shared())
        .with_config(|c| c.events.retention_sweep = Duration::from_millis(100))
        .spawn()
        .await
        .expect("SQLite");
    let made_by_sweeper = 3; // its harness organization and two keys
    // Up to half a minute: with the whole suite running on two cores, a sweep may wait its
    // turn for SQLite's write lock (or fail and try again at the next) for seconds.
    for _ in 0..300 {
        if event_rows(&app).await == before - 3 + made_by_sweeper {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(event_rows(&app).await, before - 3 + made_by_sweeper);
    let oldest = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            "SELECT MIN(occurred_at) AS at FROM events",
        ))
        .await
        .expect("min")
        .expect("a row")
        .try_get::<chrono::DateTime<chrono::Utc>>("", "at")
        .expect("at");
    assert!(
        oldest > old + chrono::Duration::days(1),
        "the 89-day-old event stays"
    );
}

const NODE: &str = "query($id: ID!) { node(id: $id) { __typename id \
    ... on Event { cursor type objectId } \
    ... on EndpointEvent { cursor type endpointId endpoint { id } } } }";

/// `node(id)` as `credential`: the node, or null and the error's code.
async fn node(app: &TestApp, credential: &str, id: &Value) -> (Value, Option<String>) {
    let res = app.graphql(credential, NODE, json!({ "id": id })).await;
    (
        res.body["data"]["node"].clone(),
        res.error_code().map(str::to_owned),
    )
}

db_test! {
    async fn an_event_its_delivery_and_its_endpoint_have_ids_of_their_own_and_node_finds_each_under_its_readers_rules(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let (_, member) = app.member(app.org.id, Role::Member).await;
        let key = app.org.test_key.clone();
        let mut ws = Ws::with_key(&app.address, &key).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let endpoint = app.create_ok(&key, json!({ "name": "Watched", "type": "WEBHOOK", "url": "https://hooks.example.com/a" })).await;
        let delivery = ws.next_event().await;
        let event = delivery["event"].clone();

        // Three objects of three types, three ids (which a normalising cache keys them by);
        // the event's place in the order is its cursor, apart from every id.
        let ids = [&endpoint["id"], &event["id"], &delivery["id"]];
        assert_eq!(ids.iter().collect::<std::collections::HashSet<_>>().len(), 3, "{ids:?}");
        assert_eq!(ids::kind_of(uuid::Uuid::parse_str(event["id"].as_str().expect("id")).expect("uuid")), Some(ids::Kind::Event));
        assert_eq!(ids::kind_of(uuid::Uuid::parse_str(delivery["id"].as_str().expect("id")).expect("uuid")), Some(ids::Kind::EndpointEvent));
        assert_eq!(delivery["cursor"], event["cursor"]);
        assert!(ids.iter().all(|id| **id != delivery["cursor"]));
        // The audit log gives the same record: the same id and cursor.
        let log = app.graphql(&owner, EVENTS, json!({ "first": 1, "filter": { "types": ["ENDPOINT_CREATED"] } })).await;
        let edge = log.assert_ok()["events"]["edges"][0].clone();
        assert_eq!((&edge["node"]["id"], &edge["cursor"]), (&event["id"], &event["cursor"]));

        // The record, for the audit log's readers: owners' and admins' sessions and the key of
        // its mode.
        for credential in [&owner, &key] {
            let (found, error) = node(&app, credential, &event["id"]).await;
            assert_eq!(error, None);
            assert_eq!(found["__typename"], "Event");
            assert_eq!((&found["id"], &found["cursor"]), (&event["id"], &event["cursor"]));
            assert_eq!(found["objectId"], endpoint["id"]);
        }
        // The delivery, for anyone who may subscribe to it (members too).
        for credential in [&owner, &key, &member] {
            let (found, error) = node(&app, credential, &delivery["id"]).await;
            assert_eq!(error, None);
            assert_eq!(found["__typename"], "EndpointEvent");
            assert_eq!((&found["id"], &found["cursor"]), (&delivery["id"], &delivery["cursor"]));
            assert_eq!(found["endpoint"]["id"], endpoint["id"]);
        }
        // A member's session may not read the audit log.
        assert_eq!(node(&app, &member, &event["id"]).await, (Value::Null, Some("FORBIDDEN".to_owned())));
        // The other mode's key and another organization's owner find nothing.
        let other = app.new_org("Other").await;
        let (_, other_owner) = app.member(other.id, Role::Owner).await;
        for credential in [&app.org.live_key, &other.test_key, &other_owner] {
            for id in [&event["id"], &delivery["id"]] {
                assert_eq!(node(&app, credential, id).await, (Value::Null, Some("NOT_FOUND".to_owned())), "{id}");
            }
        }
        // The event named as a phone number's delivery is nothing.
        let as_phone = ids::retag(uuid::Uuid::parse_str(delivery["id"].as_str().expect("id")).expect("uuid"), ids::Kind::PhoneNumberEvent);
        assert_eq!(node(&app, &owner, &json!(as_phone)).await, (Value::Null, Some("NOT_FOUND".to_owned())));
        // A membership's event is the owners' and admins': an API key doesn't find it.
        let members = events(&app, &owner, json!({ "filter": { "types": ["MEMBER_CREATED"] } })).await;
        let member_event = &members[0]["id"];
        assert_eq!(node(&app, &owner, member_event).await.0["__typename"], "Event");
        assert_eq!(node(&app, &key, member_event).await, (Value::Null, Some("NOT_FOUND".to_owned())));
    }
}

db_test! {
    async fn the_audit_logs_cursors_show_nothing_of_other_organizations_writes(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let other = app.new_org("Busy").await;
        let cursor_of_newest = async || {
            let res = app.graphql(&owner, EVENTS, json!({ "first": 1 })).await;
            res.assert_ok()["events"]["edges"][0]["cursor"].clone()
        };
        app.create_ok(&app.org.test_key, json!({ "name": "A1", "type": "WEBHOOK", "url": "https://hooks.example.com/a" })).await;
        let first = cursor_of_newest().await;
        // Another organization writes in between.
        for n in 0..5 {
            app.create_ok(&other.test_key, json!({ "name": format!("B{n}"), "type": "WEBHOOK", "url": "https://hooks.example.com/b" })).await;
        }
        app.create_ok(&app.org.test_key, json!({ "name": "A2", "type": "WEBHOOK", "url": "https://hooks.example.com/a" })).await;
        let second = cursor_of_newest().await;
        let (seq_1, seq_2) = (app.seq_of(&first), app.seq_of(&second));
        assert!(seq_2 - seq_1 > 5, "the numbering is shared: {seq_1} {seq_2}");
        // Neither cursor is the number or holds it, nor the gap, in any encoding.
        for (cursor, seq) in [(&first, seq_1), (&second, seq_2)] {
            let text = cursor.as_str().expect("cursor");
            assert_eq!(text.len(), 22, "{text}");
            assert!(text.parse::<i64>().is_err(), "{text}");
            let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, text).expect("base64url");
            for n in [seq, seq_1, seq_2, seq_2 - seq_1] {
                let shown = [n.to_be_bytes().to_vec(), n.to_le_bytes().to_vec(), (n as u32).to_be_bytes().to_vec(), (n as u32).to_le_bytes().to_vec()];
                assert!(!shown.iter().any(|s| bytes.windows(s.len()).any(|w| w == s.as_slice())), "{text} shows {n}");
            }
        }
        // Page by page, the log still goes on after each cursor: A2, then A1.
        let after_second = events(&app, &owner, json!({ "first": 1, "after": second, "filter": { "types": ["ENDPOINT_CREATED"] } })).await;
        assert_eq!(after_second[0]["after"]["name"], "A1");

        // Another organization's cursor isn't this one's, on the audit log.
        let (_, other_owner) = app.member(other.id, Role::Owner).await;
        let res = app.graphql(&other_owner, EVENTS, json!({ "after": first })).await;
        assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{}", res.body);
        assert!(res.body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("this organization")), "{}", res.body);
        // A number (what the cursor used to be) is no cursor.
        for after in [json!(seq_1.to_string()), json!("0"), json!(format!("{}=", first.as_str().expect("cursor")))] {
            let res = app.graphql(&owner, EVENTS, json!({ "after": after })).await;
            assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{after}: {}", res.body);
        }
    }
}

/// The JSON plan of the sequencer's numbering statement under `settings` (none: as the
/// planner would choose alone), in a transaction rolled back.
async fn numbering_plan(app: &TestApp, settings: Option<&str>) -> String {
    use sea_orm::TransactionTrait as _;
    let (_, statement) = cockpit_gateway::domain::events::numbering();
    let txn = app.pool.begin().await.expect("begin");
    if let Some(settings) = settings {
        txn.execute_unprepared(settings).await.expect("settings");
    }
    let row = txn
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("EXPLAIN (FORMAT JSON) {statement}"),
        ))
        .await
        .expect("explain")
        .expect("a plan");
    let plan: Value = row.try_get_by_index(0).expect("the plan");
    txn.rollback().await.expect("rollback");
    plan.to_string()
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn numbering_reads_the_pending_by_key_whatever_the_statistics_say() {
    // Statistics taken while many events were pending (a burst, a sequencer behind) make the
    // planner expect thousands of pending rows; planned alone, the numbering statement would
    // then scan the whole table on every batch, however few are pending by then.
    let app = TestApp::builder(Backend::Postgres)
        .spawn()
        .await
        .expect(POSTGRES_UNSET);
    let org = app.org.id;
    app.pool
        .execute_unprepared("ALTER TABLE events SET (autovacuum_enabled = false)")
        .await
        .expect("no autovacuum");
    app.pool
        .execute_unprepared(&format!(
            "BEGIN; \
             INSERT INTO events (organization_id, type, object_id, actor_kind, occurred_at, data, id) \
             SELECT '{org}', 'endpoint.created', gen_random_uuid(), 'system', now(), '{{}}', gen_random_uuid() \
             FROM generate_series(1, 4000); \
             ANALYZE events; COMMIT"
        ))
        .await
        .expect("pending events and their statistics");
    // A write, so the sequencer runs; then every pending event is numbered.
    app.create_ok(
        &app.org.test_key,
        json!({ "name": "After", "type": "WEBHOOK", "url": "https://example.com/a" }),
    )
    .await;
    let pending = || async {
        app.pool
            .query_one_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) FROM events WHERE seq < 0",
            ))
            .await
            .expect("count")
            .expect("row")
            .try_get_by_index::<i64>(0)
            .expect("count")
    };
    for _ in 0..200 {
        if pending().await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending().await, 0, "the sequencer numbered every event");

    // The statistics still say thousands are pending: alone, the planner scans the table.
    let alone = numbering_plan(&app, None).await;
    assert!(
        alone.contains("Seq Scan"),
        "the statistics no longer mislead: {alone}"
    );
    // As the sequencer sends it: by the key only, no scan or hash of the whole table.
    let (settings, _) = cockpit_gateway::domain::events::numbering();
    let sent = numbering_plan(&app, Some(settings)).await;
    for whole in ["Seq Scan", "Bitmap", "Hash Join", "Merge Join"] {
        assert!(
            !sent.contains(whole),
            "{whole} in the sequencer's plan: {sent}"
        );
    }
    assert!(sent.contains("events_pkey"), "{sent}");
}
