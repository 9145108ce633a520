//! Hostile input: values nested to overflow a parser, documents made to burn CPU for free,
//! text that PostgreSQL can't store or SIP can't carry, and headers that disagree. Each is
//! refused with a clear error, and nothing is written. Long: one test per class of
//! hostile input, each on both transports.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, Response, TestApp, db_test};
use cockpit_gateway::domain::{Mode, Role};

/// A value nested `depth` levels: `[[[…1…]]]`.
fn deep_list(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// An object nested `depth` levels: `{a: {a: … 1 …}}`.
fn deep_object(depth: usize) -> String {
    format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth))
}

fn deep_json(depth: usize) -> Value {
    let text = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn raw_post(app: &TestApp, path: &str, headers: &[(&str, &str)], body: String) -> Response {
    let mut req = app
        .client
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    into_response(req.send().await.expect("request")).await
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = app.client.get(format!("{}{path}", app.address));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    into_response(req.send().await.expect("request")).await
}

async fn into_response(res: reqwest::Response) -> Response {
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Response {
        status,
        headers,
        body,
        cost: Value::Null,
    }
}

#[track_caller]
fn assert_refused(res: &Response, code: &str, words: &str) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    assert_eq!(res.error_code(), Some(code), "{}", res.body);
    let message = res.body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains(words), "{message}");
}

/// Creates with the test key, expecting the first user error to carry `code`; its message.
async fn assert_refused_create(app: &TestApp, input: Value, code: &str) -> String {
    let payload = app
        .create_endpoint(app.org.key(Mode::Test), input.clone())
        .await;
    assert_eq!(payload["userErrors"][0]["code"], code, "{input}: {payload}");
    payload["userErrors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn still_serving(app: &TestApp) {
    let res = app
        .client
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("the gateway is still up");
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn deeply_nested_values_anywhere_are_refused_before_parsing() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    for depth in [33, 1_700, 20_000] {
        let list = deep_list(depth);
        let object = deep_object(depth);
        let documents = [
            format!("{{ endpoints(filter: {{ search: {list} }}) {{ totalCount }} }}"),
            format!("{{ endpoints(filter: {object}) {{ totalCount }} }}"),
            format!("query($v: [Int] = {list}) {{ __typename }}"),
            format!("query($v: String = {object}) {{ __typename }}"),
            format!("{{ __typename @skip(if: {list}) }}"),
            format!("{{ __typename @include(if: {object}) }}"),
            format!(
                "query($v: {}Int{}) {{ __typename }}",
                "[".repeat(depth),
                "]".repeat(depth)
            ),
            format!("{}{}", "{ a ".repeat(depth), "}".repeat(depth)),
            // Unclosed: the parser would recurse before finding the error.
            format!("{{ a(x: {}", "[".repeat(depth)),
        ];
        for document in &documents {
            // Unauthenticated, by POST and by GET.
            let res = raw_post(
                &app,
                "/graphql",
                &[],
                json!({ "query": document }).to_string(),
            )
            .await;
            assert_refused(&res, "NESTING_LIMIT_EXCEEDED", "nesting limit is 32");
            let url = format!(
                "/graphql?{}",
                serde_urlencoded::to_string([("query", document.as_str())]).expect("encode")
            );
            if url.len() < 60_000 {
                let res = get(&app, &url, &[]).await;
                assert_refused(&res, "NESTING_LIMIT_EXCEEDED", "nesting limit is 32");
            }
        }
        // Variables and the JSON body itself.
        let body = json!({ "query": "query($v: JSON) { __typename }", "variables": { "v": deep_json(100) } });
        let res = raw_post(&app, "/graphql", &[], body.to_string()).await;
        assert_refused(&res, "NESTING_LIMIT_EXCEEDED", "nesting limit is 32");
        let raw = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let res = raw_post(&app, "/graphql", &[], raw.clone()).await;
        assert_refused(&res, "NESTING_LIMIT_EXCEEDED", "nesting limit is 32");
        let variables = format!("{{\"v\":{}}}", deep_list(depth.min(5_000)));
        let url = format!(
            "/graphql?{}",
            serde_urlencoded::to_string([
                ("query", "query($v: [Int]) { __typename }"),
                ("variables", variables.as_str()),
            ])
            .expect("encode")
        );
        let res = get(&app, &url, &[]).await;
        assert_refused(&res, "NESTING_LIMIT_EXCEEDED", "nesting limit is 32");
        // REST bodies too.
        let auth = format!("Bearer {}", app.org.key(Mode::Test));
        let res = raw_post(&app, "/v1/endpoints", &[("authorization", &auth)], raw).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
        assert_eq!(res.body["code"], "NESTING_LIMIT_EXCEEDED", "{}", res.body);
        still_serving(&app).await;
    }
    // Within the limit, nesting works as before.
    let ok = format!("query($v: [Int] = {}) {{ __typename }}", deep_list(20));
    let res = raw_post(&app, "/graphql", &[], json!({ "query": ok }).to_string()).await;
    assert_ne!(
        res.error_code(),
        Some("NESTING_LIMIT_EXCEEDED"),
        "{}",
        res.body
    );
}

#[tokio::test]
async fn documents_over_the_token_limit_are_refused() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    // Tens of thousands of fragments: a second of CPU each before this limit.
    let mut fragments = String::from("query { ...F0 }");
    for i in 0..12_000 {
        fragments.push_str(&format!(" fragment F{i} on Query {{ __typename }}"));
    }
    let many_fields = format!("{{ {} }}", "__typename ".repeat(10_001));
    for document in [fragments, many_fields] {
        let res = raw_post(
            &app,
            "/graphql",
            &[],
            json!({ "query": document }).to_string(),
        )
        .await;
        assert_refused(&res, "TOKEN_LIMIT_EXCEEDED", "token limit is 10000");
    }
    let within = format!("{{ {} }}", "__typename ".repeat(9_990));
    let res = raw_post(
        &app,
        "/graphql",
        &[],
        json!({ "query": within }).to_string(),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[tokio::test]
async fn every_operation_pays_a_floor_that_grows_with_its_size() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.rate_limit.bucket_size = 200;
            c.rate_limit.restore_rate = 1;
        })
        .spawn()
        .await
        .expect("sqlite");
    let key = app.org.key(Mode::Test);
    let res = app.graphql(key, "{ __typename }", json!({})).await;
    res.assert_ok();
    assert_eq!(res.cost["requestedQueryCost"], 1, "{}", res.cost);
    assert_eq!(res.cost["actualQueryCost"], 1, "{}", res.cost);
    // 5,000 tokens of `__typename` in 55 KB, 4,998 fields: an answer with no objects, and a
    // floor of 1 + 50 (per 100 tokens) + 26 (per 2 KiB) + 49 (per 100 fields).
    let big = format!("{{ {} }}", "__typename ".repeat(4_998));
    assert_eq!(big.len() / 2048, 26);
    let res = app.graphql(key, &big, json!({})).await;
    res.assert_ok();
    assert_eq!(res.cost["requestedQueryCost"], 126, "{}", res.cost);
    assert_eq!(res.cost["actualQueryCost"], 126, "{}", res.cost);
    // A small bucket runs dry on them: they are rate-limited like any other operation.
    let mut throttled = false;
    for _ in 0..5 {
        let res = app.graphql(key, &big, json!({})).await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(res.error_code(), Some("RATE_LIMITED"));
            throttled = true;
            break;
        }
    }
    assert!(throttled, "cost-free documents were never throttled");
    // Anonymous introspection pays its floor too, per address.
    let anonymous = app.post(&[], json!({ "query": "{ __typename }" })).await;
    assert_eq!(anonymous.cost["actualQueryCost"], 1, "{}", anonymous.cost);
}

