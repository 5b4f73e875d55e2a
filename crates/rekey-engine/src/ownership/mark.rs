//! Password marks on IAM: taking a console password (an import or `account add` writes the
//! account's mark, then reads the user's tags again, before the account exists), and releasing
//! it (`account remove`). See the module docs of [`super`] for why writing, then reading, is
//! what makes two vaults unable to both take one password.

use super::{password, tag_key, Foreign, Knowledge, Origin};
use crate::{Engine, Result};
use rekey_aws::IamApi;
use rekey_domain::AccountId;
use std::collections::HashSet;

impl Engine {
    /// What decides whose `user`'s console password is, for `account` (which may not exist yet).
    pub(crate) async fn password_knowledge(
        &self,
        account: &AccountId,
        tags: Vec<(String, String)>,
    ) -> Result<Knowledge> {
        Ok(Knowledge {
            vault: self.vault_id().to_string(),
            account: account.to_string(),
            accounts: self.named_accounts_known(&tags).await?,
            tags,
            ..Knowledge::default()
        })
    }

    /// The accounts of this vault that the password marks among `tags` name and that it has.
    pub(crate) async fn named_accounts_known(&self, tags: &[(String, String)]) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for id in super::named_accounts(self.vault_id().as_str(), tags) {
            let Ok(parsed) = id.parse::<AccountId>() else { continue };
            match self.store.account(&parsed).await {
                Ok(_) => {
                    found.insert(id);
                }
                Err(rekey_store::StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(found)
    }

    /// Marks `user`'s console password as `account`'s (which does not exist yet): refused, with
    /// whose it is, when another account of any vault marks it before or after this mark is
    /// written (the mark is then removed again). `Ok(Ok(()))`: the caller may create the account,
    /// and must [`Engine::release_password`] if it cannot.
    pub(crate) async fn take_password(
        &self,
        iam: &dyn IamApi,
        user: &str,
        account: &AccountId,
        origin: &Origin,
    ) -> Result<Result<(), Foreign>> {
        let knowledge = self.password_knowledge(account, iam.list_user_tags(user).await?).await?;
        if let Some(whose) = knowledge.password_claimed() {
            return Ok(Err(whose));
        }
        let own = tag_key(self.vault_id().as_str(), account.as_str());
        iam.tag_user(user, &[(own, password(origin))]).await?;
        // Another taker that read the tags before this mark was written has written its own
        // mark before reading: one of the two reads sees the other's mark.
        let knowledge = self.password_knowledge(account, iam.list_user_tags(user).await?).await?;
        if let Some(whose) = knowledge.password_claimed() {
            self.release_password(iam, user, account).await;
            return Ok(Err(whose));
        }
        Ok(Ok(()))
    }

    /// Removes `account`'s password mark from `user` (best effort: a mark left behind makes
    /// other accounts refuse the password, saying whose mark it is, until it is removed).
    pub(crate) async fn release_password(&self, iam: &dyn IamApi, user: &str, account: &AccountId) {
        let own = tag_key(self.vault_id().as_str(), account.as_str());
        if let Err(e) = iam.untag_user(user, &[own]).await {
            tracing::warn!(user, account = %account, error = %e, "could not remove the console password's mark");
        }
    }
}
