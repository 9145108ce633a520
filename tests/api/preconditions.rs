//! Optimistic concurrency: `expectedUpdatedAt` on `updateEndpoint`/`deleteEndpoint` (a
//! `STALE` user error with the current endpoint, nothing written), REST's `ETag`, `If-Match`
//! (412) and `If-None-Match` (304); of racing writes of one version exactly one wins.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::*;

const UPDATE: &str = "mutation($input: UpdateEndpointInput!) { updateEndpoint(input: $input) {
    endpoint { id name updatedAt } currentEndpoint { id name updatedAt }
    userErrors { field code message } } }";
const DELETE: &str = "mutation($input: DeleteEndpointInput!) { deleteEndpoint(input: $input) {
    deletedEndpointId currentEndpoint { id name updatedAt } userErrors { field code message } } }";

struct Rest {
    status: StatusCode,
    etag: Option<String>,
    body: Value,
}

async fn rest(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Rest {
    rest_as(app, &app.org.test_key, method, path, headers, body).await
}

async fn rest_as(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Rest {
    let mut req = app
        .client
        .request(method, format!("{}/v1{path}", app.address))
        .bearer_auth(token);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let etag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = res.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON")
    };
    Rest { status, etag, body }
}

async fn webhook(app: &TestApp, name: &str) -> Value {
    app.create_ok(
        &app.org.test_key,
        json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example/in" }),
    )
    .await
}

db_test! {
    async fn a_stale_update_is_refused_with_the_current_endpoint_and_writes_nothing(app) {
        let key = app.org.test_key.clone();
        let e = webhook(&app, "Original").await;
        let (id, read_at) = (e["id"].as_str().expect("id").to_owned(), e["updatedAt"].clone());
        // Someone else changes it after we read it.
        let theirs = app.graphql(&key, UPDATE, json!({ "input": { "id": id, "name": "Theirs", "expectedUpdatedAt": read_at } })).await;
        let theirs = theirs.assert_ok()["updateEndpoint"].clone();
        assert_eq!(theirs["userErrors"], json!([]), "{theirs}");
        assert_eq!(theirs["currentEndpoint"], Value::Null);
        assert_ne!(theirs["endpoint"]["updatedAt"], read_at, "updatedAt moved");

        let ours = app.graphql(&key, UPDATE, json!({ "input": { "id": id, "name": "Ours", "expectedUpdatedAt": read_at } })).await;
        let ours = ours.assert_ok()["updateEndpoint"].clone();
        assert_eq!(ours["endpoint"], Value::Null);
        assert_eq!(ours["userErrors"][0]["code"], "STALE", "{ours}");
        assert_eq!(ours["userErrors"][0]["field"], json!(["input", "expectedUpdatedAt"]));
        assert_eq!(ours["currentEndpoint"], theirs["endpoint"], "the version stored now");
        let stored = app.get_endpoint(&key, &id).await;
        assert_eq!(stored.assert_ok()["endpoint"]["name"], "Theirs", "nothing written");
        assert_eq!(stored.assert_ok()["endpoint"]["updatedAt"], theirs["endpoint"]["updatedAt"]);

        // Merged onto the current version, it goes through.
        let retried = app.graphql(&key, UPDATE, json!({ "input": { "id": id, "name": "Ours", "expectedUpdatedAt": theirs["endpoint"]["updatedAt"] } })).await;
        assert_eq!(retried.assert_ok()["updateEndpoint"]["endpoint"]["name"], "Ours");

        // Without the field an update is unconditional, as before.
        let plain = app.graphql(&key, UPDATE, json!({ "input": { "id": id, "name": "Plain" } })).await;
        assert_eq!(plain.assert_ok()["updateEndpoint"]["endpoint"]["name"], "Plain");

        // A time that was never a version (a microsecond off) is stale too.
        let current = plain.assert_ok()["updateEndpoint"]["endpoint"]["updatedAt"].as_str().expect("at").to_owned();
        let off = chrono::DateTime::parse_from_rfc3339(&current).expect("time") + chrono::Duration::microseconds(1);
        let res = app.graphql(&key, UPDATE, json!({ "input": { "id": id, "name": "Off", "expectedUpdatedAt": off.to_rfc3339() } })).await;
        assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"][0]["code"], "STALE");

        // Another organization's endpoint is not found, whatever the version.
        let other = app.new_org("Other").await;
        let res = app.graphql(&other.test_key, UPDATE, json!({ "input": { "id": id, "name": "X", "expectedUpdatedAt": current } })).await;
        assert_eq!(res.error_code(), Some("NOT_FOUND"), "{}", res.body);
    }
}

db_test! {
    async fn a_stale_delete_keeps_the_endpoint_and_its_numbers(app) {
        let key = app.org.test_key.clone();
        let e = webhook(&app, "Keep").await;
        let (id, read_at) = (e["id"].as_str().expect("id").to_owned(), e["updatedAt"].clone());
        let number = app.add_phone_number(app.org.id, cockpit_gateway::domain::Mode::Test, "+14155550100").await;
        let attach = "mutation($input: AttachPhoneNumberInput!) { attachPhoneNumber(input: $input) { userErrors { code } } }";
        let attached = app.graphql(&key, attach, json!({ "input": { "phoneNumberId": number, "endpointId": id } })).await;
        assert_eq!(attached.assert_ok()["attachPhoneNumber"]["userErrors"], json!([]), "{}", attached.body);
        let changed = app.graphql(&key, UPDATE, json!({ "input": { "id": id, "name": "Changed" } })).await;
        let changed = changed.assert_ok()["updateEndpoint"]["endpoint"].clone();

        let res = app.graphql(&key, DELETE, json!({ "input": { "id": id, "expectedUpdatedAt": read_at } })).await;
        let payload = res.assert_ok()["deleteEndpoint"].clone();
        assert_eq!(payload["deletedEndpointId"], Value::Null);
        assert_eq!(payload["userErrors"][0]["code"], "STALE", "{payload}");
        assert_eq!(payload["currentEndpoint"], changed);
        let stored = app.get_endpoint(&key, &id).await;
        let stored = stored.assert_ok()["endpoint"].clone();
        assert_eq!(stored["name"], "Changed", "still there");
        assert_eq!(stored["phoneNumbers"].as_array().map(Vec::len), Some(1), "its number still routed: {stored}");

        let res = app.graphql(&key, DELETE, json!({ "input": { "id": id, "expectedUpdatedAt": changed["updatedAt"] } })).await;
        let payload = res.assert_ok()["deleteEndpoint"].clone();
        assert_eq!(payload["userErrors"], json!([]), "{payload}");
        assert!(payload["deletedEndpointId"].is_string());
    }
}

db_test! {
    async fn of_racing_updates_of_one_version_exactly_one_wins(app) {
        let e = webhook(&app, "Raced").await;
        let (id, read_at) = (e["id"].as_str().expect("id").to_owned(), e["updatedAt"].clone());
        let mut set = JoinSet::new();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(10));
        for n in 0..10 {
            let (client, address, key, id, read_at) = (app.client.clone(), app.address.clone(), app.org.test_key.clone(), id.clone(), read_at.clone());
            let barrier = barrier.clone();
            set.spawn(async move {
                barrier.wait().await;
                let res = client.post(format!("{address}/graphql")).bearer_auth(key)
                    .json(&json!({ "query": UPDATE, "variables": { "input": { "id": id, "name": format!("Writer {n}"), "expectedUpdatedAt": read_at } } }))
                    .send().await.expect("send");
                let body: Value = res.json().await.expect("JSON");
                (n, body["data"]["updateEndpoint"].clone())
            });
        }
        let results = set.join_all().await;
        let winners: Vec<_> = results.iter().filter(|(_, p)| p["userErrors"] == json!([])).collect();
        assert_eq!(winners.len(), 1, "{results:#?}");
        for (_, payload) in &results {
            if payload["userErrors"] != json!([]) {
                assert_eq!(payload["userErrors"][0]["code"], "STALE", "{payload}");
                assert_eq!(payload["currentEndpoint"]["name"], format!("Writer {}", winners[0].0), "the losers see the winner's version");
            }
        }
        let stored = app.get_endpoint(&app.org.test_key, &id).await;
        assert_eq!(stored.assert_ok()["endpoint"]["name"], format!("Writer {}", winners[0].0));

        // The same through REST's If-Match.
        let current = rest(&app, Method::GET, &format!("/endpoints/{id}"), &[], None).await;
        let tag = current.etag.expect("ETag");
        let mut set = JoinSet::new();
        for n in 0..10 {
            let (client, address, key, id, tag) = (app.client.clone(), app.address.clone(), app.org.test_key.clone(), id.clone(), tag.clone());
            set.spawn(async move {
                let res = client.patch(format!("{address}/v1/endpoints/{id}")).bearer_auth(key)
                    .header("if-match", tag).json(&json!({ "name": format!("Rest {n}") })).send().await.expect("send");
                res.status()
            });
        }
        let statuses = set.join_all().await;
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::PRECONDITION_FAILED), "{statuses:?}");
    }
}