const NASTY_TEXT: [&str; 6] = ["a\u{0}b", "a\rb", "a\nb", "a\tb", "\u{1b}[31m", "a\u{7f}"];

db_test! {
    async fn control_characters_are_refused_in_every_string_and_nothing_is_written(app) {
        let key = app.org.key(Mode::Test);
        for text in NASTY_TEXT {
            let payload = app
                .create_endpoint(key, json!({ "name": text, "type": "WEBHOOK", "url": "https://a.example/" }))
                .await;
            assert_eq!(payload["userErrors"][0]["field"], json!(["input", "name"]), "{payload}");
            for url in [
                format!("https://a.example/{text}"),
                format!("https://a.{text}example/"),
                format!("{text}https://a.example/"),
            ] {
                assert_refused_create(&app, json!({ "name": "w", "type": "WEBHOOK", "url": url }), "INVALID_URL").await;
            }
            let payload = app
                .create_endpoint(key, json!({ "name": "r", "type": "RETELL",
                    "providerConfig": { "retell": { "agentId": "ag", "retellPhoneNumber": text } } }))
                .await;
            assert_eq!(payload["userErrors"][0]["code"], "INVALID", "{payload}");
            let payload = app
                .create_endpoint(key, json!({ "name": "s", "type": "CUSTOM_SIP", "url": "sip:a@b.example",
                    "providerConfig": { "customSip": { "sipUri": "sip:a@b.example", "password": text } } }))
                .await;
            assert_eq!(payload["userErrors"][0]["code"], "INVALID", "{payload}");
            // Search and cursors reach the database as bound values: refused before.
            let res = app
                .graphql(key, "query($s: String) { endpoints(filter: {search: $s}) { totalCount } }", json!({ "s": text }))
                .await;
            assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{}", res.body);
            assert!(res.body["errors"][0]["message"].as_str().unwrap_or_default().contains("filter.search"));
            use base64::Engine as _;
            let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
                json!({ "f": "n", "d": "d", "v": text, "id": uuid::Uuid::nil() }).to_string(),
            );
            let res = app
                .graphql(key, "query($a: String) { endpoints(after: $a, orderBy: {field: NAME, direction: DESC}) { totalCount } }", json!({ "a": cursor }))
                .await;
            assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{}", res.body);
            // REST answers 400, never 500.
            let auth = format!("Bearer {key}");
            for body in [
                json!({ "name": text, "type": "webhook", "url": "https://a.example/" }),
                json!({ "name": "w", "type": "webhook", "url": format!("https://a.example/{text}") }),
                json!({ "name": "v", "type": "vapi", "provider_config": { "assistant_id": "a", "vapi_phone_number_id": text } }),
            ] {
                let res = raw_post(&app, "/v1/endpoints", &[("authorization", &auth)], body.to_string()).await;
                assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}: {}", res.body);
            }
        }
        assert_eq!(app.endpoint_rows().await, 0);
    }
}

