//! `Idempotency-Key` on REST's writes and GraphQL's mutations: a retry gets the first response
//! and writes nothing; another request with the key is 422, one while the first runs 409; keys
//! are the credential's own; they hold across processes, abandoned claims are taken over and
//! expired keys purged.

use std::time::Duration;

use cockpit_gateway::domain::idempotency;
use cockpit_gateway::domain::{Mode, Role};
use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::*;

const CREATE: &str = "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) {
    endpoint { id name } userErrors { field code message } } }";

/// An answer as it came.
#[derive(Debug, Clone)]
struct Sent {
    status: StatusCode,
    replayed: Option<String>,
    retry_after: Option<String>,
    etag: Option<String>,
    /// The body's text, exactly.
    text: String,
}

impl Sent {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    fn code(&self) -> Option<String> {
        let body = self.json();
        body["code"]
            .as_str()
            .or_else(|| body["errors"][0]["extensions"]["code"].as_str())
            .map(str::to_owned)
    }

    fn is_replay(&self) -> bool {
        self.replayed.as_deref() == Some("true")
    }
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> Sent {
    let mut req = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (replayed, etag) = (header("idempotent-replayed"), header("etag"));
    let retry_after = header("retry-after");
    let status = res.status();
    let text = res.text().await.expect("body");
    Sent {
        status,
        replayed,
        retry_after,
        etag,
        text,
    }
}

fn webhook(name: &str) -> Value {
    json!({ "name": name, "type": "webhook", "url": "https://hooks.example/in" })
}

fn create_mutation(name: &str) -> Value {
    json!({ "query": CREATE, "variables": { "input": {
        "name": name, "type": "WEBHOOK", "url": "https://hooks.example/in" } } })
}

impl TestApp {
    async fn rest_once(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Sent {
        let base = format!("{}/v1", self.address);
        send(
            &self.client,
            &base,
            method,
            path,
            &self.org.test_key,
            key,
            body,
        )
        .await
    }

    async fn graphql_once(&self, token: &str, key: Option<&str>, body: Value) -> Sent {
        send(
            &self.client,
            &self.address,
            Method::POST,
            "/graphql",
            token,
            key,
            Some(body),
        )
        .await
    }

    async fn idempotency_rows(&self) -> i64 {
        self.rows("idempotency_keys").await
    }
}

db_test! {
    async fn a_retried_rest_write_runs_once_and_replays_the_first_response(app) {
        let before = app.endpoint_rows().await;
        let first = app.rest_once(Method::POST, "/endpoints", Some("create-1"), Some(webhook("Once"))).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        assert_eq!(first.replayed, None, "a first response is not a replay");
        let again = app.rest_once(Method::POST, "/endpoints", Some("create-1"), Some(webhook("Once"))).await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert!(again.is_replay(), "{again:?}");
        assert_eq!(again.text, first.text, "the very same body");
        assert_eq!(again.etag, first.etag, "with the headers that describe it");
        assert_eq!(app.endpoint_rows().await, before + 1, "one endpoint, not two");

        // Later changes don't change what the key answers.
        let id = first.json()["id"].as_str().expect("id").to_owned();
        let path = format!("/endpoints/{id}");
        let renamed = app.rest_once(Method::PATCH, &path, Some("rename-1"), Some(json!({ "name": "Renamed" }))).await;
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
        let third = app.rest_once(Method::POST, "/endpoints", Some("create-1"), Some(webhook("Once"))).await;
        assert_eq!(third.text, first.text);

        // A retried PATCH is not applied twice: its stored answer comes back even after
        // another change.
        app.rest_once(Method::PATCH, &path, None, Some(json!({ "name": "Third" }))).await;
        let renamed_again = app.rest_once(Method::PATCH, &path, Some("rename-1"), Some(json!({ "name": "Renamed" }))).await;
        assert!(renamed_again.is_replay());
        assert_eq!(renamed_again.text, renamed.text);
        let now = app.rest_once(Method::GET, &path, None, None).await;
        assert_eq!(now.json()["name"], "Third", "the replay wrote nothing");

        // A retried DELETE answers 204 again, not 404.
        let deleted = app.rest_once(Method::DELETE, &path, Some("delete-1"), None).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        let deleted_again = app.rest_once(Method::DELETE, &path, Some("delete-1"), None).await;
        assert_eq!(deleted_again.status, StatusCode::NO_CONTENT);
        assert!(deleted_again.is_replay());
        let unkeyed = app.rest_once(Method::DELETE, &path, None, None).await;
        assert_eq!(unkeyed.status, StatusCode::NOT_FOUND, "without a key a delete runs");

        // A refusal of the domain changed nothing: it isn't kept, and runs again.
        let bad = json!({ "name": "Bad", "type": "webhook", "url": "ftp://x.example" });
        let refused = app.rest_once(Method::POST, "/endpoints", Some("bad-1"), Some(bad.clone())).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
        let refused_again = app.rest_once(Method::POST, "/endpoints", Some("bad-1"), Some(bad)).await;
        assert_eq!(refused_again.status, StatusCode::BAD_REQUEST, "{}", refused_again.text);
        assert_eq!(refused_again.replayed, None);
    }
}

db_test! {
    async fn a_retried_graphql_mutation_runs_once_and_replays_the_first_response(app) {
        let token = app.org.test_key.clone();
        let before = app.endpoint_rows().await;
        let first = app.graphql_once(&token, Some("g-create"), create_mutation("Once")).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text);
        assert_eq!(first.json()["data"]["createEndpoint"]["userErrors"], json!([]), "{}", first.text);
        assert_eq!(first.replayed, None);
        let again = app.graphql_once(&token, Some("g-create"), create_mutation("Once")).await;
        assert!(again.is_replay(), "{again:?}");
        assert_eq!(again.text, first.text);
        assert_eq!(app.endpoint_rows().await, before + 1);

        // The same request written otherwise (keys in another order) is the same request.
        let reordered = json!({ "variables": { "input": {
            "url": "https://hooks.example/in", "type": "WEBHOOK", "name": "Once" } }, "query": CREATE });
        let third = app.graphql_once(&token, Some("g-create"), reordered).await;
        assert!(third.is_replay(), "{third:?}");
        assert_eq!(app.endpoint_rows().await, before + 1);

        // A query with a key only reads: it runs each time.
        let query = json!({ "query": "{ endpoints(first: 5) { totalCount } }" });
        let read = app.graphql_once(&token, Some("g-read"), query.clone()).await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text);
        let read_again = app.graphql_once(&token, Some("g-read"), query).await;
        assert_eq!(read_again.replayed, None, "queries are not stored");
        assert_eq!(app.idempotency_rows().await, 1, "only the mutation's key is stored");

