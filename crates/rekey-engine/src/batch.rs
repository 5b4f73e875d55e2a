//! Working many accounts at once: at most `concurrency` in flight overall and at most
//! [`per_provider`] against any one provider (IAM throttles per account), one lease per account.

use crate::{rotate::Report, Engine, Result, RotateOptions};
use rekey_store::{Account, Heartbeat};
use std::{collections::HashMap, future::Future, sync::Arc};
use tokio::{sync::Semaphore, task::JoinSet};

/// Most accounts worked at once against one provider, by default.
pub const PER_PROVIDER: usize = 8;

/// `REKEY_PROVIDER_CONCURRENCY` (1–256), when set, replaces [`PER_PROVIDER`]: for endpoints that
/// take more parallel calls than IAM's throttling allows (an emulator, a proxy), and benchmarks.
pub const PER_PROVIDER_ENV: &str = "REKEY_PROVIDER_CONCURRENCY";

/// The per-provider cap [`PER_PROVIDER_ENV`] sets, if it is set; a usage error when it is set to
/// anything but a number from 1 to 256 (the CLI checks this before any command runs).
pub fn per_provider_setting() -> crate::Result<Option<usize>> {
    let Some(v) = std::env::var_os(PER_PROVIDER_ENV) else { return Ok(None) };
    match v.to_str().and_then(|v| v.trim().parse::<usize>().ok()) {
        Some(n) if (1..=256).contains(&n) => Ok(Some(n)),
        _ => Err(crate::Error::usage(
            format!("{PER_PROVIDER_ENV} must be a number from 1 to 256, not {v:?}"),
            format!("unset it (the default is {PER_PROVIDER}) or set it to e.g. {PER_PROVIDER_ENV}=32"),
        )),
    }
}

/// The per-provider cap in force ([`PER_PROVIDER`] unless [`PER_PROVIDER_ENV`] is a valid number).
pub fn per_provider() -> usize {
    per_provider_setting().ok().flatten().unwrap_or(PER_PROVIDER)
}

/// Runs `work` for every account, bounded as above; results in input order.
pub async fn for_each<T, F, Fut>(engine: &Arc<Engine>, accounts: Vec<Account>, concurrency: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<Engine>, Account) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let global = Arc::new(Semaphore::new(concurrency.max(1)));
    let cap = per_provider();
    let mut per_provider: HashMap<String, Arc<Semaphore>> = HashMap::new();
    let work = Arc::new(work);
    let mut set = JoinSet::new();
    let n = accounts.len();
    for (i, account) in accounts.into_iter().enumerate() {
        let provider =
            per_provider.entry(account.provider.to_string()).or_insert_with(|| Arc::new(Semaphore::new(cap))).clone();
        let (global, engine, work) = (global.clone(), engine.clone(), work.clone());
        set.spawn(async move {
            let _g = global.acquire_owned().await;
            let _p = provider.acquire_owned().await;
            (i, work(engine, account).await)
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
    ) -> Vec<Report> {
        for_each(self, accounts, concurrency, move |engine, account| {
            let opts = opts.clone();
            async move {
                let r = if dry_run { engine.plan(&account, &opts).await } else { engine.rotate(&account, &opts).await };
                r.unwrap_or_else(|e| Report::refused(&account, &e))
            }
        })
        .await
    }

    /// Heartbeats every account.
    pub async fn heartbeat_many(
        self: &Arc<Self>,
        accounts: Vec<Account>,
        concurrency: usize,
    ) -> Vec<(Account, Result<Heartbeat>)> {
        for_each(self, accounts, concurrency, |engine, account| async move {
            let r = engine.heartbeat(&account).await;
            (account, r)
        })
        .await
    }
}
