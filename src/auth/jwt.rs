//! Verifies Supabase Auth JWTs: HS256 with the project's shared secret, or RS256/ES256 with
//! keys from a JWKS. Every rejection says why, and never repeats the token.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::jwks::{JwksCache, JwksError};

#[derive(Clone)]
pub struct JwtSettings {
    /// HS256 shared secret (`COCKPIT_JWT_SECRET`).
    pub secret: Option<String>,
    /// JWKS URL for RS256/ES256 keys (`COCKPIT_JWKS_URL`).
    pub jwks_url: Option<String>,
    /// Required `aud` (`COCKPIT_JWT_AUDIENCE`, default `authenticated`).
    pub audience: String,
    /// Required `iss`, when set (`COCKPIT_JWT_ISSUER`).
    pub issuer: Option<String>,
    /// The JWKS is refetched for an unknown `kid` at most this often.
    pub jwks_min_refetch: Duration,
    /// A cached JWKS older than this is refetched, so rotated-out keys stop working.
    pub jwks_max_age: Duration,
    /// The longest a JWKS fetch may take.
    pub jwks_timeout: Duration,
    /// After failed fetches, the JWKS is tried again after `jwks_min_refetch`, doubling up to
    /// this.
    pub jwks_backoff_max: Duration,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            secret: None,
            jwks_url: None,
            audience: "authenticated".to_owned(),
            issuer: None,
            jwks_min_refetch: Duration::from_secs(5),
            jwks_max_age: Duration::from_secs(600),
            jwks_timeout: Duration::from_secs(3),
            jwks_backoff_max: Duration::from_secs(60),
        }
    }
}

impl JwtSettings {
    pub fn is_enabled(&self) -> bool {
        self.secret.is_some() || self.jwks_url.is_some()
    }
}

/// Why a token was refused: the first for a 401; the second when its keys can't be known now,
/// with how long until the JWKS is tried again.
#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    Rejected(String),
    Unavailable(Duration),
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    /// Seconds since the epoch (a NumericDate may have a fraction).
    exp: Option<f64>,
}

/// A verified session: who, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: String,
    /// The token's `exp`: a subscription made with it ends then.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    /// Extensions the issuer says a verifier must understand (RFC 7515 §4.1.11).
    crit: Option<serde_json::Value>,
}

pub struct JwtVerifier {
    hs256: Option<DecodingKey>,
    jwks: Option<JwksCache>,
    audience: String,
    issuer: Option<String>,
}

/// How long the clock may be off between the token's issuer and this gateway.
const LEEWAY_SECONDS: u64 = 30;

impl JwtVerifier {
    pub fn new(settings: &JwtSettings) -> Self {
        Self {
            hs256: settings
                .secret
                .as_ref()
                .map(|s| DecodingKey::from_secret(s.as_bytes())),
            jwks: settings.jwks_url.clone().map(|url| {
                JwksCache::new(
                    url,
                    settings.jwks_min_refetch,
                    settings.jwks_max_age,
                    settings.jwks_timeout,
                    settings.jwks_backoff_max,
                )
            }),
            audience: settings.audience.clone(),
            issuer: settings.issuer.clone(),
        }
    }

    /// Whether the JWKS answered its last fetch, when tokens are verified with one.
    pub fn jwks_up(&self) -> Option<bool> {
        self.jwks.as_ref().map(JwksCache::is_up)
    }

