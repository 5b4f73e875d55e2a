//! Rotations: journaled runs of the two state machines of docs/ARCHITECTURE.md.
//!
//! A `Run` holds the account's lease and walks a [`Rotation`] from phase to phase. Each step
//! reads IAM again, so it is safe to repeat; every phase is journaled (under the lease's
//! fencing token) before the side effect it announces, except a new access key's secret, which
//! is sealed and stored the moment `CreateAccessKey` returns. `recover` simply resumes each
//! unfinished rotation from its phase.
//!
//! # Layout
//!
//! - This file: [`RotateOptions`], an account's settings as a rotation reads them, and
//!   [`Engine::rotate`] (resume what is open, then start a new rotation).
//! - `run`: `Run` and its journal, lease guard and step loop; the `Facts` it journals.
//! - `access_key`, `password`: the two state machines' steps; `cutover`: retirement once
//!   consumers moved; `confirm`: manual delivery and `rotation confirm`.
//! - `recover`: recovery of unfinished rotations, operator abort, standings.
//! - `report`: [`RotationReport`]; `plan`: dry runs; `history`: listing journaled rotations.

mod access_key;
mod change_password;
mod confirm;
mod cutover;
mod history;
mod password;
mod plan;
mod recover;
mod report;
mod run;
mod tagging;

use crate::{lease::Held, Engine, Error, Result};
use rekey_domain::{Outcome, Phase, RotationSettings};
use rekey_store::{Account, JournalWrite, Rotation, SettingsProblem, StoreError};
use serde_json::json;
use std::{sync::Arc, time::Instant};

pub use confirm::Pending;
pub use plan::Plan;
pub use recover::RECOVERY_CONCURRENCY;
pub(crate) use report::reference;
pub use report::RotationReport;
pub(crate) use run::{Facts, Run, Step, UserCheck};

/// Options of `rekey rotate`.
#[derive(Debug, Clone, Default)]
pub struct RotateOptions {
    /// Allow deleting an inactive foreign key when no slot is free.
    pub reclaim_foreign: bool,
    /// Rotate a password someone has checked out (audited; their copy stops working).
    pub force_checkout: bool,
    /// A scheduled rotation: a new rotation starts only if the account is still due once its
    /// lease is held, and its first journal write claims the period (see
    /// [`rekey_store::JournalWrite::claim_due`]); otherwise the outcome is `skipped`.
    pub scheduled: bool,
    /// Part of this incident (`rekey rotate --incident`): no grace, no unused or cut-over gate;
    /// the previous key is deactivated as soon as the new one is delivered.
    pub incident: Option<String>,
}

/// A fresh rotation id: `rot_` and 16 random hex digits.
fn new_rotation_id() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("rot_{n:016x}")
}

impl Engine {
    /// The typed rotation settings of an account. The store read and validated them when it
    /// read the row (another process, or an older version, wrote them: a delivery target must
    /// never be used on settings this process would refuse, and the rules may have tightened
    /// since they were set); settings that failed are an integrity error here, as are those of
    /// an account that failed its integrity check (unless it never had settings of its own).
    pub fn settings_of(account: &Account) -> Result<&RotationSettings> {
        if !account.settings.is_unset() {
            if let Some(why) = &account.tampered {
                return Err(Error::Integrity {
                    message: format!("account {} failed its integrity check ({why})", account.id),
                });
            }
        }
        account.settings.typed().map_err(|problem| Error::Integrity {
            message: match problem {
                SettingsProblem::Unreadable(e) => format!("settings of account {}: {e}", account.id),
                SettingsProblem::BreaksRule(e) => {
                    format!("settings of account {} break a rule: {e}; nothing is delivered", account.id)
                }
            },
        })
    }

    /// Rotates one account: finishes or resumes its unfinished rotation first, then runs a new
    /// one to completion (or to its retirement grace period).
    pub async fn rotate(&self, account: &Account, opts: &RotateOptions) -> Result<RotationReport> {
        self.refuse_tampered(account).await?;
        self.respect_checkout(account, "rotate", opts.force_checkout).await?;
        let lease = self.lease(&account.id).await?;
        let result = self.rotate_leased(account, opts, &lease).await;
        lease.release().await;
        result
    }

