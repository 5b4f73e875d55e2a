//! Pacing: rekey sends IAM and STS calls no faster than the AWS account accepts them.
//!
//! IAM and STS throttle per AWS account with token buckets — one for every IAM call, one for
//! IAM calls that change something, one for STS — and answer `Throttling` beyond them. AWS
//! publishes no rates, so a [`Pacer`] (one per provider) learns them: an adaptive bucket per
//! AWS bucket ([`bucket::Aimd`]) that rises while calls queue and falls when IAM throttles.
//! Every HTTP request of a paced connection passes through [`connector`]: it waits for a token
//! of each bucket the call takes (outside any attempt timeout: waiting is not calling), sends,
//! and when IAM answers `Throttling` — which means the call did nothing, so even
//! `CreateAccessKey` may be sent again — it cuts the rate and sends the call again after a new
//! token, without spending the SDK's retries or its retry quota.
//!
//! Counts are kept per pacer (the server's `/metrics`) and per task ([`observe`]: a rotation's
//! report says how often it was throttled and how long it waited for tokens).

pub(crate) mod bucket;
pub(crate) mod connector;

use bucket::{Aimd, BucketSettings, Reservation};
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock, PoisonError,
    },
    time::{Duration, Instant},
};

pub use bucket::BucketSettings as Rates;

/// IAM's and STS's buckets, as rekey paces them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    /// Every IAM call.
    Iam,
    /// IAM calls that change something (they take a token from [`Bucket::Iam`] too).
    IamMutating,
    /// Every STS call.
    Sts,
}

impl Bucket {
    /// The label in metrics and settings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iam => "iam",
            Self::IamMutating => "iam-mutating",
            Self::Sts => "sts",
        }
    }

    const ALL: [Bucket; 3] = [Self::Iam, Self::IamMutating, Self::Sts];
}

/// How each bucket starts. The defaults are for real AWS: a little below the rates reported for
/// IAM (about 20 calls/s, 10 mutating calls/s per account) and well below STS's (about 600/s),
/// so a first run is not throttled at all; the pacer then finds the real rates by itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PaceSettings {
    /// Every IAM call.
    pub iam: BucketSettings,
    /// IAM calls that change something.
    pub iam_mutating: BucketSettings,
    /// Every STS call.
    pub sts: BucketSettings,
}

impl Default for PaceSettings {
    fn default() -> Self {
        let b = |initial: f64, max: f64| BucketSettings { initial, min: 0.5, max, burst_seconds: 0.5 };
        Self { iam: b(16.0, 1_000.0), iam_mutating: b(8.0, 500.0), sts: b(100.0, 5_000.0) }
    }
}

impl PaceSettings {
    /// Parses `iam=16,iam-mutating=8,sts=100` (initial rates; any subset), as
    /// `REKEY_AWS_PACE` gives them.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut s = Self::default();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item.split_once('=').ok_or_else(|| format!("{item:?} is not BUCKET=RATE"))?;
            let rate = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r >= 0.5)
                .ok_or_else(|| format!("{item:?}: the rate must be a number of calls per second, at least 0.5"))?;
            let bucket = match name.trim() {
                "iam" => &mut s.iam,
                "iam-mutating" => &mut s.iam_mutating,
                "sts" => &mut s.sts,
                other => return Err(format!("unknown bucket {other:?}: use iam, iam-mutating or sts")),
            };
            bucket.initial = rate;
            bucket.max = bucket.max.max(rate);
        }
        Ok(s)
    }
}

#[derive(Debug)]
struct Buckets {
    iam: Aimd,
    iam_mutating: Aimd,
    sts: Aimd,
}

impl Buckets {
    fn get(&mut self, b: Bucket) -> &mut Aimd {
        match b {
            Bucket::Iam => &mut self.iam,
            Bucket::IamMutating => &mut self.iam_mutating,
            Bucket::Sts => &mut self.sts,
        }
    }
}

/// The pace of one provider's calls.
#[derive(Debug)]
pub struct Pacer {
    name: String,
    epoch: Instant,
    buckets: Mutex<Buckets>,
}

/// The reservations of one call, one per bucket it takes.
#[derive(Debug, Clone)]
pub(crate) struct Ticket(Vec<(Bucket, Reservation)>);

impl Ticket {
    fn wait(&self) -> Duration {
        Duration::from_secs_f64(self.0.iter().map(|(_, r)| r.wait).fold(0.0, f64::max))
    }
}

impl Pacer {
    fn new(name: &str, s: PaceSettings) -> Self {
        Self {
            name: name.to_owned(),
            epoch: Instant::now(),
            buckets: Mutex::new(Buckets {
                iam: Aimd::new(s.iam, 0.0),
                iam_mutating: Aimd::new(s.iam_mutating, 0.0),
                sts: Aimd::new(s.sts, 0.0),
            }),
        }
    }

    /// The provider (scope) this pacer belongs to.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves a token of each of `buckets` and waits until the call may go.
    pub(crate) async fn acquire(&self, buckets: &[Bucket]) -> Ticket {
        let now = self.now();
        let ticket = {
            let mut all = self.lock();
            Ticket(buckets.iter().map(|b| (*b, all.get(*b).reserve(now))).collect())
        };
        let wait = ticket.wait();
        if !wait.is_zero() {
            TASK.try_with(|s| s.waited_ms.fetch_add(wait.as_millis() as u64, Ordering::Relaxed)).ok();
            let waiting = Waiting { pacer: self, ticket: Some(&ticket) };
            tokio::time::sleep(wait).await;
            waiting.sent();
        }
        ticket
    }

