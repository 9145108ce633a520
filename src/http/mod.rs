//! HTTP transport: the axum router, GraphQL endpoint and GraphiQL page.

mod apq;
mod auth;
mod body;
mod budget;
pub mod client;
pub mod error;
mod graphiql;
mod graphql;
mod headers;
mod idempotency;
mod media;
mod ops;
mod pipeline;
mod rest;
mod retention;
pub mod trusted;

use std::sync::Arc;

use async_graphql::ValidationMode;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::middleware;
use axum::routing::get;
use sea_orm::DatabaseConnection;

use crate::db::Db;
use tower::ServiceBuilder;
use tower::util::MapResponseLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate as _, SizeAbove};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::Authenticator;
use crate::config::{Config, Limits};
use crate::domain::endpoints;
use crate::domain::events::Hub;
use crate::domain::secrets::SecretBox;
use crate::graphql::usage::{Flusher, Tally, UsageWritten};
use crate::graphql::{AppSchema, Services, build_schema};
use crate::metrics::Metrics;
use crate::notices::Notices;
use crate::ratelimit::RateLimiter;
use crate::startup::StartupError;
use crate::tasks::AbortOnDrop;
use error::Transport;
use retention::Retention;

/// WebSocket operations that run their steps before their stream at once, in one process.
/// 10,000 subscribes at once held ~380 MiB at their peak unbounded (each waiting on the
/// database with its steps' futures), 182 MiB at this. Bounded, they took 18 s to open until
/// the slots asked for while one batch is written were taken together again (`slots`); 2.6 s
/// now.
const OPERATION_STARTS: usize = 128;

/// What every handler reads. Extractors clone it once each per request, so it is one shared
/// allocation: a clone is a reference count, not a copy of the settings.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub schema: AppSchema,
    /// The same schema, validating only what a request can change without changing its
    /// document: for a document that passed full validation before.
    pub schema_for_validated: AppSchema,
    /// What the schemas' resolvers reach — the database as requests read and write it, what
    /// endpoint writes need, this process's live events — for the transports too, and for a
    /// request that runs the resolvers on other data (a unit of work).
    pub services: Services,
    /// The pool under it, for health checks and metrics.
    pub pool: DatabaseConnection,
    pub auth: Arc<Authenticator>,
    pub limits: Arc<Limits>,
    pub limiter: Arc<RateLimiter>,
    /// The bytes each credential's idempotency keys may keep (`http::idempotency`).
    pub idempotent_storage: Arc<RateLimiter>,
    pub metrics: Arc<Metrics>,
    /// Automatic persisted queries; `None` when turned off.
    pub apq: Option<Arc<apq::PersistedQueries>>,
    /// The trusted documents (persisted operations) and what is done with them.
    pub trusted: Arc<trusted::TrustedDocuments>,
    /// The bearer token `/metrics` requires, when set.
    pub metrics_token: Option<Arc<str>>,
    /// Proxies whose forwarding headers name the client.
    pub trusted_proxies: Arc<crate::net::TrustedProxies>,
    /// The schema's fields and connections, as the cost analysis reads them.
    pub schema_shape: Arc<crate::graphql::analysis::SchemaShape>,
    /// Documents already parsed, by their text.
    pub documents: graphql::ParsedDocuments,
    /// Counts what each result used, for its client.
    pub usage: Arc<crate::graphql::usage::Usage>,
    /// Subscriptions open per credential, and how many each may hold.
    pub subscriptions: graphql::SubscriptionSlots,
    /// What subscribers alike share: one render of each event for all of them.
    pub shapes: graphql::Shapes,
    /// The credentials of running API-key subscriptions, checked every second.
    pub rechecks: graphql::Rechecks,
    /// WebSocket operations that may run their steps before their stream at once, in this
    /// process ([`OPERATION_STARTS`]).
    pub operation_starts: Arc<tokio::sync::Semaphore>,
    /// The least time between two results of a live query.
    pub live_query_interval: std::time::Duration,
    /// The server's connection limits: a stream of server-sent events sends keep-alive
    /// comments more often than its idle timeout, a WebSocket must be initialised within its
    /// header read timeout.
    pub server_limits: crate::server::ServerLimits,
    /// What the process hears from the others (kept for as long as the app lives).
    _notices: Notices,
    _retention: Retention,
    /// Writes field usage; its last write is when the app goes.
    _usage: Flusher,
    _trusted_reload: Option<AbortOnDrop>,
}

/// The whole HTTP application over an already migrated database whose secrets `secrets` seals;
/// what is reloadable reloads on `hangups`. Serve it with connection info
/// (`into_make_service_with_connect_info::<SocketAddr>`) so that anonymous requests are
/// rate-limited per client address.
pub fn build_app(
    config: &Config,
    store: Db,
    secrets: SecretBox,
    hangups: crate::signals::Hangups,
) -> Result<Router, StartupError> {
    build(config, store, secrets, hangups).map(|app| app.router)
}