        // A batch can't be covered by one key.
        let batch = json!([create_mutation("A"), create_mutation("B")]);
        let refused = app.graphql_once(&token, Some("g-batch"), batch).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
        assert_eq!(refused.code().as_deref(), Some("IDEMPOTENCY_KEY_INVALID"));
        assert_eq!(app.endpoint_rows().await, before + 1, "nothing of the batch ran");
    }
}

db_test! {
    async fn the_same_key_with_another_request_is_422_and_writes_nothing(app) {
        let token = app.org.test_key.clone();
        let first = app.rest_once(Method::POST, "/endpoints", Some("k"), Some(webhook("First"))).await;
        assert_eq!(first.status, StatusCode::CREATED);
        let rows = app.endpoint_rows().await;
        let other_body = app.rest_once(Method::POST, "/endpoints", Some("k"), Some(webhook("Second"))).await;
        assert_eq!(other_body.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", other_body.text);
        assert_eq!(other_body.code().as_deref(), Some("IDEMPOTENCY_KEY_REUSED"));
        let id = first.json()["id"].as_str().expect("id").to_owned();
        let other_path = app.rest_once(Method::PATCH, &format!("/endpoints/{id}"), Some("k"), Some(webhook("First"))).await;
        assert_eq!(other_path.code().as_deref(), Some("IDEMPOTENCY_KEY_REUSED"), "{}", other_path.text);
        let other_transport = app.graphql_once(&token, Some("k"), create_mutation("First")).await;
        assert_eq!(other_transport.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", other_transport.text);
        assert_eq!(other_transport.code().as_deref(), Some("IDEMPOTENCY_KEY_REUSED"));
        let other_variables = {
            app.graphql_once(&token, Some("gk"), create_mutation("G1")).await;
            app.graphql_once(&token, Some("gk"), create_mutation("G2")).await
        };
        assert_eq!(other_variables.code().as_deref(), Some("IDEMPOTENCY_KEY_REUSED"));
        assert_eq!(app.endpoint_rows().await, rows + 1, "only G1 was written");
        let get = app.rest_once(Method::GET, &format!("/endpoints/{id}"), None, None).await;
        assert_eq!(get.json()["name"], "First");
    }
}

db_test! {
    async fn malformed_keys_are_400_and_write_nothing(app) {
        let rows = app.endpoint_rows().await;
        let long = "k".repeat(256);
        for key in ["", long.as_str(), "tab\there", "caf\u{e9}", "del\u{7f}"] {
            let Ok(value) = reqwest::header::HeaderValue::from_bytes(key.as_bytes()) else {
                continue;
            };
            let res = app.client.post(format!("{}/v1/endpoints", app.address))
                .bearer_auth(&app.org.test_key)
                .header("idempotency-key", value.clone())
                .json(&webhook("Bad key")).send().await.expect("send");
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{key:?}");
            let body: Value = res.json().await.expect("JSON");
            assert_eq!(body["code"], "IDEMPOTENCY_KEY_INVALID", "{key:?}: {body}");
            let res = app.client.post(format!("{}/graphql", app.address))
                .bearer_auth(&app.org.test_key)
                .header("idempotency-key", value)
                .json(&create_mutation("Bad key")).send().await.expect("send");
            let body: Value = res.json().await.expect("JSON");
            assert_eq!(body["errors"][0]["extensions"]["code"], "IDEMPOTENCY_KEY_INVALID", "{key:?}: {body}");
        }
        let twice = app.client.post(format!("{}/v1/endpoints", app.address))
            .bearer_auth(&app.org.test_key)
            .header("idempotency-key", "a").header("idempotency-key", "b")
            .json(&webhook("Two keys")).send().await.expect("send");
        assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
        assert_eq!(app.endpoint_rows().await, rows);

        // The longest key and every printable character are accepted.
        let longest = "k".repeat(255);
        let ok = app.rest_once(Method::POST, "/endpoints", Some(&longest), Some(webhook("Longest"))).await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
        let printable: String = (0x21u8..=0x7e).map(char::from).collect();
        let ok = app.rest_once(Method::POST, "/endpoints", Some(&printable), Some(webhook("Printable"))).await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    }
}

db_test! {
    async fn twenty_concurrent_retries_write_exactly_once(app) {
        for transport in ["rest", "graphql"] {
            let before = app.endpoint_rows().await;
            let key = format!("race-{transport}");
            let mut set = JoinSet::new();
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
            for _ in 0..20 {
                let (client, address, token, key) = (app.client.clone(), app.address.clone(), app.org.test_key.clone(), key.clone());
                let barrier = barrier.clone();
                set.spawn(async move {
                    barrier.wait().await;
                    if transport == "rest" {
                        send(&client, &format!("{address}/v1"), Method::POST, "/endpoints", &token, Some(&key), Some(webhook("Raced"))).await
                    } else {
                        send(&client, &address, Method::POST, "/graphql", &token, Some(&key), Some(create_mutation("Raced"))).await
                    }
                });
            }
            let answers: Vec<Sent> = set.join_all().await;
            assert_eq!(app.endpoint_rows().await, before + 1, "{transport}: exactly one write: {answers:#?}");
            let firsts: Vec<&Sent> = answers.iter().filter(|a| a.status.is_success() && !a.is_replay()).collect();
            assert_eq!(firsts.len(), 1, "{transport}: one request ran: {answers:#?}");
            for answer in &answers {
                if answer.status.is_success() {
                    assert_eq!(answer.text, firsts[0].text, "{transport}: a replay is the first answer");
                } else {
                    assert_eq!(answer.status, StatusCode::CONFLICT, "{transport}: {answer:?}");
                    assert_eq!(answer.code().as_deref(), Some("IDEMPOTENCY_KEY_IN_USE"), "{answer:?}");
                }
            }
            // Once the first has finished, every retry gets its answer.
            let later = if transport == "rest" {
                app.rest_once(Method::POST, "/endpoints", Some(&key), Some(webhook("Raced"))).await
            } else {
                app.graphql_once(&app.org.test_key, Some(&key), create_mutation("Raced")).await
            };
            assert!(later.is_replay(), "{later:?}");
            assert_eq!(later.text, firsts[0].text);
        }
    }
}

db_test! {
    async fn keys_belong_to_their_credential(app) {
        let other = app.new_org("Other").await;
        let ours = app.rest_once(Method::POST, "/endpoints", Some("shared"), Some(webhook("Ours"))).await;
        assert_eq!(ours.status, StatusCode::CREATED);
        // Another organization's identical key, with another request: a new key, run afresh.
        let base = format!("{}/v1", app.address);
        let theirs = send(&app.client, &base, Method::POST, "/endpoints", &other.test_key, Some("shared"), Some(webhook("Theirs"))).await;
        assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.text);
        assert_eq!(theirs.replayed, None);
        assert_eq!(theirs.json()["organization_id"], json!(other.id));
        // With the same request too: never another credential's stored answer.
        let same = send(&app.client, &base, Method::POST, "/endpoints", &other.test_key, Some("shared-2"), Some(webhook("Ours"))).await;
        let mine = app.rest_once(Method::POST, "/endpoints", Some("shared-2"), Some(webhook("Ours"))).await;
        assert_eq!(same.replayed, None);
        assert_eq!(mine.replayed, None);
        assert_ne!(same.json()["id"], mine.json()["id"]);
        // The other mode's key of the same organization is another credential.
        let live = send(&app.client, &base, Method::POST, "/endpoints", &app.org.live_key, Some("shared"), Some(webhook("Ours"))).await;
        assert_eq!(live.status, StatusCode::CREATED, "{}", live.text);
        assert_eq!(live.replayed, None);
        assert_eq!(live.json()["mode"], "live");
        // A session of a member is another credential again, and sees only its own keys.
        let (_, session) = app.member(app.org.id, Role::Admin).await;
        let by_session = app.graphql_once(&session, Some("shared"), create_mutation("Session")).await;
        assert_eq!(by_session.status, StatusCode::OK, "{}", by_session.text);
        assert_eq!(by_session.replayed, None);
        assert_eq!(by_session.json()["data"]["createEndpoint"]["userErrors"], json!([]), "{}", by_session.text);
        // Each credential's replay is its own.
        let ours_again = app.rest_once(Method::POST, "/endpoints", Some("shared"), Some(webhook("Ours"))).await;
        assert_eq!(ours_again.text, ours.text);
        let theirs_again = send(&app.client, &base, Method::POST, "/endpoints", &other.test_key, Some("shared"), Some(webhook("Theirs"))).await;
        assert_eq!(theirs_again.text, theirs.text);
        let _ = Mode::Test;
    }
}

db_test! {
    async fn a_fault_keeps_nothing_and_the_retry_runs_afresh(app) {
        let app = TestApp::builder(app.backend)
            .with_config(|c| c.limits.request_timeout = Duration::from_millis(400))
            .spawn()
            .await
            .expect("app");
        // Authenticating records the key's use; after this request it writes nothing for a minute.
        app.graphql(&app.org.test_key, "{ viewer { mode } }", json!({})).await.assert_ok();
        let rows = app.endpoint_rows().await;
        let blocker = sea_orm::TransactionTrait::begin(&app.pool).await.expect("begin");
        let lock = match app.backend {
            Backend::Sqlite => "UPDATE organizations SET name = name",
            Backend::Postgres => "LOCK TABLE endpoints IN ACCESS EXCLUSIVE MODE",
        };
        blocker.execute_unprepared(lock).await.expect("lock");
        let timed_out = app.rest_once(Method::POST, "/endpoints", Some("slow"), Some(webhook("Slow"))).await;
        assert_eq!(timed_out.status, StatusCode::GATEWAY_TIMEOUT, "{}", timed_out.text);
        blocker.rollback().await.expect("rollback");
        // The key was given up: the retry runs, once.
        let mut retried = app.rest_once(Method::POST, "/endpoints", Some("slow"), Some(webhook("Slow"))).await;
        for _ in 0..20 {
            if retried.status != StatusCode::CONFLICT {
                break;
            }
            // The claim is given up as the timed-out request winds down.
            tokio::time::sleep(Duration::from_millis(100)).await;
            retried = app.rest_once(Method::POST, "/endpoints", Some("slow"), Some(webhook("Slow"))).await;
        }
        assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.text);
        assert_eq!(retried.replayed, None, "a timeout is not an answer to keep");
        assert_eq!(app.endpoint_rows().await, rows + 1);
    }
}

