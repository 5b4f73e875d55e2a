//! `rekey run-due`: everything that is due now — unfinished rotations and retirements whose
//! grace passed (recovery), scheduled rotations, stale heartbeats. Once (for cron and systemd
//! timers) or repeatedly until interrupted.

use crate::{
    cli::{Format, Global, RunDueArgs},
    cmd::rotate,
    context,
};
use rekey_engine::{Engine, Error, Result, TickOptions};
use std::sync::Arc;

pub async fn run(global: &Global, format: Format, args: RunDueArgs) -> Result<()> {
    let engine = Arc::new(context::engine(global).await?);
    loop {
        let result = tick(&engine, format, args.heartbeat_every.ms(), usize::from(args.concurrency)).await;
        if args.once {
            return result;
        }
        if let Err(e) = result {
            errln!("run-due: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(args.interval.duration()) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminated() => return Ok(()),
        }
    }
}

async fn tick(engine: &Arc<Engine>, format: Format, heartbeat_every: u64, concurrency: usize) -> Result<()> {
    let opts = TickOptions { heartbeat_every_ms: heartbeat_every, concurrency, ..TickOptions::default() };
    let shown = crate::progress::show(engine.progress(), "run-due");
    let done = engine.tick(&opts).await;
    if let Some(s) = shown {
        s.done().await;
    }
    let done = done?;
    let failed_beats = done.failed_heartbeats();
    if !done.rotations.is_empty() || format == Format::Json {
        rotate::print_reports(format, &done.rotations, false);
    }
    let mut skipped = String::new();
    if done.deferred > 0 {
        skipped.push_str(&format!(", {} deferred (checked out)", done.deferred));
    }
    if done.busy + done.skipped > 0 {
        skipped.push_str(&format!(
            ", {} under way in another worker, {} rotated by another worker since the due list was read",
            done.busy, done.skipped
        ));
    }
    if done.heartbeats_busy > 0 {
        skipped.push_str(&format!(", {} heartbeat(s) skipped (a rotation works the account)", done.heartbeats_busy));
    }
    if done.backed_off > 0 {
        skipped.push_str(&format!(
            ", {} waiting after failed attempts (`rekey rotate ACCOUNT` retries at once)",
            done.backed_off
        ));
    }
    errln!(
        "run-due: {} rotation(s) worked, {} heartbeat(s), {failed_beats} with problems{skipped}",
        done.rotations.len(),
        done.heartbeats.len(),
    );
    if let Some(outage) = &done.outage {
        return Err(Error::Internal(format!(
            "the vault's database went out during the tick ({outage}); {} due account(s) were left for the next run",
            done.unreached
        )));
    }
    rotate::check_reports(&done.rotations)?;
    if failed_beats > 0 {
        return Err(Error::Findings(format!("{failed_beats} heartbeat(s) found problems")));
    }
    Ok(())
}

/// SIGTERM (systemd's stop signal); never on platforms without it.
pub async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        s.recv().await;
        return;
    }
    std::future::pending::<()>().await;
}