db_test! {
    async fn rest_etags_answer_if_none_match_and_if_match(app) {
        let e = webhook(&app, "Tagged").await;
        let id = e["id"].as_str().expect("id").to_owned();
        let path = format!("/endpoints/{id}");
        let got = rest(&app, Method::GET, &path, &[], None).await;
        let tag = got.etag.clone().expect("GET has an ETag");
        assert!(tag.starts_with('"') && tag.ends_with('"'), "a strong tag: {tag}");

        // If-None-Match: the current tag (as sent, weak, in a list, or *) is 304 without a body.
        let weak = format!("W/{tag}");
        let listed = format!("\"other\", {tag}");
        for value in [tag.as_str(), weak.as_str(), listed.as_str(), "*"] {
            let res = rest(&app, Method::GET, &path, &[("if-none-match", value)], None).await;
            assert_eq!(res.status, StatusCode::NOT_MODIFIED, "{value}");
            assert_eq!(res.body, Value::Null);
            assert_eq!(res.etag.as_deref(), Some(tag.as_str()));
        }
        let res = rest(&app, Method::GET, &path, &[("if-none-match", "\"1\"")], None).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body, got.body);

        // If-Match with an old tag: 412, nothing written.
        let patched = rest(&app, Method::PATCH, &path, &[("if-match", &tag)], Some(json!({ "name": "First" }))).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        let new_tag = patched.etag.clone().expect("PATCH has an ETag");
        assert_ne!(new_tag, tag, "a change is a new version");
        let stale = rest(&app, Method::PATCH, &path, &[("if-match", &tag)], Some(json!({ "name": "Second" }))).await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{}", stale.body);
        assert_eq!(stale.body["code"], "PRECONDITION_FAILED");
        assert!(stale.body["error"].as_str().is_some_and(|m| m.contains(&new_tag)), "names the current tag: {}", stale.body);
        for value in [weak.as_str(), "\"garbage\"", "not a tag"] {
            let res = rest(&app, Method::PATCH, &path, &[("if-match", value)], Some(json!({ "name": "Never" }))).await;
            assert_eq!(res.status, StatusCode::PRECONDITION_FAILED, "{value}: {}", res.body);
        }
        let stale_delete = rest(&app, Method::DELETE, &path, &[("if-match", &tag)], None).await;
        assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);
        let now = rest(&app, Method::GET, &path, &[], None).await;
        assert_eq!(now.body["name"], "First", "none of the refused writes landed");
        assert_eq!(now.etag.as_deref(), Some(new_tag.as_str()));

        // The current tag, a list naming it, or * let the write through.
        let listed = format!("{tag}, {new_tag}");
        let res = rest(&app, Method::PATCH, &path, &[("if-match", &listed)], Some(json!({ "name": "Listed" }))).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let res = rest(&app, Method::PATCH, &path, &[("if-match", "*")], Some(json!({ "name": "Any" }))).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        let current = res.etag.expect("ETag");

        // Another organization's endpoint is 404, never 412.
        let other = app.new_org("Other").await;
        let res = rest_as(&app, &other.test_key, Method::DELETE, &path, &[("if-match", &current)], None).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);
        let res = rest_as(&app, &other.test_key, Method::GET, &path, &[("if-none-match", &current)], None).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND);

        let res = rest(&app, Method::DELETE, &path, &[("if-match", &current)], None).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT);
    }
}

