//! Every time has one form, on every transport (GraphQL over HTTP, WebSocket and SSE, REST,
//! events' data, messages): RFC 3339 in UTC with `Z` and exactly three fractional digits, as a
//! JavaScript `Date` writes it, and the same instant wherever it is read.

use std::time::Duration;

use cockpit_gateway::domain::{Mode, Role};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::live::*;

/// A time on a whole second, whose fractional digits a shorter form would leave out.
const WHOLE: &str = "2026-01-02T03:04:05.000Z";

/// Asserts that `at` is a time in the one form.
fn assert_one_form(at: &Value, what: &str) {
    let text = at
        .as_str()
        .unwrap_or_else(|| panic!("{what} is a time: {at}"));
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{what} is RFC 3339 ({e}): {text}"));
    assert_eq!(
        text,
        parsed
            .to_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "{what}"
    );
}

/// Stores `at` as endpoint `id`'s `created_at` and `updated_at`.
async fn store_times(app: &TestApp, id: &str, at: &str) {
    use entity::endpoint::{Column, Entity};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let at: chrono::DateTime<chrono::Utc> = at.parse().expect("a time");
    Entity::update_many()
        .col_expr(Column::CreatedAt, Expr::value(at))
        .col_expr(Column::UpdatedAt, Expr::value(at))
        .filter(Column::Id.eq(uuid::Uuid::parse_str(id).expect("UUID")))
        .exec(&app.db)
        .await
        .expect("update");
}

async fn rest_get(app: &TestApp, path: &str) -> (reqwest::StatusCode, Value) {
    let res = app
        .client
        .get(format!("{}/v1{path}", app.address))
        .bearer_auth(&app.org.test_key)
        .send()
        .await
        .expect("request");
    (res.status(), res.json().await.expect("JSON"))
}

fn webhook(name: &str) -> Value {
    json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/in" })
}

const TIMES: &str = "query($id: UUID!) {
    endpoint(id: $id) { createdAt updatedAt }
    viewer { organization { createdAt } }
    phoneNumbers(first: 10) { nodes { createdAt } }
}";

db_test! {
    async fn every_time_over_graphql_and_rest_has_one_form(app) {
        let key = app.org.test_key.clone();
        app.add_phone_number(app.org.id, Mode::Test, "+14155550199").await;
        let e = app.create_ok(&key, webhook("Timed")).await;
        let id = e["id"].as_str().expect("id").to_owned();
        assert_one_form(&e["createdAt"], "createEndpoint createdAt");
        assert_one_form(&e["updatedAt"], "createEndpoint updatedAt");
        store_times(&app, &id, WHOLE).await;

        let res = app.graphql(&key, TIMES, json!({ "id": id })).await;
        let data = res.assert_ok();
        assert_eq!(data["endpoint"], json!({ "createdAt": WHOLE, "updatedAt": WHOLE }));
        assert_one_form(&data["viewer"]["organization"]["createdAt"], "Organization.createdAt");
        assert_one_form(&data["phoneNumbers"]["nodes"][0]["createdAt"], "PhoneNumber.createdAt");

        let (_, one) = rest_get(&app, &format!("/endpoints/{id}")).await;
        assert_eq!((&one["created_at"], &one["updated_at"]), (&json!(WHOLE), &json!(WHOLE)));
        let (_, list) = rest_get(&app, "/endpoints").await;
        let listed = list.as_array().or_else(|| list["data"].as_array()).expect("a list");
        assert_eq!(listed[0]["updated_at"], WHOLE, "{list}");

        // A refusal names the version stored now in the same form.
        let stale = "mutation($input: UpdateEndpointInput!) { updateEndpoint(input: $input) { userErrors { code message } } }";
        let res = app.graphql(&key, stale, json!({ "input": { "id": id, "name": "X", "expectedUpdatedAt": "2000-01-01T00:00:00Z" } })).await;
        let error = &res.assert_ok()["updateEndpoint"]["userErrors"][0];
        assert_eq!(error["code"], "STALE");
        assert!(error["message"].as_str().expect("message").contains(WHOLE), "{error}");
        let res = app
            .client
            .patch(format!("{}/v1/endpoints/{id}", app.address))
            .bearer_auth(&key)
            .header("if-match", "\"1\"")
            .json(&json!({ "name": "X" }))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), reqwest::StatusCode::PRECONDITION_FAILED);
        let body: Value = res.json().await.expect("JSON");
        assert!(body.to_string().contains(WHOLE), "{body}");
    }
}

