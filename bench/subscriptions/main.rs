//! The subscription benchmark: starts release gateways on a fresh database and measures, with
//! every subscriber reading every message it is sent,
//! - memory per open subscription (the gateway's RSS before and after opening them), over
//!   WebSocket (graphql-transport-ws) and server-sent events (graphql-sse), at each count of
//!   `--subscribers`, each on a fresh gateway;
//! - deliveries per second, and per CPU-second of the gateway (per core), with `--load`
//!   WebSocket subscribers of one organization and changes made as fast as four writers can,
//!   each delivered to every subscriber;
//! - latency from an event's commit (its `occurredAt`) to its delivery, p50/p99 over every
//!   delivery to every subscriber, at `--rate` changes a second, made through a second gateway
//!   process when the database is PostgreSQL (across processes, through NOTIFY).
//!
//! ```sh
//! cargo build --release
//! cargo run --release --example subscriptions
//! cargo run --release --example subscriptions -- --database-url postgres://postgres@127.0.0.1:5432/bench_subs
//! ```
//!
//! Each side of a subscription is an open file: `ulimit -n` must exceed the largest count
//! (the gateways inherit the limit). A PostgreSQL database named in --database-url is dropped
//! and made again (with psql). Only 127.0.0.1 is used; every loop is bounded.

mod clients;
#[allow(
    dead_code,
    reason = "shared with the writes benchmark, which uses the rest"
)]
mod gateway;
mod runs;

use clap::Parser;

use clients::Transport;
use runs::Load;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "target/release/cockpit-gateway")]
    gateway: String,
    /// Default: SQLite in a temporary directory (one process; no cross-process latency).
    #[arg(long)]
    database_url: Option<String>,
    /// Open subscriptions the memory is measured at, each count over each transport.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
    subscribers: Vec<usize>,
    /// Transports the memory is measured over: websocket, sse.
    #[arg(long, value_delimiter = ',', default_value = "websocket,sse")]
    transports: Vec<Transport>,
    /// Seconds after the 3 s measurement of memory to measure it again, settled: past the
    /// WebSocket keep-alive round (30 s), by when the allocator has handed back what opening
    /// used (0: once only).
    #[arg(long, default_value_t = 45)]
    settle: u64,
    /// Subscribers of the throughput and latency runs (0: no such runs).
    #[arg(long, default_value_t = 10_000)]
    load: usize,
    /// Changes made for the throughput run, each delivered to every subscriber.
    #[arg(long, default_value_t = 50)]
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

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let gateway = std::fs::canonicalize(&args.gateway)
        .unwrap_or_else(|_| panic!("no gateway at {}: cargo build --release", args.gateway))
        .display()
        .to_string();
    let most = args
        .subscribers
        .iter()
        .copied()
        .chain([args.load])
        .max()
        .unwrap_or(0);
    let files = gateway::open_files_limit();
    assert!(
        files > most as u64 + 1000,
        "{most} subscribers take {most} open files on each side; the limit is {files}: raise it (ulimit -n)"
    );
    let db = gateway::Database::create(gateway, args.database_url.as_deref());
    let query = if args.with_endpoint {
        "subscription { endpointEvents { id type endpointId endpoint { id name url status } event { occurredAt } } }"
    } else {
        "subscription { endpointEvents { id type endpointId event { occurredAt } } }"
    };
    let database = if db.postgres { "PostgreSQL" } else { "SQLite" };
    println!(
        "database: {database}; endpoint read per delivery: {}; {} cores",
        args.with_endpoint,
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    for &transport in &args.transports {
        for &n in &args.subscribers {
            let settle = std::time::Duration::from_secs(args.settle);
            let m = runs::memory(&db, transport, n, query, settle).await;
            println!(
                "memory, {} × {}: RSS {:.1} MiB idle, {:.1} MiB with {} open: {:.1} KiB per subscription at 3 s, {:.1} KiB settled ({} s later, {:.1} MiB)",
                n,
                transport.name(),
                m.idle_kib as f64 / 1024.0,
                m.with_kib as f64 / 1024.0,
                m.open,
                m.per_subscription_kib(m.with_kib),
                m.per_subscription_kib(m.settled_kib),
                args.settle,
                m.settled_kib as f64 / 1024.0,
            );
        }
    }

    if args.load == 0 {
        return;
    }
    let [throughput, latency] = runs::load(
        &db,
        args.load,
        query,
        [
            Load {
                changes: args.events,
                rate: None,
            },
            Load {
                changes: args.latency_events,
                rate: Some(args.rate),
            },
        ],
    )
    .await;
    println!(
        "throughput, {} WebSocket subscribers: {} changes as fast as 4 writers make them: {} of {} deliveries in {:.2} s ({} failed): {:.0} deliveries/s, {:.0} per CPU-second of the gateway",
        args.load,
        throughput.changes,
        throughput.delivered,
        throughput.expected,
        throughput.seconds,
        throughput.failed,
        throughput.per_second(),
        throughput.per_cpu_second()
    );
    println!(
        "latency, commit to delivery{} at {} changes/s, {} WebSocket subscribers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} of {} deliveries ({} failed); {:.0} deliveries/s, {:.0} per CPU-second",
        if db.postgres {
            ", written through a second process"
        } else {
            " (one process)"
        },
        args.rate,
        args.load,
        latency.percentile(50.0),
        latency.percentile(99.0),
        latency.latencies_ms.last().copied().unwrap_or(f64::NAN),
        latency.delivered,
        latency.expected,
        latency.failed,
        latency.per_second(),
        latency.per_cpu_second()
    );
}
