//! Heartbeats: does a stored credential still work, and has IAM drifted from what the vault
//! believes? Access keys are checked by signing GetCallerIdentity with the stored secret;
//! both kinds are checked for drift (user re-created, key or login profile missing, unknown
//! keys). The result is stored on the account and audited.
//!
//! A heartbeat holds no lease, so it never keeps a rotation waiting: it reads the account's
//! lease first, and is [`Error::Busy`] while a worker holds it (a rotation under way, named).
//! It then reads the account again and judges IAM from that, and its write applies only if
//! nobody has taken the lease since ([`rekey_store::JournalWrite::unleased`]): a rotation that
//! worked the account meanwhile keeps its result, and the heartbeat, which may have judged a
//! key the rotation replaced, is `Busy` too, naming that rotation, with nothing stored or
//! audited. Scheduled and bulk heartbeats skip a busy account ([`Error::is_busy`]).

use crate::failpoint::crash_point;
use crate::ownership::{Foreign, Owner};
use crate::{Engine, Error, Result};
use chrono::{DateTime, Utc};
use rekey_aws::AwsErrorClass;
use rekey_domain::{AccountStatus, AuditOutcome, CredentialKind, HeartbeatStatus, SecretState};
use rekey_store::{Account, AccountPatch, Heartbeat, JournalWrite, StoreError, Unleased};
use serde_json::json;

impl Engine {
    /// Runs a heartbeat of `account`, stores and audits it; [`Error::Busy`] (nothing stored)
    /// while a rotation works the account, or when one did while the heartbeat checked it.
    pub async fn heartbeat(&self, account: &Account) -> Result<Heartbeat> {
        self.refuse_tampered(account).await?;
        let since = self.clock.now();
        let lease = self.store.lease_record(&account.id).await?;
        if let Some(held) = lease.as_ref().filter(|l| l.held()) {
            return Err(self.busy(&account.id, &held.owner, held.expires_at).await);
        }
        let unleased = Unleased { account_id: account.id.clone(), token: lease.map_or(0, |l| l.token) };
        // Read again now that no rotation holds it: the caller's copy may predate a rotation.
        let account = &self.store.account(&account.id).await?;
        crash_point("heartbeat:read");
        let (status, findings, foreign) = match self.check(account).await {
            Ok(r) => r,
            Err(e) => {
                // Audited as a failed heartbeat too (notifications read the audit log).
                self.audit_failure("account.heartbeat", Some(account.id.as_str()), &e).await;
                return Err(e);
            }
        };
        let hb = Heartbeat {
            at: self.clock.now(),
            status,
            detail: json!({ "findings": findings, "foreign_keys": foreign }),
        };
        let outcome = if status == HeartbeatStatus::Ok { AuditOutcome::Ok } else { AuditOutcome::Failed };
        let audit = self.audit_entry(
            "account.heartbeat",
            Some(account.id.as_str()),
            outcome,
            json!({ "status": status, "findings": findings }),
        );
        let w = JournalWrite {
            at: hb.at,
            account: Some((account.id.clone(), AccountPatch { heartbeat: Some(hb.clone()), ..Default::default() })),
            audit: vec![audit],
            unleased: Some(unleased),
            ..Default::default()
        };
        match self.store.write(&w).await {
            Ok(()) => Ok(hb),
            Err(StoreError::Fenced { .. }) => Err(self.worked_meanwhile(&account.id, since).await),
            Err(e) => Err(e.into()),
        }
    }

    /// The answer to a heartbeat begun at `since` whose write found that a worker took the
    /// account's lease while it checked: what it judged may be a key that worker replaced. It
    /// names the worker still holding the lease (and its rotation), or the rotation that ran.
    async fn worked_meanwhile(&self, account: &rekey_domain::AccountId, since: DateTime<Utc>) -> Error {
        if let Ok(Some(held)) = self.store.lease_record(account).await {
            if held.held() {
                return self.busy(account, &held.owner, held.expires_at).await;
            }
        }
        let latest = self.store.rotations(Some(account), false, 1).await.ok().and_then(|r| r.into_iter().next());
        let hint = "nothing was stored; the rotation's own result stands (`rekey account show`), and the next \
                    heartbeat judges the account as it is now";
        match latest.filter(|r| r.started_at >= since) {
            Some(r) => Error::Busy {
                what: format!(
                    "rotation {} of account {account} worked it while the heartbeat checked (phase {}); the heartbeat \
                     may have judged a key it replaced",
                    r.id, r.phase
                ),
                hint: format!("{hint}; follow the rotation with `rekey rotation show {}`", r.id),
                rotation: Some(r.id),
            },
            None => Error::Busy {
                what: format!("another rekey worker took account {account}'s lease while the heartbeat checked it"),
                hint: hint.into(),
                rotation: None,
            },
        }
    }

