//! Rate limiting per workspace: a token bucket per workspace, in this process's memory.
//!
//! Each workspace may make `burst` requests at once, refilled at `per_second` a second. With
//! several processes behind a load balancer each keeps its own buckets, so the effective limit
//! is per process (documented in docs/OPERATIONS.md).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use crate::clock::Clock;
use crate::ids::WorkspaceId;

/// The limit: `per_second` tokens a second into a bucket of `burst`. `per_second == 0` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub per_second: u32,
    pub burst: u32,
}

impl RateLimitSettings {
    /// Whether requests are limited at all.
    #[must_use]
    pub fn enabled(self) -> bool {
        self.per_second > 0 && self.burst > 0
    }
}

/// The outcome of one request against its workspace's bucket, with what the headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed (it took a token).
    pub allowed: bool,
    /// The bucket's size (`RateLimit-Limit`).
    pub limit: u32,
    /// Whole tokens left after this request (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Seconds, rounded up, until the bucket is full again (`RateLimit-Reset`).
    pub reset_seconds: u64,
    /// Seconds, rounded up and at least 1, until the next token when refused (`Retry-After`).
    pub retry_after_seconds: u64,
}

/// One token bucket: pure arithmetic over the instants it is given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    tokens: f64,
    updated_at: OffsetDateTime,
}

impl TokenBucket {
    /// A full bucket at `now`.
    #[must_use]
    pub fn full(settings: RateLimitSettings, now: OffsetDateTime) -> Self {
        Self {
            tokens: f64::from(settings.burst),
            updated_at: now,
        }
    }

    fn refill(&mut self, settings: RateLimitSettings, now: OffsetDateTime) {
        // A clock that steps back never removes tokens.
        let elapsed = (now - self.updated_at).as_seconds_f64().max(0.0);
        self.tokens =
            (self.tokens + elapsed * f64::from(settings.per_second)).min(f64::from(settings.burst));
        if now > self.updated_at {
            self.updated_at = now;
        }
    }

    /// Whether the bucket is full at `now` (it can be forgotten: a new one is the same).
    #[must_use]
    pub fn is_full(&self, settings: RateLimitSettings, now: OffsetDateTime) -> bool {
        let mut copy = *self;
        copy.refill(settings, now);
        copy.tokens >= f64::from(settings.burst)
    }

    /// Takes one token if there is one, and says what the headers should report.
    pub fn take(&mut self, settings: RateLimitSettings, now: OffsetDateTime) -> Decision {
        self.refill(settings, now);
        let rate = f64::from(settings.per_second.max(1));
        let allowed = self.tokens >= 1.0;
        if allowed {
            self.tokens -= 1.0;
        }
        let missing = f64::from(settings.burst) - self.tokens;
        let retry_after = if allowed {
            0.0
        } else {
            ((1.0 - self.tokens) / rate).ceil().max(1.0)
        };
        Decision {
            allowed,
            limit: settings.burst,
            remaining: whole(self.tokens.floor()),
            reset_seconds: u64::from(whole((missing / rate).ceil())),
            retry_after_seconds: u64::from(whole(retry_after)),
        }
    }
}

/// A non-negative float, already rounded, as an integer (saturating).
fn whole(value: f64) -> u32 {
    if value <= 0.0 {
        0
    } else if value >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        // In range and integral: the conversion is exact.
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "checked to be in 0..u32::MAX and already rounded"
        )]
        let n = value as u32;
        n
    }
}

/// Buckets beyond which full ones are forgotten on the next request.
const PRUNE_ABOVE: usize = 10_000;

/// The workspaces' buckets, shared by every request of this process.
#[derive(Clone)]
pub struct RateLimiter {
    settings: RateLimitSettings,
    clock: Arc<dyn Clock>,
    buckets: Arc<Mutex<HashMap<WorkspaceId, TokenBucket>>>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    #[must_use]
    pub fn new(settings: RateLimitSettings, clock: Arc<dyn Clock>) -> Self {
        Self {
            settings,
            clock,
            buckets: Arc::default(),
        }
    }

    /// The limit applied.
    #[must_use]
    pub fn settings(&self) -> RateLimitSettings {
        self.settings
    }

