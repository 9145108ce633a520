//! The benchmark's measurements: memory per open subscription, deliveries per second and per
//! CPU-second of the gateway, and latency from commit to delivery at a fixed rate of changes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::clients::{self, Tally, Transport};
use crate::gateway::Database;

/// How long opening subscribers may take before the run reports what opened.
const OPENING: Duration = Duration::from_secs(300);

/// Memory per open subscription, over one transport, on a fresh gateway.
pub struct Memory {
    pub subscribers: usize,
    pub open: u64,
    pub idle_kib: u64,
    /// Three seconds after the last one opened.
    pub with_kib: u64,
    /// After the settling time: what the process keeps once the allocator has handed back the
    /// pages that opening them used and let go of (which it does only as threads free more).
    pub settled_kib: u64,
}

impl Memory {
    pub fn per_subscription_kib(&self, with_kib: u64) -> f64 {
        with_kib.saturating_sub(self.idle_kib) as f64 / self.subscribers.max(1) as f64
    }
}

/// Opens `n` subscriptions over `transport` on a fresh gateway and measures its RSS before
/// and after: once all are open and three seconds have passed, and again `settle` later.
pub async fn memory(
    db: &Database,
    transport: Transport,
    n: usize,
    query: &str,
    settle: Duration,
) -> Memory {
    let gateway = db.start().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_kib = gateway.rss_kib();
    let tally = Arc::new(Tally::default());
    let subscribers = clients::open(transport, n, &gateway.address, &db.key, query, &tally).await;
    let open = gateway.await_open(n as u64, OPENING).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let with_kib = gateway.rss_kib();
    tokio::time::sleep(settle).await;
    let settled_kib = gateway.rss_kib();
    drop(gateway);
    drop(subscribers);
    Memory {
        subscribers: n,
        open,
        idle_kib,
        with_kib,
        settled_kib,
    }
}

/// What the deliveries of one run came to.
pub struct Deliveries {
    pub changes: usize,
    pub expected: u64,
    pub delivered: u64,
    pub failed: u64,
    /// From the first write to the last delivery (or the deadline).
    pub seconds: f64,
    /// CPU time the gateway processes used meanwhile.
    pub cpu_seconds: f64,
    /// Commit to delivery, sorted, in milliseconds (latency runs).
    pub latencies_ms: Vec<f64>,
}

impl Deliveries {
    pub fn per_second(&self) -> f64 {
        self.delivered as f64 / self.seconds
    }

    pub fn per_cpu_second(&self) -> f64 {
        self.delivered as f64 / self.cpu_seconds
    }

    pub fn percentile(&self, p: f64) -> f64 {
        let sorted = &self.latencies_ms;
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    }
}

/// How a load run makes its changes.
pub struct Load {
    pub changes: usize,
    /// Changes per second, evenly spaced; `None`: as fast as four writers can.
    pub rate: Option<u64>,
}

