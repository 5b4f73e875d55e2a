//! The scheduler: a tick (see `rekey_engine::tick`) every `scheduler.interval`, acting as
//! `scheduler` in the audit log. The schedule itself lives in the store (each account's next
//! due time, indexed), so a restart or another node picks up exactly where this one stopped;
//! leases keep two nodes from working the same account.

use crate::{config::Config, AppState};
use rekey_engine::TickOptions;
use std::{sync::atomic::Ordering, sync::Arc, time::Duration};
use tokio::sync::watch;

/// Ticks until `stop` turns true; a tick under way finishes its rotations' current phases.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let cfg = &state.config.scheduler;
    let every = Duration::from_millis(Config::ms(&cfg.interval));
    let opts = TickOptions {
        heartbeat_every_ms: Config::ms(&cfg.heartbeat_every),
        concurrency: cfg.concurrency,
        ..TickOptions::default()
    };
    let engine = Arc::new(state.engine.acting_as("scheduler"));
    loop {
        if *stop.borrow() {
            return;
        }
        match engine.tick(&opts).await {
            Ok(done) => {
                state.count_heartbeat_failures(done.failed_heartbeats());
                state.ticks.fetch_add(1, Ordering::Relaxed);
                for r in done.rotations.iter().filter(|r| !matches!(r.outcome.as_str(), "done" | "retiring")) {
                    tracing::warn!(account = %r.account, outcome = %r.outcome, error = ?r.error, "scheduled rotation did not finish");
                }
            }
            Err(e) => {
                state.tick_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "scheduler tick failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}