    /// What was found, in a word and in sentences, and the ids of the keys of the user that no
    /// account of this vault owns (the account list's `owner=foreign` filter reads them).
    async fn check(&self, a: &Account) -> Result<(HeartbeatStatus, Vec<String>, Vec<String>)> {
        let conn = self.conn(&self.provider(&a.provider).await?).await?;
        let iam = self.aws.iam(&conn).await;
        let user = a.user_name.as_str();
        let mut failed = Vec::new();
        let mut drift = Vec::new();
        let mut foreign = Vec::new();
        let found = match iam.get_user(user).await {
            Ok(u) => u,
            Err(e) if e.class == AwsErrorClass::NotFound => {
                failed.push(format!("IAM user {user} no longer exists"));
                return Ok((HeartbeatStatus::Failed, failed, foreign));
            }
            Err(e) => return Err(e.into()),
        };
        if found.user_id != a.user_id {
            failed.push(format!("IAM user {user} was re-created (UserId changed)"));
        }
        match a.kind {
            CredentialKind::AccessKey => {
                let keys = iam.list_access_keys(user).await?;
                let versions = self.store.secret_versions(a.id.as_str()).await?;
                let knowledge = self.ownership_knowledge(a, iam.tags_of(&found).await?).await?;
                match a.current_key_id.as_deref() {
                    Some(cur) if !keys.iter().any(|k| k.id == cur) => {
                        failed.push(format!("current key {cur} is missing in IAM"))
                    }
                    Some(cur) if keys.iter().any(|k| k.id == cur && !k.active) => {
                        failed.push(format!("current key {cur} is inactive"))
                    }
                    _ => {}
                }
                for (k, owner) in knowledge.classify(&keys) {
                    let state = if k.active { "active" } else { "inactive" };
                    match owner {
                        // A key another account of this vault holds is the vault's.
                        Owner::Current | Owner::Ours(_) | Owner::Orphan(_) | Owner::Foreign(Foreign::Sibling(_)) => {}
                        Owner::Foreign(f) => {
                            drift.push(format!("unknown key {} ({state}): {f}", k.id));
                            foreign.push(k.id.clone());
                        }
                    }
                }
                if a.status == AccountStatus::NeedsRotation {
                    failed.push("the key was imported and its secret is unknown; rotate it".into());
                } else if let Some(v) = versions.iter().rev().find(|v| v.state == SecretState::Current) {
                    let secret = self.open_version(v)?;
                    let mut c = conn.with_key(v.key_id.as_deref().unwrap_or_default(), secret);
                    c.max_attempts = 2;
                    match self.aws.sts(&c).await.caller_identity().await {
                        Ok(id) if id.arn == a.arn.as_str() => {}
                        Ok(id) => failed.push(format!("the stored key authenticates as {}, not {}", id.arn, a.arn)),
                        Err(e) if e.class == AwsErrorClass::Auth => {
                            failed.push(format!("the stored key does not authenticate: {e}"))
                        }
                        Err(e) => return Err(e.into()),
                    }
                } else {
                    failed.push("no stored secret".into());
                }
            }
            CredentialKind::Password => match iam.login_profile(user).await? {
                None => failed.push(format!("IAM user {user} has no console password (login profile missing)")),
                Some(p) => {
                    if let (Some(created), Some(rotated)) = (p.created, a.last_rotated_at) {
                        if created > rotated + chrono::Duration::minutes(2) {
                            drift.push(format!(
                                "the login profile was re-created at {created}, after rekey's last rotation"
                            ));
                        }
                    }
                    if p.reset_required {
                        drift.push("IAM requires a password reset at next sign-in".into());
                    }
                }
            },
        }
        let status = if !failed.is_empty() {
            HeartbeatStatus::Failed
        } else if !drift.is_empty() {
            HeartbeatStatus::Drift
        } else {
            HeartbeatStatus::Ok
        };
        failed.extend(drift);
        Ok((status, failed, foreign))
    }
}