/// The two runs on `n` WebSocket subscribers of one organization, all on the first gateway:
/// throughput (changes as fast as four writers make them) and latency (changes at a fixed
/// rate, made through a second gateway process on PostgreSQL). Every subscriber reads every
/// message.
pub async fn load(db: &Database, n: usize, query: &str, runs: [Load; 2]) -> [Deliveries; 2] {
    let first = db.start().await;
    let second = if db.postgres {
        Some(db.start().await)
    } else {
        None
    };
    let tally = Arc::new(Tally::default());
    let subscribers = clients::open(
        Transport::WebSocket,
        n,
        &first.address,
        &db.key,
        query,
        &tally,
    )
    .await;
    let open = first.await_open(n as u64, OPENING).await;
    assert_eq!(open, n as u64, "not every subscription opened");
    let client = reqwest::Client::new();
    let mut results = Vec::new();
    for run in runs {
        // The latency run writes through the second process, when there is one.
        let writes_to = match (&second, run.rate) {
            (Some(second), Some(_)) => second.address.clone(),
            _ => first.address.clone(),
        };
        tally.timing.store(run.rate.is_some(), Ordering::SeqCst);
        let before = tally.delivered.load(Ordering::SeqCst);
        let failed_before = tally.failed.load(Ordering::SeqCst);
        let expected = (run.changes * n) as u64;
        let cpu_before = first.cpu_seconds() + second.as_ref().map_or(0.0, |g| g.cpu_seconds());
        let started = Instant::now();
        let writing = tokio::spawn(write(
            client.clone(),
            writes_to,
            db.key.clone(),
            run.changes,
            run.rate,
        ));
        // Bounded: the writes' own time, then two minutes for the deliveries to catch up.
        let writes_take = run.rate.map_or(60, |rate| run.changes as u64 / rate.max(1));
        let deadline = started + Duration::from_secs(writes_take + 120);
        let mut last_change = (0, Instant::now());
        loop {
            let delivered = tally.delivered.load(Ordering::SeqCst) - before;
            if delivered >= expected || Instant::now() >= deadline {
                break;
            }
            if delivered != last_change.0 {
                last_change = (delivered, Instant::now());
            } else if writing.is_finished() && last_change.1.elapsed() > Duration::from_secs(15) {
                // Nothing arrived for 15 s after the last write: what is missing is lost.
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu_seconds =
            first.cpu_seconds() + second.as_ref().map_or(0.0, |g| g.cpu_seconds()) - cpu_before;
        let _ = writing.await;
        let mut latencies_ms: Vec<f64> =
            std::mem::take(&mut *tally.latencies.lock().expect("latencies"))
                .into_iter()
                .map(|micros| f64::from(micros) / 1000.0)
                .collect();
        latencies_ms.sort_by(f64::total_cmp);
        results.push(Deliveries {
            changes: run.changes,
            expected,
            delivered: tally.delivered.load(Ordering::SeqCst) - before,
            failed: tally.failed.load(Ordering::SeqCst) - failed_before,
            seconds,
            cpu_seconds,
            latencies_ms,
        });
        // Whatever is still on its way arrives before the next run starts.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(second);
    drop(first);
    drop(subscribers);
    results.try_into().ok().expect("two runs")
}

/// Makes `changes` endpoint changes through `address`: evenly spaced at `rate` a second, or
/// as fast as four writers can.
async fn write(
    client: reqwest::Client,
    address: String,
    key: String,
    changes: usize,
    rate: Option<u64>,
) {
    match rate {
        Some(rate) => {
            let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            let mut writes = tokio::task::JoinSet::new();
            for n in 0..changes {
                ticks.tick().await;
                // Each write on its own task, so a slow one doesn't delay the next tick.
                let (client, address, key) = (client.clone(), address.clone(), key.clone());
                writes.spawn(async move {
                    create(&client, &address, &key, &format!("latency {n}")).await;
                });
            }
            while writes.join_next().await.is_some() {}
        }
        None => {
            let mut writers = tokio::task::JoinSet::new();
            for w in 0..4 {
                let (client, address, key) = (client.clone(), address.clone(), key.clone());
                let count = changes / 4 + usize::from(w < changes % 4);
                writers.spawn(async move {
                    for n in 0..count {
                        create(&client, &address, &key, &format!("w{w} n{n}")).await;
                    }
                });
            }
            while writers.join_next().await.is_some() {}
        }
    }
}

async fn create(client: &reqwest::Client, address: &str, key: &str, name: &str) {
    let body = json!({
        "query": "mutation($input: CreateEndpointInput!) { createEndpoint(input: $input) { userErrors { code } } }",
        "variables": { "input": { "name": name, "type": "WEBHOOK", "url": "https://hooks.example.com/bench" } },
    });
    // SQLite answers 503 when its write lock stays busy: such a change is made again.
    for _ in 0..20 {
        let res = client
            .post(format!("http://{address}/graphql"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .expect("create");
        if res.status().is_success() {
            return;
        }
        assert_eq!(res.status(), 503, "create");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a change could not be made in 20 tries");
}