db_test! {
    async fn preconditions_are_part_of_what_an_idempotency_key_stands_for(app) {
        let e = webhook(&app, "Keyed").await;
        let path = format!("/endpoints/{}", e["id"].as_str().expect("id"));
        let tag = rest(&app, Method::GET, &path, &[], None).await.etag.expect("ETag");
        let done = rest(&app, Method::PATCH, &path, &[("if-match", &tag), ("idempotency-key", "p1")], Some(json!({ "name": "A" }))).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        let other = rest(&app, Method::PATCH, &path, &[("if-match", "\"1\""), ("idempotency-key", "p1")], Some(json!({ "name": "A" }))).await;
        assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY, "another precondition is another request: {}", other.body);
        assert_eq!(other.body["code"], "IDEMPOTENCY_KEY_REUSED");
        // A refused precondition changed nothing: its key isn't kept, the next request runs.
        let stale = rest(&app, Method::PATCH, &path, &[("if-match", "\"1\""), ("idempotency-key", "p2")], Some(json!({ "name": "B" }))).await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
        let current = rest(&app, Method::GET, &path, &[], None).await.etag.expect("ETag");
        let fresh = rest(&app, Method::PATCH, &path, &[("if-match", &current), ("idempotency-key", "p2")], Some(json!({ "name": "B" }))).await;
        assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
        let none = rest(&app, Method::PATCH, &path, &[("idempotency-key", "p1")], Some(json!({ "name": "A" }))).await;
        assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
}

