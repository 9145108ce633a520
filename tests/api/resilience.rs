//! Operating under failure: the database going away and coming back, and shutting down
//! with a request in flight.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::proxy::Proxy;

/// A fresh PostgreSQL database, a proxy in front of it, and the database's URL through the
/// proxy.
async fn postgres_behind_a_proxy() -> (TestDb, Proxy, url::Url) {
    let test_db = TestDb::new(Backend::Postgres).await.expect(POSTGRES_UNSET);
    let mut url = url::Url::parse(&test_db.url).expect("database URL");
    let upstream = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(upstream).await;
    url.set_host(Some("127.0.0.1")).expect("host");
    url.set_port(Some(proxy.address.port())).expect("port");
    (test_db, proxy, url)
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn database_outage_fails_fast_and_the_gateway_recovers_by_itself_on_postgres() {
    let (test_db, proxy, url) = postgres_behind_a_proxy().await;
    let app = TestApp::builder(Backend::Postgres)
        .on(test_db.via(url.to_string()))
        .with_config(|c| c.limits.max_batch = Some(3))
        .spawn()
        .await
        .expect("gateway");
    let _keep = test_db;
    // The test key is remembered (its requests reach their fields without the database); the
    // live key has to be checked against the database.
    let remembered = app.org.test_key.clone();
    let checked = app.org.live_key.clone();
    let ready = async || {
        app.client
            .get(format!("{}/readyz", app.address))
            .send()
            .await
            .expect("readyz")
            .status()
    };
    app.graphql(&remembered, "{ viewer { mode } }", json!({}))
        .await
        .assert_ok();
    assert_eq!(ready().await, StatusCode::OK);

    proxy.cut().await;
    let started = Instant::now();
    let query = "{ endpoints { totalCount } }";
    let post = async |key: &str| {
        let res = app.graphql(key, query, json!({})).await;
        (res.status, res.headers, res.body)
    };
    let send = async |request: reqwest::RequestBuilder| {
        let res = request.send().await.expect("request");
        let (status, headers) = (res.status(), res.headers().clone());
        (
            status,
            headers,
            res.json::<serde_json::Value>().await.expect("JSON"),
        )
    };
    let get = async |key: &str| {
        send(
            app.client
                .get(format!("{}/graphql", app.address))
                .query(&[("query", query)])
                .bearer_auth(key),
        )
        .await
    };
    let batch = async |key: &str| {
        send(app.client.post(format!("{}/graphql", app.address)).bearer_auth(key).json(&json!([{ "query": query }, { "query": "{ viewer { mode } endpoints { totalCount } }" }]))).await
    };
    let rest = async |key: &str| {
        send(
            app.client
                .get(format!("{}/v1/endpoints", app.address))
                .bearer_auth(key),
        )
        .await
    };
    let sse = async || {
        let sse = crate::live::Sse::post(
            &app.address,
            &[("authorization", &format!("Bearer {checked}"))],
            crate::live::ENDPOINT_EVENTS,
            json!({}),
        )
        .await;
        let (status, headers) = (sse.response.status(), sse.response.headers().clone());
        (
            status,
            headers,
            sse.response
                .json::<serde_json::Value>()
                .await
                .expect("JSON"),
        )
    };
    let ws = async || {
        let mut ws = crate::live::Ws::open(&app.address, crate::live::Protocol::TransportWs).await;
        ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {checked}") } })).await;
        ws.frame().await
    };
    // Concurrently: each waits for the pool's acquire time-out.
    let (a, b, c, d, e, f, g, h, i, j) = tokio::join!(
        post(&remembered),
        post(&checked),
        get(&remembered),
        get(&checked),
        batch(&remembered),
        batch(&checked),
        rest(&remembered),
        rest(&checked),
        sse(),
        ws(),
    );
    let waited = started.elapsed();
    for (what, (status, headers, body)) in [
        ("POST, remembered key", a),
        ("POST, checked key", b),
        ("GET, remembered key", c),
        ("GET, checked key", d),
        ("batch, remembered key", e),
        ("batch, checked key", f),
        ("REST, remembered key", g),
        ("REST, checked key", h),
        ("SSE, checked key", i),
    ] {
        assert_database_unavailable(what, status, &headers, &body);
    }
    assert_eq!(
        j,
        crate::live::Frame::Close(
            1013,
            "The service is temporarily unavailable; retry the request shortly.".to_owned()
        ),
        "a WebSocket's connection_init is answered: try again later"
    );
    assert!(waited < Duration::from_secs(8), "failed fast: {waited:?}");
    assert_eq!(ready().await, StatusCode::SERVICE_UNAVAILABLE);

    proxy.restore().await;
    let mut recovered = None;
    for _ in 0..40 {
        let res = app.graphql(&remembered, query, json!({})).await;
        if res.status == StatusCode::OK {
            recovered = Some(res);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let recovered = recovered.expect("the gateway recovers within 10 s of the database's return");
    assert_eq!(recovered.assert_ok()["endpoints"]["totalCount"], 0);
    app.graphql(&checked, query, json!({})).await.assert_ok();
    assert_eq!(ready().await, StatusCode::OK);
}

#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_and_refuses_new_ones() {
    a_stop_signal_finishes_the_request_in_flight_and_refuses_new_ones("TERM").await;
}

#[tokio::test]
async fn sigint_finishes_the_request_in_flight_and_refuses_new_ones() {
    a_stop_signal_finishes_the_request_in_flight_and_refuses_new_ones("INT").await;
}

/// SIGQUIT (a terminal's Ctrl-\, nginx's graceful stop), SIGPWR (power failing) and SIGXCPU
/// (the soft CPU-time limit reached) drain like SIGTERM, where their defaults would kill the
/// process at once.
#[tokio::test]
async fn sigquit_finishes_the_request_in_flight_and_refuses_new_ones() {
    a_stop_signal_finishes_the_request_in_flight_and_refuses_new_ones("QUIT").await;
}

#[tokio::test]
async fn sigpwr_and_sigxcpu_finish_the_request_in_flight_and_refuse_new_ones() {
    a_stop_signal_finishes_the_request_in_flight_and_refuses_new_ones("PWR").await;
    a_stop_signal_finishes_the_request_in_flight_and_refuses_new_ones("XCPU").await;
}

async fn a_stop_signal_finishes_the_request_in_flight_and_refuses_new_ones(signal: &str) {
    let _db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let (mut child, address, log) = serve_process_logged(&_db, &[]).await;
    let body = json!({ "query": "{ __typename }" }).to_string();
    let (head, tail) = body.split_at(body.len() / 2);

    // A request whose body is half sent is in flight when the signal comes.
    let mut stream = std::net::TcpStream::connect(&address).expect("connect");
    write!(
        stream,
        "POST /graphql HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        body.len()
    )
    .expect("send head");
    stream.flush().expect("flush");
    tokio::time::sleep(Duration::from_millis(200)).await;
    send_signal(&child, signal);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // New connections are no longer accepted...
    assert!(
        reqwest::Client::new()
            .get(format!("http://{address}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_err(),
        "a new request after SIG{signal} is refused"
    );
    // ...while the one in flight completes.
    stream.write_all(tail.as_bytes()).expect("send tail");
    let mut response = String::new();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream.read_to_string(&mut response).expect("read response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#"{"data":{"__typename":"Query"}"#),
        "{response}"
    );
    let status = exit_status(&mut child).await;
    assert!(status.success(), "{status:?}");
    log.wait_for(
        json!({ "signal": format!("SIG{signal}"), "message": "shutting down: finishing in-flight requests" }),
    )
    .await;
}

#[tokio::test]
async fn shutdown_has_a_deadline_that_half_sent_requests_cannot_outlast() {
    let _db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let (mut child, address) = serve_process(
        &_db,
        &[
            ("COCKPIT_SHUTDOWN_TIMEOUT_SECS", "1"),
            ("COCKPIT_HEADER_READ_TIMEOUT_SECS", "60"),
            ("COCKPIT_BODY_READ_TIMEOUT_SECS", "60"),
            ("COCKPIT_IDLE_TIMEOUT_SECS", "60"),
        ],
    )
    .await;
    // One request line half sent, one body half sent: neither will ever finish.
    let mut head_only = std::net::TcpStream::connect(&address).expect("connect");
    write!(head_only, "POST /graphql HTTP/1.1\r\nHost: x\r\n").expect("send");
    let mut half_body = std::net::TcpStream::connect(&address).expect("connect");
    write!(
        half_body,
        "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"query\":"
    )
    .expect("send");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill")
            .success()
    );
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(6) {
            let _ = child.kill();
            panic!("still running 6 s after SIGTERM with a 1 s shutdown deadline");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    assert!(
        signalled.elapsed() >= Duration::from_millis(900),
        "waited for the deadline"
    );
}

#[tokio::test]
async fn idle_and_silent_connections_are_closed_and_bounded_per_address() {
    use tokio::io::AsyncReadExt as _;
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.server.header_read_timeout = Duration::from_millis(500);
            c.server.idle_timeout = Duration::from_millis(500);
            c.server.max_connections_per_ip = 50;
        })
        .spawn()
        .await
        .expect("SQLite");
    let host = app.address.trim_start_matches("http://").to_owned();
    // 50 silent connections are all closed by the server within the header read timeout.
    let mut silent = Vec::new();
    for _ in 0..50 {
        silent.push(
            tokio::net::TcpStream::connect(&host)
                .await
                .expect("connect"),
        );
    }
    // The 51st from the same address is closed at once.
    let mut over = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect");
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_millis(300), over.read(&mut byte))
        .await
        .expect("the connection over the bound is closed at once");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    for mut stream in silent {
        let read = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut byte))
            .await
            .expect("a silent connection is closed within the header read timeout");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    // Freed, the address may connect again, and real work goes on.
    let res = app
        .graphql(&app.org.test_key, "{ viewer { mode } }", json!({}))
        .await;
    assert_eq!(res.assert_ok()["viewer"]["mode"], "TEST");
}

#[tokio::test]
async fn trusted_proxies_are_not_held_to_the_per_address_connection_bound() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.server.max_connections_per_ip = 3;
            c.server.unbounded = vec!["127.0.0.0/8".parse().expect("net")];
        })
        .spawn()
        .await
        .expect("SQLite");
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut open = Vec::new();
    for _ in 0..10 {
        open.push(
            tokio::net::TcpStream::connect(&host)
                .await
                .expect("connect"),
        );
    }
    // The last of ten connections from the proxy's address is served.
    let last = open.last_mut().expect("a connection");
    last.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), last.read_to_string(&mut answer))
        .await
        .expect("answered")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn pooled_connections_the_server_ended_while_idle_are_not_handed_to_requests_on_postgres() {
    use sea_orm::ConnectionTrait as _;
    let test_db = TestDb::new(Backend::Postgres).await.expect(POSTGRES_UNSET);
    // Named, so that only this gateway's sessions end (other tests share the database).
    let name = format!("cockpit-{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}&application_name={name}", test_db.url);
    let app = TestApp::builder(Backend::Postgres)
        .on(test_db.via(url))
        .spawn()
        .await
        .expect("gateway");
    let _keep = test_db;
    let key = app.org.test_key.clone();
    // Several pooled connections, then a pause longer than the window within which a recently
    // used connection is handed out unchecked.
    let query = || app.graphql(&key, "{ endpoints { totalCount } }", json!({}));
    let burst = tokio::join!(query(), query(), query(), query());
    for res in [burst.0, burst.1, burst.2, burst.3] {
        res.assert_ok();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // What a database restart or an administrator does: every session of the gateway ends.
    let ended = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!(
                "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
                 WHERE application_name = '{name}' AND pid <> pg_backend_pid()"
            ),
        ))
        .await
        .expect("terminate the gateway's sessions")
        .and_then(|row| row.try_get::<i64>("", "n").ok())
        .unwrap_or(0);
    assert!(
        ended >= 2,
        "the gateway's pool and listener: {ended} sessions"
    );
    for attempt in 0..8 {
        let res = app
            .graphql(&key, "{ endpoints { totalCount } }", json!({}))
            .await;
        assert_eq!(
            res.status,
            StatusCode::OK,
            "request {attempt}: {}",
            res.body
        );
        res.assert_ok();
    }
}

