//! Reads of one row by key, gathered. A read that finds every reader connection busy waits
//! beside the others, and whichever of them gets a connection first answers all the waiting
//! reads with one statement (`… IN (…)`). Under load one statement, and one hand-off to the
//! connection's thread and back, then serves many requests instead of one; a lone read is
//! still one statement, asked as soon as a connection is free.
//!
//! A waiter is answered by the first of two things: its own turn at a connection, or another
//! reader that took it along. A statement that fails answers none of the reads it took: each
//! of them is dropped unanswered and reads alone, so it meets the error itself.

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
};
use tokio::sync::oneshot;

/// Most reads one statement answers.
pub(crate) const GATHER_MAX: usize = 128;

/// Reads waiting to be answered: each by key `K`, with its own argument `A` (the time its
/// answer is computed at), answered with `V`.
pub(crate) struct Gathered<K, A, V> {
    waiting: Mutex<Vec<Waiter<K, A, V>>>,
    tickets: AtomicU64,
}

/// One waiting read.
pub(crate) struct Waiter<K, A, V> {
    pub key: K,
    pub arg: A,
    ticket: u64,
    answer: oneshot::Sender<V>,
}

impl<K, A, V> Default for Gathered<K, A, V> {
    fn default() -> Self {
        Self { waiting: Mutex::new(Vec::new()), tickets: AtomicU64::new(0) }
    }
}

impl<K, A, V> fmt::Debug for Gathered<K, A, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiting = self.waiting.lock().map_or(0, |w| w.len());
        f.debug_struct("Gathered").field("waiting", &waiting).finish()
    }
}

impl<K, A, V> Gathered<K, A, V> {
    /// Adds a read of `key`: its ticket and the receiver its answer arrives on, which fails if
    /// the read was taken by a statement that failed (then it reads alone).
    pub(crate) fn join(&self, key: K, arg: A) -> (u64, oneshot::Receiver<V>) {
        let (answer, receiver) = oneshot::channel();
        let ticket = self.tickets.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.push(Waiter { key, arg, ticket, answer });
        }
        (ticket, receiver)
    }

    /// Whether the read of `ticket` still waits to be taken by a statement.
    pub(crate) fn is_waiting(&self, ticket: u64) -> bool {
        self.waiting.lock().is_ok_and(|waiting| waiting.iter().any(|w| w.ticket == ticket))
    }

    /// Up to `max` waiting reads, oldest first, leaving out those whose caller gave up.
    pub(crate) fn take(&self, max: usize) -> Vec<Waiter<K, A, V>> {
        let Ok(mut waiting) = self.waiting.lock() else { return Vec::new() };
        waiting.retain(|w| !w.answer.is_closed());
        let n = waiting.len().min(max);
        waiting.drain(..n).collect()
    }
}

impl<K, A, V> Waiter<K, A, V> {
    /// Answers the read (its caller may have given up meanwhile).
    pub(crate) fn answer(self, value: V) {
        let _ = self.answer.send(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_taken_oldest_first_and_abandoned_ones_left_out() {
        let g = Gathered::<u32, (), u32>::default();
        let (_, first) = g.join(1, ());
        drop(g.join(2, ()));
        let (ticket, mut third) = g.join(3, ());
        assert!(g.is_waiting(ticket));
        let taken = g.take(GATHER_MAX);
        assert_eq!(taken.iter().map(|w| w.key).collect::<Vec<_>>(), [1, 3], "the abandoned read is left out");
        assert!(g.take(GATHER_MAX).is_empty(), "taken reads are no longer waiting");
        assert!(!g.is_waiting(ticket));
        let mut taken = taken.into_iter();
        if let Some(w) = taken.next() {
            w.answer(10);
        }
        drop(taken);
        assert_eq!(first.blocking_recv().ok(), Some(10));
        assert!(third.try_recv().is_err(), "a read taken and dropped unanswered reads alone");
    }

    #[test]
    fn a_statement_takes_at_most_its_share() {
        let g = Gathered::<usize, (), ()>::default();
        let _answers: Vec<_> = (0..GATHER_MAX + 5).map(|k| g.join(k, ())).collect();
        assert_eq!(g.take(GATHER_MAX).len(), GATHER_MAX);
        assert_eq!(
            g.take(GATHER_MAX).iter().map(|w| w.key).collect::<Vec<_>>(),
            (GATHER_MAX..GATHER_MAX + 5).collect::<Vec<_>>()
        );
    }
}
