//! The flags and environment variables of each group of settings, with their defaults taken
//! from the settings' `Default`.

use super::*;

/// Rate limiting by query cost, per API key or user.
#[derive(Args)]
pub struct RateLimitArgs {
    /// Cost points a credential's bucket holds when full.
    #[arg(
        long,
        env = "COCKPIT_RATE_LIMIT_BUCKET",
        default_value_t = RateLimitSettings::default().bucket_size,
        global = true
    )]
    pub rate_limit_bucket: u64,
    /// Cost points restored per second.
    #[arg(
        long,
        env = "COCKPIT_RATE_LIMIT_RESTORE",
        default_value_t = RateLimitSettings::default().restore_rate,
        global = true
    )]
    pub rate_limit_restore: u64,
    /// Share buckets between gateway processes through this Redis (e.g. redis://127.0.0.1:6379).
    #[arg(long, env = "REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<String>,
}

/// What one request may ask of the gateway.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Largest request body, in bytes (413 above it).
    #[arg(long, env = "COCKPIT_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes, global = true)]
    pub max_body_bytes: usize,
    /// Deepest field nesting of an operation.
    #[arg(long, env = "COCKPIT_MAX_DEPTH", default_value_t = Limits::default().max_depth, global = true)]
    pub max_depth: usize,
    /// Deepest nesting of brackets in a document, and of arrays and objects in a JSON body.
    #[arg(long, env = "COCKPIT_MAX_NESTING", default_value_t = Limits::default().max_nesting, global = true)]
    pub max_nesting: usize,
    /// Most lexical tokens in one GraphQL document.
    #[arg(
        long,
        env = "COCKPIT_MAX_TOKENS",
        default_value_t = Limits::default().max_tokens,
        global = true
    )]
    pub max_tokens: usize,
    /// Most field selections of an operation, with its fragments expanded.
    #[arg(
        long,
        env = "COCKPIT_MAX_FIELDS",
        default_value_t = Limits::default().max_fields,
        global = true
    )]
    pub max_fields: u64,
    /// Highest cost of one operation (connections cost `first` × their selections).
    #[arg(long, env = "COCKPIT_MAX_COST", default_value_t = Limits::default().max_cost, global = true)]
    pub max_cost: u64,
    #[arg(long, env = "COCKPIT_MAX_ALIASES", default_value_t = Limits::default().max_aliases, global = true)]
    pub max_aliases: usize,
    #[arg(
        long,
        env = "COCKPIT_MAX_DIRECTIVES",
        default_value_t = Limits::default().max_directives,
        global = true
    )]
    pub max_directives: usize,
    /// Largest `first` of a connection.
    #[arg(
        long,
        env = "COCKPIT_MAX_PAGE_SIZE",
        default_value_t = Limits::default().max_page_size,
        global = true
    )]
    pub max_page_size: u64,
    /// Seconds a request may run.
    #[arg(
        long,
        env = "COCKPIT_REQUEST_TIMEOUT_SECS",
        default_value_t = Limits::default().request_timeout.as_secs(),
        global = true
    )]
    pub request_timeout_secs: u64,
    /// Seconds a request body may take to arrive (408 after).
    #[arg(
        long,
        env = "COCKPIT_BODY_READ_TIMEOUT_SECS",
        default_value_t = Limits::default().body_read_timeout.as_secs(),
        global = true
    )]
    pub body_read_timeout_secs: u64,
    /// Operations per batched request (a JSON array); 0 refuses batches.
    #[arg(long, env = "COCKPIT_MAX_BATCH", default_value_t = Limits::default().max_batch.unwrap_or(0), global = true)]
    pub max_batch: usize,
    /// Answer introspection queries.
    #[arg(long, env = "COCKPIT_INTROSPECTION", default_value_t = Limits::default().introspection, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,
    /// Suggest field names in validation errors ("did you mean …").
    #[arg(long, env = "COCKPIT_SUGGESTIONS", default_value_t = Limits::default().suggestions, action = clap::ArgAction::Set, global = true)]
    pub suggestions: bool,
    /// Bytes of query text kept for automatic persisted queries; 0 turns them off.
    #[arg(long, env = "COCKPIT_APQ_CACHE_BYTES", default_value_t = Limits::default().apq_cache_bytes, global = true)]
    pub apq_cache_bytes: u64,
    /// The longest response an Idempotency-Key keeps (bytes); a keyed request answering more
    /// is refused and writes nothing.
    #[arg(long, env = "COCKPIT_IDEMPOTENT_RESPONSE_BYTES", default_value_t = Limits::default().idempotent_response_bytes, global = true)]
    pub idempotent_response_bytes: usize,
    /// Bytes of responses one credential's Idempotency-Keys may keep per 24 hours.
    #[arg(long, env = "COCKPIT_IDEMPOTENT_STORAGE_BYTES", default_value_t = Limits::default().idempotent_storage_bytes, global = true)]
    pub idempotent_storage_bytes: u64,
}

