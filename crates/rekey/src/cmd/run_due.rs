//! `rekey run-due`: everything that is due now — unfinished rotations and retirements whose
//! grace passed (recovery), scheduled rotations, stale heartbeats. Once (for cron and systemd
//! timers) or repeatedly until interrupted.

use crate::{
    cli::{Format, Global, RunDueArgs},
    cmd::rotate,
    context,
};
use rekey_domain::duration::parse_duration_ms;
use rekey_engine::{Engine, Error, Result, RotateOptions};
use rekey_store::AccountFilter;
use std::{sync::Arc, time::Duration};

pub async fn run(global: &Global, format: Format, args: RunDueArgs) -> Result<()> {
    let interval = parse_duration_ms(&args.interval)?;
    let heartbeat_every = parse_duration_ms(&args.heartbeat_every)?;
    if interval == 0 {
        return Err(Error::usage("--interval must be positive", "use e.g. 60s"));
    }
    let engine = Arc::new(context::engine(global).await?);
    loop {
        let result = tick(&engine, format, heartbeat_every, usize::from(args.concurrency)).await;
        if args.once {
            return result;
        }
        if let Err(e) = result {
            eprintln!("run-due: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(interval)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminated() => return Ok(()),
        }
    }
}

async fn tick(engine: &Arc<Engine>, format: Format, heartbeat_every: u64, concurrency: usize) -> Result<()> {
    let now = engine.clock().now();
    let mut reports = engine.recover().await?;
    reports.retain(|r| r.outcome != "retiring");
    let due = engine.store().due_accounts(now, 10_000).await?;
    reports.extend(engine.rotate_many(due, RotateOptions::default(), false, concurrency).await);
    let stale_before = now - chrono::Duration::milliseconds(i64::try_from(heartbeat_every).unwrap_or(i64::MAX / 2));
    let stale: Vec<_> = engine
        .accounts(&AccountFilter::default())
        .await?
        .into_iter()
        .filter(|a| a.status == "ok" && a.heartbeat.as_ref().is_none_or(|h| h.at < stale_before))
        .collect();
    let beats = engine.heartbeat_many(stale, concurrency).await;
    let failed_beats = beats.iter().filter(|(_, r)| !matches!(r, Ok(h) if h.status == "ok")).count();
    if !reports.is_empty() || format == Format::Json {
        rotate::print_reports(format, &reports, false);
    }
    eprintln!(
        "run-due: {} rotation(s) worked, {} heartbeat(s), {failed_beats} with problems",
        reports.len(),
        beats.len()
    );
    rotate::check_reports(&reports)?;
    if failed_beats > 0 {
        return Err(Error::Findings(format!("{failed_beats} heartbeat(s) found problems")));
    }
    Ok(())
}

/// SIGTERM (systemd's stop signal); never on platforms without it.
async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        s.recv().await;
        return;
    }
    std::future::pending::<()>().await;
}
