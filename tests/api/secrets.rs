//! Secrets are write-only: stored, kept across updates, never in a response.

use cockpit_gateway::domain::provider::{ProviderConfig, Secret, secret_context};
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

fn open_password(app: &TestApp, id: &str, secret: &Secret) -> String {
    let id = uuid::Uuid::parse_str(id).expect("uuid");
    secret
        .open(&app.secrets, &secret_context(id, "vogent_sip_password"))
        .expect("opens with the app's key")
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
        assert_eq!(open_password(&app, &id, &stored.vogent_sip_password), VOGENT_SECRET);
        assert_eq!(stored.vogent_sip_username, "u2");

        // Sending a new one replaces it.
        app.update_endpoint(&key, json!({ "id": id, "providerConfig": { "vogent": {
            "vogentSipPrefix": "p2", "vogentSipUsername": "u2", "vogentSipPassword": "rotated-pass" } } }))
            .await
            .assert_ok();
        let ProviderConfig::Vogent(stored) = stored_config(&app, &id).await else {
            panic!("not a Vogent config");
        };
        assert_eq!(open_password(&app, &id, &stored.vogent_sip_password), "rotated-pass");
    }
}

/// Every stored `provider_config`, as the database holds it (text).
async fn raw_configs(app: &TestApp) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT CAST(provider_config AS TEXT) AS c FROM endpoints WHERE provider_config IS NOT NULL",
        ))
        .await
        .expect("select");
    rows.iter()
        .map(|r| r.try_get::<String>("", "c").expect("text"))
        .collect()
}

db_test! {
    async fn stored_rows_hold_no_plaintext_secret(app) {
        let key = app.org.test_key.clone();
        app.create_ok(&key, json!({ "name": "Vogent", "type": "VOGENT", "providerConfig": { "vogent": {
            "vogentSipPrefix": "p1", "vogentSipUsername": "u1", "vogentSipPassword": VOGENT_SECRET } } })).await;
        app.create_ok(&key, json!({ "name": "PBX", "type": "CUSTOM_SIP", "url": "sip:a@pbx.example.com",
            "providerConfig": { "customSip": { "sipUri": "sip:a@pbx.example.com", "password": SIP_SECRET } } })).await;
        let configs = raw_configs(&app).await;
        assert_eq!(configs.len(), 2);
        for config in &configs {
            assert!(!config.contains(VOGENT_SECRET) && !config.contains(SIP_SECRET), "plaintext stored: {config}");
            assert!(config.contains("\"v1:"), "a sealed value: {config}");
        }
        // The whole SQLite database, write-ahead log included, holds no plaintext either.
        if let Some(path) = app.test_db.url.strip_prefix("sqlite://").and_then(|u| u.split('?').next()) {
            for file in [path.to_owned(), format!("{path}-wal")] {
                let bytes = std::fs::read(&file).unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(VOGENT_SECRET) && !text.contains(SIP_SECRET), "{file} holds a secret");
            }
        }
    }
}

db_test! {
    async fn plaintext_left_by_an_earlier_version_is_sealed_at_startup(app) {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        let now = entity::now();
        let id = uuid::Uuid::now_v7();
        entity::endpoint::ActiveModel {
            id: Set(id),
            organization_id: Set(app.org.id),
            name: Set("Legacy".into()),
            r#type: Set(entity::enums::EndpointType::Vogent),
            url: Set("sip:p@sip.vogent.ai".into()),
            status: Set(entity::enums::EndpointStatus::Active),
            provider_config: Set(Some(json!({ "vogent_agent_id": null, "vogent_sip_prefix": "p",
                "vogent_sip_username": "u", "vogent_sip_password": VOGENT_SECRET }))),
            mode: Set(entity::enums::Mode::Test),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&app.db)
        .await
        .expect("insert a legacy row");

        cockpit_gateway::startup::check_secret_key(&app.pool, &app.secrets).await.expect("startup");
        let configs = raw_configs(&app).await;
        assert!(!configs[0].contains(VOGENT_SECRET), "sealed: {}", configs[0]);
        let ProviderConfig::Vogent(stored) = stored_config(&app, &id.to_string()).await else {
            panic!("not a Vogent config");
        };
        assert_eq!(open_password(&app, &id.to_string(), &stored.vogent_sip_password), VOGENT_SECRET);
        let res = app.get_endpoint(&app.org.test_key, &id.to_string()).await;
        let endpoint = &res.assert_ok()["endpoint"];
        assert_eq!(endpoint["updatedAt"], endpoint["createdAt"], "sealing is not a user's update");
        assert_eq!(endpoint["providerConfig"]["sipPasswordSet"], true);
    }
}