/// The application, and what tells when its field usage is last written once it is dropped.
pub struct App {
    pub router: Router,
    pub usage_written: UsageWritten,
    /// Resolves once the app's subscription slots are given back, after it is dropped.
    pub slots_released: graphql::SlotsReleased,
}

/// `build_app`, with the means to wait for its last write of field usage after serving.
pub fn build(
    config: &Config,
    store: Db,
    secrets: SecretBox,
    hangups: crate::signals::Hangups,
) -> Result<App, StartupError> {
    // The pool under the app's `Db`, for health checks, metrics, notices and retention.
    let Some(db) = store.connection().cloned() else {
        return Err(StartupError::Config(
            "the app is built on the database pool, not on a unit of work".to_owned(),
        ));
    };
    let metrics = Metrics::new(config.usage.max_client_names);
    let limiter = RateLimiter::new(&config.rate_limit, metrics.rate_limit_fallbacks())
        .map_err(StartupError::Config)?;
    let idempotent_storage = idempotency::storage_limiter(config, &metrics)?;
    let cursors = crate::domain::events::Cursors::new(&secrets);
    // Subscription slots are counted where the rate limits are shared, else in the database.
    let slot_store = match &config.rate_limit.redis_url {
        Some(_) => graphql::SlotStore::Redis(
            graphql::RedisSlots::new(&config.rate_limit).map_err(StartupError::Config)?,
        ),
        None => graphql::SlotStore::Database(store.clone()),
    };
    let (subscriptions, slots_released) = graphql::SubscriptionSlots::new(
        config.events.max_subscriptions_per_credential,
        slot_store,
        config.events.subscription_lease,
    );
    let endpoint_settings = endpoints::Settings {
        sip_domains: config.sip_domains.clone(),
        secrets,
        allow_private_webhooks: config.allow_private_webhooks,
        versions: endpoints::Versions::default(),
    };
    let trusted = Arc::new(
        trusted::TrustedDocuments::new(config.trusted_documents.clone())
            .map_err(StartupError::Config)?,
    );
    let mut notices = Notices::new(&db);
    let hearing = notices.hearing.clone();
    let hub = Arc::new(Hub::new(
        store.clone(),
        config.events.subscription_buffer,
        move || Notices::deaf(hearing.as_ref()),
    ));
    notices.listen(&db, hub.clone(), Arc::clone(store.signals()));
    crate::domain::events::start_numbering(&store);
    let services = Services {
        db: store.clone(),
        endpoints: endpoint_settings,
        max_page_size: config.limits.max_page_size,
        hub,
        cursors,
    };
    let tally = Arc::new(Tally::default());
    let schema = build_schema(services.clone(), &config.limits, ValidationMode::Strict);
    let schema_for_validated = build_schema(services.clone(), &config.limits, ValidationMode::Fast);
    let usage = Arc::new(crate::graphql::field_usage(Arc::clone(&tally)));
    let (flusher, usage_written) =
        Flusher::start(store.clone(), tally, config.usage.flush_interval);
    let schema_shape = Arc::new(crate::graphql::analysis::SchemaShape::from_sdl(
        &schema.sdl(),
    ));
    let state = AppState(Arc::new(Shared {
        schema,
        schema_for_validated,
        services,
        auth: Arc::new(Authenticator::new(
            store.clone(),
            &config.jwt,
            notices.hearing.clone(),
        )),
        limits: Arc::new(config.limits.clone()),
        limiter: Arc::new(limiter),
        idempotent_storage: Arc::new(idempotent_storage),
        metrics: Arc::new(metrics),
        apq: apq::PersistedQueries::new(config.limits.apq_cache_bytes).map(Arc::new),
        _trusted_reload: trusted.reload_on(hangups).map(AbortOnDrop),
        trusted,
        metrics_token: config.metrics_token.as_deref().map(Arc::from),
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        schema_shape,
        documents: graphql::ParsedDocuments::default(),
        subscriptions,
        shapes: graphql::Shapes::default(),
        rechecks: graphql::Rechecks::default(),
        operation_starts: Arc::new(tokio::sync::Semaphore::new(OPERATION_STARTS)),
        live_query_interval: config.events.live_query_interval,
        server_limits: config.server.clone(),
        _notices: notices,
        _retention: Retention::start(db.clone(), &config.events, config.usage.retention_days),
        usage,
        _usage: flusher,
        pool: db,
    }));
    let mut graphql_routes = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql/assets/{file}", get(graphiql::asset))
        .route("/graphiql/app.js", get(graphiql::app_js))
        .route("/graphiql/app.css", get(graphiql::app_css))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics));
    if config.fault_injection {
        graphql_routes = graphql_routes.route(
            "/__fault/panic",
            axum::routing::post(ops::panic_after_charging),
        );
    }
    let rest_routes = Router::new()
        .route("/v1/openapi.json", get(rest::openapi))
        .route("/v1/endpoints", get(rest::list).post(rest::create))
        .route(
            "/v1/endpoints/{id}",
            get(rest::get).patch(rest::update).delete(rest::delete),
        );
    let router = Router::new()
        .merge(transport(
            graphql_routes,
            Transport::Graphql,
            &state,
            config,
        ))
        .merge(transport(rest_routes, Transport::Rest, &state, config))
        .with_state(state.clone());
    let cors = headers::cors_layer(&config.cors_origins)?;
    // One layer made of the stack, not a layer each: the router boxes and clones a route's
    // service once per layer it was given, for every request.
    let layers = ServiceBuilder::new()
        // Outermost, so that even answers other layers give (CORS preflights) are observed.
        .layer(middleware::from_fn_with_state(state, ops::observe))
        .option_layer(
            cors.is_some()
                .then(|| MapResponseLayer::new(headers::only_for_an_allowed_origin)),
        )
        .option_layer(cors)
        // gzip or brotli when the client accepts them, for bodies worth it (GraphiQL's
        // bundles, pages of endpoints); small answers go as they are, and streams (event
        // streams, multipart subscriptions) as each message comes, which a compressor would hold.
        .layer(
            CompressionLayer::new().gzip(true).br(true).compress_when(
                SizeAbove::new(1024)
                    .and(NotForContentType::GRPC)
                    .and(NotForContentType::IMAGES)
                    .and(NotForContentType::SSE)
                    .and(NotForContentType::const_new("multipart/mixed")),
            ),
        )
        // Answers are for the caller alone and never to be sniffed as another type; static
        // assets set their own caching.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ));
    Ok(App {
        router: router.layer(layers),
        usage_written,
        slots_released,
    })
}

