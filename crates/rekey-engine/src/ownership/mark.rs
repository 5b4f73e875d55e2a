//! Marks on IAM: taking a console password or an existing access key (an import or `account
//! add` writes the account's tag, then reads the user's tags again, before the account exists),
//! and releasing it (`account remove`, or a taker that backs out). See the module docs of [`super`] for why writing, then reading, is
//! what makes two vaults unable to both take one password.

use super::{password, render, tag_key, Entry, Foreign, Knowledge, Origin};
use crate::{Engine, Error, Result};
use rekey_aws::IamApi;
use rekey_domain::{AccessKeyId, AccountId};
use rekey_store::{Account, StoreError};
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
    /// and must [`Engine::release_mark`] if it cannot.
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
        // Another taker that read the tags before this mark was written has written its own
        // mark before reading: one of the two reads sees the other's mark.
        let tags = self.write_then_read(iam, user, account, password(origin)).await?;
        let knowledge = self.or_release(iam, user, account, self.password_knowledge(account, tags).await).await?;
        if let Some(whose) = knowledge.password_claimed() {
            self.release_mark(iam, user, account).await;
            return Ok(Err(whose));
        }
        Ok(Ok(()))
    }

    /// Takes access key `key` of `account`'s user for `account` (which does not exist yet), as
    /// a password is taken: writes the account's tag naming the key (`KEY=ORIGIN`), reads the
    /// tags again, and is refused, with whose the key is ([`super::Knowledge::claimed`]), when
    /// another account of any vault claims it then (the tag is then removed again). Two takers
    /// racing each write before they read, so at most one takes the key. The caller found the
    /// key nobody's in tags it read before; `Ok(Ok(()))`: it may create the account, and must
    /// [`Engine::release_mark`] if it cannot.
    pub(crate) async fn take_key(
        &self,
        iam: &dyn IamApi,
        account: &Account,
        key: &str,
        origin: Origin,
    ) -> Result<Result<(), Foreign>> {
        let user = account.user_name.as_str();
        let value = render(&[Entry { key_id: key.to_owned(), origin }]);
        let tags = self.write_then_read(iam, user, &account.id, value).await?;
        let knowledge =
            self.import_knowledge(&account.provider, &account.user_name, &account.user_id, &account.id, tags).await;
        let knowledge = self.or_release(iam, user, &account.id, knowledge).await?;
        if let Some(whose) = knowledge.claimed(key) {
            self.release_mark(iam, user, &account.id).await;
            return Ok(Err(whose));
        }
        Ok(Ok(()))
    }

    /// Takes the adopted key for `account` (not stored yet) as an import takes one: refused,
    /// saying whose it is, when another account of any vault claims it before or after this
    /// account's tag naming it is written (see [`super`]). Two vaults adopting one key would
    /// each retire it under the other at their first rotation.
    pub(crate) async fn take_adopted_key(&self, account: &Account, iam: &dyn IamApi, key: &AccessKeyId) -> Result<()> {
        let user = account.user_name.as_str();
        let tags = iam.list_user_tags(user).await?;
        let first =
            self.import_knowledge(&account.provider, &account.user_name, &account.user_id, &account.id, tags).await?;
        let whose = match first.claimed(key.as_str()) {
            Some(whose) => whose,
            None => match self.take_key(iam, account, key.as_str(), Origin::Adopted).await? {
                Ok(()) => return Ok(()),
                Err(whose) => whose,
            },
        };
        Err(Error::conflict(
            format!("access key {key} of IAM user {user} is someone else's ({whose})"),
            self.refusal_hint(
                account,
                &whose,
                "two accounts holding one key each retire it under the other at their first rotation; manage it \
                 where it is managed, or remove that account first",
            ),
        ))
    }

    /// The hint of a refusal to take what `whose` holds: `why`, or for a tag naming an account
    /// this vault does not have, the command that removes it.
    pub(crate) fn refusal_hint(&self, account: &Account, whose: &Foreign, why: &str) -> String {
        match whose {
            Foreign::UnknownAccount(id) => format!(
                "if account {id}'s `account add` or import stopped before storing it (or it was removed), remove its \
                 tag: `{}` (refused while this vault has the account), then add this account again",
                self.clear_tag_command(&account.provider, &account.user_name, id)
            ),
            _ => why.to_owned(),
        }
    }

    /// Writes `account`'s tag `value` on `user`, then reads the user's tags again (removing the
    /// tag if either fails: the caller takes nothing).
    async fn write_then_read(
        &self,
        iam: &dyn IamApi,
        user: &str,
        account: &AccountId,
        value: String,
    ) -> Result<Vec<(String, String)>> {
        let own = tag_key(self.vault_id().as_str(), account.as_str());
        // A `TagUser` that failed may still have written the tag (its answer lost): released
        // either way (`UntagUser` of a tag the user lacks changes nothing).
        let written = iam.tag_user(user, &[(own, value)]).await.map_err(Error::from);
        self.or_release(iam, user, account, written).await?;
        let tags = iam.list_user_tags(user).await.map_err(Error::from);
        self.or_release(iam, user, account, tags).await
    }

    /// `result`, after releasing `account`'s tag on `user` if it is an error: a taker that
    /// fails after writing its tag (or trying to) takes nothing, and leaves no tag behind.
    async fn or_release<T>(&self, iam: &dyn IamApi, user: &str, account: &AccountId, result: Result<T>) -> Result<T> {
        if result.is_err() {
            self.release_mark(iam, user, account).await;
        }
        result
    }

    /// Backs out of a take whose account could not be stored: releases its tag only if the
    /// store does not have the account. An insert whose answer was lost (the connection dropped
    /// after its commit) may have stored it, and releasing its tag would leave what it holds
    /// looking nobody's; a look-up that fails keeps the tag too (it only refuses others what it
    /// names, until `rekey account clear-tag` removes it).
    pub(crate) async fn release_unless_stored(
        &self,
        iam: &dyn IamApi,
        user: &str,
        account: &AccountId,
        failed: &crate::Error,
    ) {
        match self.stored_after(account, failed).await {
            Stored::No => self.release_mark(iam, user, account).await,
            Stored::Yes(_) => tracing::warn!(
                user,
                account = %account,
                "the account was stored although storing it reported an error: its ownership tag stays"
            ),
            Stored::Unknown(why) => tracing::warn!(
                user,
                account = %account,
                error = %why,
                "could not tell whether the account was stored: its ownership tag stays (`rekey account clear-tag` \
                 removes it if the account is not in the vault)"
            ),
        }
    }

    /// Whether `account`, whose insert failed with `failed`, is in the store. An insert the
    /// store never answered may still commit after any look-up: unknown, without one.
    pub(crate) async fn stored_after(&self, account: &AccountId, failed: &crate::Error) -> Stored {
        if failed.is_store_outage() {
            return Stored::Unknown(failed.to_string());
        }
        match self.store.account(account).await {
            Ok(a) => Stored::Yes(Box::new(a)),
            Err(StoreError::NotFound { .. }) => Stored::No,
            Err(e) => Stored::Unknown(e.to_string()),
        }
    }

    /// Removes `account`'s tag from `user`: its password mark, or the key an import or adoption
    /// took (best effort: a tag left behind makes other accounts refuse what it names, saying
    /// whose it is, until `rekey account clear-tag` removes it).
    pub(crate) async fn release_mark(&self, iam: &dyn IamApi, user: &str, account: &AccountId) {
        let own = tag_key(self.vault_id().as_str(), account.as_str());
        if let Err(e) = iam.untag_user(user, &[own]).await {
            tracing::warn!(user, account = %account, error = %e, "could not remove the account's ownership tag");
        }
    }
}

/// Whether an account whose insert reported an error was stored ([`Engine::stored_after`]).
pub(crate) enum Stored {
    /// It was: the insert's answer was lost after its commit.
    Yes(Box<rekey_store::Account>),
    /// Surely not.
    No,
    /// Cannot be told (why).
    Unknown(String),
}