    /// Counts one request of the workspace; `None` when limiting is off.
    #[must_use]
    pub fn check(&self, workspace_id: WorkspaceId) -> Option<Decision> {
        if !self.settings.enabled() {
            return None;
        }
        let now = self.clock.now();
        // A poisoned lock only means another request panicked mid-update: the map is still sound.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > PRUNE_ABOVE {
            let settings = self.settings;
            buckets.retain(|_, b| !b.is_full(settings, now));
        }
        let bucket = buckets
            .entry(workspace_id)
            .or_insert_with(|| TokenBucket::full(self.settings, now));
        Some(bucket.take(self.settings, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use time::Duration;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);
    const TEN_A_SECOND_BURST_3: RateLimitSettings = RateLimitSettings {
        per_second: 10,
        burst: 3,
    };

    /// A clock moved by hand, in milliseconds after T0.
    #[derive(Default)]
    struct Stepped(AtomicI64);
    impl Stepped {
        fn advance_ms(&self, ms: i64) {
            self.0.fetch_add(ms, Ordering::SeqCst);
        }
    }
    impl Clock for Stepped {
        fn now(&self) -> OffsetDateTime {
            T0 + Duration::milliseconds(self.0.load(Ordering::SeqCst))
        }
    }

    #[test]
    fn a_full_bucket_allows_its_burst_then_refuses_with_the_wait_for_one_token() {
        let mut bucket = TokenBucket::full(TEN_A_SECOND_BURST_3, T0);
        let remaining: Vec<u32> = (0..3)
            .map(|_| {
                let d = bucket.take(TEN_A_SECOND_BURST_3, T0);
                assert!(d.allowed);
                assert_eq!(d.limit, 3);
                d.remaining
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = bucket.take(TEN_A_SECOND_BURST_3, T0);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        // One token takes 0.1 s; headers carry whole seconds, rounded up, at least 1.
        assert_eq!(refused.retry_after_seconds, 1);
        assert_eq!(refused.reset_seconds, 1);
    }

    #[test]
    fn tokens_come_back_at_the_rate_and_never_beyond_the_burst() {
        let mut bucket = TokenBucket::full(TEN_A_SECOND_BURST_3, T0);
        for _ in 0..3 {
            let _ = bucket.take(TEN_A_SECOND_BURST_3, T0);
        }
        let later = T0 + Duration::milliseconds(100);
        assert!(bucket.take(TEN_A_SECOND_BURST_3, later).allowed);
        assert!(!bucket.take(TEN_A_SECOND_BURST_3, later).allowed);
        let much_later = T0 + Duration::hours(1);
        assert!(bucket.is_full(TEN_A_SECOND_BURST_3, much_later));
        assert_eq!(bucket.take(TEN_A_SECOND_BURST_3, much_later).remaining, 2);
    }

    #[test]
    fn a_slow_rate_reports_the_seconds_until_the_next_token() {
        let slow = RateLimitSettings {
            per_second: 1,
            burst: 5,
        };
        let mut bucket = TokenBucket::full(slow, T0);
        for _ in 0..5 {
            assert!(bucket.take(slow, T0).allowed);
        }
        let refused = bucket.take(slow, T0);
        assert_eq!(
            (
                refused.allowed,
                refused.retry_after_seconds,
                refused.reset_seconds
            ),
            (false, 1, 5)
        );
    }

    #[test]
    fn a_clock_stepping_back_adds_no_tokens() {
        let mut bucket = TokenBucket::full(TEN_A_SECOND_BURST_3, T0);
        for _ in 0..3 {
            let _ = bucket.take(TEN_A_SECOND_BURST_3, T0);
        }
        assert!(
            !bucket
                .take(TEN_A_SECOND_BURST_3, T0 - Duration::seconds(5))
                .allowed
        );
    }

    #[test]
    fn each_workspace_has_its_own_bucket() {
        let clock = Arc::new(Stepped::default());
        let limiter = RateLimiter::new(TEN_A_SECOND_BURST_3, clock.clone());
        let (a, b) = (WorkspaceId::new(), WorkspaceId::new());
        for _ in 0..3 {
            assert!(limiter.check(a).is_some_and(|d| d.allowed));
        }
        assert!(limiter.check(a).is_some_and(|d| !d.allowed));
        assert!(
            limiter
                .check(b)
                .is_some_and(|d| d.allowed && d.remaining == 2)
        );
        clock.advance_ms(100);
        assert!(limiter.check(a).is_some_and(|d| d.allowed));
    }

    #[test]
    fn zero_per_second_turns_limiting_off() {
        let limiter = RateLimiter::new(
            RateLimitSettings {
                per_second: 0,
                burst: 200,
            },
            Arc::new(Stepped::default()),
        );
        assert!(!limiter.settings().enabled());
        assert_eq!(limiter.check(WorkspaceId::new()), None);
    }
}
