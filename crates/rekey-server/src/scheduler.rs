//! The scheduler: a tick (see `rekey_engine::tick`) every `scheduler.interval`, acting as
//! `scheduler` in the audit log. The schedule itself lives in the store (each account's next
//! due time, indexed), so a restart or another node picks up exactly where this one stopped;
//! leases keep two nodes from working the same account.

use crate::periodic::every;
use crate::AppState;
use rekey_engine::{TickOptions, TickReport};
use std::{sync::atomic::Ordering, sync::Arc};
use tokio::sync::watch;

/// Ticks until `stop` turns true; a tick under way finishes its rotations' current phases.
pub async fn run(state: AppState, stop: watch::Receiver<bool>) {
    let cfg = &state.config.scheduler;
    let interval = cfg.interval.duration();
    let opts = TickOptions {
        heartbeat_every_ms: cfg.heartbeat_every.ms(),
        concurrency: cfg.concurrency,
        ..TickOptions::default()
    };
    let engine = Arc::new(state.engine.acting_as("scheduler"));
    state.liveness.scheduler_started();
    let out = std::sync::atomic::AtomicBool::new(false);
    every(interval, stop, || async {
        state.liveness.tick_started();
        let result = engine.tick(&opts).await;
        let failure = match &result {
            Ok(done) => done.outage.clone(),
            Err(e) => Some(e.to_string()),
        };
        state.liveness.tick_ended(engine.clock().now(), failure);
        match result {
            Ok(done) => {
                state.count_heartbeat_failures(done.failed_heartbeats());
                state.ticks.fetch_add(1, Ordering::Relaxed);
                report(&done, done.outage.is_some(), &out);
            }
            Err(e) if e.is_store_outage() => {
                state.tick_failures.fetch_add(1, Ordering::Relaxed);
                // The store logs the outage's start and end; the scheduler says once what it means.
                if !out.swap(true, Ordering::SeqCst) {
                    tracing::error!(error = %e, "scheduler: the vault's database is out; no rotation is started until it is back");
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

/// Logs what a tick did that someone should hear of. Contention between workers (an account
/// under way elsewhere, or rotated since the due list was read) is healthy: debug only.
fn report(done: &TickReport, outage: bool, out: &std::sync::atomic::AtomicBool) {
    if outage {
        if !out.swap(true, Ordering::SeqCst) {
            tracing::error!(error = ?done.outage, left = done.unreached,
                "scheduler: the vault's database went out during a tick; no rotation is started until it is back");
        }
    } else if out.swap(false, Ordering::SeqCst) {
        tracing::warn!("scheduler: the vault's database is back; rotations resume");
    }
    if done.backed_off > 0 {
        tracing::debug!(accounts = done.backed_off, "due rotations waiting after failed attempts");
    }
    if done.heartbeats_busy > 0 {
        tracing::debug!(accounts = done.heartbeats_busy, "heartbeats skipped: a rotation works the account");
    }
    if done.busy + done.skipped > 0 {
        tracing::debug!(
            busy = done.busy,
            skipped = done.skipped,
            "due accounts left to the workers rotating them (or rotated since the due list was read)"
        );
    }
    for r in done.rotations.iter().filter(|r| !r.outcome.committed()) {
        tracing::warn!(account = %r.account, outcome = %r.outcome, error = ?r.error, "scheduled rotation did not finish");
    }
}
