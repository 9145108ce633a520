//! Create, read, update and delete for each of the seven endpoint types.

use serde_json::{Value, json};

use crate::helpers::*;

/// One endpoint type's journey: what to create, the URL it must get, an update and the URL after.
struct Case {
    create: Value,
    url: &'static str,
    config: Value,
    update: Value,
    updated_url: &'static str,
}

fn cases() -> Vec<(&'static str, Case)> {
    vec![
        (
            "WEBHOOK",
            Case {
                create: json!({ "name": "Events", "type": "WEBHOOK", "url": "https://example.com/hook" }),
                url: "https://example.com/hook",
                config: Value::Null,
                update: json!({ "url": "http://hooks.example.org:8080/calls?x=1" }),
                updated_url: "http://hooks.example.org:8080/calls?x=1",
            },
        ),
        (
            "VAPI",
            Case {
                create: json!({ "name": "Vapi", "type": "VAPI",
                    "providerConfig": { "vapi": { "assistantId": "asst_123", "vapiPhoneNumberId": "pn_9" } } }),
                url: "sip:asst_123@sip.vapi.ai",
                config: json!({ "__typename": "VapiConfig", "assistantId": "asst_123",
                    "credentialId": null, "vapiPhoneNumberId": "pn_9" }),
                update: json!({ "providerConfig": { "vapi": { "assistantId": "asst_456", "credentialId": "cred-42" } } }),
                updated_url: "sip:asst_456@cred-42.sip.vapi.ai",
            },
        ),
        (
            "RETELL",
            Case {
                create: json!({ "name": "Retell", "type": "RETELL",
                    "providerConfig": { "retell": { "agentId": "agent_abc", "retellPhoneNumber": "+14155550100" } } }),
                url: "sip:agent_abc@sip.retellai.com;transport=tcp",
                config: json!({ "__typename": "RetellConfig", "agentId": "agent_abc",
                    "retellPhoneNumber": "+14155550100" }),
                update: json!({ "providerConfig": { "retell": { "agentId": "agent_def" } } }),
                updated_url: "sip:agent_def@sip.retellai.com;transport=tcp",
            },
        ),
        (
            "ELEVENLABS",
            Case {
                create: json!({ "name": "Eleven", "type": "ELEVENLABS",
                    "providerConfig": { "elevenLabs": { "elevenlabsAgentId": "el_1" } } }),
                url: "sip:el_1@sip.rtc.elevenlabs.io:5060;transport=tcp",
                config: json!({ "__typename": "ElevenLabsConfig", "elevenlabsAgentId": "el_1" }),
                update: json!({ "providerConfig": { "elevenLabs": { "elevenlabsAgentId": "el_2" } } }),
                updated_url: "sip:el_2@sip.rtc.elevenlabs.io:5060;transport=tcp",
            },
        ),
        (
            "LIVEKIT",
            Case {
                create: json!({ "name": "LiveKit", "type": "LIVEKIT",
                    "providerConfig": { "liveKit": { "livekitSipTrunkId": "ST_1",
                        "livekitSipUri": "sip:abcd.sip.livekit.cloud", "livekitAgentName": "agent" } } }),
                url: "sip:abcd.sip.livekit.cloud",
                config: json!({ "__typename": "LiveKitConfig", "livekitAgentName": "agent",
                    "livekitSipTrunkId": "ST_1", "livekitSipUri": "sip:abcd.sip.livekit.cloud" }),
                update: json!({ "providerConfig": { "liveKit": { "livekitSipTrunkId": "ST_2",
                    "livekitSipUri": "sip:efgh.sip.livekit.cloud" } } }),
                updated_url: "sip:efgh.sip.livekit.cloud",
            },
        ),
        (
            "VOGENT",
            Case {
                create: json!({ "name": "Vogent", "type": "VOGENT",
                    "providerConfig": { "vogent": { "vogentSipPrefix": "pfx1", "vogentSipUsername": "user",
                        "vogentSipPassword": "s3cret-pass", "vogentAgentId": "va_1" } } }),
                url: "sip:pfx1@sip.vogent.ai",
                config: json!({ "__typename": "VogentConfig", "vogentAgentId": "va_1",
                    "vogentSipPrefix": "pfx1", "vogentSipUsername": "user", "sipPasswordSet": true }),
                update: json!({ "providerConfig": { "vogent": { "vogentSipPrefix": "pfx2",
                    "vogentSipUsername": "user2" } } }),
                updated_url: "sip:pfx2@sip.vogent.ai",
            },
        ),
        (
            "CUSTOM_SIP",
            Case {
                create: json!({ "name": "PBX", "type": "CUSTOM_SIP", "url": "sip:reception@pbx.example.com",
                    "providerConfig": { "customSip": { "sipUri": "sip:reception@pbx.example.com",
                        "username": "pbx", "password": "pbx-pass" } } }),
                url: "sip:reception@pbx.example.com",
                config: json!({ "__typename": "CustomSipConfig", "sipUri": "sip:reception@pbx.example.com",
                    "username": "pbx", "passwordSet": true }),
                update: json!({ "url": "sips:front@pbx.example.com:5061" }),
                updated_url: "sips:front@pbx.example.com:5061",
            },
        ),
    ]
}

