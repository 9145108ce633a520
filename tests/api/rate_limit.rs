//! Rate limiting by query cost: extensions.cost on every response, 429 with Retry-After when
//! a credential's bucket is empty, one bucket per credential, and one budget shared by
//! gateways on the same Redis.

use std::time::Duration;

use cockpit_gateway::ratelimit::RateLimitSettings;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Costs 1 + 5 × (edges 1 + node 1) = 11 whatever the page holds.
const PAGE_OF_FIVE: &str = "{ endpoints(first: 5) { edges { node { id } } } }";

fn small_buckets(redis: Option<String>, prefix: &str) -> RateLimitSettings {
    RateLimitSettings {
        bucket_size: 30,
        restore_rate: 2,
        redis_url: redis,
        redis_prefix: prefix.to_owned(),
        ..RateLimitSettings::default()
    }
}

db_test! {
    async fn every_response_reports_its_cost_and_the_bucket(app) {
        let key = app.org.test_key.clone();
        for i in 0..2 {
            app.create_ok(&key, json!({ "name": format!("e{i}"), "type": "WEBHOOK", "url": "https://a.example" })).await;
        }
        let res = app.graphql(&key, "{ endpoints(first: 50) { edges { node { id } } } }", json!({})).await;
        res.assert_ok();
        assert_eq!(res.cost["requestedQueryCost"], 101, "1 + 50 × 2: {}", res.cost);
        assert_eq!(res.cost["actualQueryCost"], 5, "1 + 2 × 2 returned: {}", res.cost);
        let throttle = &res.cost["throttleStatus"];
        assert_eq!(throttle["maximumAvailable"], 1000.0);
        assert_eq!(throttle["restoreRate"], 50.0);
        let available = throttle["currentlyAvailable"].as_f64().expect("number");
        assert!((990.0..=1000.0).contains(&available), "only the actual cost is spent: {available}");
        // Errors are reported with their cost too.
        let missing = app.get_endpoint(&key, &uuid::Uuid::new_v4().to_string()).await;
        assert_eq!(missing.error_code(), Some("NOT_FOUND"));
        assert!(missing.cost["requestedQueryCost"].as_u64().is_some_and(|c| c >= 1), "{}", missing.cost);
    }
}

db_test! {
    async fn an_empty_bucket_answers_429_with_retry_after_until_it_refills(app) {
        let app = TestApp::builder(app.backend).with_config(|c| c.rate_limit = small_buckets(None, "")).spawn().await.expect("app");
        let key = app.org.test_key.clone();
        // An empty page reserves 11 points and spends 1: the rest goes back.
        for _ in 0..3 {
            let res = app.graphql(&key, PAGE_OF_FIVE, json!({})).await;
            res.assert_ok();
            assert_eq!((res.cost["requestedQueryCost"].clone(), res.cost["actualQueryCost"].clone()), (json!(11), json!(1)));
        }

        // Ten aliased objects cost 10 and spend all 10: the bucket of 30 soon runs dry.
        let costly = "{ a: viewer { mode } b: viewer { mode } c: viewer { mode } d: viewer { mode } e: viewer { mode } f: viewer { mode } g: viewer { mode } h: viewer { mode } i: viewer { mode } j: viewer { mode } }";
        let first = app.graphql(&key, costly, json!({})).await;
        first.assert_ok();
        assert_eq!(first.cost["requestedQueryCost"], 10);
        assert_eq!(first.cost["actualQueryCost"], 10);
        let mut throttled = None;
        for _ in 0..5 {
            let res = app.graphql(&key, costly, json!({})).await;
            if res.status == StatusCode::TOO_MANY_REQUESTS {
                throttled = Some(res);
                break;
            }
        }
        let throttled = throttled.expect("the bucket of 30 runs dry within a few 10-point queries");
        assert_eq!(throttled.error_code(), Some("RATE_LIMITED"));
        assert!(throttled.body.get("data").is_none());
        let retry_after: u64 = throttled.headers["retry-after"].to_str().expect("text").parse().expect("seconds");
        assert!((1..=5).contains(&retry_after), "{retry_after}");
        assert_eq!(throttled.cost["throttleStatus"]["maximumAvailable"], 30.0);
        assert!(throttled.cost["throttleStatus"]["currentlyAvailable"].as_f64().is_some_and(|a| a < 10.0));

        // Another credential has a bucket of its own.
        app.graphql(&app.org.live_key, costly, json!({})).await.assert_ok();
        // And the bucket refills at the restore rate.
        tokio::time::sleep(Duration::from_secs(retry_after)).await;
        app.graphql(&key, costly, json!({})).await.assert_ok();
    }
}

