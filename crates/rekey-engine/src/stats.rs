//! Process-wide rotation statistics for the server's `/metrics`: how long each phase took
//! (time from journaling the previous phase to journaling this one), how rotations ended, how
//! long IAM took to make new keys work (propagation), the leases taken over from holders that
//! stopped (and how long their work stood still: the failover time), and the workers fenced off
//! after losing their lease.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

/// Upper bounds of the phase-duration histogram buckets, in seconds.
pub const BUCKETS: [f64; 10] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

/// One histogram: counts per bucket (cumulative at export), sum and count.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// Observations at or below each bound of [`BUCKETS`] (not cumulative).
    pub buckets: [u64; BUCKETS.len()],
    /// Sum of observations, seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// Upper bounds of the propagation histogram buckets, in seconds.
pub const PROPAGATION_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 60.0];

/// A histogram over [`PROPAGATION_BUCKETS`].
#[derive(Debug, Clone, Default)]
pub struct Propagation {
    /// Observations at or below each bound (not cumulative).
    pub buckets: [u64; PROPAGATION_BUCKETS.len()],
    /// Sum of observations, seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// Upper bounds of the failover-time histogram buckets, in seconds.
pub const FAILOVER_BUCKETS: [f64; 10] = [1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 45.0, 60.0, 120.0, 300.0];

impl Histogram {
    const fn new() -> Self {
        Self { buckets: [0; BUCKETS.len()], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, bounds: &[f64; BUCKETS.len()], took: Duration) {
        let secs = took.as_secs_f64();
        if let Some(i) = bounds.iter().position(|b| secs <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += secs;
        self.count += 1;
    }
}

static PHASES: Mutex<BTreeMap<(String, String), Histogram>> = Mutex::new(BTreeMap::new());
static PROPAGATION: Mutex<Propagation> =
    Mutex::new(Propagation { buckets: [0; PROPAGATION_BUCKETS.len()], sum: 0.0, count: 0 });

/// Records that a new access key first worked `took` after CreateAccessKey returned it.
pub fn record_propagation(took: Duration) {
    let secs = took.as_secs_f64();
    if let Ok(mut h) = PROPAGATION.lock() {
        if let Some(i) = PROPAGATION_BUCKETS.iter().position(|b| secs <= *b) {
            h.buckets[i] += 1;
        }
        h.sum += secs;
        h.count += 1;
    }
}

/// The propagation histogram.
pub fn propagation() -> Propagation {
    PROPAGATION.lock().map(|h| h.clone()).unwrap_or_default()
}
static OUTCOMES: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
static FAILOVERS: Mutex<Histogram> = Mutex::new(Histogram::new());
static TAKEOVERS: AtomicU64 = AtomicU64::new(0);
static FENCED: AtomicU64 = AtomicU64::new(0);
static ABANDONED: AtomicU64 = AtomicU64::new(0);

/// Records that a rotation of `kind` reached `phase` `took` after its previous phase.
pub fn record_phase(kind: &str, phase: &str, took: Duration) {
    if let Ok(mut m) = PHASES.lock() {
        m.entry((kind.to_owned(), phase.to_owned())).or_default().observe(&BUCKETS, took);
    }
}

/// Records a lease taken over from a holder that stopped renewing it; `stood_still` is the time
/// from its last renewal to the takeover, when known.
pub fn record_takeover(stood_still: Option<Duration>) {
    TAKEOVERS.fetch_add(1, Ordering::Relaxed);
    if let (Some(took), Ok(mut h)) = (stood_still, FAILOVERS.lock()) {
        h.observe(&FAILOVER_BUCKETS, took);
    }
}

/// Records a worker of this process fenced off: its lease was taken over while it was paused
/// or cut off.
pub fn record_fenced() {
    FENCED.fetch_add(1, Ordering::Relaxed);
}

/// Records a side effect of this process abandoned before its lease could expire (renewals
/// failed while the call ran): its outcome is unknown.
pub fn record_abandoned() {
    ABANDONED.fetch_add(1, Ordering::Relaxed);
}

/// Side effects abandoned before their lease could expire.
pub fn abandoned() -> u64 {
    ABANDONED.load(Ordering::Relaxed)
}

/// Leases taken over, and the failover-time histogram.
pub fn takeovers() -> (u64, Histogram) {
    (TAKEOVERS.load(Ordering::Relaxed), FAILOVERS.lock().map(|h| h.clone()).unwrap_or_default())
}

/// Workers fenced off.
pub fn fenced() -> u64 {
    FENCED.load(Ordering::Relaxed)
}

/// Records how a rotation run ended.
pub fn record_outcome(outcome: rekey_domain::Outcome) {
    if let Ok(mut m) = OUTCOMES.lock() {
        *m.entry(outcome.as_str().to_owned()).or_default() += 1;
    }
}

/// Phase histograms by `(kind, phase)`.
pub fn phases() -> Vec<((String, String), Histogram)> {
    PHASES.lock().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

/// Rotation outcomes with their counts.
pub fn outcomes() -> Vec<(String, u64)> {
    OUTCOMES.lock().map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect()).unwrap_or_default()
}