db_test! {
    async fn webhook_urls_are_stored_as_checked(app) {
        let key = app.org.key(Mode::Test);
        for bad in [
            " https://a.example/",
            "https://a.example/ ",
            "http:/\\a.example/",
            "https:\\\\a.example/",
            "https://a.example\\x",
            "https://a.example/\u{0}",
            "https://a.example/\r\nX-Injected: 1",
            "https://a.exa\tmple/",
            "https://a.example:0/",
            "https://a..example/",
            "https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example/",
        ] {
            assert_refused_create(&app, json!({ "name": "w", "type": "WEBHOOK", "url": bad }), "INVALID_URL").await;
        }
        assert_eq!(app.endpoint_rows().await, 0);
        // What is stored is the parser's normal form of what was checked.
        for (sent, stored) in [
            ("HTTPS://Hooks.Example.COM", "https://hooks.example.com/"),
            ("https://hooks.example.com:443/a/../b?x=1#frag", "https://hooks.example.com/b?x=1#frag"),
            ("https://hooks.example.com/ä", "https://hooks.example.com/%C3%A4"),
            ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ] {
            let endpoint = app
                .create_ok(key, json!({ "name": "w", "type": "WEBHOOK", "url": sent }))
                .await;
            assert_eq!(endpoint["url"], stored, "{sent}");
            let res = app.get_endpoint(key, endpoint["id"].as_str().unwrap_or_default()).await;
            assert_eq!(res.assert_ok()["endpoint"]["url"], stored);
        }
    }
}

db_test! {
    async fn private_and_loopback_webhooks_are_refused(app) {
        let key = app.org.key(Mode::Test);
        for url in [
            "http://localhost/hook",
            "http://LOCALHOST./hook",
            "http://api.localhost/",
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://0.0.0.0/",
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fe80::1]/",
            "http://[fd12:3456::1]/",
        ] {
            let message = assert_refused_create(&app, json!({ "name": "w", "type": "WEBHOOK", "url": url }), "INVALID_URL").await;
            assert!(message.contains("public"), "{message}");
        }
        assert_eq!(app.endpoint_rows().await, 0);
        app.create_ok(key, json!({ "name": "w", "type": "WEBHOOK", "url": "https://8.8.8.8/hook" }))
            .await;
        app.create_ok(key, json!({ "name": "w", "type": "WEBHOOK", "url": "https://localhost.example.com/" }))
            .await;
    }
}

#[tokio::test]
async fn private_webhooks_are_allowed_when_configured() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.allow_private_webhooks = true)
        .spawn()
        .await
        .expect("sqlite");
    let key = app.org.key(Mode::Test);
    for url in [
        "http://localhost:9000/hook",
        "http://10.0.0.1/",
        "http://[::1]/",
    ] {
        app.create_ok(key, json!({ "name": "w", "type": "WEBHOOK", "url": url }))
            .await;
    }
}

