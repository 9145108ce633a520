//! Every endpoint rule, broken one at a time: a precise userError, and nothing written.

use serde_json::{Value, json};

use crate::helpers::*;

/// Creates with `input`, expecting exactly one userError of `code` at `field` and no new row.
async fn assert_create_rejected(app: &TestApp, input: Value, code: &str, field: &[&str]) {
    let before = app.endpoint_rows().await;
    let payload = app.create_endpoint(&app.org.test_key, input.clone()).await;
    assert_eq!(payload["endpoint"], Value::Null, "{input}: {payload}");
    let errors = payload["userErrors"].as_array().expect("userErrors");
    assert_eq!(errors.len(), 1, "{input}: {payload}");
    assert_eq!(errors[0]["code"], code, "{input}: {payload}");
    assert_eq!(errors[0]["field"], json!(field), "{input}: {payload}");
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.len() > 5 && !m.contains('{')),
        "a message that says what is wrong: {payload}"
    );
    assert_eq!(
        app.endpoint_rows().await,
        before,
        "nothing is written for {input}"
    );
}

fn vapi(config: Value) -> Value {
    json!({ "name": "V", "type": "VAPI", "providerConfig": { "vapi": config } })
}

db_test! {
    async fn name_rules(app) {
        let hook = |name: Value| json!({ "name": name, "type": "WEBHOOK", "url": "https://a.example" });
        assert_create_rejected(&app, hook(json!("")), "BLANK", &["input", "name"]).await;
        assert_create_rejected(&app, hook(json!("   ")), "BLANK", &["input", "name"]).await;
        assert_create_rejected(&app, hook(json!("x".repeat(101))), "TOO_LONG", &["input", "name"]).await;
        assert_create_rejected(&app, hook(json!("bad\u{7}bell")), "INVALID", &["input", "name"]).await;
        // The limits themselves are allowed: 1 character, and 100 characters (not bytes).
        app.create_ok(&app.org.test_key, hook(json!("x"))).await;
        let e = app.create_ok(&app.org.test_key, hook(json!("é".repeat(100)))).await;
        assert_eq!(e["name"].as_str().map(|n| n.chars().count()), Some(100));
    }
}

db_test! {
    async fn webhook_url_rules(app) {
        let hook = |url: Value| json!({ "name": "W", "type": "WEBHOOK", "url": url });
        assert_create_rejected(&app, json!({ "name": "W", "type": "WEBHOOK" }), "REQUIRED", &["input", "url"]).await;
        for bad in ["not a url", "ftp://example.com/x", "sip:a@example.com", "https://", "javascript:alert(1)",
                    "https://user:hunter2@hooks.example.com/x"] {
            assert_create_rejected(&app, hook(json!(bad)), "INVALID_URL", &["input", "url"]).await;
        }
        let long = format!("https://example.com/{}", "a".repeat(2100));
        assert_create_rejected(&app, hook(json!(long)), "INVALID_URL", &["input", "url"]).await;
    }
}

db_test! {
    async fn custom_sip_url_rules(app) {
        let sip = |url: Value| json!({ "name": "S", "type": "CUSTOM_SIP", "url": url });
        assert_create_rejected(&app, json!({ "name": "S", "type": "CUSTOM_SIP" }), "REQUIRED", &["input", "url"]).await;
        for bad in ["https://example.com", "sip:", "sip:user@", "sip:a@host:70000", "sip:a b@host",
                    "sip:alice:hunter2@pbx.example.com"] {
            assert_create_rejected(&app, sip(json!(bad)), "INVALID_SIP_URI", &["input", "url"]).await;
        }
        assert_create_rejected(
            &app,
            json!({ "name": "S", "type": "CUSTOM_SIP", "url": "sip:a@pbx.example.com",
                "providerConfig": { "customSip": { "sipUri": "sip:b@pbx.example.com" } } }),
            "INVALID",
            &["input", "providerConfig", "customSip", "sipUri"],
        )
        .await;
    }
}

db_test! {
    async fn generated_url_is_refused_from_clients(app) {
        let mut input = vapi(json!({ "assistantId": "a1" }));
        input["url"] = json!("sip:evil@attacker.example");
        assert_create_rejected(&app, input, "NOT_ALLOWED", &["input", "url"]).await;
    }
}

db_test! {
    async fn provider_config_must_be_present_and_match_type(app) {
        assert_create_rejected(
            &app,
            json!({ "name": "V", "type": "VAPI" }),
            "REQUIRED",
            &["input", "providerConfig"],
        )
        .await;
        assert_create_rejected(
            &app,
            json!({ "name": "V", "type": "VAPI", "providerConfig": { "retell": { "agentId": "a" } } }),
            "PROVIDER_CONFIG_MISMATCH",
            &["input", "providerConfig"],
        )
        .await;
        assert_create_rejected(
            &app,
            json!({ "name": "W", "type": "WEBHOOK", "url": "https://a.example",
                "providerConfig": { "vapi": { "assistantId": "a" } } }),
            "PROVIDER_CONFIG_MISMATCH",
            &["input", "providerConfig"],
        )
        .await;
    }
}

