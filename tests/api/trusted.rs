//! Trusted documents: `documentId` (and APQ's hash) name a manifest's documents in `allow`
//! mode; `enforce` runs nothing else (introspection only when allowed); the manifest is read
//! again on SIGHUP without a request failing; a manifest that can't be trusted stops startup.

use std::path::PathBuf;

use cockpit_gateway::http::trusted::{TrustedMode, TrustedSettings};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::*;

const VIEWER: &str = "query Viewer { viewer { mode } }";
const CREATE: &str = "mutation Create($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id } userErrors { code } } }";
const INTROSPECTION: &str = "{ __schema { queryType { name } } }";

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A manifest as GraphQL Code Generator's client preset writes it, in a directory kept for the
/// test's length.
fn manifest(documents: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("persisted-documents.json");
    write_manifest(&path, documents);
    (dir, path)
}

fn write_manifest(path: &std::path::Path, documents: &[&str]) {
    let object: serde_json::Map<String, Value> =
        documents.iter().map(|d| (sha256(d), json!(d))).collect();
    std::fs::write(path, Value::Object(object).to_string()).expect("write manifest");
}

async fn gateway(
    backend: Backend,
    path: &std::path::Path,
    mode: TrustedMode,
    allow_introspection: bool,
) -> TestApp {
    let file = path.to_owned();
    TestApp::builder(backend)
        .with_config(move |c| {
            c.trusted_documents = TrustedSettings {
                file: Some(file),
                mode,
                allow_introspection,
            }
        })
        .spawn()
        .await
        .expect("gateway")
}

fn create_variables() -> Value {
    json!({ "input": { "name": "Trusted", "type": "WEBHOOK", "url": "https://hooks.example/in" } })
}

impl TestApp {
    async fn send(&self, body: Value) -> Response {
        let auth = format!("Bearer {}", self.org.test_key);
        self.post(&[("authorization", auth.as_str())], body).await
    }
}

db_test! {
    async fn allow_mode_runs_documents_by_id_and_any_text(app) {
        let (_dir, path) = manifest(&[VIEWER, CREATE]);
        let app = gateway(app.backend, &path, TrustedMode::Allow, false).await;
        for id in [sha256(VIEWER), format!("sha256:{}", sha256(VIEWER))] {
            let res = app.send(json!({ "documentId": id })).await;
            assert_eq!(res.assert_ok()["viewer"]["mode"], "TEST", "{id}");
        }
        let rows = app.endpoint_rows().await;
        let res = app.send(json!({ "documentId": sha256(CREATE), "variables": create_variables() })).await;
        assert_eq!(res.assert_ok()["createEndpoint"]["userErrors"], json!([]));
        assert_eq!(app.endpoint_rows().await, rows + 1);
        // APQ's hash-only request finds a manifest document without registering it first.
        let res = app.send(json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(VIEWER) } } })).await;
        assert_eq!(res.assert_ok()["viewer"]["mode"], "TEST");
        // GET takes the id too.
        let res = app.client.get(format!("{}/graphql?documentId={}", app.address, sha256(VIEWER)))
            .bearer_auth(&app.org.test_key).send().await.expect("send");
        assert_eq!(res.status(), StatusCode::OK);
        // Any text still runs.
        app.send(json!({ "query": "{ endpoints(first: 1) { totalCount } }" })).await.assert_ok();
        // An unknown id, or an id with a text, is refused.
        let res = app.send(json!({ "documentId": sha256("{ nope }") })).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
        assert_eq!(res.error_code(), Some("PERSISTED_QUERY_NOT_FOUND"));
        let res = app.send(json!({ "documentId": sha256(VIEWER), "query": VIEWER })).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
        let res = app.send(json!({ "documentId": 12 })).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST);
    }
}