db_test! {
    async fn waiting_retry_after_is_enough_for_the_whole_operation(app) {
        // A bucket of 20 restoring 2 a second, and an operation costing 13 that spends it all.
        let app = TestApp::builder(app.backend)
            .with_config(|c| {
                c.rate_limit = RateLimitSettings { bucket_size: 20, ..small_buckets(None, "") };
            })
            .spawn()
            .await
            .expect("app");
        let key = app.org.test_key.clone();
        let aliases: String = (0..13).map(|i| format!(" v{i}: viewer {{ mode }}")).collect();
        let costly = format!("{{{aliases} }}");
        let first = app.graphql(&key, &costly, json!({})).await;
        first.assert_ok();
        assert_eq!(first.cost["actualQueryCost"], 13);
        // 7 left: the floor (1) is taken, the other 12 are refused. A retry pays the floor
        // again, so the wait is until all 13 are there, not the 12 refused.
        let throttled = app.graphql(&key, &costly, json!({})).await;
        assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(throttled.cost["actualQueryCost"], 1, "the floor was spent: {}", throttled.cost);
        let retry_after: u64 = throttled.headers["retry-after"].to_str().expect("text").parse().expect("seconds");
        tokio::time::sleep(Duration::from_secs(retry_after)).await;
        app.graphql(&key, &costly, json!({})).await.assert_ok();
    }
}

/// Why a Redis test that runs (`--ignored`, or built with `TEST_REDIS_URL` and run without it)
/// can't.
const REDIS_UNSET: &str = "TEST_REDIS_URL is not set: this test needs Redis";

async fn gateways_sharing_redis_enforce_one_budget(backend: Backend) {
    let redis = std::env::var("TEST_REDIS_URL").expect(REDIS_UNSET);
    let prefix = format!("cockpit-test:{}:", uuid::Uuid::new_v4());
    let first = TestApp::builder(backend)
        .with_config(|c| c.rate_limit = small_buckets(Some(redis.clone()), &prefix))
        .spawn()
        .await
        .expect(POSTGRES_UNSET);
    // A second gateway on the same database and the same Redis.
    let second = TestApp::builder(backend)
        .on(first.test_db.shared())
        .with_config(|c| {
            c.rate_limit = small_buckets(Some(redis.clone()), &prefix);
        })
        .spawn()
        .await
        .expect("a second gateway");
    let key = first.org.test_key.clone();
    let costly = "{ a: viewer { mode } b: viewer { mode } c: viewer { mode } d: viewer { mode } e: viewer { mode } f: viewer { mode } g: viewer { mode } h: viewer { mode } i: viewer { mode } j: viewer { mode } }";
    // 10 points from the first gateway, 10 from the second, 10 from the first: 30 spent.
    first.graphql(&key, costly, json!({})).await.assert_ok();
    let res = second.graphql(&key, costly, json!({})).await;
    res.assert_ok();
    let left = res.cost["throttleStatus"]["currentlyAvailable"]
        .as_f64()
        .expect("number");
    assert!(
        (10.0..=12.0).contains(&left),
        "the second gateway sees the first's spending: {left}"
    );
    first.graphql(&key, costly, json!({})).await.assert_ok();
    let refused = second.graphql(&key, costly, json!({})).await;
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        refused.body
    );
    assert_eq!(refused.error_code(), Some("RATE_LIMITED"));
}

