//! The store's side of the barrier (see [`crate::barrier`]): re-signing a row that a write
//! changes (after verifying it as it stands, so a write never launders an altered row), and
//! [`BarrierStore`], which installs the barrier and upgrades a vault written before it.
//! `sign_queries!` is instantiated inside each backend's query module.

use crate::{barrier::Barrier, model::AuditEntry, Result};
use async_trait::async_trait;

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

macro_rules! sign_queries {
    ($store:ident, $db:ident, $row:ident) => {
        /// An account read alone: `Tampered` if it failed its check.
        fn verified(a: Account) -> Result<Account> {
            match &a.tampered {
                Some(why) => Err(StoreError::Tampered { what: format!("account {:?}", a.id.as_str()), problem: why.clone() }),
                None => Ok(a),
            }
        }

        const ACCOUNT_SIGNED: &str = "id, provider, user_name, user_id, arn, kind, folder, settings, mac";

        fn account_signed(r: &$row, folder: Option<&str>, settings: &str) -> Result<$crate::barrier::RowParts> {
            Ok(barrier::account_row(
                &r.try_get::<String, _>("id")?,
                &r.try_get::<String, _>("provider")?,
                &r.try_get::<String, _>("user_name")?,
                &r.try_get::<String, _>("user_id")?,
                &r.try_get::<String, _>("arn")?,
                &r.try_get::<String, _>("kind")?,
                folder,
                settings,
            ))
        }

        /// The MAC of account `id` with `p`'s settings and folder, after verifying it as stored;
        /// `None` if there is no such account.
        async fn resign_account(
            tx: &mut Transaction<'static, $db>,
            b: &Barrier,
            id: &AccountId,
            p: &AccountPatch,
        ) -> Result<Option<String>> {
            let sql = format!("SELECT {ACCOUNT_SIGNED} FROM accounts WHERE id = $1{}", <$store>::FOR_UPDATE);
            let Some(r) = sqlx::query(&sql).bind(id.as_str()).fetch_optional(&mut **tx).await? else { return Ok(None) };
            let (folder, settings): (Option<String>, String) = (r.try_get("folder")?, r.try_get("settings")?);
            let mac: Option<String> = r.try_get("mac")?;
            b.verify(&account_signed(&r, folder.as_deref(), &settings)?, mac.as_deref(), || format!("account {:?}", id.as_str()))?;
            let folder = match &p.folder {
                Some(f) => f.as_ref().map(|f| f.as_str().to_owned()),
                None => folder,
            };
            let settings = p.settings.as_ref().map_or(settings, to_json);
            Ok(Some(b.sign(&account_signed(&r, folder.as_deref(), &settings)?)))
        }

        /// The MAC of provider `name` with `auth`, after verifying it as stored.
        async fn resign_provider(
            tx: &mut Transaction<'static, $db>,
            b: &Barrier,
            name: &ProviderName,
            auth: &str,
        ) -> Result<String> {
            let sql = format!(
                "SELECT name, region, endpoint_url, auth, mfa_serial, mac FROM providers WHERE name = $1{}",
                <$store>::FOR_UPDATE
            );
            let r = sqlx::query(&sql)
                .bind(name.as_str())
                .fetch_optional(&mut **tx)
                .await?
                .ok_or_else(|| StoreError::not_found(format!("provider {:?}", name.as_str())))?;
            let (region, endpoint, mfa): (String, Option<String>, Option<String>) =
                (r.try_get("region")?, r.try_get("endpoint_url")?, r.try_get("mfa_serial")?);
            let row = |auth: &str| barrier::provider_row(name.as_str(), &region, endpoint.as_deref(), auth, mfa.as_deref());
            let mac: Option<String> = r.try_get("mac")?;
            b.verify(&row(&r.try_get::<String, _>("auth")?), mac.as_deref(), || format!("provider {:?}", name.as_str()))?;
            Ok(b.sign(&row(auth)))
        }

        /// Signs the rows of `table` that carry no MAC; how many.
        async fn sign_unsigned(
            tx: &mut Transaction<'static, $db>,
            b: &Barrier,
            select: &str,
            update: &str,
            parts: impl Fn(&$row) -> Result<($crate::barrier::RowParts, Vec<String>)>,
        ) -> Result<u64> {
            let rows = sqlx::query(select).fetch_all(&mut **tx).await?;
            for r in &rows {
                let (row, keys) = parts(r)?;
                let mut q = sqlx::query(update).bind(b.sign(&row));
                for k in keys {
                    q = q.bind(k);
                }
                q.execute(&mut **tx).await?;
            }
            Ok(rows.len() as u64)
        }

        #[async_trait]
        impl $crate::sign::BarrierStore for $store {
            fn install_barrier(&self, barrier: Barrier) {
                self.barrier.install(barrier);
            }

            async fn upgrade_barrier(&self, audit: &AuditEntry) -> Result<$crate::sign::UpgradeCounts> {
                let b = self.barrier.get()?;
                let mut tx = self.begin_write().await?;
                let (vault_id, check): (Option<String>, Option<String>) =
                    sqlx::query_as(&format!("SELECT vault_id, key_check FROM vault_header WHERE id = 1{}", <$store>::FOR_UPDATE))
                        .fetch_optional(&mut *tx)
                        .await?
                        .ok_or_else(|| StoreError::not_found("vault header"))?;
                if check.is_some() {
                    return Err(StoreError::Conflict { what: "this vault is already protected by the barrier".into() });
                }
                let mut n = $crate::sign::UpgradeCounts::default();
                n.providers = sign_unsigned(
                    &mut tx, &b,
                    "SELECT name, region, endpoint_url, auth, mfa_serial FROM providers WHERE mac IS NULL",
                    "UPDATE providers SET mac = $1 WHERE name = $2",
                    |r| {
                        let name: String = r.try_get("name")?;
                        let (endpoint, mfa): (Option<String>, Option<String>) = (r.try_get("endpoint_url")?, r.try_get("mfa_serial")?);
                        let row = barrier::provider_row(&name, &r.try_get::<String, _>("region")?, endpoint.as_deref(), &r.try_get::<String, _>("auth")?, mfa.as_deref());
                        Ok((row, vec![name]))
                    },
                ).await?;
                n.accounts = sign_unsigned(
                    &mut tx, &b,
                    &format!("SELECT {ACCOUNT_SIGNED} FROM accounts WHERE mac IS NULL"),
                    "UPDATE accounts SET mac = $1 WHERE id = $2",
                    |r| {
                        let folder: Option<String> = r.try_get("folder")?;
                        Ok((account_signed(r, folder.as_deref(), &r.try_get::<String, _>("settings")?)?, vec![r.try_get("id")?]))
                    },
                ).await?;
                n.secret_versions = sign_unsigned(
                    &mut tx, &b,
                    "SELECT record_id, version, state, key_id, origin FROM secret_versions WHERE mac IS NULL",
                    "UPDATE secret_versions SET mac = $1 WHERE record_id = $2 AND version = CAST($3 AS BIGINT)",
                    |r| {
                        let (record, version): (String, i64) = (r.try_get("record_id")?, r.try_get("version")?);
                        let key_id: Option<String> = r.try_get("key_id")?;
                        let row = barrier::secret_row(&record, version, &r.try_get::<String, _>("state")?, key_id.as_deref(), &r.try_get::<String, _>("origin")?);
                        Ok((row, vec![record, version.to_string()]))
                    },
                ).await?;
                n.api_tokens = sign_unsigned(
                    &mut tx, &b,
                    "SELECT id, name, role, folders, hash, created_at, expires_at, revoked_at FROM api_tokens WHERE mac IS NULL",
                    "UPDATE api_tokens SET mac = $1 WHERE id = $2",
                    |r| {
                        let id: String = r.try_get("id")?;
                        let row = barrier::token_row(&id, &r.try_get::<String, _>("name")?, &r.try_get::<String, _>("role")?,
                            &r.try_get::<String, _>("folders")?, &r.try_get::<String, _>("hash")?, r.try_get("created_at")?,
                            r.try_get("expires_at")?, r.try_get("revoked_at")?);
                        Ok((row, vec![id]))
                    },
                ).await?;
                let mut entry = audit.clone();
                entry.detail["authenticated"] = serde_json::json!({
                    "providers": n.providers, "accounts": n.accounts,
                    "secret_versions": n.secret_versions, "api_tokens": n.api_tokens,
                });
                let rec = append_audit_in(&mut tx, &b, &entry).await?;
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
    };
}

pub(crate) use sign_queries;
