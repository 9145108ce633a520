//! Authentication: which credentials and organization headers a request may carry, and how
//! each failure is reported (HTTP status, `extensions.code`, no `data`).

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

const VIEWER: &str = "{ viewer { organizationId credentialKind mode apiKeyId } }";

/// A well-formed key (right prefix, 32 alphanumerics) that was never issued.
const UNKNOWN_TEST_KEY: &str = "kros_test_AbCdEfGhIjKlMnOpQrStUvWxYz012345";
const UNKNOWN_LIVE_KEY: &str = "kros_live_AbCdEfGhIjKlMnOpQrStUvWxYz012345";

fn body(query: &str) -> Value {
    json!({ "query": query })
}

/// The request was refused before GraphQL ran: the status, one error with `code`, no `data`,
/// and on a 401 a `WWW-Authenticate: Bearer` challenge.
#[track_caller]
fn assert_rejected(res: &Response, status: StatusCode, code: &str) {
    assert_eq!(res.status, status, "{}", res.body);
    assert!(
        res.body.get("data").is_none(),
        "a rejected request has no data: {}",
        res.body
    );
    let errors = res.body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{}", res.body);
    assert_eq!(res.error_code(), Some(code), "{}", res.body);
    assert!(
        errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        res.body
    );
    let challenge = res.headers.get("www-authenticate");
    if status == StatusCode::UNAUTHORIZED {
        assert_eq!(
            challenge.and_then(|v| v.to_str().ok()),
            Some("Bearer"),
            "a 401 carries a Bearer challenge"
        );
    } else {
        assert!(challenge.is_none(), "only a 401 carries a challenge");
    }
}

