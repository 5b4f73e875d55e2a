//! One scheduler tick, shared by `rekey run-due` and the server: recover what was interrupted,
//! rotate the passwords whose check-out lapsed or was returned, rotate what is due, and
//! heartbeat what is stale. Every step reads an index (open rotations, open check-outs by
//! expiry, accounts by next-due and by last heartbeat), so a tick costs what is due, not what
//! the vault holds.

use crate::{rotate::RotationReport, Engine, Error, Result, RotateOptions};
use rekey_domain::{HeartbeatStatus, Outcome};
use rekey_store::{Account, Heartbeat};
use std::sync::Arc;

/// How much one tick may do.
#[derive(Debug, Clone)]
pub struct TickOptions {
    /// Heartbeat an account whose last heartbeat is older than this.
    pub heartbeat_every_ms: u64,
    /// Accounts worked at once (the per-provider cap of [`crate::batch`] applies too).
    pub concurrency: usize,
    /// Most accounts taken per step; the rest wait for the next tick.
    pub limit: i64,
}

impl Default for TickOptions {
    fn default() -> Self {
        Self { heartbeat_every_ms: 24 * 3_600_000, concurrency: 8, limit: 10_000 }
    }
}

/// What a tick did.
#[derive(Debug, Default)]
pub struct TickReport {
    /// Rotations worked: recovered, check-outs ended, scheduled.
    pub rotations: Vec<RotationReport>,
    /// Heartbeats run, with their results.
    pub heartbeats: Vec<(Account, Result<Heartbeat>)>,
    /// Stale accounts whose heartbeat was skipped because a rotation worked them (under way,
    /// or it ran while the heartbeat checked): the rotation proved the credential, and the
    /// next tick judges the account as it is then (healthy contention, not a failure).
    pub heartbeats_busy: usize,
    /// Accounts passed over because their password is checked out.
    pub deferred: usize,
    /// Due accounts passed over because their last scheduled attempts failed and the wait
    /// before the next one ([`retry_wait`]) has not passed.
    pub backed_off: usize,
    /// Due accounts (and unfinished rotations) passed over because another live worker holds
    /// their lease: their rotation is under way elsewhere (healthy contention, not a failure).
    pub busy: usize,
    /// Due accounts found no longer due once their lease was held (another worker rotated
    /// them since the due list was read).
    pub skipped: usize,
    /// Due accounts not started because the store went out during the tick.
    pub unreached: usize,
    /// Why the store went out during the tick, if it did: the tick stopped starting work.
    pub outage: Option<String>,
}

/// What became of one due account in a tick.
enum Due {
    Worked(Box<RotationReport>),
    Busy,
    Unreached,
}

/// How long the scheduler waits before attempting a due rotation again after `failures`
/// consecutive aborted rotations: 1 minute, doubling, at most 1 hour. An aborted rotation
/// changed nothing, but retrying a broken account (user deleted, permission revoked) on every
/// tick would call IAM and grow the audit log on every tick for as long as nobody looks.
/// `rekey rotate` retries at once.
pub fn retry_wait(failures: usize) -> chrono::Duration {
    const MINUTE_MS: i64 = 60_000;
    let exp = failures.saturating_sub(1).min(6);
    chrono::Duration::milliseconds((MINUTE_MS << exp).min(60 * MINUTE_MS))
}

/// Latest rotations read to count consecutive failures (from the seventh the wait is at its
/// maximum).
const HISTORY: i64 = 8;

impl TickReport {
    /// Heartbeats that failed or found problems.
    pub fn failed_heartbeats(&self) -> usize {
        self.heartbeats.iter().filter(|(_, r)| !matches!(r, Ok(h) if h.status == HeartbeatStatus::Ok)).count()
    }
}