    /// The user id (`sub`) and expiry of a valid token.
    pub async fn verify(&self, token: &str) -> Result<Session, JwtError> {
        let reject = |m: &str| JwtError::Rejected(m.to_owned());
        let header =
            read_header(token).ok_or_else(|| reject("The token is not a well-formed JWT."))?;
        // This verifier understands no extension, so any the token marks critical is refused.
        if header.crit.is_some() {
            return Err(reject(
                "The token marks header extensions as critical (crit); none are supported.",
            ));
        }
        let alg = header.alg.unwrap_or_default();
        let (key, algorithm) = match alg.as_str() {
            a if a.eq_ignore_ascii_case("none") => {
                return Err(reject("Unsigned tokens (alg: none) are not accepted."));
            }
            "HS256" => match &self.hs256 {
                Some(key) => (key.clone(), Algorithm::HS256),
                None => {
                    return Err(reject(
                        "HS256 tokens are not accepted: this gateway verifies tokens with the keys of its JWKS.",
                    ));
                }
            },
            "RS256" | "ES256" => {
                let Some(jwks) = &self.jwks else {
                    return Err(reject(&format!(
                        "{alg} tokens are not accepted: this gateway verifies tokens with a shared secret (HS256)."
                    )));
                };
                let kid = header
                    .kid
                    .ok_or_else(|| reject("The token names no signing key (kid)."))?;
                let cached = jwks.key(&kid).await.map_err(|e| match e {
                    JwksError::UnknownKid => {
                        reject("The token's signing key (kid) is not in the JWKS.")
                    }
                    JwksError::Unavailable { retry_after } => JwtError::Unavailable(retry_after),
                })?;
                let token_alg = if alg == "RS256" {
                    Algorithm::RS256
                } else {
                    Algorithm::ES256
                };
                if cached.algorithm != token_alg {
                    return Err(reject(
                        "The token's algorithm does not match its signing key.",
                    ));
                }
                (cached.key, token_alg)
            }
            "" => return Err(reject("The token names no algorithm (alg).")),
            _ => {
                return Err(reject(
                    "The token's algorithm is not accepted (HS256, RS256 or ES256).",
                ));
            }
        };

        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_audience(&[&self.audience]);
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
        }
        if self.issuer.is_some() {
            validation.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        } else {
            validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            JwtError::Rejected(match e.kind() {
                ErrorKind::ExpiredSignature => "The token has expired.".to_owned(),
                ErrorKind::ImmatureSignature => "The token is not valid yet (nbf).".to_owned(),
                ErrorKind::InvalidAudience => {
                    format!("The token's audience (aud) is not `{}`.", self.audience)
                }
                ErrorKind::InvalidIssuer => {
                    "The token's issuer (iss) is not the one this gateway trusts.".to_owned()
                }
                ErrorKind::InvalidSignature => "The token's signature does not verify.".to_owned(),
                ErrorKind::MissingRequiredClaim(claim) => {
                    format!("The token has no `{claim}` claim.")
                }
                ErrorKind::InvalidAlgorithm => {
                    "The token's algorithm does not match its key.".to_owned()
                }
                _ => "The token is not a well-formed JWT.".to_owned(),
            })
        })?;
        let expires_at = data
            .claims
            .exp
            .and_then(|exp| chrono::DateTime::from_timestamp_millis((exp * 1000.0) as i64));
        match data.claims.sub {
            Some(sub)
                if !sub.trim().is_empty()
                    && sub.len() <= 255
                    && !sub.chars().any(char::is_control) =>
            {
                Ok(Session {
                    user_id: sub,
                    expires_at,
                })
            }
            Some(sub) if !sub.trim().is_empty() => Err(reject(
                "The token's `sub` claim is not a user id (1 to 255 printable characters).",
            )),
            _ => Err(reject("The token has no `sub` claim.")),
        }
    }
}

fn read_header(token: &str) -> Option<RawHeader> {
    let mut parts = token.split('.');
    let (header, _payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The shared secret never reaches debug output.
impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("secret", &self.secret.as_ref().map(|_| ".."))
            .field("jwks_url", &self.jwks_url)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("jwks_min_refetch", &self.jwks_min_refetch)
            .field("jwks_max_age", &self.jwks_max_age)
            .field("jwks_timeout", &self.jwks_timeout)
            .field("jwks_backoff_max", &self.jwks_backoff_max)
            .finish()
    }
}
