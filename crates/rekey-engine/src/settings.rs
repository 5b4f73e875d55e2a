//! Changing an account's rotation settings, folder and title (`rekey account set`), and rolling
//! an access key back to its previous key (`rekey rollback`).

use crate::{AccountRef, Engine, Error, Result};
use rekey_aws::AwsErrorClass;
use rekey_domain::{AuditOutcome, CredentialKind, Folder, Phase, RotationSettings, SecretState, SettingsPatch};
use rekey_store::{Account, AccountPatch, AuditEntry, JournalWrite};
use serde_json::json;

/// Changes to an account's metadata.
#[derive(Debug, Clone, Default)]
pub struct AccountChanges {
    /// New folder (Some(None) clears it).
    pub folder: Option<Option<Folder>>,
    /// New title (Some(None) clears it).
    pub title: Option<Option<String>>,
}

impl Engine {
    /// Applies `edit` to the account's settings, validates, recomputes the next due time.
    pub async fn set_account(
        &self,
        r: &AccountRef,
        changes: AccountChanges,
        edit: impl FnOnce(&mut RotationSettings),
    ) -> Result<Account> {
        let account = self.account(r).await?;
        let stored = Self::settings_of(&account)?;
        let mut settings = stored.clone();
        edit(&mut settings);
        settings.validate()?;
        rekey_domain::minimums::check(&settings, stored)?;
        let same_folder = changes.folder.as_ref().is_none_or(|f| f.as_ref() == account.folder.as_ref());
        let same_title = changes.title.as_ref().is_none_or(|t| t.as_ref() == account.title.as_ref());
        if settings == *stored && same_folder && same_title {
            return Err(Error::usage(
                format!("nothing to change: account {} already has these settings", account.id),
                "give at least one option with a new value (rekey account show lists the current ones)",
            ));
        }
        for t in settings.targets.iter().filter(|t| !stored.targets.contains(t)) {
            match t {
                rekey_domain::Target::AwsCredentialsFile { path, .. } => {
                    crate::delivery::credentials_file::check_new_target(std::path::Path::new(path))?;
                }
                rekey_domain::Target::Script { command, .. } => crate::delivery::script::check_new_target(command)?,
                _ => {}
            }
        }
        if account.kind == rekey_domain::CredentialKind::Password && !settings.targets.is_empty() {
            return Err(Error::usage(
                format!("{} is a console password; delivery targets receive new access keys only", account.id),
                "set targets on an access-key account (passwords are read with reveal or check-out)",
            ));
        }
        let value = serde_json::to_value(&settings).map_err(|e| Error::Internal(e.to_string()))?;
        let base = account.last_rotated_at.unwrap_or(account.created_at);
        let next_due = rekey_domain::schedule::next_due(settings.every_ms, settings.cron.as_deref(), base);
        let patch = AccountPatch {
            settings: Some(settings),
            next_due_at: Some(next_due),
            folder: changes.folder.clone(),
            title: changes.title.clone(),
            ..Default::default()
        };
        let audit =
            self.audit_entry("account.set", Some(account.id.as_str()), AuditOutcome::Ok, json!({ "settings": value }));
        self.write_account(account, patch, audit).await
    }

    /// Makes an account due now (`rekey account due`): the next `run-due` or scheduler tick
    /// rotates it, as if its schedule had come round. Its schedule is untouched; the rotation
    /// sets the next due time from it as usual. Audited `account.due`.
    pub async fn mark_due(&self, r: &AccountRef) -> Result<Account> {
        let account = self.account(r).await?;
        let now = self.clock.now();
        let was = account.next_due_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let patch = AccountPatch { next_due_at: Some(Some(now)), ..Default::default() };
        let audit =
            self.audit_entry("account.due", Some(account.id.as_str()), AuditOutcome::Ok, json!({ "was_due_at": was }));
        self.write_account(account, patch, audit).await
    }

    /// Writes `patch` to `account` with its audit event in one transaction; the account as
    /// stored afterwards.
    async fn write_account(&self, account: Account, patch: AccountPatch, audit: AuditEntry) -> Result<Account> {
        let write = JournalWrite {
            at: audit.at,
            account: Some((account.id.clone(), patch)),
            audit: vec![audit],
            ..Default::default()
        };
        self.store.write(&write).await?;
        self.account(&AccountRef::Id(account.id)).await
    }

