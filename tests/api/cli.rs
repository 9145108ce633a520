//! The admin commands, run as a real process against a test database, then used over HTTP.
//! Long: one test per command and refusal.

use std::process::{Command, Output};

use serde_json::json;

use crate::helpers::*;

fn cli(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cockpit-gateway"))
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("COCKPIT_SECRET_KEY", &db.secret_key)
        .env("RUST_LOG", "error")
        .output()
        .expect("run cockpit-gateway")
}

fn add_number(db: &TestDb, org: &str, number: &str) -> Output {
    cli(
        db,
        &[
            "phone-number",
            "add",
            "--org",
            org,
            "--mode",
            "test",
            "--number",
            number,
        ],
    )
}

fn stdout_line(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn cli_walkthrough(backend: Backend) {
    let test_db = TestDb::new(backend).await.expect(POSTGRES_UNSET);
    assert!(cli(&test_db, &["migrate"]).status.success());

    let org = stdout_line(&cli(
        &test_db,
        &["org", "create", "--name", "Walkthrough Inc"],
    ));
    uuid::Uuid::parse_str(&org).expect("org create prints a UUID");

    let created = cli(
        &test_db,
        &[
            "key", "create", "--org", &org, "--mode", "test", "--name", "ci",
        ],
    );
    let key = stdout_line(&created);
    assert!(key.starts_with("kros_test_") && key.len() == 42, "{key}");
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(
        stderr.contains("kros_test_") && !stderr.contains(&key),
        "only a prefix on stderr: {stderr}"
    );

    let bad = add_number(&test_db, &org, "555-1234");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("E.164"));
    let number = stdout_line(&add_number(&test_db, &org, "+14155550199"));
    let dup = add_number(&test_db, &org, "+14155550199");
    assert!(
        !dup.status.success(),
        "a number is added once per organization and mode"
    );

    let missing = cli(
        &test_db,
        &[
            "key",
            "create",
            "--org",
            &uuid::Uuid::new_v4().to_string(),
            "--mode",
            "live",
        ],
    );
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("organization not found"));

    let added = cli(
        &test_db,
        &[
            "member",
            "add",
            "--org",
            &org,
            "--user",
            "user-from-cli",
            "--role",
            "admin",
        ],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let bad_role = cli(
        &test_db,
        &[
            "member", "add", "--org", &org, "--user", "u", "--role", "emperor",
        ],
    );
    assert!(!bad_role.status.success());

    // The key the CLI printed works against the gateway, in its organization and mode.
    let app = TestApp::builder(backend)
        .on(test_db)
        .spawn()
        .await
        .expect("gateway");
    let res = app
        .graphql(
            &key,
            "{ viewer { organizationId credentialKind mode apiKeyId } }",
            json!({}),
        )
        .await;
    let viewer = res.assert_ok()["viewer"].clone();
    assert_eq!(viewer["organizationId"], org);
    assert_eq!(viewer["mode"], "TEST");
    let e = app
        .create_ok(
            &key,
            json!({ "name": "From CLI", "type": "VAPI", "phoneNumberId": number,
            "providerConfig": { "vapi": { "assistantId": "a1" } } }),
        )
        .await;
    assert_eq!(e["phoneNumbers"][0]["e164"], "+14155550199");

    // So does a session of the member the CLI added, with the role it gave.
    let res = app
        .graphql(
            &app.session("user-from-cli"),
            "{ viewer { organizationId role userId } }",
            json!({}),
        )
        .await;
    assert_eq!(
        res.assert_ok()["viewer"],
        json!({ "organizationId": org, "role": "ADMIN", "userId": "user-from-cli" })
    );

    let key_id = viewer["apiKeyId"].as_str().expect("apiKeyId").to_owned();
    assert!(
        cli(&app.test_db, &["key", "revoke", &key_id])
            .status
            .success()
    );
    // Revoked by another process: PostgreSQL announces it at once; on SQLite the server
    // stops trusting what it remembers within the credential bound.
    let bound = match backend {
        Backend::Postgres => std::time::Duration::from_secs(1),
        Backend::Sqlite => {
            cockpit_gateway::auth::CREDENTIAL_TTL + std::time::Duration::from_millis(250)
        }
    };
    let refused_within =
        refused_within(&app.client, &format!("{}/graphql", app.address), &key).await;
    assert!(
        refused_within <= bound,
        "refused after {refused_within:?}, bound {bound:?}"
    );
}

