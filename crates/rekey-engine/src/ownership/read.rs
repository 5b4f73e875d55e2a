//! Reading what the classifier needs: this vault's keys of an account and of its siblings
//! (the same user under another provider), and the rotations the user's legacy tags name. It
//! makes store calls only; the tags come from the caller, which read them from IAM.

use super::{named_rotations, Knowledge, KnownRotation};
use crate::{Engine, Result};
use rekey_domain::{AccountId, CredentialKind, ProviderName, UserName};
use rekey_store::Account;
use std::collections::{HashMap, HashSet};

/// Keys that other accounts of the vault hold for the same IAM user (e.g. through another
/// provider of the same AWS account) → that account: never this account's rotation's to delete.
///
/// Accounts are unique per provider, user name and kind, so such an account is the access-key
/// account of the same user name (and UserId) under another provider: one indexed lookup per
/// provider, not a scan of the vault (a rotation's cost must not grow with the vault).
pub(crate) async fn keys_of_other_accounts(engine: &Engine, account: &Account) -> Result<HashMap<String, String>> {
    keys_held_elsewhere(engine, &account.provider, &account.user_name, &account.user_id, Some(&account.id)).await
}

/// [`keys_of_other_accounts`] for the user `user_id` named `user` under `provider`, whether or
/// not `account` (this provider's account of the user) exists yet.
async fn keys_held_elsewhere(
    engine: &Engine,
    provider: &ProviderName,
    user: &UserName,
    user_id: &str,
    account: Option<&AccountId>,
) -> Result<HashMap<String, String>> {
    let mut keys = HashMap::new();
    for p in engine.store.providers().await? {
        if p.name == *provider {
            continue;
        }
        let other = match engine.store.find_account(&p.name, user, CredentialKind::AccessKey).await {
            Ok(a) => a,
            Err(rekey_store::StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if other.user_id == user_id && Some(&other.id) != account {
            for v in engine.store.secret_versions(other.id.as_str()).await? {
                keys.extend(v.key_id.map(|k| (k, other.id.to_string())));
            }
        }
    }
    Ok(keys)
}

impl Engine {
    /// What this vault knows of `account`'s keys, of its sibling accounts' keys and of the
    /// rotations the user's `tags` name: the classifier's input.
    pub(crate) async fn ownership_knowledge(
        &self,
        account: &Account,
        tags: Vec<(String, String)>,
    ) -> Result<Knowledge> {
        let known = self
            .store
            .secret_versions(account.id.as_str())
            .await?
            .into_iter()
            .filter_map(|v| v.key_id.map(|k| (k, v.version)))
            .collect();
        Ok(Knowledge {
            vault: self.vault_id().to_string(),
            account: account.id.to_string(),
            current: account.current_key_id.clone(),
            known,
            siblings: keys_of_other_accounts(self, account).await?,
            rotations: self.named_rotations_known(&tags).await?,
            accounts: HashSet::new(),
            tags,
        })
    }

    /// What this vault knows of the keys of user `user_id` (named `user` under `provider`),
    /// which has no account of `provider` yet (`account` is the one an import or adoption would
    /// create), and of the rotations and accounts its `tags` name: the input of
    /// [`Knowledge::claimed`] for an import or adoption.
    pub(crate) async fn import_knowledge(
        &self,
        provider: &ProviderName,
        user: &UserName,
        user_id: &str,
        account: &AccountId,
        tags: Vec<(String, String)>,
    ) -> Result<Knowledge> {
        Ok(Knowledge {
            vault: self.vault_id().to_string(),
            account: account.to_string(),
            siblings: keys_held_elsewhere(self, provider, user, user_id, None).await?,
            rotations: self.named_rotations_known(&tags).await?,
            accounts: self.named_accounts_known(&tags).await?,
            tags,
            ..Knowledge::default()
        })
    }

    /// The rotations the legacy tags among `tags` name that this vault knows.
    async fn named_rotations_known(&self, tags: &[(String, String)]) -> Result<HashMap<String, KnownRotation>> {
        let mut rotations = HashMap::new();
        for id in named_rotations(tags) {
            match self.store.rotation(&id).await {
                Ok(r) => {
                    rotations.insert(id, KnownRotation { account: r.account_id.to_string() });
                }
                Err(rekey_store::StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(rotations)
    }
}