db_test! {
    async fn sip_uris_follow_rfc_3261(app) {
        let key = app.org.key(Mode::Test);
        for bad in [
            "sip:a<b@host.example",
            "sip:a>b@host.example",
            "sip:\"a\"@host.example",
            "sip:a@host.example;transport=tcp>",
            "sip:a@host.example;x=<y>",
            "sip:a@host.example?h=<x>",
            "sip:a%zz@host.example",
            "sip:a@host.example;p={x}",
            "sip:a@ho_st.example",
            "sip:a@host.example?Route=%3Csip:evil%3E",
            "sip:a@host.example?h=%0d%0aVia:x",
            "sip:a%00@host.example",
        ] {
            assert_refused_create(&app, json!({ "name": "s", "type": "CUSTOM_SIP", "url": bad }), "INVALID_SIP_URI").await;
            assert_refused_create(
                &app,
                json!({ "name": "l", "type": "LIVEKIT",
                    "providerConfig": { "liveKit": { "livekitSipTrunkId": "ST_1", "livekitSipUri": bad } } }),
                "INVALID_SIP_URI",
            )
            .await;
        }
        assert_eq!(app.endpoint_rows().await, 0);
        for good in [
            "sip:alice%20smith@example.com;transport=tls",
            "sips:+15551234567@trunk.example.com:5061;user=phone",
            "sip:user;par=u%40example.net@example.com",
        ] {
            app.create_ok(key, json!({ "name": "s", "type": "CUSTOM_SIP", "url": good })).await;
        }
    }
}

db_test! {
    async fn names_are_visible_text(app) {
        let key = app.org.key(Mode::Test);
        let (_, owner) = app.member(app.org.id, Role::Owner).await;
        for (name, code) in [
            ("\u{200B}", "BLANK"),
            ("\u{FEFF}", "BLANK"),
            ("\u{200B}\u{2060}\u{FEFF} ", "BLANK"),
            ("\u{3164}", "BLANK"),
            ("invoice\u{202E}fdp.exe", "INVALID"),
            ("a\u{2066}b\u{2069}", "INVALID"),
        ] {
            let payload = app
                .create_endpoint(key, json!({ "name": name, "type": "WEBHOOK", "url": "https://a.example/" }))
                .await;
            assert_eq!(payload["userErrors"][0]["code"], code, "{name:?}: {payload}");
            let res = app
                .graphql(&owner, "mutation($n: String!) { createApiKey(input: {name: $n, mode: TEST}) { plaintextKey userErrors { code } } }", json!({ "n": name }))
                .await;
            assert_eq!(res.assert_ok()["createApiKey"]["userErrors"][0]["code"], code, "{}", res.body);
        }
        assert_eq!(app.endpoint_rows().await, 0);
        let endpoint = app
            .create_ok(key, json!({ "name": "Ünïcödé 名前 \u{200F}", "type": "WEBHOOK", "url": "https://a.example/" }))
            .await;
        let res = app
            .update_endpoint(key, json!({ "id": endpoint["id"], "name": "\u{200B}\u{200B}" }))
            .await;
        assert_eq!(res.assert_ok()["updateEndpoint"]["userErrors"][0]["code"], "BLANK");
    }
}

#[tokio::test]
async fn conflicting_or_repeated_credentials_are_refused() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    let test = app.org.test_key.clone();
    let live = app.org.live_key.clone();
    let org = app.org.id.to_string();
    let bearer_test = format!("Bearer {test}");
    let bearer_live = format!("Bearer {live}");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("authorization", &bearer_test), ("x-api-key", &live)],
            "different credentials",
        ),
        (
            vec![
                ("authorization", &bearer_test),
                ("authorization", &bearer_live),
            ],
            "more than once",
        ),
        (
            vec![
                ("authorization", &bearer_test),
                ("authorization", &bearer_test),
            ],
            "more than once",
        ),
        (
            vec![("x-api-key", &test), ("x-api-key", &live)],
            "more than once",
        ),
        (
            vec![
                ("x-api-key", &test),
                ("x-organization-id", &org),
                ("x-organization-id", &org),
            ],
            "more than once",
        ),
    ];
    for (headers, words) in &cases {
        let res = app
            .post(headers, json!({ "query": "{ viewer { mode } }" }))
            .await;
        assert_refused(&res, "BAD_REQUEST", words);
        let rest = get(&app, "/v1/endpoints", headers).await;
        assert_eq!(rest.status, StatusCode::BAD_REQUEST, "{}", rest.body);
        assert!(
            rest.body["error"]
                .as_str()
                .unwrap_or_default()
                .contains(words),
            "{}",
            rest.body
        );
    }
    // The same credential in both headers is one credential.
    let res = app
        .post(
            &[("authorization", &bearer_test), ("x-api-key", &test)],
            json!({ "query": "{ viewer { mode } }" }),
        )
        .await;
    assert_eq!(res.assert_ok()["viewer"]["mode"], "TEST");
}

