//! API keys managed over GraphQL by owners and admins: created (the key shown once), listed
//! (never the key or its hash), revoked (refused from the next request, by every gateway).

use cockpit_gateway::domain::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

const CREATE_KEY: &str = "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) {
    apiKey { id name mode displayPrefix createdAt lastUsedAt revokedAt } plaintextKey
    userErrors { field message code } } }";
const REVOKE_KEY: &str = "mutation($id: UUID!) { revokeApiKey(input: { id: $id }) {
    apiKey { id revokedAt } userErrors { code } } }";
const LIST_KEYS: &str = "{ apiKeys { id name mode displayPrefix createdAt lastUsedAt revokedAt } }";

async fn create_key(app: &TestApp, token: &str, name: &str, mode: &str) -> Value {
    let res = app
        .graphql(
            token,
            CREATE_KEY,
            json!({ "input": { "name": name, "mode": mode } }),
        )
        .await;
    res.assert_ok()["createApiKey"].clone()
}

db_test! {
    async fn owner_creates_lists_and_revokes_a_key(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let created = create_key(&app, &owner, "  CI deploys  ", "TEST").await;
        assert_eq!(created["userErrors"], json!([]));
        let key = created["plaintextKey"].as_str().expect("plaintext").to_owned();
        let api_key = &created["apiKey"];
        assert!(key.starts_with("kros_test_") && key.len() == 42, "{key}");
        assert_eq!(api_key["name"], "CI deploys");
        assert_eq!(api_key["mode"], "TEST");
        assert_eq!(api_key["displayPrefix"], key[..14]);
        assert_eq!(api_key["lastUsedAt"], Value::Null);
        assert_eq!(api_key["revokedAt"], Value::Null);

        // The new key works, in the owner's organization and its own mode.
        let res = app.graphql(&key, "{ viewer { organizationId mode apiKeyId } }", json!({})).await;
        assert_eq!(
            res.assert_ok()["viewer"],
            json!({ "organizationId": app.org.id, "mode": "TEST", "apiKeyId": api_key["id"] })
        );

        let list = app.graphql(&owner, LIST_KEYS, json!({})).await;
        let keys = list.assert_ok()["apiKeys"].as_array().expect("list").clone();
        assert_eq!(keys.len(), 3, "the harness's two keys and the new one: {keys:?}");
        assert_eq!(keys[0]["id"], api_key["id"], "newest first");
        assert!(keys[0]["lastUsedAt"].is_string(), "use is recorded: {}", keys[0]);
        let text = list.body.to_string();
        assert!(!text.contains(&key[14..]), "the key is never listed");
        let hash = cockpit_gateway::domain::api_keys::hash_key(&key);
        assert!(!text.contains(&hash), "nor its hash");

        let revoked = app.graphql(&owner, REVOKE_KEY, json!({ "id": api_key["id"] })).await;
        let revoked_at = revoked.assert_ok()["revokeApiKey"]["apiKey"]["revokedAt"].clone();
        assert!(revoked_at.is_string());
        let res = app.graphql(&key, "{ viewer { mode } }", json!({})).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "refused from the next request on");
        let again = app.graphql(&owner, REVOKE_KEY, json!({ "id": api_key["id"] })).await;
        assert_eq!(
            again.assert_ok()["revokeApiKey"]["apiKey"]["revokedAt"], revoked_at,
            "revoking twice keeps the first time"
        );
    }
}

