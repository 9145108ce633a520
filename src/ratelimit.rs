//! Rate limiting by query cost, Shopify-style: each credential has a bucket of cost points
//! that refills at a steady rate; a query takes its requested cost up front and gets back
//! what it didn't use. Buckets live in memory, or in Redis so that several gateway processes
//! enforce one budget.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            bucket_size: 1000,
            restore_rate: 50,
            redis_url: None,
            redis_prefix: "cockpit:ratelimit:".to_owned(),
            failed_auth_cost: 20,
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

impl RateLimiter {
    pub fn new(settings: &RateLimitSettings) -> Result<Self, String> {
        let buckets = Buckets {
            size: settings.bucket_size.max(1) as f64,
            rate: settings.restore_rate.max(1) as f64,
        };
        let backend = match &settings.redis_url {
            None => Backend::Memory(MemoryBuckets::new(buckets)),
            Some(url) => Backend::Redis(RedisBuckets::new(url, &settings.redis_prefix, buckets)?),
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

    pub fn failed_auth_cost(&self) -> u64 {
        self.failed_auth_cost
    }

    /// Takes `cost` points from `key`'s bucket, or says how long to wait for them.
    pub async fn take(&self, key: &str, cost: u64) -> Decision {
        match &self.backend {
            Backend::Memory(m) => m.apply(key, cost as f64),
            Backend::Redis(r) => r.apply(key, cost as f64).await,
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
    state: moka::sync::Cache<String, Arc<Mutex<Bucket>>>,
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
                .build(),
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

impl RedisBuckets {
    fn new(url: &str, prefix: &str, buckets: Buckets) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("REDIS_URL: {e}"))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1);
        let connection = client
            .get_connection_manager_lazy(config)
            .map_err(|e| format!("REDIS_URL: {e}"))?;
        Ok(Self {
            buckets,
            prefix: prefix.to_owned(),
            connection,
            script: redis::Script::new(BUCKET_SCRIPT),
        })
    }

    async fn apply(&self, key: &str, cost: f64) -> Decision {
        let mut connection = self.connection.clone();
        let result: redis::RedisResult<(i64, String)> = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(self.buckets.size)
            .arg(self.buckets.rate)
            .arg(cost)
            .invoke_async(&mut connection)
            .await;
        match result {
            Ok((allowed, available)) => {
                let available = available.parse().unwrap_or(0.0);
                self.buckets.decide(available, cost, allowed == 1)
            }
            Err(e) => {
                // Fail open: an outage of the limiter should not take the gateway down.
                tracing::warn!(kind = ?e.kind(), "rate limiter unavailable; request allowed");
                Decision::Allowed(self.buckets.status(self.buckets.size))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_buckets_take_refund_and_throttle() {
        let limiter = RateLimiter::new(&RateLimitSettings {
            bucket_size: 100,
            restore_rate: 10,
            ..RateLimitSettings::default()
        })
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