db_test! {
    async fn every_type_round_trips_create_read_update_delete(app) {
        let key = app.org.test_key.clone();
        for (ty, case) in cases() {
            let created = app.create_ok(&key, case.create.clone()).await;
            assert_eq!(created["type"], ty);
            assert_eq!(created["url"], case.url, "{ty}");
            assert_eq!(created["status"], "ACTIVE");
            assert_eq!(created["mode"], "TEST");
            assert_eq!(created["organizationId"], app.org.id.to_string());
            assert_eq!(created["providerConfig"], case.config, "{ty}");
            assert_eq!(created["createdAt"], created["updatedAt"]);
            let id = created["id"].as_str().expect("id").to_owned();

            let read = app.get_endpoint(&key, &id).await;
            assert_eq!(read.assert_ok()["endpoint"], created, "{ty} reads back as created");

            let mut update = case.update.clone();
            update["id"] = json!(id);
            update["name"] = json!(format!("{ty} renamed"));
            update["status"] = json!("INACTIVE");
            let res = app.update_endpoint(&key, update).await;
            let payload = &res.assert_ok()["updateEndpoint"];
            assert_eq!(payload["userErrors"], json!([]), "{ty}: {payload}");
            let updated = &payload["endpoint"];
            assert_eq!(updated["url"], case.updated_url, "{ty}");
            assert_eq!(updated["name"], format!("{ty} renamed"));
            assert_eq!(updated["status"], "INACTIVE");
            assert_eq!(updated["type"], ty, "type never changes");
            assert_eq!(updated["createdAt"], created["createdAt"], "createdAt never changes");
            assert_ne!(updated["updatedAt"], created["updatedAt"], "updatedAt moves on update");

            let read = app.get_endpoint(&key, &id).await;
            assert_eq!(&read.assert_ok()["endpoint"], updated, "{ty} reads back as updated");

            let res = app.delete_endpoint(&key, &id).await;
            assert_eq!(
                res.assert_ok()["deleteEndpoint"],
                json!({ "deletedEndpointId": id, "userErrors": [] })
            );
            let gone = app.get_endpoint(&key, &id).await;
            assert_eq!(gone.data()["endpoint"], Value::Null);
            assert_eq!(gone.error_code(), Some("NOT_FOUND"));
            let again = app.delete_endpoint(&key, &id).await;
            assert_eq!(again.error_code(), Some("NOT_FOUND"), "deleting twice is not found");
        }
        assert_eq!(app.endpoint_rows().await, 0);
    }
}