db_test! {
    async fn each_required_provider_field_is_named_when_missing(app) {
        // Over GraphQL the create inputs make the seed's required fields non-null, so a config
        // without one fails validation, naming it; REST reaches the domain's own check
        // (`rest::validation_failures_are_400_naming_the_field_and_write_nothing`), which
        // names it as REQUIRED.
        let cases = [
            ("VAPI", json!({ "vapi": {} }), "assistantId"),
            ("RETELL", json!({ "retell": { "retellPhoneNumber": "+1415" } }), "agentId"),
            ("ELEVENLABS", json!({ "elevenLabs": {} }), "elevenlabsAgentId"),
            ("LIVEKIT", json!({ "liveKit": { "livekitSipUri": "sip:x.sip.livekit.cloud" } }), "livekitSipTrunkId"),
            ("LIVEKIT", json!({ "liveKit": { "livekitSipTrunkId": "ST" } }), "livekitSipUri"),
            ("VOGENT", json!({ "vogent": { "vogentSipUsername": "u", "vogentSipPassword": "p" } }), "vogentSipPrefix"),
            ("VOGENT", json!({ "vogent": { "vogentSipPrefix": "p", "vogentSipPassword": "p" } }), "vogentSipUsername"),
            ("VOGENT", json!({ "vogent": { "vogentSipPrefix": "p", "vogentSipUsername": "u" } }), "vogentSipPassword"),
            ("CUSTOM_SIP", json!({ "customSip": { "username": "u" } }), "sipUri"),
        ];
        for (ty, config, field) in cases {
            let input = json!({ "name": "P", "type": ty, "providerConfig": config });
            let res = app
                .graphql(&app.org.test_key, &CREATE, json!({ "input": input }))
                .await;
            assert!(res.body.get("data").is_none(), "{input}: {}", res.body);
            assert_eq!(res.error_code(), Some("GRAPHQL_VALIDATION_FAILED"), "{input}: {}", res.body);
            let message = res.body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains(&format!("\"{field}\"")), "{input}: {}", res.body);
        }
        assert_eq!(app.endpoint_rows().await, 0);
    }
}

db_test! {
    async fn provider_ids_cannot_inject_into_generated_uris(app) {
        for bad in ["a@evil.example", "a;transport=udp", "a b", "a?x=y", "a:b"] {
            assert_create_rejected(&app, vapi(json!({ "assistantId": bad })), "INVALID",
                &["input", "providerConfig", "vapi", "assistantId"]).await;
        }
        for bad in ["-cred", "cred.evil.example", "c_d"] {
            assert_create_rejected(&app, vapi(json!({ "assistantId": "a", "credentialId": bad })), "INVALID",
                &["input", "providerConfig", "vapi", "credentialId"]).await;
        }
        // Blank and too long are said as for every other field.
        assert_create_rejected(&app, vapi(json!({ "assistantId": "a", "credentialId": "" })), "BLANK",
            &["input", "providerConfig", "vapi", "credentialId"]).await;
        assert_create_rejected(&app, vapi(json!({ "assistantId": "a", "credentialId": "c".repeat(64) })), "TOO_LONG",
            &["input", "providerConfig", "vapi", "credentialId"]).await;
        assert_create_rejected(&app, vapi(json!({ "assistantId": "" })), "BLANK",
            &["input", "providerConfig", "vapi", "assistantId"]).await;
        assert_create_rejected(&app, vapi(json!({ "assistantId": "a".repeat(129) })), "TOO_LONG",
            &["input", "providerConfig", "vapi", "assistantId"]).await;
        assert_create_rejected(
            &app,
            json!({ "name": "L", "type": "LIVEKIT", "providerConfig": { "liveKit": {
                "livekitSipTrunkId": "ST", "livekitSipUri": "https://livekit.example" } } }),
            "INVALID_SIP_URI",
            &["input", "providerConfig", "liveKit", "livekitSipUri"],
        )
        .await;
    }
}

db_test! {
    async fn status_error_is_not_settable(app) {
        assert_create_rejected(
            &app,
            json!({ "name": "W", "type": "WEBHOOK", "url": "https://a.example", "status": "ERROR" }),
            "STATUS_NOT_SETTABLE",
            &["input", "status"],
        )
        .await;
    }
}