db_test! {
    async fn enforce_mode_runs_nothing_else(app) {
        let (_dir, path) = manifest(&[VIEWER, CREATE]);
        let app = gateway(app.backend, &path, TrustedMode::Enforce, false).await;
        let rows = app.endpoint_rows().await;
        let res = app.send(json!({ "documentId": sha256(CREATE), "variables": create_variables() })).await;
        assert_eq!(res.assert_ok()["createEndpoint"]["userErrors"], json!([]));
        // The manifest's text, sent whole, is the manifest's document.
        let res = app.send(json!({ "query": VIEWER })).await;
        assert_eq!(res.assert_ok()["viewer"]["mode"], "TEST");
        let adhoc_create = "mutation { createEndpoint(input: { name: \"Ad hoc\", type: WEBHOOK, url: \"https://hooks.example/x\" }) { endpoint { id } } }";
        let unknown_hash = json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256("{ endpoints(first: 1) { totalCount } }") } } });
        let refused = [
            json!({ "query": "{ endpoints(first: 1) { totalCount } }" }),
            json!({ "query": adhoc_create }),
            // The same operation written otherwise is another document.
            json!({ "query": "query Viewer { viewer { mode } } " }),
            json!({ "query": INTROSPECTION }),
            json!({ "query": INTROSPECTION, "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(INTROSPECTION) } } }),
            unknown_hash,
        ];
        for body in refused {
            let res = app.send(body.clone()).await;
            assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.body);
            assert_eq!(res.error_code(), Some("PERSISTED_QUERY_NOT_ALLOWED"), "{body}: {}", res.body);
            assert!(res.body.get("data").is_none());
        }
        assert_eq!(app.endpoint_rows().await, rows + 1, "the ad hoc mutation never ran");
        // Anonymous introspection is refused the same way, over GET too.
        let res = app.client.get(format!("{}/graphql?query={}", app.address, INTROSPECTION)).send().await.expect("send");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let body: Value = res.json().await.expect("JSON");
        assert_eq!(body["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_ALLOWED");
    }
}

db_test! {
    async fn enforce_mode_may_still_allow_introspection(app) {
        let (_dir, path) = manifest(&[VIEWER]);
        let app = gateway(app.backend, &path, TrustedMode::Enforce, true).await;
        let res = app.send(json!({ "query": INTROSPECTION })).await;
        assert_eq!(res.assert_ok()["__schema"]["queryType"]["name"], "Query");
        let res = app.post(&[], json!({ "query": INTROSPECTION })).await;
        assert_eq!(res.status, StatusCode::OK, "anonymous introspection, for GraphiQL: {}", res.body);
        for adhoc in ["{ endpoints(first: 1) { totalCount } }", "{ __schema { queryType { name } } viewer { mode } }"] {
            let res = app.send(json!({ "query": adhoc })).await;
            assert_eq!(res.error_code(), Some("PERSISTED_QUERY_NOT_ALLOWED"), "{adhoc}: {}", res.body);
        }
    }
}

#[tokio::test]
async fn documentid_without_trusted_documents_is_refused() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("gateway");
    let res = app.send(json!({ "documentId": sha256(VIEWER) })).await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.error_code(), Some("PERSISTED_QUERY_NOT_SUPPORTED"));
}