db_test! {
    async fn a_time_finer_than_a_version_is_stale_on_every_database(app) {
        let e = webhook(&app, "Fine").await;
        let id = e["id"].as_str().expect("id").to_owned();
        let at = chrono::DateTime::parse_from_rfc3339(e["updatedAt"].as_str().expect("at")).expect("time");
        for off in [chrono::Duration::nanoseconds(1), chrono::Duration::microseconds(1)] {
            let finer = (at + off).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let res = app.graphql(&app.org.test_key, UPDATE, json!({ "input": { "id": id, "name": "Finer", "expectedUpdatedAt": finer } })).await;
            assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"][0]["code"], "STALE", "{}", res.body);
            let res = app.graphql(&app.org.test_key, DELETE, json!({ "input": { "id": id, "expectedUpdatedAt": finer } })).await;
            assert_eq!(res.assert_ok()["deleteEndpoint"]["userErrors"][0]["code"], "STALE", "{}", res.body);
        }
        // The same instant in another offset is the same version.
        let offset = at.with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).expect("offset")).to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
        let res = app.graphql(&app.org.test_key, UPDATE, json!({ "input": { "id": id, "name": "Offset", "expectedUpdatedAt": offset } })).await;
        assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"], json!([]), "{}", res.body);
    }
}

