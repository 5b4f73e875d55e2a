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
        use $crate::chain::{keyed_event_hash, GENESIS};
        use $crate::barrier::{self, Barrier};
        use $crate::sql::{json_col, parse_col, to_json};
        use $crate::{from_millis, millis, model::*, Result, Store, StoreError};
        use async_trait::async_trait;
        use chrono::{DateTime, Utc};
        use rekey_domain::{AccountId, CredentialKind, ProviderName, SecretState, UserName};
        use sqlx::{Row, Transaction};

        const ROTATION_COLS: &str = "id, account_id, kind, phase, old_key_id, new_key_id, old_version, new_version, \
            data, error, started_at, updated_at, finished_at";

        const PROVIDER_COLS: &str = "name, region, endpoint_url, auth, mfa_serial, created_at, updated_at, mac";
        const ACCOUNT_COLS: &str =
            "id, provider, user_name, user_id, arn, kind, folder, title, status, settings, created_at, updated_at, mac";
        /// Account columns plus the current secret version's number and key id, in one query.
        const ACCOUNT_SELECT: &str = "SELECT a.id, a.provider, a.user_name, a.user_id, a.arn, a.kind, a.folder, \
            a.title, a.status, a.settings, a.created_at, a.updated_at, s.version AS current_version, \
            s.key_id AS current_key_id, s.origin AS current_origin, s.mac AS current_mac, a.mac, a.last_rotated_at, a.next_due_at, a.heartbeat_at, a.heartbeat_status, \
            a.heartbeat_detail FROM accounts a LEFT JOIN secret_versions s \
            ON s.record_id = a.id AND s.state = 'current'";
        const SECRET_COLS: &str = "record_id, version, state, key_id, origin, wrapped_key, ciphertext, created_at, mac";
        const AUDIT_COLS: &str = "seq, at, actor, action, target, outcome, detail, prev_hash, hash";

        $crate::rows::sql_rows!($row);
        $crate::sign::sign_queries!($store, $db, $row);

        /// A lease row: (owner, expires at, last renewed if recorded).
        fn lease_row(r: &$row) -> Result<(String, DateTime<Utc>, Option<DateTime<Utc>>)> {
            let renewed: i64 = r.try_get("renewed_at")?;
            Ok((r.try_get("owner")?, from_millis(r.try_get("expires_at")?), (renewed > 0).then(|| from_millis(renewed))))
        }

        /// The holder of a lease another transaction holds (read outside any transaction).
        async fn lease_held(pool: &sqlx::Pool<$db>, account: &AccountId) -> Result<LeaseOutcome> {
            let row = sqlx::query("SELECT owner, expires_at, renewed_at FROM leases WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_one(pool)
                .await?;
            let (owner, expires_at, _) = lease_row(&row)?;
            Ok(LeaseOutcome::Held { owner, expires_at })
        }

        /// Fails with `Fenced` unless `fence` is still the account's lease token. The lease row
        /// is locked for the rest of the transaction, so a takeover waits for this write.
        async fn check_fence(tx: &mut Transaction<'static, $db>, fence: &Fence) -> Result<()> {
            let token: Option<i64> =
                sqlx::query_scalar(&format!("SELECT token FROM leases WHERE account_id = $1{}", <$store>::FOR_UPDATE))
                    .bind(fence.account_id.as_str())
                    .fetch_optional(&mut **tx)
                    .await?;
            if token != Some(fence.token) {
                return Err(StoreError::Fenced { account: fence.account_id.to_string() });
            }
            Ok(())
        }

        async fn upsert_rotation(tx: &mut Transaction<'static, $db>, r: &Rotation) -> Result<()> {
            let done = sqlx::query(&format!(
                "INSERT INTO rotations ({ROTATION_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) \
                 ON CONFLICT (id) DO UPDATE SET phase = excluded.phase, old_key_id = excluded.old_key_id, \
                 new_key_id = excluded.new_key_id, old_version = excluded.old_version, \
                 new_version = excluded.new_version, data = excluded.data, error = excluded.error, \
                 updated_at = excluded.updated_at, finished_at = excluded.finished_at \
                 WHERE rotations.phase NOT IN ('done', 'aborted')"
            ))
            .bind(&r.id)
            .bind(r.account_id.as_str())
            .bind(r.kind.as_str())
            .bind(r.phase.as_str())
            .bind(&r.old_key_id)
            .bind(&r.new_key_id)
            .bind(r.old_version)
            .bind(r.new_version)
            .bind(to_json(&r.data))
            .bind(&r.error)
            .bind(millis(r.started_at))
            .bind(millis(r.updated_at))
            .bind(r.finished_at.map(millis))
            .execute(&mut **tx)
            .await?;
            // A finished rotation is never written again: whatever resumed it read a stale state.
            if done.rows_affected() == 0 {
                return Err(StoreError::Conflict { what: format!("rotation {} has already finished", r.id) });
            }
            Ok(())
        }

        /// Fails with `Conflict` unless `record`'s current version is `expected`.
        async fn check_current(tx: &mut Transaction<'static, $db>, record: &str, expected: Option<i64>) -> Result<()> {
            let current: Option<i64> =
                sqlx::query_scalar("SELECT version FROM secret_versions WHERE record_id = $1 AND state = 'current'")
                    .bind(record)
                    .fetch_optional(&mut **tx)
                    .await?;
            if current != expected {
                let show = |v: Option<i64>| v.map_or_else(|| "none".to_owned(), |v| format!("version {v}"));
                return Err(StoreError::Conflict {
                    what: format!(
                        "the current secret of {record} is {}, not the {} this write replaces",
                        show(current),
                        show(expected)
                    ),
                });
            }
            Ok(())
        }

        /// Fails with `NotDue` unless `account`'s next rotation is due at `at`.
        async fn check_due(tx: &mut Transaction<'static, $db>, account: &AccountId, at: DateTime<Utc>) -> Result<()> {
            let due: Option<Option<i64>> = sqlx::query_scalar("SELECT next_due_at FROM accounts WHERE id = $1")
                .bind(account.as_str())
                .fetch_optional(&mut **tx)
                .await?;
            match due {
                None => Err(StoreError::not_found(format!("account {:?}", account.as_str()))),
                Some(Some(next)) if next <= millis(at) => Ok(()),
                Some(_) => Err(StoreError::NotDue { account: account.to_string() }),
            }
        }

        async fn patch_account(
            tx: &mut Transaction<'static, $db>,
            b: &Barrier,
            id: &AccountId,
            p: &AccountPatch,
            at: DateTime<Utc>,
        ) -> Result<()> {
            let mac = if p.settings.is_some() || p.folder.is_some() { resign_account(tx, b, id, p).await? } else { None };
            let done = sqlx::query(
                "UPDATE accounts SET \
                   status = COALESCE($2, status), \
                   settings = COALESCE($3, settings), \
                   folder = CASE WHEN $4 THEN $5 ELSE folder END, \
                   title = CASE WHEN $6 THEN $7 ELSE title END, \
                   last_rotated_at = COALESCE($8, last_rotated_at), \
                   next_due_at = CASE WHEN $9 THEN $10 ELSE next_due_at END, \
                   heartbeat_at = COALESCE($11, heartbeat_at), \
                   heartbeat_status = COALESCE($12, heartbeat_status), \
                   heartbeat_detail = COALESCE($13, heartbeat_detail), \
                   updated_at = $14, \
                   mac = COALESCE($15, mac) \
                 WHERE id = $1",
            )
            .bind(id.as_str())
            .bind(p.status.map(|s| s.as_str()))
            .bind(p.settings.as_ref().map(to_json))
            .bind(p.folder.is_some())
            .bind(p.folder.clone().flatten().map(String::from))
            .bind(p.title.is_some())
            .bind(p.title.clone().flatten())
            .bind(p.last_rotated_at.map(millis))
            .bind(p.next_due_at.is_some())
            .bind(p.next_due_at.flatten().map(millis))
            .bind(p.heartbeat.as_ref().map(|h| millis(h.at)))
            .bind(p.heartbeat.as_ref().map(|h| h.status.as_str()))
            .bind(p.heartbeat.as_ref().map(|h| to_json(&h.detail)))
            .bind(millis(at))
            .bind(mac)
            .execute(&mut **tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found(format!("account {:?}", id.as_str())));
            }
            Ok(())
        }

        /// Accounts matching `condition` (which compares a time column with `$1` and orders),
        /// at most `limit` (`$2`).
        async fn accounts_at(
            pool: &sqlx::Pool<$db>,
            b: &Barrier,
            condition: &str,
            at: DateTime<Utc>,
            limit: i64,
        ) -> Result<Vec<Account>> {
            sqlx::query(&format!("{ACCOUNT_SELECT} WHERE {condition} LIMIT $2"))
                .bind(millis(at))
                .bind(limit)
                .fetch_all(pool)
                .await?
                .iter()
                .map(|r| account_from_row(r, b))
                .collect()
        }

        pub(super) async fn append_audit_in(
            tx: &mut Transaction<'static, $db>,
            b: &Barrier,
            e: &AuditEntry,
        ) -> Result<AuditRecord> {
            <$store>::lock_audit(tx).await?;
            let last = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await?;
            let (seq, prev_hash): (i64, String) = match last {
                Some(r) => (r.try_get::<i64, _>("seq")? + 1, r.try_get::<String, _>("hash")?),
                None => (1, GENESIS.to_owned()),
            };
            let entry = AuditEntry { at: from_millis(millis(e.at)), ..e.clone() };
            let hash = keyed_event_hash(b.audit_key(), &prev_hash, seq, &entry);
            sqlx::query(&format!("INSERT INTO audit_events ({AUDIT_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"))
                .bind(seq)
                .bind(millis(entry.at))
                .bind(&entry.actor)
                .bind(&entry.action)
                .bind(&entry.target)
                .bind(entry.outcome.as_str())
                .bind(to_json(&entry.detail))
                .bind(&prev_hash)
                .bind(&hash)
                .execute(&mut **tx)
                .await?;
            Ok(AuditRecord { seq, entry, prev_hash, hash })
        }

        /// Moves a version to `state`, after verifying the row as it stands (a re-signed row
        /// must have been authentic), and signs it anew.
        async fn set_state(
            tx: &mut Transaction<'static, $db>,
            b: &Barrier,
            record: &str,
            version: i64,
            state: SecretState,
        ) -> Result<()> {
            let row = sqlx::query(&format!(
                "SELECT state, key_id, origin, mac FROM secret_versions WHERE record_id = $1 AND version = $2{}",
                <$store>::FOR_UPDATE
            ))
            .bind(record)
            .bind(version)
            .fetch_optional(&mut **tx)
            .await?;
            let Some(row) = row else { return Ok(()) };
            let (key_id, origin): (Option<String>, String) = (row.try_get("key_id")?, row.try_get("origin")?);
            let old = barrier::secret_row(record, version, &row.try_get::<String, _>("state")?, key_id.as_deref(), &origin);
            b.verify(&old, row.try_get::<Option<String>, _>("mac")?.as_deref(), || {
                format!("secret version {version} of {record}")
            })?;
            let mac = b.sign(&barrier::secret_row(record, version, state.as_str(), key_id.as_deref(), &origin));
            sqlx::query("UPDATE secret_versions SET state = $3, mac = $4 WHERE record_id = $1 AND version = $2")
                .bind(record)
                .bind(version)
                .bind(state.as_str())
                .bind(mac)
                .execute(&mut **tx)
                .await
                .map_err(|e| StoreError::from_sqlx(e, &format!("{record} would have two current secret versions")))?;
            Ok(())
        }

        async fn insert_secret_in(tx: &mut Transaction<'static, $db>, b: &Barrier, s: &SecretVersion) -> Result<()> {
            let row = barrier::secret_row(&s.record_id, s.version, s.state.as_str(), s.key_id.as_deref(), s.origin.as_str());
            sqlx::query(&format!("INSERT INTO secret_versions ({SECRET_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"))
                .bind(&s.record_id)
                .bind(s.version)
                .bind(s.state.as_str())
                .bind(&s.key_id)
                .bind(s.origin.as_str())
                .bind(&s.wrapped_key)
                .bind(&s.ciphertext)
                .bind(millis(s.created_at))
                .bind(b.sign(&row))
                .execute(&mut **tx)
                .await
                .map_err(|e| {
                    StoreError::from_sqlx(
                        e,
                        &format!("secret {} version {} exists, or the record has a current version", s.record_id, s.version),
                    )
                })?;
            Ok(())
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                <$store>::BACKEND
            }

            async fn header(&self) -> Result<Option<VaultHeader>> {
                let row = sqlx::query(
                    "SELECT format, key_source, key_params, wrapped_vault_key, created_at, vault_id, key_check, \
                     audit_keyed_from FROM vault_header WHERE id = 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    let vault_id: Option<String> = r.try_get("vault_id")?;
                    Ok(VaultHeader {
                        vault_id: parse_col(&vault_id.unwrap_or_default(), "vault_header.vault_id")?,
                        format: r.try_get("format")?,
                        key_source: r.try_get("key_source")?,
                        key_params: json_col(&r.try_get::<String, _>("key_params")?, "vault_header.key_params")?,
                        wrapped_vault_key: r.try_get("wrapped_vault_key")?,
                        created_at: from_millis(r.try_get("created_at")?),
                        key_check: r.try_get("key_check")?,
                        audit_keyed_from: r.try_get("audit_keyed_from")?,
                    })
                })
                .transpose()
            }

            async fn init(&self, h: &VaultHeader, audit: &AuditEntry) -> Result<()> {
                // The first event (this one's) is keyed: the key check names it.
                let b = self.barrier.get()?;
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO vault_header (id, format, key_source, key_params, wrapped_vault_key, created_at, vault_id, \
                     key_check, audit_keyed_from) VALUES (1, $1, $2, $3, $4, $5, $6, $7, 1)",
                )
                .bind(h.format)
                .bind(&h.key_source)
                .bind(to_json(&h.key_params))
                .bind(&h.wrapped_vault_key)
                .bind(millis(h.created_at))
                .bind(h.vault_id.as_str())
                .bind(b.key_check(h.vault_id.as_str(), 1))
                .execute(&mut *tx)
                .await
                .map_err(|e| StoreError::from_sqlx(e, "this location already holds an initialised vault"))?;
                append_audit_in(&mut tx, &*self.barrier.get()?, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn insert_provider(&self, p: &Provider, secret: Option<&SecretVersion>, audit: &AuditEntry) -> Result<()> {
                let auth = to_json(&p.auth);
                let row = barrier::provider_row(
                    p.name.as_str(),
                    p.region.as_str(),
                    p.endpoint_url.as_deref(),
                    &auth,
                    p.mfa_serial.as_deref(),
                );
                let mac = self.barrier.get()?.sign(&row);
                let mut tx = self.begin_write().await?;
                sqlx::query(&format!("INSERT INTO providers ({PROVIDER_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"))
                    .bind(p.name.as_str())
                    .bind(p.region.as_str())
                    .bind(&p.endpoint_url)
                    .bind(auth)
                    .bind(&p.mfa_serial)
                    .bind(millis(p.created_at))
                    .bind(millis(p.updated_at))
                    .bind(mac)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::from_sqlx(e, &format!("a provider named {:?} already exists", p.name.as_str())))?;
                if let Some(s) = secret {
                    insert_secret_in(&mut tx, &*self.barrier.get()?, s).await?;
                }
                append_audit_in(&mut tx, &*self.barrier.get()?, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn provider(&self, name: &ProviderName) -> Result<Provider> {
                let row = sqlx::query(&format!("SELECT {PROVIDER_COLS} FROM providers WHERE name = $1"))
                    .bind(name.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| StoreError::not_found(format!("provider {:?}", name.as_str())))?;
                provider_from_row(&row, &*self.barrier.get()?)
            }

            async fn providers(&self) -> Result<Vec<Provider>> {
                let b = self.barrier.get()?;
                sqlx::query(&format!("SELECT {PROVIDER_COLS} FROM providers ORDER BY name"))
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|r| provider_from_row(r, &b))
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
                // Compared as parsed names: a LIKE pattern would treat `_` as a wildcard, and
                // SQLite's LIKE ignores case, so a look-alike name would block the delete.
                let mut sources = Vec::new();
                for (other, auth) in
                    sqlx::query_as::<_, (String, String)>("SELECT name, auth FROM providers").fetch_all(&mut *tx).await?
                {
                    if let ProviderAuth::AssumeRole { source: Some(s), .. } = json_col(&auth, "providers.auth")? {
                        if &s == name {
                            sources.push(other);
                        }
                    }
                }
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
                append_audit_in(&mut tx, &*self.barrier.get()?, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn insert_account(&self, a: &Account, secret: Option<&SecretVersion>, audit: &AuditEntry) -> Result<()> {
                let settings = to_json(&a.settings);
                let row = barrier::account_row(
                    a.id.as_str(),
                    a.provider.as_str(),
                    a.user_name.as_str(),
                    &a.user_id,
                    a.arn.as_str(),
                    a.kind.as_str(),
                    a.folder.as_ref().map(|f| f.as_str()),
                    &settings,
                );
                let mac = self.barrier.get()?.sign(&row);
                let mut tx = self.begin_write().await?;
                sqlx::query(&format!(
                    "INSERT INTO accounts ({ACCOUNT_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
                ))
                    .bind(a.id.as_str())
                    .bind(a.provider.as_str())
                    .bind(a.user_name.as_str())
                    .bind(&a.user_id)
                    .bind(a.arn.as_str())
                    .bind(a.kind.as_str())
                    .bind(a.folder.as_ref().map(|f| f.as_str()))
                    .bind(&a.title)
                    .bind(a.status.as_str())
                    .bind(settings)
                    .bind(millis(a.created_at))
                    .bind(millis(a.updated_at))
                    .bind(mac)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        StoreError::from_sqlx(
                            e,
                            &format!("an account for {}/{}/{} already exists", a.provider, a.user_name, a.kind),
                        )
                    })?;
                if let Some(s) = secret {
                    insert_secret_in(&mut tx, &*self.barrier.get()?, s).await?;
                }
                append_audit_in(&mut tx, &*self.barrier.get()?, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn account(&self, id: &AccountId) -> Result<Account> {
                let row = sqlx::query(&format!("{ACCOUNT_SELECT} WHERE a.id = $1"))
                    .bind(id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| StoreError::not_found(format!("account {:?}", id.as_str())))?;
                verified(account_from_row(&row, &*self.barrier.get()?)?)
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
                verified(account_from_row(&row, &*self.barrier.get()?)?)
            }

            async fn accounts(&self, f: &AccountFilter) -> Result<Vec<Account>> {
                let mut all = Vec::new();
                self.each_account(f, &mut |a| {
                    all.push(a);
                    Ok(())
                })
                .await?;
                Ok(all)
            }

            async fn each_account(
                &self,
                f: &AccountFilter,
                each: &mut (dyn FnMut(Account) -> Result<()> + Send),
            ) -> Result<()> {
                use futures_util::TryStreamExt;
                let folder = f.folder.as_ref().map(|x| x.as_str().to_owned());
                let sql = format!(
                    "{ACCOUNT_SELECT} \
                     WHERE ($1 IS NULL OR a.provider = $1) \
                       AND ($2 IS NULL OR a.folder = $2 OR substr(a.folder, 1, length($3)) = $3) \
                     ORDER BY a.provider, a.user_name, a.kind"
                );
                let query = sqlx::query(&sql)
                .bind(f.provider.as_ref().map(|p| p.as_str().to_owned()))
                .bind(folder.clone())
                // A sub-folder prefix compared exactly: LIKE would make `_` a wildcard (both
                // backends) and ignore case (SQLite), so `prod_eu` would list `prod-eu/…`.
                .bind(folder.map(|x| format!("{x}/")));
                // Rows are converted as the driver yields them (SQLite steps on its own thread
                // meanwhile), and none is kept: a listing's memory does not grow with the vault.
                let b = self.barrier.get()?;
                let mut rows = query.fetch(&self.pool);
                while let Some(row) = rows.try_next().await? {
                    each(account_from_row(&row, &b)?)?;
                }
                Ok(())
            }

            async fn delete_account(&self, id: &AccountId, audit: &AuditEntry) -> Result<()> {
                let mut tx = self.begin_write().await?;
                let done = sqlx::query("DELETE FROM accounts WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found(format!("account {:?}", id.as_str())));
                }
                sqlx::query("DELETE FROM secret_versions WHERE record_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
                append_audit_in(&mut tx, &*self.barrier.get()?, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn secret_versions(&self, record_id: &str) -> Result<Vec<SecretVersion>> {
                let b = self.barrier.get()?;
                sqlx::query(&format!("SELECT {SECRET_COLS} FROM secret_versions WHERE record_id = $1 ORDER BY version"))
                    .bind(record_id)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(|r| secret_from_row(r, &b))
                    .collect()
            }

            async fn secret_in_state(&self, record_id: &str, state: SecretState) -> Result<Option<SecretVersion>> {
                let b = self.barrier.get()?;
                sqlx::query(&format!(
                    "SELECT {SECRET_COLS} FROM secret_versions WHERE record_id = $1 AND state = $2 ORDER BY version DESC LIMIT 1"
                ))
                .bind(record_id)
                .bind(state.as_str())
                .fetch_optional(&self.pool)
                .await?
                .as_ref()
                .map(|r| secret_from_row(r, &b))
                .transpose()
            }

            async fn write(&self, w: &JournalWrite) -> Result<()> {
                let b = self.barrier.get()?;
                let mut tx = self.begin_write().await?;
                if let Some(f) = &w.fence {
                    check_fence(&mut tx, f).await?;
                }
                if let Some(account) = &w.claim_due {
                    check_due(&mut tx, account, w.at).await?;
                }
                if let Some((record, expected)) = &w.expect_current {
                    check_current(&mut tx, record, *expected).await?;
                }
                if let Some(r) = &w.rotation {
                    upsert_rotation(&mut tx, r).await?;
                }
                // At most one `current` version per record (a unique index): versions leave
                // `current` before new ones are inserted or others become current.
                let (promote, demote): (Vec<_>, Vec<_>) =
                    w.secret_states.iter().partition(|(_, _, state)| *state == SecretState::Current);
                for (record, version, state) in demote {
                    set_state(&mut tx, &b, record, *version, *state).await?;
                }
                for v in &w.new_secrets {
                    insert_secret_in(&mut tx, &b, v).await?;
                }
                for (record, version, state) in promote {
                    set_state(&mut tx, &b, record, *version, *state).await?;
                }
                if let Some((id, patch)) = &w.account {
                    patch_account(&mut tx, &b, id, patch, w.at).await?;
                }
                if let Some((name, auth)) = &w.provider_auth {
                    let mac = resign_provider(&mut tx, &b, name, &to_json(auth)).await?;
                    sqlx::query("UPDATE providers SET auth = $2, updated_at = $3, mac = $4 WHERE name = $1")
                        .bind(name.as_str())
                        .bind(to_json(auth))
                        .bind(millis(w.at))
                        .bind(mac)
                        .execute(&mut *tx)
                        .await?;
                }
                for a in &w.audit {
                    append_audit_in(&mut tx, &b, a).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn acquire_lease(
                &self,
                account: &AccountId,
                owner: &str,
                now: DateTime<Utc>,
                ttl_ms: i64,
                steal_from: Option<&str>,
            ) -> Result<LeaseOutcome> {
                // The row is read first, locked for the rest of the transaction (SQLite holds the
                // write lock from `BEGIN IMMEDIATE`), so what it says about the previous holder
                // is what the update below replaces. A row locked by another transaction (a
                // journal write under way, or a node frozen inside one) is not waited for: its
                // stored owner holds it.
                let mut tx = self.begin_write().await?;
                let locked = sqlx::query(&format!(
                    "SELECT owner, expires_at, renewed_at FROM leases WHERE account_id = $1{}",
                    <$store>::LOCK_NOWAIT
                ))
                .bind(account.as_str())
                .fetch_optional(&mut *tx)
                .await;
                let prior = match locked {
                    Err(sqlx::Error::Database(db))
                        if !<$store>::LOCK_NOT_AVAILABLE.is_empty()
                            && db.code().as_deref() == Some(<$store>::LOCK_NOT_AVAILABLE) =>
                    {
                        // Rolled back before the read: a dropped transaction is rolled back
                        // later, on its own, and until then still holds what it locked.
                        tx.rollback().await?;
                        return lease_held(&self.pool, account).await;
                    }
                    other => other?.map(|r| lease_row(&r)).transpose()?,
                };
                // One statement takes the lease when it is free (never held, released, held by
                // this owner, expired, or being stolen from `steal_from`), atomically in both
                // databases: the conflicting row is locked and the condition evaluated on it.
                let token: Option<i64> = sqlx::query_scalar(
                    "INSERT INTO leases (account_id, owner, token, expires_at, renewed_at) VALUES ($1, $2, 1, $3, $4) \
                     ON CONFLICT (account_id) DO UPDATE SET owner = excluded.owner, token = leases.token + 1, \
                     expires_at = excluded.expires_at, renewed_at = excluded.renewed_at \
                     WHERE leases.owner = '' OR leases.owner = $2 OR leases.expires_at <= $4 OR leases.owner = $5 \
                     RETURNING token",
                )
                .bind(account.as_str())
                .bind(owner)
                .bind(millis(now) + ttl_ms)
                .bind(millis(now))
                .bind(steal_from)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(token) = token else {
                    // Explicitly, so the row lock is gone before the caller tries again (a
                    // dropped transaction is rolled back later, on its own).
                    tx.rollback().await?;
                    return match prior {
                        Some((owner, expires_at, _)) => Ok(LeaseOutcome::Held { owner, expires_at }),
                        // Inserted by another transaction since the read: read its holder.
                        None => lease_held(&self.pool, account).await,
                    };
                };
                tx.commit().await?;
                let fence = Fence { account_id: account.clone(), token };
                Ok(match prior {
                    Some((from, _, last_renewed)) if !from.is_empty() && from != owner => {
                        LeaseOutcome::TakenOver { fence, from, last_renewed }
                    }
                    _ => LeaseOutcome::Acquired(fence),
                })
            }

            async fn renew_lease(&self, fence: &Fence, now: DateTime<Utc>, ttl_ms: i64) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE leases SET expires_at = $3, renewed_at = $4 WHERE account_id = $1 AND token = $2",
                )
                .bind(fence.account_id.as_str())
                .bind(fence.token)
                .bind(millis(now) + ttl_ms)
                .bind(millis(now))
                .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_lease(&self, fence: &Fence) -> Result<()> {
                sqlx::query("UPDATE leases SET owner = '', expires_at = 0 WHERE account_id = $1 AND token = $2")
                    .bind(fence.account_id.as_str())
                    .bind(fence.token)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn lease_state(&self, account: &AccountId) -> Result<Option<(i64, DateTime<Utc>)>> {
                let row: Option<(i64, i64)> =
                    sqlx::query_as("SELECT token, expires_at FROM leases WHERE account_id = $1 AND owner <> ''")
                        .bind(account.as_str())
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(|(token, expires_at)| (token, from_millis(expires_at))))
            }

            async fn rotation(&self, id: &str) -> Result<Rotation> {
                let row = sqlx::query(&format!("SELECT {ROTATION_COLS} FROM rotations WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| StoreError::not_found(format!("rotation {id:?}")))?;
                rotation_from_row(&row)
            }

            async fn rotations(&self, account: Option<&AccountId>, open_only: bool, limit: i64) -> Result<Vec<Rotation>> {
                // Two texts, so that one account's rotations are read through the account index
                // (`$1 IS NULL OR account_id = $1` is planned once for both and scans).
                let of = if account.is_some() { "account_id = $1" } else { "$1 IS NULL" };
                sqlx::query(&format!(
                    "SELECT {ROTATION_COLS} FROM rotations \
                     WHERE {of} \
                       AND (NOT $2 OR phase NOT IN ('done', 'aborted')) \
                     ORDER BY started_at DESC, id DESC LIMIT $3"
                ))
                .bind(account.map(|a| a.as_str().to_owned()))
                .bind(open_only)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(rotation_from_row)
                .collect()
            }

            async fn due_accounts(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Account>> {
                // An account whose lease a worker holds has its rotation under way: it is not
                // handed out again (the lease is checked again when it is taken).
                let condition = "a.next_due_at IS NOT NULL AND a.next_due_at <= $1 \
                    AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.account_id = a.id AND l.owner <> '' \
                    AND l.expires_at > $1) ORDER BY a.next_due_at";
                accounts_at(&self.pool, &*self.barrier.get()?, condition, now, limit).await
            }

            async fn stale_heartbeats(&self, before: DateTime<Utc>, limit: i64) -> Result<Vec<Account>> {
                let condition =
                    "a.status = 'ok' AND (a.heartbeat_at IS NULL OR a.heartbeat_at < $1) ORDER BY a.heartbeat_at";
                accounts_at(&self.pool, &*self.barrier.get()?, condition, before, limit).await
            }

            async fn append_audit(&self, entry: &AuditEntry) -> Result<AuditRecord> {
                let mut tx = self.begin_write().await?;
                let rec = append_audit_in(&mut tx, &*self.barrier.get()?, entry).await?;
                tx.commit().await?;
                Ok(rec)
            }

            async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>> {
                sqlx::query(&format!("SELECT {AUDIT_COLS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(audit_from_row)
                    .collect()
            }

            async fn audit_head(&self) -> Result<i64> {
                let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_events").fetch_one(&self.pool).await?;
                Ok(seq.unwrap_or(0))
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