/// How long until `key` is refused by the gateway at `url`, polled every 20 ms (at most 10 s).
async fn refused_within(client: &reqwest::Client, url: &str, key: &str) -> std::time::Duration {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(10) {
        let res = client
            .post(url)
            .bearer_auth(key)
            .json(&json!({ "query": "{ viewer { organizationId } }" }))
            .send()
            .await
            .expect("send");
        if res.status() == reqwest::StatusCode::UNAUTHORIZED {
            let body: serde_json::Value = res.json().await.expect("JSON");
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                "{body}"
            );
            return start.elapsed();
        }
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{key} was still accepted 10 s after its revocation");
}

#[tokio::test]
async fn cli_walkthrough_on_sqlite() {
    cli_walkthrough(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn cli_walkthrough_on_postgres() {
    cli_walkthrough(Backend::Postgres).await;
}

/// Runs `cockpit-gateway serve` as a process on a free port with debug logging, uses it, then
/// stops it with SIGTERM: a clean exit, and no key, secret or SQL in what it logged.
async fn serve_and_stop(backend: Backend) {
    let test_db = TestDb::new(backend).await.expect(POSTGRES_UNSET);
    let org = stdout_line(&cli(&test_db, &["org", "create", "--name", "Served"]));
    let key = stdout_line(&cli(
        &test_db,
        &["key", "create", "--org", &org, "--mode", "live"],
    ));
    let (child, url) = spawn_serve(&test_db, "debug", std::process::Stdio::piped);
    let pid = child.id().expect("pid").to_string();
    // Drain the pipes while the server runs, so a chatty log can't block it.
    let output = tokio::spawn(child.wait_with_output());

    let client = reqwest::Client::new();
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(res) = client
            .post(&url)
            .json(&json!({ "query": "{ __schema { queryType { name } } }" }))
            .send()
            .await
        {
            answer = Some(res.json::<serde_json::Value>().await.expect("JSON"));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        crate::helpers::split_cost(answer.expect("the gateway answers within 10 s")).0,
        json!({ "data": { "__schema": { "queryType": { "name": "Query" } } } })
    );
    let page = client
        .get(&url)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .expect("GraphiQL");
    assert!(
        page.text().await.expect("html").contains("graphiql"),
        "GET serves GraphiQL"
    );

    let create = json!({
        "query": "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { mode providerConfig { ... on VogentConfig { sipPasswordSet } } } userErrors { code } } }",
        "variables": { "input": { "name": "Vogent", "type": "VOGENT", "providerConfig": { "vogent": {
            "vogentSipPrefix": "p", "vogentSipUsername": "u", "vogentSipPassword": "pw-in-no-log" } } } }
    });
    let created: serde_json::Value = client
        .post(&url)
        .bearer_auth(&key)
        .json(&create)
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("JSON");
    assert_eq!(
        created["data"]["createEndpoint"]["endpoint"],
        json!({ "mode": "LIVE", "providerConfig": { "sipPasswordSet": true } })
    );
    let refused = client
        .post(&url)
        .bearer_auth("kros_live_NotARealKeyNotARealKeyNotARealKe")
        .json(&json!({ "query": "{ viewer { mode } }" }))
        .send()
        .await
        .expect("refused");
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);

    let expired = crate::jwt::sign_hs256(
        crate::jwt::HS_SECRET,
        &json!({ "sub": "someone", "aud": "authenticated", "exp": chrono::Utc::now().timestamp() - 600 }),
    );
    let refused = client
        .post(&url)
        .bearer_auth(&expired)
        .json(&json!({ "query": "{ viewer { mode } }" }))
        .send()
        .await
        .expect("expired session");
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);

    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), output)
        .await
        .expect("exits within 10 s of SIGTERM")
        .expect("join")
        .expect("wait");
    assert!(
        out.status.success(),
        "clean exit on SIGTERM: {}",
        out.status
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("listening"), "it logged: {log}");
    let signature = expired.rsplit('.').next().expect("signature").to_owned();
    for secret in [
        signature.as_str(),
        key.as_str(),
        "pw-in-no-log",
        "NotARealKey",
        "SELECT",
        "INSERT",
    ] {
        assert!(!log.contains(secret), "the log holds {secret:?}: {log}");
    }
}

