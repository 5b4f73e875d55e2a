//! Unfinished rotations: recovery resumes each one from its journaled phase under the
//! account's lease, an operator abandons one that has not committed, and the standings say
//! where the waiting ones (manual confirmation, confirmed cut-over) stand.

use super::{confirm, Facts, RotateOptions, RotationReport};
use crate::{failpoint::crash_point, Engine, Error, Result};
use rekey_domain::{Outcome, Phase};
use rekey_store::{Rotation, StoreError};
use std::{sync::Arc, time::Instant};

/// Most unfinished rotations recovered at once (each provider's cap applies too).
pub const RECOVERY_CONCURRENCY: usize = 32;

/// Whether a rotation waits out a grace period: it needs nothing yet, no lease, no AWS client.
fn waiting(rot: &Rotation, now: chrono::DateTime<chrono::Utc>) -> bool {
    let facts: Facts = serde_json::from_value(rot.data.clone()).unwrap_or_default();
    match rot.phase {
        Phase::Delivering => confirm::waiting(&facts, now),
        Phase::Retiring => facts.deactivate_at.is_some_and(|t| t > now),
        Phase::Deactivated => facts.delete_at.is_some_and(|t| t > now),
        _ => false,
    }
}

/// One semaphore per provider, made on first use, holding recovery to the per-provider cap the
/// front end set, if it set one.
struct ProviderCaps {
    cap: Option<usize>,
    caps: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl ProviderCaps {
    fn new(cap: Option<usize>) -> Self {
        Self { cap, caps: std::sync::Mutex::default() }
    }

    async fn slot(&self, provider: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let cap = self.cap?;
        let sem = {
            let mut caps = self.caps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            caps.entry(provider.to_owned()).or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(cap))).clone()
        };
        sem.acquire_owned().await.ok()
    }
}

impl Engine {
    /// Resumes every unfinished rotation whose lease is free or whose owner died, several at
    /// once (at most [`RECOVERY_CONCURRENCY`], and the per-provider cap if one is set), every call
    /// at its provider's pace.
    /// Rotations waiting for a grace period are advanced only when it has passed. A rotation
    /// another live worker holds is reported `refused`.
    pub async fn recover(&self) -> Result<Vec<RotationReport>> {
        self.recover_with(true).await
    }

    /// [`Engine::recover`]; rotations other live workers hold are left out of the reports unless
    /// `report_busy` (a scheduler tick: they are healthy, not failures).
    pub(crate) async fn recover_with(&self, report_busy: bool) -> Result<Vec<RotationReport>> {
        use futures_util::StreamExt;
        let now = self.clock.now();
        let open: Vec<Rotation> =
            self.store.rotations(None, true, 10_000).await?.into_iter().filter(|r| !waiting(r, now)).collect();
        let caps = ProviderCaps::new(self.limits.provider_concurrency);
        self.progress.announce(open.len());
        let results: Vec<Result<Option<RotationReport>>> = futures_util::stream::iter(open)
            .map(|rot| async {
                self.progress.start();
                let r = self.recover_one(rot, &caps, report_busy).await;
                self.progress.finish(matches!(&r, Ok(None)) || matches!(&r, Ok(Some(r)) if r.succeeded()));
                r
            })
            .buffered(RECOVERY_CONCURRENCY)
            .collect()
            .await;
        let mut reports = Vec::new();
        for r in results {
            reports.extend(r?);
        }
        Ok(reports)
    }