#[tokio::test]
#[cfg_attr(not(redis_tests), ignore = "TEST_REDIS_URL is not set")]
async fn gateways_sharing_redis_enforce_one_budget_on_sqlite() {
    gateways_sharing_redis_enforce_one_budget(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(
    not(all(redis_tests, postgres_tests)),
    ignore = "TEST_REDIS_URL or TEST_DATABASE_URL is not set"
)]
async fn gateways_sharing_redis_enforce_one_budget_on_postgres() {
    gateways_sharing_redis_enforce_one_budget(Backend::Postgres).await;
}

#[tokio::test]
#[cfg_attr(not(redis_tests), ignore = "TEST_REDIS_URL is not set")]
async fn two_gateway_processes_share_one_budget_through_redis() {
    let redis = std::env::var("TEST_REDIS_URL").expect(REDIS_UNSET);
    let db = TestDb::new(Backend::Sqlite).await.expect("SQLite");
    let org = TestApp::builder(Backend::Sqlite)
        .on(db.shared())
        .spawn()
        .await
        .expect("gateway")
        .org;
    let env = [
        ("REDIS_URL", redis.as_str()),
        ("COCKPIT_RATE_LIMIT_BUCKET", "30"),
        ("COCKPIT_RATE_LIMIT_RESTORE", "1"),
    ];
    let (mut first, first_address) = serve_process(&db, &env).await;
    let (mut second, second_address) = serve_process(&db, &env).await;
    let client = reqwest::Client::new();
    let costly = "{ a: viewer { mode } b: viewer { mode } c: viewer { mode } d: viewer { mode } e: viewer { mode } f: viewer { mode } g: viewer { mode } h: viewer { mode } i: viewer { mode } j: viewer { mode } }";
    let ask = async |address: &str| {
        let res = client
            .post(format!("http://{address}/graphql"))
            .bearer_auth(&org.test_key)
            .json(&json!({ "query": costly }))
            .send()
            .await
            .expect("request");
        let status = res.status();
        let body: serde_json::Value = res.json().await.expect("JSON");
        (status, body)
    };
    // 10 points on each process in turn: the third request empties the shared bucket of 30.
    let mut statuses = Vec::new();
    for address in [
        &first_address,
        &second_address,
        &first_address,
        &second_address,
    ] {
        statuses.push(ask(address).await);
    }
    for process in [&mut first, &mut second] {
        let _ = process.kill();
        let _ = process.wait();
    }
    let codes: Vec<u16> = statuses.iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!(codes, [200, 200, 200, 429], "{statuses:?}");
    assert_eq!(
        statuses[3].1["errors"][0]["extensions"]["code"],
        "RATE_LIMITED"
    );
    let left = statuses[1].1["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
        .as_f64()
        .expect("number");
    assert!(
        (10.0..=12.0).contains(&left),
        "the second process saw the first's spending: {left}"
    );
}

db_test! {
    async fn repeated_failed_authentication_is_throttled_by_address(app) {
        let bad = "kros_test_0000000000000000000000000000wrong";
        let mut statuses = Vec::new();
        for _ in 0..60 {
            let res = app.graphql(bad, "{ viewer { mode } }", json!({})).await;
            statuses.push(res.status.as_u16());
            if res.status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(res.error_code(), Some("RATE_LIMITED"));
                assert!(res.headers.contains_key("retry-after"));
                break;
            }
        }
        // A bucket of 1000 points, 20 per failure: about 50 guesses, then 429.
        let refused = statuses.iter().filter(|s| **s == 401).count();
        assert!((45..=55).contains(&refused), "{statuses:?}");
        assert_eq!(statuses.last(), Some(&429));
        // REST shares the throttle, with its own error body.
        let rest = app
            .client
            .get(format!("{}/v1/endpoints", app.address))
            .bearer_auth(bad)
            .send()
            .await
            .expect("REST");
        assert_eq!(rest.status(), StatusCode::TOO_MANY_REQUESTS);
        let body: serde_json::Value = rest.json().await.expect("JSON");
        assert_eq!(body["code"], "RATE_LIMITED");
    }
}

/// Anonymous `{ __typename }` calls from `forwarded_for` until one is throttled; how many ran.
async fn anonymous_calls_until_throttled(app: &TestApp, forwarded_for: &str) -> usize {
    for n in 0..40 {
        let res = app
            .post(
                &[("x-forwarded-for", forwarded_for)],
                json!({ "query": "{ __typename }" }),
            )
            .await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            return n;
        }
    }
    40
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.rate_limit.bucket_size = 25;
            c.rate_limit.restore_rate = 1;
            c.trusted_proxies = cockpit_gateway::net::TrustedProxies {
                nets: vec!["127.0.0.0/8".parse().expect("net")],
                header: Default::default(),
            };
        })
        .spawn()
        .await
        .expect("SQLite");
    assert_eq!(
        anonymous_calls_until_throttled(&app, "198.51.100.1").await,
        25
    );
    // Another client behind the same proxy is not throttled by the first one's calls...
    assert_eq!(
        anonymous_calls_until_throttled(&app, "198.51.100.2").await,
        25
    );
    // ...and a client can't escape its bucket by writing other hops left of its own.
    assert_eq!(
        anonymous_calls_until_throttled(&app, "203.0.113.50, 198.51.100.1").await,
        0
    );
    // Failed authentication is counted per forwarded client too.
    let mut throttled = false;
    for _ in 0..60 {
        let res = app
            .post(
                &[
                    ("x-forwarded-for", "198.51.100.3"),
                    (
                        "authorization",
                        "Bearer kros_test_wrongwrongwrongwrongwrongwrong12",
                    ),
                ],
                json!({ "query": "{ viewer { mode } }" }),
            )
            .await;
        if res.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "failed authentication is throttled");
    let other = app
        .post(
            &[
                ("x-forwarded-for", "198.51.100.4"),
                ("authorization", &format!("Bearer {}", app.org.test_key)),
            ],
            json!({ "query": "{ viewer { mode } }" }),
        )
        .await;
    assert_eq!(other.assert_ok()["viewer"]["mode"], "TEST");
}

