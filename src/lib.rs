//! cockpit-gateway: a GraphQL gateway over the KrosAI Cockpit endpoints domain.

pub mod auth;
pub mod breaker;
pub mod cli;
pub mod code;
pub mod config;
pub mod db;
pub mod domain;
pub mod files;
pub mod graphql;
pub mod http;
pub mod locks;
pub mod metrics;
pub mod net;
pub mod notices;
pub mod ratelimit;
pub mod scan;
pub mod schema_check;
pub mod server;
pub mod signals;
pub mod startup;
pub mod tasks;
pub mod telemetry;

pub use http::build_app;

/// Serves `app` on `listener` until a stop signal (SIGTERM, SIGINT, SIGQUIT), letting
/// in-flight requests finish within the shutdown deadline of `limits`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: server::ServerLimits,
    signals: &signals::Signals,
) -> std::io::Result<()> {
    server::serve(listener, app, limits, signals.stopped()).await
}