impl LimitArgs {
    pub(super) fn limits(&self) -> Limits {
        Limits {
            max_body_bytes: self.max_body_bytes,
            max_depth: self.max_depth,
            max_nesting: self.max_nesting.max(2),
            max_tokens: self.max_tokens.max(1),
            max_fields: self.max_fields.max(1),
            max_cost: self.max_cost,
            max_aliases: self.max_aliases,
            max_directives: self.max_directives,
            max_page_size: self.max_page_size.max(1),
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs.max(1)),
            body_read_timeout: std::time::Duration::from_secs(self.body_read_timeout_secs.max(1)),
            max_batch: (self.max_batch > 0).then_some(self.max_batch),
            introspection: self.introspection,
            suggestions: self.suggestions,
            apq_cache_bytes: self.apq_cache_bytes,
            idempotent_response_bytes: self.idempotent_response_bytes.max(1),
            idempotent_storage_bytes: self.idempotent_storage_bytes.max(1),
        }
    }
}

/// Dashboard sessions: Supabase Auth JWTs, verified with a shared secret or a JWKS.
#[derive(Args)]
pub struct JwtArgs {
    /// HS256 shared secret (the Supabase project's JWT secret).
    #[arg(
        long,
        env = "COCKPIT_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,
    /// JWKS URL for RS256/ES256 keys, e.g. https://<project>.supabase.co/auth/v1/.well-known/jwks.json
    #[arg(long, env = "COCKPIT_JWKS_URL", global = true)]
    pub jwks_url: Option<String>,
    /// The audience (`aud`) tokens must carry.
    #[arg(
        long,
        env = "COCKPIT_JWT_AUDIENCE",
        default_value_t = JwtSettings::default().audience,
        global = true
    )]
    pub jwt_audience: String,
    /// The issuer (`iss`) tokens must carry; not checked when unset.
    #[arg(long, env = "COCKPIT_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,
}

/// The SIP domains generated URIs point at (Vapi's EU region: `sip.eu.vapi.ai`): a flag per
/// provider that has one, named with its default in the provider catalog. Clap's derive needs a
/// struct field per flag; these flags come from a table, so they are added by hand here.
#[derive(Debug, Clone)]
pub struct SipDomainArgs(pub SipDomains);

impl Args for SipDomainArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        PROVIDERS.iter().fold(cmd, |cmd, provider| {
            provider.sip_domain.iter().fold(cmd, |cmd, setting| {
                cmd.arg(
                    clap::Arg::new(setting.flag)
                        .long(setting.flag)
                        .env(setting.env)
                        .default_value(setting.default)
                        .value_name("DOMAIN")
                        .value_parser(|domain: &str| {
                            SipDomains::check(domain).map(|()| domain.to_owned())
                        })
                        .help(format!(
                            "The SIP domain generated {} URIs point at",
                            provider.name
                        ))
                        .global(true),
                )
            })
        })
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl clap::FromArgMatches for SipDomainArgs {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut args = Self(SipDomains::default());
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        for provider in PROVIDERS {
            for setting in provider.sip_domain {
                if let Some(domain) = matches.get_one::<String>(setting.flag) {
                    self.0.set(provider.ty, domain.clone());
                }
            }
        }
        Ok(())
    }
}

/// Connection-level limits of the HTTP server.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Seconds a client has to send a request's line and headers, on a new connection too.
    #[arg(
        long,
        env = "COCKPIT_HEADER_READ_TIMEOUT_SECS",
        default_value_t = ServerLimits::default().header_read_timeout.as_secs(),
        global = true
    )]
    pub header_read_timeout_secs: u64,
    /// Seconds a keep-alive connection may sit idle between requests.
    #[arg(
        long,
        env = "COCKPIT_IDLE_TIMEOUT_SECS",
        default_value_t = ServerLimits::default().idle_timeout.as_secs(),
        global = true
    )]
    pub idle_timeout_secs: u64,
    /// Open connections per client address (IPv6: per /64).
    #[arg(
        long,
        env = "COCKPIT_MAX_CONNECTIONS_PER_IP",
        default_value_t = ServerLimits::default().max_connections_per_ip,
        global = true
    )]
    pub max_connections_per_ip: usize,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT; then the rest are closed.
    #[arg(
        long,
        env = "COCKPIT_SHUTDOWN_TIMEOUT_SECS",
        default_value_t = ServerLimits::default().shutdown_timeout.as_secs(),
        global = true
    )]
    pub shutdown_timeout_secs: u64,
}

impl ServerArgs {
    pub(super) fn limits(&self) -> crate::server::ServerLimits {
        use std::time::Duration;
        ServerLimits {
            header_read_timeout: Duration::from_secs(self.header_read_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_connections_per_ip: self.max_connections_per_ip.max(1),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout_secs),
            unbounded: Vec::new(),
        }
    }
}

