//! The command line: `serve` (default), `migrate`, `print-schema`, `schema check`, and admin
//! commands for organizations, API keys and phone numbers.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use uuid::Uuid;

use crate::auth::jwt::JwtSettings;
use crate::config::{Config, EventSettings, Limits, UsageSettings};
use crate::domain::provider::{PROVIDERS, SipDomains};
use crate::domain::{DomainError, Mode, Role, api_keys, members, organizations, phone_numbers};
use crate::ratelimit::RateLimitSettings;
use crate::server::ServerLimits;
use crate::startup::StartupError;

mod args;
mod commands;
mod schema;
mod telemetry;

pub use args::*;
pub use commands::*;
pub use schema::{CheckArgs, Format, SchemaCommand};
pub use telemetry::TracingArgs;

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
    #[command(flatten)]
    pub events: EventArgs,
    #[command(flatten)]
    pub trusted: TrustedArgs,
    #[command(flatten)]
    pub tracing: TracingArgs,
    #[command(flatten)]
    pub usage: UsageArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    pub fn config(&self) -> Config {
        Config {
            listen: self.listen,
            database_url: self.database_url.clone(),
            sip_domains: self.sip.0.clone(),
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
            events: self.events.settings(),
            trusted_documents: self.trusted.settings(),
            usage: self.usage.settings(),
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
    /// An input of `schema check` can't be read, so nothing was checked.
    #[error("{0}")]
    Unchecked(String),
    #[error("breaking changes in use: {0}")]
    BreakingInUse(usize),
}

impl CliError {
    /// The process's exit status: 2 when a check couldn't run, 1 for any other failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Unchecked(_) => 2,
            _ => 1,
        }
    }
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
    match command {
        Command::PrintSchema => {
            print!("{}", crate::graphql::sdl());
            return Ok(());
        }
        Command::Schema(command) => return schema::run(command, &config).await,
        _ => {}
    }
    // Before anything else a serving gateway does: from here no signal has its default action,
    // so a SIGHUP can't kill it while it migrates or binds.
    let signals = match command {
        Command::Serve => Some(crate::signals::Signals::install().map_err(CliError::Serve)?),
        _ => None,
    };
    let (db, secrets) = crate::startup::open(&config).await?;
    let store = crate::db::Db::from(db.clone());
    match command {
        Command::PrintSchema | Command::Schema(_) => unreachable!("handled above"),
        Command::Migrate => eprintln!("migrations are up to date"),
        Command::Serve => {
            let signals = signals.expect("installed for `serve` above");
            // Everything the configuration can refuse is refused before the port is taken.
            let app = crate::http::build(&config, store.clone(), secrets, signals.hangups())?;
            let listener =
                tokio::net::TcpListener::bind(config.listen)
                    .await
                    .map_err(|source| CliError::Listen {
                        addr: config.listen,
                        source,
                    })?;
            let addr = listener.local_addr().map_err(CliError::Serve)?;
            tracing::info!(%addr, "cockpit-gateway listening; GraphQL at http://{addr}/graphql");
            crate::serve(listener, app.router, config.server.clone(), &signals)
                .await
                .map_err(CliError::Serve)?;
            // The app is gone with the server: its field usage is written a last time, and
            // its subscription slots are given back, before the database's connections close.
            let (usage_written, slots_released) = (app.usage_written, app.slots_released);
            tokio::join!(
                usage_written.wait(Duration::from_secs(5)),
                slots_released.wait(Duration::from_secs(5)),
            );
            db.close().await.ok();
        }
        Command::Org(OrgCommand::Create { name }) => {
            let org = organizations::system::create(&store, &name).await?;
            println!("{}", org.id);
        }
        Command::Key(KeyCommand::Create { org, mode, name }) => {
            let created = api_keys::system::create(&store, org, mode.into(), &name).await?;
            eprintln!(
                "created API key {} ({}…); store it now, it is not shown again",
                created.key.id, created.key.display_prefix
            );
            println!("{}", created.plaintext);
        }
        Command::Key(KeyCommand::Revoke { key_id }) => {
            let key = api_keys::system::revoke(&store, key_id).await?;
            eprintln!("revoked API key {} ({}…)", key.id, key.display_prefix);
        }
        Command::Member(MemberCommand::Add { org, user, role }) => {
            let member = members::system::upsert(&store, org, &user, role.into()).await?;
            eprintln!(
                "{} is now {:?} of {}",
                member.user_id, member.role, member.organization_id
            );
        }
        Command::PhoneNumber(PhoneNumberCommand::Add { org, mode, number }) => {
            organizations::system::get(&store, org).await?;
            let phone = phone_numbers::system::create(&store, org, mode.into(), &number).await?;
            println!("{}", phone.id);
        }
    }
    Ok(())
}
