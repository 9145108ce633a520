//! Runtime configuration, from flags and environment variables (parsed in `cli`).

use std::net::SocketAddr;

use crate::auth::jwt::JwtSettings;
use crate::domain::provider::SipDomains;

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub sip_domains: SipDomains,
    /// `COCKPIT_SECRET_KEY`: seals stored secrets. Optional for SQLite (a key file is made).
    pub secret_key: Option<String>,
    /// How dashboard sessions (Supabase JWTs) are verified; none are accepted when unset.
    pub jwt: JwtSettings,
}
