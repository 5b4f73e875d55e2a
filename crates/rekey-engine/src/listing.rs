//! What the front ends list and count: pages of accounts (filtered and sorted in the store),
//! one account in the same shape, the overview's counts, and the rotation journal and audit
//! log newest first. The time an account is overdue at comes from the engine's clock.

use crate::{AccountRef, Engine, Result};
use chrono::{DateTime, Utc};
use rekey_domain::Folder;
use rekey_store::listing::{AccountItem, AccountPage, AccountQuery, AuditQuery, Cursor, Overview, Page, RotationQuery};
use rekey_store::{AuditRecord, Rotation};

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

    /// One account as the account list shows it: with its check-out holder and last rotation.
    pub async fn account_item(&self, r: &AccountRef) -> Result<AccountItem> {
        let account = self.account(r).await?;
        let holder = self.store.open_checkout_of(&account.id).await?.map(|c| c.holder);
        let last = self.store.rotations(Some(&account.id), false, 1).await?;
        Ok(AccountItem::new(account, self.clock.now(), holder, last.first()))
    }

    /// The overview's counts over the accounts in `scope` (`None`: all), and when they were
    /// taken.
    pub async fn overview(&self, scope: Option<Vec<Folder>>) -> Result<(Overview, DateTime<Utc>)> {
        let now = self.clock.now();
        let q = AccountQuery { scope, now, ..Default::default() };
        Ok((self.store.overview(&q).await?, now))
    }

    /// One page of the rotation journal, newest first.
    pub async fn rotation_page(&self, q: &RotationQuery, limit: i64, after: Option<&Cursor>) -> Result<Page<Rotation>> {
        Ok(self.store.rotation_page(q, limit, after).await?)
    }

    /// One page of the audit log, newest first.
    pub async fn audit_log_page(
        &self,
        q: &AuditQuery,
        limit: i64,
        after: Option<&Cursor>,
    ) -> Result<Page<AuditRecord>> {
        Ok(self.store.audit_log_page(q, limit, after).await?)
    }
}