db_test! {
    async fn unknown_phone_number_is_refused(app) {
        let input = json!({ "name": "W", "type": "WEBHOOK", "url": "https://a.example",
            "phoneNumberId": uuid::Uuid::new_v4() });
        assert_create_rejected(&app, input, "PHONE_NUMBER_NOT_FOUND", &["input", "phoneNumberId"]).await;
    }
}

db_test! {
    async fn every_broken_rule_is_reported_at_once(app) {
        let payload = app
            .create_endpoint(&app.org.test_key, json!({ "name": "", "type": "VOGENT", "url": "sip:x@y.z",
                "status": "ERROR", "providerConfig": { "vogent": { "vogentSipPrefix": "p",
                    "vogentSipUsername": "", "vogentSipPassword": "" } } }))
            .await;
        let mut codes: Vec<(String, String)> = payload["userErrors"]
            .as_array()
            .expect("userErrors")
            .iter()
            .map(|e| (e["field"].as_array().expect("field").last().expect("leaf").as_str().expect("s").to_owned(),
                      e["code"].as_str().expect("code").to_owned()))
            .collect();
        codes.sort();
        assert_eq!(
            codes,
            vec![
                ("name".into(), "BLANK".into()),
                ("status".into(), "STATUS_NOT_SETTABLE".into()),
                ("url".into(), "NOT_ALLOWED".into()),
                ("vogentSipPassword".into(), "BLANK".into()),
                ("vogentSipUsername".into(), "BLANK".into()),
            ],
            "{payload}"
        );
        assert_eq!(app.endpoint_rows().await, 0);
    }
}

db_test! {
    async fn one_of_input_with_two_variants_is_a_validation_error(app) {
        let res = app
            .graphql(&app.org.test_key, &CREATE, json!({ "input": { "name": "V", "type": "VAPI",
                "providerConfig": { "vapi": { "assistantId": "a" }, "retell": { "agentId": "b" } } } }))
            .await;
        assert!(res.body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("oneOf") || m.contains("exactly one")),
            "{}", res.body);
        assert_eq!(app.endpoint_rows().await, 0);
    }
}

/// Updates with `patch`, expecting one userError of `code` at `field`, and the endpoint as it was.
async fn assert_update_rejected(
    app: &TestApp,
    endpoint: &Value,
    patch: Value,
    code: &str,
    field: &[&str],
) {
    let mut input = patch.clone();
    input["id"] = endpoint["id"].clone();
    let res = app.update_endpoint(&app.org.test_key, input).await;
    let payload = &res.assert_ok()["updateEndpoint"];
    assert_eq!(payload["endpoint"], Value::Null, "{patch}: {payload}");
    assert_eq!(
        payload["userErrors"].as_array().map(Vec::len),
        Some(1),
        "{patch}: {payload}"
    );
    assert_eq!(payload["userErrors"][0]["code"], code, "{patch}: {payload}");
    assert_eq!(
        payload["userErrors"][0]["field"],
        json!(field),
        "{patch}: {payload}"
    );
    let now = app
        .get_endpoint(&app.org.test_key, endpoint["id"].as_str().expect("id"))
        .await;
    assert_eq!(
        &now.assert_ok()["endpoint"],
        endpoint,
        "{patch} changed nothing"
    );
}

db_test! {
    async fn update_rules(app) {
        let key = app.org.test_key.clone();
        let hook = app.create_ok(&key, json!({ "name": "W", "type": "WEBHOOK", "url": "https://a.example" })).await;
        let agent = app.create_ok(&key, vapi(json!({ "assistantId": "a1" }))).await;

        assert_update_rejected(&app, &hook, json!({ "type": "VAPI" }), "IMMUTABLE", &["input", "type"]).await;
        assert_update_rejected(&app, &hook, json!({ "status": "ERROR" }), "STATUS_NOT_SETTABLE", &["input", "status"]).await;
        assert_update_rejected(&app, &hook, json!({ "name": " " }), "BLANK", &["input", "name"]).await;
        assert_update_rejected(&app, &hook, json!({ "name": "n".repeat(101) }), "TOO_LONG", &["input", "name"]).await;
        assert_update_rejected(&app, &hook, json!({ "url": "ftp://a.example" }), "INVALID_URL", &["input", "url"]).await;
        assert_update_rejected(&app, &hook, json!({ "providerConfig": { "vapi": { "assistantId": "a" } } }),
            "PROVIDER_CONFIG_MISMATCH", &["input", "providerConfig"]).await;
        assert_update_rejected(&app, &agent, json!({ "url": "sip:x@example.com" }), "NOT_ALLOWED", &["input", "url"]).await;
        assert_update_rejected(&app, &agent, json!({ "providerConfig": { "retell": { "agentId": "r" } } }),
            "PROVIDER_CONFIG_MISMATCH", &["input", "providerConfig"]).await;
        // A required field can't be cleared (a field left out keeps its value).
        assert_update_rejected(&app, &agent, json!({ "providerConfig": { "vapi": { "assistantId": null } } }),
            "REQUIRED", &["input", "providerConfig", "vapi", "assistantId"]).await;

        // Sending the type it already has is fine.
        let res = app.update_endpoint(&key, json!({ "id": hook["id"], "type": "WEBHOOK" })).await;
        assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"], json!([]));
    }
}

