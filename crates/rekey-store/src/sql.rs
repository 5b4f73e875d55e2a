//! The query code both backends share. `sql_store!` is instantiated once per backend with its
//! concrete types; SQL text uses `$N` placeholders, which SQLite and PostgreSQL both accept.
//! A backend supplies `pool`, `begin_write` (how a write transaction starts) and `lock_audit`
//! (how appends to the audit chain are serialised).

use crate::{Result, StoreError};
use std::str::FromStr;

/// Parses a stored column back into its domain type; a failure means the row was damaged.
pub(crate) fn parse_col<T: FromStr>(value: &str, column: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e: T::Err| StoreError::Corrupt { location: format!("column {column}"), problem: e.to_string() })
}

pub(crate) fn json_col<T: serde::de::DeserializeOwned>(value: &str, column: &str) -> Result<T> {
    serde_json::from_str(value)
        .map_err(|e| StoreError::Corrupt { location: format!("column {column}"), problem: e.to_string() })
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

macro_rules! sql_store {
    ($store:ident, $db:ident, $row:ident) => {
        mod shared_queries {
        use super::{$store, $db, $row};
        use $crate::chain::{event_hash, GENESIS};
        use $crate::sql::{json_col, parse_col, to_json};
        use $crate::{from_millis, millis, model::*, Result, Store, StoreError};
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use rekey_domain::{AccountId, CredentialKind, ProviderName, SecretState, UserName};
        use sqlx::{Row, Transaction};

        const PROVIDER_COLS: &str = "name, region, endpoint_url, auth, mfa_serial, created_at, updated_at";
        const ACCOUNT_COLS: &str =
            "id, provider, user_name, user_id, arn, kind, folder, title, status, settings, created_at, updated_at";
        /// Account columns plus the current secret version's number and key id, in one query.
        const ACCOUNT_SELECT: &str = "SELECT a.id, a.provider, a.user_name, a.user_id, a.arn, a.kind, a.folder, \
            a.title, a.status, a.settings, a.created_at, a.updated_at, s.version AS current_version, \
            s.key_id AS current_key_id FROM accounts a LEFT JOIN secret_versions s \
            ON s.record_id = a.id AND s.state = 'current'";
        const SECRET_COLS: &str = "record_id, version, state, key_id, origin, wrapped_key, ciphertext, created_at";
        const AUDIT_COLS: &str = "seq, at, actor, action, target, outcome, detail, prev_hash, hash";

        fn provider_from_row(r: &$row) -> Result<Provider> {
            Ok(Provider {
                name: parse_col(&r.try_get::<String, _>("name")?, "providers.name")?,
                region: parse_col(&r.try_get::<String, _>("region")?, "providers.region")?,
                endpoint_url: r.try_get("endpoint_url")?,
                auth: json_col(&r.try_get::<String, _>("auth")?, "providers.auth")?,
                mfa_serial: r.try_get("mfa_serial")?,
                created_at: from_millis(r.try_get("created_at")?),
                updated_at: from_millis(r.try_get("updated_at")?),
            })
        }

        fn account_from_row(r: &$row) -> Result<Account> {
            let folder: Option<String> = r.try_get("folder")?;
            Ok(Account {
                id: parse_col(&r.try_get::<String, _>("id")?, "accounts.id")?,
                provider: parse_col(&r.try_get::<String, _>("provider")?, "accounts.provider")?,
                user_name: parse_col(&r.try_get::<String, _>("user_name")?, "accounts.user_name")?,
                user_id: r.try_get("user_id")?,
                arn: parse_col(&r.try_get::<String, _>("arn")?, "accounts.arn")?,
                kind: parse_col(&r.try_get::<String, _>("kind")?, "accounts.kind")?,
                folder: folder.map(|f| parse_col::<rekey_domain::Folder>(&f, "accounts.folder")).transpose()?,
                title: r.try_get("title")?,
                status: r.try_get("status")?,
                settings: json_col(&r.try_get::<String, _>("settings")?, "accounts.settings")?,
                created_at: from_millis(r.try_get("created_at")?),
                updated_at: from_millis(r.try_get("updated_at")?),
                current_version: r.try_get("current_version")?,
                current_key_id: r.try_get("current_key_id")?,
            })
        }

        fn secret_from_row(r: &$row) -> Result<SecretVersion> {
            Ok(SecretVersion {
                record_id: r.try_get("record_id")?,
                version: r.try_get("version")?,
                state: parse_col(&r.try_get::<String, _>("state")?, "secret_versions.state")?,
                key_id: r.try_get("key_id")?,
                origin: Origin::parse(&r.try_get::<String, _>("origin")?),
                wrapped_key: r.try_get("wrapped_key")?,
                ciphertext: r.try_get("ciphertext")?,
                created_at: from_millis(r.try_get("created_at")?),
            })
        }

        fn audit_from_row(r: &$row) -> Result<AuditRecord> {
            Ok(AuditRecord {
                seq: r.try_get("seq")?,
                entry: AuditEntry {
                    at: from_millis(r.try_get("at")?),
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    outcome: r.try_get("outcome")?,
                    detail: json_col(&r.try_get::<String, _>("detail")?, "audit_events.detail")?,
                },
                prev_hash: r.try_get("prev_hash")?,
                hash: r.try_get("hash")?,
            })
        }

        async fn append_audit_in(tx: &mut Transaction<'static, $db>, e: &AuditEntry) -> Result<AuditRecord> {
            <$store>::lock_audit(tx).await?;
            let last = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await?;
            let (seq, prev_hash): (i64, String) = match last {
                Some(r) => (r.try_get::<i64, _>("seq")? + 1, r.try_get::<String, _>("hash")?),
                None => (1, GENESIS.to_owned()),
            };
            let entry = AuditEntry { at: from_millis(millis(e.at)), ..e.clone() };
            let hash = event_hash(&prev_hash, seq, &entry);
            sqlx::query(&format!("INSERT INTO audit_events ({AUDIT_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"))
                .bind(seq)
                .bind(millis(entry.at))
                .bind(&entry.actor)
                .bind(&entry.action)
                .bind(&entry.target)
                .bind(&entry.outcome)
                .bind(to_json(&entry.detail))
                .bind(&prev_hash)
                .bind(&hash)
                .execute(&mut **tx)
                .await?;
            Ok(AuditRecord { seq, entry, prev_hash, hash })
        }

        async fn insert_secret_in(tx: &mut Transaction<'static, $db>, s: &SecretVersion) -> Result<()> {
            sqlx::query(&format!("INSERT INTO secret_versions ({SECRET_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"))
                .bind(&s.record_id)
                .bind(s.version)
                .bind(s.state.as_str())
                .bind(&s.key_id)
                .bind(s.origin.as_str())
                .bind(&s.wrapped_key)
                .bind(&s.ciphertext)
                .bind(millis(s.created_at))
                .execute(&mut **tx)
                .await
                .map_err(|e| StoreError::from_sqlx(e, &format!("secret {} version {} exists", s.record_id, s.version)))?;
            Ok(())
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                <$store>::BACKEND
            }

            async fn header(&self) -> Result<Option<VaultHeader>> {
                let row = sqlx::query(
                    "SELECT format, key_source, key_params, wrapped_vault_key, created_at FROM vault_header WHERE id = 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok(VaultHeader {
                        format: r.try_get("format")?,
                        key_source: r.try_get("key_source")?,
                        key_params: json_col(&r.try_get::<String, _>("key_params")?, "vault_header.key_params")?,
                        wrapped_vault_key: r.try_get("wrapped_vault_key")?,
                        created_at: from_millis(r.try_get("created_at")?),
                    })
                })
                .transpose()
            }

            async fn init(&self, h: &VaultHeader, audit: &AuditEntry) -> Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO vault_header (id, format, key_source, key_params, wrapped_vault_key, created_at) \
                     VALUES (1, $1, $2, $3, $4, $5)",
                )
                .bind(h.format)
                .bind(&h.key_source)
                .bind(to_json(&h.key_params))
                .bind(&h.wrapped_vault_key)
                .bind(millis(h.created_at))
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::from_sqlx(e, "this location already holds an initialised vault"))?;
                append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn insert_provider(&self, p: &Provider, secret: Option<&SecretVersion>, audit: &AuditEntry) -> Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(&format!("INSERT INTO providers ({PROVIDER_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7)"))
                    .bind(p.name.as_str())
                    .bind(p.region.as_str())
                    .bind(&p.endpoint_url)
                    .bind(to_json(&p.auth))
                    .bind(&p.mfa_serial)
                    .bind(millis(p.created_at))
                    .bind(millis(p.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::from_sqlx(e, &format!("a provider named {:?} already exists", p.name.as_str())))?;
                if let Some(s) = secret {
                    insert_secret_in(&mut tx, s).await?;
                }
                append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn provider(&self, name: &ProviderName) -> Result<Provider> {
                let row = sqlx::query(&format!("SELECT {PROVIDER_COLS} FROM providers WHERE name = $1"))
                    .bind(name.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| StoreError::not_found(format!("provider {:?}", name.as_str())))?;
                provider_from_row(&row)
            }

            async fn providers(&self) -> Result<Vec<Provider>> {
                sqlx::query(&format!("SELECT {PROVIDER_COLS} FROM providers ORDER BY name"))
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(provider_from_row)
                    .collect()
            }

            async fn delete_provider(&self, name: &ProviderName, audit: &AuditEntry) -> Result<()> {
                let mut tx = self.begin_write().await?;
                let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE provider = $1")
                    .bind(name.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                if used > 0 {
                    return Err(StoreError::Conflict {
                        what: format!("provider {:?} is used by {used} account(s); remove them first", name.as_str()),
                    });
                }
                let sources: Vec<String> = sqlx::query_scalar("SELECT name FROM providers WHERE auth LIKE $1")
                    .bind(format!("%\"source\":\"{}\"%", name.as_str()))
                    .fetch_all(&mut *tx)
                    .await?;
                if !sources.is_empty() {
                    return Err(StoreError::Conflict {
                        what: format!("provider {:?} is the source of {}; remove those first", name.as_str(), sources.join(", ")),
                    });
                }
                let done = sqlx::query("DELETE FROM providers WHERE name = $1").bind(name.as_str()).execute(&mut *tx).await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found(format!("provider {:?}", name.as_str())));
                }
                sqlx::query("DELETE FROM secret_versions WHERE record_id = $1")
                    .bind(provider_secret_record(name))
                    .execute(&mut *tx)
                    .await?;
                append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn insert_account(&self, a: &Account, secret: Option<&SecretVersion>, audit: &AuditEntry) -> Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(&format!("INSERT INTO accounts ({ACCOUNT_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)"))
                    .bind(a.id.as_str())
                    .bind(a.provider.as_str())
                    .bind(a.user_name.as_str())
                    .bind(&a.user_id)
                    .bind(a.arn.as_str())
                    .bind(a.kind.as_str())
                    .bind(a.folder.as_ref().map(|f| f.as_str()))
                    .bind(&a.title)
                    .bind(&a.status)
                    .bind(to_json(&a.settings))
                    .bind(millis(a.created_at))
                    .bind(millis(a.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        StoreError::from_sqlx(
                            e,
                            &format!("an account for {}/{}/{} already exists", a.provider, a.user_name, a.kind),
                        )
                    })?;
                if let Some(s) = secret {
                    insert_secret_in(&mut tx, s).await?;
                }
                append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn account(&self, id: &AccountId) -> Result<Account> {
                let row = sqlx::query(&format!("{ACCOUNT_SELECT} WHERE a.id = $1"))
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| StoreError::not_found(format!("account {:?}", id.as_str())))?;
                account_from_row(&row)
            }

            async fn find_account(&self, provider: &ProviderName, user: &UserName, kind: CredentialKind) -> Result<Account> {
                let row = sqlx::query(&format!(
                    "{ACCOUNT_SELECT} WHERE a.provider = $1 AND a.user_name = $2 AND a.kind = $3"
                ))
                .bind(provider.as_str())
                .bind(user.as_str())
                .bind(kind.as_str())
                .fetch_optional(&self.pool)
                .await?
                .ok_or_else(|| StoreError::not_found(format!("account {provider}/{user}/{kind}")))?;
                account_from_row(&row)
            }

            async fn accounts(&self, f: &AccountFilter) -> Result<Vec<Account>> {
                let folder = f.folder.as_ref().map(|x| x.as_str().to_owned());
                sqlx::query(&format!(
                    "{ACCOUNT_SELECT} \
                     WHERE ($1 IS NULL OR a.provider = $1) \
                       AND ($2 IS NULL OR a.folder = $2 OR a.folder LIKE $3) \
                     ORDER BY a.provider, a.user_name, a.kind"
                ))
                .bind(f.provider.as_ref().map(|p| p.as_str().to_owned()))
                .bind(folder.clone())
                .bind(folder.map(|x| format!("{x}/%")))
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(account_from_row)
                .collect()
            }

            async fn delete_account(&self, id: &AccountId, audit: &AuditEntry) -> Result<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query("DELETE FROM accounts WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found(format!("account {:?}", id.as_str())));
                }
                sqlx::query("DELETE FROM secret_versions WHERE record_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
                append_audit_in(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn secret_versions(&self, record_id: &str) -> Result<Vec<SecretVersion>> {
                sqlx::query(&format!("SELECT {SECRET_COLS} FROM secret_versions WHERE record_id = $1 ORDER BY version"))
                    .bind(record_id)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(secret_from_row)
                    .collect()
            }

            async fn secret_in_state(&self, record_id: &str, state: SecretState) -> Result<Option<SecretVersion>> {
                sqlx::query(&format!(
                    "SELECT {SECRET_COLS} FROM secret_versions WHERE record_id = $1 AND state = $2 ORDER BY version DESC LIMIT 1"
                ))
                .bind(record_id)
                .bind(state.as_str())
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(secret_from_row)
                .transpose()
            }

            async fn append_audit(&self, entry: &AuditEntry) -> Result<AuditRecord> {
                let mut tx = self.begin_write().await?;
                let rec = append_audit_in(&mut tx, entry).await?;
                tx.commit().await?;
                Ok(rec)
            }

            async fn audit_events(&self, since: Option<DateTime<Utc>>, limit: i64) -> Result<Vec<AuditRecord>> {
                sqlx::query(&format!("SELECT {AUDIT_COLS} FROM audit_events WHERE at >= $1 ORDER BY seq LIMIT $2"))
                    .bind(since.map_or(i64::MIN, millis))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(audit_from_row)
                    .collect()
            }
        }
        }
    };
}

pub(crate) use sql_store;
