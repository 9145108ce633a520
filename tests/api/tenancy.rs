//! Tenancy: every read and write is scoped to the key's organization and mode. Another
//! organization's endpoint, or one of the other mode, behaves exactly like a missing one.
//! Long: every operation against another organization and the other mode.

use cockpit_gateway::domain::Mode;
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const LIST: &str = "query($filter: EndpointFilter) { endpoints(filter: $filter) { \
    totalCount \
    edges { cursor node { id mode organizationId } } \
    nodes { id mode organizationId } \
    pageInfo { hasNextPage hasPreviousPage } } }";

/// Creates a webhook endpoint as the holder of `key`; returns it.
async fn webhook(app: &TestApp, key: &str, name: &str) -> Value {
    app.create_ok(
        key,
        json!({ "name": name, "type": "WEBHOOK", "url": format!("https://example.com/{name}") }),
    )
    .await
}

fn id_of(endpoint: &Value) -> String {
    endpoint["id"].as_str().expect("endpoint id").to_owned()
}

/// The endpoint as its owner sees it; it must be there.
#[track_caller]
fn endpoint_of(res: &Response) -> Value {
    let endpoint = res.assert_ok()["endpoint"].clone();
    assert!(endpoint.is_object(), "{}", res.body);
    endpoint
}

/// One top-level NOT_FOUND error at `field`, with HTTP 200.
#[track_caller]
fn assert_not_found(res: &Response, field: &str) {
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    let errors = res.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{}", res.body);
    assert_eq!(res.error_code(), Some("NOT_FOUND"), "{}", res.body);
    assert_eq!(errors[0]["path"], json!([field]), "{}", res.body);
}

/// `endpoint(id)` for an id the key may not see: null, NOT_FOUND, and the very response a
/// never-existing id gets.
async fn assert_endpoint_hidden(app: &TestApp, key: &str, id: &str) {
    let res = app.get_endpoint(key, id).await;
    assert_not_found(&res, "endpoint");
    assert_eq!(
        res.body["data"],
        json!({ "endpoint": null }),
        "{}",
        res.body
    );
    let missing = app.get_endpoint(key, &Uuid::new_v4().to_string()).await;
    assert_eq!(
        res.body, missing.body,
        "a hidden endpoint looks like a missing one"
    );
}