#[tokio::test]
async fn unknown_and_revoked_keys_get_the_same_answer() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    let created =
        cockpit_gateway::domain::api_keys::system::create(&app.db, app.org.id, Mode::Test, "k")
            .await
            .expect("key");
    cockpit_gateway::domain::api_keys::system::revoke(&app.db, created.key.id)
        .await
        .expect("revoke");
    let unknown = format!("kros_test_{}", "x".repeat(32));
    let revoked = app
        .graphql(&created.plaintext, "{ viewer { mode } }", json!({}))
        .await;
    let never = app
        .graphql(&unknown, "{ viewer { mode } }", json!({}))
        .await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(revoked.status, never.status);
    assert_eq!(revoked.body, never.body);
}

#[tokio::test]
async fn persisted_queries_are_remembered_only_for_authenticated_callers() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    use sha2::Digest as _;
    for (i, auth) in [None, Some(format!("Bearer kros_test_{}", "y".repeat(32)))]
        .into_iter()
        .enumerate()
    {
        let query = format!("query Anon{i} {{ __typename }}");
        let hash: String = sha2::Sha256::digest(query.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        // Registering anonymously runs (introspection only) or fails authentication ...
        app.post(&headers, json!({ "query": query, "extensions": ext }))
            .await;
        // ... but the hash alone is still unknown, to anyone.
        let res = app
            .post(
                &[("authorization", &format!("Bearer {}", app.org.test_key))],
                json!({ "extensions": ext }),
            )
            .await;
        assert_eq!(
            res.error_code(),
            Some("PERSISTED_QUERY_NOT_FOUND"),
            "{}",
            res.body
        );
    }
    // An authenticated caller registers as before.
    let query = "query Known { viewer { mode } }";
    let hash: String = sha2::Sha256::digest(query.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let ext = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });
    let auth = format!("Bearer {}", app.org.test_key);
    app.post(
        &[("authorization", &auth)],
        json!({ "query": query, "extensions": ext }),
    )
    .await
    .assert_ok();
    app.post(&[("authorization", &auth)], json!({ "extensions": ext }))
        .await
        .assert_ok();
}

#[tokio::test]
async fn responses_carry_nosniff_and_no_store() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    let auth = format!("Bearer {}", app.org.test_key);
    let responses = [
        app.post(
            &[("authorization", &auth)],
            json!({ "query": "{ viewer { mode } }" }),
        )
        .await,
        app.post(&[], json!({ "query": "{ viewer { mode } }" }))
            .await,
        get(&app, "/v1/endpoints", &[("authorization", &auth)]).await,
        get(&app, "/v1/endpoints", &[]).await,
        get(&app, "/healthz", &[]).await,
    ];
    for res in &responses {
        assert_eq!(
            res.headers["x-content-type-options"], "nosniff",
            "{}",
            res.status
        );
        assert_eq!(res.headers["cache-control"], "no-store", "{}", res.status);
    }
    let page = app
        .client
        .get(format!("{}/graphql", app.address))
        .header("accept", "text/html")
        .send()
        .await
        .expect("page");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.metrics_token = Some("s3cret-metrics".into()))
        .spawn()
        .await
        .expect("sqlite");
    let metrics = |auth: Option<&str>| {
        let mut req = app.client.get(format!("{}/metrics", app.address));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        req.send()
    };
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer s3cret-metric"),
        Some("Basic s3cret-metrics"),
    ] {
        let res = metrics(auth).await.expect("metrics");
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(
            !res.text()
                .await
                .unwrap_or_default()
                .contains("http_requests")
        );
    }
    let res = metrics(Some("Bearer s3cret-metrics"))
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::OK);
    // Without a token configured, metrics stay open (the default).
    let open = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    let res = open
        .client
        .get(format!("{}/metrics", open.address))
        .send()
        .await
        .expect("metrics");
    assert_eq!(res.status(), StatusCode::OK);
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_database_and_its_wal_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    let key = app.org.key(Mode::Test);
    app.create_ok(
        key,
        json!({ "name": "w", "type": "WEBHOOK", "url": "https://a.example/" }),
    )
    .await;
    let path = app
        .test_db
        .url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        let mode = std::fs::metadata(&file)
            .expect("database file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}: {mode:o}");
    }
}

