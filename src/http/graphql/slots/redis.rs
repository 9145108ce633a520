//! Subscription slots in Redis, shared by every process that uses it: one sorted set per
//! credential, each member a slot scored by when its lease ends (on Redis's clock, so every
//! process agrees on time). While Redis can't be reached, each process counts its own.

use std::time::Duration;

use uuid::Uuid;

use crate::breaker::Breaker;
use crate::ratelimit::{RateLimitSettings, ask_redis};

/// Forget ended leases, then take a slot unless `max` are held. Returns 1 when taken.
const OPEN: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], lease)
return 1
";

/// Renews the leases of the slots named in ARGV[2..] (putting back one that ended meanwhile:
/// its subscription still runs).
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + lease, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], lease)
return 1
";

pub struct RedisSlots {
    prefix: String,
    connection: redis::aio::ConnectionManager,
    open: redis::Script,
    renew: redis::Script,
    timeout: Duration,
    breaker: Breaker,
}

impl RedisSlots {
    /// Slots in the Redis the rate limits use (`settings.redis_url`, which must be set), under
    /// its key prefix.
    pub fn new(settings: &RateLimitSettings) -> Result<Self, String> {
        let url = settings.redis_url.as_deref().unwrap_or_default();
        let connection = crate::ratelimit::redis_connection(url, settings)?;
        Ok(Self {
            prefix: format!("{}subscriptions:", settings.redis_prefix),
            connection,
            open: redis::Script::new(OPEN),
            renew: redis::Script::new(RENEW),
            timeout: settings.redis_timeout,
            breaker: Breaker::new(settings.redis_backoff_min, settings.redis_backoff_max),
        })
    }

    fn key(&self, bucket: &str) -> String {
        format!("{}{bucket}", self.prefix)
    }

    /// Runs `invocation`; `None` when Redis can't answer now (logged once per outage).
    async fn call(&self, invocation: &redis::ScriptInvocation<'_>) -> Option<i64> {
        let mut connection = self.connection.clone();
        ask_redis(
            &self.breaker,
            self.timeout,
            invocation.invoke_async::<i64>(&mut connection),
            "subscription slots are counted in this process meanwhile",
        )
        .await
    }

    /// Takes slot `id` of `bucket` unless `max` are held; `None` when Redis can't say.
    pub(super) async fn open(
        &self,
        id: Uuid,
        bucket: &str,
        max: usize,
        lease: Duration,
    ) -> Option<bool> {
        let mut invocation = self.open.key(self.key(bucket));
        invocation
            .arg(max)
            .arg(lease.as_millis() as u64)
            .arg(id.to_string());
        self.call(&invocation).await.map(|taken| taken == 1)
    }

    /// Renews the leases of `held` (slot, bucket).
    pub(super) async fn renew(&self, held: &[(Uuid, String)], lease: Duration) {
        for (bucket, ids) in by_bucket(held) {
            let mut invocation = self.renew.key(self.key(bucket));
            invocation.arg(lease.as_millis() as u64).arg(ids);
            if self.call(&invocation).await.is_none() {
                return;
            }
        }
    }

    /// Gives back the slots `released` (slot, bucket), one call a bucket (an outage leaves
    /// them to their leases).
    pub(super) async fn release(&self, released: &[(Uuid, String)]) {
        for (bucket, ids) in by_bucket(released) {
            let mut connection = self.connection.clone();
            let mut command = redis::cmd("ZREM");
            command.arg(self.key(bucket)).arg(ids);
            let removed = ask_redis(
                &self.breaker,
                self.timeout,
                command.query_async::<i64>(&mut connection),
                "subscription slots are counted in this process meanwhile",
            )
            .await;
            if removed.is_none() {
                return;
            }
        }
    }
}

/// The slots `slots` (slot, bucket) by bucket, as the ids a call names.
fn by_bucket(slots: &[(Uuid, String)]) -> std::collections::HashMap<&str, Vec<String>> {
    let mut by_bucket: std::collections::HashMap<&str, Vec<String>> = Default::default();
    for (id, bucket) in slots {
        by_bucket
            .entry(bucket.as_str())
            .or_default()
            .push(id.to_string());
    }
    by_bucket
}
