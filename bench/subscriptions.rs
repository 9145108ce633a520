//! The subscription benchmark: starts release gateways on a fresh database, opens many
//! WebSocket subscribers (graphql-transport-ws, one `endpointEvents` subscription each) and
//! measures
//! - memory per open subscription (the gateway's RSS before and after opening them),
//! - events per second delivered to every subscriber after they sat idle (changes made as fast
//!   as four writers can through HTTP, each delivered to every subscriber),
//! - latency from an event's commit (its `occurredAt`) to its delivery, p50/p99, with the
//!   changes made through a second gateway process when the database is PostgreSQL (across
//!   processes, through NOTIFY), at a fixed rate.
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example subscriptions -- --subscribers 1000 --events 100
//! cargo run --release --example subscriptions -- --database-url postgres://postgres@127.0.0.1:5432/bench_subs
//! ```
//!
//! A PostgreSQL database named in --database-url is dropped and made again (with psql). Only
//! 127.0.0.1 is used; every loop is bounded.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/cockpit-gateway")]
    gateway: String,
    /// Default: SQLite in a temporary directory (one process; no cross-process latency).
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Changes made for the throughput run.
    #[arg(long, default_value_t = 100)]
    events: usize,
    /// Changes per second for the latency run.
    #[arg(long, default_value_t = 20)]
    rate: u64,
    /// Changes made for the latency run.
    #[arg(long, default_value_t = 200)]
    latency_events: usize,
    /// Subscribers select the endpoint as it is now (a read per delivery), as a dashboard does.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    with_endpoint: bool,
}

const SECRET_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

