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

/// Whether the response is the stored one of an earlier request with its key.
fn replayed(res: &Response) -> bool {
    res.headers
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        == Some("true")
}

db_test! {
    async fn a_keyed_mutation_retried_by_its_hash_replays_its_first_response(app) {
        // Apollo's PersistedQueryLink with an Idempotency-Key: the hash, the text once it isn't
        // known, then (a retry) the hash alone again — one operation, one key.
        let auth = format!("Bearer {}", app.org.test_key);
        let keyed = |key: &'static str| [("authorization", auth.clone()), ("idempotency-key", key.to_owned())];
        let send = async |key: &'static str, body: Value| {
            let headers = keyed(key);
            let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            app.post(&headers, body).await
        };
        let mutation = "mutation Create($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id name } userErrors { code } } }";
        let hash = sha256(mutation);
        let input = json!({ "input": { "name": "Persisted", "type": "WEBHOOK", "url": "https://hooks.example/p" } });
        let rows = app.endpoint_rows().await;

        let unknown = send("apq-1", json!({ "variables": input, "extensions": persisted(&hash) })).await;
        assert_eq!(unknown.error_code(), Some("PERSISTED_QUERY_NOT_FOUND"), "{}", unknown.body);
        let first = send("apq-1", json!({ "query": mutation, "variables": input, "extensions": persisted(&hash) })).await;
        let created = first.assert_ok().clone();
        assert!(!replayed(&first));
        assert_eq!(created["createEndpoint"]["userErrors"], json!([]), "{created}");

        // However the same operation is named, the key replays its first response.
        let swapped = json!({ "input": { "url": "https://hooks.example/p", "type": "WEBHOOK", "name": "Persisted" } });
        for (how, body) in [
            ("by hash", json!({ "variables": input, "extensions": persisted(&hash) })),
            ("by text", json!({ "query": mutation, "variables": input })),
            ("by hash and text", json!({ "query": mutation, "variables": input, "extensions": persisted(&hash) })),
            ("with its operationName", json!({ "operationName": "Create", "variables": input, "extensions": persisted(&hash) })),
            ("with its variables in another order", json!({ "variables": swapped, "extensions": persisted(&hash) })),
        ] {
            let retry = send("apq-1", body).await;
            assert!(replayed(&retry), "{how}: {} {}", retry.status, retry.body);
            assert_eq!(retry.assert_ok(), &created, "{how}");
        }
        assert_eq!(app.endpoint_rows().await, rows + 1, "the mutation ran once");

        // Another operation under the key is refused and writes nothing.
        let other_vars = json!({ "input": { "name": "Other", "type": "WEBHOOK", "url": "https://hooks.example/p" } });
        let other_text = "mutation Create($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } userErrors { code } } }";
        let two = "mutation One($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } } } \
                   mutation Two($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { name } } }";
        app.post(&[("authorization", auth.as_str())], json!({ "query": other_text, "extensions": persisted(&sha256(other_text)), "variables": other_vars })).await;
        let rows = app.endpoint_rows().await;
        for (how, body) in [
            ("other variables", json!({ "variables": other_vars, "extensions": persisted(&hash) })),
            ("another document by hash", json!({ "variables": input, "extensions": persisted(&sha256(other_text)) })),
            ("another document by text", json!({ "query": other_text, "variables": input })),
            ("another operation of a document", json!({ "query": two, "operationName": "Two", "variables": input })),
        ] {
            let refused = send("apq-1", body).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{how}: {}", refused.body);
            assert_eq!(refused.error_code(), Some("IDEMPOTENCY_KEY_REUSED"), "{how}");
        }
        let one = send("apq-2", json!({ "query": two, "operationName": "One", "variables": input })).await;
        one.assert_ok();
        let refused = send("apq-2", json!({ "query": two, "operationName": "Two", "variables": input })).await;
        assert_eq!(refused.error_code(), Some("IDEMPOTENCY_KEY_REUSED"), "{}", refused.body);
        assert_eq!(app.endpoint_rows().await, rows + 1, "only apq-2's first request wrote");
    }
}
