//! cockpit-gateway: a GraphQL gateway over the KrosAI Cockpit endpoints domain.

pub mod auth;
pub mod breaker;
pub mod cli;
pub mod code;
pub mod config;
pub mod db;
pub mod domain;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod net;
pub mod notices;
pub mod ratelimit;
pub mod scan;
pub mod server;
pub mod startup;

pub use http::build_app;

/// Serves `app` on `listener` until SIGINT/SIGTERM, letting in-flight requests finish within
/// the shutdown deadline of `limits`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: server::ServerLimits,
) -> std::io::Result<()> {
    server::serve(listener, app, limits, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