#[tokio::test]
async fn a_stalled_body_gets_408_within_the_body_read_timeout() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.limits.body_read_timeout = std::time::Duration::from_millis(500);
        })
        .spawn()
        .await
        .expect("sqlite");
    let host = app.address.trim_start_matches("http://").to_owned();
    // An event stream's connection is served apart from hyper's (server/lean.rs): the same.
    for (path, accept) in [
        ("/graphql", "application/json"),
        ("/v1/endpoints", "application/json"),
        ("/graphql", "text/event-stream"),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&host)
            .await
            .expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"query\":"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let started = std::time::Instant::now();
        let mut answer = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stream.read_to_end(&mut answer),
        )
        .await
        .expect("answered and closed within the timeout")
        .expect("read");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("body read timeout"), "{answer}");
        assert!(started.elapsed() < std::time::Duration::from_secs(3));
    }
}

#[tokio::test]
async fn long_strings_and_comments_pay_by_their_length() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    let key = app.org.key(Mode::Test);
    // One token of 200 KB: 100 points of reading, whatever it asks for.
    let search = "x".repeat(200 * 1024);
    let query =
        format!("{{ endpoints(first: 1, filter: {{search: \"{search}\"}}) {{ totalCount }} }}");
    let res = app.graphql(key, &query, json!({})).await;
    assert_eq!(res.error_code(), Some("BAD_USER_INPUT"), "{}", res.body);
    assert_eq!(res.cost["actualQueryCost"], 101, "{}", res.cost);
    // Variables are read before anything runs too: the whole request's size sets the floor.
    let res = app
        .graphql(
            key,
            "query($s: String) { __typename }",
            json!({ "s": search }),
        )
        .await;
    assert_eq!(
        res.error_code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{}",
        res.body
    );
    assert_eq!(res.cost["actualQueryCost"], 101, "{}", res.cost);
    let comment = format!("#{search}\n{{ __typename }}");
    let res = app.graphql(key, &comment, json!({})).await;
    res.assert_ok();
    assert_eq!(res.cost["actualQueryCost"], 101, "{}", res.cost);
}

#[tokio::test]
async fn documents_refused_before_authentication_still_pay_their_floor() {
    let spawn = || {
        TestApp::builder(Backend::Sqlite)
            .with_config(|c| {
                c.rate_limit.bucket_size = 300;
                c.rate_limit.restore_rate = 1;
            })
            .spawn()
    };
    // 100 KB sent anonymously costs 51 points of the address's bucket however it is refused
    // — it doesn't parse, it nests too deep, it needs a credential — so the sixth such
    // request is throttled before it is parsed.
    let padding = "x".repeat(100 * 1024);
    let deep = format!(
        "{{ {}__typename{} }}",
        "viewer { ".repeat(20),
        " }".repeat(20)
    );
    for document in [
        format!("{{ a(s: \"{padding}\") }} }}"),
        format!("{deep}#{padding}"),
        format!("{{ viewer {{ mode }} }}#{padding}"),
    ] {
        let app = spawn().await.expect("sqlite");
        let mut statuses = Vec::new();
        for _ in 0..7 {
            let res = raw_post(
                &app,
                "/graphql",
                &[],
                json!({ "query": document }).to_string(),
            )
            .await;
            statuses.push(res.status.as_u16());
        }
        // Refused (a parse failure is a 200 with errors under application/json), then throttled.
        assert!(
            statuses[..5].iter().all(|s| matches!(s, 200 | 400 | 401)),
            "{statuses:?}"
        );
        assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    }
}

#[tokio::test]
async fn query_strings_must_decode_and_name_each_parameter_once() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    for (query, words) in [
        (
            "query=%7B__typename%7D&query=%7Bviewer%7Bmode%7D%7D",
            "more than once",
        ),
        (
            "query=%7B__typename%7D&operationName=A&operationName=B",
            "more than once",
        ),
        ("query=%7B__typename%C0%AF%7D", "UTF-8"),
        ("query=%7B__typename%ED%A0%80%7D", "UTF-8"),
        (
            "query=%7B__typename%7D&variables=%7B%22a%22%3A%22%5Cud800%22",
            "not valid JSON",
        ),
    ] {
        let res = get(&app, &format!("/graphql?{query}"), &[]).await;
        assert_refused(&res, "BAD_REQUEST", words);
    }
    let ok = get(&app, "/graphql?query=%7B__typename%7D&other=1&other=2", &[]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn a_token_with_critical_extensions_is_refused() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    let (user, _) = app.member(app.org.id, Role::Owner).await;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.crit = Some(vec!["x".to_owned()]);
    let token = jsonwebtoken::encode(
        &header,
        &crate::jwt::claims(&user),
        &jsonwebtoken::EncodingKey::from_secret(crate::jwt::HS_SECRET.as_bytes()),
    )
    .expect("sign");
    let res = app.graphql(&token, "{ viewer { mode } }", json!({})).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{}", res.body);
    assert!(
        res.body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("crit")
    );
    // The same token without `crit` is fine.
    let plain = crate::jwt::sign_hs256(crate::jwt::HS_SECRET, &crate::jwt::claims(&user));
    app.graphql(&plain, "{ viewer { organizations { role } } }", json!({}))
        .await
        .assert_ok();
}