/// The steps every request of a transport takes before its handler, in the order they run:
/// which transport it is (so refusals come in its envelope), the client's address, the body
/// read whole within its timeout, the failed-authentication throttle, the body size limit.
fn transport(
    routes: Router<AppState>,
    transport: Transport,
    state: &AppState,
    config: &Config,
) -> Router<AppState> {
    // One layer made of the stack (see `router`), outermost first.
    let layers = ServiceBuilder::new()
        .layer(axum::Extension(transport))
        // Outside the panic catcher, so that what a panicking request drew is still told.
        .layer(middleware::from_fn(budget::headers))
        // A panic anywhere behind this answers 500 in the transport's envelope; the request's
        // log line (and the panic's, inside its span) carries its id. What the request had
        // charged stays charged: the bucket is never left half-updated, since a charge is one
        // atomic take.
        .layer(CatchPanicLayer::custom(
            move |_: Box<dyn std::any::Any + Send>| {
                tracing::error!("a request handler panicked");
                // The request is gone by now; its Accept can't be read, so plain JSON.
                let envelope = transport.envelope(&axum::http::HeaderMap::new());
                error::ApiError::internal().render(envelope)
            },
        ))
        .layer(middleware::from_fn_with_state(state.clone(), client_addr))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            body::read_body,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            ops::throttle_failed_auth,
        ))
        .layer(DefaultBodyLimit::max(config.limits.max_body_bytes));
    routes.layer(layers)
}

/// Whether a request says its body is JSON (`application/json`, with any parameters).
pub(crate) fn is_json_body(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// Why a JSON text (a body, or `variables` in a query string) is refused before it is parsed:
/// nested deeper than the nesting limit.
pub(crate) fn check_json_nesting(text: &[u8], limit: usize) -> Result<(), String> {
    let nesting = crate::scan::json_nesting(text);
    if nesting > limit {
        return Err(nesting_message("The JSON", nesting, limit));
    }
    Ok(())
}

pub(crate) fn nesting_message(what: &str, nesting: usize, limit: usize) -> String {
    format!(
        "{what} nests arrays, objects or selections {nesting} deep; the nesting limit is {limit} (`--max-nesting`)."
    )
}

pub(crate) fn body_limit_message(max_bytes: usize) -> String {
    format!("The request body is larger than the body size limit of {max_bytes} bytes.")
}

/// The rate-limit bucket of an address: IPv4 addresses one by one, IPv6 by their /64.
pub(crate) fn address_bucket(ip: std::net::IpAddr) -> String {
    crate::net::ClientKey::of(ip).to_string()
}

/// The address a request comes from, as `client_addr` worked it out; absent when the server
/// runs without connection info.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub std::net::IpAddr);

/// Works out the client's address once per request (behind trusted proxies, from the
/// forwarding headers), for the per-address rate-limit buckets.
async fn client_addr(
    State(state): State<AppState>,
    mut req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    if let Some(peer) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
    {
        let client = state.trusted_proxies.client(peer, req.headers());
        req.extensions_mut().insert(ClientAddr(client));
    }
    next.run(req).await
}
