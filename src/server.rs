//! placeholder until the server loop lands
use std::time::Duration;
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections_per_ip: usize,
    pub shutdown_timeout: Duration,
}
impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections_per_ip: 64,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    _limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
