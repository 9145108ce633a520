//! The command line: `serve` (default), `migrate`, `print-schema`, and admin commands for
//! organizations, API keys and phone numbers.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};
use uuid::Uuid;

use crate::auth::jwt::JwtSettings;
use crate::config::{Config, Limits};
use crate::domain::provider::SipDomains;
use crate::domain::{DomainError, Mode, Role, api_keys, members, organizations, phone_numbers};
use crate::ratelimit::RateLimitSettings;
use crate::server::ServerLimits;
use crate::startup::StartupError;

#[derive(Parser)]
#[command(
    name = "cockpit-gateway",
    version,
    about = "GraphQL gateway over the KrosAI Cockpit endpoints API"
)]
pub struct Cli {
    /// Address to listen on.
    #[arg(
        long,
        env = "COCKPIT_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,
    /// `sqlite://…` (embedded) or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = crate::db::DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
    /// Key that seals stored secrets: 32 bytes, base64. Required with PostgreSQL; with SQLite
    /// a key file is created beside the database when it is not given.
    #[arg(
        long,
        env = "COCKPIT_SECRET_KEY",
        hide_env_values = true,
        global = true
    )]
    pub secret_key: Option<String>,
    #[command(flatten)]
    pub jwt: JwtArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub rate_limit: RateLimitArgs,
    /// Origins allowed to call the gateway from a browser (CORS), comma-separated; none by default.
    #[arg(
        long = "cors-origin",
        env = "COCKPIT_CORS_ORIGINS",
        value_delimiter = ',',
        global = true
    )]
    pub cors_origins: Vec<String>,
    #[command(flatten)]
    pub sip: SipDomainArgs,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Accept webhook URLs whose host is `localhost` or a loopback, private or link-local
    /// address (refused by default: a webhook must reach a public address).
    #[arg(long, env = "COCKPIT_ALLOW_PRIVATE_WEBHOOKS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", global = true)]
    pub allow_private_webhooks: bool,
    /// Proxies (CIDRs or addresses, comma-separated) whose `X-Forwarded-For` / `Forwarded`
    /// headers name the client; from any other peer those headers are ignored.
    #[arg(long, env = "COCKPIT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_proxy, global = true)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header trusted proxies name the client in; the other one is never read.
    #[arg(
        long,
        env = "COCKPIT_TRUSTED_PROXY_HEADER",
        value_enum,
        default_value_t = crate::net::ForwardedHeader::XForwardedFor,
        global = true
    )]
    pub trusted_proxy_header: crate::net::ForwardedHeader,
    /// Require `Authorization: Bearer <token>` on `GET /metrics`.
    #[arg(
        long,
        env = "COCKPIT_METRICS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub metrics_token: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

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
}