#[tokio::test]
async fn a_manifest_that_cant_be_trusted_stops_startup() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"abc": "query {"}"#).expect("write");
    let bad = bad.display().to_string();
    for args in [
        vec!["--trusted-documents-mode", "enforce"],
        vec![
            "--trusted-documents",
            bad.as_str(),
            "--trusted-documents-mode",
            "enforce",
        ],
        vec![
            "--trusted-documents",
            "/nonexistent/manifest.json",
            "--trusted-documents-mode",
            "allow",
        ],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cockpit-gateway"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                &db.url,
            ])
            .args(&args)
            .env("COCKPIT_SECRET_KEY", &db.secret_key)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("trusted") || stderr.contains("manifest"),
            "{args:?}: {stderr}"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_manifest_is_read_again_on_sighup_without_failing_a_request() {
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let org = TestApp::builder(Backend::Sqlite)
        .on(db.shared())
        .spawn()
        .await
        .expect("gateway")
        .org;
    let second = "query Second { viewer { mode } }";
    let (_dir, path) = manifest(&[VIEWER]);
    let file = path.display().to_string();
    let (mut child, address) = serve_process(
        &db,
        &[
            ("COCKPIT_TRUSTED_DOCUMENTS", file.as_str()),
            ("COCKPIT_TRUSTED_DOCUMENTS_MODE", "enforce"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let ask = async |document: &str| {
        let res = client
            .post(format!("http://{address}/graphql"))
            .bearer_auth(&org.test_key)
            .json(&json!({ "documentId": sha256(document) }))
            .send()
            .await
            .expect("send");
        let status = res.status();
        let body: Value = res.json().await.expect("JSON");
        (
            status,
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .map(str::to_owned),
        )
    };
    let hangup = |pid: u32| {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    assert_eq!(ask(VIEWER).await.0, StatusCode::OK);
    assert_eq!(
        ask(second).await.1.as_deref(),
        Some("PERSISTED_QUERY_NOT_FOUND")
    );

    // Requests keep running while the manifest is swapped under them.
    let busy = {
        let (client, address, key) = (client.clone(), address.clone(), org.test_key.clone());
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..60 {
                let res = client
                    .post(format!("http://{address}/graphql"))
                    .bearer_auth(&key)
                    .json(&json!({ "query": "query Viewer { viewer { mode } }" }))
                    .send()
                    .await;
                statuses.push(res.map(|r| r.status().as_u16()).unwrap_or(0));
            }
            statuses
        })
    };
    write_manifest(&path, &[VIEWER, second]);
    hangup(child.id());
    let mut reloaded = false;
    for _ in 0..50 {
        if ask(second).await.0 == StatusCode::OK {
            reloaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let statuses = busy.await.expect("busy");
    assert!(reloaded, "the new document runs after SIGHUP");
    assert!(
        statuses.iter().all(|s| *s == 200),
        "no request failed during the reload: {statuses:?}"
    );

    // A manifest that doesn't load leaves the one in force.
    std::fs::write(&path, "{ not json").expect("write");
    hangup(child.id());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(ask(second).await.0, StatusCode::OK);
    // A manifest without a document drops it.
    write_manifest(&path, &[second]);
    hangup(child.id());
    let mut dropped = false;
    for _ in 0..50 {
        if ask(VIEWER).await.1.as_deref() == Some("PERSISTED_QUERY_NOT_FOUND") {
            dropped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        dropped,
        "a document taken out of the manifest no longer runs"
    );
}

db_test! {
    async fn over_websocket_documents_go_by_id_or_hash(app) {
        use crate::live::{Ws, ENDPOINT_EVENTS};
        let (_dir, path) = manifest(&[ENDPOINT_EVENTS]);
        let app = gateway(app.backend, &path, TrustedMode::Enforce, false).await;
        let address = app.address.clone();
        let mut by_id = Ws::with_key(&address, &app.org.test_key).await;
        by_id.send(json!({ "id": "1", "type": "subscribe", "payload": {
            "documentId": format!("sha256:{}", sha256(ENDPOINT_EVENTS)), "variables": {} } })).await;
        let mut by_hash = Ws::with_key(&address, &app.org.test_key).await;
        by_hash.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": "",
            "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(ENDPOINT_EVENTS) } } } })).await;
        let mut adhoc = Ws::with_key(&address, &app.org.test_key).await;
        adhoc.subscribe("1", "subscription { endpointEvents { id } }", json!({})).await;
        let refused = adhoc.next_payload().await;
        assert_eq!(refused["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_ALLOWED", "{refused}");
        // Give both subscriptions a moment to start, then make an event.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // REST writes are not GraphQL documents.
        let e: Value = app.client.post(format!("{}/v1/endpoints", app.address)).bearer_auth(&app.org.test_key)
            .json(&json!({ "name": "Watched", "type": "webhook", "url": "https://hooks.example/w" }))
            .send().await.expect("send").json().await.expect("JSON");
        for ws in [&mut by_id, &mut by_hash] {
            let event = ws.next_event().await;
            assert_eq!(event["endpointId"], e["id"], "{event}");
        }
    }
}

db_test! {
    async fn an_idempotency_key_stands_for_the_document_however_it_is_named(app) {
        let (_dir, path) = manifest(&[CREATE]);
        let app = gateway(app.backend, &path, TrustedMode::Allow, false).await;
        let auth = format!("Bearer {}", app.org.test_key);
        let headers = [("authorization", auth.as_str()), ("idempotency-key", "trusted-1")];
        let rows = app.endpoint_rows().await;
        let first = app.post(&headers, json!({ "documentId": sha256(CREATE), "variables": create_variables() })).await;
        let created = first.assert_ok().clone();
        assert_eq!(created["createEndpoint"]["userErrors"], json!([]), "{created}");
        let hash = sha256(CREATE);
        for body in [
            json!({ "documentId": format!("sha256:{hash}"), "variables": create_variables() }),
            json!({ "query": CREATE, "variables": create_variables() }),
            json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash } }, "variables": create_variables() }),
        ] {
            let retry = app.post(&headers, body.clone()).await;
            assert_eq!(
                retry.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()),
                Some("true"),
                "{body}: {}",
                retry.body
            );
            assert_eq!(retry.assert_ok(), &created, "{body}");
        }
        assert_eq!(app.endpoint_rows().await, rows + 1, "the mutation ran once");
        let other = json!({ "input": { "name": "Another", "type": "WEBHOOK", "url": "https://hooks.example/in" } });
        let refused = app.post(&headers, json!({ "documentId": hash, "variables": other })).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert_eq!(refused.error_code(), Some("IDEMPOTENCY_KEY_REUSED"));
        assert_eq!(app.endpoint_rows().await, rows + 1);
    }
}
