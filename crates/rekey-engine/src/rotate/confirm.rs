//! Manual delivery: the rotation of an account with a manual target stops after the new key is
//! verified and the automated targets have it, journals that it waits (`confirm_by`, the
//! deadline), and releases its lease. The operator reads the pending value
//! ([`Engine::reveal_pending`], audited), enters it where it is used, and confirms
//! ([`Engine::confirm_rotation`], audited), which commits the new key and goes on to retire the
//! old one. Past the deadline the rotation aborts (the new key is deleted, the old one stays
//! current) or, with `on_deadline = notify`, an audit event `rotation.stalled` tells the owner
//! (the server's notifier sends it) and the rotation keeps waiting.

use super::{Facts, RotateOptions, RotationReport, Run};
use crate::{delivery, Engine, Error, Result};
use rekey_crypto::Secret;
use rekey_domain::{
    targets::{ManualTarget, OnDeadline},
    AuditOutcome, Phase, Target,
};
use rekey_store::JournalWrite;
use serde_json::json;
use std::time::Instant;

/// What a manual target lets the machine do.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Gate {
    /// Confirmed: go on.
    Confirmed,
    /// Not yet: the rotation waits (lease released).
    Wait,
    /// The deadline passed: the rotation is aborting.
    Aborting,
}

/// Whether the rotation waits for a confirmation.
pub(super) fn awaiting(facts: &Facts) -> bool {
    facts.confirm_by.is_some() && facts.confirmed_at.is_none()
}

/// Whether recovery leaves it alone: waiting, and its deadline has not passed (or has, and the
/// owner was told: it waits for the operator, not for recovery).
pub(super) fn waiting(facts: &Facts, now: chrono::DateTime<chrono::Utc>) -> bool {
    awaiting(facts) && (facts.confirm_by.is_some_and(|t| t > now) || facts.confirm_overdue_notified)
}

impl Run<'_> {
    pub(super) async fn manual_gate(&mut self, m: &ManualTarget) -> Result<Gate> {
        if self.facts.confirmed_at.is_some() {
            return Ok(Gate::Confirmed);
        }
        let now = self.engine.clock.now();
        let Some(deadline) = self.facts.confirm_by else {
            self.facts.awaiting_confirmation_since = Some(now);
            self.facts.confirm_by = Some(now + super::access_key::ms(m.deadline_ms));
            self.rot.error = None;
            self.journal(Phase::Delivering, JournalWrite::default()).await?;
            return Ok(Gate::Wait);
        };
        if now < deadline {
            return Ok(Gate::Wait);
        }
        match m.on_deadline {
            OnDeadline::Abort => {
                let why = format!("nobody confirmed the manual delivery ({}) by {deadline}", m.instructions);
                self.start_abort(why).await?;
                Ok(Gate::Aborting)
            }
            OnDeadline::Notify if !self.facts.confirm_overdue_notified => {
                self.facts.confirm_overdue_notified = true;
                let why =
                    format!("waiting for confirmation of the manual delivery ({}) since {deadline}", m.instructions);
                let detail = json!({ "rotation": self.rot.id, "reason": why });
                let audit = self.engine.audit_entry(
                    "rotation.stalled",
                    Some(self.account.id.as_str()),
                    AuditOutcome::Overdue,
                    detail,
                );
                self.journal(Phase::Delivering, JournalWrite { audit: vec![audit], ..Default::default() }).await?;
                Ok(Gate::Wait)
            }
            OnDeadline::Notify => Ok(Gate::Wait),
        }
    }

    /// The manual target of the settings.
    fn manual_target(&self) -> Option<ManualTarget> {
        self.settings.targets.iter().find_map(|t| match t {
            Target::Manual(m) => Some(m.clone()),
            _ => None,
        })
    }
}

/// The pending value of a rotation waiting for a manual delivery.
#[derive(Debug)]
pub struct Pending {
    /// The rotation.
    pub rotation: String,
    /// The account, `PROVIDER/USER/KIND`.
    pub account: String,
    /// The new access key id (the SMTP user name in the SES format).
    pub access_key_id: Option<String>,
    /// What to enter: the secret access key, or the derived value.
    pub secret: Secret,
    /// `secret-access-key` or the derived format's description.
    pub format: String,
    /// Where it goes.
    pub instructions: String,
    /// The confirmation's deadline.
    pub confirm_by: Option<chrono::DateTime<chrono::Utc>>,
}

fn not_waiting(id: &str) -> Error {
    Error::conflict(
        format!("rotation {id} is not waiting for a manual delivery to be confirmed"),
        "`rekey rotation list --open` shows rotations with outcome awaiting-confirmation",
    )
}

impl Engine {
    /// The value an operator enters for a rotation waiting for its manual delivery (audited as
    /// `rotation.reveal`).
    pub async fn reveal_pending(&self, id: &str) -> Result<Pending> {
        let rot = self.store.rotation(id).await?;
        let facts: Facts = serde_json::from_value(rot.data.clone()).unwrap_or_default();
        if rot.phase != Phase::Delivering || !awaiting(&facts) {
            return Err(not_waiting(id));
        }
        let lease = self.lease(&rot.account_id).await?;
        let result = async {
            let run = self.run_for(rot, &lease, &RotateOptions::default()).await?;
            let m = run.manual_target().ok_or_else(|| not_waiting(id))?;
            let secret = run.pending_secret().await?;
            let t = Target::Manual(m.clone());
            let detail = json!({ "rotation": id, "key_id": run.rot.new_key_id });
            let target = Some(run.account.id.as_str());
            self.store.append_audit(&self.audit_entry("rotation.reveal", target, AuditOutcome::Ok, detail)).await?;
            Ok(Pending {
                rotation: id.to_owned(),
                account: super::reference(&run.account),
                access_key_id: run.rot.new_key_id.clone(),
                secret: delivery::value_for(&t, &secret),
                format: m.format.as_ref().map_or_else(|| "secret-access-key".into(), |f| f.describe()),
                instructions: m.instructions.clone(),
                confirm_by: run.facts.confirm_by,
            })
        }
        .await;
        lease.release().await;
        result
    }

    /// Confirms that the new key of rotation `id` was entered where it is used: the rotation
    /// commits and goes on (audited as `rotation.confirm`).
    pub async fn confirm_rotation(&self, id: &str) -> Result<RotationReport> {
        let started = Instant::now();
        let rot = self.store.rotation(id).await?;
        let lease = self.lease(&rot.account_id).await?;
        let result = async {
            // Read again with the lease held: the journal's latest state.
            let rot = self.store.rotation(id).await?;
            let facts: Facts = serde_json::from_value(rot.data.clone()).unwrap_or_default();
            if rot.phase != Phase::Delivering || !awaiting(&facts) {
                return Err(not_waiting(id));
            }
            let mut run = self.run_for(rot, &lease, &RotateOptions::default()).await?;
            run.facts.confirmed_at = Some(self.clock.now());
            run.facts.confirmed_by = Some(self.actor().to_owned());
            let detail = json!({ "rotation": id, "key_id": run.rot.new_key_id });
            let audit = self.audit_entry("rotation.confirm", Some(run.account.id.as_str()), AuditOutcome::Ok, detail);
            run.journal(Phase::Delivering, JournalWrite { audit: vec![audit], ..Default::default() }).await?;
            let driven = run.drive().await;
            let mut report = run.report(started);
            if let Err(e) = driven {
                report = report.interrupted_by(&e);
            }
            Ok(report)
        }
        .await;
        lease.release().await;
        result
    }
}