db_test! {
    async fn the_other_modes_key_never_learns_a_version(app) {
        // A test-mode endpoint, and the same organization's live key.
        let e = webhook(&app, "Test mode").await;
        let (id, at) = (e["id"].as_str().expect("id").to_owned(), e["updatedAt"].clone());
        let path = format!("/endpoints/{id}");
        let tag = rest(&app, Method::GET, &path, &[], None).await.etag.expect("ETag");
        let live = app.org.live_key.clone();
        let res = app.graphql(&live, UPDATE, json!({ "input": { "id": id, "name": "X", "expectedUpdatedAt": at } })).await;
        assert_eq!(res.error_code(), Some("NOT_FOUND"), "{}", res.body);
        let res = app.graphql(&live, DELETE, json!({ "input": { "id": id, "expectedUpdatedAt": "2000-01-01T00:00:00Z" } })).await;
        assert_eq!(res.error_code(), Some("NOT_FOUND"), "not STALE, which would say it exists: {}", res.body);
        for (method, headers) in [
            (Method::GET, [("if-none-match", tag.as_str())]),
            (Method::PATCH, [("if-match", tag.as_str())]),
            (Method::DELETE, [("if-match", "\"1\"")]),
        ] {
            let body = (method == Method::PATCH).then(|| json!({ "name": "X" }));
            let res = rest_as(&app, &live, method.clone(), &path, &headers, body).await;
            assert_eq!(res.status, StatusCode::NOT_FOUND, "{method}");
            assert_eq!(res.etag, None, "{method}");
        }
        let stored = rest(&app, Method::GET, &path, &[], None).await;
        assert_eq!(stored.body["name"], "Test mode");
        assert_eq!(stored.etag.as_deref(), Some(tag.as_str()));
    }
}

