//! What `/readyz` judges a node by: whether its start-up recovery still runs, when its
//! scheduler's ticks started and ended and how the last one went, and (from the engine) the
//! workers holding leases and when each last made progress. The scheduler and the start-up
//! recovery write it; the probe reads it.

use chrono::{DateTime, Utc};
use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex, PoisonError,
    },
    time::{Duration, Instant},
};

/// The node's liveness facts.
#[derive(Debug, Default)]
pub struct Liveness {
    recovering: AtomicBool,
    ticks: Mutex<Ticks>,
}

#[derive(Debug, Default, Clone)]
struct Ticks {
    /// When the scheduler started (`None`: it does not run in this process).
    started: Option<Instant>,
    /// The tick under way, since when.
    running: Option<Instant>,
    /// The last tick that ended.
    last: Option<LastTick>,
}

/// The last tick that ended.
#[derive(Debug, Clone)]
pub struct LastTick {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// How long ago (monotonic).
    pub ended: Instant,
    /// Why it failed (or stopped starting work), if it did.
    pub failure: Option<String>,
}

/// A copy of the scheduler's facts.
#[derive(Debug, Clone)]
pub struct SchedulerFacts {
    /// How long the scheduler has run; `None` when it does not run in this process.
    pub running_for: Option<Duration>,
    /// How long the tick under way has run.
    pub tick_running_for: Option<Duration>,
    /// The last tick that ended.
    pub last: Option<LastTick>,
}

impl Liveness {
    /// Start-up recovery begins (`true`) or ends (`false`).
    pub fn set_recovering(&self, on: bool) {
        self.recovering.store(on, Ordering::SeqCst);
    }

    /// Whether start-up recovery runs.
    pub fn recovering(&self) -> bool {
        self.recovering.load(Ordering::SeqCst)
    }

    fn ticks(&self) -> std::sync::MutexGuard<'_, Ticks> {
        self.ticks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The scheduler starts.
    pub fn scheduler_started(&self) {
        self.ticks().started = Some(Instant::now());
    }

    /// A tick starts.
    pub fn tick_started(&self) {
        self.ticks().running = Some(Instant::now());
    }

    /// A tick ended at `at`, having failed (or stopped starting work) for `failure`.
    pub fn tick_ended(&self, at: DateTime<Utc>, failure: Option<String>) {
        let mut t = self.ticks();
        t.running = None;
        t.last = Some(LastTick { at, ended: Instant::now(), failure });
    }

    /// The scheduler's facts now.
    pub fn scheduler(&self) -> SchedulerFacts {
        let t = self.ticks().clone();
        SchedulerFacts {
            running_for: t.started.map(|s| s.elapsed()),
            tick_running_for: t.running.map(|s| s.elapsed()),
            last: t.last,
        }
    }
}

impl SchedulerFacts {
    /// Why the scheduler cannot make progress, if it cannot: a tick that has run for more than
    /// `stall_after` while no worker moved for as long, or no tick ended within `interval` plus
    /// `stall_after`.
    pub fn stalled(&self, interval: Duration, stall_after: Duration, workers_idle: Option<Duration>) -> Option<String> {
        let started = self.running_for?;
        if let Some(running) = self.tick_running_for {
            let idle = workers_idle.unwrap_or(running);
            return (running > stall_after && idle > stall_after).then(|| {
                format!(
                    "a scheduler tick has run for {} s and no worker made progress for {} s",
                    running.as_secs(),
                    idle.as_secs()
                )
            });
        }
        let since = self.last.as_ref().map_or(started, |l| l.ended.elapsed());
        (since > interval + stall_after).then(|| format!("no scheduler tick for {} s", since.as_secs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_a_long_tick_without_progress_or_no_tick_at_all() {
        let (interval, stall) = (Duration::from_secs(30), Duration::from_secs(60));
        let mut f = SchedulerFacts { running_for: None, tick_running_for: None, last: None };
        assert_eq!(f.stalled(interval, stall, None), None, "no scheduler in this process");
        f.running_for = Some(Duration::from_secs(10));
        f.tick_running_for = Some(Duration::from_secs(120));
        let busy = Some(Duration::from_secs(5));
        assert_eq!(f.stalled(interval, stall, busy), None, "a long tick whose workers move is fine");
        assert!(f.stalled(interval, stall, Some(Duration::from_secs(90))).is_some(), "no worker moved");
        assert!(f.stalled(interval, stall, None).is_some(), "a long tick without workers");
        f.tick_running_for = None;
        f.running_for = Some(Duration::from_secs(100));
        assert!(f.stalled(interval, stall, None).is_some(), "no tick ended since the start");
        f.running_for = Some(Duration::from_secs(80));
        assert_eq!(f.stalled(interval, stall, None), None, "within interval + stall_after of the start");
    }
}
