//! Rate limiting by query cost, Shopify-style: each credential has a bucket of cost points
//! that refills at a steady rate; a query takes its requested cost up front and gets back
//! what it didn't use. Buckets live in memory, or in Redis so that several gateway processes
//! enforce one budget; while Redis can't be reached, each process limits with its own buckets.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;

use crate::breaker::Breaker;

#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitSettings {
    /// Points a bucket holds when full (the most one burst may spend).
    pub bucket_size: u64,
    /// Points restored per second.
    pub restore_rate: u64,
    /// Shares buckets between processes through Redis when set.
    pub redis_url: Option<String>,
    /// Prefix of the Redis keys.
    pub redis_prefix: String,
    /// Points a refused credential costs the client's address (from the same buckets), so
    /// guessing keys or tokens is throttled like any other work.
    pub failed_auth_cost: u64,
    /// The longest a request waits for Redis before it is limited in memory instead.
    pub redis_timeout: Duration,
    /// After Redis fails, how long this process limits in memory before it asks Redis again;
    /// doubled after each failed try, up to `redis_backoff_max`.
    pub redis_backoff_min: Duration,
    pub redis_backoff_max: Duration,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            bucket_size: 1000,
            restore_rate: 50,
            redis_url: None,
            redis_prefix: "cockpit:ratelimit:".to_owned(),
            failed_auth_cost: 20,
            redis_timeout: Duration::from_millis(250),
            redis_backoff_min: Duration::from_secs(1),
            redis_backoff_max: Duration::from_secs(30),
        }
    }
}

/// A bucket's state after a take or a refund, as `extensions.cost.throttleStatus` shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleStatus {
    pub maximum_available: f64,
    pub currently_available: f64,
    pub restore_rate: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Allowed(ThrottleStatus),
    /// Not enough points: retry after the time it takes to restore them.
    Throttled {
        status: ThrottleStatus,
        retry_after: Duration,
    },
}

pub struct RateLimiter {
    backend: Backend,
    failed_auth_cost: u64,
}

enum Backend {
    Memory(MemoryBuckets),
    Redis(RedisBuckets),
}

/// Where the buckets are, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimiterState {
    /// In this process (no Redis configured).
    Memory,
    /// In Redis, shared with the other processes.
    Redis,
    /// Redis is configured but can't be reached: in this process until it answers again.
    Degraded,
}

impl LimiterState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis => "redis",
            Self::Degraded => "degraded",
        }
    }
}

impl RateLimiter {
    /// `fallbacks` counts the decisions made in memory because Redis couldn't be reached.
    pub fn new(settings: &RateLimitSettings, fallbacks: Counter) -> Result<Self, String> {
        let buckets = Buckets {
            size: settings.bucket_size.max(1) as f64,
            rate: settings.restore_rate.max(1) as f64,
        };
        let backend = match &settings.redis_url {
            None => Backend::Memory(MemoryBuckets::new(buckets)),
            Some(url) => Backend::Redis(RedisBuckets::new(url, settings, buckets, fallbacks)?),
        };
        Ok(Self {
            backend,
            failed_auth_cost: settings.failed_auth_cost,
        })
    }

    pub fn bucket_size(&self) -> u64 {
        let buckets = match &self.backend {
            Backend::Memory(m) => &m.buckets,
            Backend::Redis(r) => &r.buckets,
        };
        buckets.size as u64
    }

    /// What a refused credential costs its address: at most a full bucket, which an address
    /// must have for its next try (a cost over the bucket would lock every address out).
    pub fn failed_auth_cost(&self) -> u64 {
        self.failed_auth_cost.min(self.bucket_size())
    }

    pub fn state(&self) -> LimiterState {
        match &self.backend {
            Backend::Memory(_) => LimiterState::Memory,
            Backend::Redis(r) if r.breaker.is_up() => LimiterState::Redis,
            Backend::Redis(_) => LimiterState::Degraded,
        }
    }