    /// Recovers one rotation read from the list of open ones: with its lease held, the rotation
    /// is read again and resumed from that state only — never from the list's, which another
    /// worker may have moved on or finished since.
    async fn recover_one(
        &self,
        listed: Rotation,
        caps: &ProviderCaps,
        report_busy: bool,
    ) -> Result<Option<RotationReport>> {
        let started = Instant::now();
        let account = match self.store.account(&listed.account_id).await {
            Ok(a) => a,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            // Left unfinished and audited; the other rotations are recovered.
            Err(e @ StoreError::Tampered { .. }) => {
                drop(self.audited(listed.account_id.as_str(), e).await);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let _slot = caps.slot(account.provider.as_str()).await;
        let lease = match self.lease(&account.id).await {
            Ok(l) => l,
            Err(e @ Error::Busy { .. }) => return Ok(report_busy.then(|| RotationReport::refused(&account, &e))),
            Err(e) => return Err(e),
        };
        let counts = Arc::new(rekey_aws::pace::TaskCounts::default());
        let outcome = rekey_aws::pace::observe(counts.clone(), async {
            let rot = match self.store.rotation(&listed.id).await {
                Ok(r) => r,
                Err(StoreError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            if rot.phase.is_final() || waiting(&rot, self.clock.now()) {
                return Ok(None);
            }
            let mut run = self.run_for(rot, &lease, &RotateOptions::default()).await?;
            let result = run.drive().await;
            let mut report = run.report(started);
            if let Err(e) = result {
                report = report.interrupted_by(&e);
            }
            Ok::<_, Error>(Some(report.with_counts(&counts)))
        })
        .await;
        lease.release().await;
        match &outcome {
            Ok(Some(r)) => crate::stats::record_outcome(r.outcome),
            Ok(None) => {}
            Err(_) => crate::stats::record_outcome(Outcome::Refused),
        }
        outcome
    }

    /// Abandons an unfinished rotation that has not committed: a new key is deleted (and any
    /// key an interrupted create left), the old credential stays current. Refused once the
    /// change may have reached IAM's users (committed, or a password update under way).
    pub async fn abort_rotation(&self, id: &str) -> Result<RotationReport> {
        let started = Instant::now();
        let rot = self.store.rotation(id).await?;
        abortable(&rot)?;
        crash_point("rotation-abort:before-lease");
        let lease = self.lease(&rot.account_id).await?;
        let result = async {
            // Read again with the lease held: whoever held it before may have moved the rotation
            // on (committed it, even), and an abort of the stale copy would delete the key that
            // is current by now.
            let rot = self.store.rotation(id).await?;
            abortable(&rot)?;
            let mut run = self.run_for(rot, &lease, &RotateOptions::default()).await?;
            run.operator_abort().await?;
            Ok::<_, Error>(run.report(started))
        }
        .await;
        lease.release().await;
        result
    }

    /// Where each account whose unfinished rotation waits for people or consumers stands:
    /// account id → (status, past its deadline). For reports and the API.
    pub async fn standings(&self) -> Result<std::collections::HashMap<String, (String, bool)>> {
        let now = self.clock.now();
        let mut out = std::collections::HashMap::new();
        for rot in self.store.rotations(None, true, 10_000).await? {
            let facts: Facts = serde_json::from_value(rot.data.clone()).unwrap_or_default();
            let standing = match rot.phase {
                Phase::Delivering if confirm::awaiting(&facts) => (
                    format!(
                        "waiting for the manual delivery of rotation {} to be confirmed by {}",
                        rot.id,
                        facts.confirm_by.map(|t| rekey_domain::timestamp::rfc3339(&t)).unwrap_or_default()
                    ),
                    facts.confirm_by.is_some_and(|t| t <= now),
                ),
                Phase::Retiring => match &facts.cutover_status {
                    Some(s) if s.starts_with("waiting") => (s.clone(), facts.cutover_overdue_notified),
                    _ => continue,
                },
                _ => continue,
            };
            out.insert(rot.account_id.to_string(), standing);
        }
        Ok(out)
    }
}

/// Whether `rot` may still be aborted: it has not committed, and no password update is under
/// way (the change may already have reached IAM's users).
fn abortable(rot: &Rotation) -> Result<()> {
    let allowed = matches!(
        rot.phase,
        Phase::Planned
            | Phase::Preflight
            | Phase::CreateRequested
            | Phase::Created
            | Phase::Tagged
            | Phase::Verifying
            | Phase::Delivering
            | Phase::Aborting
            | Phase::Generated
    );
    if allowed {
        return Ok(());
    }
    let hint = match rot.phase {
        Phase::UpdateRequested => "the new password may already be set in IAM: run `rekey recover` to finish it",
        p if p.is_final() => "it has already finished",
        _ => "it has committed; `rekey rollback` restores the previous key",
    };
    Err(Error::conflict(format!("rotation {} is in phase {} and cannot be aborted", rot.id, rot.phase), hint))
}