#[track_caller]
fn assert_unauthenticated(res: &Response) {
    assert_rejected(res, StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

async fn with_bearer(app: &TestApp, token: &str, query: &str) -> Response {
    let auth = format!("Bearer {token}");
    app.post(&[("authorization", auth.as_str())], body(query))
        .await
}

db_test! {
    async fn missing_credentials_are_unauthenticated(app) {
        let res = app.post(&[], body(VIEWER)).await;
        assert_unauthenticated(&res);

        let res = app.post(&[], body("{ endpoints { totalCount } }")).await;
        assert_unauthenticated(&res);

        // A write without credentials is refused and writes nothing.
        let res = app
            .post(
                &[],
                json!({
                    "query": &*CREATE,
                    "variables": { "input": { "name": "Anon", "type": "WEBHOOK", "url": "https://example.com/a" } },
                }),
            )
            .await;
        assert_unauthenticated(&res);
        assert_eq!(app.endpoint_rows().await, 0);
    }
}

db_test! {
    async fn unknown_well_formed_key_is_unauthenticated(app) {
        for key in [UNKNOWN_TEST_KEY, UNKNOWN_LIVE_KEY] {
            let res = with_bearer(&app, key, VIEWER).await;
            assert_unauthenticated(&res);
            let res = app.post(&[("x-api-key", key)], body(VIEWER)).await;
            assert_unauthenticated(&res);
        }
    }
}

db_test! {
    async fn malformed_key_is_unauthenticated(app) {
        // A real key with characters cut off or added is malformed, not a prefix match.
        let truncated = &app.org.test_key[..app.org.test_key.len() - 1];
        let extended = format!("{}x", app.org.test_key);
        for key in ["kros_test_short", "kros_prod_AbCdEfGhIjKlMnOpQrStUvWxYz012345", truncated, &extended] {
            let res = with_bearer(&app, key, VIEWER).await;
            assert_unauthenticated(&res);
            let res = app.post(&[("x-api-key", key)], body(VIEWER)).await;
            assert_unauthenticated(&res);
        }
    }
}

db_test! {
    async fn token_that_is_not_an_api_key_is_unauthenticated(app) {
        for token in ["not-a-key", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"] {
            let res = with_bearer(&app, token, VIEWER).await;
            assert_unauthenticated(&res);
        }
    }
}

db_test! {
    async fn revoked_key_is_unauthenticated(app) {
        let key = app.org.test_key.clone();
        let res = app.graphql(&key, VIEWER, json!({})).await;
        let data = res.assert_ok();
        let key_id: Uuid = data["viewer"]["apiKeyId"]
            .as_str()
            .expect("apiKeyId")
            .parse()
            .expect("a UUID");

        cockpit_gateway::domain::api_keys::system::revoke(&app.db, key_id).await.expect("revoke");

        let res = app.graphql(&key, VIEWER, json!({})).await;
        assert_unauthenticated(&res);
        let res = app.post(&[("x-api-key", key.as_str())], body(VIEWER)).await;
        assert_unauthenticated(&res);
        let res = create_raw(&app, &key, json!({ "name": "Late", "type": "WEBHOOK", "url": "https://example.com/l" })).await;
        assert_unauthenticated(&res);
        assert_eq!(app.endpoint_rows().await, 0);

        // Only that key stops working: the organization's live key still does.
        let res = app.graphql(&app.org.live_key, VIEWER, json!({})).await;
        let data = res.assert_ok();
        assert_eq!(data["viewer"]["mode"], "LIVE");
        assert_ne!(data["viewer"]["apiKeyId"], json!(key_id.to_string()));
    }
}

db_test! {
    async fn basic_authorization_is_unauthenticated(app) {
        // "user:password", and the real key sent under the wrong scheme.
        let basic_key = format!("Basic {}", app.org.test_key);
        for auth in ["Basic dXNlcjpwYXNzd29yZA==", basic_key.as_str(), "Bearer", "Token abc"] {
            let res = app.post(&[("authorization", auth)], body(VIEWER)).await;
            assert_unauthenticated(&res);
        }
    }
}

db_test! {
    async fn x_api_key_header_works_like_bearer(app) {
        for (key, mode) in [(&app.org.test_key, "TEST"), (&app.org.live_key, "LIVE")] {
            let via_header = app.post(&[("x-api-key", key.as_str())], body(VIEWER)).await;
            let via_bearer = with_bearer(&app, key, VIEWER).await;
            let data = via_header.assert_ok();
            assert_eq!(data["viewer"]["organizationId"], json!(app.org.id.to_string()));
            assert_eq!(data["viewer"]["mode"], mode);
            assert_eq!(data["viewer"]["credentialKind"], "API_KEY");
            assert_eq!(via_bearer.assert_ok(), data);
        }

        // Writes work through x-api-key too, in the key's mode.
        let res = app
            .post(
                &[("x-api-key", app.org.live_key.as_str())],
                json!({
                    "query": &*CREATE,
                    "variables": { "input": { "name": "Via header", "type": "WEBHOOK", "url": "https://example.com/h" } },
                }),
            )
            .await;
        let created = &res.assert_ok()["createEndpoint"];
        assert_eq!(created["userErrors"], json!([]));
        assert_eq!(created["endpoint"]["mode"], "LIVE");
        assert_eq!(created["endpoint"]["organizationId"], json!(app.org.id.to_string()));
    }
}

db_test! {
    async fn introspection_only_queries_need_no_credentials(app) {
        let res = app.post(&[], body("{ __schema { queryType { name } mutationType { name } } }")).await;
        assert_eq!(
            res.assert_ok(),
            &json!({ "__schema": { "queryType": { "name": "Query" }, "mutationType": { "name": "Mutation" } } })
        );

        let res = app.post(&[], body("{ __typename }")).await;
        assert_eq!(res.assert_ok(), &json!({ "__typename": "Query" }));

        let res = app
            .post(
                &[],
                body(
                    "query Schema { ...EndpointType } \
                     fragment EndpointType on Query { __type(name: \"Endpoint\") { name kind } }",
                ),
            )
            .await;
        assert_eq!(res.assert_ok(), &json!({ "__type": { "name": "Endpoint", "kind": "OBJECT" } }));

        let res = app
            .post(&[], body("{ ... on Query { __type(name: \"Mode\") { enumValues { name } } } }"))
            .await;
        assert_eq!(
            res.assert_ok(),
            &json!({ "__type": { "enumValues": [{ "name": "LIVE" }, { "name": "TEST" }] } })
        );
    }
}

db_test! {
    async fn introspection_mixed_with_data_needs_credentials(app) {
        let res = app.post(&[], body("{ __typename viewer { organizationId } }")).await;
        assert_unauthenticated(&res);

        // Data hidden behind a fragment is still data.
        let res = app
            .post(&[], body("{ __typename ...F } fragment F on Query { endpoints { totalCount } }"))
            .await;
        assert_unauthenticated(&res);

        let res = app.post(&[], body("{ __schema { queryType { name } } viewer { mode } }")).await;
        assert_unauthenticated(&res);
    }
}

db_test! {
    async fn invalid_key_is_rejected_even_for_introspection(app) {
        for key in ["kros_test_short", UNKNOWN_TEST_KEY] {
            let res = with_bearer(&app, key, "{ __typename }").await;
            assert_unauthenticated(&res);
            let res = app.post(&[("x-api-key", key)], body("{ __schema { queryType { name } } }")).await;
            assert_unauthenticated(&res);
        }
        let res = app.post(&[("authorization", "Basic dXNlcjpwYXNzd29yZA==")], body("{ __typename }")).await;
        assert_unauthenticated(&res);
    }
}

db_test! {
    async fn malformed_organization_header_is_bad_request(app) {
        let bearer = format!("Bearer {}", app.org.test_key);
        for org in ["not-a-uuid", "", "12345", &format!("{}0", app.org.id)] {
            let res = app
                .post(&[("authorization", bearer.as_str()), ("x-organization-id", org)], body(VIEWER))
                .await;
            assert_rejected(&res, StatusCode::BAD_REQUEST, "BAD_REQUEST");
        }
    }
}

db_test! {
    async fn other_organization_header_is_forbidden(app) {
        let other = app.new_org("Other").await;
        let bearer = format!("Bearer {}", app.org.test_key);
        let missing = Uuid::new_v4().to_string();
        for org in [other.id.to_string(), missing] {
            let res = app
                .post(&[("authorization", bearer.as_str()), ("x-organization-id", org.as_str())], body(VIEWER))
                .await;
            assert_rejected(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
        }

        // A write into the other organization is refused and writes nothing.
        let other_id = other.id.to_string();
        let res = app
            .post(
                &[("x-api-key", app.org.live_key.as_str()), ("x-organization-id", other_id.as_str())],
                json!({
                    "query": &*CREATE,
                    "variables": { "input": { "name": "Sneaky", "type": "WEBHOOK", "url": "https://example.com/s" } },
                }),
            )
            .await;
        assert_rejected(&res, StatusCode::FORBIDDEN, "FORBIDDEN");
        assert_eq!(app.endpoint_rows().await, 0);

        // The other organization's own key may name it.
        let bearer = format!("Bearer {}", other.test_key);
        let res = app
            .post(&[("authorization", bearer.as_str()), ("x-organization-id", other_id.as_str())], body(VIEWER))
            .await;
        assert_eq!(res.assert_ok()["viewer"]["organizationId"], json!(other_id));
    }
}

db_test! {
    async fn own_organization_header_is_accepted(app) {
        let own = app.org.id.to_string();
        let bearer = format!("Bearer {}", app.org.test_key);
        let res = app
            .post(&[("authorization", bearer.as_str()), ("x-organization-id", own.as_str())], body(VIEWER))
            .await;
        let data = res.assert_ok();
        assert_eq!(data["viewer"]["organizationId"], json!(own));
        assert_eq!(data["viewer"]["mode"], "TEST");

        // Any spelling of the same UUID names the same organization.
        let upper = own.to_uppercase();
        let res = app
            .post(&[("x-api-key", app.org.live_key.as_str()), ("x-organization-id", upper.as_str())], body(VIEWER))
            .await;
        let data = res.assert_ok();
        assert_eq!(data["viewer"]["organizationId"], json!(own));
        assert_eq!(data["viewer"]["mode"], "LIVE");
    }
}

db_test! {
    async fn viewer_describes_the_api_key(app) {
        let other = app.new_org("Other").await;
        let query = "{ viewer { organizationId organization { id name } credentialKind mode apiKeyId } }";
        let mut key_ids = Vec::new();
        for (org, name) in [(&app.org, "Acme"), (&other, "Other")] {
            for (key, mode) in [(&org.test_key, "TEST"), (&org.live_key, "LIVE")] {
                let res = app.graphql(key, query, json!({})).await;
                let viewer = &res.assert_ok()["viewer"];
                assert_eq!(viewer["organizationId"], json!(org.id.to_string()));
                assert_eq!(viewer["organization"]["id"], json!(org.id.to_string()));
                assert_eq!(viewer["organization"]["name"], name);
                assert_eq!(viewer["credentialKind"], "API_KEY");
                assert_eq!(viewer["mode"], mode);
                let id: Uuid = viewer["apiKeyId"].as_str().expect("apiKeyId").parse().expect("a UUID");
                key_ids.push(id);
            }
        }
        key_ids.sort();
        key_ids.dedup();
        assert_eq!(key_ids.len(), 4, "every key has its own id");
    }
}

/// `createEndpoint` as the holder of `key`, returning the raw response (it may be refused).
async fn create_raw(app: &TestApp, key: &str, input: Value) -> Response {
    app.graphql(key, &CREATE, json!({ "input": input })).await
}