db_test! {
    async fn admins_manage_keys_too_and_names_are_checked(app) {
        let (_, admin) = app.member(app.org.id, Role::Admin).await;
        let live = create_key(&app, &admin, "Production", "LIVE").await;
        assert!(live["plaintextKey"].as_str().is_some_and(|k| k.starts_with("kros_live_")));
        for (name, code) in [("", "BLANK"), ("   ", "BLANK"), (&*"k".repeat(101), "TOO_LONG")] {
            let refused = create_key(&app, &admin, name, "TEST").await;
            assert_eq!(refused["apiKey"], Value::Null);
            assert_eq!(refused["plaintextKey"], Value::Null);
            assert_eq!(
                refused["userErrors"],
                json!([{ "field": ["input", "name"], "code": code, "message": refused["userErrors"][0]["message"] }])
            );
        }
        let list = app.graphql(&admin, LIST_KEYS, json!({})).await;
        assert_eq!(list.assert_ok()["apiKeys"].as_array().map(Vec::len), Some(3), "no key was added by a refusal");
    }
}

db_test! {
    async fn revoking_an_unknown_key_is_not_found(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let res = app.graphql(&owner, REVOKE_KEY, json!({ "id": uuid::Uuid::new_v4() })).await;
        assert_eq!(res.error_code(), Some("NOT_FOUND"));
        assert_eq!(res.body["data"], json!({ "revokeApiKey": null }));
    }
}

db_test! {
    async fn a_revoked_key_stops_working_on_every_gateway_sharing_the_database(app) {
        let other = TestApp::builder(app.backend).on(app.test_db.shared()).spawn().await.expect("a second gateway");
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let created = create_key(&app, &owner, "shared", "LIVE").await;
        let key = created["plaintextKey"].as_str().expect("key").to_owned();
        let check = async |gateway: &TestApp| gateway.graphql(&key, "{ viewer { mode } }", json!({})).await.status;
        assert_eq!(check(&other).await, StatusCode::OK);
        assert_eq!(check(&app).await, StatusCode::OK);

        app.graphql(&owner, REVOKE_KEY, json!({ "id": created["apiKey"]["id"] })).await.assert_ok();
        assert_eq!(check(&app).await, StatusCode::UNAUTHORIZED, "the gateway that revoked it refuses it at once");
        match app.backend {
            // PostgreSQL tells every gateway (NOTIFY): the other refuses it at once.
            Backend::Postgres => assert_eq!(check(&other).await, StatusCode::UNAUTHORIZED),
            // SQLite tells nobody: the other checks again once it has remembered the key for
            // `CREDENTIAL_TTL` (2 s).
            Backend::Sqlite => {
                let revoked = std::time::Instant::now();
                while check(&other).await != StatusCode::UNAUTHORIZED {
                    assert!(revoked.elapsed() < std::time::Duration::from_secs(3), "still taken after 3 s");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Two apps in one process (as here) share no signal: a revocation in one doesn't make the
/// other check again the keys it remembers.
#[tokio::test]
async fn a_revocation_in_one_app_leaves_the_keys_another_remembers_alone() {
    let a = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let b = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let (_, owner) = a.member(a.org.id, Role::Owner).await;
    let doomed = create_key(&a, &owner, "doomed", "TEST").await;
    let viewer = "{ viewer { mode } }";
    // b verifies its key once, then remembers it (for up to 2 s): the statements on API keys a
    // request makes once its key is remembered.
    let key_statements = |from: usize| {
        b.statements_since(from)
            .iter()
            .filter(|sql| sql.contains("api_keys"))
            .count()
    };
    b.graphql(&b.org.test_key, viewer, json!({}))
        .await
        .assert_ok();
    let from = b.statements_since(0).len();
    b.graphql(&b.org.test_key, viewer, json!({}))
        .await
        .assert_ok();
    let remembered = key_statements(from);

    let revoked = a
        .graphql(&owner, REVOKE_KEY, json!({ "id": doomed["apiKey"]["id"] }))
        .await;
    assert!(revoked.assert_ok()["revokeApiKey"]["apiKey"]["revokedAt"].is_string());
    let from = b.statements_since(0).len();
    b.graphql(&b.org.test_key, viewer, json!({}))
        .await
        .assert_ok();
    assert_eq!(
        key_statements(from),
        remembered,
        "b still trusts the key it remembers"
    );
}
