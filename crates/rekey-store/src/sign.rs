//! The store's side of the barrier (see [`crate::barrier`]): [`BarrierStore`], which installs
//! the barrier and upgrades a vault written before it by signing its rows. A row a write
//! changes is re-signed by that write, after verifying it as it stands, so a write never
//! launders an altered row (`sql.rs`).

use crate::access::TokenRow;
use crate::barrier::{self, Barrier};
use crate::rows::{ProviderRow, SignedAccountRow};
use crate::sql::{Backend, SqlStore, ACCOUNT_SIGNED, PROVIDER_COLS};
use crate::{model::AuditEntry, Result, StoreError};
use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

/// What `rekey vault upgrade` authenticated: rows of a vault written before the barrier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct UpgradeCounts {
    /// Providers signed.
    pub providers: u64,
    /// Accounts signed.
    pub accounts: u64,
    /// Secret versions signed.
    pub secret_versions: u64,
    /// API tokens signed.
    pub api_tokens: u64,
    /// The first audit event whose link is keyed (the upgrade's own event).
    pub audit_keyed_from: i64,
}

/// Installing the barrier, and upgrading a vault that predates it.
#[async_trait]
pub trait BarrierStore: Send + Sync {
    /// Installs the MAC keys of the unlocked vault: from now on authenticated rows are signed
    /// when written and verified when read.
    fn install_barrier(&self, barrier: Barrier);

    /// Signs every row of a vault written before the barrier, starts the keyed audit chain
    /// with `audit` (its details get the counts) and writes the header's key check, in one
    /// transaction. `Conflict` if the vault already has a key check: then an unsigned row is
    /// an altered one, never signed after the fact.
    async fn upgrade_barrier(&self, audit: &AuditEntry) -> Result<UpgradeCounts>;
}

#[async_trait]
impl<B: Backend> BarrierStore for SqlStore<B>
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> i64: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'q> String: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<String>: Encode<'q, B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'q> bool: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Vec<u8>: Encode<'q, B::Db> + Decode<'q, B::Db> + Type<B::Db>,
    for<'r> &'r str: ColumnIndex<<B::Db as Database>::Row>,
    usize: ColumnIndex<<B::Db as Database>::Row>,
{
    fn install_barrier(&self, barrier: Barrier) {
        self.barrier.install(barrier);
    }

    async fn upgrade_barrier(&self, audit: &AuditEntry) -> Result<UpgradeCounts> {
        let b = self.barrier.get()?;
        let mut tx = self.backend.begin_write().await?;
        let sql = format!("SELECT vault_id, key_check FROM vault_header WHERE id = 1{}", B::FOR_UPDATE);
        let (vault_id, check): (Option<String>, Option<String>) = sqlx::query_as(&sql)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found("vault header"))?;
        if check.is_some() {
            return Err(StoreError::Conflict { what: "this vault is already protected by the barrier".into() });
        }
        let mut n = UpgradeCounts::default();
        let providers: Vec<ProviderRow> =
            sqlx::query_as(&format!("SELECT {PROVIDER_COLS} FROM providers WHERE mac IS NULL"))
                .fetch_all(&mut *tx)
                .await?;
        let signed = providers.iter().map(|r| (r.parts(&r.auth), vec![r.name.clone()])).collect();
        n.providers = Self::sign_rows(&mut tx, &b, "UPDATE providers SET mac = $1 WHERE name = $2", signed).await?;
        let accounts: Vec<SignedAccountRow> =
            sqlx::query_as(&format!("SELECT {ACCOUNT_SIGNED} FROM accounts WHERE mac IS NULL"))
                .fetch_all(&mut *tx)
                .await?;
        let signed = accounts.iter().map(|r| (r.parts(r.folder.as_deref(), &r.settings), vec![r.id.clone()])).collect();
        n.accounts = Self::sign_rows(&mut tx, &b, "UPDATE accounts SET mac = $1 WHERE id = $2", signed).await?;
        let versions: Vec<(String, i64, String, Option<String>, String)> =
            sqlx::query_as("SELECT record_id, version, state, key_id, origin FROM secret_versions WHERE mac IS NULL")
                .fetch_all(&mut *tx)
                .await?;
        let signed = versions.iter().map(|(record, version, state, key_id, origin)| {
            (
                barrier::secret_row(record, *version, state, key_id.as_deref(), origin),
                vec![record.clone(), version.to_string()],
            )
        });
        let signed = signed.collect();
        let update = "UPDATE secret_versions SET mac = $1 WHERE record_id = $2 AND version = CAST($3 AS BIGINT)";
        n.secret_versions = Self::sign_rows(&mut tx, &b, update, signed).await?;
        let tokens: Vec<TokenRow> = sqlx::query_as(
            "SELECT id, name, role, folders, hash, created_at, expires_at, revoked_at, mac FROM api_tokens WHERE mac IS NULL",
        )
        .fetch_all(&mut *tx)
        .await?;
        let signed = tokens.iter().map(|r| (r.parts(r.revoked_at), vec![r.id.clone()])).collect();
        n.api_tokens = Self::sign_rows(&mut tx, &b, "UPDATE api_tokens SET mac = $1 WHERE id = $2", signed).await?;
        let mut entry = audit.clone();
        entry.detail["authenticated"] = serde_json::json!({
            "providers": n.providers, "accounts": n.accounts,
            "secret_versions": n.secret_versions, "api_tokens": n.api_tokens,
        });
        let rec = Self::append_audit_in(&mut tx, &b, &entry).await?;
        n.audit_keyed_from = rec.seq;
        sqlx::query("UPDATE vault_header SET key_check = $1, audit_keyed_from = $2 WHERE id = 1")
            .bind(b.key_check(vault_id.as_deref().unwrap_or_default(), rec.seq))
            .bind(rec.seq)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}