db_test! {
    async fn an_abandoned_claim_is_taken_over_and_a_live_one_is_in_use(app) {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
        // The fingerprint the gateway takes of this request, learnt by sending it once under
        // another key.
        app.rest_once(Method::POST, "/endpoints", Some("probe"), Some(webhook("Crashed"))).await;
        let probe = entity::idempotency_key::Entity::find()
            .filter(entity::idempotency_key::Column::Key.eq("probe"))
            .one(&app.db).await.expect("read").expect("the probe's key");
        // Claims as a process that died mid-request leaves them: no write of its request
        // committed (the response and the writes commit together), and its lease ran out;
        // and a claim of a request still running elsewhere.
        let now = entity::now();
        for (key, until) in [("crashed", now - chrono::Duration::minutes(5)), ("running", now + chrono::Duration::minutes(5))] {
            let claim = entity::idempotency_key::ActiveModel {
                key: Set(key.to_owned()),
                claim: Set(Some(uuid::Uuid::now_v7())),
                locked_until: Set(Some(until)),
                status: Set(None),
                headers: Set(None),
                body: Set(None),
                created_at: Set(now - chrono::Duration::minutes(6)),
                ..probe.clone().into()
            };
            claim.insert(&app.db).await.expect("insert claim");
        }
        let rows = app.endpoint_rows().await;
        let running = app.rest_once(Method::POST, "/endpoints", Some("running"), Some(webhook("Crashed"))).await;
        assert_eq!(running.status, StatusCode::CONFLICT, "{}", running.text);
        assert_eq!(running.code().as_deref(), Some("IDEMPOTENCY_KEY_IN_USE"));
        let taken_over = app.rest_once(Method::POST, "/endpoints", Some("crashed"), Some(webhook("Crashed"))).await;
        assert_eq!(taken_over.status, StatusCode::CREATED, "{}", taken_over.text);
        assert_eq!(taken_over.replayed, None);
        let replayed = app.rest_once(Method::POST, "/endpoints", Some("crashed"), Some(webhook("Crashed"))).await;
        assert!(replayed.is_replay());
        assert_eq!(app.endpoint_rows().await, rows + 1);
    }
}

