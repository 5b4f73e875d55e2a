//! Working many accounts at once: at most `concurrency` of them calling AWS at once (one lease
//! per account), and — only when the front end sets a cap ([`crate::Limits::provider_concurrency`])
//! — at most that many against one provider. IAM's throttling needs no cap: every provider's
//! calls are paced ([`rekey_aws::pace`]).
//!
//! Waiting is not calling: a rotation waiting for its new key to propagate through IAM steps
//! aside ([`waiting`]) so another account's work takes its place, and queues to continue once
//! the key works. At most [`IN_FLIGHT_PER_SLOT`] × `concurrency` accounts are under way at once.

use crate::{rotate::RotationReport, Engine, Result, RotateOptions};
use rekey_domain::HeartbeatStatus;
use rekey_store::{Account, Heartbeat};
use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    task::JoinSet,
};

/// Accounts under way (calling AWS, or waiting for a new key to work) per unit of concurrency.
pub const IN_FLIGHT_PER_SLOT: usize = 8;

/// The calling slot a task of [`for_each`] holds.
#[derive(Clone)]
struct Slot {
    calling: Arc<Semaphore>,
    permit: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
}

tokio::task_local! {
    static SLOT: Slot;
}

/// Runs `f` — a wait that makes no IAM call, such as polling a new key until it works —
/// without holding the task's calling slot (if it runs under [`for_each`]), then takes a slot
/// again before returning.
pub async fn waiting<F: Future>(f: F) -> F::Output {
    let Ok(slot) = SLOT.try_with(Slot::clone) else { return f.await };
    drop(slot.permit.lock().unwrap_or_else(PoisonError::into_inner).take());
    let out = f.await;
    let permit = slot.calling.clone().acquire_owned().await.ok();
    *slot.permit.lock().unwrap_or_else(PoisonError::into_inner) = permit;
    out
}

/// Why accounts of one provider will be worked fewer at once than `concurrency` asks, if they
/// will: the cap the front end set (for the command's output).
pub fn capped(engine: &Engine, accounts: &[Account], concurrency: usize) -> Option<String> {
    let cap = engine.limits.provider_concurrency?;
    let mut per_provider: HashMap<&str, usize> = HashMap::new();
    for a in accounts {
        *per_provider.entry(a.provider.as_str()).or_default() += 1;
    }
    let busiest = per_provider.values().copied().max().unwrap_or(0);
    (cap < concurrency.min(busiest)).then(|| {
        format!(
            "at most {cap} accounts of one provider are worked at once ({} is set), not {}",
            crate::limits::PROVIDER_CONCURRENCY_ENV,
            concurrency.min(busiest)
        )
    })
}

/// Runs `work` for every account, bounded as above; results in input order.
pub async fn for_each<T, F, Fut>(engine: &Arc<Engine>, accounts: Vec<Account>, concurrency: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<Engine>, Account) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let concurrency = concurrency.max(1);
    let calling = Arc::new(Semaphore::new(concurrency));
    let admitted = Arc::new(Semaphore::new(concurrency.saturating_mul(IN_FLIGHT_PER_SLOT)));
    let cap = engine.limits.provider_concurrency;
    let mut per_provider: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let work = Arc::new(work);
    let mut set = JoinSet::new();
    let n = accounts.len();
    engine.progress.announce(n);
    for (i, account) in accounts.into_iter().enumerate() {
        let provider = cap.map(|cap| {
            per_provider.entry(account.provider.to_string()).or_insert_with(|| Arc::new(Semaphore::new(cap))).clone()
        });
        let (calling, admitted, engine, work) = (calling.clone(), admitted.clone(), engine.clone(), work.clone());
        set.spawn(async move {
            let _admitted = admitted.acquire_owned().await;
            let _provider = match provider {
                Some(p) => p.acquire_owned().await.ok(),
                None => None,
            };
            let permit = calling.clone().acquire_owned().await.ok();
            let slot = Slot { calling, permit: Arc::new(Mutex::new(permit)) };
            engine.progress.start();
            (i, SLOT.scope(slot, work(engine, account)).await)
        });
    }
    let mut out: Vec<Option<T>> = (0..n).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, v)) => out[i] = Some(v),
            Err(e) => tracing::error!(error = %e, "a worker task failed"),
        }
    }
    out.into_iter().flatten().collect()
}

impl Engine {
    /// Rotates (or plans) every account.
    pub async fn rotate_many(
        self: &Arc<Self>,
        accounts: Vec<Account>,
        opts: RotateOptions,
        dry_run: bool,
        concurrency: usize,
    ) -> Vec<RotationReport> {
        for_each(self, accounts, concurrency, move |engine, account| {
            let opts = opts.clone();
            async move {
                let r = if dry_run { engine.plan(&account, &opts).await } else { engine.rotate(&account, &opts).await };
                let r = r.unwrap_or_else(|e| RotationReport::refused(&account, &e));
                engine.progress.finish(r.succeeded());
                r
            }
        })
        .await
    }

    /// Heartbeats every account. A busy one (a rotation works it: [`crate::Error::is_busy`]) comes
    /// back as that error, for the caller to report as skipped; it counts as done, not failed.
    pub async fn heartbeat_many(
        self: &Arc<Self>,
        accounts: Vec<Account>,
        concurrency: usize,
    ) -> Vec<(Account, Result<Heartbeat>)> {
        for_each(self, accounts, concurrency, |engine, account| async move {
            let r = engine.heartbeat(&account).await;
            engine.progress.finish(match &r {
                Ok(h) => h.status == HeartbeatStatus::Ok,
                Err(e) => e.is_busy(),
            });
            (account, r)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_task_gives_its_slot_to_another_and_takes_one_back() {
        let calling = Arc::new(Semaphore::new(1));
        let permit = calling.clone().acquire_owned().await.ok();
        let slot = Slot { calling: calling.clone(), permit: Arc::new(Mutex::new(permit)) };
        SLOT.scope(slot, async {
            assert_eq!(calling.available_permits(), 0);
            waiting(async { assert_eq!(calling.available_permits(), 1, "the slot is free while waiting") }).await;
            assert_eq!(calling.available_permits(), 0, "taken again after the wait");
        })
        .await;
        assert_eq!(waiting(async { 7 }).await, 7, "outside a batch, waiting just runs");
    }
}