    /// The call of `ticket` was answered.
    pub(crate) fn succeeded(&self, ticket: &Ticket) {
        let mut all = self.lock();
        for (b, r) in &ticket.0 {
            all.get(*b).succeeded(*r);
        }
    }

    /// The call of `ticket` was throttled: the bucket that refused it is cut. IAM does not say
    /// which of its buckets refused a mutating call; the mutating bucket, the smaller, is blamed.
    pub(crate) fn throttled(&self, ticket: &Ticket) {
        let now = self.now();
        let blamed = ticket.0.iter().map(|(b, _)| *b).max();
        if let Some((b, r)) = ticket.0.iter().find(|(b, _)| Some(*b) == blamed) {
            self.lock().get(*b).throttled(*r, now);
            TASK.try_with(|s| s.throttled.fetch_add(1, Ordering::Relaxed)).ok();
        }
    }

    /// Each bucket's rate now (calls per second) and the calls throttled so far.
    pub fn snapshot(&self) -> Vec<BucketState> {
        let mut all = self.lock();
        Bucket::ALL
            .iter()
            .map(|b| {
                let a = all.get(*b);
                BucketState { bucket: *b, rate: a.rate(), throttled: a.throttled_count(), waited: a.waited() }
            })
            .collect()
    }
}

/// A ticket whose call is still waiting for its tokens: dropped before [`Waiting::sent`] (the
/// task was cancelled while it waited), it gives its tokens back.
struct Waiting<'a> {
    pacer: &'a Pacer,
    ticket: Option<&'a Ticket>,
}

impl Waiting<'_> {
    fn sent(mut self) {
        self.ticket = None;
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let mut all = self.pacer.lock();
            for (b, r) in &ticket.0 {
                all.get(*b).cancelled(*r);
            }
        }
    }
}

/// One bucket of a pacer, for metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketState {
    /// Which bucket.
    pub bucket: Bucket,
    /// Its rate now, calls per second.
    pub rate: f64,
    /// Calls throttled so far.
    pub throttled: u64,
    /// Seconds calls waited for its tokens so far.
    pub waited: f64,
}

type Registry = Mutex<BTreeMap<String, Arc<Pacer>>>;

fn registry() -> &'static Registry {
    static PACERS: OnceLock<Registry> = OnceLock::new();
    PACERS.get_or_init(Registry::default)
}

/// The process's pacer for `scope` (a provider), made with `settings` on first use: every
/// connection of the provider shares it, as every caller in an AWS account shares its buckets.
pub fn pacer(scope: &str, settings: &PaceSettings) -> Arc<Pacer> {
    registry()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(scope.to_owned())
        .or_insert_with(|| Arc::new(Pacer::new(scope, *settings)))
        .clone()
}

/// Every pacer of the process with its buckets (the server's `/metrics`).
pub fn paces() -> Vec<(String, Vec<BucketState>)> {
    let pacers: Vec<Arc<Pacer>> = registry().lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
    pacers.iter().map(|p| (p.name.clone(), p.snapshot())).collect()
}

/// What the calls of one task (a rotation, a heartbeat) met.
#[derive(Debug, Default)]
pub struct TaskCounts {
    throttled: AtomicU64,
    waited_ms: AtomicU64,
}

impl TaskCounts {
    /// Calls answered `Throttling` (each was sent again).
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Milliseconds calls waited for the pacer's tokens.
    pub fn waited_ms(&self) -> u64 {
        self.waited_ms.load(Ordering::Relaxed)
    }
}

tokio::task_local! {
    static TASK: Arc<TaskCounts>;
}

/// Runs `f`, counting what its AWS calls meet in `counts`.
pub async fn observe<F: std::future::Future>(counts: Arc<TaskCounts>, f: F) -> F::Output {
    TASK.scope(counts, f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_refuse_nonsense() {
        let s = PaceSettings::parse("iam-mutating=100, sts=2").unwrap_or_default();
        assert_eq!((s.iam.initial, s.iam_mutating.initial, s.sts.initial), (16.0, 100.0, 2.0));
        for bad in ["iam", "iam=0", "iam=fast", "s3=5"] {
            assert!(PaceSettings::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_throttle_cuts_the_blamed_bucket_and_counts_for_the_task() {
        let p = Pacer::new("t", PaceSettings::default());
        let counts = Arc::new(TaskCounts::default());
        let before = p.snapshot();
        observe(counts.clone(), async {
            let t = p.acquire(&[Bucket::Iam, Bucket::IamMutating]).await;
            p.throttled(&t);
        })
        .await;
        let after = p.snapshot();
        assert_eq!(counts.throttled(), 1);
        assert_eq!(after[0].rate, before[0].rate, "the all-calls bucket is not blamed for a mutating call");
        assert!(after[1].rate < before[1].rate && after[1].throttled == 1);
    }

    #[tokio::test]
    async fn a_call_cancelled_while_it_waits_gives_its_tokens_back() {
        // One token at once, then one every two seconds.
        let slow = BucketSettings { initial: 0.5, min: 0.5, max: 1.0, burst_seconds: 2.0 };
        let p = Pacer::new("t", PaceSettings { iam: slow, ..PaceSettings::default() });
        let first = p.acquire(&[Bucket::Iam]).await;
        assert!(first.wait().is_zero() && p.lock().iam.owed() == 0.0, "the first call takes the one token");
        // The second call must wait about two seconds for its token; its task is cancelled long before.
        let cancelled = tokio::time::timeout(Duration::from_millis(1), p.acquire(&[Bucket::Iam])).await;
        assert!(cancelled.is_err(), "the call was still waiting");
        let owed = p.lock().iam.owed();
        assert_eq!(owed, 0.0, "the cancelled call's token is not owed any more");
    }
}