    /// [`Engine::rotate`] for a caller that holds the account's lease already (and has checked
    /// the account's integrity and check-out): ending a lapsed check-out rotates and ends it
    /// under one lease.
    pub(crate) async fn rotate_leased(
        &self,
        account: &Account,
        opts: &RotateOptions,
        lease: &Held,
    ) -> Result<RotationReport> {
        let started = Instant::now();
        let counts = Arc::new(rekey_aws::pace::TaskCounts::default());
        let result = rekey_aws::pace::observe(counts.clone(), self.rotate_held(account, opts, lease, started)).await;
        let result = result.map(|r| r.with_counts(&counts));
        crate::stats::record_outcome(result.as_ref().map_or(Outcome::Refused, |r| r.outcome));
        result
    }

    async fn rotate_held(
        &self,
        account: &Account,
        opts: &RotateOptions,
        lease: &Held,
        started: Instant,
    ) -> Result<RotationReport> {
        // Back-to-back: an earlier rotation of this account is resumed (and its retirement
        // brought forward: its previous key is ours) before a new one starts. Read with the
        // lease held, so this is the journal's latest state.
        let mut resumed = None;
        for open in self.store.rotations(Some(&account.id), true, 10).await? {
            let mut run = self.run_for(open, lease, opts).await?;
            // A scheduled rotation leaves a confirmed cut-over to its hourly check (the
            // scheduler would otherwise ask IAM at every tick); an operator's asks now.
            let hourly = opts.scheduled
                && run.rot.phase == Phase::Retiring
                && run.settings.retirement == rekey_domain::Retirement::Confirmed;
            if matches!(run.rot.phase, Phase::Retiring | Phase::Deactivated) && !hourly {
                run.facts.deactivate_at = Some(self.clock.now());
                run.facts.delete_at = Some(self.clock.now());
            }
            if opts.incident.is_some() {
                run.facts.incident.clone_from(&opts.incident);
            }
            run.drive().await?;
            if !run.rot.phase.is_final() {
                return Ok(run.report(started));
            }
            resumed = Some(run.report(started));
        }
        let account = self.store.account(&account.id).await?;
        let now = self.clock.now();
        // A scheduled rotation re-checks, under the lease, that the account is still due: the
        // due list was read before, and another worker may have rotated it since.
        let due = account.next_due_at.is_some_and(|due| due <= now);
        if opts.scheduled && !due {
            return Ok(resumed.unwrap_or_else(|| RotationReport::skipped(&account)));
        }
        let rot = Rotation {
            id: new_rotation_id(),
            account_id: account.id.clone(),
            kind: account.kind,
            phase: Phase::Preflight,
            old_key_id: account.current_key_id.clone(),
            new_key_id: None,
            old_version: account.current_version,
            new_version: None,
            data: json!({}),
            error: None,
            started_at: now,
            updated_at: now,
            finished_at: None,
        };
        let mut run = self.run_for(rot, lease, opts).await?;
        run.facts.incident = opts.incident.clone();
        // The first write announces the pre-flight (which may delete orphans or free a slot).
        // `planned` is only resumed from journals that hold it: recording it first would cost
        // one durable write per rotation for nothing. A scheduled rotation's first write claims
        // the period: it is refused if the account is no longer due.
        let claim = JournalWrite { claim_due: opts.scheduled.then(|| account.id.clone()), ..JournalWrite::default() };
        match run.journal(Phase::Preflight, claim).await {
            Ok(()) => {}
            Err(Error::Store(StoreError::NotDue { .. })) => return Ok(RotationReport::skipped(&account)),
            Err(e) => return Err(e),
        }
        match run.drive().await {
            Ok(()) => Ok(run.report(started)),
            Err(e) => {
                // The rotation stays where it stopped; recovery resumes it.
                run.rot.error = Some(e.to_string());
                Ok(run.report(started).interrupted_by(&e))
            }
        }
    }

    pub(crate) async fn run_for<'a>(&'a self, rot: Rotation, lease: &'a Held, opts: &RotateOptions) -> Result<Run<'a>> {
        let account = self.store.account(&rot.account_id).await?;
        let settings = Self::settings_of(&account)?.clone();
        let provider = self.provider(&account.provider).await?;
        let conn = self.conn(&provider).await?;
        let iam = self.aws.iam(&conn).await;
        let facts: Facts = serde_json::from_value(rot.data.clone()).unwrap_or_default();
        Ok(Run {
            engine: self,
            lease,
            account,
            settings,
            provider,
            conn,
            iam,
            rot,
            facts,
            opts: opts.clone(),
            last_step: Instant::now(),
            keys_just_listed: false,
        })
    }
}
