//! The per-credential subscription limit holds across gateway processes: counted in the
//! database, or in Redis when one is configured; a slot is given back when its subscription
//! ends, and a dead process's slots stop counting when their lease ends.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;
use crate::live::*;

fn webhook(name: &str) -> serde_json::Value {
    json!({ "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/in" })
}

/// The next result of `ws` is the limit's refusal.
async fn assert_refused(ws: &mut Ws, what: &str) {
    let payload = ws.next_payload().await;
    assert_eq!(
        payload["errors"][0]["extensions"]["code"], "SUBSCRIPTION_LIMIT_EXCEEDED",
        "{what}: {payload}"
    );
}

/// Two gateways on one database, each configured by `configure`.
async fn two_gateways(
    backend: Backend,
    configure: impl Fn(&mut cockpit_gateway::config::Config) + Copy,
) -> (TestApp, TestApp) {
    let Some(first) = TestApp::builder(backend)
        .with_config(configure)
        .spawn()
        .await
    else {
        panic!("{POSTGRES_UNSET}");
    };
    let second = TestApp::builder(backend)
        .on(first.test_db.shared())
        .with_config(configure)
        .spawn()
        .await
        .expect("a second gateway");
    (first, second)
}

/// Two gateways on one database (and `redis`, when given), each allowing 2 subscriptions per
/// credential: together they allow 2.
async fn two_gateways_share_one_limit(backend: Backend, redis: Option<(String, String)>) {
    let configure = |c: &mut cockpit_gateway::config::Config| {
        c.events.max_subscriptions_per_credential = 2;
        if let Some((url, prefix)) = &redis {
            c.rate_limit.redis_url = Some(url.clone());
            c.rate_limit.redis_prefix = prefix.clone();
        }
    };
    let (first, second) = two_gateways(backend, configure).await;
    let key = first.org.test_key.clone();
    let mut a = Ws::with_key(&first.address, &key).await;
    a.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
    a.subscribe("2", ENDPOINT_EVENTS, json!({})).await;
    a.assert_silent(Duration::from_millis(300)).await;
    // At its limit on the first gateway: refused on the second.
    let mut b = Ws::with_key(&second.address, &key).await;
    b.subscribe("3", ENDPOINT_EVENTS, json!({})).await;
    assert_refused(&mut b, "at the limit on the other gateway").await;
    // Another credential is not held to it.
    let mut live = Ws::with_key(&second.address, &first.org.live_key).await;
    live.subscribe("4", ENDPOINT_EVENTS, json!({})).await;
    live.assert_silent(Duration::from_millis(300)).await;

    // Stopping one on the first frees a slot on the second.
    a.send(json!({ "id": "1", "type": "complete" })).await;
    assert_eq!(a.next_json().await.expect("complete")["type"], "complete");
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.subscribe("5", ENDPOINT_EVENTS, json!({})).await;
    b.assert_silent(Duration::from_millis(300)).await;
    first.create_ok(&key, webhook("Counted")).await;
    assert_eq!(b.next_event().await["endpoint"]["name"], "Counted");
    assert_eq!(a.next_event().await["endpoint"]["name"], "Counted");
    b.subscribe("6", ENDPOINT_EVENTS, json!({})).await;
    assert_refused(&mut b, "full again").await;
    // A client that goes away gives back its slots too.
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.subscribe("7", ENDPOINT_EVENTS, json!({})).await;
    b.assert_silent(Duration::from_millis(300)).await;
    let mut c = Ws::with_key(&first.address, &key).await;
    c.subscribe("8", ENDPOINT_EVENTS, json!({})).await;
    assert_refused(&mut c, "both held on the second gateway").await;
}

