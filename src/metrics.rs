//! Prometheus metrics: requests, errors by code, latency, database pool use, open
//! subscriptions, requests by client name, and whether the dependencies that may fail (Redis,
//! the JWKS host) answer.

use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sea_orm::DatabaseConnection;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    client: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DependencyLabels {
    dependency: &'static str,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    duration: HistogramFamily,
    pool: Family<PoolLabels, Gauge>,
    subscriptions: Gauge,
    dependency_up: Family<DependencyLabels, Gauge>,
    rate_limit_fallbacks: Counter,
    /// Events resolved for subscribers alike, once for all of them (`subscription_renders`),
    /// and the results delivered to each (`subscription_deliveries`).
    pub subscription_renders: Counter,
    pub subscription_deliveries: Counter,
    client_requests: Family<ClientLabels, Counter>,
    client_names: ClientNames,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(crate::config::UsageSettings::default().max_client_names)
    }
}

impl Metrics {
    /// The metrics, labelling requests with the first `max_client_names` client names seen.
    pub fn new(max_client_names: usize) -> Self {
        let mut registry = Registry::with_prefix("cockpit");
        let requests = Family::<RequestLabels, Counter>::default();
        let errors = Family::<ErrorLabels, Counter>::default();
        let duration: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let pool = Family::<PoolLabels, Gauge>::default();
        let subscriptions = Gauge::default();
        let dependency_up = Family::<DependencyLabels, Gauge>::default();
        let rate_limit_fallbacks = Counter::default();
        let subscription_renders = Counter::default();
        let subscription_deliveries = Counter::default();
        let client_requests = Family::<ClientLabels, Counter>::default();
        registry.register(
            "client_requests",
            "HTTP requests and WebSocket operations, by the name the client gives (`other` past --max-client-names names, `unknown` for none)",
            client_requests.clone(),
        );
        registry.register(
            "dependency_up",
            "Whether a configured dependency answered its last call (1) or is failing (0)",
            dependency_up.clone(),
        );
        registry.register(
            "rate_limit_fallbacks",
            "Rate-limit decisions made in this process's buckets because Redis was unavailable",
            rate_limit_fallbacks.clone(),
        );
        registry.register(
            "subscriptions_open",
            "Subscriptions open in this process (WebSocket and server-sent events)",
            subscriptions.clone(),
        );
        registry.register(
            "subscription_renders",
            "Events resolved for a subscription's selection: once per event for every subscriber whose result is the same",
            subscription_renders.clone(),
        );
        registry.register(
            "subscription_deliveries",
            "Events delivered to subscribers, each subscriber's counted",
            subscription_deliveries.clone(),
        );
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "graphql_errors",
            "GraphQL errors returned, by extensions.code",
            errors.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            duration.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Database pool connections, by state",
            pool.clone(),
        );
        Self {
            registry,
            requests,
            errors,
            duration,
            pool,
            subscriptions,
            dependency_up,
            rate_limit_fallbacks,
            subscription_renders,
            subscription_deliveries,
            client_requests,
            client_names: ClientNames::new(max_client_names),
        }
    }
}

/// The names clients give, as labels: the first `max` distinct names are kept, later ones
/// are `other`, and no name is `unknown`, so clients can't grow the label set without limit.
pub struct ClientNames {
    max: usize,
    seen: RwLock<HashSet<Arc<str>>>,
    other: Arc<str>,
    unknown: Arc<str>,
}

impl ClientNames {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            seen: RwLock::default(),
            other: Arc::from("other"),
            unknown: Arc::from("unknown"),
        }
    }

    /// The label of a client's name.
    pub fn label(&self, name: Option<&str>) -> Arc<str> {
        let Some(name) = name else {
            return self.unknown.clone();
        };
        let seen = self.seen.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = seen.get(name) {
            return known.clone();
        }
        let full = seen.len() >= self.max;
        drop(seen);
        if full {
            return self.other.clone();
        }
        let mut seen = self.seen.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = seen.get(name) {
            return known.clone();
        }
        if seen.len() >= self.max {
            return self.other.clone();
        }
        let label: Arc<str> = Arc::from(name);
        seen.insert(label.clone());
        label
    }
}

/// The label of a matched route (`/v1/endpoints/{id}`), or `other` for a path no route
/// matched, so unknown paths can't grow the metrics without limit. Route templates come from
/// the router, a fixed set, so each is leaked once and labels cost no allocation afterwards.
pub fn route_label(matched: Option<&str>) -> &'static str {
    static ROUTES: std::sync::OnceLock<std::sync::RwLock<std::collections::HashSet<&'static str>>> =
        std::sync::OnceLock::new();
    let Some(route) = matched else {
        return "other";
    };
    let routes = ROUTES.get_or_init(Default::default);
    if let Some(known) = routes
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(route)
    {
        return known;
    }
    let mut routes = routes
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(known) = routes.get(route) {
        return known;
    }
    let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
    routes.insert(leaked);
    leaked
}

impl Metrics {
    pub fn record(
        &self,
        method: &'static str,
        route: &'static str,
        status: u16,
        elapsed: Duration,
        codes: &[String],
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
        for code in codes {
            self.errors
                .get_or_create(&ErrorLabels { code: code.clone() })
                .inc();
        }
    }

    /// The label of a client's name (see [`ClientNames`]).
    pub fn client_label(&self, name: Option<&str>) -> Arc<str> {
        self.client_names.label(name)
    }

    /// Counts a request (or WebSocket operation) of the client labelled `client`.
    pub fn record_client(&self, client: Arc<str>) {
        self.client_requests
            .get_or_create(&ClientLabels { client })
            .inc();
    }

    /// The counter the rate limiter adds its fallbacks to.
    pub fn rate_limit_fallbacks(&self) -> Counter {
        self.rate_limit_fallbacks.clone()
    }

    /// The metrics as text, with the pool's use, `subscriptions` (open now) and whether each
    /// configured dependency is up read first.
    pub fn render(
        &self,
        db: &DatabaseConnection,
        subscriptions: usize,
        dependencies: &[(&'static str, bool)],
    ) -> String {
        self.subscriptions
            .set(i64::try_from(subscriptions).unwrap_or(i64::MAX));
        for &(dependency, up) in dependencies {
            self.dependency_up
                .get_or_create(&DependencyLabels { dependency })
                .set(i64::from(up));
        }
        let (size, idle) = pool_usage(db);
        self.pool
            .get_or_create(&PoolLabels { state: "idle" })
            .set(idle);
        self.pool
            .get_or_create(&PoolLabels { state: "in_use" })
            .set(size - idle);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String does not fail");
        text
    }
}

/// (open connections, idle connections) of the pool.
fn pool_usage(db: &DatabaseConnection) -> (i64, i64) {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (i64::from(pool.size()), pool.num_idle() as i64)
        }
        sea_orm::DatabaseBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (i64::from(pool.size()), pool.num_idle() as i64)
        }
        _ => (0, 0),
    }
}