#[tokio::test]
async fn serve_runs_and_stops_on_sigterm_on_sqlite() {
    serve_and_stop(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn serve_runs_and_stops_on_sigterm_on_postgres() {
    serve_and_stop(Backend::Postgres).await;
}

/// The CLI as an operator runs it: this test's database, with `key` as COCKPIT_SECRET_KEY
/// (none at all when `None`).
fn cli_with_key(db: &TestDb, key: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cockpit-gateway"));
    command
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "error")
        .env_remove("COCKPIT_SECRET_KEY");
    if let Some(key) = key {
        command.env("COCKPIT_SECRET_KEY", key);
    }
    command.output().expect("run cockpit-gateway")
}

async fn a_wrong_secret_key_is_a_clear_startup_error(backend: Backend) {
    let test_db = TestDb::new(backend).await.expect(POSTGRES_UNSET);
    assert!(cli(&test_db, &["migrate"]).status.success());
    let other = cockpit_gateway::domain::secrets::SecretBox::encode_key(
        &cockpit_gateway::domain::secrets::SecretBox::generate_key(),
    );
    let out = cli_with_key(&test_db, Some(&other), &["migrate"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not match"), "{stderr}");
    assert!(!stderr.contains(&other), "the key is not echoed: {stderr}");

    let out = cli_with_key(&test_db, Some("not-a-key"), &["migrate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("32 bytes"));
}

#[tokio::test]
async fn a_wrong_secret_key_is_a_clear_startup_error_on_sqlite() {
    a_wrong_secret_key_is_a_clear_startup_error(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_wrong_secret_key_is_a_clear_startup_error_on_postgres() {
    a_wrong_secret_key_is_a_clear_startup_error(Backend::Postgres).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_configured_secret_key_is_required_on_postgres() {
    let test_db = TestDb::new(Backend::Postgres).await.expect(POSTGRES_UNSET);
    let out = cli_with_key(&test_db, None, &["migrate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("COCKPIT_SECRET_KEY is required"));
}

#[tokio::test]
async fn sqlite_without_a_key_generates_a_private_key_file_once() {
    use std::os::unix::fs::PermissionsExt;
    let test_db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let path = test_db
        .url
        .strip_prefix("sqlite://")
        .and_then(|u| u.split('?').next())
        .expect("path");
    let key_file = format!("{path}.secret-key");
    assert!(cli_with_key(&test_db, None, &["migrate"]).status.success());
    let meta = std::fs::metadata(&key_file).expect("a key file beside the database");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let key = std::fs::read_to_string(&key_file).expect("read key");
    assert!(
        cli_with_key(&test_db, None, &["migrate"]).status.success(),
        "reused"
    );
    assert_eq!(
        std::fs::read_to_string(&key_file).expect("read key"),
        key,
        "not regenerated"
    );
    // The same key given explicitly works; another key file does not.
    assert!(
        cli_with_key(&test_db, Some(key.trim()), &["migrate"])
            .status
            .success()
    );
    let other = cockpit_gateway::domain::secrets::SecretBox::encode_key(
        &cockpit_gateway::domain::secrets::SecretBox::generate_key(),
    );
    std::fs::write(&key_file, other).expect("replace key file");
    let out = cli_with_key(&test_db, None, &["migrate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match"));
}

#[test]
fn a_sip_domain_that_is_not_a_host_name_is_refused_at_startup() {
    for (flag, domain) in [
        ("--vapi-sip-domain", "evil.example;maddr=10.0.0.1"),
        ("--retell-sip-domain", ""),
        ("--vogent-sip-domain", "x@evil.example"),
        ("--elevenlabs-sip-domain", "a b"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_cockpit-gateway"))
            .args([flag, domain, "print-schema"])
            .output()
            .expect("run cockpit-gateway");
        assert!(!out.status.success(), "{flag} {domain:?} was accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains("not a host name"),
            "{stderr}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_cockpit-gateway"))
        .args(["print-schema"])
        .env("COCKPIT_VAPI_SIP_DOMAIN", "sip.eu.vapi.ai")
        .output()
        .expect("run cockpit-gateway");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `cockpit-gateway serve` process on a free port, killed when dropped.
struct Served {
    url: String,
    _child: tokio::process::Child,
}

/// `cockpit-gateway serve` on a free port of this test database, logging at `rust_log` to
/// `output`; the child (killed on drop) and its GraphQL URL.
fn spawn_serve(
    test_db: &TestDb,
    rust_log: &str,
    output: fn() -> std::process::Stdio,
) -> (tokio::process::Child, String) {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind probe");
        probe.local_addr().expect("addr").port()
    };
    let listen = format!("127.0.0.1:{port}");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cockpit-gateway"))
        .args(["serve", "--listen", &listen, "--database-url", &test_db.url])
        .env_remove("DATABASE_URL")
        .env("COCKPIT_SECRET_KEY", &test_db.secret_key)
        .env("COCKPIT_JWT_SECRET", crate::jwt::HS_SECRET)
        .env("RUST_LOG", rust_log)
        .stdout(output())
        .stderr(output())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve");
    (child, format!("http://{listen}/graphql"))
}

/// A gateway process, answering.
async fn serve(test_db: &TestDb) -> Served {
    let (child, url) = spawn_serve(test_db, "error", std::process::Stdio::null);
    let client = reqwest::Client::new();
    for _ in 0..100 {
        let probe = client
            .post(&url)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await;
        if probe.is_ok() {
            return Served { url, _child: child };
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the gateway did not answer within 10 s");
}

/// Two gateway processes on one database: a key revoked through one is refused by the other,
/// which had just verified (and remembered) it, within 1 s on PostgreSQL — the revocation is
/// announced — and within the credential bound on SQLite.
async fn revocation_reaches_another_process(backend: Backend) {
    let test_db = TestDb::new(backend).await.expect(POSTGRES_UNSET);
    assert!(cli(&test_db, &["migrate"]).status.success());
    let org = stdout_line(&cli(&test_db, &["org", "create", "--name", "Two"]));
    let key = stdout_line(&cli(
        &test_db,
        &["key", "create", "--org", &org, "--mode", "test"],
    ));
    let other_key = stdout_line(&cli(
        &test_db,
        &["key", "create", "--org", &org, "--mode", "test"],
    ));
    let owner = cli(
        &test_db,
        &[
            "member", "add", "--org", &org, "--user", "owner-1", "--role", "owner",
        ],
    );
    assert!(owner.status.success());
    let (a, b) = (serve(&test_db).await, serve(&test_db).await);
    let client = reqwest::Client::new();
    let viewer = |url: String, key: String| {
        let client = client.clone();
        async move {
            let res = client
                .post(&url)
                .bearer_auth(&key)
                .json(&json!({ "query": "{ viewer { apiKeyId } }" }))
                .send()
                .await
                .expect("send");
            assert_eq!(res.status(), reqwest::StatusCode::OK);
            res.json::<serde_json::Value>().await.expect("JSON")["data"]["viewer"]["apiKeyId"]
                .as_str()
                .expect("apiKeyId")
                .to_owned()
        }
    };
    let key_id = viewer(b.url.clone(), key.clone()).await;
    viewer(b.url.clone(), key.clone()).await;
    viewer(b.url.clone(), other_key.clone()).await;

    let session = crate::jwt::sign_hs256(
        crate::jwt::HS_SECRET,
        &json!({ "sub": "owner-1", "aud": "authenticated", "exp": chrono::Utc::now().timestamp() + 600 }),
    );
    let revoked: serde_json::Value = client
        .post(&a.url)
        .bearer_auth(&session)
        .header("x-organization-id", &org)
        .json(&json!({
            "query": "mutation($id: UUID!) { revokeApiKey(input: { id: $id }) { apiKey { revokedAt } userErrors { code } } }",
            "variables": { "id": key_id },
        }))
        .send()
        .await
        .expect("revoke")
        .json()
        .await
        .expect("JSON");
    assert!(
        revoked["data"]["revokeApiKey"]["apiKey"]["revokedAt"].is_string(),
        "{revoked}"
    );
    // On SQLite the key lives out its time in B's memory: the bound, plus a poll's slack.
    let bound = match backend {
        Backend::Postgres => std::time::Duration::from_secs(1),
        Backend::Sqlite => {
            cockpit_gateway::auth::CREDENTIAL_TTL + std::time::Duration::from_millis(250)
        }
    };
    let took = refused_within(&client, &b.url, &key).await;
    assert!(
        took <= bound,
        "process B refused the key after {took:?}; bound {bound:?}"
    );
    // The revoking process refuses it at once, and the other key still works on both.
    assert_eq!(
        refused_within(&client, &a.url, &key).await.as_millis() / 100,
        0
    );
    viewer(a.url.clone(), other_key.clone()).await;
    viewer(b.url.clone(), other_key.clone()).await;

    // A process that stops hearing (its listening connection killed) stops trusting what it
    // remembers: a revocation it can't have heard of (made without the announcement) is seen
    // within 1 s all the same.
    if backend == Backend::Postgres {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(&test_db.url)
            .await
            .expect("connect");
        let listeners = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
            WHERE datname = current_database() AND query LIKE 'LISTEN%'";
        db.execute_unprepared(listeners)
            .await
            .expect("terminate listeners");
        let other_id = viewer(b.url.clone(), other_key.clone()).await;
        db.execute_unprepared(&format!(
            "UPDATE api_keys SET revoked_at = now() WHERE id = '{other_id}'"
        ))
        .await
        .expect("revoke unannounced");
        let took = refused_within(&client, &b.url, &other_key).await;
        assert!(
            took <= std::time::Duration::from_secs(1),
            "refused after {took:?}"
        );
    }
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn revocation_reaches_another_process_on_postgres() {
    revocation_reaches_another_process(Backend::Postgres).await;
}

#[tokio::test]
async fn revocation_reaches_another_process_on_sqlite() {
    revocation_reaches_another_process(Backend::Sqlite).await;
}

/// The gateway's sessions (named by `application_name`) and whether each uses TLS.
async fn sessions_use_tls(admin: &sea_orm::DatabaseConnection, name: &str) -> Vec<bool> {
    use sea_orm::ConnectionTrait as _;
    admin
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.application_name = '{name}'"
            ),
        ))
        .await
        .expect("pg_stat_ssl")
        .iter()
        .map(|row| row.try_get::<bool>("", "ssl").expect("ssl"))
        .collect()
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn tls_to_a_loopback_database_only_when_the_url_or_pgsslmode_asks_on_postgres() {
    let test_db = TestDb::new(Backend::Postgres).await.expect(POSTGRES_UNSET);
    if !test_db.url.contains("127.0.0.1") && !test_db.url.contains("localhost") {
        eprintln!("TEST_DATABASE_URL is not on the loopback interface; skipped");
        return;
    }
    let admin = sea_orm::Database::connect(&test_db.url)
        .await
        .expect("connect");
    let server_offers_tls = {
        use sea_orm::ConnectionTrait as _;
        admin
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT current_setting('ssl') = 'on' AS on",
            ))
            .await
            .expect("SHOW ssl")
            .and_then(|row| row.try_get::<bool>("", "on").ok())
            .unwrap_or(false)
    };
    let cases: &[(&str, Option<&str>, bool)] = if server_offers_tls {
        &[
            ("", None, false),
            ("&sslmode=require", None, true),
            ("", Some("require"), true),
        ]
    } else {
        eprintln!("the server offers no TLS; only the plain case runs");
        &[("", None, false)]
    };
    for &(suffix, env, tls) in cases {
        let name = format!("cockpit-{}", uuid::Uuid::new_v4().simple());
        let db = test_db.via(format!("{}&application_name={name}{suffix}", test_db.url));
        let mut vars = vec![];
        if let Some(mode) = env {
            vars.push(("PGSSLMODE", mode));
        }
        let (mut child, address) = serve_process(&db, &vars).await;
        let ready = reqwest::get(format!("http://{address}/readyz")).await;
        let used = sessions_use_tls(&admin, &name).await;
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            ready.is_ok_and(|r| r.status().is_success()),
            "{suffix} {env:?}"
        );
        assert!(!used.is_empty(), "{suffix} {env:?}: no sessions");
        assert!(
            used.iter().all(|ssl| *ssl == tls),
            "{suffix} {env:?}: TLS {used:?}, expected {tls}"
        );
    }
}
