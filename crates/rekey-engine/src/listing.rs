//! What the front ends list and count: pages of accounts (filtered and sorted in the store),
//! one account in the same shape, its secret versions (facts, never secrets), the overview's
//! counts, and the rotation journal and audit log newest first. The time an account is overdue
//! at comes from the engine's clock.

use crate::{AccountRef, Engine, Error, Result};
use chrono::{DateTime, Utc};
use rekey_domain::Folder;
use rekey_store::listing::{
    AccountGauges, AccountItem, AccountPage, AccountQuery, AuditQuery, Count, Cursor, Overview, Page, RotationQuery,
    VersionInfo,
};
use rekey_store::{AccountFilter, AuditRecord, Rotation, StoreError};

impl Engine {
    /// One page of the accounts matching `q` (judged overdue now); an unknown provider is "not
    /// found", not an empty page.
    pub async fn account_page(&self, mut q: AccountQuery, page: &AccountPage) -> Result<Page<AccountItem>> {
        if let Some(p) = &q.provider {
            self.provider(p).await?;
        }
        q.now = self.clock.now();
        Ok(self.store.account_page(&q, page).await?)
    }

    /// One account as the account list shows it: with its check-out holder (and the holding
    /// token's name) and its last rotation.
    /// An account that failed its integrity check is shown flagged (`tampered`), named by its
    /// id or by its path alike.
    pub async fn account_item(&self, r: &AccountRef) -> Result<AccountItem> {
        let id = match r {
            AccountRef::Id(id) => id.clone(),
            AccountRef::Path(p, u, k) => match self.account(r).await {
                Ok(a) => a.id,
                // Read alone it is refused; its provider's listing hands it out flagged.
                Err(Error::Store(StoreError::Tampered { .. })) => {
                    let filter = AccountFilter { provider: Some(p.clone()), folder: None };
                    let listed = self.store.accounts(&filter).await?;
                    let found = listed.into_iter().find(|a| a.user_name == *u && a.kind == *k);
                    found.map(|a| a.id).ok_or_else(|| Self::no_account(r))?
                }
                Err(e) => return Err(e),
            },
        };
        self.store.account_item(&id, self.clock.now()).await?.ok_or_else(|| Self::no_account(r))
    }

    /// Every stored version of `r`'s secret, newest first: number, state, key id, origin and
    /// when it was stored (never the secret).
    pub async fn secret_history(&self, r: &AccountRef) -> Result<Vec<VersionInfo>> {
        let account = self.account(r).await?;
        let mut versions: Vec<VersionInfo> =
            self.store.secret_versions(account.id.as_str()).await?.iter().map(VersionInfo::of).collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.version));
        Ok(versions)
    }

    /// The overview's counts over the accounts in `scope` (`None`: all), and when they were
    /// taken.
    pub async fn overview(&self, scope: Option<Vec<Folder>>) -> Result<(Overview, DateTime<Utc>)> {
        let now = self.clock.now();
        let q = AccountQuery { scope, now, ..Default::default() };
        Ok((self.store.overview(&q).await?, now))
    }

    /// One page of the rotation journal, newest first, its total counted as `count` says.
    pub async fn rotation_page(
        &self,
        q: &RotationQuery,
        limit: i64,
        after: Option<&Cursor>,
        count: Count,
    ) -> Result<Page<Rotation>> {
        Ok(self.store.rotation_page(q, limit, after, count).await?)
    }

    /// One page of the audit log, newest first, its total counted as `count` says.
    pub async fn audit_log_page(
        &self,
        q: &AuditQuery,
        limit: i64,
        after: Option<&Cursor>,
        count: Count,
    ) -> Result<Page<AuditRecord>> {
        Ok(self.store.audit_log_page(q, limit, after, count).await?)
    }

    /// The metrics' account gauges, now.
    pub async fn account_gauges(&self) -> Result<AccountGauges> {
        Ok(self.store.account_gauges(self.clock.now()).await?)
    }
}