db_test! {
    async fn updated_at_moves_on_every_update_and_created_at_never(app) {
        let key = app.org.test_key.clone();
        let e = app
            .create_ok(&key, json!({ "name": "A", "type": "WEBHOOK", "url": "https://a.example" }))
            .await;
        let mut last = e["updatedAt"].as_str().expect("updatedAt").to_owned();
        for i in 0..5 {
            // A new name each time (an update that changes nothing moves nothing: unchanged.rs).
            let res = app
                .update_endpoint(&key, json!({ "id": e["id"], "name": format!("A{i}") }))
                .await;
            let updated = &res.assert_ok()["updateEndpoint"]["endpoint"];
            let now = updated["updatedAt"].as_str().expect("updatedAt").to_owned();
            let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339");
            assert!(parse(&now) > parse(&last), "update {i}: {now} is not after {last}");
            assert_eq!(updated["createdAt"], e["createdAt"]);
            last = now;
        }
    }
}

db_test! {
    async fn create_attaches_phone_number_and_delete_detaches_it(app) {
        let key = app.org.test_key.clone();
        let number = app.add_phone_number(app.org.id, cockpit_gateway::domain::Mode::Test, "+14155550123").await;
        let e = app
            .create_ok(&key, json!({ "name": "With number", "type": "VAPI", "phoneNumberId": number,
                "providerConfig": { "vapi": { "assistantId": "a1" } } }))
            .await;
        assert_eq!(e["phoneNumbers"], json!([{ "id": number, "e164": "+14155550123" }]));

        // The number now routes to this endpoint, so a second endpoint can't take it.
        let taken = app
            .create_endpoint(&key, json!({ "name": "Second", "type": "WEBHOOK",
                "url": "https://b.example", "phoneNumberId": number }))
            .await;
        assert_eq!(taken["endpoint"], Value::Null);
        assert_eq!(taken["userErrors"][0]["code"], "PHONE_NUMBER_TAKEN");
        assert_eq!(taken["userErrors"][0]["field"], json!(["input", "phoneNumberId"]));
        assert_eq!(app.endpoint_rows().await, 1);

        app.delete_endpoint(&key, e["id"].as_str().expect("id")).await.assert_ok();
        // Detached, the number can be attached again.
        let again = app
            .create_ok(&key, json!({ "name": "Third", "type": "WEBHOOK",
                "url": "https://c.example", "phoneNumberId": number }))
            .await;
        assert_eq!(again["phoneNumbers"][0]["id"], json!(number));
    }
}

db_test! {
    async fn create_with_inactive_status_and_name_is_trimmed(app) {
        let e = app
            .create_ok(&app.org.test_key, json!({ "name": "  Spaced  ", "type": "WEBHOOK",
                "url": "https://a.example", "status": "INACTIVE" }))
            .await;
        assert_eq!(e["status"], "INACTIVE");
        assert_eq!(e["name"], "Spaced");
    }
}

db_test! {
    async fn custom_sip_config_follows_url_changes(app) {
        let key = app.org.test_key.clone();
        let e = app
            .create_ok(&key, json!({ "name": "PBX", "type": "CUSTOM_SIP", "url": "sip:a@pbx.example.com" }))
            .await;
        assert_eq!(
            e["providerConfig"],
            json!({ "__typename": "CustomSipConfig", "sipUri": "sip:a@pbx.example.com",
                "username": null, "passwordSet": false })
        );
        // Sending only the config moves the URL with it.
        let res = app
            .update_endpoint(&key, json!({ "id": e["id"], "providerConfig": { "customSip": {
                "sipUri": "sip:b@pbx.example.com", "username": "u", "password": "p" } } }))
            .await;
        let updated = &res.assert_ok()["updateEndpoint"]["endpoint"];
        assert_eq!(updated["url"], "sip:b@pbx.example.com");
        assert_eq!(updated["providerConfig"]["passwordSet"], true);
        // Sending only the URL keeps the credentials.
        let res = app
            .update_endpoint(&key, json!({ "id": e["id"], "url": "sip:c@pbx.example.com" }))
            .await;
        let updated = &res.assert_ok()["updateEndpoint"]["endpoint"];
        assert_eq!(
            updated["providerConfig"],
            json!({ "__typename": "CustomSipConfig", "sipUri": "sip:c@pbx.example.com",
                "username": "u", "passwordSet": true })
        );
    }
}