db_test! {
    async fn api_keys_members_and_the_audit_log_write_times_in_one_form(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let created = app
            .graphql(&owner, "mutation { createApiKey(input: { name: \"Timed\", mode: TEST }) { apiKey { id } plaintextKey } }", json!({}))
            .await;
        let created = created.assert_ok()["createApiKey"].clone();
        let plaintext = created["plaintextKey"].as_str().expect("key").to_owned();
        app.graphql(&plaintext, "{ viewer { mode } }", json!({})).await.assert_ok();
        let revoked = app
            .graphql(&owner, "mutation($id: UUID!) { revokeApiKey(input: { id: $id }) { apiKey { revokedAt } } }", json!({ "id": created["apiKey"]["id"] }))
            .await;
        let revoked_at = revoked.assert_ok()["revokeApiKey"]["apiKey"]["revokedAt"].clone();
        assert_one_form(&revoked_at, "ApiKey.revokedAt");

        let res = app
            .graphql(&owner, "{ apiKeys { id createdAt lastUsedAt revokedAt } members(first: 10) { nodes { joinedAt } } }", json!({}))
            .await;
        let data = res.assert_ok();
        let key = data["apiKeys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["id"] == created["apiKey"]["id"])
            .expect("the new key");
        for field in ["createdAt", "lastUsedAt", "revokedAt"] {
            assert_one_form(&key[field], &format!("ApiKey.{field}"));
        }
        for member in data["members"]["nodes"].as_array().expect("members") {
            assert_one_form(&member["joinedAt"], "OrganizationMember.joinedAt");
        }

        // The audit log: when each change happened, and the times its data holds.
        let log = "query($filter: EventFilter) { events(first: 10, filter: $filter) { nodes { type occurredAt after } } }";
        let res = app.graphql(&owner, log, json!({ "filter": { "types": ["API_KEY_REVOKED"] } })).await;
        let nodes = res.assert_ok()["events"]["nodes"].clone();
        let event = &nodes[0];
        assert_one_form(&event["occurredAt"], "Event.occurredAt");
        assert_eq!(event["after"]["revoked_at"], revoked_at, "the event's data: {event}");
        // A time read from the log, sent back, names the same instant.
        let res = app
            .graphql(&owner, log, json!({ "filter": { "types": ["API_KEY_REVOKED"], "since": event["occurredAt"], "until": null } }))
            .await;
        assert_eq!(res.assert_ok()["events"]["nodes"].as_array().expect("events").len(), 1, "{}", res.body);
    }
}

const TIMED_EVENTS: &str = "subscription { endpointEvents { type endpoint { createdAt updatedAt } event { occurredAt } } }";

db_test! {
    async fn a_subscription_writes_times_in_one_form_over_websocket_and_sse(app) {
        let key = app.org.test_key.clone();
        let mut ws = Ws::with_key(&app.address, &key).await;
        ws.subscribe("1", TIMED_EVENTS, json!({})).await;
        let auth = format!("Bearer {key}");
        let mut sse = Sse::post(&app.address, &[("authorization", &auth)], TIMED_EVENTS, json!({})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;

        let e = app.create_ok(&key, webhook("Streamed")).await;
        let id = e["id"].as_str().expect("id").to_owned();
        store_times(&app, &id, WHOLE).await;
        let res = app.update_endpoint(&key, json!({ "id": id, "name": "Renamed" })).await;
        let updated_at = res.assert_ok()["updateEndpoint"]["endpoint"]["updatedAt"].clone();
        assert_one_form(&updated_at, "updateEndpoint updatedAt");

        for _ in 0..2 {
            let ws_event = ws.next_event().await;
            let (_, sse_result) = sse.next_result().await;
            let sse_event = &sse_result["data"]["endpointEvents"];
            for (transport, event) in [("WebSocket", &ws_event), ("SSE", sse_event)] {
                assert_one_form(&event["event"]["occurredAt"], &format!("{transport} occurredAt"));
                for field in ["createdAt", "updatedAt"] {
                    assert_one_form(&event["endpoint"][field], &format!("{transport} {field}"));
                }
                if event["type"] == "ENDPOINT_UPDATED" {
                    assert_eq!(
                        event["endpoint"],
                        json!({ "createdAt": WHOLE, "updatedAt": updated_at }),
                        "{transport}"
                    );
                }
            }
        }
    }
}