impl Engine {
    /// Runs one tick (see the module docs). Stops starting work once [`Engine::stopping`].
    pub async fn tick(self: &Arc<Self>, opts: &TickOptions) -> Result<TickReport> {
        let mut out = TickReport { rotations: self.recover_with(false).await?, ..TickReport::default() };
        out.rotations.retain(|r| r.outcome != Outcome::Retiring);
        out.rotations.extend(self.end_lapsed_checkouts(opts).await?);
        if self.stopping() {
            return Ok(out);
        }
        let now = self.clock.now();
        let mut due = Vec::new();
        for account in self.store.due_accounts(now, opts.limit).await? {
            if self.store.open_checkout_of(&account.id).await?.is_some() {
                out.deferred += 1;
            } else if self.backing_off(&account, now).await? {
                out.backed_off += 1;
            } else {
                due.push(account);
            }
        }
        let scheduled = RotateOptions { scheduled: true, ..RotateOptions::default() };
        // Once the store is out, the accounts not yet started wait for the next tick: each would
        // only wait for the store's bound and fail.
        let outage: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let seen = outage.clone();
        let results = crate::batch::for_each(self, due, opts.concurrency, move |engine, account| {
            let (opts, seen) = (scheduled.clone(), seen.clone());
            async move {
                if seen.lock().is_ok_and(|o| o.is_some()) {
                    engine.progress.finish(false);
                    return Due::Unreached;
                }
                let due = match engine.rotate(&account, &opts).await {
                    Ok(r) => Due::Worked(Box::new(r)),
                    // Another worker has this account's rotation under way: not this tick's.
                    Err(Error::Busy { .. }) => Due::Busy,
                    Err(e) if e.is_store_outage() => {
                        if let Ok(mut o) = seen.lock() {
                            o.get_or_insert_with(|| e.to_string());
                        }
                        Due::Unreached
                    }
                    Err(e) => Due::Worked(Box::new(RotationReport::refused(&account, &e))),
                };
                engine.progress.finish(match &due {
                    Due::Worked(r) => r.succeeded(),
                    Due::Busy => true,
                    Due::Unreached => false,
                });
                due
            }
        })
        .await;
        for r in results {
            match r {
                Due::Busy => out.busy += 1,
                Due::Unreached => out.unreached += 1,
                Due::Worked(r) if r.outcome == Outcome::Skipped => out.skipped += 1,
                Due::Worked(r) => out.rotations.push(*r),
            }
        }
        out.outage = outage.lock().ok().and_then(|mut o| o.take());
        if out.outage.is_some() {
            return Ok(out);
        }
        if self.stopping() {
            return Ok(out);
        }
        let every = i64::try_from(opts.heartbeat_every_ms).unwrap_or(i64::MAX / 2);
        let stale = self.store.stale_heartbeats(now - chrono::Duration::milliseconds(every), opts.limit).await?;
        let (busy, run): (Vec<_>, Vec<_>) = self
            .heartbeat_many(stale, opts.concurrency)
            .await
            .into_iter()
            .partition(|(_, r)| r.as_ref().is_err_and(Error::is_busy));
        out.heartbeats_busy = busy.len();
        out.heartbeats = run;
        Ok(out)
    }

    /// Whether the account's latest rotations aborted and [`retry_wait`] has not passed since
    /// the last of them ended.
    async fn backing_off(&self, account: &Account, now: chrono::DateTime<chrono::Utc>) -> Result<bool> {
        let recent = self.store.rotations(Some(&account.id), false, HISTORY).await?;
        let failures = recent.iter().take_while(|r| r.phase == rekey_domain::Phase::Aborted).count();
        let Some(last) = recent.first().filter(|_| failures > 0) else { return Ok(false) };
        let ended = last.finished_at.unwrap_or(last.updated_at);
        Ok(now < ended + retry_wait(failures))
    }

    /// Rotates every password whose check-out expired or was checked in, and ends the
    /// check-out once the password the holder saw is dead (see [`crate::checkout`]). A failed
    /// rotation leaves the check-out open (so nobody else checks out the seen password) for
    /// the next tick; one another worker holds is left to it.
    async fn end_lapsed_checkouts(self: &Arc<Self>, opts: &TickOptions) -> Result<Vec<RotationReport>> {
        let now = self.clock.now();
        let mut reports = Vec::new();
        for c in self.store.expired_checkouts(now, opts.limit).await? {
            if self.stopping() {
                break;
            }
            crate::failpoint::crash_point("checkout:listed");
            match self.end_lapsed_checkout(&c).await {
                Ok(Some(report)) => reports.push(report),
                // Ended by another worker, or under way in one that ends it.
                Ok(None) | Err(Error::Busy { .. }) => {}
                Err(e) if e.is_store_outage() => return Err(e),
                // The check-out stays open; the next tick tries it again.
                Err(e) => tracing::warn!(checkout = %c.id, account = %c.account_id, error = %e,
                    "could not end a lapsed check-out"),
            }
        }
        Ok(reports)
    }
}
