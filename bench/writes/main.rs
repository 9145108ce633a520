//! The gateway's write benchmark: writes (`createEndpoint`, `updateEndpoint`) from a number of
//! concurrent writers, with and without an `Idempotency-Key`, on SQLite or PostgreSQL, in one
//! organization or spread over many; req/s, p50/p99 and the gateway's CPU per request.
//!
//! ```sh
//! cargo build --release --bin cockpit-gateway --example writes
//! target/release/examples/writes --gateway target/release/cockpit-gateway   # SQLite, 1, 8, 64 writers
//! target/release/examples/writes --database-url postgres://postgres@127.0.0.1:5432/bench_writes \
//!     --writers 32 --orgs 1,100
//! ```
//!
//! Every response is checked (HTTP 200, no `errors`, no `userErrors`); a run with any failure
//! says how many. Each configuration runs on a fresh gateway process over a fresh database.

#[allow(
    dead_code,
    reason = "shared with the subscriptions benchmark, which uses the rest"
)]
#[path = "../subscriptions/gateway.rs"]
mod gateway;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/cockpit-gateway")]
    gateway: String,
    /// Default: SQLite in a temporary directory.
    #[arg(long)]
    database_url: Option<String>,
    /// Concurrent writers (connections), each run on its own.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    writers: Vec<usize>,
    /// Organizations the writers are spread over (each its own API key), each run on its own.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    orgs: Vec<usize>,
    /// Seconds each run writes for.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Cases: create, update.
    #[arg(long, value_delimiter = ',', default_value = "create,update")]
    cases: Vec<String>,
}

const CREATE: &str = "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { endpoint { id name } userErrors { code message } } }";
const UPDATE: &str = "mutation($input: UpdateEndpointInput!) { updateEndpoint(input: $input) { endpoint { id name } userErrors { code message } } }";
/// Endpoints each organization has for the update case, renamed in turn.
const ENDPOINTS: usize = 100;

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    println!(
        "{:7} {:>5} {:>7} {:>6} {:>9} {:>8} {:>8} {:>11} {:>7}",
        "case", "orgs", "writers", "keyed", "req/s", "p50 ms", "p99 ms", "CPU us/req", "failed"
    );
    for &orgs in &args.orgs {
        for &writers in &args.writers {
            for case in &args.cases {
                for keyed in [false, true] {
                    let database = gateway::Database::create(
                        args.gateway.clone(),
                        args.database_url.as_deref(),
                    );
                    let mut keys = vec![database.key.clone()];
                    keys.extend((1..orgs).map(|_| database.new_key()));
                    let gateway = database.start().await;
                    let outcome = load(&gateway, &keys, case, writers, keyed, args.secs).await;
                    println!(
                        "{case:7} {orgs:>5} {writers:>7} {:>6} {:>9.0} {:>8.2} {:>8.2} {:>11.0} {:>7}",
                        if keyed { "yes" } else { "no" },
                        outcome.rate,
                        outcome.p50_ms,
                        outcome.p99_ms,
                        outcome.cpu_us,
                        outcome.failed
                    );
                }
            }
        }
    }
}

struct Outcome {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us: f64,
    failed: u64,
}

/// `writers` writers, writer n writing in organization n modulo the keys, for `secs` seconds.
async fn load(
    gateway: &gateway::Gateway,
    keys: &[String],
    case: &str,
    writers: usize,
    keyed: bool,
    secs: u64,
) -> Outcome {
    let client = reqwest::Client::new();
    let url = format!("http://{}/graphql", gateway.address);
    // The update case's endpoints, made before the clock starts.
    let mut endpoints: Vec<Vec<String>> = Vec::new();
    if case == "update" {
        for key in keys {
            let mut ids = Vec::with_capacity(ENDPOINTS);
            for n in 0..ENDPOINTS {
                let body = write(
                    &client,
                    &url,
                    key,
                    case_body("create", &format!("seed {n}"), None),
                    None,
                )
                .await
                .expect("seeding an endpoint");
                ids.push(body["endpoint"]["id"].as_str().expect("id").to_owned());
            }
            endpoints.push(ids);
        }
    }
    let endpoints = Arc::new(endpoints);
    let failed = Arc::new(AtomicU64::new(0));
    let cpu_before = gateway.cpu_seconds();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let (client, url, failed, endpoints) = (
            client.clone(),
            url.clone(),
            Arc::clone(&failed),
            Arc::clone(&endpoints),
        );
        let org = writer % keys.len();
        let key = keys[org].clone();
        let case = case.to_owned();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0usize;
            while Instant::now() < deadline {
                let name = format!("bench {writer} {n}");
                let id = endpoints
                    .get(org)
                    .map(|ids| ids[(writer + n * writers) % ids.len()].as_str());
                let idempotency = keyed.then(|| uuid::Uuid::new_v4().to_string());
                let sent = Instant::now();
                let body = case_body(&case, &name, id);
                match write(&client, &url, &key, body, idempotency.as_deref()).await {
                    Some(answer) if answer["endpoint"]["name"] == name.as_str() => {
                        latencies.push(sent.elapsed());
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                n += 1;
            }
            latencies
        });
    }
    let mut latencies: Vec<Duration> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("a writer"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = gateway.cpu_seconds() - cpu_before;
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let done = latencies.len() as f64;
    Outcome {
        rate: done / elapsed,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        cpu_us: cpu / done.max(1.0) * 1e6,
        failed: failed.load(Ordering::Relaxed),
    }
}

/// The request of `case` writing `name` (an update renames endpoint `id`).
fn case_body(case: &str, name: &str, id: Option<&str>) -> Value {
    match (case, id) {
        ("update", Some(id)) => {
            json!({ "query": UPDATE, "variables": { "input": { "id": id, "name": name } } })
        }
        _ => json!({ "query": CREATE, "variables": { "input": {
            "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/in"
        } } }),
    }
}

/// One write; its answer when it succeeded (200, no errors, no user errors).
async fn write(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    body: Value,
    idempotency: Option<&str>,
) -> Option<Value> {
    let mut request = client.post(url).bearer_auth(key).json(&body);
    if let Some(idempotency) = idempotency {
        request = request.header("idempotency-key", idempotency);
    }
    let response = request.send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    let answer: Value = response.json().await.ok()?;
    let payload = answer["data"].as_object()?.values().next()?.clone();
    let clean = answer.get("errors").is_none()
        && payload["userErrors"].as_array().is_some_and(Vec::is_empty);
    clean.then_some(payload)
}