    /// Takes `cost` points from `key`'s bucket, or says how long to wait for them.
    pub async fn take(&self, key: &str, cost: u64) -> Decision {
        match &self.backend {
            Backend::Memory(m) => m.apply(key, cost as f64),
            // Boxed: a caller's future (a subscription's, awaiting this for every result)
            // stays small rather than the size of a Redis call.
            Backend::Redis(r) => Box::pin(r.apply(key, cost as f64)).await,
        }
    }

    /// Gives back points a query reserved but didn't use.
    pub async fn refund(&self, key: &str, points: u64) -> ThrottleStatus {
        let decision = match &self.backend {
            Backend::Memory(m) => m.apply(key, -(points as f64)),
            Backend::Redis(r) => r.apply(key, -(points as f64)).await,
        };
        match decision {
            Decision::Allowed(status) | Decision::Throttled { status, .. } => status,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Buckets {
    size: f64,
    rate: f64,
}

impl Buckets {
    fn status(&self, available: f64) -> ThrottleStatus {
        ThrottleStatus {
            maximum_available: self.size,
            currently_available: available,
            restore_rate: self.rate,
        }
    }

    fn decide(&self, available: f64, cost: f64, allowed: bool) -> Decision {
        if allowed {
            Decision::Allowed(self.status(available))
        } else {
            let wait = (cost - available).max(0.0) / self.rate;
            Decision::Throttled {
                status: self.status(available),
                retry_after: Duration::from_secs_f64(wait),
            }
        }
    }
}

struct Bucket {
    available: f64,
    updated: Instant,
}

pub struct MemoryBuckets {
    buckets: Buckets,
    /// A bucket idle for as long as a refill takes is full, and is dropped: it is the same as
    /// a new one. So the map holds only buckets in use, without a sweep under a lock.
    state: moka::sync::Cache<String, Arc<Mutex<Bucket>>, ahash::RandomState>,
}

/// Buckets kept at most; past it the least used are dropped (reset to full).
const MEMORY_BUCKETS_MAX: u64 = 1_000_000;

impl MemoryBuckets {
    fn new(buckets: Buckets) -> Self {
        let refill = Duration::from_secs_f64(buckets.size / buckets.rate) + Duration::from_secs(1);
        Self {
            buckets,
            state: moka::sync::Cache::builder()
                .max_capacity(MEMORY_BUCKETS_MAX)
                .time_to_idle(refill)
                // Taken for every request and every subscription's result: ahash is keyed per
                // process like SipHash, at a fraction of its cost on keys this short.
                .build_with_hasher(ahash::RandomState::new()),
        }
    }

    fn apply(&self, key: &str, cost: f64) -> Decision {
        let now = Instant::now();
        let Buckets { size, rate } = self.buckets;
        let bucket = self.state.get_with_by_ref(key, || {
            Arc::new(Mutex::new(Bucket {
                available: size,
                updated: now,
            }))
        });
        let mut bucket = bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let refilled =
            (bucket.available + now.duration_since(bucket.updated).as_secs_f64() * rate).min(size);
        let allowed = cost <= refilled;
        bucket.available = if allowed {
            (refilled - cost).min(size)
        } else {
            refilled
        };
        bucket.updated = now;
        self.buckets.decide(bucket.available, cost, allowed)
    }
}

pub struct RedisBuckets {
    buckets: Buckets,
    prefix: String,
    connection: redis::aio::ConnectionManager,
    script: redis::Script,
    timeout: Duration,
    /// Open while Redis is failing: requests are limited by `memory` without asking it.
    breaker: Breaker,
    memory: MemoryBuckets,
    fallbacks: Counter,
}

/// Refill, then take (a negative cost refunds), atomically, on Redis's clock so that every
/// process agrees on time. Returns {allowed, available}.
const BUCKET_SCRIPT: &str = r"
local size = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'available', 'updated')
local available = tonumber(state[1]) or size
local updated = tonumber(state[2]) or now
if now > updated then
  available = math.min(size, available + (now - updated) / 1000 * rate)
end
local allowed = 0
if cost <= available then
  available = math.min(size, available - cost)
  allowed = 1
end
redis.call('HSET', KEYS[1], 'available', tostring(available), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(size / rate * 1000) + 1000)
return {allowed, tostring(available)}
";

/// A lazy connection to the Redis at `url`, each command bounded by `settings.redis_timeout`
/// and never retried inside the client: a breaker decides when Redis is asked again.
pub(crate) fn redis_connection(
    url: &str,
    settings: &RateLimitSettings,
) -> Result<redis::aio::ConnectionManager, String> {
    let client = redis::Client::open(url).map_err(|e| format!("REDIS_URL: {e}"))?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(settings.redis_timeout))
        .set_response_timeout(Some(settings.redis_timeout))
        .set_number_of_retries(0);
    client
        .get_connection_manager_lazy(config)
        .map_err(|e| format!("REDIS_URL: {e}"))
}

/// Runs a Redis command under `breaker` and within `timeout`: its answer, or `None` when the
/// breaker holds Redis off or the command fails — which opens the breaker and logs the outage
/// with what the process does `meanwhile` (once when Redis goes away and at each failed probe,
/// not per request).
pub(crate) async fn ask_redis<T>(
    breaker: &Breaker,
    timeout: Duration,
    command: impl std::future::Future<Output = redis::RedisResult<T>>,
    meanwhile: &str,
) -> Option<T> {
    let permit = breaker.permit()?;
    let failure = match tokio::time::timeout(timeout, command).await {
        Ok(Ok(answer)) => {
            permit.succeeded();
            return Some(answer);
        }
        Ok(Err(e)) => format!("{:?}", e.kind()),
        Err(_) => format!("no answer within {} ms", timeout.as_millis()),
    };
    let opened = permit.failed();
    tracing::warn!(
        error = %failure,
        retry_in_ms = opened.backoff.as_millis() as u64,
        "Redis unavailable: {meanwhile}"
    );
    None
}

impl RedisBuckets {
    fn new(
        url: &str,
        settings: &RateLimitSettings,
        buckets: Buckets,
        fallbacks: Counter,
    ) -> Result<Self, String> {
        let connection = redis_connection(url, settings)?;
        Ok(Self {
            buckets,
            prefix: settings.redis_prefix.clone(),
            connection,
            script: redis::Script::new(BUCKET_SCRIPT),
            timeout: settings.redis_timeout,
            breaker: Breaker::new(settings.redis_backoff_min, settings.redis_backoff_max),
            memory: MemoryBuckets::new(buckets),
            fallbacks,
        })
    }