    /// Applies `patch` (settings, folder, title) to the account; options that mean nothing for
    /// its kind are refused (they would be stored and ignored). Audited as `account.set`.
    pub async fn patch_account(&self, r: &AccountRef, patch: &SettingsPatch) -> Result<Account> {
        patch.check()?;
        let account = self.account(r).await?;
        let (access_key, password) = patch.kind_only();
        let (wrong, kind, right) = match account.kind {
            CredentialKind::Password => (access_key, "a console password", "access-key"),
            CredentialKind::AccessKey => (password, "an access key", "password"),
        };
        if !wrong.is_empty() {
            let verb = if wrong.len() == 1 { "applies" } else { "apply" };
            return Err(Error::usage(
                format!("account {} is {kind}; {} {verb} to {right} accounts only", account.id, wrong.join(", ")),
                "leave these settings out",
            ));
        }
        let changes = AccountChanges { folder: patch.folder.clone(), title: patch.title.clone() };
        self.set_account(&AccountRef::Id(account.id), changes, |s| patch.apply(s)).await
    }

    /// Makes the previous access key current again (re-activating it in IAM) and cancels the
    /// retirement of that key by the last rotation.
    pub async fn rollback(&self, r: &AccountRef) -> Result<Account> {
        let account = self.account(r).await?;
        if account.kind != CredentialKind::AccessKey {
            return Err(Error::usage("rollback applies to access-key accounts", "rotate a password instead"));
        }
        let lease = self.lease(&account.id).await?;
        let result = self.rollback_held(&account, &lease).await;
        lease.release().await;
        result?;
        self.account(&AccountRef::Id(account.id)).await
    }

    async fn rollback_held(&self, account: &Account, lease: &crate::lease::Held) -> Result<()> {
        let id = account.id.to_string();
        let versions = self.store.secret_versions(&id).await?;
        let (Some(prev), Some(cur)) = (
            versions.iter().rev().find(|v| v.state == SecretState::Previous),
            versions.iter().rev().find(|v| v.state == SecretState::Current),
        ) else {
            return Err(Error::conflict(
                format!("account {id} has no previous key to roll back to"),
                "only a key replaced by a rotation and not yet deleted can be restored",
            ));
        };
        if self.open_version(prev)?.is_empty() {
            return Err(Error::conflict(
                format!("the previous key of account {id} was imported and its secret was never known"),
                "rotate instead",
            ));
        }
        let prev_key = prev.key_id.clone().unwrap_or_default();
        let iam = self.aws.iam(&self.conn(&self.provider(&account.provider).await?).await?).await;
        // Abandoned (the lease could not be renewed), nothing is written: the key may be active
        // again, and running the rollback again finishes it.
        match lease.act("UpdateAccessKey", iam.update_access_key(account.user_name.as_str(), &prev_key, true)).await? {
            Ok(()) => {}
            Err(e) if e.class == AwsErrorClass::NotFound => {
                return Err(Error::conflict(
                    format!("previous key {prev_key} no longer exists in IAM"),
                    "rotate instead",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        let now = self.clock.now();
        let mut w = JournalWrite {
            at: now,
            fence: Some(lease.fence.clone()),
            expect_current: Some((id.clone(), Some(cur.version))),
            secret_states: vec![
                (id.clone(), prev.version, SecretState::Current),
                (id.clone(), cur.version, SecretState::Previous),
            ],
            ..Default::default()
        };
        // A rotation still retiring the restored key must not deactivate it later.
        if let Some(mut rot) = self.store.rotations(Some(&account.id), true, 10).await?.into_iter().find(|r| {
            matches!(r.phase, Phase::Retiring | Phase::Deactivated)
                && r.old_key_id.as_deref() == Some(prev_key.as_str())
        }) {
            rot.phase = Phase::Done;
            rot.error = Some("rolled back".into());
            rot.finished_at = Some(now);
            rot.updated_at = now;
            w.rotation = Some(rot);
        }
        w.audit.push(self.audit_entry(
            "account.rollback",
            Some(&id),
            AuditOutcome::Ok,
            json!({ "restored_key_id": prev_key, "replaced_key_id": cur.key_id }),
        ));
        self.store.write(&w).await?;
        Ok(())
    }
}
