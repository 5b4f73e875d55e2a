//! Incident mode (`rekey incident`): a leaked key or a breached CI vendor. The accounts are
//! selected as for `rotate` and further by where their keys are delivered (a target kind, or
//! targets whose description contains a text: every key delivered to one GitHub organization),
//! the plan is shown, then all are rotated at once (the per-provider caps still apply) with the
//! previous keys deactivated as soon as the new ones are delivered: no grace, no unused or
//! cut-over gate, even under policy `keep`. Every rotation carries the incident's id in its
//! journal from its first write; one audit event `incident.rotate` ties them together at the end.

use crate::{delivery, Engine, Result, RotateOptions, RotationReport};
use rekey_domain::{AuditOutcome, Outcome};
use rekey_store::Account;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;

/// Which delivery targets make an account part of the incident.
#[derive(Debug, Clone, Default)]
pub struct TargetFilter {
    /// Target kind as stored (`github-actions`, `gitlab`, `kubernetes`, `webhook` …).
    pub kind: Option<String>,
    /// Text the target's description contains (`acme/`, `org acme`, `payments/aws`).
    pub contains: Option<String>,
}

impl TargetFilter {
    /// Whether it filters at all.
    pub fn is_empty(&self) -> bool {
        self.kind.is_none() && self.contains.is_none()
    }

    /// Whether one of `account`'s targets matches.
    pub fn matches(&self, account: &Account) -> Result<bool> {
        if self.is_empty() {
            return Ok(true);
        }
        let settings = Engine::settings_of(account)?;
        Ok(settings.targets.iter().any(|t| {
            self.kind.as_deref().is_none_or(|k| t.kind() == k)
                && self.contains.as_deref().is_none_or(|c| delivery::sink_for(t).describe().contains(c))
        }))
    }
}

/// One account of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    /// Account id.
    pub account: String,
    /// `PROVIDER/USER/KIND`.
    pub reference: String,
    /// The key that will be replaced and deactivated.
    pub current_key_id: Option<String>,
    /// Where the new key goes.
    pub targets: Vec<String>,
}

/// The result of an incident rotation.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// `inc_…`, in every rotation's journal and in the audit event.
    pub id: String,
    /// Why (the operator's words).
    pub reason: Option<String>,
    /// Every rotation's report.
    pub reports: Vec<RotationReport>,
    /// Outcome → count.
    pub outcomes: std::collections::BTreeMap<String, usize>,
}

impl Engine {
    /// What an incident rotation of `accounts` will touch.
    pub fn incident_plan(accounts: &[Account]) -> Result<Vec<PlanItem>> {
        accounts
            .iter()
            .map(|a| {
                let targets = Self::settings_of(a)?.targets.iter().map(|t| delivery::sink_for(t).describe()).collect();
                Ok(PlanItem {
                    account: a.id.to_string(),
                    reference: crate::rotate::reference(a),
                    current_key_id: a.current_key_id.clone(),
                    targets,
                })
            })
            .collect()
    }

    /// Rotates `accounts` as one incident, `concurrency` at once; audited as one
    /// `incident.rotate` event naming every rotation and its outcome.
    pub async fn rotate_incident(
        self: &Arc<Self>,
        accounts: Vec<Account>,
        reason: Option<String>,
        concurrency: usize,
    ) -> Result<Incident> {
        let id = format!("inc_{:016x}", rand::random::<u64>());
        let opts = RotateOptions { incident: Some(id.clone()), ..RotateOptions::default() };
        let reports = self.rotate_many(accounts, opts, false, concurrency).await;
        let mut outcomes = std::collections::BTreeMap::new();
        for r in &reports {
            *outcomes.entry(r.outcome.as_str().to_owned()).or_insert(0) += 1;
        }
        let rotations: Vec<_> = reports
            .iter()
            .map(|r| {
                json!({ "account": r.account, "ref": r.reference, "rotation": r.rotation, "outcome": r.outcome,
                "new_key_id": r.new_key_id, "old_key_id": r.old_key_id })
            })
            .collect();
        let outcome =
            if reports.iter().all(|r| r.outcome == Outcome::Done) { AuditOutcome::Ok } else { AuditOutcome::Failed };
        let detail = json!({ "incident": id, "reason": reason, "rotations": rotations, "outcomes": outcomes });
        self.store.append_audit(&self.audit_entry("incident.rotate", None, outcome, detail)).await?;
        Ok(Incident { id, reason, reports, outcomes })
    }
}
