//! The token buckets IAM and STS throttle with: refilled continuously at a rate, holding at most a
//! burst; a call takes one token or is refused. A refused call takes nothing (it did no work).
//! Time is passed in (`now` since an arbitrary start), so the bucket is tested without waiting.

use crate::config::Rate;
use std::time::Duration;

/// One bucket.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn full(rate: Rate, now: Duration) -> Self {
        Self { tokens: rate.burst, last: now }
    }

    /// The tokens held at `now` under `rate` (refilled since the last look).
    fn refill(&mut self, rate: Rate, now: Duration) {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.last = self.last.max(now);
    }

    /// Whether a token is there at `now` (none is taken).
    pub fn has_token(&mut self, rate: Rate, now: Duration) -> bool {
        self.refill(rate, now);
        // A hair of slack for floating-point refills (ten 100 ms steps at 10/s make 0.999…).
        self.tokens >= 1.0 - 1e-9
    }

    /// Takes a token that [`TokenBucket::has_token`] just found.
    pub fn take(&mut self) {
        self.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate { per_second: 10.0, burst: 5.0 };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn take(b: &mut TokenBucket, now: Duration) -> bool {
        let ok = b.has_token(RATE, now);
        if ok {
            b.take();
        }
        ok
    }

    #[test]
    fn a_burst_then_the_rate() {
        let mut b = TokenBucket::full(RATE, ms(0));
        let burst = (0..20).filter(|_| take(&mut b, ms(0))).count();
        assert_eq!(burst, 5, "a full bucket lets its burst through at once");
        assert!(!take(&mut b, ms(50)), "half a token after 50 ms at 10/s");
        assert!(take(&mut b, ms(100)), "one token after 100 ms");
        let over_a_second = (1..=100).filter(|i| take(&mut b, ms(100 + i * 10))).count();
        assert_eq!(over_a_second, 10, "10 per second once the burst is spent");
    }

    #[test]
    fn a_quiet_bucket_fills_only_to_its_burst() {
        let mut b = TokenBucket::full(RATE, ms(0));
        (0..5).for_each(|_| assert!(take(&mut b, ms(0))));
        let after_a_minute = (0..20).filter(|_| take(&mut b, ms(60_000))).count();
        assert_eq!(after_a_minute, 5);
    }
}
