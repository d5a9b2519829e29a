//! Rate limits: a token bucket per API key (and per client IP for requests
//! that fail authentication), behind a trait so a shared backend can serve
//! many replicas. Memory stays bounded: idle buckets are evicted.

use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the limiter decided, with what the response headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests allowed per minute.
    pub limit: u32,
    /// Requests that can be made now without waiting.
    pub remaining: u32,
    /// Whole seconds until `remaining` is back to the full burst.
    pub reset_secs: u64,
    /// Whole seconds until one more request is allowed (when refused).
    pub retry_after_secs: u64,
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Counts one request for `key` unless it is over the limit (a refused
    /// request uses no quota).
    async fn check(&self, key: &str) -> Decision;
}

/// In-process token buckets.
pub struct LocalLimiter {
    per_minute: u32,
    burst: f64,
    per_second: f64,
    max_keys: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl LocalLimiter {
    pub fn new(per_minute: u32, burst: u32, max_keys: usize) -> Self {
        Self {
            per_minute,
            burst: f64::from(burst.max(1)),
            per_second: f64::from(per_minute.max(1)) / 60.0,
            max_keys,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The decision for `key` at `now` (tests pass their own clock).
    pub fn check_at(&self, key: &str, now: Instant) -> Decision {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= self.max_keys && !buckets.contains_key(key) {
            self.evict_idle(&mut buckets, now);
        }
        let bucket = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.burst);
        bucket.at = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        decide(
            self.per_minute,
            self.burst,
            self.per_second,
            allowed,
            bucket.tokens,
        )
    }

    /// Drops buckets that have refilled completely (their state is the
    /// default); if that is not enough, the least recently used half.
    fn evict_idle(&self, buckets: &mut HashMap<String, Bucket>, now: Instant) {
        let full_after = Duration::from_secs_f64(self.burst / self.per_second);
        buckets.retain(|_, b| now.saturating_duration_since(b.at) < full_after);
        if buckets.len() >= self.max_keys {
            let mut ages: Vec<Instant> = buckets.values().map(|b| b.at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            buckets.retain(|_, b| b.at > cutoff);
        }
    }

    pub fn tracked_keys(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }
}

/// The decision, given what is left in a bucket after this request.
fn decide(per_minute: u32, burst: f64, per_second: f64, allowed: bool, tokens: f64) -> Decision {
    Decision {
        allowed,
        limit: per_minute,
        remaining: tokens.floor().max(0.0) as u32,
        reset_secs: ((burst - tokens) / per_second).ceil().max(0.0) as u64,
        retry_after_secs: if allowed {
            0
        } else {
            ((1.0 - tokens) / per_second).ceil().max(1.0) as u64
        },
    }
}

/// Token buckets in Redis, shared by every replica. One server-side script
/// reads, refills and takes a token atomically, on Redis's clock, and lets
/// idle buckets expire.
pub struct RedisLimiter {
    per_minute: u32,
    burst: f64,
    per_second: f64,
    prefix: String,
    redis: redis::aio::ConnectionManager,
    script: redis::Script,
}

const TOKEN_BUCKET: &str = r#"
local now_t = redis.call('TIME')
local now = tonumber(now_t[1]) * 1000 + math.floor(tonumber(now_t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1000)
return {allowed, tostring(tokens)}
"#;

impl RedisLimiter {
    /// Connects to `url`; later outages are reconnected by themselves.
    pub async fn connect(
        url: &str,
        prefix: &str,
        per_minute: u32,
        burst: u32,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("rate_limit.redis_url {url:?}: {e}"))?;
        let redis = tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager())
            .await
            .map_err(|_| anyhow::anyhow!("rate_limit.redis_url {url:?}: no answer"))?
            .map_err(|e| anyhow::anyhow!("rate_limit.redis_url {url:?}: {e}"))?;
        Ok(Self {
            per_minute,
            burst: f64::from(burst.max(1)),
            per_second: f64::from(per_minute.max(1)) / 60.0,
            prefix: prefix.to_string(),
            redis,
            script: redis::Script::new(TOKEN_BUCKET),
        })
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str) -> Decision {
        let mut conn = self.redis.clone();
        let result: redis::RedisResult<(i64, String)> = self
            .script
            .key(format!("{}{key}", self.prefix))
            .arg(self.per_second / 1000.0)
            .arg(self.burst)
            .invoke_async(&mut conn)
            .await;
        match result {
            Ok((allowed, tokens)) => {
                let tokens = tokens.parse().unwrap_or(0.0);
                decide(
                    self.per_minute,
                    self.burst,
                    self.per_second,
                    allowed == 1,
                    tokens,
                )
            }
            Err(e) => {
                // Fail open: an outage of the limiter must not take the API down.
                tracing::warn!(error = %e, "rate limiter unavailable; request allowed");
                decide(
                    self.per_minute,
                    self.burst,
                    self.per_second,
                    true,
                    self.burst - 1.0,
                )
            }
        }
    }
}

#[async_trait]
impl RateLimiter for LocalLimiter {
    async fn check(&self, key: &str) -> Decision {
        self.check_at(key, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let limiter = LocalLimiter::new(60, 3, 100); // one per second, burst 3
        let t0 = Instant::now();
        let d = limiter.check_at("k", t0);
        assert_eq!(
            (d.allowed, d.limit, d.remaining, d.reset_secs),
            (true, 60, 2, 1)
        );
        limiter.check_at("k", t0);
        let d = limiter.check_at("k", t0);
        assert_eq!((d.allowed, d.remaining, d.reset_secs), (true, 0, 3));
        let refused = limiter.check_at("k", t0);
        assert_eq!((refused.allowed, refused.retry_after_secs), (false, 1));
        let again = limiter.check_at("k", t0);
        assert!(
            !again.allowed,
            "a refused request uses no quota, and none came back"
        );
        let later = limiter.check_at("k", t0 + Duration::from_millis(1000));
        assert!(later.allowed);
        let full = limiter.check_at("k", t0 + Duration::from_secs(100));
        assert_eq!((full.remaining, full.reset_secs), (2, 1));
        assert!(
            limiter.check_at("other", t0).allowed,
            "keys are independent"
        );
    }

    #[test]
    fn memory_is_bounded() {
        let limiter = LocalLimiter::new(600, 10, 1000);
        let t0 = Instant::now();
        for i in 0..10_000 {
            limiter.check_at(&format!("key-{i}"), t0 + Duration::from_millis(i));
        }
        assert!(limiter.tracked_keys() <= 1000, "{}", limiter.tracked_keys());
    }
}