impl LimitArgs {
    fn limits(&self) -> Limits {
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

/// The SIP domains generated URIs point at (Vapi's EU region: `sip.eu.vapi.ai`).
#[derive(Debug, Args)]
pub struct SipDomainArgs {
    #[arg(
        long,
        env = "COCKPIT_VAPI_SIP_DOMAIN",
        default_value_t = SipDomains::default().vapi,
        global = true
    )]
    pub vapi_sip_domain: String,
    #[arg(
        long,
        env = "COCKPIT_RETELL_SIP_DOMAIN",
        default_value_t = SipDomains::default().retell,
        global = true
    )]
    pub retell_sip_domain: String,
    #[arg(
        long,
        env = "COCKPIT_ELEVENLABS_SIP_DOMAIN",
        default_value_t = SipDomains::default().elevenlabs,
        global = true
    )]
    pub elevenlabs_sip_domain: String,
    #[arg(
        long,
        env = "COCKPIT_VOGENT_SIP_DOMAIN",
        default_value_t = SipDomains::default().vogent,
        global = true
    )]
    pub vogent_sip_domain: String,
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
    fn limits(&self) -> crate::server::ServerLimits {
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database and serve the gateway (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    PrintSchema,
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage phone numbers.
    #[command(subcommand, name = "phone-number")]
    PhoneNumber(PhoneNumberCommand),
    /// Manage organization members (dashboard users).
    #[command(subcommand)]
    Member(MemberCommand),
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Add a user (their JWT `sub`) to an organization, or change their role.
    Add {
        #[arg(long)]
        org: Uuid,
        #[arg(long)]
        user: String,
        #[arg(long, value_enum)]
        role: RoleArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Owner => Role::Owner,
            RoleArg::Admin => Role::Admin,
            RoleArg::Member => Role::Member,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization; prints its id.
    Create {
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; prints the key, once. Only its SHA-256 is stored.
    Create {
        #[arg(long)]
        org: Uuid,
        #[arg(long, value_enum)]
        mode: ModeArg,
        #[arg(long, default_value = "Default key")]
        name: String,
    },
    /// Revoke an API key by id; it stops working on the next request.
    Revoke { key_id: Uuid },
}

#[derive(Debug, Subcommand)]
pub enum PhoneNumberCommand {
    /// Add an E.164 phone number to an organization; prints its id.
    Add {
        #[arg(long)]
        org: Uuid,
        #[arg(long, value_enum)]
        mode: ModeArg,
        #[arg(long)]
        number: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    Test,
    Live,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Test => Mode::Test,
            ModeArg::Live => Mode::Live,
        }
    }
}

impl Cli {
    pub fn config(&self) -> Config {
        Config {
            listen: self.listen,
            database_url: self.database_url.clone(),
            sip_domains: SipDomains {
                vapi: self.sip.vapi_sip_domain.clone(),
                retell: self.sip.retell_sip_domain.clone(),
                elevenlabs: self.sip.elevenlabs_sip_domain.clone(),
                vogent: self.sip.vogent_sip_domain.clone(),
            },
            secret_key: self.secret_key.clone(),
            jwt: JwtSettings {
                secret: self.jwt.jwt_secret.clone().filter(|s| !s.is_empty()),
                jwks_url: self.jwt.jwks_url.clone().filter(|s| !s.is_empty()),
                audience: self.jwt.jwt_audience.clone(),
                issuer: self.jwt.jwt_issuer.clone().filter(|s| !s.is_empty()),
                ..JwtSettings::default()
            },
            limits: self.limits.limits(),
            rate_limit: RateLimitSettings {
                bucket_size: self.rate_limit.rate_limit_bucket,
                restore_rate: self.rate_limit.rate_limit_restore,
                redis_url: self.rate_limit.redis_url.clone().filter(|u| !u.is_empty()),
                ..RateLimitSettings::default()
            },
            cors_origins: self
                .cors_origins
                .iter()
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            allow_private_webhooks: self.allow_private_webhooks,
            metrics_token: self.metrics_token.clone().filter(|t| !t.is_empty()),
            server: crate::server::ServerLimits {
                unbounded: self.trusted_proxies.clone(),
                ..self.server.limits()
            },
            trusted_proxies: crate::net::TrustedProxies {
                nets: self.trusted_proxies.clone(),
                header: self.trusted_proxy_header,
            },
            fault_injection: false,
        }
    }
}

/// A trusted proxy: a CIDR (`10.0.0.0/8`) or a single address.
fn parse_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is not a CIDR (10.0.0.0/8) or an IP address"))
}

/// Why a command failed, in words for the operator; never SQL or a secret.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Domain(String),
    #[error("cannot reach the database: {0}")]
    Database(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Startup(#[from] StartupError),
}

impl From<DomainError> for CliError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Database(_) | DomainError::Corrupt(_) => {
                Self::Database(e.log_description())
            }
            other => Self::Domain(other.to_string()),
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let config = cli.config();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::PrintSchema = command {
        print!("{}", crate::graphql::sdl());
        return Ok(());
    }
    let (db, secrets) = crate::startup::open(&config).await?;
    match command {
        Command::PrintSchema => unreachable!("handled above"),
        Command::Migrate => eprintln!("migrations are up to date"),
        Command::Serve => {
            let listener =
                tokio::net::TcpListener::bind(config.listen)
                    .await
                    .map_err(|source| CliError::Listen {
                        addr: config.listen,
                        source,
                    })?;
            let addr = listener.local_addr().map_err(CliError::Serve)?;
            tracing::info!(%addr, "cockpit-gateway listening; GraphQL at http://{addr}/graphql");
            let app = crate::build_app(&config, db.clone(), secrets)?;
            crate::serve(listener, app, config.server.clone())
                .await
                .map_err(CliError::Serve)?;
            db.close().await.ok();
        }
        Command::Org(OrgCommand::Create { name }) => {
            let org = organizations::create(&db, &name).await?;
            println!("{}", org.id);
        }
        Command::Key(KeyCommand::Create { org, mode, name }) => {
            let created = api_keys::create(&db, org, mode.into(), &name).await?;
            eprintln!(
                "created API key {} ({}…); store it now, it is not shown again",
                created.model.id, created.model.display_prefix
            );
            println!("{}", created.plaintext);
        }
        Command::Key(KeyCommand::Revoke { key_id }) => {
            let key = api_keys::revoke(&db, key_id).await?;
            eprintln!("revoked API key {} ({}…)", key.id, key.display_prefix);
        }
        Command::Member(MemberCommand::Add { org, user, role }) => {
            let member = members::upsert(&db, org, &user, role.into()).await?;
            eprintln!(
                "{} is now {:?} of {}",
                member.user_id, member.role, member.organization_id
            );
        }
        Command::PhoneNumber(PhoneNumberCommand::Add { org, mode, number }) => {
            organizations::get(&db, org).await?;
            let phone = phone_numbers::add(&db, org, mode.into(), &number).await?;
            println!("{}", phone.id);
        }
    }
    Ok(())
}
