//! The console-password state machine: pre-flight (login profile, account password policy),
//! generate and seal a compliant password, announce the update, apply it, commit.
//!
//! A crash between `update_requested` and `committed` leaves IAM holding either the old or the
//! new password; recovery re-applies the stored pending password, which makes IAM and the vault
//! agree whichever it was — no guessing. A password that rotates itself (ChangePassword, which
//! must name the password IAM holds) cannot simply be re-applied: see `change_password`.
//!
//! The password is marked as this account's (see [`crate::ownership`]) once the new one is
//! sealed, before it is set: pre-flight refuses a password another account marks, and the
//! marks are read again after this one is written, so of two accounts (of any vaults) racing to
//! take one password, at least one sees the other's mark and refuses before setting it.

use super::{Run, Step, UserCheck};
use crate::ownership;
use crate::{failpoint::crash_point, Error, Result};
use rekey_aws::AwsErrorClass;
use rekey_crypto::Secret;
use rekey_domain::{Phase, SecretState};
use rekey_store::{JournalWrite, Origin};

impl Run<'_> {
    pub(super) async fn password_step(&mut self) -> Result<Step> {
        match self.rot.phase {
            Phase::Planned => self.journal(Phase::Preflight, JournalWrite::default()).await?,
            Phase::Preflight => self.password_preflight().await?,
            Phase::Generated => self.mark_password().await?,
            Phase::UpdateRequested => self.apply_password().await?,
            Phase::Committed => self.journal(Phase::Done, JournalWrite::default()).await?,
            other => return Err(Error::Internal(format!("phase {other} is not part of the password machine"))),
        }
        Ok(Step::Next)
    }

    async fn password_preflight(&mut self) -> Result<()> {
        let user = self.account.user_name.to_string();
        let iam_user = match self.checked_user().await? {
            UserCheck::Present(u) => u,
            UserCheck::Gone(why) => return self.aborted(why, JournalWrite::default()).await,
        };
        let tags = self.iam.tags_of(&iam_user).await?;
        if let Some(why) = self.engine.password_knowledge(&self.account.id, tags).await?.password_held_elsewhere() {
            return self.aborted(why, JournalWrite::default()).await;
        }
        let profile = self.iam.login_profile(&user).await?;
        if profile.is_none() && !self.settings.create_login_profile {
            let why = format!(
                "IAM user {user} has no console password; allow creating one with `rekey account set {} --create-login-profile`",
                self.account.id
            );
            return self.aborted(why, JournalWrite::default()).await;
        }
        // Self-rotation: the provider signs as this very user, so it must use ChangePassword.
        if let rekey_store::ProviderAuth::StaticKey { access_key_id } = &self.provider.auth {
            self.facts.self_rotation = self.iam.list_access_keys(&user).await?.iter().any(|k| &k.id == access_key_id);
        }
        let policy = self.iam.password_policy().await?.unwrap_or_default();
        let rules = self.settings.password.merged_with(&policy);
        let password = Secret::from(rules.generate());
        let version = self.next_version(self.account.id.as_str()).await?;
        let sealed = self.engine.seal_version(
            self.account.id.as_str(),
            version,
            SecretState::Pending,
            None,
            Origin::Created,
            &password,
        );
        self.rot.new_version = Some(version);
        self.facts.profile_existed = Some(profile.is_some());
        self.journal(Phase::Generated, JournalWrite { new_secrets: vec![sealed], ..Default::default() }).await
    }

    /// Marks the password as this account's (this rotation's), then reads the marks again: one
    /// another account wrote meanwhile makes this rotation refuse before it sets a password.
    async fn mark_password(&mut self) -> Result<()> {
        let user = self.account.user_name.to_string();
        let key = ownership::tag_key(self.engine.vault_id().as_str(), self.account.id.as_str());
        let value = ownership::password(&ownership::Origin::Rotation(self.rot.id.clone()));
        // Abandoned (the lease could not be renewed), the phase stays `generated`: whoever
        // resumes writes the same mark again and reads the marks after it.
        match self.act("TagUser", self.iam.tag_user(&user, &[(key, value)])).await? {
            Ok(()) => {}
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => return self.aborted(format!("marking the password failed: {e}"), JournalWrite::default()).await,
        }
        let tags = self.iam.list_user_tags(&user).await?;
        if let Some(why) = self.engine.password_knowledge(&self.account.id, tags).await?.password_held_elsewhere() {
            return self.aborted(why, JournalWrite::default()).await;
        }
        self.journal(Phase::UpdateRequested, JournalWrite::default()).await
    }

    async fn apply_password(&mut self) -> Result<()> {
        let user = self.account.user_name.to_string();
        let version =
            self.rot.new_version.ok_or_else(|| Error::Internal("password rotation without a version".into()))?;
        let versions = self.engine.store.secret_versions(self.account.id.as_str()).await?;
        let pending = versions
            .iter()
            .find(|v| v.version == version)
            .ok_or_else(|| Error::Integrity { message: format!("rotation {} lost its new password", self.rot.id) })?;
        let password = self.engine.open_version(pending)?;
        if self.facts.self_rotation {
            return self.change_own_password(version).await;
        }
        // Re-read: the profile may have been created by an earlier attempt of this very phase.
        let profile = self.iam.login_profile(&user).await?;
        // Abandoned (the lease could not be renewed), the phase stays and whoever resumes sets
        // the password again (re-reading the profile first).
        let result = match profile {
            Some(_) => self.act("UpdateLoginProfile", self.iam.update_login_profile(&user, &password)).await?,
            None if self.settings.create_login_profile => {
                match self.act("CreateLoginProfile", self.iam.create_login_profile(&user, &password)).await? {
                    // The profile exists after all: an SDK retry of a create whose answer was lost
                    // (it landed), or a concurrent create. Setting our password on it resolves both.
                    Err(e) if e.class == AwsErrorClass::Conflict => {
                        self.act("UpdateLoginProfile", self.iam.update_login_profile(&user, &password)).await?
                    }
                    other => other,
                }
            }
            None => {
                let why = format!("IAM user {user}'s console password was removed during the rotation");
                return self.aborted(why, JournalWrite::default()).await;
            }
        };
        match result {
            Ok(()) => {}
            // It may or may not have landed: stay in this phase; re-applying resolves it.
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(e) => return self.aborted(format!("setting the password failed: {e}"), JournalWrite::default()).await,
        }
        crash_point("password:after-update-call");
        self.commit_password(&versions, version).await
    }

    pub(super) async fn commit_password(
        &mut self,
        versions: &[rekey_store::SecretVersion],
        version: i64,
    ) -> Result<()> {
        let id = self.account.id.to_string();
        let mut w = JournalWrite {
            account: Some((self.account.id.clone(), self.commit_patch())),
            expect_current: Some((id.clone(), self.rot.old_version)),
            ..Default::default()
        };
        w.secret_states.push((id.clone(), version, SecretState::Current));
        let others = versions.iter().filter(|v| v.version != version);
        for v in
            others.filter(|v| matches!(v.state, SecretState::Current | SecretState::Previous | SecretState::Pending))
        {
            // A replaced password works nowhere: it is retired at once (and so are the other
            // passwords a self-rotation sealed on its way, see `change_password`).
            w.secret_states.push((id.clone(), v.version, SecretState::Retired));
        }
        self.journal(Phase::Committed, w).await
    }
}
