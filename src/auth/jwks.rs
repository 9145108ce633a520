//! A JWKS fetched over HTTP and cached: refetched when an unknown `kid` arrives (at most once
//! per `min_refetch`, so a flood of made-up `kid`s can't hammer the JWKS host) and when the
//! cache is older than `max_age`, so that rotated-out keys stop working. While the JWKS host
//! fails, it is asked again only after a backoff (`crate::breaker`), and the keys already
//! fetched keep verifying tokens.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

use crate::breaker::Breaker;

#[derive(Clone)]
pub struct CachedKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

struct State {
    keys: HashMap<String, CachedKey>,
    /// When the keys were last fetched successfully.
    fetched_at: Option<Instant>,
    /// When a fetch was last tried, successful or not: fetches are at most `min_refetch` apart.
    attempted_at: Option<Instant>,
}

pub struct JwksCache {
    url: String,
    client: reqwest::Client,
    min_refetch: Duration,
    max_age: Duration,
    state: RwLock<State>,
    /// Held while fetching, so concurrent misses cause one request, not one each.
    fetching: Mutex<()>,
    /// Open while the JWKS host fails: no fetch until its backoff is over.
    breaker: Breaker,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwksError {
    #[error("no key with this kid")]
    UnknownKid,
    /// The keys can't be known now; the next fetch may go after `retry_after`.
    #[error("the JWKS could not be fetched")]
    Unavailable { retry_after: Duration },
}

impl JwksCache {
    /// Fetches from `url` within `timeout`; after a failure, again after `min_refetch`,
    /// doubling up to `backoff_max`.
    pub fn new(
        url: String,
        min_refetch: Duration,
        max_age: Duration,
        timeout: Duration,
        backoff_max: Duration,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .expect("a reqwest client with a timeout builds");
        Self {
            url,
            client,
            min_refetch,
            max_age,
            breaker: Breaker::new(min_refetch, backoff_max),
            state: RwLock::new(State {
                keys: HashMap::new(),
                fetched_at: None,
                attempted_at: None,
            }),
            fetching: Mutex::new(()),
        }
    }

    pub async fn key(&self, kid: &str) -> Result<CachedKey, JwksError> {
        if let Some(key) = self.fresh(kid).await {
            return Ok(key);
        }
        let _guard = match self.fetching.try_lock() {
            Ok(guard) => guard,
            Err(_) => {
                // A fetch is under way (perhaps to a host that stalls): a key still usable
                // doesn't wait for it.
                if let Ok(key) = self.fallback(kid).await {
                    return Ok(key);
                }
                self.fetching.lock().await
            }
        };
        // Another request may have fetched while this one waited.
        if let Some(key) = self.fresh(kid).await {
            return Ok(key);
        }
        let throttled = {
            let state = self.state.read().await;
            state
                .attempted_at
                .is_some_and(|t| t.elapsed() < self.min_refetch)
        };
        if throttled {
            return self.fallback(kid).await;
        }
        let Some(permit) = self.breaker.permit() else {
            return self.fallback(kid).await;
        };
        let fetched = self.fetch().await;
        let mut state = self.state.write().await;
        state.attempted_at = Some(Instant::now());
        match fetched {
            Ok(keys) => {
                if !self.breaker.is_up() {
                    tracing::info!("the JWKS answers again");
                }
                permit.succeeded();
                state.keys = keys;
                state.fetched_at = Some(Instant::now());
                state.keys.get(kid).cloned().ok_or(JwksError::UnknownKid)
            }
            Err(why) => {
                let opened = permit.failed();
                tracing::warn!(
                    error = %why,
                    retry_in_ms = opened.backoff.as_millis() as u64,
                    "JWKS fetch failed: session tokens are verified with the keys already fetched, if any"
                );
                drop(state);
                self.fallback(kid).await
            }
        }
    }

    /// Whether the last fetch succeeded (or none was tried yet).
    pub fn is_up(&self) -> bool {
        self.breaker.is_up()
    }

    /// The key, from keys fetched less than `max_age` ago.
    async fn fresh(&self, kid: &str) -> Option<CachedKey> {
        let state = self.state.read().await;
        let fresh = state.fetched_at.is_some_and(|t| t.elapsed() < self.max_age);
        fresh.then(|| state.keys.get(kid).cloned()).flatten()
    }

    /// When no fetch may be made (too soon, or it failed): a known key is still used for one
    /// more `max_age` after it went stale, so a JWKS outage doesn't sign everyone out at
    /// once, but not indefinitely. An unknown `kid` is refused.
    async fn fallback(&self, kid: &str) -> Result<CachedKey, JwksError> {
        let state = self.state.read().await;
        let usable = state
            .fetched_at
            .is_some_and(|t| t.elapsed() < self.max_age.saturating_mul(2));
        match (usable, state.keys.get(kid)) {
            (true, Some(key)) => Ok(key.clone()),
            // Never fetched, or only failures lately: the keys can't be known.
            _ if state
                .fetched_at
                .is_none_or(|t| state.attempted_at.is_some_and(|a| a > t)) =>
            {
                Err(JwksError::Unavailable {
                    retry_after: self.breaker.retry_in(),
                })
            }
            _ => Err(JwksError::UnknownKid),
        }
    }

    /// The keys the JWKS serves, or why they couldn't be fetched (without the URL, which may
    /// carry a key of the issuer's).
    async fn fetch(&self) -> Result<HashMap<String, CachedKey>, String> {
        let unavailable = |e: reqwest::Error| describe(&e.without_url());
        let set: JwkSet = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let algorithm = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(KeyAlgorithm::RS256), AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                (Some(KeyAlgorithm::ES256), AlgorithmParameters::EllipticCurve(_)) => {
                    Algorithm::ES256
                }
                (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                (None, AlgorithmParameters::EllipticCurve(ec))
                    if ec.curve == EllipticCurve::P256 =>
                {
                    Algorithm::ES256
                }
                // Only RS256 and ES256 keys are used; anything else is left out.
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, CachedKey { key, algorithm });
            }
        }
        Ok(keys)
    }
}

/// A fetch failure for the log: the kind (time-out, connection, HTTP status, body) and the
/// chain of causes, e.g. "connection: tcp connect error: Connection refused".
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "time-out"
    } else if err.is_connect() {
        "connection"
    } else if err.is_status() {
        "HTTP status"
    } else if err.is_decode() {
        "not a JWKS"
    } else {
        "request"
    };
    let mut text = format!("{kind}: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
