//! The `cockpit-gateway` binary: parses the command line and hands over to the library.

use std::io::IsTerminal;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc: per-thread free lists, cheaper than glibc's malloc and free under load (see
/// docs/performance.md, Profiling).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    // A panic is logged as one line through the logger, with where it happened but not its
    // message, which may quote a request's data; the request's span adds its id.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(location, "panic");
    }));
    let cli = cockpit_gateway::cli::Cli::parse();
    match cockpit_gateway::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// JSON lines for machines, or readable lines in a terminal; `COCKPIT_LOG_FORMAT=json|pretty`
/// overrides. The level follows `RUST_LOG` (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,sea_orm=warn".into());
    let json = match std::env::var("COCKPIT_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("pretty") => false,
        _ => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            // The request's span (its id, method and route) on every line logged inside it.
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}
