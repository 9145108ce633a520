//! Runtime configuration, from flags and environment variables (parsed in `cli`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::jwt::JwtSettings;
use crate::domain::provider::SipDomains;
use crate::ratelimit::RateLimitSettings;

/// What one request may ask of the gateway. Each is refused with an error naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// Deepest field nesting of an operation.
    pub max_depth: usize,
    /// Deepest nesting of brackets in a document (selection sets, lists, objects, types) and
    /// of arrays and objects in a JSON body; measured before parsing, so no parser recurses
    /// deeper than this.
    pub max_nesting: usize,
    /// Most lexical tokens in one GraphQL document; measured before parsing.
    pub max_tokens: usize,
    /// Most field selections of an operation once its fragments are expanded.
    pub max_fields: u64,
    /// Highest cost of one operation (objects it may return; connections cost `first` ×).
    pub max_cost: u64,
    pub max_aliases: usize,
    pub max_directives: usize,
    /// Largest `first` of a connection.
    pub max_page_size: u64,
    pub request_timeout: Duration,
    /// A request body must arrive whole within this (408 after).
    pub body_read_timeout: Duration,
    /// Operations per batched request; `None` refuses batches (the default).
    pub max_batch: Option<usize>,
    pub introspection: bool,
    pub suggestions: bool,
    /// Query text kept for automatic persisted queries, in bytes; 0 turns them off.
    pub apq_cache_bytes: u64,
    /// The longest response an `Idempotency-Key` keeps; a longer one is refused unwritten.
    pub idempotent_response_bytes: usize,
    /// Bytes of responses one credential's keys may keep per 24 hours (a bucket refilled over
    /// a key's lifetime, so at most twice this is kept at once).
    pub idempotent_storage_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_depth: 15,
            max_nesting: 32,
            max_tokens: 10_000,
            max_fields: 10_000,
            max_cost: 1000,
            max_aliases: 30,
            max_directives: 50,
            max_page_size: 100,
            request_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(10),
            max_batch: None,
            introspection: true,
            suggestions: true,
            apq_cache_bytes: 8 * 1024 * 1024,
            idempotent_response_bytes: 64 * 1024,
            idempotent_storage_bytes: 32 * 1024 * 1024,
        }
    }
}

/// How long events are kept, and what subscribers to them may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSettings {
    /// Events older than this are deleted, in small batches.
    pub retention: Duration,
    /// How often retention runs (first at start).
    pub retention_sweep: Duration,
    /// Open subscriptions one API key or user may hold at once, across its connections and
    /// every gateway process.
    pub max_subscriptions_per_credential: usize,
    /// How long a subscription's slot is held without its process renewing it (renewed every
    /// third of it): how long a dead process's slots still count.
    pub subscription_lease: Duration,
    /// Events a subscriber may fall behind by before it is disconnected as too slow.
    pub subscription_buffer: usize,
    /// The least time between two results of a live query (`@live`): the changes within it
    /// are answered by one run.
    pub live_query_interval: Duration,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(90 * 24 * 60 * 60),
            retention_sweep: Duration::from_secs(60 * 60),
            max_subscriptions_per_credential: 25,
            subscription_lease: Duration::from_secs(30),
            subscription_buffer: 256,
            live_query_interval: Duration::from_millis(250),
        }
    }
}

/// Client names and field usage: how many names label the metrics, how often usage counted in
/// memory is written to the database, and how long it is kept there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSettings {
    /// Distinct client names kept as labels; later ones are counted as `other`.
    pub max_client_names: usize,
    /// How often field usage is written (and once more at shutdown).
    pub flush_interval: Duration,
    /// Days of field usage kept; older days are deleted by the retention sweep.
    pub retention_days: u32,
}

impl Default for UsageSettings {
    fn default() -> Self {
        Self {
            max_client_names: 50,
            flush_interval: Duration::from_secs(60),
            retention_days: 30,
        }
    }
}

#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub sip_domains: SipDomains,
    /// `COCKPIT_SECRET_KEY`: seals stored secrets. Optional for SQLite (a key file is made).
    pub secret_key: Option<String>,
    /// How dashboard sessions (Supabase JWTs) are verified; none are accepted when unset.
    pub jwt: JwtSettings,
    pub limits: Limits,
    pub rate_limit: RateLimitSettings,
    /// Origins allowed to call from a browser (CORS); none when empty.
    pub cors_origins: Vec<String>,
    /// Whether webhook URLs may point at `localhost` and private or loopback addresses.
    pub allow_private_webhooks: bool,
    /// When set, `GET /metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<String>,
    /// Connection-level limits of the HTTP server.
    pub server: crate::server::ServerLimits,
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers name the client; none by default.
    pub trusted_proxies: crate::net::TrustedProxies,
    pub events: EventSettings,
    /// Trusted documents (persisted operations): the manifest and its mode.
    pub trusted_documents: TrustedSettings,
    pub usage: UsageSettings,
    /// Tests only (no flag sets it): mounts `POST /__fault/panic`, which charges the caller's
    /// bucket 10 points and then panics, to show what a panicking handler leaves behind.
    #[doc(hidden)]
    pub fault_injection: bool,
}

/// The secret key and the Redis URL (which may hold a password) never reach debug output.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &"..")
            .field("sip_domains", &self.sip_domains)
            .field("secret_key", &self.secret_key.as_ref().map(|_| ".."))
            .field("jwt", &self.jwt)
            .field("limits", &self.limits)
            .field("rate_limit_bucket", &self.rate_limit.bucket_size)
            .field("rate_limit_restore", &self.rate_limit.restore_rate)
            .field("redis", &self.rate_limit.redis_url.as_ref().map(|_| ".."))
            .field("cors_origins", &self.cors_origins)
            .field("allow_private_webhooks", &self.allow_private_webhooks)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| ".."))
            .field("server", &self.server)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("events", &self.events)
            .field("trusted_documents", &self.trusted_documents)
            .field("usage", &self.usage)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::JwtSettings;

    #[test]
    fn debug_output_shows_no_secret() {
        let config = Config {
            listen: "127.0.0.1:1".parse().expect("address"),
            database_url: "postgres://user:db-password@host/db".into(),
            sip_domains: SipDomains::default(),
            secret_key: Some("the-secret-key".into()),
            jwt: JwtSettings {
                secret: Some("the-jwt-secret".into()),
                ..JwtSettings::default()
            },
            limits: Limits::default(),
            rate_limit: RateLimitSettings {
                redis_url: Some("redis://:redis-password@host".into()),
                ..RateLimitSettings::default()
            },
            cors_origins: Vec::new(),
            allow_private_webhooks: false,
            metrics_token: Some("the-metrics-token".into()),
            server: Default::default(),
            trusted_proxies: Default::default(),
            events: Default::default(),
            trusted_documents: Default::default(),
            usage: UsageSettings::default(),
            fault_injection: false,
        };
        let shown = format!("{config:?}");
        for secret in [
            "db-password",
            "the-secret-key",
            "the-jwt-secret",
            "redis-password",
            "the-metrics-token",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}

/// What the gateway does with trusted documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TrustedMode {
    /// Documents are sent as text; `documentId` is refused.
    #[default]
    Off,
    /// `documentId` (or APQ's `sha256Hash`) names a document of the manifest; any text runs too.
    Allow,
    /// Only the manifest's documents run.
    Enforce,
}

/// The settings of trusted documents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedSettings {
    pub file: Option<PathBuf>,
    pub mode: TrustedMode,
    /// In `enforce` mode, still run documents that only introspect (so GraphiQL can be
    /// pointed at a staging gateway).
    pub allow_introspection: bool,
}
