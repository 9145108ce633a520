//! Whole-response snapshots of the shapes clients depend on (ids and times redacted).
//! Each runs on every backend against the same snapshot, so the databases answer alike.

use insta::assert_json_snapshot;
use serde_json::json;

use crate::helpers::*;

db_test! {
    async fn create_payload_shape(app) {
        let number = app
            .add_phone_number(app.org.id, cockpit_gateway::domain::Mode::Test, "+14155550123")
            .await;
        let payload = app
            .create_endpoint(&app.org.test_key, json!({ "name": "Vogent agent", "type": "VOGENT",
                "phoneNumberId": number, "providerConfig": { "vogent": { "vogentSipPrefix": "p1",
                "vogentSipUsername": "u1", "vogentSipPassword": "secret", "vogentAgentId": "va" } } }))
            .await;
        assert_json_snapshot!("create_vogent_payload", payload, {
            ".endpoint.id" => "[id]",
            ".endpoint.organizationId" => "[organization id]",
            ".endpoint.createdAt" => "[time]",
            ".endpoint.updatedAt" => "[time]",
            ".endpoint.phoneNumbers[].id" => "[phone number id]",
        });
    }
}

db_test! {
    async fn user_errors_shape(app) {
        let payload = app
            .create_endpoint(&app.org.test_key, json!({ "name": "", "type": "LIVEKIT", "url": "sip:a@b.c",
                "providerConfig": { "liveKit": { "livekitSipTrunkId": "", "livekitSipUri": "http://x" } } }))
            .await;
        assert_json_snapshot!("create_user_errors", payload);
    }
}

db_test! {
    async fn unauthenticated_response_shape(app) {
        let res = app
            .post(&[("x-api-key", "kros_test_unknown")], json!({ "query": "{ viewer { mode } }" }))
            .await;
        assert_eq!(res.status, reqwest::StatusCode::UNAUTHORIZED);
        assert_json_snapshot!("unauthenticated", res.body);
    }
}