#[tokio::test]
async fn the_subscription_limit_holds_across_gateways_on_one_database_on_sqlite() {
    two_gateways_share_one_limit(Backend::Sqlite, None).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn the_subscription_limit_holds_across_gateways_on_one_database_on_postgres() {
    two_gateways_share_one_limit(Backend::Postgres, None).await;
}

/// Why a Redis test that runs can't.
const REDIS_UNSET: &str = "TEST_REDIS_URL is not set: this test needs Redis";

fn redis() -> (String, String) {
    let url = std::env::var("TEST_REDIS_URL").expect(REDIS_UNSET);
    (url, format!("cockpit-test:{}:", uuid::Uuid::new_v4()))
}

#[tokio::test]
#[cfg_attr(not(redis_tests), ignore = "TEST_REDIS_URL is not set")]
async fn the_subscription_limit_holds_across_gateways_sharing_redis_on_sqlite() {
    two_gateways_share_one_limit(Backend::Sqlite, Some(redis())).await;
}

#[tokio::test]
#[cfg_attr(
    not(all(postgres_tests, redis_tests)),
    ignore = "TEST_DATABASE_URL or TEST_REDIS_URL is not set"
)]
async fn the_subscription_limit_holds_across_gateways_sharing_redis_on_postgres() {
    two_gateways_share_one_limit(Backend::Postgres, Some(redis())).await;
}

