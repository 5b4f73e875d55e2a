//! Pacing: rekey sends IAM and STS calls no faster than the AWS account accepts them.
//!
//! IAM and STS throttle per AWS account with token buckets — one for every IAM call, one for
//! IAM calls that change something, one for STS — and answer `Throttling` beyond them. AWS
//! publishes no rates, so a [`Pacer`] (one per provider) learns them: an adaptive bucket per
//! AWS bucket (`bucket::Aimd`) that rises while calls queue and falls when IAM throttles.
//! Every HTTP request of a paced connection passes through `connector`: it waits for a token
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
    time::Duration,
};
use tokio::time::Instant;

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
    /// One queue per bucket, in the order calls arrived (tokio's mutex is fair): only the call at
    /// its head waits for the next token, so the token goes out at the rate of the moment.
    queues: [tokio::sync::Mutex<()>; 3],
}

/// The reservations of one call, one per bucket it takes.
#[derive(Debug, Clone)]
pub(crate) struct Ticket(Vec<(Bucket, Reservation)>);

impl Ticket {
    #[cfg(test)]
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
            queues: Default::default(),
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

    /// Waits in each of `buckets`' queues in turn until the call may go, and takes its tokens.
    /// The smaller bucket is queued for first (a mutating call takes IAM's mutating token, then
    /// its all-calls token), so reads are not held up behind the mutating pace. A call cancelled
    /// while it waits has taken no token: abandoned work costs the calls behind it nothing.
    pub(crate) async fn acquire(&self, buckets: &[Bucket]) -> Ticket {
        let mut order = buckets.to_vec();
        order.sort_by(|a, b| b.cmp(a));
        let start = self.now();
        let mut taken = Vec::with_capacity(order.len());
        for b in order {
            let joined = self.now();
            let queue = &self.queues[b as usize];
            // A call that finds the queue empty and a token there has not waited at all: only
            // waiting means the bucket is the limit (and lets the rate rise).
            let (_head, mut queued) = match queue.try_lock() {
                Ok(head) => (head, false),
                Err(_) => (queue.lock().await, true),
            };
            loop {
                let now = self.now();
                let next = self.lock().get(b).take(now, if queued { now - joined } else { 0.0 });
                match next {
                    Ok(r) => break taken.push((b, r)),
                    Err(wait) => {
                        queued = true;
                        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                    }
                }
            }
        }
        let waited = self.now() - start;
        if waited > 0.0 {
            TASK.try_with(|s| s.waited_ms.fetch_add((waited * 1000.0) as u64, Ordering::Relaxed)).ok();
        }
        Ticket(taken)
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

    fn slow_iam() -> Pacer {
        // One token at once, then one every two seconds; never rises above that.
        let slow = BucketSettings { initial: 0.5, min: 0.5, max: 0.5, burst_seconds: 2.0 };
        Pacer::new("t", PaceSettings { iam: slow, ..PaceSettings::default() })
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_cancelled_while_it_waits_costs_the_calls_behind_it_nothing() {
        let p = slow_iam();
        let first = p.acquire(&[Bucket::Iam]).await;
        assert!(first.wait().is_zero(), "the first call takes the one token");
        let cancelled = tokio::time::timeout(Duration::from_millis(500), p.acquire(&[Bucket::Iam])).await;
        assert!(cancelled.is_err(), "the second call was still waiting");
        let started = Instant::now();
        p.acquire(&[Bucket::Iam]).await;
        let waited = started.elapsed().as_secs_f64();
        assert!((waited - 1.5).abs() < 0.001, "the third call takes the token the second never took: {waited} s");
    }

    #[tokio::test(start_paused = true)]
    async fn queued_calls_go_in_order_at_the_rate_of_the_moment() {
        // Ten calls a second, one at a time, never rising.
        let sts = BucketSettings { initial: 10.0, min: 0.5, max: 10.0, burst_seconds: 0.1 };
        let p = Arc::new(Pacer::new("t", PaceSettings { sts, ..PaceSettings::default() }));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..30 {
            let (p, sent) = (p.clone(), sent.clone());
            tasks.push(tokio::spawn(async move {
                let t = p.acquire(&[Bucket::Sts]).await;
                sent.lock().unwrap_or_else(PoisonError::into_inner).push((i, Instant::now(), t));
            }));
            // Each task queues before the next is spawned.
            tokio::task::yield_now().await;
        }
        // The tenth call is throttled when it is sent: every call after it goes at the cut rate.
        let cut_after = loop {
            let ten = sent.lock().unwrap_or_else(PoisonError::into_inner).get(9).map(|(_, at, t)| (*at, t.clone()));
            if let Some((at, t)) = ten {
                p.throttled(&t);
                break at;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        for t in tasks {
            t.await.unwrap_or_default();
        }
        let sent = sent.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let order: Vec<usize> = sent.iter().map(|(i, _, _)| *i).collect();
        assert_eq!(order, (0..30).collect::<Vec<_>>(), "first queued, first sent");
        let cut_rate = sts.initial * bucket::CUT;
        let after: Vec<f64> = sent
            .iter()
            .map(|(_, at, _)| *at)
            .filter(|at| *at > cut_after)
            .map(|at| at.duration_since(cut_after).as_secs_f64())
            .collect();
        assert!(after.len() >= 15, "most calls were still queued at the cut: {}", after.len());
        for (k, at) in after.iter().enumerate() {
            let due = (k + 1) as f64 / cut_rate;
            assert!((at - due).abs() < 0.01, "call {k} after the cut went at {at} s, not {due} s");
        }
    }
}