/// A gateway verifying session tokens with a JWKS reached through a proxy, with short timings.
async fn behind_a_jwks_proxy(max_age: Duration) -> (TestApp, crate::jwt::JwksServer, Proxy) {
    let jwks = crate::jwt::JwksServer::start(&["rsa-1"]).await;
    let url = url::Url::parse(&jwks.url).expect("JWKS URL");
    let proxy = Proxy::start(format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().expect("port")
    ))
    .await;
    let through = format!("http://{}{}", proxy.address, url.path());
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.jwt.jwks_url = Some(through);
            c.jwt.jwks_min_refetch = Duration::from_millis(100);
            c.jwt.jwks_backoff_max = Duration::from_millis(800);
            c.jwt.jwks_timeout = Duration::from_millis(300);
            c.jwt.jwks_max_age = max_age;
        })
        .spawn()
        .await
        .expect("SQLite");
    app.add_member(app.org.id, "alice", cockpit_gateway::domain::Role::Owner)
        .await;
    (app, jwks, proxy)
}

async fn readyz(app: &TestApp) -> (StatusCode, serde_json::Value) {
    let res = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("readyz");
    (res.status(), res.json().await.expect("JSON"))
}

#[tokio::test]
async fn an_unreachable_jwks_is_answered_authentication_unavailable_without_asking_it_per_request()
{
    let (app, _jwks, proxy) = behind_a_jwks_proxy(Duration::from_secs(600)).await;
    let token = crate::jwt::sign("rsa-1", Some("rsa-1"), &crate::jwt::claims("alice"));
    proxy.cut().await;
    let started = Instant::now();
    let mut answers = Vec::new();
    // 12 requests over about 1.8 s: the JWKS is asked after a backoff that doubles, not each time.
    for _ in 0..12 {
        answers.push(
            app.graphql(&token, "{ viewer { userId } }", json!({}))
                .await,
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(
        proxy.accepted() <= 6,
        "the JWKS host was asked {} times for 12 requests",
        proxy.accepted()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    for res in &answers {
        assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.body);
        assert_eq!(
            res.error_code(),
            Some("AUTHENTICATION_UNAVAILABLE"),
            "{}",
            res.body
        );
        let message = res.body["errors"][0]["message"].as_str().expect("message");
        assert!(
            message.contains("temporarily") || message.contains("right now"),
            "{message}"
        );
        let retry: u64 = res.headers["retry-after"]
            .to_str()
            .expect("text")
            .parse()
            .expect("seconds");
        assert!((1..=2).contains(&retry), "{retry}");
    }
    // REST answers the same.
    let rest = app
        .client
        .get(format!("{}/v1/endpoints", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("REST");
    assert_eq!(rest.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(rest.headers().contains_key("retry-after"));
    let body: serde_json::Value = rest.json().await.expect("JSON");
    assert_eq!(body["code"], "AUTHENTICATION_UNAVAILABLE", "{body}");
    // API keys don't need the JWKS, and the gateway still serves.
    app.graphql(&app.org.test_key, "{ viewer { mode } }", json!({}))
        .await
        .assert_ok();
    let (status, ready) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["jwks"], "degraded", "{ready}");

    proxy.restore().await;
    let mut back = None;
    for _ in 0..30 {
        let res = app
            .graphql(&token, "{ viewer { userId } }", json!({}))
            .await;
        if res.status == StatusCode::OK {
            back = Some(res);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back = back.expect("sessions are verified again within 3 s of the JWKS's return");
    assert_eq!(back.assert_ok()["viewer"]["userId"], "alice");
    assert_eq!(readyz(&app).await.1["jwks"], "up");
}

#[tokio::test]
async fn keys_already_fetched_keep_verifying_while_the_jwks_host_stalls() {
    let (app, _jwks, proxy) = behind_a_jwks_proxy(Duration::from_secs(1)).await;
    let token = crate::jwt::sign("rsa-1", Some("rsa-1"), &crate::jwt::claims("alice"));
    app.graphql(&token, "{ viewer { userId } }", json!({}))
        .await
        .assert_ok();
    proxy.stall();
    // Past max_age the keys are refetched; the host hangs; the known key still verifies, and
    // no request waits longer than a fetch's time-out, nor for each other.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    let ask = || app.graphql(&token, "{ viewer { userId } }", json!({}));
    let (a, b, c) = tokio::join!(ask(), ask(), ask());
    for res in [a, b, c] {
        assert_eq!(res.assert_ok()["viewer"]["userId"], "alice");
    }
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    for _ in 0..5 {
        let asked = Instant::now();
        app.graphql(&token, "{ viewer { userId } }", json!({}))
            .await
            .assert_ok();
        assert!(
            asked.elapsed() < Duration::from_millis(450),
            "{:?}",
            asked.elapsed()
        );
    }
    // A key the gateway never fetched can't be known while the host hangs.
    let unknown = crate::jwt::sign("rsa-2", Some("rsa-2"), &crate::jwt::claims("alice"));
    let res = app
        .graphql(&unknown, "{ viewer { userId } }", json!({}))
        .await;
    assert_eq!(res.status, StatusCode::SERVICE_UNAVAILABLE, "{}", res.body);
    assert_eq!(res.error_code(), Some("AUTHENTICATION_UNAVAILABLE"));
    proxy.restore().await;
}

/// Sends `signal` (a name `kill -s` knows) to `child`.
fn send_signal(child: &std::process::Child, signal: &str) {
    assert!(
        std::process::Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status()
            .expect("kill")
            .success(),
        "kill -s {signal}"
    );
}

/// How `child` exited, within 10 s.
async fn exit_status(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running 10 s after a stop signal");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Without `--trusted-documents` a SIGHUP reloads nothing, and neither it nor the signals
/// that mean nothing to the gateway stop it: each is logged (SIGPIPE is ignored outright), and
/// requests go on being served; SIGTERM then still drains and exits 0.
async fn signals_without_meaning_leave_the_gateway_serving(backend: Backend) {
    let db = TestDb::new(backend).await.expect(POSTGRES_UNSET);
    let (mut child, address, log) = serve_process_logged(&db, &[]).await;
    let client = reqwest::Client::new();
    for signal in [
        "HUP", "USR1", "USR2", "ALRM", "IO", "VTALRM", "PROF", "XFSZ", "STKFLT", "RTMIN+3", "PIPE",
        "HUP",
    ] {
        send_signal(&child, signal);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            child.try_wait().expect("wait").is_none(),
            "SIG{signal} ended the gateway: {:?}",
            child.try_wait()
        );
        if signal != "PIPE" {
            log.wait_for(json!({ "signal": format!("SIG{signal}") }))
                .await;
        }
        let res = client
            .post(format!("http://{address}/graphql"))
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("served after SIG{signal}: {e}"));
        assert_eq!(res.status(), StatusCode::OK, "after SIG{signal}");
    }
    let hangup = log.wait_for(json!({ "signal": "SIGHUP" })).await;
    assert_eq!(hangup["level"], "INFO", "{hangup}");
    assert!(
        hangup["message"]
            .as_str()
            .is_some_and(|m| m.contains("nothing to reload")),
        "{hangup}"
    );

    send_signal(&child, "TERM");
    let status = exit_status(&mut child).await;
    assert!(status.success(), "{status:?}");
    log.wait_for(
        json!({ "signal": "SIGTERM", "message": "shutting down: finishing in-flight requests" }),
    )
    .await;
}

#[cfg(unix)]
#[tokio::test]
async fn signals_without_meaning_leave_the_gateway_serving_sqlite() {
    signals_without_meaning_leave_the_gateway_serving(Backend::Sqlite).await;
}

#[cfg(unix)]
#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn signals_without_meaning_leave_the_gateway_serving_postgres() {
    signals_without_meaning_leave_the_gateway_serving(Backend::Postgres).await;
}

/// A transaction's `BEGIN` whose caller gives up before the answer comes (the client hung up,
/// the request timed out) must not leave its pooled connection inside a transaction nobody
/// owns: the statements run on it next would commit or roll back with it (on PostgreSQL an
/// idempotency key's claim and release did). The answer is held back by a proxy until the
/// caller has gone.
#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_begin_given_up_before_its_answer_leaves_no_transaction_behind_on_postgres() {
    use cockpit_gateway::db::{Db, Unit, begin_write};
    use sea_orm::ConnectionTrait;

    let (_test_db, proxy, url) = postgres_behind_a_proxy().await;
    let mut options = cockpit_gateway::db::connect_options(url.as_str());
    // One connection: every statement below runs on the one the abandoned BEGIN used.
    // No ping before a connection is handed out: the BEGIN is what waits for the held answer.
    options
        .max_connections(1)
        .min_connections(1)
        .test_before_acquire(false);
    let pool = sea_orm::Database::connect(options).await.expect("connect");
    let db = Db::from(pool.clone());
    // PostgreSQL refuses a savepoint outside a transaction block.
    let outside_a_transaction = async || pool.execute_unprepared("SAVEPOINT probe").await.is_err();
    assert!(outside_a_transaction().await);

    for given_up in ["begin_write", "Unit::begin"] {
        // The pool pings a connection as it comes back: let that answer through first.
        tokio::time::sleep(Duration::from_millis(200)).await;
        proxy.hold();
        let begun = match given_up {
            "begin_write" => {
                tokio::time::timeout(Duration::from_millis(300), async {
                    begin_write(&db).await.map(drop)
                })
                .await
            }
            _ => {
                tokio::time::timeout(Duration::from_millis(300), async {
                    Unit::begin(&db, false).await.map(drop)
                })
                .await
            }
        };
        assert!(begun.is_err(), "{given_up}: the answer was held back");
        proxy.release();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            outside_a_transaction().await,
            "{given_up}: the connection went back to the pool inside the abandoned transaction"
        );
    }
}

/// A database that hangs (a proxy that accepts and never answers) costs the first request the
/// acquire timeout; the next are answered at once, 503 `SERVICE_UNAVAILABLE`, rather than each
/// waiting as long, and the gateway recovers by itself once the database answers again.
#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_database_that_hangs_is_answered_unavailable_at_once_and_recovers_on_postgres() {
    let (test_db, proxy, url) = postgres_behind_a_proxy().await;
    let app = TestApp::builder(Backend::Postgres)
        .on(test_db.via(url.to_string()))
        .spawn()
        .await
        .expect("gateway");
    let _keep = test_db;
    let key = app.org.test_key.clone();
    let count = "{ endpoints { totalCount } }";
    app.graphql(&key, count, json!({})).await.assert_ok();

    proxy.stall();
    // Idle connections are tried before they are handed out; the tries hang too.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let first = app.graphql(&key, count, json!({})).await;
    assert_database_unavailable(
        "the first request",
        first.status,
        &first.headers,
        &first.body,
    );
    for attempt in 0..5 {
        let started = Instant::now();
        let res = app.graphql(&key, count, json!({})).await;
        let waited = started.elapsed();
        assert_database_unavailable(
            &format!("request {attempt}"),
            res.status,
            &res.headers,
            &res.body,
        );
        assert!(
            waited < Duration::from_secs(1),
            "request {attempt} waited {waited:?} for a database known to hang"
        );
    }

    proxy.restore().await;
    let mut recovered = false;
    for _ in 0..60 {
        if app.graphql(&key, count, json!({})).await.status == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        recovered,
        "the gateway recovers within 15 s of the database's return"
    );
}
