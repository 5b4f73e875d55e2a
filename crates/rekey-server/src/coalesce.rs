//! Identical reads made at once, answered once. A read that finds another read of the same
//! answer being worked waits for its turn; when it gets it, it takes the answer of a
//! computation that *began after it arrived*, if one has finished meanwhile, and computes
//! otherwise. So every answer is as fresh as a read of its own would be (a write finished
//! before the read arrived is in it), while a burst of one read — a console's page polled by
//! many operators, a dashboard scraping `/metrics` — costs one computation per turn instead of
//! one per request. A lone read computes at once.
//!
//! Only answers that name no secret are shared, and only between callers who would each be
//! given the same answer: the key says everything the answer depends on (the route, its
//! parameters, and the caller's folders).

use axum::{
    body::{Body, Bytes},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
};

/// An HTTP answer read whole, to be given to every read that shares it.
#[derive(Debug)]
pub struct Buffered {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Buffered {
    /// `response` read whole (an answer whose body cannot be read is a 500).
    pub async fn of(response: Response) -> Arc<Self> {
        let (parts, body) = response.into_parts();
        let answer = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => Self { status: parts.status, headers: parts.headers, body },
            Err(e) => {
                tracing::error!(error = %e, "an answer's body could not be read");
                Self { status: StatusCode::INTERNAL_SERVER_ERROR, headers: HeaderMap::new(), body: Bytes::new() }
            }
        };
        Arc::new(answer)
    }

    /// Whether others may be given it: a success (an error is each read's own to meet).
    pub fn shareable(answer: &Arc<Self>) -> bool {
        answer.status == StatusCode::OK
    }

    /// A response of it.
    pub fn response(&self) -> Response {
        let mut r = Response::new(Body::from(self.body.clone()));
        *r.status_mut() = self.status;
        *r.headers_mut() = self.headers.clone();
        r
    }
}

/// Reads of answers `V` by key `K` (see the module docs).
#[derive(Debug)]
pub struct Coalesce<K, V> {
    slots: Mutex<HashMap<K, Arc<Slot<V>>>>,
    clock: AtomicU64,
    shared: AtomicU64,
}

/// One read's hold on its key's slot. The last reader of a key, however it ends (answered, or
/// dropped with its request), takes the slot and the answer in it away: the count is read and
/// the hold let go under the map's lock, where holds are also taken.
struct Reader<'a, K: Eq + Hash + Clone, V> {
    owner: &'a Coalesce<K, V>,
    key: K,
    slot: Option<Arc<Slot<V>>>,
}

impl<K: Eq + Hash + Clone, V> Drop for Reader<'_, K, V> {
    fn drop(&mut self) {
        let mut slots = self.owner.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = self.slot.take() {
            if Arc::strong_count(&slot) == 2 {
                slots.remove(&self.key);
            }
            drop(slot);
        }
    }
}

/// One key's turn, and the last answer computed in it with the instant its computation began.
#[derive(Debug)]
struct Slot<V> {
    turn: tokio::sync::Mutex<Option<(u64, V)>>,
}