/// `(edge ids, node ids, totalCount)` of the key's `endpoints` list.
async fn list(app: &TestApp, key: &str, filter: Value) -> (Vec<String>, Vec<String>, i64) {
    let res = app.graphql(key, LIST, json!({ "filter": filter })).await;
    let conn = &res.assert_ok()["endpoints"];
    let ids = |items: &Value, path: &str| -> Vec<String> {
        items
            .as_array()
            .expect("a list")
            .iter()
            .map(|item| {
                let node = if path.is_empty() { item } else { &item[path] };
                node["id"].as_str().expect("id").to_owned()
            })
            .collect()
    };
    let edges = ids(&conn["edges"], "node");
    let nodes = ids(&conn["nodes"], "");
    assert_eq!(conn["pageInfo"]["hasNextPage"], false, "{conn}");
    assert_eq!(conn["pageInfo"]["hasPreviousPage"], false, "{conn}");
    (
        edges,
        nodes,
        conn["totalCount"].as_i64().expect("totalCount"),
    )
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Which endpoint a phone number routes to, read straight from the database.
async fn phone_endpoint(app: &TestApp, phone: Uuid) -> Option<Uuid> {
    entity::phone_number::Entity::find_by_id(phone)
        .one(&app.db)
        .await
        .expect("read phone number")
        .expect("the phone number exists")
        .endpoint_id
}

/// A failed update or delete changed nothing: the owner reads back exactly `before`.
async fn assert_unchanged(app: &TestApp, owner_key: &str, before: &Value) {
    let after = endpoint_of(&app.get_endpoint(owner_key, &id_of(before)).await);
    assert_eq!(&after, before, "the endpoint changed");
}

db_test! {
    async fn other_org_endpoint_is_not_found(app) {
        let other = app.new_org("Other").await;
        for mode in [Mode::Test, Mode::Live] {
            let theirs = webhook(&app, other.key(mode), "theirs").await;
            let id = id_of(&theirs);
            // Neither of our keys sees it, in its mode or the other.
            assert_endpoint_hidden(&app, app.org.key(mode), &id).await;
            assert_endpoint_hidden(&app, &app.org.test_key, &id).await;
            assert_endpoint_hidden(&app, &app.org.live_key, &id).await;
            // Its owner does.
            let seen = endpoint_of(&app.get_endpoint(other.key(mode), &id).await);
            assert_eq!(seen["id"], json!(id));
            assert_eq!(seen["organizationId"], json!(other.id.to_string()));
        }
    }
}

db_test! {
    async fn other_mode_endpoint_is_not_found(app) {
        let live = webhook(&app, &app.org.live_key, "live").await;
        let test = webhook(&app, &app.org.test_key, "test").await;
        assert_eq!(live["mode"], "LIVE");
        assert_eq!(test["mode"], "TEST");

        assert_endpoint_hidden(&app, &app.org.test_key, &id_of(&live)).await;
        assert_endpoint_hidden(&app, &app.org.live_key, &id_of(&test)).await;

        let seen = endpoint_of(&app.get_endpoint(&app.org.live_key, &id_of(&live)).await);
        assert_eq!(seen["id"], live["id"]);
        let seen = endpoint_of(&app.get_endpoint(&app.org.test_key, &id_of(&test)).await);
        assert_eq!(seen["id"], test["id"]);
    }
}

db_test! {
    async fn hidden_endpoint_is_a_null_field(app) {
        // `endpoint` is nullable: a NOT_FOUND error nulls that field only, and the fields beside
        // it still resolve (GraphQL spec, "Handling Field Errors").
        let other = app.new_org("Other").await;
        let foreign = id_of(&webhook(&app, &other.test_key, "theirs").await);
        let other_mode = id_of(&webhook(&app, &app.org.live_key, "live").await);
        let missing = Uuid::new_v4().to_string();
        let query = "query($id: UUID!) { viewer { mode } endpoint(id: $id) { id } }";
        for id in [foreign, other_mode, missing] {
            let res = app.graphql(&app.org.test_key, query, json!({ "id": id })).await;
            assert_not_found(&res, "endpoint");
            assert_eq!(
                res.body["data"],
                json!({ "viewer": { "mode": "TEST" }, "endpoint": null }),
                "{}",
                res.body
            );

            let res = app.get_endpoint(&app.org.test_key, &id).await;
            assert_not_found(&res, "endpoint");
            assert_eq!(res.body["data"], json!({ "endpoint": null }), "{}", res.body);
        }
    }
}

db_test! {
    async fn endpoints_list_only_own_org_and_mode(app) {
        let other = app.new_org("Other").await;
        let ours_test = [
            id_of(&webhook(&app, &app.org.test_key, "ours-test-1").await),
            id_of(&webhook(&app, &app.org.test_key, "ours-test-2").await),
        ];
        let ours_live = [id_of(&webhook(&app, &app.org.live_key, "ours-live-1").await)];
        let theirs_test = [
            id_of(&webhook(&app, &other.test_key, "theirs-test-1").await),
            id_of(&webhook(&app, &other.test_key, "theirs-test-2").await),
            id_of(&webhook(&app, &other.test_key, "theirs-test-3").await),
        ];
        let theirs_live: [String; 0] = [];
        assert_eq!(app.endpoint_rows().await, 6);

        let cases: [(&str, &[String]); 4] = [
            (&app.org.test_key, &ours_test),
            (&app.org.live_key, &ours_live),
            (&other.test_key, &theirs_test),
            (&other.live_key, &theirs_live),
        ];
        for (key, expected) in cases {
            let expected = sorted(expected.to_vec());
            let (edges, nodes, total) = list(&app, key, Value::Null).await;
            assert_eq!(edges, nodes, "edges and nodes list the same endpoints");
            assert_eq!(sorted(edges), expected);
            assert_eq!(total, expected.len() as i64);

            // A search matching every name still stays inside the key's organization and mode.
            let (edges, nodes, total) = list(&app, key, json!({ "search": "-" })).await;
            assert_eq!(edges, nodes);
            assert_eq!(sorted(edges), expected);
            assert_eq!(total, expected.len() as i64);
        }

        // Searching for the other organization's names finds nothing.
        let (edges, nodes, total) = list(&app, &app.org.test_key, json!({ "search": "theirs" })).await;
        assert_eq!((edges, nodes, total), (vec![], vec![], 0));
        // Nor the other mode's.
        let (edges, nodes, total) = list(&app, &app.org.test_key, json!({ "search": "ours-live" })).await;
        assert_eq!((edges, nodes, total), (vec![], vec![], 0));
    }
}

db_test! {
    async fn mode_filter_for_the_other_mode_is_empty(app) {
        let test = id_of(&webhook(&app, &app.org.test_key, "test").await);
        let live = id_of(&webhook(&app, &app.org.live_key, "live").await);

        let (edges, nodes, total) = list(&app, &app.org.test_key, json!({ "mode": "LIVE" })).await;
        assert_eq!((edges, nodes, total), (vec![], vec![], 0));
        let (edges, nodes, total) = list(&app, &app.org.live_key, json!({ "mode": "TEST" })).await;
        assert_eq!((edges, nodes, total), (vec![], vec![], 0));

        // The key's own mode, asked for explicitly, lists its endpoints.
        let (edges, nodes, total) = list(&app, &app.org.test_key, json!({ "mode": "TEST" })).await;
        assert_eq!((edges, nodes, total), (vec![test.clone()], vec![test], 1));
        let (edges, nodes, total) = list(&app, &app.org.live_key, json!({ "mode": "LIVE" })).await;
        assert_eq!((edges, nodes, total), (vec![live.clone()], vec![live], 1));
    }
}

/// Updates that a key may not make to `id`: each is NOT_FOUND, exactly like a missing id, even
/// when the input also breaks a rule (so a rule check can't reveal that the endpoint exists).
async fn assert_update_refused(app: &TestApp, key: &str, id: &str) {
    let missing = Uuid::new_v4().to_string();
    for patch in [
        json!({ "name": "Hijacked" }),
        json!({ "status": "INACTIVE", "url": "https://attacker.example/hook" }),
        json!({}),
        json!({ "name": "" }),
        json!({ "type": "VAPI" }),
    ] {
        let mut input = patch.clone();
        input["id"] = json!(id);
        let res = app.update_endpoint(key, input).await;
        assert_not_found(&res, "updateEndpoint");
        assert_eq!(
            res.body["data"],
            json!({ "updateEndpoint": null }),
            "{}",
            res.body
        );

        let mut input = patch;
        input["id"] = json!(missing);
        let reference = app.update_endpoint(key, input).await;
        assert_eq!(
            res.body, reference.body,
            "a hidden endpoint looks like a missing one"
        );
    }
}

/// A delete that a key may not make: NOT_FOUND, exactly like a missing id.
async fn assert_delete_refused(app: &TestApp, key: &str, id: &str) {
    let res = app.delete_endpoint(key, id).await;
    assert_not_found(&res, "deleteEndpoint");
    assert_eq!(
        res.body["data"],
        json!({ "deleteEndpoint": null }),
        "{}",
        res.body
    );
    let reference = app.delete_endpoint(key, &Uuid::new_v4().to_string()).await;
    assert_eq!(
        res.body, reference.body,
        "a hidden endpoint looks like a missing one"
    );
}

db_test! {
    async fn other_org_endpoint_cannot_be_updated(app) {
        let other = app.new_org("Other").await;
        for mode in [Mode::Test, Mode::Live] {
            let id = id_of(&webhook(&app, other.key(mode), "theirs").await);
            let before = endpoint_of(&app.get_endpoint(other.key(mode), &id).await);

            assert_update_refused(&app, &app.org.test_key, &id).await;
            assert_update_refused(&app, &app.org.live_key, &id).await;

            assert_unchanged(&app, other.key(mode), &before).await;
            assert_eq!(before["name"], "theirs");
        }
    }
}

db_test! {
    async fn other_mode_endpoint_cannot_be_updated(app) {
        for (owner, intruder) in [(Mode::Live, Mode::Test), (Mode::Test, Mode::Live)] {
            let id = id_of(&webhook(&app, app.org.key(owner), "mine").await);
            let before = endpoint_of(&app.get_endpoint(app.org.key(owner), &id).await);

            assert_update_refused(&app, app.org.key(intruder), &id).await;

            assert_unchanged(&app, app.org.key(owner), &before).await;
            assert_eq!(before["name"], "mine");
            assert_eq!(before["status"], "ACTIVE");
        }
    }
}

db_test! {
    async fn other_org_endpoint_cannot_be_deleted(app) {
        let other = app.new_org("Other").await;
        for (mode, number) in [(Mode::Test, "+14155550101"), (Mode::Live, "+14155550102")] {
            let phone = app.add_phone_number(other.id, mode, number).await;
            let theirs = app
                .create_ok(
                    other.key(mode),
                    json!({ "name": "theirs", "type": "WEBHOOK", "url": "https://example.com/t", "phoneNumberId": phone }),
                )
                .await;
            let id = id_of(&theirs);
            let before = endpoint_of(&app.get_endpoint(other.key(mode), &id).await);
            assert_eq!(before["phoneNumbers"], json!([{ "id": phone.to_string(), "e164": number }]));
            let rows = app.endpoint_rows().await;

            assert_delete_refused(&app, &app.org.test_key, &id).await;
            assert_delete_refused(&app, &app.org.live_key, &id).await;

            // The owner still has it, with its phone number attached.
            assert_eq!(app.endpoint_rows().await, rows);
            assert_unchanged(&app, other.key(mode), &before).await;
            assert_eq!(phone_endpoint(&app, phone).await, Some(id.parse().expect("uuid")));
        }
    }
}

db_test! {
    async fn other_mode_endpoint_cannot_be_deleted(app) {
        for (owner, intruder, number) in
            [(Mode::Live, Mode::Test, "+14155550111"), (Mode::Test, Mode::Live, "+14155550112")]
        {
            let phone = app.add_phone_number(app.org.id, owner, number).await;
            let mine = app
                .create_ok(
                    app.org.key(owner),
                    json!({ "name": "mine", "type": "WEBHOOK", "url": "https://example.com/m", "phoneNumberId": phone }),
                )
                .await;
            let id = id_of(&mine);
            let before = endpoint_of(&app.get_endpoint(app.org.key(owner), &id).await);
            let rows = app.endpoint_rows().await;

            assert_delete_refused(&app, app.org.key(intruder), &id).await;

            assert_eq!(app.endpoint_rows().await, rows);
            assert_unchanged(&app, app.org.key(owner), &before).await;
            assert_eq!(phone_endpoint(&app, phone).await, Some(id.parse().expect("uuid")));
        }
    }
}

/// Creating with `phone` as the holder of `key` is refused with PHONE_NUMBER_NOT_FOUND, the same
/// refusal a never-existing number gets; nothing is written and the number stays detached.
async fn assert_phone_refused(app: &TestApp, key: &str, phone: Uuid) {
    let rows = app.endpoint_rows().await;
    let input = |phone: Uuid| json!({ "name": "Routed", "type": "WEBHOOK", "url": "https://example.com/r", "phoneNumberId": phone });
    let payload = app.create_endpoint(key, input(phone)).await;
    assert_eq!(payload["endpoint"], Value::Null, "{payload}");
    let errors = payload["userErrors"].as_array().expect("userErrors");
    assert_eq!(errors.len(), 1, "{payload}");
    assert_eq!(errors[0]["code"], "PHONE_NUMBER_NOT_FOUND", "{payload}");
    assert_eq!(
        errors[0]["field"],
        json!(["input", "phoneNumberId"]),
        "{payload}"
    );

    let reference = app.create_endpoint(key, input(Uuid::new_v4())).await;
    assert_eq!(
        payload, reference,
        "a hidden number looks like a missing one"
    );

    assert_eq!(app.endpoint_rows().await, rows, "nothing was created");
    assert_eq!(
        phone_endpoint(app, phone).await,
        None,
        "the number is still detached"
    );
}

db_test! {
    async fn other_org_phone_number_cannot_be_attached(app) {
        let other = app.new_org("Other").await;
        for (mode, number) in [(Mode::Test, "+14155550121"), (Mode::Live, "+14155550122")] {
            let phone = app.add_phone_number(other.id, mode, number).await;

            assert_phone_refused(&app, app.org.key(mode), phone).await;

            // Its own organization can still route it.
            let theirs = app
                .create_ok(
                    other.key(mode),
                    json!({ "name": "theirs", "type": "WEBHOOK", "url": "https://example.com/t", "phoneNumberId": phone }),
                )
                .await;
            assert_eq!(theirs["phoneNumbers"], json!([{ "id": phone.to_string(), "e164": number }]));
        }
    }
}

db_test! {
    async fn other_mode_phone_number_cannot_be_attached(app) {
        for (owner, intruder, number) in
            [(Mode::Live, Mode::Test, "+14155550131"), (Mode::Test, Mode::Live, "+14155550132")]
        {
            let phone = app.add_phone_number(app.org.id, owner, number).await;

            assert_phone_refused(&app, app.org.key(intruder), phone).await;

            let mine = app
                .create_ok(
                    app.org.key(owner),
                    json!({ "name": "mine", "type": "WEBHOOK", "url": "https://example.com/m", "phoneNumberId": phone }),
                )
                .await;
            assert_eq!(mine["phoneNumbers"], json!([{ "id": phone.to_string(), "e164": number }]));
        }
    }
}

db_test! {
    async fn key_cannot_create_in_the_other_mode(app) {
        for (key, asked) in [(&app.org.test_key, "LIVE"), (&app.org.live_key, "TEST")] {
            let payload = app
                .create_endpoint(
                    key,
                    json!({ "name": "Wrong mode", "type": "WEBHOOK", "url": "https://example.com/w", "mode": asked }),
                )
                .await;
            assert_eq!(payload["endpoint"], Value::Null, "{payload}");
            let errors = payload["userErrors"].as_array().expect("userErrors");
            assert_eq!(errors.len(), 1, "{payload}");
            assert_eq!(errors[0]["code"], "MODE_NOT_ALLOWED", "{payload}");
            assert_eq!(errors[0]["field"], json!(["input", "mode"]), "{payload}");
            assert_eq!(app.endpoint_rows().await, 0, "nothing was written");
        }
        for key in [&app.org.test_key, &app.org.live_key] {
            let (edges, _, total) = list(&app, key, Value::Null).await;
            assert_eq!((edges, total), (vec![], 0));
        }
    }
}

db_test! {
    async fn keys_create_in_their_own_org_and_mode(app) {
        let other = app.new_org("Other").await;
        for org in [&app.org, &other] {
            for (mode, name) in [(Mode::Test, "TEST"), (Mode::Live, "LIVE")] {
                let implicit = webhook(&app, org.key(mode), "implicit").await;
                assert_eq!(implicit["mode"], name);
                assert_eq!(implicit["organizationId"], json!(org.id.to_string()));

                let explicit = app
                    .create_ok(
                        org.key(mode),
                        json!({ "name": "explicit", "type": "WEBHOOK", "url": "https://example.com/e", "mode": name }),
                    )
                    .await;
                assert_eq!(explicit["mode"], name);
                assert_eq!(explicit["organizationId"], json!(org.id.to_string()));
            }
        }
        assert_eq!(app.endpoint_rows().await, 8);
    }
}
