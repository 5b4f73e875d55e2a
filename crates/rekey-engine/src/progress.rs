//! Progress of long runs over many accounts (rotations, heartbeats, recovery), counted as the
//! work goes so a front end can show it (the CLI draws it on a terminal; see `rekey::progress`).
//! Counting costs a few atomic increments per account.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts of the work under way in one engine.
#[derive(Debug, Default)]
pub struct Progress {
    total: AtomicUsize,
    done: AtomicUsize,
    failed: AtomicUsize,
    in_flight: AtomicUsize,
}

/// A snapshot of [`Progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Accounts (or rotations) announced.
    pub total: usize,
    /// Finished well.
    pub done: usize,
    /// Finished otherwise (aborted, interrupted, refused; a heartbeat with problems).
    pub failed: usize,
    /// Under way now.
    pub in_flight: usize,
}

impl Progress {
    /// Starts counting afresh (a new run of the same engine).
    pub fn reset(&self) {
        for c in [&self.total, &self.done, &self.failed, &self.in_flight] {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// `n` more to do.
    pub(crate) fn announce(&self, n: usize) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// One has started.
    pub(crate) fn start(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// One that started has finished, well or not.
    pub(crate) fn finish(&self, ok: bool) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let counter = if ok { &self.done } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn tally(&self) -> Tally {
        Tally {
            total: self.total.load(Ordering::Relaxed),
            done: self.done.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_work() {
        let p = Progress::default();
        p.announce(3);
        p.start();
        p.start();
        p.finish(true);
        assert_eq!(p.tally(), Tally { total: 3, done: 1, failed: 0, in_flight: 1 });
        p.finish(false);
        assert_eq!(p.tally(), Tally { total: 3, done: 1, failed: 1, in_flight: 0 });
    }
}