#[tokio::test]
async fn an_empty_or_malformed_second_credential_is_a_conflict() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    let bearer = format!("Bearer {}", app.org.test_key);
    for (name, value) in [
        ("x-api-key", ""),
        ("x-api-key", " "),
        ("x-api-key", "kros_test_other"),
    ] {
        let res = app
            .post(
                &[("authorization", &bearer), (name, value)],
                json!({ "query": "{ viewer { mode } }" }),
            )
            .await;
        assert_refused(&res, "BAD_REQUEST", "different credentials");
    }
    let res = app
        .post(
            &[
                ("authorization", "Basic abc"),
                ("x-api-key", &app.org.test_key),
            ],
            json!({ "query": "{ viewer { mode } }" }),
        )
        .await;
    assert_refused(&res, "BAD_REQUEST", "different credentials");
}

#[tokio::test]
async fn rest_bodies_pay_for_their_length_before_they_are_parsed() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.rate_limit.bucket_size = 300;
            c.rate_limit.restore_rate = 1;
        })
        .spawn()
        .await
        .expect("sqlite");
    let auth = format!("Bearer {}", app.org.test_key);
    // 100 KB of body: 51 points each, whether or not it parses.
    let broken = format!("{{\"name\": \"{}\"", "x".repeat(100 * 1024));
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let res = raw_post(
            &app,
            "/v1/endpoints",
            &[("authorization", &auth)],
            broken.clone(),
        )
        .await;
        statuses.push(res.status.as_u16());
    }
    assert_eq!(statuses[..5], [400; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
}

/// `query { ...F0 }` where each fragment spreads the next twice, down to `__typename`: a
/// kilobyte that expands to 2^depth fields.
fn doubling_fragments(depth: usize) -> String {
    let mut document = String::from("query { ...F0 }");
    for i in 0..depth {
        document.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} }}",
            n = i + 1
        ));
    }
    document.push_str(&format!(" fragment F{depth} on Query {{ __typename }}"));
    document
}

