//! One adaptive token bucket: the rate rekey believes one of IAM's or STS's buckets accepts.
//!
//! A call takes a token when it is sent, never before: while the bucket is empty it is told how
//! long until the next token and asks again then (the [`super::Pacer`] queues callers in order
//! in front of it). So the rate in force when a call goes is the rate of that moment — a cut
//! slows the very next call and a rise speeds it up, however many calls are waiting; a schedule
//! fixed when calls were queued would keep sending at the old rate for as long as the queue
//! lasts (tens of seconds with hundreds of calls queued), overshooting after a cut and idling
//! after a rise's correction. The rate is learnt: it rises while calls have to wait for tokens and
//! none is throttled — doubling every second at first (slow start), then by a fixed step per
//! second — and falls by a factor when IAM answers `Throttling`, once per round of calls (calls
//! sent before the last cut do not cut again). Time is passed in as seconds since an arbitrary
//! start, so the bucket is tested without waiting.

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

/// A token taken: when its call was sent, and how long the call waited for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reservation {
    /// Seconds the call waited, in the queue and for the token (0: sent at once).
    pub wait: f64,
    /// When the token was taken (the call was sent).
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

    /// Takes a token for a call that has waited `waited` seconds so far, if there is one;
    /// otherwise says how many seconds until there is.
    pub fn take(&mut self, now: f64, waited: f64) -> Result<Reservation, f64> {
        self.refill(now);
        // A token refilled to within rounding of whole is whole: waiting for the last
        // billionth of one could be shorter than time can express.
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens -= 1.0;
            self.waited += waited;
            Ok(Reservation { wait: waited, at: now })
        } else {
            Err((1.0 - self.tokens) / self.rate)
        }
    }

    /// The call sent with `r` was answered (not throttled): if it had to wait for its token,
    /// the bucket was the limit, and the rate rises.
    pub fn succeeded(&mut self, r: Reservation) {
        if r.wait <= 0.0 {
            return;
        }
        let step = if self.slow_start { 1.0 } else { STEP * self.cut_rate / self.rate };
        self.set_rate(self.rate + step);
    }

    /// Moves the rate within bounds; it applies from the next token taken.
    fn set_rate(&mut self, rate: f64) {
        self.rate = rate.clamp(self.settings.min, self.settings.max);
    }

    /// The call sent with `r` was throttled: the rate is cut, once per round of calls.
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
        self.tokens = 0.0;
    }

    /// The rate now, calls per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Calls throttled so far.
    pub fn throttled_count(&self) -> u64 {
        self.throttled
    }

    /// Seconds calls waited for this bucket's tokens so far.
    pub fn waited(&self) -> f64 {
        self.waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: BucketSettings = BucketSettings { initial: 10.0, min: 0.5, max: 100.0, burst_seconds: 0.5 };

    /// Sends `n` queued calls one after another from `start`, each as soon as its token exists;
    /// `between` runs after each send (it may move the rate). Returns the sends.
    fn drain(b: &mut Aimd, start: f64, n: usize, mut between: impl FnMut(&mut Aimd, Reservation)) -> Vec<Reservation> {
        let mut now = start;
        let mut sent = Vec::new();
        while sent.len() < n {
            match b.take(now, now - start) {
                Ok(r) => {
                    between(b, r);
                    sent.push(r);
                }
                Err(wait) => now += wait,
            }
        }
        sent
    }

    fn gaps(sent: &[Reservation]) -> Vec<f64> {
        sent.windows(2).map(|w| w[1].at - w[0].at).collect()
    }

    #[test]
    fn a_quiet_bucket_lets_its_burst_through_then_says_when_the_next_token_comes() {
        let mut b = Aimd::new(S, 0.0);
        let burst = (0..5).filter(|_| b.take(0.0, 0.0).is_ok()).count();
        assert_eq!(burst, 5, "half a second's worth at once");
        let wait = b.take(0.0, 0.0).err().unwrap_or_default();
        assert!((wait - 0.1).abs() < 1e-9, "{wait}");
        assert!(b.take(0.05, 0.05).is_err() && b.take(0.1, 0.1).is_ok());
    }

    #[test]
    fn saturation_raises_the_rate_and_a_throttle_cuts_it_once_per_round() {
        let mut b = Aimd::new(S, 0.0);
        let sent = drain(&mut b, 0.0, 20, |b, r| b.succeeded(r));
        assert!(b.rate() > 20.0, "slow start: {}", b.rate());
        let before = b.rate();
        let late = drain(&mut b, 1.0, 1, |_, _| {})[0];
        b.throttled(late, late.at);
        assert!((b.rate() - before * CUT).abs() < 1e-9);
        b.throttled(sent[19], late.at);
        assert!((b.rate() - before * CUT).abs() < 1e-9, "a call sent before the cut does not cut again");
        assert_eq!(b.throttled_count(), 2);
        let after_cut = b.rate();
        drain(&mut b, late.at, 10, |b, r| b.succeeded(r));
        assert!(b.rate() > after_cut && b.rate() < after_cut + 1.0, "additive after the first throttle: {}", b.rate());
    }

    #[test]
    fn a_cut_slows_the_very_next_call_and_leaves_no_gap() {
        const CUT_AT: usize = 15;
        let mut b = Aimd::new(S, 0.0);
        let mut n = 0;
        let sent = drain(&mut b, 0.0, 40, |b, r| {
            n += 1;
            if n == CUT_AT {
                b.throttled(r, r.at);
            }
        });
        let spacing = 1.0 / (S.initial * CUT);
        for (i, gap) in gaps(&sent).into_iter().enumerate().skip(CUT_AT - 1) {
            assert!((gap - spacing).abs() < 1e-9, "call {} went {gap} s after the one before, not {spacing}", i + 2);
        }
    }

    #[test]
    fn a_rise_speeds_up_the_very_next_call() {
        let mut b = Aimd::new(S, 0.0);
        let sent = drain(&mut b, 0.0, 30, |b, r| b.succeeded(r));
        let gaps = gaps(&sent[5..]);
        assert!(gaps.windows(2).all(|w| w[1] <= w[0] + 1e-9), "each success shortens the next gap: {gaps:?}");
        assert!(gaps[gaps.len() - 1] < gaps[0] / 2.0, "{gaps:?}");
    }

    #[test]
    fn a_call_that_never_takes_its_token_costs_nothing() {
        let mut b = Aimd::new(S, 0.0);
        drain(&mut b, 0.0, 5, |_, _| {});
        // A call asks, is told to wait, and is abandoned; the next caller finds the token it never took.
        assert!(b.take(0.0, 0.0).is_err());
        assert!(b.take(0.1, 0.1).is_ok(), "the token of the abandoned call is there for the next");
    }

    #[test]
    fn calls_that_never_wait_leave_the_rate_alone_and_the_rate_stays_in_bounds() {
        let mut b = Aimd::new(S, 0.0);
        for i in 0..100 {
            let now = f64::from(i);
            if let Ok(r) = b.take(now, 0.0) {
                b.succeeded(r);
            }
        }
        assert_eq!(b.rate(), 10.0);
        for i in 0..100 {
            let now = 200.0 + f64::from(i);
            if let Ok(r) = b.take(now, 0.0) {
                b.throttled(r, now);
            }
        }
        assert_eq!(b.rate(), 0.5);
    }
}