    async fn apply(&self, key: &str, cost: f64) -> Decision {
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation
            .arg(self.buckets.size)
            .arg(self.buckets.rate)
            .arg(cost);
        let was_down = !self.breaker.is_up();
        let answer = ask_redis(
            &self.breaker,
            self.timeout,
            invocation.invoke_async::<(i64, String)>(&mut connection),
            "rate limits fall back to this process's buckets",
        )
        .await;
        let Some((allowed, available)) = answer else {
            return self.fallback(key, cost);
        };
        if was_down {
            tracing::info!("Redis answers again: rate limits are shared again");
        }
        let available = available.parse().unwrap_or(0.0);
        self.buckets.decide(available, cost, allowed == 1)
    }

    /// An outage of the limiter doesn't take the gateway down, nor lift the limits: each
    /// process limits on its own meanwhile.
    fn fallback(&self, key: &str, cost: f64) -> Decision {
        self.fallbacks.inc();
        self.memory.apply(key, cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_buckets_take_refund_and_throttle() {
        let limiter = RateLimiter::new(
            &RateLimitSettings {
                bucket_size: 100,
                restore_rate: 10,
                ..RateLimitSettings::default()
            },
            Counter::default(),
        )
        .expect("limiter");
        let Decision::Allowed(s) = limiter.take("k", 60).await else {
            panic!("allowed")
        };
        assert!((s.currently_available - 40.0).abs() < 1.0);
        let Decision::Throttled { retry_after, .. } = limiter.take("k", 60).await else {
            panic!("throttled")
        };
        assert!(retry_after > Duration::from_millis(1500) && retry_after <= Duration::from_secs(2));
        let s = limiter.refund("k", 50).await;
        assert!((s.currently_available - 90.0).abs() < 1.0);
        assert!(
            matches!(limiter.take("other", 100).await, Decision::Allowed(_)),
            "buckets are per key"
        );
    }
}