#[tokio::test]
async fn forwarding_headers_from_untrusted_peers_are_ignored() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.rate_limit.bucket_size = 25;
            c.rate_limit.restore_rate = 1;
        })
        .spawn()
        .await
        .expect("SQLite");
    assert_eq!(
        anonymous_calls_until_throttled(&app, "198.51.100.1").await,
        25
    );
    // A fresh spoofed address is still the same peer, with the same empty bucket.
    assert_eq!(
        anonymous_calls_until_throttled(&app, "198.51.100.2").await,
        0
    );
    let forwarded = app
        .post(
            &[("forwarded", "for=198.51.100.9")],
            json!({ "query": "{ __typename }" }),
        )
        .await;
    assert_eq!(forwarded.status, StatusCode::TOO_MANY_REQUESTS);
}

/// `/readyz`'s body and `/metrics`' text.
async fn readyz_and_metrics(app: &TestApp) -> (StatusCode, serde_json::Value, String) {
    let ready = app
        .client
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("readyz");
    let status = ready.status();
    let body = ready.json().await.expect("JSON");
    let metrics = app
        .client
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    (status, body, metrics)
}

/// The value of a metric's sample (`name{labels}`), if the text has it.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
#[cfg_attr(not(redis_tests), ignore = "TEST_REDIS_URL is not set")]
async fn without_redis_requests_stay_quick_and_limited_in_process_until_redis_returns() {
    let redis = std::env::var("TEST_REDIS_URL").expect(REDIS_UNSET);
    let upstream = url::Url::parse(&redis).expect("Redis URL");
    let proxy = crate::proxy::Proxy::start(format!(
        "{}:{}",
        upstream.host_str().expect("host"),
        upstream.port().unwrap_or(6379)
    ))
    .await;
    let mut through = upstream.clone();
    through.set_host(Some("127.0.0.1")).expect("host");
    through.set_port(Some(proxy.address.port())).expect("port");
    let prefix = format!("cockpit-test:{}:", uuid::Uuid::new_v4());
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| {
            c.rate_limit = RateLimitSettings {
                redis_timeout: Duration::from_millis(200),
                redis_backoff_min: Duration::from_millis(200),
                redis_backoff_max: Duration::from_millis(400),
                ..small_buckets(Some(through.to_string()), &prefix)
            };
        })
        .spawn()
        .await
        .expect("SQLite");
    let costly = "{ a: viewer { mode } b: viewer { mode } c: viewer { mode } d: viewer { mode } e: viewer { mode } f: viewer { mode } g: viewer { mode } h: viewer { mode } i: viewer { mode } j: viewer { mode } }";
    app.graphql(&app.org.test_key, "{ viewer { mode } }", json!({}))
        .await
        .assert_ok();
    let (status, ready, metrics) = readyz_and_metrics(&app).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ready["rateLimiter"], "redis", "{ready}");
    assert_eq!(
        sample(&metrics, "cockpit_dependency_up{dependency=\"redis\"}"),
        Some(1.0),
        "{metrics}"
    );

    for (outage, key) in [
        ("refused", &app.org.test_key),
        ("stalled", &app.org.live_key),
    ] {
        if outage == "refused" {
            proxy.cut().await;
        } else {
            proxy.stall();
        }
        // The bucket of 30 still holds, in this process: three 10-point queries, then 429.
        let started = std::time::Instant::now();
        let mut statuses = Vec::new();
        for _ in 0..5 {
            let asked = std::time::Instant::now();
            let res = app.graphql(key, costly, json!({})).await;
            statuses.push(res.status.as_u16());
            assert!(
                asked.elapsed() < Duration::from_millis(450),
                "{outage}: a request waits for Redis at most its time-out: {:?}",
                asked.elapsed()
            );
        }
        assert_eq!(statuses, [200, 200, 200, 429, 429], "{outage}");
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "{outage}: Redis isn't asked by every request: {:?}",
            started.elapsed()
        );
        let (status, ready, metrics) = readyz_and_metrics(&app).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{outage}: the gateway serves: {ready}"
        );
        assert_eq!(ready["rateLimiter"], "degraded", "{outage}: {ready}");
        assert_eq!(
            sample(&metrics, "cockpit_dependency_up{dependency=\"redis\"}"),
            Some(0.0),
            "{outage}: {metrics}"
        );
        assert!(
            sample(&metrics, "cockpit_rate_limit_fallbacks_total").is_some_and(|n| n >= 4.0),
            "{outage}: {metrics}"
        );

        // Back, Redis is found again by the next probe, and limits are shared again.
        proxy.restore().await;
        let mut back = false;
        for _ in 0..30 {
            app.graphql(&app.org.test_key, "{ __typename }", json!({}))
                .await;
            let (_, ready, _) = readyz_and_metrics(&app).await;
            if ready["rateLimiter"] == "redis" {
                back = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            back,
            "{outage}: Redis is used again within 3 s of its return"
        );
        let (_, _, metrics) = readyz_and_metrics(&app).await;
        assert_eq!(
            sample(&metrics, "cockpit_dependency_up{dependency=\"redis\"}"),
            Some(1.0),
            "{outage}: {metrics}"
        );
    }
}

#[tokio::test]
async fn a_bucket_smaller_than_a_failed_authentications_cost_locks_nobody_out() {
    let app = TestApp::builder(Backend::Sqlite)
        .with_config(|c| c.rate_limit.bucket_size = 10)
        .spawn()
        .await
        .expect("SQLite");
    let res = app
        .graphql(&app.org.test_key, "{ viewer { mode } }", json!({}))
        .await;
    assert_eq!(res.assert_ok()["viewer"]["mode"], "TEST");
    // A failed authentication costs the whole bucket; the address may try again once it
    // has refilled, not never.
    let wrong = app
        .graphql(
            "kros_test_wrongwrongwrongwrongwrongwrong12",
            "{ viewer { mode } }",
            json!({}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
}