/// A version as a JavaScript `Date` holds it: parsed, then written back with `toISOString()`
/// (whole milliseconds, `Z`).
fn as_js_date(at: &Value) -> String {
    let at = chrono::DateTime::parse_from_rfc3339(at.as_str().expect("a time")).expect("RFC 3339");
    chrono::DateTime::from_timestamp_millis(at.timestamp_millis())
        .expect("in range")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Puts the stored version of endpoint `id` at `at`, as though it had been written then.
async fn store_version(app: &TestApp, id: &str, at: chrono::DateTime<chrono::Utc>) {
    use entity::endpoint::{Column, Entity};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let id = uuid::Uuid::parse_str(id).expect("a UUID");
    let updated = Entity::update_many()
        .col_expr(Column::UpdatedAt, Expr::value(at))
        .filter(Column::Id.eq(id))
        .exec(&app.db)
        .await
        .expect("update");
    assert_eq!(updated.rows_affected, 1);
}

db_test! {
    async fn a_version_read_into_a_javascript_date_is_current_until_the_endpoint_changes(app) {
        let key = app.org.test_key.clone();
        let e = webhook(&app, "Dated").await;
        let id = e["id"].as_str().expect("id").to_owned();
        let read = as_js_date(&e["updatedAt"]);
        assert_eq!(e["updatedAt"], read.as_str(), "the version is what a Date writes back");

        let res = app.graphql(&key, UPDATE, json!({ "input": { "id": id, "name": "Renamed", "expectedUpdatedAt": read } })).await;
        let updated = res.assert_ok()["updateEndpoint"].clone();
        assert_eq!(updated["userErrors"], json!([]), "nothing changed since it was read: {}", res.body);
        assert_eq!(updated["endpoint"]["name"], "Renamed");

        // The same Date after the change is stale, for an update and a delete alike.
        let res = app.graphql(&key, UPDATE, json!({ "input": { "id": id, "name": "Again", "expectedUpdatedAt": read } })).await;
        assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"][0]["code"], "STALE", "{}", res.body);
        let res = app.graphql(&key, DELETE, json!({ "input": { "id": id, "expectedUpdatedAt": read } })).await;
        assert_eq!(res.assert_ok()["deleteEndpoint"]["userErrors"][0]["code"], "STALE", "{}", res.body);

        // The new version, through a Date, deletes it.
        let current = as_js_date(&updated["endpoint"]["updatedAt"]);
        let res = app.graphql(&key, DELETE, json!({ "input": { "id": id, "expectedUpdatedAt": current } })).await;
        let deleted = &res.assert_ok()["deleteEndpoint"];
        assert_eq!(deleted["userErrors"], json!([]), "{}", res.body);
        assert_eq!(deleted["deletedEndpointId"], id.as_str());
    }
}

db_test! {
    async fn two_updates_within_one_millisecond_are_two_versions(app) {
        use chrono::DurationRound as _;
        let key = app.org.test_key.clone();
        let e = webhook(&app, "Busy").await;
        let id = e["id"].as_str().expect("id").to_owned();
        // A version a minute ahead of the clock, on a whole second: every update below lands
        // before it, as updates within its millisecond would.
        let ahead = chrono::Utc::now().duration_trunc(chrono::TimeDelta::seconds(1)).expect("trunc")
            + chrono::TimeDelta::minutes(1);
        store_version(&app, &id, ahead).await;
        let v0 = app.get_endpoint(&key, &id).await.assert_ok()["endpoint"]["updatedAt"].clone();

        let mut versions = vec![as_js_date(&v0)];
        for name in ["One", "Two"] {
            let expected = versions.last().expect("a version").clone();
            let res = app.graphql(&key, UPDATE, json!({ "input": { "id": id, "name": name, "expectedUpdatedAt": expected } })).await;
            let payload = &res.assert_ok()["updateEndpoint"];
            assert_eq!(payload["userErrors"], json!([]), "{}", res.body);
            versions.push(as_js_date(&payload["endpoint"]["updatedAt"]));
        }
        assert!(
            versions.windows(2).all(|pair| pair[0] < pair[1]),
            "each update is a later version, even as a Date holds it: {versions:?}"
        );
        for old in &versions[..2] {
            let res = app.graphql(&key, UPDATE, json!({ "input": { "id": id, "name": "Late", "expectedUpdatedAt": old } })).await;
            assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"][0]["code"], "STALE", "{old}: {}", res.body);
        }

        // REST alike: two PATCHes in that millisecond give two entity tags, the first then stale.
        let path = format!("/endpoints/{id}");
        let first = rest(&app, Method::GET, &path, &[], None).await.etag.expect("ETag");
        let patched = rest(&app, Method::PATCH, &path, &[("if-match", &first)], Some(json!({ "name": "Three" }))).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        let second = patched.etag.expect("ETag");
        assert_ne!(first, second);
        let late = rest(&app, Method::PATCH, &path, &[("if-match", &first)], Some(json!({ "name": "Late" }))).await;
        assert_eq!(late.status, StatusCode::PRECONDITION_FAILED, "{}", late.body);
        let patched = rest(&app, Method::PATCH, &path, &[("if-match", &second)], Some(json!({ "name": "Four" }))).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    }
}

db_test! {
    async fn an_entity_tag_is_the_version_a_client_date_holds(app) {
        let e = webhook(&app, "Tagged").await;
        let id = e["id"].as_str().expect("id").to_owned();
        let path = format!("/endpoints/{id}");
        let read = rest(&app, Method::GET, &path, &[], None).await;
        let tag = read.etag.clone().expect("ETag");
        // The tag is the version's milliseconds since the epoch (a Date's `getTime()`), so a
        // client holding `updated_at` as a Date can send it back as `If-Match`.
        let millis = chrono::DateTime::parse_from_rfc3339(read.body["updated_at"].as_str().expect("updated_at"))
            .expect("RFC 3339")
            .timestamp_millis();
        assert_eq!(tag, format!("\"{millis}\""));
        assert_eq!(read.body["updated_at"], as_js_date(&read.body["updated_at"]).as_str());
        assert_eq!(read.body["updated_at"], e["updatedAt"], "one version on both transports");

        let unchanged = rest(&app, Method::GET, &path, &[("if-none-match", &tag)], None).await;
        assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
        let patched = rest(&app, Method::PATCH, &path, &[("if-match", &tag)], Some(json!({ "name": "Tagged again" }))).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        let new_tag = patched.etag.clone().expect("ETag");
        assert_ne!(new_tag, tag);
        let stale = rest(&app, Method::DELETE, &path, &[("if-match", &tag)], None).await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{}", stale.body);
        // The GraphQL version of the same state is the same instant.
        let g = app.get_endpoint(&app.org.test_key, &id).await;
        assert_eq!(g.assert_ok()["endpoint"]["updatedAt"], patched.body["updated_at"]);
        let gone = rest(&app, Method::DELETE, &path, &[("if-match", &new_tag)], None).await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    }
}

// An update of an endpoint whose version this gateway remembers (it created or wrote it)
// after another gateway sharing the database has written it: nothing the other wrote is
// lost, an `expectedUpdatedAt` is checked against what is stored, a patch that changes
// nothing over the remembered version still writes what is stored, one event a write; a
// deleted endpoint, another organization's or the other mode's is not found.
db_test! {
    async fn an_update_over_a_version_another_gateway_replaced_loses_nothing(app) {
        let other = TestApp::builder(app.backend).on(app.test_db.shared()).spawn().await.expect("a second gateway");
        let key = app.org.test_key.clone();
        let made = app.create_ok(&key, json!({ "name": "one", "type": "WEBHOOK", "url": "https://example.com/a" })).await;
        let id = made["id"].as_str().expect("id").to_owned();
        let update = async |gateway: &TestApp, input: Value| {
            gateway.graphql(&key, UPDATE, json!({ "input": input })).await
        };
        let events = app.rows("events").await;

        // The other gateway deactivates it; this one, remembering it active, renames it.
        let replaced = update(&other, json!({ "id": id, "status": "INACTIVE" })).await;
        let replaced_at = replaced.assert_ok()["updateEndpoint"]["endpoint"]["updatedAt"].clone();
        let renamed = update(&app, json!({ "id": id, "name": "two" })).await;
        let renamed = renamed.assert_ok()["updateEndpoint"].clone();
        assert_eq!(renamed["userErrors"], json!([]), "{renamed}");
        assert_eq!(renamed["endpoint"]["name"], "two");
        let read = other.get_endpoint(&key, &id).await;
        assert_eq!(read.assert_ok()["endpoint"]["status"], "INACTIVE", "the other gateway's write stands");
        assert_eq!(read.assert_ok()["endpoint"]["name"], "two");
        assert_ne!(renamed["endpoint"]["updatedAt"], replaced_at);

        // A version the client read from the other gateway, newer than the one remembered here.
        let moved = update(&other, json!({ "id": id, "name": "three" })).await;
        let moved_at = moved.assert_ok()["updateEndpoint"]["endpoint"]["updatedAt"].clone();
        let expected = update(&app, json!({ "id": id, "name": "four", "expectedUpdatedAt": moved_at })).await;
        let expected = expected.assert_ok()["updateEndpoint"].clone();
        assert_eq!(expected["userErrors"], json!([]), "the version stored is the one expected: {expected}");
        assert_eq!(expected["endpoint"]["name"], "four");
        // ... and one older than what is stored, though it is the one remembered here.
        let remembered_at = expected["endpoint"]["updatedAt"].clone();
        update(&other, json!({ "id": id, "name": "five" })).await.assert_ok();
        let stale = update(&app, json!({ "id": id, "name": "six", "expectedUpdatedAt": remembered_at })).await;
        let stale = stale.assert_ok()["updateEndpoint"].clone();
        assert_eq!(stale["userErrors"][0]["code"], "STALE", "{stale}");
        assert_eq!(stale["currentEndpoint"]["name"], "five");

        // A patch that changes nothing over the version remembered here ("four" was written
        // here last; "five" is stored): it is written.
        let back = update(&app, json!({ "id": id, "name": "four" })).await;
        assert_eq!(back.assert_ok()["updateEndpoint"]["endpoint"]["name"], "four");
        let read = other.get_endpoint(&key, &id).await;
        assert_eq!(read.assert_ok()["endpoint"]["name"], "four");
        // Six writes, six events; the refused one and the failed tries over an old version
        // recorded none.
        assert_eq!(app.rows("events").await, events + 6);

        // Another organization's key and this organization's live key, on the gateway that
        // remembers it: not found, and nothing changes.
        let stranger = app.new_org("Other").await;
        let events = app.rows("events").await;
        for key in [stranger.test_key.as_str(), app.org.live_key.as_str()] {
            let res = app.graphql(key, UPDATE, json!({ "input": { "id": id, "name": "taken" } })).await;
            assert_eq!(res.error_code(), Some("NOT_FOUND"), "{}", res.body);
        }
        let read = other.get_endpoint(&app.org.test_key, &id).await;
        assert_eq!(read.assert_ok()["endpoint"]["name"], "four");
        assert_eq!(app.rows("events").await, events, "a refused update records nothing");

        // Deleted by the other gateway: not found here either.
        other.delete_endpoint(&app.org.test_key, &id).await.assert_ok();
        let gone = app.graphql(&app.org.test_key, UPDATE, json!({ "input": { "id": id, "name": "seven" } })).await;
        assert_eq!(gone.error_code(), Some("NOT_FOUND"), "{}", gone.body);
    }
}

// A keyed update whose unit of work rolls back (its response too large to keep) leaves no
// version remembered: another gateway may commit that same version with other contents (a
// version ahead of the clock makes the next one its next millisecond on every gateway), and an
// update over the one rolled back would pass its condition and write a patch against contents
// that were never stored.
db_test! {
    async fn a_version_rolled_back_is_not_written_over(app) {
        use chrono::DurationRound as _;
        let app = TestApp::builder(app.backend)
            .with_config(|c| c.limits.idempotent_response_bytes = 64)
            .on(app.test_db.shared())
            .spawn()
            .await
            .expect("a gateway keeping small responses");
        let other = TestApp::builder(app.backend).on(app.test_db.shared()).spawn().await.expect("a second gateway");
        let key = app.org.test_key.clone();
        let made = app.create_ok(&key, json!({ "name": "one", "type": "WEBHOOK", "url": "https://example.com/a" })).await;
        let id = made["id"].as_str().expect("id").to_owned();
        let ahead = chrono::Utc::now().duration_trunc(chrono::TimeDelta::seconds(1)).expect("trunc")
            + chrono::TimeDelta::minutes(1);
        store_version(&app, &id, ahead).await;

        // Written, then rolled back: its response is longer than the key may keep.
        let res = app
            .post(
                &[("authorization", &format!("Bearer {key}")), ("idempotency-key", "rolled-back")],
                json!({ "query": UPDATE, "variables": { "input": { "id": id, "name": "x" } } }),
            )
            .await;
        assert_eq!(res.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        let read = other.get_endpoint(&key, &id).await;
        assert_eq!(read.assert_ok()["endpoint"]["name"], "one", "nothing of it was written");

        // The other gateway commits the version the rolled-back write had, with another name.
        let renamed = other.graphql(&key, UPDATE, json!({ "input": { "id": id, "name": "y" } })).await;
        assert_eq!(renamed.assert_ok()["updateEndpoint"]["endpoint"]["name"], "y");

        // Asked for "x" (the name rolled back) and a status: both are what is stored after.
        let res = app.graphql(&key, UPDATE, json!({ "input": { "id": id, "name": "x", "status": "INACTIVE" } })).await;
        let payload = &res.assert_ok()["updateEndpoint"];
        assert_eq!(payload["userErrors"], json!([]), "{}", res.body);
        assert_eq!(payload["endpoint"]["name"], "x", "{}", res.body);
        let read = other.get_endpoint(&key, &id).await;
        assert_eq!(read.assert_ok()["endpoint"]["name"], "x");
        assert_eq!(read.assert_ok()["endpoint"]["status"], "INACTIVE");
    }
}
