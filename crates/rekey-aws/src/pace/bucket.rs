//! One adaptive token bucket: the rate rekey believes one of IAM's or STS's buckets accepts.
//!
//! A call reserves a token and is told when it may be sent; tokens may be owed (the bucket goes
//! negative), so callers queue in order without polling. The rate is learnt: it rises while calls
//! have to wait for tokens and none is throttled — doubling every second at first (slow start),
//! then by a fixed step per second — and falls by a factor when IAM answers `Throttling`, once per
//! round of calls (calls reserved before the last cut do not cut again). When the rate moves while
//! calls are queued, the debt is rescaled so the queue keeps its horizon: the last queued call still
//! goes when it was told to, and the next one after it — a rise neither lets new calls overlap the
//! queue nor a cut leaves a gap behind it. Time is passed in as seconds since an arbitrary start, so
//! the bucket is tested without waiting.

/// How one bucket starts and how far it may move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSettings {
    /// The rate a bucket starts at, calls per second.
    pub initial: f64,
    /// The lowest rate a bucket falls to.
    pub min: f64,
    /// The highest rate a bucket rises to.
    pub max: f64,
    /// Calls a quiet bucket lets through at once, as seconds of its rate.
    pub burst_seconds: f64,
}

/// Factor a throttle cuts the rate by.
pub const CUT: f64 = 0.8;
/// After the first throttle, the rate rises by this share of the rate at the last cut per second
/// of saturation.
const STEP: f64 = 0.05;

/// The state of one bucket.
#[derive(Debug, Clone)]
pub struct Aimd {
    settings: BucketSettings,
    rate: f64,
    tokens: f64,
    last: f64,
    /// Still doubling: no throttle seen yet.
    slow_start: bool,
    /// When the rate was last cut (calls reserved before it do not cut again).
    last_cut: f64,
    /// The rate after the last cut (the step of the additive increase is a share of it).
    cut_rate: f64,
    throttled: u64,
    waited: f64,
}

/// A reservation: when the call may be sent, and when it was made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reservation {
    /// Seconds from now until the call may be sent (0: at once).
    pub wait: f64,
    /// When the reservation was made.
    pub at: f64,
}

impl Aimd {
    /// A full bucket at `now`.
    pub fn new(settings: BucketSettings, now: f64) -> Self {
        let rate = settings.initial.clamp(settings.min, settings.max);
        Self {
            settings,
            rate,
            tokens: rate * settings.burst_seconds,
            last: now,
            slow_start: true,
            last_cut: f64::NEG_INFINITY,
            cut_rate: rate,
            throttled: 0,
            waited: 0.0,
        }
    }

    fn refill(&mut self, now: f64) {
        let elapsed = (now - self.last).max(0.0);
        self.tokens =
            (self.tokens + elapsed * self.rate).min(self.rate * self.settings.burst_seconds.max(1.0 / self.rate));
        self.last = self.last.max(now);
    }

    /// Takes a token (owing it if there is none) and says when the call may go.
    pub fn reserve(&mut self, now: f64) -> Reservation {
        self.refill(now);
        self.tokens -= 1.0;
        let wait = if self.tokens >= 0.0 { 0.0 } else { -self.tokens / self.rate };
        self.waited += wait;
        Reservation { wait, at: now }
    }

    /// A call reserved with `r` was abandoned before it was sent (its task was cancelled): its
    /// token is given back, so cancelled work does not lengthen the queue of the calls still
    /// waiting.
    pub fn cancelled(&mut self, r: Reservation) {
        if r.wait > 0.0 {
            self.tokens += 1.0;
        }
    }

    /// Tokens owed by queued calls as of the last reservation (0 when none is queued).
    #[cfg(test)]
    pub fn owed(&self) -> f64 {
        (-self.tokens).max(0.0)
    }

    /// A call reserved with `r` was answered (not throttled): if it had to wait for its token,
    /// the bucket was the limit, and the rate rises.
    pub fn succeeded(&mut self, r: Reservation) {
        if r.wait <= 0.0 {
            return;
        }
        let step = if self.slow_start { 1.0 } else { STEP * self.cut_rate / self.rate };
        self.set_rate(self.rate + step);
    }

    /// Moves the rate within bounds. Owed tokens are the queue's horizon at the old rate
    /// (`-tokens / rate` seconds); they are rescaled so that horizon stays where it is.
    fn set_rate(&mut self, rate: f64) {
        let rate = rate.clamp(self.settings.min, self.settings.max);
        if self.tokens < 0.0 {
            self.tokens *= rate / self.rate;
        }
        self.rate = rate;
    }