/// A gateway process killed while it holds a credential's only slot: another gateway refuses
/// that credential until the dead one's lease ends (3 s here), then lets it subscribe.
/// With Redis, both use the default key prefix (the process can't be given another); the
/// credential's key is new, so no other test shares its slots.
async fn a_dead_process_slots_end_with_their_lease(backend: Backend, redis: Option<String>) {
    let redis_for_app = redis.clone();
    let Some(app) = TestApp::builder(backend)
        .with_config(|c| {
            c.events.max_subscriptions_per_credential = 1;
            c.rate_limit.redis_url = redis_for_app;
        })
        .spawn()
        .await
    else {
        panic!("{POSTGRES_UNSET}");
    };
    let mut env = vec![
        ("COCKPIT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL", "1".to_owned()),
        ("COCKPIT_SUBSCRIPTION_LEASE_SECS", "3".to_owned()),
    ];
    if let Some(url) = &redis {
        env.push(("REDIS_URL", url.clone()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut child, address) = serve_process(&app.test_db, &env).await;
    let key = app.org.test_key.clone();
    let mut doomed = Ws::with_key(&format!("http://{address}"), &key).await;
    doomed.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
    doomed.assert_silent(Duration::from_millis(300)).await;
    child.kill().expect("kill");
    child.wait().expect("wait");
    let killed = Instant::now();
    let mut ws = Ws::with_key(&app.address, &key).await;
    ws.subscribe("2", ENDPOINT_EVENTS, json!({})).await;
    assert_refused(&mut ws, "the dead process's lease still runs").await;
    tokio::time::sleep(Duration::from_millis(3500).saturating_sub(killed.elapsed())).await;
    ws.subscribe("3", ENDPOINT_EVENTS, json!({})).await;
    ws.assert_silent(Duration::from_millis(300)).await;
    app.create_ok(&key, webhook("After the lease")).await;
    assert_eq!(ws.next_event().await["endpoint"]["name"], "After the lease");
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_dead_process_slots_end_with_their_lease_on_postgres() {
    a_dead_process_slots_end_with_their_lease(Backend::Postgres, None).await;
}

#[tokio::test]
#[cfg_attr(
    not(all(postgres_tests, redis_tests)),
    ignore = "TEST_DATABASE_URL or TEST_REDIS_URL is not set"
)]
async fn a_dead_process_slots_end_with_their_lease_in_redis_on_postgres() {
    a_dead_process_slots_end_with_their_lease(Backend::Postgres, Some(redis().0)).await;
}

/// A gateway process stopped as an operator stops it (SIGTERM) gives back every slot it holds
/// before it exits — many at once, before its database connections close — so the credential
/// may subscribe again at once, long before the leases would have ended.
async fn a_stopped_process_gives_back_its_slots(backend: Backend, redis: Option<String>) {
    const HELD: usize = 60;
    let redis_for_app = redis.clone();
    let Some(app) = TestApp::builder(backend)
        .with_config(|c| {
            c.events.max_subscriptions_per_credential = HELD;
            c.rate_limit.redis_url = redis_for_app;
        })
        .spawn()
        .await
    else {
        panic!("{POSTGRES_UNSET}");
    };
    let held = HELD.to_string();
    let mut env = vec![
        ("COCKPIT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL", held.clone()),
        ("COCKPIT_SUBSCRIPTION_LEASE_SECS", "600".to_owned()),
    ];
    if let Some(url) = &redis {
        env.push(("REDIS_URL", url.clone()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut child, address) = serve_process(&app.test_db, &env).await;
    // A new organization's key: no other test holds its slots.
    let key = app.new_org("Stopping").await.test_key;
    let mut sockets = Vec::new();
    for socket in 0..3 {
        let mut ws = Ws::with_key(&format!("http://{address}"), &key).await;
        for n in 0..HELD / 3 {
            ws.subscribe(&format!("{socket}-{n}"), ENDPOINT_EVENTS, json!({}))
                .await;
        }
        sockets.push(ws);
    }
    // Every slot is taken (the process counts them open): one more is refused.
    await_open(&format!("http://{address}"), HELD).await;
    let mut ws = Ws::with_key(&app.address, &key).await;
    ws.subscribe("over", ENDPOINT_EVENTS, json!({})).await;
    assert_refused(&mut ws, "the process holds every slot").await;

    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(stopped.success());
    let status = child.wait().expect("wait");
    assert!(
        status.success(),
        "a stopped gateway exits cleanly: {status:?}"
    );
    // At once, not after ten minutes: every slot is free again.
    for n in 0..HELD {
        ws.subscribe(&format!("again-{n}"), ENDPOINT_EVENTS, json!({}))
            .await;
    }
    await_open(&app.address, HELD).await;
    ws.assert_silent(Duration::from_millis(300)).await;
    app.create_ok(&key, webhook("After the stop")).await;
    for _ in 0..HELD {
        assert_eq!(ws.next_event().await["endpoint"]["name"], "After the stop");
    }
    drop(sockets);
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_stopped_process_gives_back_its_slots_on_postgres() {
    a_stopped_process_gives_back_its_slots(Backend::Postgres, None).await;
}

#[tokio::test]
#[cfg_attr(
    not(all(postgres_tests, redis_tests)),
    ignore = "TEST_DATABASE_URL or TEST_REDIS_URL is not set"
)]
async fn a_stopped_process_gives_back_its_slots_in_redis_on_postgres() {
    a_stopped_process_gives_back_its_slots(Backend::Postgres, Some(redis().0)).await;
}

/// Waits (5 s at most) until the gateway at `address` counts `n` subscriptions open.
async fn await_open(address: &str, n: usize) {
    let metrics = format!("{address}/metrics");
    let want = format!("cockpit_subscriptions_open {n}");
    let mut open = String::new();
    for _ in 0..100 {
        let text = reqwest::get(&metrics)
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        open = text
            .lines()
            .find(|l| l.starts_with("cockpit_subscriptions_open "))
            .unwrap_or_default()
            .to_owned();
        if open == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(open, want);
}

/// Subscriptions given up while they start (the client gone right after `subscribe`, at every
/// moment of the start) leave no slot taken: with 5 allowed, 5 start afterwards.
async fn a_subscription_given_up_while_it_starts_leaves_no_slot_taken(backend: Backend) {
    const ALLOWED: usize = 5;
    let Some(app) = TestApp::builder(backend)
        .with_config(|c| c.events.max_subscriptions_per_credential = ALLOWED)
        .spawn()
        .await
    else {
        panic!("{POSTGRES_UNSET}");
    };
    let key = app.org.test_key.clone();
    let mut given_up = tokio::task::JoinSet::new();
    for n in 0..400u64 {
        let (address, key) = (app.address.clone(), key.clone());
        given_up.spawn(async move {
            let mut ws = Ws::with_key(&address, &key).await;
            ws.subscribe("1", ENDPOINT_EVENTS, json!({})).await;
            // From at once to 10 ms in, across the start.
            tokio::time::sleep(Duration::from_micros(n % 40 * 250)).await;
            drop(ws);
        });
        if given_up.len() >= 8 {
            given_up.join_next().await;
        }
    }
    while given_up.join_next().await.is_some() {}
    await_open(&app.address, 0).await;
    // What the ended ones held is given back within a moment.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut ws = Ws::with_key(&app.address, &key).await;
    for n in 0..ALLOWED {
        ws.subscribe(&n.to_string(), ENDPOINT_EVENTS, json!({}))
            .await;
    }
    await_open(&app.address, ALLOWED).await;
    ws.assert_silent(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_subscription_given_up_while_it_starts_leaves_no_slot_taken_on_sqlite() {
    a_subscription_given_up_while_it_starts_leaves_no_slot_taken(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_subscription_given_up_while_it_starts_leaves_no_slot_taken_on_postgres() {
    a_subscription_given_up_while_it_starts_leaves_no_slot_taken(Backend::Postgres).await;
}

/// What `sockets` were sent within a while, by kind: refusals for the limit, and results of an
/// event; anything else fails the test.
async fn tally(sockets: &mut [Ws]) -> (usize, usize) {
    let (mut refused, mut delivered) = (0, 0);
    for ws in sockets {
        while let Some(frame) = ws.frame_within(Duration::from_millis(700)).await {
            let Frame::Json(message) = frame else {
                panic!("the connection ended: {frame:?}");
            };
            let code = &message["payload"][0]["extensions"]["code"];
            if message["type"] == "error" && code == "SUBSCRIPTION_LIMIT_EXCEEDED" {
                refused += 1;
            } else if message["type"] == "next"
                && message["payload"]["data"]["endpointEvents"]["type"] == "ENDPOINT_CREATED"
            {
                delivered += 1;
            } else {
                panic!("unexpected: {message}");
            }
        }
    }
    (refused, delivered)
}

/// A burst of one credential's subscriptions on two gateways at once (a fleet reconnecting):
/// each gateway takes the slots asked of it meanwhile together, and together they start
/// exactly as many as the credential may hold; every other is refused, and every one started
/// delivers. `EACH` subscribes on each of `SOCKETS` sockets per gateway, `ALLOWED` of them in
/// all.
async fn a_burst_on_two_gateways_starts_exactly_the_limit<
    const ALLOWED: usize,
    const SOCKETS: usize,
    const EACH: usize,
>(
    backend: Backend,
) {
    let configure = |c: &mut cockpit_gateway::config::Config| {
        c.events.max_subscriptions_per_credential = ALLOWED;
        c.rate_limit.bucket_size = 1_000_000;
        c.rate_limit.restore_rate = 1_000_000;
    };
    let (first, second) = two_gateways(backend, configure).await;
    let key = first.org.test_key.clone();
    let mut sockets = Vec::new();
    for app in [&first, &second] {
        for _ in 0..SOCKETS {
            sockets.push(Ws::with_key(&app.address, &key).await);
        }
    }
    // Every subscribe sent before any is answered.
    for n in 0..EACH {
        for ws in &mut sockets {
            ws.subscribe(&n.to_string(), ENDPOINT_EVENTS, json!({}))
                .await;
        }
    }
    let (refused, delivered) = tally(&mut sockets).await;
    assert_eq!((refused, delivered), (2 * SOCKETS * EACH - ALLOWED, 0));
    first.create_ok(&key, webhook("Burst")).await;
    assert_eq!(tally(&mut sockets).await, (0, ALLOWED));
}

#[tokio::test]
async fn a_burst_on_two_gateways_starts_exactly_the_limit_on_sqlite() {
    a_burst_on_two_gateways_starts_exactly_the_limit::<13, 4, 10>(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_burst_on_two_gateways_starts_exactly_the_limit_on_postgres() {
    a_burst_on_two_gateways_starts_exactly_the_limit::<13, 4, 10>(Backend::Postgres).await;
}

/// A burst larger than a gateway starts at once (160 subscribes each, 40 a socket), with room
/// for most: the ones waiting their turn to start take their slots as the others do, and all
/// but the limit's excess start and deliver.
#[tokio::test]
async fn a_burst_past_what_a_gateway_starts_at_once_starts_exactly_the_limit_on_sqlite() {
    a_burst_on_two_gateways_starts_exactly_the_limit::<250, 4, 40>(Backend::Sqlite).await;
}

#[tokio::test]
#[cfg_attr(not(postgres_tests), ignore = "TEST_DATABASE_URL is not set")]
async fn a_burst_past_what_a_gateway_starts_at_once_starts_exactly_the_limit_on_postgres() {
    a_burst_on_two_gateways_starts_exactly_the_limit::<250, 4, 40>(Backend::Postgres).await;
}