impl<K, V> Default for Coalesce<K, V> {
    fn default() -> Self {
        Self { slots: Mutex::new(HashMap::new()), clock: AtomicU64::new(0), shared: AtomicU64::new(0) }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Coalesce<K, V> {
    /// The answer to `key`: computed by `compute`, or shared from a computation that began after
    /// this call did. An answer `keep` refuses (an error) is not shared: the reads waiting
    /// behind it compute their own.
    pub async fn get<F, Fut>(&self, key: K, keep: impl Fn(&V) -> bool, compute: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = V>,
    {
        let arrived = self.clock.fetch_add(1, Ordering::SeqCst);
        let slot =
            self.lock().entry(key.clone()).or_insert_with(|| Arc::new(Slot { turn: Default::default() })).clone();
        // Leaves the slot when this read ends, answered or dropped with its request.
        let reader = Reader { owner: self, key, slot: Some(slot) };
        let Some(slot) = reader.slot.as_ref() else { return compute().await };
        let mut turn = slot.turn.lock().await;
        match turn.as_ref() {
            Some((began, v)) if *began > arrived => {
                self.shared.fetch_add(1, Ordering::Relaxed);
                v.clone()
            }
            _ => {
                let began = self.clock.fetch_add(1, Ordering::SeqCst);
                // Whoever waits behind a computation cancelled with its request computes anew.
                *turn = None;
                let v = compute().await;
                if keep(&v) {
                    *turn = Some((began, v.clone()));
                }
                v
            }
        }
    }

    /// Reads answered with another read's computation, so far.
    pub fn shared(&self) -> u64 {
        self.shared.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<Slot<V>>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keys with a read under way or waiting (tests).
    #[cfg(test)]
    fn keys(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use tokio::sync::Notify;

    #[tokio::test]
    async fn reads_waiting_behind_a_computation_share_the_next_one_not_the_one_under_way() {
        let c = Arc::new(Coalesce::<&str, usize>::default());
        let computed = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        // The first read computes, and is held until released.
        let first = {
            let (c, computed, release) = (c.clone(), computed.clone(), release.clone());
            tokio::spawn(async move {
                c.get(
                    "k",
                    |_| true,
                    || async move {
                        let n = computed.fetch_add(1, Ordering::SeqCst) + 1;
                        release.notified().await;
                        n
                    },
                )
                .await
            })
        };
        while computed.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Five reads arrive while it computes: its answer began before them, so they share one
        // computation of their own.
        let later: Vec<_> = (0..5)
            .map(|_| {
                let (c, computed) = (c.clone(), computed.clone());
                tokio::spawn(async move {
                    c.get("k", |_| true, || async move { computed.fetch_add(1, Ordering::SeqCst) + 1 }).await
                })
            })
            .collect();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        release.notify_one();
        assert_eq!(first.await.ok(), Some(1));
        let mut answers = Vec::new();
        for t in later {
            answers.push(t.await.unwrap_or_default());
        }
        assert_eq!(answers, vec![2; 5], "the five later reads got the second computation");
        assert_eq!(computed.load(Ordering::SeqCst), 2);
        assert_eq!(c.shared(), 4, "one of the five computed, four shared its answer");
        assert_eq!(c.keys(), 0, "the slot went with its last reader");
        // A read after all of them computes again: nothing is kept between bursts.
        assert_eq!(c.get("k", |_| true, || async { 7 }).await, 7);
    }

    #[tokio::test]
    async fn reads_dropped_with_their_request_leave_nothing_behind() {
        let c = Arc::new(Coalesce::<&str, usize>::default());
        let started = Arc::new(Notify::new());
        let computing = {
            let (c, started) = (c.clone(), started.clone());
            tokio::spawn(async move {
                c.get(
                    "k",
                    |_| true,
                    || async move {
                        started.notify_one();
                        std::future::pending::<usize>().await
                    },
                )
                .await
            })
        };
        started.notified().await;
        let waiting = {
            let c = c.clone();
            tokio::spawn(async move { c.get("k", |_| true, || async { 1 }).await })
        };
        // The waiter has joined once the slot has three holds: the map's and the two reads'.
        while c.lock().get("k").is_none_or(|s| Arc::strong_count(s) != 3) {
            tokio::task::yield_now().await;
        }
        waiting.abort();
        let _ = waiting.await;
        assert_eq!(c.keys(), 1, "the computing read still holds the slot");
        computing.abort();
        let _ = computing.await;
        assert_eq!(c.keys(), 0, "a read dropped while it computed took its slot away");
        assert_eq!(c.get("k", |_| true, || async { 3 }).await, 3, "the next read computes afresh");
    }

    #[tokio::test]
    async fn refused_answers_are_not_shared_and_keys_do_not_mix() {
        let c = Arc::new(Coalesce::<u8, Result<u8, ()>>::default());
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        let held = gate.clone().lock_owned().await;
        let failing = {
            let (c, gate) = (c.clone(), gate.clone());
            tokio::spawn(async move {
                c.get(1, Result::is_ok, || async move {
                    let _g = gate.lock().await;
                    Err(())
                })
                .await
            })
        };
        tokio::task::yield_now().await;
        let behind = {
            let c = c.clone();
            tokio::spawn(async move { c.get(1, Result::is_ok, || async { Ok(5) }).await })
        };
        let other = c.get(2, Result::is_ok, || async { Ok(9) }).await;
        assert_eq!(other, Ok(9), "another key does not wait");
        drop(held);
        assert_eq!(failing.await.ok(), Some(Err(())));
        assert_eq!(behind.await.ok(), Some(Ok(5)), "a read behind an error computes its own answer");
    }
}
