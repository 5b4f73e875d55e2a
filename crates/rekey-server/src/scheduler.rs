//! The scheduler: a tick (see `rekey_engine::tick`) every `scheduler.interval`, acting as
//! `scheduler` in the audit log. The schedule itself lives in the store (each account's next
//! due time, indexed), so a restart or another node picks up exactly where this one stopped;
//! leases keep two nodes from working the same account.

use crate::{config::Config, AppState};
use rekey_engine::TickOptions;
use std::{sync::atomic::Ordering, sync::Arc, time::Duration};
use tokio::sync::watch;

/// Ticks until `stop` turns true; a tick under way finishes its rotations' current phases.
pub async fn run(state: AppState, stop: watch::Receiver<bool>) {
    let cfg = &state.config.scheduler;
    let interval = Duration::from_millis(Config::ms(&cfg.interval));
    let opts = TickOptions {
        heartbeat_every_ms: Config::ms(&cfg.heartbeat_every),
        concurrency: cfg.concurrency,
        ..TickOptions::default()
    };
    let engine = Arc::new(state.engine.acting_as("scheduler"));
    every(interval, stop, || async {
        match engine.tick(&opts).await {
            Ok(done) => {
                state.count_heartbeat_failures(done.failed_heartbeats());
                state.ticks.fetch_add(1, Ordering::Relaxed);
                if done.backed_off > 0 {
                    tracing::debug!(accounts = done.backed_off, "due rotations waiting after failed attempts");
                }
                if done.busy + done.skipped > 0 {
                    tracing::debug!(
                        busy = done.busy,
                        skipped = done.skipped,
                        "due accounts left to the workers rotating them (or rotated since the due list was read)"
                    );
                }
                for r in done.rotations.iter().filter(|r| !matches!(r.outcome.as_str(), "done" | "retiring")) {
                    tracing::warn!(account = %r.account, outcome = %r.outcome, error = ?r.error, "scheduled rotation did not finish");
                }
            }
            Err(e) => {
                state.tick_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "scheduler tick failed");
            }
        }
    })
    .await;
}

/// Runs `round` now and then every `interval` after the previous round ended, until `stop`
/// turns true (a round under way finishes first). The scheduler, each audit export and the
/// notifier are driven by it.
pub(crate) async fn every<F, Fut>(interval: Duration, mut stop: watch::Receiver<bool>, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    while !*stop.borrow() {
        round().await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
