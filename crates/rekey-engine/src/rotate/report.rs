//! What a rotation reports to the front ends: [`RotationReport`], built from a `Run` as it
//! stands, for a refusal or a skipped scheduled rotation, and for a dry run's plan.

use super::{confirm, plan, RotateOptions, Run};
use crate::{Engine, Error, Failure, Result};
use rekey_domain::{Outcome, Phase};
use rekey_store::Account;
use serde::Serialize;
use std::time::Instant;

/// What one rotation did, for output.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    pub account: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub rotation: Option<String>,
    /// `done`, `retiring` (committed; the previous key retires later), `awaiting-confirmation`
    /// (verified and delivered; a manual target waits for `rekey rotation confirm`), `aborted`,
    /// `interrupted` (will resume on recover), `refused` (not started), `skipped` (a scheduled
    /// rotation not started: the account was no longer due), `planned` (dry run).

    /// What it did (see [`Outcome`]).
    pub outcome: Outcome,
    pub phase: Option<String>,
    pub new_key_id: Option<String>,
    pub old_key_id: Option<String>,
    pub phases: Vec<String>,
    pub duration_ms: u128,
    pub error: Option<String>,
    /// The class and hint of the error behind `error`, when an error stopped or refused the
    /// rotation (not a reason of its own, such as an abort's): what exit codes follow.
    #[serde(skip)]
    pub failure: Option<Failure>,
    /// Where a rotation that waits stands: a manual delivery's confirmation, or a confirmed
    /// cut-over ("waiting for consumers: new key unused for 3 d").
    pub waiting: Option<String>,
    pub plan: Vec<String>,
    /// AWS calls of this rotation answered `Throttling` (each was sent again at a slower pace).
    pub throttled: u64,
    /// Milliseconds its AWS calls waited for the provider's pace.
    pub paced_ms: u64,
    /// Time from CreateAccessKey to the new key's first successful verification.
    pub propagation_ms: Option<u64>,
    /// Keys of the user that are not this account's and were left alone, and why ("AKIA…:
    /// managed by another rekey vault 0123456789abcdef; left alone").
    pub foreign_keys: Vec<String>,
}

impl RotationReport {
    pub(crate) fn refused(account: &Account, e: &Error) -> Self {
        Self {
            account: account.id.to_string(),
            reference: reference(account),
            rotation: None,
            outcome: Outcome::Refused,
            phase: None,
            new_key_id: None,
            old_key_id: account.current_key_id.clone(),
            phases: vec![],
            duration_ms: 0,
            error: Some(e.to_string()),
            failure: Some(Failure::of(e)),
            waiting: None,
            plan: vec![],
            throttled: 0,
            paced_ms: 0,
            propagation_ms: None,
            foreign_keys: vec![],
        }
    }

    /// Whether the rotation got where it was asked to go (`done`, `retiring`, `planned`,
    /// `skipped`), not `aborted`, `interrupted` or `refused`.
    pub fn succeeded(&self) -> bool {
        self.outcome.succeeded()
    }

    /// This report of a run that `e` stopped part-way: recovery resumes it.
    pub(crate) fn interrupted_by(mut self, e: &Error) -> Self {
        self.outcome = Outcome::Interrupted;
        self.error = Some(e.to_string());
        self.failure = Some(Failure::of(e));
        self
    }

    /// This report with what its AWS calls met.
    pub(crate) fn with_counts(mut self, counts: &rekey_aws::pace::TaskCounts) -> Self {
        self.throttled = counts.throttled();
        self.paced_ms = counts.waited_ms();
        self
    }
}

impl RotationReport {
    /// A scheduled rotation that was not started: another worker rotated the account since the
    /// due list was read.
    pub(crate) fn skipped(account: &Account) -> Self {
        Self {
            outcome: Outcome::Skipped,
            error: Some(format!("account {} is no longer due: another worker rotated it", account.id)),
            failure: None,
            ..Self::refused(account, &Error::Internal(String::new()))
        }
    }
}

pub(crate) fn reference(a: &Account) -> String {
    format!("{}/{}/{}", a.provider, a.user_name, a.kind)
}

impl Run<'_> {
    /// Where a waiting rotation stands, for reports.
    fn waiting_status(&self) -> Option<String> {
        match self.rot.phase {
            Phase::Delivering if confirm::awaiting(&self.facts) => Some(format!(
                "waiting for the manual delivery to be confirmed (rekey rotation confirm {}) by {}",
                self.rot.id,
                self.facts.confirm_by.map(|t| rekey_domain::timestamp::rfc3339(&t)).unwrap_or_default()
            )),
            Phase::Retiring => self.facts.cutover_status.clone(),
            _ => None,
        }
    }

    /// The report of this run as it stands; `started` is when the caller began working it.
    pub(super) fn report(&self, started: Instant) -> RotationReport {
        let outcome = match self.rot.phase {
            Phase::Delivering if confirm::awaiting(&self.facts) => Outcome::AwaitingConfirmation,
            Phase::Done => Outcome::Done,
            Phase::Aborted => Outcome::Aborted,
            Phase::Retiring | Phase::Deactivated => Outcome::Retiring,
            _ => Outcome::Interrupted,
        };
        RotationReport {
            account: self.account.id.to_string(),
            reference: reference(&self.account),
            rotation: Some(self.rot.id.clone()),
            outcome,
            phase: Some(self.rot.phase.as_str().into()),
            new_key_id: self.rot.new_key_id.clone(),
            old_key_id: self.rot.old_key_id.clone(),
            phases: self.facts.phases.clone(),
            duration_ms: started.elapsed().as_millis(),
            error: self.rot.error.clone(),
            failure: None,
            waiting: self.waiting_status(),
            plan: vec![],
            throttled: 0,
            paced_ms: 0,
            propagation_ms: self.facts.propagation_ms,
            foreign_keys: self.facts.foreign.clone(),
        }
    }
}

impl Engine {
    /// What a rotation of `account` would do, calling only read APIs.
    pub async fn plan(&self, account: &Account, opts: &RotateOptions) -> Result<RotationReport> {
        let plan = plan::plan(self, account, opts).await?;
        Ok(RotationReport {
            account: account.id.to_string(),
            reference: reference(account),
            rotation: None,
            outcome: if plan.blocked { Outcome::Refused } else { Outcome::Planned },
            phase: None,
            new_key_id: None,
            old_key_id: account.current_key_id.clone(),
            phases: vec![],
            duration_ms: 0,
            error: plan.blocked.then(|| plan.steps.last().cloned().unwrap_or_default()),
            failure: None,
            waiting: None,
            plan: plan.steps,
            throttled: 0,
            paced_ms: 0,
            propagation_ms: None,
            foreign_keys: plan.foreign,
        })
    }
}
