//! HTTP transport: the axum router, GraphQL endpoint and GraphiQL page.

mod auth;
mod graphql;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use sea_orm::DatabaseConnection;
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::config::{Config, Limits};
use crate::domain::endpoints;
use crate::domain::secrets::SecretBox;
use crate::graphql::{AppSchema, Services, build_schema};
use crate::ratelimit::RateLimiter;
use crate::startup::StartupError;

#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub db: DatabaseConnection,
    pub auth: Arc<Authenticator>,
    pub limits: Arc<Limits>,
    pub limiter: Arc<RateLimiter>,
}

/// The whole HTTP application over an already migrated database whose secrets `secrets` seals.
/// Serve it with connection info (`into_make_service_with_connect_info::<SocketAddr>`) so
/// that anonymous requests are rate-limited per client address.
pub fn build_app(
    config: &Config,
    db: DatabaseConnection,
    secrets: SecretBox,
) -> Result<Router, StartupError> {
    let limiter = RateLimiter::new(&config.rate_limit).map_err(StartupError::Config)?;
    let schema = build_schema(
        Services {
            db: db.clone(),
            endpoints: endpoints::Settings {
                sip_domains: config.sip_domains.clone(),
                secrets,
            },
            max_page_size: config.limits.max_page_size,
        },
        &config.limits,
    );
    Ok(Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .with_state(AppState {
            schema,
            auth: Arc::new(Authenticator::new(db.clone(), &config.jwt)),
            limits: Arc::new(config.limits.clone()),
            limiter: Arc::new(limiter),
            db,
        })
        .layer(DefaultBodyLimit::max(config.limits.max_body_bytes))
        .layer(TraceLayer::new_for_http()))
}