db_test! {
    async fn update_of_missing_endpoint_is_not_found(app) {
        let res = app
            .update_endpoint(&app.org.test_key, json!({ "id": uuid::Uuid::new_v4(), "name": "x" }))
            .await;
        assert_eq!(res.error_code(), Some("NOT_FOUND"));
        assert_eq!(res.body["data"], json!({ "updateEndpoint": null }));
    }
}

db_test! {
    async fn an_update_keeps_the_config_fields_it_leaves_out_and_clears_its_nulls(app) {
        let key = app.org.test_key.clone();
        const CONFIG: &str = "query($id: UUID!) { endpoint(id: $id) { url providerConfig { __typename \
            ... on VapiConfig { assistantId credentialId vapiPhoneNumberId } \
            ... on CustomSipConfig { sipUri username passwordSet } \
            ... on VogentConfig { vogentSipPrefix vogentSipUsername sipPasswordSet } } } }";
        let config = |id: Value| {
            let app = &app;
            let key = key.clone();
            async move {
                let res = app.graphql(&key, CONFIG, json!({ "id": id })).await;
                res.assert_ok()["endpoint"].clone()
            }
        };
        let agent = app.create_ok(&key, vapi(json!({ "assistantId": "a1", "vapiPhoneNumberId": "pn" }))).await;
        // Only the credential: the assistant and the phone number id stay, the URL follows.
        let res = app.update_endpoint(&key, json!({ "id": agent["id"],
            "providerConfig": { "vapi": { "credentialId": "cred" } } })).await;
        assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"], json!([]), "{}", res.body);
        let now = config(agent["id"].clone()).await;
        assert_eq!(now["providerConfig"], json!({ "__typename": "VapiConfig", "assistantId": "a1",
            "credentialId": "cred", "vapiPhoneNumberId": "pn" }));
        assert_eq!(now["url"], "sip:a1@cred.sip.vapi.ai");
        // A null clears an optional field.
        let res = app.update_endpoint(&key, json!({ "id": agent["id"],
            "providerConfig": { "vapi": { "credentialId": null, "vapiPhoneNumberId": null } } })).await;
        assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"], json!([]), "{}", res.body);
        let now = config(agent["id"].clone()).await;
        assert_eq!(now["providerConfig"], json!({ "__typename": "VapiConfig", "assistantId": "a1",
            "credentialId": null, "vapiPhoneNumberId": null }));
        assert_eq!(now["url"], "sip:a1@sip.vapi.ai");

        // Secrets: left out, kept; null, removed when optional, refused when required.
        let pbx = app.create_ok(&key, json!({ "name": "PBX", "type": "CUSTOM_SIP", "url": "sip:r@pbx.example.com",
            "providerConfig": { "customSip": { "sipUri": "sip:r@pbx.example.com", "username": "u", "password": "p" } } })).await;
        let res = app.update_endpoint(&key, json!({ "id": pbx["id"],
            "providerConfig": { "customSip": { "username": "v" } } })).await;
        assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"], json!([]), "{}", res.body);
        assert_eq!(config(pbx["id"].clone()).await["providerConfig"]["passwordSet"], true);
        let res = app.update_endpoint(&key, json!({ "id": pbx["id"],
            "providerConfig": { "customSip": { "password": null } } })).await;
        assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"], json!([]), "{}", res.body);
        let now = config(pbx["id"].clone()).await;
        assert_eq!(now["providerConfig"], json!({ "__typename": "CustomSipConfig",
            "sipUri": "sip:r@pbx.example.com", "username": "v", "passwordSet": false }));
        let vogent = app.create_ok(&key, json!({ "name": "V", "type": "VOGENT", "providerConfig": { "vogent": {
            "vogentSipPrefix": "p", "vogentSipUsername": "u", "vogentSipPassword": "s" } } })).await;
        assert_update_rejected(&app, &vogent, json!({ "providerConfig": { "vogent": { "vogentSipPassword": null } } }),
            "REQUIRED", &["input", "providerConfig", "vogent", "vogentSipPassword"]).await;
        assert_eq!(config(vogent["id"].clone()).await["providerConfig"]["sipPasswordSet"], true);
    }
}
