//! `rekey account clear-tag`: the way out of a tag naming an account this vault does not have.
//!
//! An `account add` or import writes its account's tag (a password's mark, or the key it
//! takes) before it stores the account. Stopped in between (killed, a crash, the database gone),
//! it leaves a tag naming an account that never came to be, and every later add or import of
//! that credential is refused ([`super::Foreign::UnknownAccount`]); an account removed while
//! its tag could not be released leaves one too. This removes such a tag — only a tag of this
//! vault, only of an account this vault does not have, and audited (`account.clear-tag`, with
//! the value removed). If the account turns out to have been stored meanwhile (its add was
//! still running, not stopped), the tag is put back and the command fails.

use super::{parse, tag_key, Tag};
use crate::{Engine, Error, Result};
use rekey_aws::{AwsErrorClass, IamApi};
use rekey_domain::{AccountId, AuditOutcome, ProviderName, UserName};
use rekey_store::StoreError;
use serde::Serialize;
use serde_json::json;

/// A tag `clear_tag` found (and removed, unless a dry run).
#[derive(Debug, Clone, Serialize)]
pub struct ClearedTag {
    /// The provider of the IAM user.
    pub provider: String,
    /// The IAM user.
    pub user: String,
    /// The account the tag names (this vault does not have it).
    pub account: String,
    /// The tag's key, `rekey:<vault>/<account>`.
    pub tag: String,
    /// Its value: what it claimed (`password=…`, `KEY=…`, `creating=…`; no secret).
    pub value: String,
    /// Whether it was removed (`false` for a dry run).
    pub removed: bool,
}

impl Engine {
    /// The command that removes `account`'s tag from `user` of `provider`: what a refusal
    /// naming an account this vault does not have tells the operator to run.
    pub fn clear_tag_command(&self, provider: &ProviderName, user: &UserName, account: &str) -> String {
        format!("rekey account clear-tag --provider {provider} --user {user} {account}")
    }

    /// Removes the tag of `account` — an account of this vault that this vault does not have —
    /// from IAM user `user` of `provider` (with `dry_run`, only says what it would remove).
    /// Refused, changing nothing, when the vault has the account, or the user has no tag of
    /// this vault's `account` (another vault's tag is never this vault's to remove).
    pub async fn clear_tag(
        &self,
        provider: &ProviderName,
        user: &UserName,
        account: &AccountId,
        dry_run: bool,
    ) -> Result<ClearedTag> {
        self.refuse_existing(account).await?;
        let iam = self.aws.iam(&self.conn(&self.provider(provider).await?).await?).await;
        let tags = iam.list_user_tags(user.as_str()).await.map_err(|e| match e.class {
            AwsErrorClass::NotFound => Error::NotFound {
                what: format!("IAM user {user} in provider {provider}"),
                hint: "check the user name (IAM names are case-sensitive) and the provider".into(),
            },
            _ => e.into(),
        })?;
        let tag = tag_key(self.vault_id().as_str(), account.as_str());
        let Some(value) = tags.iter().find(|(k, _)| *k == tag).map(|(_, v)| v.clone()) else {
            return Err(Error::NotFound {
                what: format!("a tag of account {account} of this vault ({tag}) on IAM user {user}"),
                hint: self.tags_present(&tags),
            });
        };
        let mut cleared = ClearedTag {
            provider: provider.to_string(),
            user: user.to_string(),
            account: account.to_string(),
            tag,
            value,
            removed: false,
        };
        if !dry_run {
            self.remove_tag(iam.as_ref(), &cleared).await?;
            cleared.removed = true;
        }
        Ok(cleared)
    }

    /// Refuses an account this vault has: its tag is its own.
    async fn refuse_existing(&self, account: &AccountId) -> Result<()> {
        match self.store.account(account).await {
            Ok(a) => Err(Error::conflict(
                format!(
                    "account {account} exists in this vault ({}/{}/{}): its tag is its own, and is never cleared",
                    a.provider, a.user_name, a.kind
                ),
                format!("`rekey account remove {account}` removes the account (and its password's mark)"),
            )),
            Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the tag, puts it back if the account was stored meanwhile, and audits both.
    async fn remove_tag(&self, iam: &dyn IamApi, c: &ClearedTag) -> Result<()> {
        let detail = json!({ "provider": c.provider, "user": c.user, "tag": c.tag, "value": c.value });
        let target = Some(c.account.as_str());
        if let Err(e) = iam.untag_user(&c.user, std::slice::from_ref(&c.tag)).await {
            let e = Error::from(e);
            self.audit_failed(c, &detail, &e).await;
            return Err(e);
        }
        let account: AccountId = c.account.parse()?;
        if let Err(refused) = self.refuse_existing(&account).await {
            // Its add or import was not stopped but still running, and stored it after the check
            // above: the tag is its own again.
            let put_back = iam.tag_user(&c.user, &[(c.tag.clone(), c.value.clone())]).await;
            let how = match put_back {
                Ok(()) => format!("put back ({} = {})", c.tag, c.value),
                Err(e) => format!(
                    "NOT put back ({e}): write it again by hand on IAM user {}, key {} and value {}",
                    c.user, c.tag, c.value
                ),
            };
            let e = if !matches!(refused, Error::Conflict { .. }) {
                // Whether it was stored meanwhile could not be told: kept, as if it had been.
                let class = refused.class();
                Error::Reported {
                    message: format!(
                        "whether account {} was stored while its tag was being removed could not be told ({refused}); \
                         the tag was {how}",
                        c.account
                    ),
                    failure: crate::error::Failure {
                        class,
                        busy: false,
                        hint: Some("run the command again once the vault's database answers".into()),
                    },
                }
            } else {
                Error::conflict(
                    format!(
                        "account {} was stored while its tag was being removed (its `account add` or import was \
                         still running); the tag was {how}",
                        c.account
                    ),
                    format!("nothing to clear: {refused}"),
                )
            };
            self.audit_failed(c, &detail, &e).await;
            return Err(e);
        }
        let audit = self.audit_entry("account.clear-tag", target, AuditOutcome::Ok, detail);
        self.store.append_audit(&audit).await?;
        Ok(())
    }

    /// Audits a failed removal with the tag's key and value (no secret: what it claimed), so
    /// the operator can write it again if it was lost.
    async fn audit_failed(&self, c: &ClearedTag, detail: &serde_json::Value, e: &Error) {
        let mut detail = detail.clone();
        detail["error"] = json!(e.to_string());
        let entry = self.audit_entry("account.clear-tag", Some(c.account.as_str()), AuditOutcome::Failed, detail);
        if let Err(err) = self.store.append_audit(&entry).await {
            tracing::warn!(error = %err, tag = c.tag, value = c.value, "could not record a failed clear-tag in the audit log");
        }
    }

    /// What ownership tags `tags` holds, for a hint: this vault's by account, others' by vault.
    fn tags_present(&self, tags: &[(String, String)]) -> String {
        let vault = self.vault_id().to_string();
        let present: Vec<String> = tags
            .iter()
            .filter_map(|(k, v)| match parse(k, v)? {
                Tag::Vault { vault: v, account, .. } if v == vault => {
                    Some(format!("{k} (account {account} of this vault)"))
                }
                Tag::Vault { vault: v, .. } => Some(format!("{k} (another vault's, {v}: never this vault's to clear)")),
                Tag::Legacy { .. } => None,
            })
            .collect();
        if present.is_empty() {
            "the user has no ownership tag of any vault: nothing to clear".into()
        } else {
            format!("the user's ownership tags: {}", present.join("; "))
        }
    }
}