db_test! {
    async fn expired_keys_are_purged_in_batches_and_may_be_used_anew(app) {
        for n in 0..5 {
            let res = app.rest_once(Method::POST, "/endpoints", Some(&format!("old-{n}")), Some(webhook("Old"))).await;
            assert_eq!(res.status, StatusCode::CREATED);
        }
        app.rest_once(Method::POST, "/endpoints", Some("fresh"), Some(webhook("Fresh"))).await;
        let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
        app.db
            .execute_unprepared(&format!("UPDATE idempotency_keys SET expires_at = '{past}' WHERE key = 'old-0'"))
            .await
            .expect("age the key");
        // An expired key is a new key: another request with it runs (whether or not the
        // gateway's hourly sweep has deleted it yet).
        let anew = app.rest_once(Method::POST, "/endpoints", Some("old-0"), Some(webhook("New body"))).await;
        assert_eq!(anew.status, StatusCode::CREATED, "{}", anew.text);
        assert_eq!(anew.replayed, None);
        // Nothing has expired now; a day from now all six have, and go two at a time. (The
        // sweep deletes what expired before its own now, so it never races these.)
        assert_eq!(idempotency::purge_expired(&app.db, entity::now(), 2).await.expect("purge"), 0);
        assert_eq!(app.idempotency_rows().await, 6);
        let tomorrow = entity::now() + chrono::Duration::hours(25);
        assert_eq!(idempotency::purge_expired(&app.db, tomorrow, 2).await.expect("purge"), 6);
        assert_eq!(app.idempotency_rows().await, 0);
    }
}