#[tokio::test]
async fn fragments_that_expand_exponentially_are_refused_before_they_run() {
    let app = TestApp::builder(Backend::Sqlite)
        .spawn()
        .await
        .expect("sqlite");
    for depth in [14, 20, 24, 40] {
        let res = app
            .post(&[], json!({ "query": doubling_fragments(depth) }))
            .await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
        assert_eq!(
            res.error_code(),
            Some("FIELD_LIMIT_EXCEEDED"),
            "{}",
            res.body
        );
        assert!(
            res.body["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("field limit is 10000")
        );
    }
    // Under the limit they run, and pay for every expanded field: 2^12 = 4,096 fields.
    let key = app.org.key(Mode::Test);
    let res = app.graphql(key, &doubling_fragments(12), json!({})).await;
    res.assert_ok();
    assert!(
        res.cost["actualQueryCost"].as_u64().unwrap_or_default() >= 41,
        "{}",
        res.cost
    );
}

db_test! {
    async fn names_ids_and_extensions_past_their_bounds_are_refused_on_every_http_transport(app) {
        let app = TestApp::builder(app.backend)
            .with_config(|c| c.limits.max_batch = Some(2))
            .spawn()
            .await
            .expect("app");
        let auth = format!("Bearer {}", app.org.key(Mode::Test));
        let query = "{ viewer { mode } }";
        let many: serde_json::Map<String, Value> = (0..32).map(|i| (format!("{i:0>128}"), json!(1))).collect();
        let mut too_many = many.clone();
        too_many.insert("one more".to_owned(), json!(1));
        let cases = [
            (json!({ "query": query, "operationName": "N".repeat(1025) }), "`operationName` is 1025 bytes long; the limit is 1024 bytes."),
            (json!({ "query": query, "operationName": "N".repeat(100_000) }), "`operationName` is 100000 bytes long"),
            (json!({ "documentId": "d".repeat(257) }), "`documentId` is 257 bytes long; the limit is 256 bytes."),
            (json!({ "query": query, "extensions": too_many }), "`extensions` has 33 members; the limit is 32."),
            (json!({ "query": query, "extensions": { "k".repeat(129): 1 } }), "named with 129 bytes; the limit is 128 bytes."),
        ];
        // The GET form of a body: each parameter as it is, `extensions` as JSON.
        let query_string = |body: &Value| {
            let pairs: Vec<(String, String)> = body
                .as_object()
                .expect("object")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                .collect();
            serde_urlencoded::to_string(pairs).expect("encode")
        };
        let sse = [("authorization", auth.as_str()), ("accept", "text/event-stream")];
        for (body, words) in &cases {
            let what = words.split(' ').next().unwrap_or_default();
            let url = format!("/graphql?{}", query_string(body));
            let mut answers = vec![
                raw_post(&app, "/graphql", &[("authorization", &auth)], body.to_string()).await,
                // Server-sent events: refused before any stream starts.
                raw_post(&app, "/graphql", &sse, body.to_string()).await,
            ];
            // (a URL longer than this is no URL to the client)
            if url.len() < 60_000 {
                answers.push(get(&app, &url, &[("authorization", &auth)]).await);
                answers.push(get(&app, &url, &sse).await);
            }
            for res in answers {
                assert_refused(&res, "PARAMETER_LIMIT_EXCEEDED", words);
                assert!(!res.body.to_string().contains(&"N".repeat(200)), "{what}: the name is not echoed");
            }
            // In a batch, the operation past a bound is refused and the other runs.
            let batch = json!([{ "query": query }, body]);
            let res = raw_post(&app, "/graphql", &[("authorization", &auth)], batch.to_string()).await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.body);
            assert_eq!(res.body[0]["data"]["viewer"]["mode"], "TEST", "{}", res.body);
            assert_eq!(res.body[1]["errors"][0]["extensions"]["code"], "PARAMETER_LIMIT_EXCEEDED", "{}", res.body);
            assert!(res.body[1]["errors"][0]["message"].as_str().is_some_and(|m| m.contains(words)), "{}", res.body);
        }
        // At the bounds, the operation runs.
        let name = "N".repeat(1024);
        let body = json!({ "query": format!("query {name} {query}"), "operationName": name, "extensions": many });
        let res = raw_post(&app, "/graphql", &[("authorization", &auth)], body.to_string()).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        assert_eq!(res.body["data"]["viewer"]["mode"], "TEST", "{}", res.body);
        let res = get(&app, &format!("/graphql?{}", query_string(&body)), &[("authorization", &auth)]).await;
        assert_eq!(res.body["data"]["viewer"]["mode"], "TEST", "{}", res.body);
        still_serving(&app).await;
    }
}

/// A filter repeating each enum value more times than either database binds parameters
/// (SQLite 32,766, PostgreSQL 65,535) is answered: each distinct value is bound once.
async fn a_filter_repeating_an_enum_value_any_number_of_times_is_answered(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_config(|c| {
            c.limits.max_body_bytes = 4 * 1024 * 1024;
            c.rate_limit.bucket_size = 100_000;
        })
        .spawn()
        .await
        .expect(crate::helpers::POSTGRES_UNSET);
    let key = app.org.test_key.clone();
    app.create_ok(
        &key,
        json!({ "name": "A", "type": "WEBHOOK", "url": "https://a.example" }),
    )
    .await;
    let auth = format!("Bearer {key}");
    let many = |value: &str| Value::Array(vec![json!(value); 70_000]);
    let res = app
        .post(
            &[("authorization", &auth)],
            json!({
                "query": "query($t: [EndpointType!], $s: [EndpointStatus!]) { endpoints(filter: { types: $t, statuses: $s }) { totalCount } }",
                "variables": { "t": many("WEBHOOK"), "s": many("ACTIVE") },
            }),
        )
        .await;
    assert_eq!(res.assert_ok()["endpoints"]["totalCount"], 1);
    let res = app
        .post(
            &[("authorization", &auth)],
            json!({
                "query": "query($t: [EventType!]) { events(filter: { types: $t }) { nodes { type } } }",
                "variables": { "t": many("ENDPOINT_CREATED") },
            }),
        )
        .await;
    assert_eq!(
        res.assert_ok()["events"]["nodes"].as_array().map(Vec::len),
        Some(1)
    );
}

#[tokio::test]
async fn a_filter_repeating_an_enum_value_any_number_of_times_is_answered_on_sqlite() {
    a_filter_repeating_an_enum_value_any_number_of_times_is_answered(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_filter_repeating_an_enum_value_any_number_of_times_is_answered_on_postgres() {
    a_filter_repeating_an_enum_value_any_number_of_times_is_answered(Backend::Postgres).await;
}