/// Events: how long the audit log keeps them, and what subscribers may hold.
#[derive(Debug, Args)]
pub struct EventArgs {
    /// Days an event is kept; older ones are deleted in small batches, hourly.
    #[arg(long, env = "COCKPIT_EVENT_RETENTION_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u64).range(1..=36_500), global = true)]
    pub event_retention_days: u64,
    /// Subscriptions one API key or user may hold open at once.
    #[arg(long, env = "COCKPIT_MAX_SUBSCRIPTIONS_PER_CREDENTIAL", default_value_t = EventSettings::default().max_subscriptions_per_credential, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000), global = true)]
    pub max_subscriptions_per_credential: usize,
    /// Seconds a subscription's slot stays counted when its process stops renewing it (a
    /// process that died); renewed every third of it.
    #[arg(long, env = "COCKPIT_SUBSCRIPTION_LEASE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=3600), global = true)]
    pub subscription_lease_secs: u64,
    /// Events a subscriber may fall behind by before it is disconnected as too slow.
    #[arg(long, env = "COCKPIT_SUBSCRIPTION_BUFFER", default_value_t = EventSettings::default().subscription_buffer, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65_536), global = true)]
    pub subscription_buffer: usize,
    /// The least time, in milliseconds, between two results of a live query (`@live`); the
    /// changes within it are answered by one run.
    #[arg(long, env = "COCKPIT_LIVE_QUERY_INTERVAL_MS", default_value_t = EventSettings::default().live_query_interval.as_millis() as u64, value_parser = clap::value_parser!(u64).range(10..=3_600_000), global = true)]
    pub live_query_interval_ms: u64,
}

impl EventArgs {
    pub fn settings(&self) -> EventSettings {
        EventSettings {
            retention: std::time::Duration::from_secs(self.event_retention_days * 24 * 60 * 60),
            max_subscriptions_per_credential: self.max_subscriptions_per_credential,
            subscription_buffer: self.subscription_buffer,
            subscription_lease: std::time::Duration::from_secs(self.subscription_lease_secs),
            live_query_interval: std::time::Duration::from_millis(self.live_query_interval_ms),
            ..EventSettings::default()
        }
    }
}

/// Trusted documents (persisted operations): the operations a frontend ships, by id.
#[derive(Debug, Args)]
pub struct TrustedArgs {
    /// A JSON manifest of document id → document, as GraphQL Code Generator's client preset
    /// (`persistedDocuments`) or the Relay compiler (`persistedQueries`) writes it, or an
    /// Apollo persisted query manifest. Read again on SIGHUP.
    #[arg(long, env = "COCKPIT_TRUSTED_DOCUMENTS", global = true)]
    pub trusted_documents: Option<std::path::PathBuf>,
    /// `allow`: clients may send `documentId` instead of the text, and any text runs too;
    /// `enforce`: only the manifest's documents run.
    #[arg(long, env = "COCKPIT_TRUSTED_DOCUMENTS_MODE", value_enum, default_value_t = crate::config::TrustedMode::Off, global = true)]
    pub trusted_documents_mode: crate::config::TrustedMode,
    /// With `enforce`, still run documents that only introspect the schema (GraphiQL).
    #[arg(
        long,
        env = "COCKPIT_TRUSTED_DOCUMENTS_ALLOW_INTROSPECTION",
        global = true
    )]
    pub trusted_documents_allow_introspection: bool,
}

impl TrustedArgs {
    pub fn settings(&self) -> crate::config::TrustedSettings {
        crate::config::TrustedSettings {
            file: self
                .trusted_documents
                .clone()
                .filter(|f| !f.as_os_str().is_empty()),
            mode: self.trusted_documents_mode,
            allow_introspection: self.trusted_documents_allow_introspection,
        }
    }
}

/// Client names and field usage.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Distinct client names (`graphql-client-name`, `apollographql-client-name`) the metrics
    /// and field usage keep; later names are counted as `other`.
    #[arg(long, env = "COCKPIT_MAX_CLIENT_NAMES", default_value_t = UsageSettings::default().max_client_names, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=10_000), global = true)]
    pub max_client_names: usize,
    /// Seconds between writes of the field usage counted in memory (and once at shutdown).
    #[arg(long, env = "COCKPIT_FIELD_USAGE_FLUSH_SECONDS", default_value_t = UsageSettings::default().flush_interval.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub field_usage_flush_seconds: u64,
    /// Days of field usage kept; older days are deleted by the retention sweep.
    #[arg(long, env = "COCKPIT_FIELD_USAGE_RETENTION_DAYS", default_value_t = UsageSettings::default().retention_days, value_parser = clap::value_parser!(u32).range(1..=3_650), global = true)]
    pub field_usage_retention_days: u32,
}

impl UsageArgs {
    pub fn settings(&self) -> UsageSettings {
        UsageSettings {
            max_client_names: self.max_client_names,
            flush_interval: std::time::Duration::from_secs(self.field_usage_flush_seconds),
            retention_days: self.field_usage_retention_days,
        }
    }
}
