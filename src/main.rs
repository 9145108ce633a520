//! The `cockpit-gateway` binary: parses the command line and hands over to the library.

use std::io::IsTerminal;

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let cli = cockpit_gateway::cli::Cli::parse();
    match cockpit_gateway::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
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
