//! Automatic persisted queries, as Apollo clients use them: a hash first, the query once
//! when the gateway doesn't know it, the hash alone after that.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

db_test! {
    async fn a_query_is_registered_once_then_run_by_its_hash(app) {
        let auth = format!("Bearer {}", app.org.test_key);
        let headers = [("authorization", auth.as_str())];
        let query = "query Mode { viewer { mode organizationId } }";
        let hash = sha256(query);

        let unknown = app.post(&headers, json!({ "extensions": persisted(&hash) })).await;
        assert_eq!(unknown.status, StatusCode::OK);
        assert_eq!(unknown.error_code(), Some("PERSISTED_QUERY_NOT_FOUND"), "{}", unknown.body);

        let registered = app
            .post(&headers, json!({ "query": query, "extensions": persisted(&hash) }))
            .await;
        let expected = json!({ "viewer": { "mode": "TEST", "organizationId": app.org.id } });
        assert_eq!(registered.assert_ok(), &expected);

        let by_hash = app.post(&headers, json!({ "extensions": persisted(&hash) })).await;
        assert_eq!(by_hash.assert_ok(), &expected);
        assert!(by_hash.cost["requestedQueryCost"].is_number(), "the persisted query is costed too");

        // Over GET, as CDN-friendly clients send it.
        let url = format!(
            "{}/graphql?extensions={}",
            app.address,
            urlencode(&persisted(&hash).to_string())
        );
        let res = app.client.get(url).header("authorization", &auth).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.expect("JSON");
        assert_eq!(body["data"], expected);
    }
}

db_test! {
    async fn a_query_that_does_not_match_its_hash_is_refused(app) {
        let query = "{ __typename }";
        let res = app
            .post(&[], json!({ "query": query, "extensions": persisted(&sha256("{ other }")) }))
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        assert!(res.body["errors"][0]["message"].as_str().is_some_and(|m| m.contains("sha256Hash")));
        for bad in [json!({ "persistedQuery": { "version": 2, "sha256Hash": sha256(query) } }),
                    json!({ "persistedQuery": { "version": 1, "sha256Hash": "abc" } }),
                    json!({ "persistedQuery": "yes" })] {
            let res = app.post(&[], json!({ "query": query, "extensions": bad })).await;
            assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}: {}", res.body);
        }
    }
}

db_test! {
    async fn a_persisted_mutation_still_needs_post(app) {
        let auth = format!("Bearer {}", app.org.test_key);
        let mutation = "mutation { createEndpoint(input: { name: \"x\", type: WEBHOOK, url: \"https://a.example\" }) { userErrors { code } } }";
        let hash = sha256(mutation);
        app.post(&[("authorization", auth.as_str())], json!({ "query": mutation, "extensions": persisted(&hash) }))
            .await
            .assert_ok();
        let url = format!("{}/graphql?extensions={}", app.address, urlencode(&persisted(&hash).to_string()));
        let res = app.client.get(url).header("authorization", &auth).send().await.expect("GET");
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()["allow"], "POST");
        assert_eq!(app.endpoint_rows().await, 1, "only the POST created one");
    }
}

db_test! {
    async fn persisted_queries_can_be_turned_off(app) {
        let off = TestApp::builder(app.backend).with_config(|c| c.limits.apq_cache_bytes = 0).spawn().await.expect("app");
        let query = "{ __typename }";
        let res = off.post(&[], json!({ "query": query, "extensions": persisted(&sha256(query)) })).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.error_code(), Some("PERSISTED_QUERY_NOT_SUPPORTED"));
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
