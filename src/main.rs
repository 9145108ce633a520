//! The `cockpit-gateway` binary: parses the command line and hands over to the library.

use std::io::IsTerminal;

use clap::Parser;
use std::process::ExitCode;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// mimalloc: per-thread free lists, cheaper than glibc's malloc and free under load (see
/// docs/performance.md, Profiling).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often [`hand_back_freed_memory`] lets mimalloc return what it has freed: its purge delay
/// is one second.
const HAND_BACK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// mimalloc hands the pages it has freed back to the OS a second after freeing them, but only
/// when some thread frees a page later: it has no thread of its own for that. A process that
/// goes quiet after a burst (10,000 subscriptions opening, then idle) keeps what the burst used
/// and let go of: 10–15 KiB a subscription (docs/performance.md). Freeing a block with a page of
/// its own every few seconds runs that hand-back. (`mi_collect` would too, but it is reachable
/// only through `unsafe`, which this crate forbids, and it also walks every heap.)
fn hand_back_freed_memory() {
    // Above mimalloc's largest size class (512 KiB), so the block has a page of its own, which
    // freeing the block frees. Never written to, so never resident.
    const BLOCK: usize = 1 << 20;
    let spawned = std::thread::Builder::new()
        .name("cockpit-hand-back".into())
        .spawn(|| {
            loop {
                std::thread::sleep(HAND_BACK_EVERY);
                // black_box: an allocation nothing reads may be left out altogether.
                drop(std::hint::black_box(Vec::<u8>::with_capacity(BLOCK)));
            }
        });
    if let Err(e) = spawned {
        eprintln!("warning: no thread to hand freed memory back to the OS: {e}");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cockpit_gateway::cli::Cli::parse();
    hand_back_freed_memory();
    let traces = match cockpit_gateway::telemetry::provider(&cli.tracing.settings()) {
        Ok(traces) => traces,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(traces.as_ref());
    // A panic is logged as one line through the logger, with where it happened but not its
    // message, which may quote a request's data; the request's span adds its id.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(location, "panic");
    }));
    let result = cockpit_gateway::cli::run(cli).await;
    if let Some(traces) = traces {
        // What the last requests left is sent before the process ends.
        let _ =
            tokio::task::spawn_blocking(move || cockpit_gateway::telemetry::shutdown(traces)).await;
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// JSON lines for machines, or readable lines in a terminal; `COCKPIT_LOG_FORMAT=json|pretty`
/// overrides. The level follows `RUST_LOG` (default `info`). With `traces`, spans are also
/// exported (see `telemetry`); the log never shows those spans.
fn init_logging(traces: Option<&opentelemetry_sdk::trace::SdkTracerProvider>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into())
        .add_directive(
            format!("{}=off", cockpit_gateway::telemetry::TARGET)
                .parse()
                .expect("a directive"),
        );
    let json = match std::env::var("COCKPIT_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("pretty") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        fmt.json()
            .flatten_event(true)
            // The request's span (its id, method and route) on every line logged inside it.
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed()
    } else {
        fmt.with_filter(filter).boxed()
    };
    let otel = traces.map(cockpit_gateway::telemetry::layer);
    tracing_subscriber::registry().with(fmt).with(otel).init();
}