struct Gateway {
    child: Child,
    address: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn env(database: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database.to_owned()),
        ("COCKPIT_SECRET_KEY", SECRET_KEY.to_owned()),
        // Nothing here measures the limits.
        ("COCKPIT_RATE_LIMIT_BUCKET", "1000000000".to_owned()),
        ("COCKPIT_RATE_LIMIT_RESTORE", "1000000000".to_owned()),
        (
            "COCKPIT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL",
            "10000".to_owned(),
        ),
        ("COCKPIT_MAX_CONNECTIONS_PER_IP", "10000".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
}

fn cli(gateway: &str, database: &str, args: &[&str]) -> String {
    let out = Command::new(gateway)
        .args(args)
        .envs(env(database))
        .output()
        .expect("run the gateway's CLI");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[expect(
    clippy::zombie_processes,
    reason = "Gateway's Drop kills and waits for the child"
)]
async fn start(gateway: &str, database: &str) -> Gateway {
    let address = format!("127.0.0.1:{}", free_port());
    let child = Command::new(gateway)
        .args(["serve", "--listen", &address])
        .envs(env(database))
        .stdout(Stdio::null())
        .spawn()
        .expect("start the gateway");
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if client
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .is_ok()
        {
            return Gateway { child, address };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway did not start");
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscriber(address: &str, key: &str, query: &str) -> Socket {
    let mut request = format!("ws://{address}/graphql")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
    socket
        .send(Message::Text(init.to_string().into()))
        .await
        .expect("init");
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) if text.contains("connection_ack") => break,
            Some(Ok(_)) => {}
            other => panic!("no ack: {other:?}"),
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": query } });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .expect("subscribe");
    socket
}

async fn create(client: &reqwest::Client, address: &str, key: &str, name: &str) {
    let body = json!({
        "query": "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { userErrors { code } } }",
        "variables": { "input": { "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/bench" } },
    });
    let res = client
        .post(format!("http://{address}/graphql"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("create");
    assert!(res.status().is_success());
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let gateway = std::fs::canonicalize(&args.gateway)
        .unwrap_or_else(|_| panic!("no gateway at {}: cargo build --release", args.gateway))
        .display()
        .to_string();
    let tmp = tempfile::tempdir().expect("temp dir");
    let database = match &args.database_url {
        Some(url) => {
            let (base, name) = url
                .split('?')
                .next()
                .unwrap_or(url)
                .rsplit_once('/')
                .expect("a database name");
            for sql in [
                format!("DROP DATABASE IF EXISTS {name}"),
                format!("CREATE DATABASE {name}"),
            ] {
                let ok = Command::new("psql")
                    .args([&format!("{base}/postgres"), "-qc", &sql])
                    .status()
                    .expect("psql");
                assert!(ok.success(), "{sql}");
            }
            url.clone()
        }
        None => format!("sqlite://{}/bench.db?mode=rwc", tmp.path().display()),
    };
    let postgres = database.starts_with("postgres");
    cli(&gateway, &database, &["migrate"]);
    let org = cli(&gateway, &database, &["org", "create", "--name", "Bench"]);
    let key = cli(
        &gateway,
        &database,
        &[
            "key", "create", "--org", &org, "--mode", "test", "--name", "bench",
        ],
    );
    let first = start(&gateway, &database).await;
    let query = if args.with_endpoint {
        "subscription { endpointEvents { id type endpointId endpoint { id name url status } event { occurredAt } } }"
    } else {
        "subscription { endpointEvents { id type endpointId event { occurredAt } } }"
    };
    println!(
        "database: {}; {} subscribers on one process; endpoint read per delivery: {}",
        if postgres { "PostgreSQL" } else { "SQLite" },
        args.subscribers,
        args.with_endpoint
    );

    // Memory per open subscription.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kib(first.child.id());
    let mut sockets = Vec::with_capacity(args.subscribers);
    for _ in 0..args.subscribers {
        sockets.push(subscriber(&first.address, &key, query).await);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open = rss_kib(first.child.id());
    println!(
        "RSS: {:.1} MiB idle, {:.1} MiB with {} subscriptions open: {:.1} KiB per subscription (its WebSocket included)",
        idle as f64 / 1024.0,
        open as f64 / 1024.0,
        args.subscribers,
        (open.saturating_sub(idle)) as f64 / args.subscribers as f64
    );

    // Throughput: every subscriber counts what it receives.
    let received = Arc::new(AtomicU64::new(0));
    let expected = (args.events * args.subscribers) as u64;
    let done = Arc::new(tokio::sync::Notify::new());
    let last_at = Arc::new(std::sync::Mutex::new(Instant::now()));
    let mut readers = tokio::task::JoinSet::new();
    for mut socket in sockets {
        let (received, done, last_at) = (received.clone(), done.clone(), last_at.clone());
        let events = args.events;
        readers.spawn(async move {
            let mut mine = 0;
            while mine < events {
                match tokio::time::timeout(Duration::from_secs(60), socket.next()).await {
                    Ok(Some(Ok(Message::Text(text)))) if text.contains("\"next\"") => {
                        mine += 1;
                        if received.fetch_add(1, Ordering::SeqCst) + 1 == expected {
                            *last_at.lock().expect("lock") = Instant::now();
                            done.notify_one();
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
            socket
        });
    }
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (client, address, key) = (client.clone(), first.address.clone(), key.clone());
        let count = args.events / 4 + usize::from(w < args.events % 4);
        writers.spawn(async move {
            for n in 0..count {
                create(&client, &address, &key, &format!("w{w} n{n}")).await;
            }
        });
    }
    while writers.join_next().await.is_some() {}
    let written = started.elapsed();
    let finished = tokio::time::timeout(Duration::from_secs(120), done.notified()).await;
    let delivered = received.load(Ordering::SeqCst);
    let elapsed = last_at.lock().expect("lock").duration_since(started);
    if finished.is_err() {
        println!("throughput: only {delivered} of {expected} deliveries within 120 s");
    } else {
        println!(
            "throughput: {} changes written in {:.2} s; all {} deliveries done in {:.2} s: {:.0} deliveries/s, {:.1} events/s delivered to every subscriber",
            args.events,
            written.as_secs_f64(),
            expected,
            elapsed.as_secs_f64(),
            expected as f64 / elapsed.as_secs_f64(),
            args.events as f64 / elapsed.as_secs_f64()
        );
    }
    let mut sockets = Vec::new();
    while let Some(Ok(socket)) = readers.join_next().await {
        sockets.push(socket);
    }

    // Latency from commit to delivery, at a fixed rate, measured at one subscriber while all
    // the others stay subscribed; across processes on PostgreSQL.
    let second = if postgres {
        Some(start(&gateway, &database).await)
    } else {
        None
    };
    let writer_address = second
        .as_ref()
        .map_or(first.address.clone(), |g| g.address.clone());
    let mut probe = sockets.pop().expect("a subscriber");
    let mut others = tokio::task::JoinSet::new();
    for mut socket in sockets {
        others.spawn(async move { while let Some(Ok(_)) = socket.next().await {} });
    }
    let (client, key2) = (client.clone(), key.clone());
    let (rate, count) = (args.rate, args.latency_events);
    let writer = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
        for n in 0..count {
            ticks.tick().await;
            create(&client, &writer_address, &key2, &format!("latency {n}")).await;
        }
    });
    let mut latencies = Vec::with_capacity(args.latency_events);
    while latencies.len() < args.latency_events {
        let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(Duration::from_secs(30), probe.next()).await
        else {
            break;
        };
        let now = chrono::Utc::now();
        let message: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let Some(at) = message["payload"]["data"]["endpointEvents"]["event"]["occurredAt"].as_str()
        else {
            continue;
        };
        if let Ok(at) = chrono::DateTime::parse_from_rfc3339(at) {
            latencies.push(
                (now - at.with_timezone(&chrono::Utc))
                    .num_microseconds()
                    .unwrap_or(0) as f64
                    / 1000.0,
            );
        }
    }
    let _ = writer.await;
    latencies.sort_by(f64::total_cmp);
    println!(
        "latency, commit to delivery{} at {} changes/s with {} subscribers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} events)",
        if postgres {
            " across two processes"
        } else {
            " (one process)"
        },
        args.rate,
        args.subscribers,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(f64::NAN),
        latencies.len()
    );
    others.abort_all();
    drop(second);
    drop(first);
}
