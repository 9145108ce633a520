//! An update that changes nothing writes nothing: no event, no delivery to subscribers, the
//! same `updatedAt` and `ETag`, and the object as stored in the answer — over GraphQL and
//! REST, for endpoints (a secret sent again included) and members' roles.

use std::time::Duration;

use cockpit_gateway::domain::Role;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live::{ENDPOINT_EVENTS, Ws};

const VOGENT: &str = "Vogent desk";

fn vogent_config(password: &str) -> Value {
    json!({ "vogent": { "vogentSipPrefix": "desk", "vogentSipUsername": "user-1", "vogentSipPassword": password } })
}

/// A PATCH of `/v1/endpoints/{id}`: its status, `ETag` and body.
async fn patch(
    app: &TestApp,
    id: &str,
    if_match: Option<&str>,
    body: Value,
) -> (u16, Option<String>, Value) {
    let mut req = app
        .client
        .patch(format!("{}/v1/endpoints/{id}", app.address))
        .bearer_auth(&app.org.test_key)
        .json(&body);
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    let res = req.send().await.expect("PATCH");
    let status = res.status().as_u16();
    let etag = res
        .headers()
        .get("etag")
        .map(|t| t.to_str().expect("ascii").to_owned());
    (status, etag, res.json().await.expect("JSON"))
}

db_test! {
    async fn an_update_that_changes_nothing_writes_no_event_and_keeps_the_version(app) {
        let key = app.org.test_key.clone();
        let created = app
            .create_ok(&key, json!({ "name": VOGENT, "type": "VOGENT", "providerConfig": vogent_config("pass-1") }))
            .await;
        let id = created["id"].as_str().expect("id").to_owned();
        let version = created["updatedAt"].clone();
        let mut ws = Ws::with_key(&app.address, &key).await;
        ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let events = app.rows("events").await;

        // GraphQL: every field as stored, the secret sent again, the current version expected.
        let same = json!({ "id": id, "name": VOGENT, "status": "ACTIVE", "providerConfig": vogent_config("pass-1"),
            "expectedUpdatedAt": version });
        let res = app.update_endpoint(&key, same.clone()).await;
        let payload = &res.assert_ok()["updateEndpoint"];
        assert_eq!(payload["userErrors"], json!([]), "{payload}");
        assert_eq!(payload["endpoint"], created, "the endpoint as stored");
        // An empty patch, too.
        let res = app.update_endpoint(&key, json!({ "id": id })).await;
        assert_eq!(res.assert_ok()["updateEndpoint"]["endpoint"]["updatedAt"], version);
        assert_eq!(app.rows("events").await, events, "no event");

        // REST: the same name and status, the secret sent again, under the current ETag.
        let tag = format!("\"{}\"", chrono::DateTime::parse_from_rfc3339(version.as_str().expect("time")).expect("RFC 3339").timestamp_millis());
        let body = json!({ "name": VOGENT, "status": "active", "provider_config": {
            "vogent_sip_prefix": "desk", "vogent_sip_username": "user-1", "vogent_sip_password": "pass-1" } });
        let (status, etag, patched) = patch(&app, &id, Some(&tag), body.clone()).await;
        assert_eq!(status, 200, "{patched}");
        assert_eq!(etag.as_deref(), Some(tag.as_str()), "the same version");
        let millis = |t: &Value| chrono::DateTime::parse_from_rfc3339(t.as_str().expect("time")).expect("RFC 3339").timestamp_millis();
        assert_eq!(millis(&patched["updated_at"]), millis(&version));
        assert_eq!(app.rows("events").await, events, "no event");

        // A stale version is refused as before, changes or not.
        let old = "2020-01-01T00:00:00.000Z";
        let res = app.update_endpoint(&key, json!({ "id": id, "name": VOGENT, "expectedUpdatedAt": old })).await;
        assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"][0]["code"], "STALE", "{}", res.body);
        let (status, _, refused) = patch(&app, &id, Some("\"1\""), json!({ "name": VOGENT })).await;
        assert_eq!(status, 412, "{refused}");

        // Nothing reached the subscriber; a real change writes exactly one event and reaches it.
        ws.assert_silent(Duration::from_millis(300)).await;
        let res = app.update_endpoint(&key, json!({ "id": id, "providerConfig": vogent_config("pass-2"), "expectedUpdatedAt": version })).await;
        let changed = &res.assert_ok()["updateEndpoint"]["endpoint"];
        assert_ne!(changed["updatedAt"], version, "a new password is a change");
        assert_eq!(app.rows("events").await, events + 1);
        let event = ws.next_event().await;
        assert_eq!(event["type"], "ENDPOINT_UPDATED");
        assert_eq!(event["event"]["after"], json!({ "provider_config": { "vogent_sip_password": "[redacted]" } }));
        ws.assert_silent(Duration::from_millis(300)).await;
        // The new password is the one stored: sent again, it changes nothing.
        let res = app.update_endpoint(&key, json!({ "id": id, "providerConfig": vogent_config("pass-2") })).await;
        assert_eq!(res.assert_ok()["updateEndpoint"]["endpoint"]["updatedAt"], changed["updatedAt"]);
        assert_eq!(app.rows("events").await, events + 1);
    }
}

db_test! {
    async fn a_role_a_member_has_already_writes_no_event(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let (user, _) = app.member(app.org.id, Role::Admin).await;
        let member = app
            .graphql(&owner, "{ members { nodes { id userId role } } }", json!({}))
            .await;
        let member = member.assert_ok()["members"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|m| m["userId"] == user.as_str())
            .expect("the admin")["id"]
            .clone();
        let events = app.rows("events").await;
        let update = "mutation($m: UUID!, $r: Role!) { updateMemberRole(input: {memberId: $m, role: $r}) { member { id role } userErrors { code } } }";
        let res = app.graphql(&owner, update, json!({ "m": member, "r": "ADMIN" })).await;
        assert_eq!(res.assert_ok()["updateMemberRole"], json!({ "member": { "id": member, "role": "ADMIN" }, "userErrors": [] }));
        assert_eq!(app.rows("events").await, events, "no event");
        // The command line's `member add` of a member with that role, too.
        app.add_member(app.org.id, &user, Role::Admin).await;
        assert_eq!(app.rows("events").await, events, "no event");
        let res = app.graphql(&owner, update, json!({ "m": member, "r": "MEMBER" })).await;
        assert_eq!(res.assert_ok()["updateMemberRole"]["member"]["role"], "MEMBER");
        assert_eq!(app.rows("events").await, events + 1, "a change is one event");
    }
}