#[tokio::test]
async fn two_processes_share_keys_on_sqlite() {
    two_processes_share_keys(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn two_processes_share_keys_on_postgres() {
    two_processes_share_keys(Backend::Postgres).await;
}

async fn two_processes_share_keys(backend: Backend) {
    let db = TestDb::new(backend).await.expect(POSTGRES_UNSET);
    let app = TestApp::builder(backend)
        .on(db.shared())
        .spawn()
        .await
        .expect("gateway");
    let (mut first, first_address) = serve_process(&db, &[]).await;
    let (mut second, second_address) = serve_process(&db, &[]).await;
    let client = reqwest::Client::new();
    let token = app.org.test_key.clone();
    let rest = |address: &str| format!("http://{address}/v1");
    let rows = app.endpoint_rows().await;

    // A retry on the other process gets the first's answer.
    let create = async |address: &str, name: &str| {
        send(
            &client,
            &rest(address),
            Method::POST,
            "/endpoints",
            &token,
            Some("p"),
            Some(webhook(name)),
        )
        .await
    };
    let one = create(&first_address, "Across").await;
    assert_eq!(one.status, StatusCode::CREATED, "{}", one.text);
    let two = create(&second_address, "Across").await;
    assert!(two.is_replay(), "{two:?}");
    assert_eq!(two.text, one.text);
    let reused = create(&second_address, "Other").await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Ten at once on each process: one write between them.
    let mut set = JoinSet::new();
    for n in 0..20 {
        let address = if n % 2 == 0 {
            first_address.clone()
        } else {
            second_address.clone()
        };
        let (client, token) = (client.clone(), token.clone());
        set.spawn(async move {
            send(
                &client,
                &format!("http://{address}"),
                Method::POST,
                "/graphql",
                &token,
                Some("q"),
                Some(create_mutation("Raced across")),
            )
            .await
        });
    }
    let answers = set.join_all().await;
    for process in [&mut first, &mut second] {
        let _ = process.kill();
        let _ = process.wait();
    }
    assert_eq!(app.endpoint_rows().await, rows + 2, "{answers:#?}");
    let ran = answers
        .iter()
        .filter(|a| a.status == StatusCode::OK && !a.is_replay())
        .count();
    assert_eq!(ran, 1, "{answers:#?}");
    assert!(
        answers
            .iter()
            .all(|a| a.status == StatusCode::OK
                || a.code().as_deref() == Some("IDEMPOTENCY_KEY_IN_USE")),
        "{answers:#?}"
    );
}

db_test! {
    async fn a_response_with_a_key_shown_once_is_not_kept(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let create = json!({ "query": "mutation { k: createApiKey(input: { name: \"Once\", mode: TEST }) { plaintextKey } }" });
        let keys = app.rows("api_keys").await;
        let refused = app.graphql_once(&owner, Some("key-1"), create.clone()).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
        assert_eq!(refused.code().as_deref(), Some("IDEMPOTENCY_KEY_INVALID"));
        // Through a fragment as well.
        let spread = json!({ "query": "mutation { ...K } fragment K on Mutation { createApiKey(input: { name: \"Once\", mode: TEST }) { plaintextKey } }" });
        let refused = app.graphql_once(&owner, Some("key-2"), spread).await;
        assert_eq!(refused.code().as_deref(), Some("IDEMPOTENCY_KEY_INVALID"), "{}", refused.text);
        assert_eq!(app.rows("api_keys").await, keys, "no key was made");
        assert_eq!(app.idempotency_rows().await, 0);
        // Without a key it runs, and nothing of it is kept.
        let made = app.graphql_once(&owner, None, create).await;
        assert!(made.json()["data"]["k"]["plaintextKey"].is_string(), "{}", made.text);
        assert_eq!(app.idempotency_rows().await, 0);
    }
}

db_test! {
    async fn a_key_revoked_under_an_idempotency_key_is_refused_once_the_answer_is_out(app) {
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        let make = json!({ "query": "mutation { createApiKey(input: { name: \"Doomed\", mode: TEST }) { apiKey { id } plaintextKey } }" });
        let made = app.graphql_once(&owner, None, make).await.json();
        let (key_id, doomed) = (made["data"]["createApiKey"]["apiKey"]["id"].clone(), made["data"]["createApiKey"]["plaintextKey"].as_str().expect("key").to_owned());
        // The key is used without a pause while it is revoked, so that its verification is
        // cached between the revocation's savepoint and the request's commit.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut users = JoinSet::new();
        for _ in 0..4 {
            let (client, address, doomed, stop) = (app.client.clone(), app.address.clone(), doomed.clone(), stop.clone());
            users.spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let started = std::time::Instant::now();
                    let res = client.get(format!("{address}/v1/endpoints/{}", uuid::Uuid::now_v7())).bearer_auth(&doomed).send().await.expect("send");
                    seen.push((started, res.status()));
                }
                seen
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let creates: String = (0..10).map(|n| format!(" c{n}: createEndpoint(input: {{ name: \"Slow {n}\", type: WEBHOOK, url: \"https://hooks.example/{n}\" }}) {{ userErrors {{ code }} }}")).collect();
        let revoke = json!({ "query": format!("mutation($id: UUID!) {{ r: revokeApiKey(input: {{ id: $id }}) {{ apiKey {{ revokedAt }} }}{creates} }}"), "variables": { "id": key_id } });
        let revoked = app.graphql_once(&owner, Some("revoke-1"), revoke).await;
        let answered = std::time::Instant::now();
        assert!(revoked.json()["data"]["r"]["apiKey"]["revokedAt"].is_string(), "{}", revoked.text);
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let seen: Vec<_> = users.join_all().await.into_iter().flatten().collect();
        // Accepted: authenticated, and no such endpoint (refusals are 401, or 429 once failed
        // authentications have drained the address's bucket).
        let accepted_after: Vec<_> = seen.iter().filter(|(started, status)| *started > answered && *status == StatusCode::NOT_FOUND).collect();
        assert!(seen.iter().any(|(_, status)| *status == StatusCode::NOT_FOUND), "the key worked before");
        assert!(seen.iter().any(|(started, _)| *started > answered), "the key was tried after the answer");
        assert!(accepted_after.is_empty(), "accepted after its revocation was answered: {} of {}: {}", accepted_after.len(), seen.len(), revoked.text);
    }
}

db_test! {
    async fn a_fault_in_one_field_writes_nothing_of_the_request_and_says_so(app) {
        app.db.execute_unprepared("DROP TABLE phone_numbers").await.expect("drop table");
        let rows = app.endpoint_rows().await;
        let both = json!({ "query": "mutation($n: UUID!) {
            a: createEndpoint(input: { name: \"A\", type: WEBHOOK, url: \"https://hooks.example/a\" }) { endpoint { id } }
            b: createEndpoint(input: { name: \"B\", type: WEBHOOK, url: \"https://hooks.example/b\", phoneNumberId: $n }) { endpoint { id } } }",
            "variables": { "n": uuid::Uuid::now_v7() } });
        let res = app.graphql_once(&app.org.test_key, Some("fault"), both.clone()).await;
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.text);
        assert_eq!(res.code().as_deref(), Some("INTERNAL_SERVER_ERROR"));
        assert!(res.json().get("data").is_none(), "no field claims a write that was rolled back: {}", res.text);
        assert_eq!(app.endpoint_rows().await, rows, "`a` went back with `b`");
        // The unit goes back and the key is given up once the answer has gone.
        let given_up = async || {
            for _ in 0..40 {
                if app.idempotency_rows().await == 0 {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        };
        assert!(given_up().await, "the key is given up");
        let again = app.graphql_once(&app.org.test_key, Some("fault"), both).await;
        assert_eq!(again.replayed, None, "a fault is not replayed");
        assert_eq!(again.status, StatusCode::SERVICE_UNAVAILABLE, "{}", again.text);
        // (and the test's database is dropped only once the rollback is through)
        assert!(given_up().await);
    }
}

db_test! {
    async fn keyed_and_plain_writers_of_one_endpoint_never_deadlock(app) {
        // A keyed request holds what its first write locked until it commits; a plain writer
        // of a row it writes later must wait for it, not deadlock with it.
        let y = app.create_ok(&app.org.test_key, json!({ "name": "Y", "type": "WEBHOOK", "url": "https://hooks.example/y" })).await;
        let y = y["id"].as_str().expect("id").to_owned();
        let update = "mutation($id: UUID!, $name: String!) { updateEndpoint(input: { id: $id, name: $name }) { endpoint { name } userErrors { code } } }";
        for trial in 0..3 {
            let creates: String = (0..20).map(|n| format!(" c{n}: createEndpoint(input: {{ name: \"K{trial}-{n}\", type: WEBHOOK, url: \"https://hooks.example/k\" }}) {{ userErrors {{ code }} }}")).collect();
            let keyed = json!({ "query": format!("mutation($id: UUID!) {{{creates} last: updateEndpoint(input: {{ id: $id, name: \"by keyed\" }}) {{ userErrors {{ code }} }} }}"), "variables": { "id": y } });
            let (client, address, token) = (app.client.clone(), app.address.clone(), app.org.test_key.clone());
            let key = format!("deadlock-{trial}");
            let first = tokio::spawn(async move {
                send(&client, &address, Method::POST, "/graphql", &token, Some(&key), Some(keyed)).await
            });
            tokio::time::sleep(Duration::from_millis(30)).await;
            let plain = app.graphql(&app.org.test_key, update, json!({ "id": y, "name": "by plain" })).await;
            let keyed = first.await.expect("keyed");
            assert_eq!(keyed.status, StatusCode::OK, "trial {trial}: {}", keyed.text);
            assert!(keyed.json().get("errors").is_none(), "trial {trial}: {}", keyed.text);
            assert_eq!(plain.status, StatusCode::OK, "trial {trial}: {}", plain.body);
            assert!(plain.body.get("errors").is_none(), "trial {trial}: the plain writer failed: {}", plain.body);
            assert_eq!(plain.body["data"]["updateEndpoint"]["userErrors"], json!([]));
        }
    }
}

db_test! {
    async fn a_refused_request_keeps_nothing_and_its_corrected_retry_runs(app) {
        let token = app.org.test_key.clone();
        let rows = app.endpoint_rows().await;

        // REST: the domain refuses the body (400 VALIDATION_FAILED); corrected, it runs.
        let bad = json!({ "name": "Bad", "type": "webhook", "url": "ftp://x.example" });
        let refused = app.rest_once(Method::POST, "/endpoints", Some("fix-1"), Some(bad)).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
        assert_eq!(refused.code().as_deref(), Some("VALIDATION_FAILED"));
        assert_eq!(app.idempotency_rows().await, 0, "a refusal keeps nothing");
        let fixed = app.rest_once(Method::POST, "/endpoints", Some("fix-1"), Some(webhook("Fixed"))).await;
        assert_eq!(fixed.status, StatusCode::CREATED, "{}", fixed.text);
        assert_eq!(fixed.replayed, None);
        let replayed = app.rest_once(Method::POST, "/endpoints", Some("fix-1"), Some(webhook("Fixed"))).await;
        assert!(replayed.is_replay(), "the request that ran is kept: {replayed:?}");
        assert_eq!(replayed.text, fixed.text);

        // A PATCH refused inside its unit of work, and one of a missing endpoint.
        let id = fixed.json()["id"].as_str().expect("id").to_owned();
        let path = format!("/endpoints/{id}");
        let bad_patch = app.rest_once(Method::PATCH, &path, Some("fix-2"), Some(json!({ "url": "ftp://x.example" }))).await;
        assert_eq!(bad_patch.status, StatusCode::BAD_REQUEST, "{}", bad_patch.text);
        let good_patch = app.rest_once(Method::PATCH, &path, Some("fix-2"), Some(json!({ "name": "Renamed" }))).await;
        assert_eq!(good_patch.status, StatusCode::OK, "{}", good_patch.text);
        assert_eq!(good_patch.json()["name"], "Renamed");
        let missing = format!("/endpoints/{}", uuid::Uuid::new_v4());
        let not_found = app.rest_once(Method::PATCH, &missing, Some("fix-3"), Some(json!({ "name": "Third" }))).await;
        assert_eq!(not_found.status, StatusCode::NOT_FOUND, "{}", not_found.text);
        let found = app.rest_once(Method::PATCH, &path, Some("fix-3"), Some(json!({ "name": "Third" }))).await;
        assert_eq!(found.status, StatusCode::OK, "{}", found.text);

        // GraphQL: a document that fails validation, variables that fail coercion, and a
        // mutation the domain refuses (userErrors) each keep nothing.
        let invalid = json!({ "query": "mutation { createEndpoint(input: {name: \"X\", type: WEBHOOK, url: \"https://hooks.example/in\"}) { nope } }" });
        let coercion = json!({ "query": CREATE, "variables": { "input": {
            "name": "X", "type": "NOT_A_TYPE", "url": "https://hooks.example/in" } } });
        let user_errors = json!({ "query": CREATE, "variables": { "input": {
            "name": "X", "type": "WEBHOOK", "url": "ftp://x.example" } } });
        for (kept_graphql, (key, refused)) in [("g-fix-1", invalid), ("g-fix-2", coercion), ("g-fix-3", user_errors)].into_iter().enumerate() {
            let answer = app.graphql_once(&token, Some(key), refused).await;
            let body = answer.json();
            assert!(
                body["errors"].is_array()
                    || !body["data"]["createEndpoint"]["userErrors"].as_array().is_none_or(Vec::is_empty),
                "{key}: {}", answer.text
            );
            assert_eq!(app.idempotency_rows().await, 3 + kept_graphql as i64, "{key}: only the writes' keys are kept");
            let corrected = app.graphql_once(&token, Some(key), create_mutation(key)).await;
            assert_eq!(corrected.replayed, None, "{key}");
            assert_eq!(corrected.json()["data"]["createEndpoint"]["userErrors"], json!([]), "{key}: {}", corrected.text);
            let again = app.graphql_once(&token, Some(key), create_mutation(key)).await;
            assert!(again.is_replay(), "{key}");
        }
        assert_eq!(app.endpoint_rows().await, rows + 4, "Fixed and the three corrected mutations");
    }
}

db_test! {
    async fn a_client_that_hangs_up_while_its_key_is_claimed_leaves_the_key_free(app) {
        use tokio::io::AsyncWriteExt;
        let address = app.address.trim_start_matches("http://").to_owned();
        let rows = app.endpoint_rows().await;
        let mut clients = JoinSet::new();
        for i in 0..24u64 {
            let (address, token) = (address.clone(), app.org.test_key.clone());
            clients.spawn(async move {
                let body = webhook(&format!("Hung up {i}")).to_string();
                let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
                // Closing then resets the connection rather than ending it.
                stream.set_zero_linger().expect("SO_LINGER");
                let request = format!(
                    "POST /v1/endpoints HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nIdempotency-Key: hangup-{i}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(request.as_bytes()).await.expect("send");
                tokio::time::sleep(Duration::from_millis(i % 21)).await;
                drop(stream);
            });
        }
        while clients.join_next().await.is_some() {}
        // Whatever each request got to, its key is free again at once (well within the lease):
        // the retry runs, or replays what the first request committed.
        for i in 0..24u64 {
            let key = format!("hangup-{i}");
            let body = webhook(&format!("Hung up {i}"));
            let mut answer = app.rest_once(Method::POST, "/endpoints", Some(&key), Some(body.clone())).await;
            for _ in 0..30 {
                if answer.status != StatusCode::CONFLICT {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                answer = app.rest_once(Method::POST, "/endpoints", Some(&key), Some(body.clone())).await;
            }
            assert_eq!(answer.status, StatusCode::CREATED, "{key}: {}", answer.text);
        }
        assert_eq!(app.endpoint_rows().await, rows + 24, "each key wrote once");
    }
}

db_test! {
    async fn what_keys_keep_is_bounded_per_response_and_per_credential(app) {
        let app = TestApp::builder(app.backend)
            .with_config(|c| {
                c.limits.idempotent_response_bytes = 1024;
                c.limits.idempotent_storage_bytes = 3000;
            })
            .spawn()
            .await
            .expect("app");
        let token = app.org.test_key.clone();
        let rows = app.endpoint_rows().await;

        // Six creates in one document answer more than a key may keep: refused, unwritten.
        let fields = "endpoint { id name type url status mode createdAt updatedAt } userErrors { code }";
        let aliases: Vec<String> = (0..6)
            .map(|i| format!("a{i}: createEndpoint(input: {{name: \"Big {i}\", type: WEBHOOK, url: \"https://hooks.example/in\"}}) {{ {fields} }}"))
            .collect();
        let big = json!({ "query": format!("mutation {{ {} }}", aliases.join(" ")) });
        let refused = app.graphql_once(&token, Some("big"), big.clone()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.text);
        assert_eq!(refused.code().as_deref(), Some("IDEMPOTENT_RESPONSE_TOO_LARGE"));
        assert_eq!(app.endpoint_rows().await, rows, "nothing of it was written");
        assert_eq!(app.idempotency_rows().await, 0);
        // REST's answer is bounded the same way; without a key the document runs.
        let unkeyed = app.graphql_once(&token, None, big).await;
        assert_eq!(unkeyed.status, StatusCode::OK, "{}", unkeyed.text);
        assert_eq!(app.endpoint_rows().await, rows + 6);

        // The credential's responses draw on a budget of bytes; once spent, keyed writes are
        // refused unwritten, and another credential's keys are not affected.
        let mut kept = 0;
        let refusal = loop {
            assert!(kept < 20, "a budget of 3000 bytes holds fewer than 20 responses");
            let key = format!("budget-{kept}");
            let answer = app.rest_once(Method::POST, "/endpoints", Some(&key), Some(webhook(&key))).await;
            if answer.status != StatusCode::CREATED {
                break answer;
            }
            kept += 1;
        };
        assert!(kept >= 3, "{kept} responses kept");
        assert_eq!(refusal.status, StatusCode::TOO_MANY_REQUESTS, "{}", refusal.text);
        assert_eq!(refusal.code().as_deref(), Some("IDEMPOTENCY_STORAGE_EXCEEDED"));
        assert!(refusal.retry_after.is_some(), "says when to retry");
        assert_eq!(app.endpoint_rows().await, rows + 6 + kept, "the refused write wrote nothing");
        let live = send(&app.client, &format!("{}/v1", app.address), Method::POST, "/endpoints",
            &app.org.live_key, Some("budget-live"), Some(webhook("Live"))).await;
        assert_eq!(live.status, StatusCode::CREATED, "{}", live.text);
    }
}