    /// A call reserved with `r` was throttled: the rate is cut, once per round of calls.
    pub fn throttled(&mut self, r: Reservation, now: f64) {
        self.throttled += 1;
        self.slow_start = false;
        if r.at < self.last_cut {
            return;
        }
        self.refill(now);
        self.set_rate(self.rate * CUT);
        self.cut_rate = self.rate;
        self.last_cut = now;
        // IAM's bucket is empty: start from no tokens rather than a burst.
        self.tokens = self.tokens.min(0.0);
    }

    /// The rate now, calls per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Calls throttled so far.
    pub fn throttled_count(&self) -> u64 {
        self.throttled
    }

    /// Seconds calls were told to wait so far.
    pub fn waited(&self) -> f64 {
        self.waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: BucketSettings = BucketSettings { initial: 10.0, min: 0.5, max: 100.0, burst_seconds: 0.5 };

    #[test]
    fn a_quiet_bucket_lets_its_burst_through_then_queues_in_order() {
        let mut b = Aimd::new(S, 0.0);
        let waits: Vec<f64> = (0..8).map(|_| b.reserve(0.0).wait).collect();
        assert_eq!(&waits[..5], &[0.0; 5], "half a second's worth at once");
        assert!((waits[5] - 0.1).abs() < 1e-9 && (waits[7] - 0.3).abs() < 1e-9, "{waits:?}");
    }

    #[test]
    fn saturation_raises_the_rate_and_a_throttle_cuts_it_once_per_round() {
        let mut b = Aimd::new(S, 0.0);
        let reserved: Vec<Reservation> = (0..20).map(|_| b.reserve(0.0)).collect();
        reserved.iter().for_each(|r| b.succeeded(*r));
        assert!(b.rate() > 20.0, "slow start: {}", b.rate());
        let before = b.rate();
        let late = b.reserve(1.0);
        b.throttled(late, 1.0);
        assert!((b.rate() - before * CUT).abs() < 1e-9);
        b.throttled(reserved[19], 1.0);
        assert!((b.rate() - before * CUT).abs() < 1e-9, "a call reserved before the cut does not cut again");
        assert_eq!(b.throttled_count(), 2);
        let after_cut = b.rate();
        let more: Vec<Reservation> = (0..10).map(|_| b.reserve(1.0)).collect();
        more.iter().for_each(|r| b.succeeded(*r));
        assert!(b.rate() > after_cut && b.rate() < after_cut + 1.0, "additive after the first throttle: {}", b.rate());
    }

    /// The wait of the last queued call and of the next one after a change of rate.
    fn horizon_after(change: impl FnOnce(&mut Aimd, &[Reservation])) -> (f64, f64) {
        let mut b = Aimd::new(S, 0.0);
        let queued: Vec<Reservation> = (0..40).map(|_| b.reserve(0.0)).collect();
        change(&mut b, &queued);
        let last = queued.last().map_or(0.0, |r| r.wait);
        (last, b.reserve(0.0).wait)
    }

    #[test]
    fn a_rise_while_calls_are_queued_does_not_let_new_calls_overtake_the_queue() {
        let (last, next) = horizon_after(|b, queued| queued.iter().for_each(|r| b.succeeded(*r)));
        assert!(next >= last, "the next call ({next} s) must not go before the queue's last ({last} s)");
        assert!(next - last < 0.1, "nor long after it: {next} vs {last}");
    }

    #[test]
    fn a_cut_while_calls_are_queued_leaves_no_gap_behind_the_queue() {
        let (last, next) = horizon_after(|b, queued| b.throttled(queued[39], 0.0));
        assert!(next >= last, "{next} vs {last}");
        assert!(
            next - last <= 1.0 / (S.initial * CUT) + 1e-9,
            "one call's spacing after the queue, not {next} vs {last}"
        );
    }

    #[test]
    fn an_abandoned_reservation_gives_its_token_back() {
        let mut b = Aimd::new(S, 0.0);
        let queued: Vec<Reservation> = (0..10).map(|_| b.reserve(0.0)).collect();
        b.cancelled(queued[9]);
        b.cancelled(queued[0]);
        assert!(
            (b.owed() - 4.0).abs() < 1e-9,
            "the queued call's token came back, the sent one's did not: {}",
            b.owed()
        );
    }

    #[test]
    fn calls_that_never_wait_leave_the_rate_alone_and_the_rate_stays_in_bounds() {
        let mut b = Aimd::new(S, 0.0);
        for i in 0..100 {
            let r = b.reserve(f64::from(i));
            b.succeeded(r);
        }
        assert_eq!(b.rate(), 10.0);
        for i in 0..100 {
            let r = b.reserve(200.0 + f64::from(i));
            b.throttled(r, 200.0 + f64::from(i));
        }
        assert_eq!(b.rate(), 0.5);
    }
}
