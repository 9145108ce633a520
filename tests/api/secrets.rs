//! Secrets are write-only: stored, kept across updates, never in a response.

use cockpit_gateway::domain::provider::ProviderConfig;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::*;

const VOGENT_SECRET: &str = "vogent-Secret-123";
const SIP_SECRET: &str = "custom-Secret-456";

fn assert_no_secret(body: &Value) {
    let text = body.to_string();
    assert!(
        !text.contains(VOGENT_SECRET) && !text.contains(SIP_SECRET),
        "a secret leaked: {text}"
    );
}

async fn stored_config(app: &TestApp, id: &str) -> ProviderConfig {
    let id = uuid::Uuid::parse_str(id).expect("uuid");
    let row = entity::endpoint::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("query")
        .expect("row");
    ProviderConfig::from_stored(row.r#type, row.provider_config.as_ref())
        .expect("decodes")
        .expect("has a config")
}

db_test! {
    async fn secrets_never_appear_in_any_response(app) {
        let key = app.org.test_key.clone();
        let vogent = app
            .create_endpoint(&key, json!({ "name": "Vogent", "type": "VOGENT", "providerConfig": { "vogent": {
                "vogentSipPrefix": "p1", "vogentSipUsername": "u1", "vogentSipPassword": VOGENT_SECRET } } }))
            .await;
        assert_no_secret(&vogent);
        assert_eq!(vogent["endpoint"]["providerConfig"]["sipPasswordSet"], true);
        let sip = app
            .create_endpoint(&key, json!({ "name": "PBX", "type": "CUSTOM_SIP", "url": "sip:a@pbx.example.com",
                "providerConfig": { "customSip": { "sipUri": "sip:a@pbx.example.com", "username": "u",
                    "password": SIP_SECRET } } }))
            .await;
        assert_no_secret(&sip);
        assert_eq!(sip["endpoint"]["providerConfig"]["passwordSet"], true);

        let vogent_id = vogent["endpoint"]["id"].as_str().expect("id").to_owned();
        let sip_id = sip["endpoint"]["id"].as_str().expect("id").to_owned();
        assert_no_secret(&app.get_endpoint(&key, &vogent_id).await.body);
        assert_no_secret(&app.get_endpoint(&key, &sip_id).await.body);
        let list = app
            .graphql(&key, &format!("{{ endpoints {{ nodes {{ {ENDPOINT_FIELDS} }} }} }}"), json!({}))
            .await;
        assert_eq!(list.assert_ok()["endpoints"]["nodes"].as_array().map(Vec::len), Some(2));
        assert_no_secret(&list.body);
        // A rule break that echoes input must not echo the secret either.
        let rejected = app
            .create_endpoint(&key, json!({ "name": "", "type": "VOGENT", "providerConfig": { "vogent": {
                "vogentSipPrefix": "bad prefix", "vogentSipUsername": "u", "vogentSipPassword": VOGENT_SECRET } } }))
            .await;
        assert!(!rejected["userErrors"].as_array().expect("errors").is_empty());
        assert_no_secret(&rejected);
    }
}

db_test! {
    async fn the_schema_has_no_field_that_returns_a_secret(app) {
        let res = app
            .graphql(&app.org.test_key, r#"{
                v: __type(name: "VogentConfig") { fields { name } }
                c: __type(name: "CustomSipConfig") { fields { name } }
            }"#, json!({}))
            .await;
        let fields = |t: &str| -> Vec<String> {
            res.assert_ok()[t]["fields"].as_array().expect("fields").iter()
                .map(|f| f["name"].as_str().expect("name").to_owned()).collect()
        };
        assert_eq!(fields("v"), ["vogentAgentId", "vogentSipPrefix", "vogentSipUsername", "sipPasswordSet"]);
        assert_eq!(fields("c"), ["sipUri", "username", "passwordSet"]);
    }
}

db_test! {
    async fn updating_config_without_the_secret_keeps_it(app) {
        let key = app.org.test_key.clone();
        let e = app
            .create_ok(&key, json!({ "name": "Vogent", "type": "VOGENT", "providerConfig": { "vogent": {
                "vogentSipPrefix": "p1", "vogentSipUsername": "u1", "vogentSipPassword": VOGENT_SECRET } } }))
            .await;
        let id = e["id"].as_str().expect("id").to_owned();
        let res = app
            .update_endpoint(&key, json!({ "id": id, "providerConfig": { "vogent": {
                "vogentSipPrefix": "p2", "vogentSipUsername": "u2" } } }))
            .await;
        let updated = &res.assert_ok()["updateEndpoint"]["endpoint"];
        assert_eq!(updated["providerConfig"]["sipPasswordSet"], true);
        assert_eq!(updated["url"], "sip:p2@sip.vogent.ai");
        let ProviderConfig::Vogent(stored) = stored_config(&app, &id).await else {
            panic!("not a Vogent config");
        };
        assert_eq!(stored.vogent_sip_password.expose(), VOGENT_SECRET);
        assert_eq!(stored.vogent_sip_username, "u2");

        // Sending a new one replaces it.
        app.update_endpoint(&key, json!({ "id": id, "providerConfig": { "vogent": {
            "vogentSipPrefix": "p2", "vogentSipUsername": "u2", "vogentSipPassword": "rotated-pass" } } }))
            .await
            .assert_ok();
        let ProviderConfig::Vogent(stored) = stored_config(&app, &id).await else {
            panic!("not a Vogent config");
        };
        assert_eq!(stored.vogent_sip_password.expose(), "rotated-pass");
    }
}
