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
        let tokens = bucket.tokens;
        Decision {
            allowed,
            limit: self.per_minute,
            remaining: tokens.floor() as u32,
            reset_secs: ((self.burst - tokens) / self.per_second).ceil() as u64,
            retry_after_secs: if allowed {
                0
            } else {
                ((1.0 - tokens) / self.per_second).ceil().max(1.0) as u64
            },
        }
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
