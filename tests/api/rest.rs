//! The seed's REST API beside GraphQL: status codes, the Error body, write-only secrets,
//! tenancy, equality with GraphQL, and an OpenAPI document compatible with the seed's.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

struct Rest {
    status: StatusCode,
    body: Value,
}

async fn rest(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Rest {
    let mut req = app
        .client
        .request(method, format!("{}/v1{path}", app.address));
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let text = res.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON")
    };
    Rest { status, body }
}

fn vapi(name: &str) -> Value {
    json!({ "name": name, "type": "vapi", "provider_config": { "assistant_id": "asst_1" } })
}

#[track_caller]
fn assert_error(res: &Rest, status: StatusCode, code: &str) {
    assert_eq!(res.status, status, "{}", res.body);
    assert_eq!(res.body["code"], code, "{}", res.body);
    assert!(
        res.body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{}",
        res.body
    );
}

db_test! {
    async fn crud_with_the_seed_status_codes(app) {
        use reqwest::Method;
        let key = app.org.test_key.clone();
        let created = rest(&app, Method::POST, "/endpoints", Some(&key), Some(vapi("Support"))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let e = created.body.clone();
        assert_eq!(e["type"], "vapi");
        assert_eq!(e["status"], "active");
        assert_eq!(e["url"], "sip:asst_1@sip.vapi.ai");
        assert_eq!(e["organization_id"], json!(app.org.id));
        assert_eq!(e["provider_config"], json!({ "assistant_id": "asst_1" }));
        let id = e["id"].as_str().expect("id").to_owned();

        let list = rest(&app, Method::GET, "/endpoints", Some(&key), None).await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(list.body, json!([e]));

        let one = rest(&app, Method::GET, &format!("/endpoints/{id}"), Some(&key), None).await;
        assert_eq!((one.status, &one.body), (StatusCode::OK, &e));

        let patched = rest(&app, Method::PATCH, &format!("/endpoints/{id}"), Some(&key),
            Some(json!({ "name": "Support (paused)", "status": "inactive", "provider_config": { "assistant_id": "asst_2" } }))).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        assert_eq!(patched.body["name"], "Support (paused)");
        assert_eq!(patched.body["status"], "inactive");
        assert_eq!(patched.body["url"], "sip:asst_2@sip.vapi.ai");
        assert_eq!(patched.body["created_at"], e["created_at"]);
        assert_ne!(patched.body["updated_at"], e["updated_at"]);

        let deleted = rest(&app, Method::DELETE, &format!("/endpoints/{id}"), Some(&key), None).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        assert_eq!(deleted.body, Value::Null);
        let gone = rest(&app, Method::GET, &format!("/endpoints/{id}"), Some(&key), None).await;
        assert_error(&gone, StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_error(&rest(&app, Method::DELETE, &format!("/endpoints/{id}"), Some(&key), None).await,
            StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_error(&rest(&app, Method::GET, "/endpoints/not-a-uuid", Some(&key), None).await,
            StatusCode::NOT_FOUND, "NOT_FOUND");
    }
}

db_test! {
    async fn validation_failures_are_400_naming_the_field_and_write_nothing(app) {
        use reqwest::Method;
        let key = app.org.test_key.clone();
        let cases = [
            (json!({ "type": "webhook", "url": "https://a.example" }), "name", "REQUIRED"),
            (json!({ "name": "x".repeat(101), "type": "webhook", "url": "https://a.example" }), "name", "TOO_LONG"),
            (json!({ "name": "W" }), "type", "REQUIRED"),
            (json!({ "name": "W", "type": "fax" }), "type", "INVALID"),
            (json!({ "name": "W", "type": "webhook" }), "url", "REQUIRED"),
            (json!({ "name": "W", "type": "webhook", "url": "ftp://a.example" }), "url", "INVALID_URL"),
            (json!({ "name": "S", "type": "custom_sip", "url": "https://a.example" }), "url", "INVALID_SIP_URI"),
            (json!({ "name": "V", "type": "vapi", "url": "sip:x@y.z", "provider_config": { "assistant_id": "a" } }), "url", "NOT_ALLOWED"),
            (json!({ "name": "V", "type": "vapi" }), "provider_config", "REQUIRED"),
            (json!({ "name": "V", "type": "vapi", "provider_config": {} }), "provider_config.assistant_id", "REQUIRED"),
            (json!({ "name": "V", "type": "vapi", "provider_config": { "agent_id": "a" } }), "provider_config", "PROVIDER_CONFIG_MISMATCH"),
            (json!({ "name": "V", "type": "vapi", "provider_config": { "assistant_id": "a", "bogus": "1" } }), "provider_config", "NOT_ALLOWED"),
            (json!({ "name": "V", "type": "vapi", "provider_config": { "assistant_id": 7 } }), "provider_config.assistant_id", "INVALID"),
            (json!({ "name": "V", "type": "vogent", "provider_config": { "vogent_sip_prefix": "p", "vogent_sip_username": "u" } }),
                "provider_config.vogent_sip_password", "REQUIRED"),
            (json!({ "name": "W", "type": "webhook", "url": "https://a.example", "phone_number_id": "nope" }), "phone_number_id", "INVALID"),
            (json!({ "name": "W", "type": "webhook", "url": "https://a.example", "phone_number_id": uuid::Uuid::new_v4() }),
                "phone_number_id", "PHONE_NUMBER_NOT_FOUND"),
        ];
        for (body, field, code) in cases {
            let res = rest(&app, Method::POST, "/endpoints", Some(&key), Some(body.clone())).await;
            assert_error(&res, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
            assert_eq!(res.body["details"]["field"], field, "{body}: {}", res.body);
            assert_eq!(res.body["details"]["errors"][0]["code"], code, "{body}: {}", res.body);
            assert!(res.body["error"].as_str().is_some_and(|m| m.contains(field)), "{}", res.body);
        }
        assert_eq!(app.endpoint_rows().await, 0);
        // A key the client named is repeated shortened: the answer stays short.
        let long = "k".repeat(5000);
        let res = rest(&app, Method::POST, "/endpoints", Some(&key),
            Some(json!({ "name": "V", "type": "vapi", "provider_config": { "assistant_id": "a", long.clone(): "1" } }))).await;
        assert_error(&res, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        let text = res.body.to_string();
        assert!(text.len() < 1024 && text.contains(&format!("`{}…`", &long[..64])), "{text}");

        let id = rest(&app, Method::POST, "/endpoints", Some(&key), Some(vapi("V"))).await.body["id"].clone();
        let path = format!("/endpoints/{}", id.as_str().expect("id"));
        for (body, field, code) in [
            (json!({ "status": "error" }), "status", "STATUS_NOT_SETTABLE"),
            (json!({ "status": "paused" }), "status", "INVALID"),
            (json!({ "type": "retell" }), "type", "IMMUTABLE"),
            (json!({ "url": "sip:x@y.z" }), "url", "NOT_ALLOWED"),
            (json!({ "name": "" }), "name", "BLANK"),
        ] {
            let res = rest(&app, Method::PATCH, &path, Some(&key), Some(body.clone())).await;
            assert_error(&res, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
            assert_eq!(res.body["details"]["errors"][0]["field"], field, "{body}");
            assert_eq!(res.body["details"]["errors"][0]["code"], code, "{body}");
        }
        let after = rest(&app, Method::GET, &path, Some(&key), None).await;
        assert_eq!(after.body["name"], "V", "nothing changed");
    }
}

db_test! {
    async fn malformed_bodies_and_credentials_get_the_error_body(app) {
        use reqwest::Method;
        let key = app.org.test_key.clone();
        let url = format!("{}/v1/endpoints", app.address);
        let raw = app.client.post(&url).bearer_auth(&key).header("content-type", "application/json")
            .body("{not json").send().await.expect("send");
        assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
        let text = app.client.post(&url).bearer_auth(&key).header("content-type", "text/plain")
            .body("{}").send().await.expect("send");
        assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let array = rest(&app, Method::POST, "/endpoints", Some(&key), Some(json!([1]))).await;
        assert_error(&array, StatusCode::BAD_REQUEST, "BAD_REQUEST");

        assert_error(&rest(&app, Method::GET, "/endpoints", None, None).await, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        assert_error(&rest(&app, Method::GET, "/endpoints", Some("kros_test_00000000000000000000000000000000"), None).await,
            StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
        let other = app.new_org("Other").await;
        let forbidden = app.client.get(&url).bearer_auth(&key).header("x-organization-id", other.id.to_string())
            .send().await.expect("send");
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
        let malformed = app.client.get(&url).bearer_auth(&key).header("x-organization-id", "nope")
            .send().await.expect("send");
        assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
        let body: Value = malformed.json().await.expect("JSON");
        assert!(body["error"].is_string() && body["code"].is_string(), "{body}");
    }
}

db_test! {
    async fn tenancy_and_modes_hold_over_rest(app) {
        use reqwest::Method;
        let other = app.new_org("Other").await;
        let mine = rest(&app, Method::POST, "/endpoints", Some(&app.org.test_key), Some(vapi("Mine"))).await.body;
        let theirs = rest(&app, Method::POST, "/endpoints", Some(&other.test_key), Some(vapi("Theirs"))).await.body;
        let live = rest(&app, Method::POST, "/endpoints", Some(&app.org.live_key), Some(vapi("Live"))).await.body;
        assert_eq!(live["mode"], "live");
        let list = rest(&app, Method::GET, "/endpoints", Some(&app.org.test_key), None).await.body;
        assert_eq!(list, json!([mine]), "only this organization's test endpoints");
        for hidden in [&theirs, &live] {
            let path = format!("/endpoints/{}", hidden["id"].as_str().expect("id"));
            let key = app.org.test_key.clone();
            for (method, body) in [(Method::GET, None), (Method::PATCH, Some(json!({ "name": "Hijack" }))), (Method::DELETE, None)] {
                let res = rest(&app, method, &path, Some(&key), body).await;
                assert_error(&res, StatusCode::NOT_FOUND, "NOT_FOUND");
            }
        }
        let still = rest(&app, Method::GET, &format!("/endpoints/{}", theirs["id"].as_str().expect("id")), Some(&other.test_key), None).await;
        assert_eq!(still.body, theirs, "the owner's endpoint is unchanged");
        let mode = rest(&app, Method::POST, "/endpoints", Some(&app.org.test_key),
            Some(json!({ "name": "L", "type": "webhook", "url": "https://a.example", "mode": "live" }))).await;
        assert_eq!(mode.body["details"]["errors"][0]["code"], "MODE_NOT_ALLOWED");
    }
}

db_test! {
    async fn secrets_are_write_only_over_rest(app) {
        use reqwest::Method;
        let key = app.org.test_key.clone();
        let created = rest(&app, Method::POST, "/endpoints", Some(&key), Some(json!({ "name": "PBX", "type": "custom_sip",
            "url": "sip:a@pbx.example.com", "provider_config": { "sip_uri": "sip:a@pbx.example.com", "username": "u",
            "password": "rest-secret-1" } }))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["provider_config"], json!({ "sip_uri": "sip:a@pbx.example.com", "username": "u", "password_set": true }));
        let id = created.body["id"].as_str().expect("id").to_owned();
        for res in [
            rest(&app, Method::GET, "/endpoints", Some(&key), None).await,
            rest(&app, Method::GET, &format!("/endpoints/{id}"), Some(&key), None).await,
            rest(&app, Method::PATCH, &format!("/endpoints/{id}"), Some(&key), Some(json!({ "name": "PBX 2" }))).await,
        ] {
            assert!(!res.body.to_string().contains("rest-secret-1"), "{}", res.body);
        }
    }
}

db_test! {
    async fn an_endpoint_reads_the_same_through_either_api(app) {
        use reqwest::Method;
        let key = app.org.test_key.clone();
        // Made through REST, read through GraphQL.
        let made = rest(&app, Method::POST, "/endpoints", Some(&key), Some(json!({ "name": "Both", "type": "livekit",
            "provider_config": { "livekit_sip_trunk_id": "ST_1", "livekit_sip_uri": "sip:x.sip.livekit.cloud" } }))).await.body;
        let read = app.get_endpoint(&key, made["id"].as_str().expect("id")).await;
        let g = read.assert_ok()["endpoint"].clone();
        assert_eq!(g["id"], made["id"]);
        assert_eq!(g["name"], made["name"]);
        assert_eq!(g["url"], made["url"]);
        assert_eq!(g["type"], "LIVEKIT");
        assert_eq!(g["status"], "ACTIVE");
        assert_eq!(g["mode"], "TEST");
        assert_eq!(g["organizationId"], made["organization_id"]);
        assert_eq!(g["providerConfig"]["livekitSipTrunkId"], made["provider_config"]["livekit_sip_trunk_id"]);
        let same_instant = |a: &Value, b: &Value| {
            let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().expect("time")).expect("RFC 3339");
            parse(a) == parse(b)
        };
        assert!(same_instant(&g["createdAt"], &made["created_at"]));
        assert!(same_instant(&g["updatedAt"], &made["updated_at"]));

        // Made through GraphQL, read through REST.
        let e = app.create_ok(&key, json!({ "name": "Other way", "type": "RETELL",
            "providerConfig": { "retell": { "agentId": "agent_9" } } })).await;
        let r = rest(&app, Method::GET, &format!("/endpoints/{}", e["id"].as_str().expect("id")), Some(&key), None).await.body;
        assert_eq!(r["name"], e["name"]);
        assert_eq!(r["url"], e["url"]);
        assert_eq!(r["type"], "retell");
        assert_eq!(r["provider_config"], json!({ "agent_id": "agent_9" }));
        assert!(same_instant(&r["created_at"], &e["createdAt"]));
    }
}

/// The gateway's OpenAPI document keeps every path, operation, parameter, response and
/// schema property of the seed's; additions are allowed, nothing is removed or renamed, and
/// no input becomes newly required.
#[tokio::test]
async fn openapi_document_is_compatible_with_the_seed() {
    let seed_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/seeds/endpoints.openapi.json"
    );
    let Ok(seed_text) = std::fs::read_to_string(seed_path) else {
        eprintln!("{seed_path} is not here; compatibility not checked");
        return;
    };
    let seed: Value = serde_json::from_str(&seed_text).expect("seed JSON");
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite");
    let res = app
        .client
        .get(format!("{}/v1/openapi.json", app.address))
        .send()
        .await
        .expect("openapi");
    assert_eq!(res.status(), StatusCode::OK);
    let ours: Value = res.json().await.expect("JSON");
    assert_eq!(ours["openapi"], seed["openapi"]);

    for (path, operations) in seed["paths"].as_object().expect("paths") {
        for (method, op) in operations.as_object().expect("operations") {
            let mine = &ours["paths"][path][method];
            assert!(mine.is_object(), "{method} {path} is missing");
            assert_eq!(mine["operationId"], op["operationId"], "{method} {path}");
            for status in op["responses"].as_object().expect("responses").keys() {
                assert!(
                    mine["responses"].get(status).is_some(),
                    "{method} {path} lost response {status}"
                );
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                assert!(
                    mine["parameters"]
                        .as_array()
                        .is_some_and(|p| p.contains(param)),
                    "{method} {path}: {param}"
                );
            }
            assert_eq!(
                mine["requestBody"]["content"]["application/json"]["schema"]["$ref"],
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
                "{method} {path} body"
            );
        }
    }
    for (name, schema) in seed["components"]["schemas"].as_object().expect("schemas") {
        let mine = &ours["components"]["schemas"][name];
        assert!(mine.is_object(), "schema {name} is missing");
        for (prop, def) in schema["properties"].as_object().into_iter().flatten() {
            let my = &mine["properties"][prop];
            assert!(my.is_object(), "{name}.{prop} is missing");
            for key in ["type", "format", "$ref"] {
                assert_eq!(my.get(key), def.get(key), "{name}.{prop} {key}");
            }
            if let Some(values) = def["enum"].as_array() {
                let my_values = my["enum"].as_array().expect("enum");
                assert!(
                    values.iter().all(|v| my_values.contains(v)),
                    "{name}.{prop} lost an enum value"
                );
            }
        }
        assert_eq!(
            mine["required"], schema["required"],
            "{name}: required fields are the seed's"
        );
        if let Some(variants) = schema["oneOf"].as_array() {
            assert_eq!(mine["oneOf"].as_array(), Some(variants), "{name} variants");
        }
    }
}

db_test! {
    async fn rest_draws_on_the_same_rate_limit_buckets(app) {
        use reqwest::Method;
        let app = TestApp::builder(app.backend).with_config(|c| {
            c.rate_limit.bucket_size = 30;
            c.rate_limit.restore_rate = 1;
        }).spawn()
        .await
        .expect("app");
        let key = app.org.test_key.clone();
        for i in 0..5 {
            let res = rest(&app, Method::POST, "/endpoints", Some(&key), Some(vapi(&format!("e{i}")))).await;
            assert_eq!(res.status, StatusCode::CREATED);
        }
        // 5 spent creating; each list of 5 costs 6: the bucket of 30 pays for four lists.
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let res = rest(&app, Method::GET, "/endpoints", Some(&key), None).await;
            statuses.push(res.status.as_u16());
            if res.status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(res.body["code"], "RATE_LIMITED");
                break;
            }
        }
        assert_eq!(statuses, [200, 200, 200, 200, 429], "{statuses:?}");
        // GraphQL shares the budget.
        let gql = app.graphql(&key, "{ viewer { mode } }", json!({})).await;
        assert!(gql.cost["throttleStatus"]["currentlyAvailable"].as_f64().is_some_and(|a| a < 6.0), "{}", gql.cost);
    }
}

db_test! {
    async fn provider_config_keys_must_be_the_types_fields(app) {
        use reqwest::Method;
        let key = app.org.test_key.clone();
        // A misspelt key would route calls to the wrong SIP host if it were ignored.
        let misspelt = rest(&app, Method::POST, "/endpoints", Some(&key), Some(json!({ "name": "V", "type": "vapi",
            "provider_config": { "assistant_id": "a1", "credentialId": "cred" } }))).await;
        assert_error(&misspelt, StatusCode::BAD_REQUEST, "VALIDATION_FAILED");
        let error = &misspelt.body["details"]["errors"][0];
        assert_eq!((&error["field"], &error["code"]), (&json!("provider_config"), &json!("NOT_ALLOWED")), "{}", misspelt.body);
        assert!(error["message"].as_str().is_some_and(|m| m.contains("`credentialId`") && m.contains("credential_id")), "{error}");

        // Another provider's config is a mismatch, as in GraphQL.
        let retell = rest(&app, Method::POST, "/endpoints", Some(&key), Some(json!({ "name": "V", "type": "vapi",
            "provider_config": { "agent_id": "a1" } }))).await;
        assert_eq!(retell.body["details"]["errors"][0]["code"], "PROVIDER_CONFIG_MISMATCH", "{}", retell.body);
        let graphql = app.create_endpoint(&key, json!({ "name": "V", "type": "VAPI",
            "providerConfig": { "retell": { "agentId": "a1" } } })).await;
        assert_eq!(graphql["userErrors"][0]["code"], "PROVIDER_CONFIG_MISMATCH", "{graphql}");
        assert_eq!(graphql["userErrors"][0]["message"], retell.body["details"]["errors"][0]["message"]
            .as_str().map(|m| m.replace("provider_config", "providerConfig")).expect("message"));
        let webhook = rest(&app, Method::POST, "/endpoints", Some(&key), Some(json!({ "name": "W", "type": "webhook",
            "url": "https://hooks.example.com/", "provider_config": { "assistant_id": "a1" } }))).await;
        assert_eq!(webhook.body["details"]["errors"][0]["code"], "PROVIDER_CONFIG_MISMATCH", "{}", webhook.body);
        let list = rest(&app, Method::GET, "/endpoints", Some(&key), None).await;
        assert_eq!(list.body, json!([]), "nothing was written");

        // What a read shows may be sent back: the read-only `password_set` is ignored.
        let created = rest(&app, Method::POST, "/endpoints", Some(&key), Some(json!({ "name": "PBX", "type": "custom_sip",
            "url": "sip:a@pbx.example.com", "provider_config": { "sip_uri": "sip:a@pbx.example.com", "password": "pw-1" } }))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.body["id"].as_str().expect("id");
        let mut config = created.body["provider_config"].clone();
        config["username"] = json!("alice");
        let edited = rest(&app, Method::PATCH, &format!("/endpoints/{id}"), Some(&key),
            Some(json!({ "provider_config": config }))).await;
        assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
        assert_eq!(edited.body["provider_config"], json!({ "sip_uri": "sip:a@pbx.example.com", "username": "alice", "password_set": true }));
    }
}
