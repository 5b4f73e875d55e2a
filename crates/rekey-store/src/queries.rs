//! The [`Store`] methods of [`SqlStore`], for both backends: the vault header, providers,
//! accounts, secret versions, journal writes (applied by `SqlStore::apply`), leases, rotations
//! and the audit chain. Every mutation commits its audit event with it (`SqlStore::commit`).

use crate::rows::{json_col, to_json, AccountRow, AuditRow, HeaderRow, ProviderRow, RotationRow, SecretRow};
use crate::sql::{
    Backend, SqlStore, ACCOUNT_COLS, ACCOUNT_SELECT, AUDIT_COLS, PROVIDER_COLS, ROTATION_COLS, SECRET_COLS,
};
use crate::{barrier, millis, model::*, Result, Store, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rekey_domain::{AccountId, CredentialKind, ProviderName, SecretState, UserName};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

/// An account read alone: `Tampered` if it failed its check.
fn verified(a: Account) -> Result<Account> {
    match &a.tampered {
        Some(why) => Err(StoreError::Tampered { what: format!("account {:?}", a.id.as_str()), problem: why.clone() }),
        None => Ok(a),
    }
}

/// A lease as stored: its owner, expiry and last renewal (0: never recorded).
type LeaseRow = (String, i64, i64);

#[async_trait]
impl<B: Backend> Store for SqlStore<B>
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
    fn backend(&self) -> &'static str {
        B::NAME
    }

    async fn header(&self) -> Result<Option<VaultHeader>> {
        let row: Option<HeaderRow> = sqlx::query_as(
            "SELECT format, key_source, key_params, wrapped_vault_key, created_at, vault_id, key_check, \
             audit_keyed_from FROM vault_header WHERE id = 1",
        )
        .fetch_optional(&mut *self.read().await?)
        .await?;
        row.map(VaultHeader::try_from).transpose()
    }

    async fn init(&self, h: &VaultHeader, audit: &AuditEntry) -> Result<()> {
        // The first event (this one's) is keyed: the key check names it.
        let b = self.barrier.get()?;
        let mut tx = self.backend.begin_write().await?;
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
        self.commit(tx, audit).await?;
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
        let mut tx = self.backend.begin_write().await?;
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
            Self::insert_secret_in(&mut tx, &*self.barrier.get()?, s).await?;
        }
        self.commit(tx, audit).await?;
        Ok(())
    }

    async fn provider(&self, name: &ProviderName) -> Result<Provider> {
        let row: ProviderRow = sqlx::query_as(&format!("SELECT {PROVIDER_COLS} FROM providers WHERE name = $1"))
            .bind(name.as_str())
            .fetch_optional(&mut *self.read().await?)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("provider {:?}", name.as_str())))?;
        row.verified(&*self.barrier.get()?)
    }

    async fn providers(&self) -> Result<Vec<Provider>> {
        let b = self.barrier.get()?;
        let rows: Vec<ProviderRow> = sqlx::query_as(&format!("SELECT {PROVIDER_COLS} FROM providers ORDER BY name"))
            .fetch_all(&mut *self.read().await?)
            .await?;
        rows.into_iter().map(|r| r.verified(&b)).collect()
    }

    async fn delete_provider(&self, name: &ProviderName, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.backend.begin_write().await?;
        let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE provider = $1")
            .bind(name.as_str())
            .fetch_one(&mut *tx)
            .await?;
        if used > 0 {
            return Err(StoreError::Conflict {
                what: format!("provider {:?} is used by {used} account(s); remove them first", name.as_str()),
            });
        }
        // Compared as parsed names: a LIKE pattern would treat `_` as a wildcard, and SQLite's
        // LIKE ignores case, so a look-alike name would block the delete.
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
                what: format!(
                    "provider {:?} is the source of {}; remove those first",
                    name.as_str(),
                    sources.join(", ")
                ),
            });
        }
        let done = sqlx::query("DELETE FROM providers WHERE name = $1").bind(name.as_str()).execute(&mut *tx).await?;
        Self::changed(&done, || StoreError::not_found(format!("provider {:?}", name.as_str())))?;
        sqlx::query("DELETE FROM secret_versions WHERE record_id = $1")
            .bind(provider_secret_record(name))
            .execute(&mut *tx)
            .await?;
        self.commit(tx, audit).await?;
        Ok(())
    }

    async fn insert_account(&self, a: &Account, secret: Option<&SecretVersion>, audit: &AuditEntry) -> Result<()> {
        let settings = to_json(a.settings.stored());
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
        let mut tx = self.backend.begin_write().await?;
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
            let what = format!("an account for {}/{}/{} already exists", a.provider, a.user_name, a.kind);
            StoreError::from_sqlx(e, &what)
        })?;
        if let Some(s) = secret {
            Self::insert_secret_in(&mut tx, &*self.barrier.get()?, s).await?;
        }
        self.commit(tx, audit).await?;
        Ok(())
    }

    async fn account(&self, id: &AccountId) -> Result<Account> {
        let row: AccountRow = sqlx::query_as(&format!("{ACCOUNT_SELECT} WHERE a.id = $1"))
            .bind(id.as_str())
            .fetch_optional(&mut *self.read().await?)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("account {:?}", id.as_str())))?;
        verified(row.checked(&*self.barrier.get()?)?)
    }

    async fn find_account(&self, provider: &ProviderName, user: &UserName, kind: CredentialKind) -> Result<Account> {
        let sql = format!("{ACCOUNT_SELECT} WHERE a.provider = $1 AND a.user_name = $2 AND a.kind = $3");
        let row: AccountRow = sqlx::query_as(&sql)
            .bind(provider.as_str())
            .bind(user.as_str())
            .bind(kind.as_str())
            .fetch_optional(&mut *self.read().await?)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("account {provider}/{user}/{kind}")))?;
        verified(row.checked(&*self.barrier.get()?)?)
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
        let query = sqlx::query_as::<_, AccountRow>(&sql)
            .bind(f.provider.as_ref().map(|p| p.as_str().to_owned()))
            .bind(folder.clone())
            // A sub-folder prefix compared exactly: LIKE would make `_` a wildcard (both
            // backends) and ignore case (SQLite), so `prod_eu` would list `prod-eu/…`.
            .bind(folder.map(|x| format!("{x}/")));
        // Rows are converted as the driver yields them (SQLite steps on its own thread
        // meanwhile), and none is kept: a listing's memory does not grow with the vault.
        let b = self.barrier.get()?;
        let mut conn = self.read().await?;
        let mut rows = query.fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            each(row.checked(&b)?)?;
        }
        Ok(())
    }

    async fn delete_account(&self, id: &AccountId, fence: Option<&Fence>, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.backend.begin_write().await?;
        if let Some(f) = fence {
            Self::check_fence(&mut tx, f).await?;
        }
        let done = sqlx::query("DELETE FROM accounts WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        Self::changed(&done, || StoreError::not_found(format!("account {:?}", id.as_str())))?;
        sqlx::query("DELETE FROM secret_versions WHERE record_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        // Its lease goes with it; a lease taken on the id again starts above its token (see
        // `acquire_lease`), so a stale holder of this one never matches it.
        sqlx::query(
            "UPDATE lease_token_floor SET floor = (SELECT token FROM leases WHERE account_id = $1) \
             WHERE floor < (SELECT token FROM leases WHERE account_id = $1)",
        )
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM leases WHERE account_id = $1").bind(id.as_str()).execute(&mut *tx).await?;
        self.commit(tx, audit).await?;
        Ok(())
    }

    async fn secret_versions(&self, record_id: &str) -> Result<Vec<SecretVersion>> {
        let b = self.barrier.get()?;
        let sql = format!("SELECT {SECRET_COLS} FROM secret_versions WHERE record_id = $1 ORDER BY version");
        let rows: Vec<SecretRow> = sqlx::query_as(&sql).bind(record_id).fetch_all(&mut *self.read().await?).await?;
        rows.into_iter().map(|r| r.verified(&b)).collect()
    }

    async fn provider_secret_versions(&self, provider: &ProviderName) -> Result<Vec<SecretVersion>> {
        let b = self.barrier.get()?;
        let sql = format!(
            "SELECT {SECRET_COLS} FROM secret_versions \
             WHERE record_id IN (SELECT id FROM accounts WHERE provider = $1) ORDER BY record_id, version"
        );
        let rows: Vec<SecretRow> =
            sqlx::query_as(&sql).bind(provider.as_str()).fetch_all(&mut *self.read().await?).await?;
        rows.into_iter().map(|r| r.verified(&b)).collect()
    }

    async fn secret_in_state(&self, record_id: &str, state: SecretState) -> Result<Option<SecretVersion>> {
        let b = self.barrier.get()?;
        let sql = format!(
            "SELECT {SECRET_COLS} FROM secret_versions WHERE record_id = $1 AND state = $2 ORDER BY version DESC LIMIT 1"
        );
        let row: Option<SecretRow> =
            sqlx::query_as(&sql).bind(record_id).bind(state.as_str()).fetch_optional(&mut *self.read().await?).await?;
        row.map(|r| r.verified(&b)).transpose()
    }

    async fn write(&self, w: &JournalWrite) -> Result<()> {
        self.apply(w).await
    }

    async fn acquire_lease(
        &self,
        account: &AccountId,
        owner: &str,
        ttl_ms: i64,
        steal_from: Option<&str>,
    ) -> Result<LeaseOutcome> {
        // The row is read first, locked for the rest of the transaction (SQLite holds the write
        // lock from `BEGIN IMMEDIATE`), so what it says about the previous holder is what the
        // update below replaces. A row locked by another transaction (a journal write under
        // way, or a node frozen inside one) is not waited for: its stored owner holds it.
        let mut tx = self.backend.begin_write().await?;
        let sql = format!("SELECT owner, expires_at, renewed_at FROM leases WHERE account_id = $1{}", B::LOCK_NOWAIT);
        let locked: sqlx::Result<Option<LeaseRow>> =
            sqlx::query_as(&sql).bind(account.as_str()).fetch_optional(&mut *tx).await;
        let prior = match locked {
            Err(sqlx::Error::Database(db))
                if !B::LOCK_NOT_AVAILABLE.is_empty() && db.code().as_deref() == Some(B::LOCK_NOT_AVAILABLE) =>
            {
                // Rolled back before the read: a dropped transaction is rolled back later, on
                // its own, and until then still holds what it locked.
                tx.rollback().await?;
                return self.lease_held(account).await;
            }
            other => other?,
        };
        // One statement takes the lease when it is free (never held, released, held by this
        // owner, expired, or being stolen from `steal_from`), atomically in both databases: the
        // conflicting row is locked and the condition evaluated on it. Expiry is the database's
        // time: a node whose clock runs ahead cannot find a live holder's lease expired.
        let now = B::NOW_MS;
        let taken: Option<(i64, i64)> = sqlx::query_as(&format!(
            "INSERT INTO leases (account_id, owner, token, expires_at, renewed_at) \
             VALUES ($1, $2, (SELECT floor FROM lease_token_floor) + 1, {now} + $3, {now}) \
             ON CONFLICT (account_id) DO UPDATE SET owner = excluded.owner, token = leases.token + 1, \
             expires_at = excluded.expires_at, renewed_at = excluded.renewed_at \
             WHERE leases.owner = '' OR leases.owner = $2 OR leases.expires_at <= {now} OR leases.owner = $4 \
             RETURNING token, renewed_at"
        ))
        .bind(account.as_str())
        .bind(owner)
        .bind(ttl_ms)
        .bind(steal_from)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((token, at)) = taken else {
            // Explicitly, so the row lock is gone before the caller tries again (a dropped
            // transaction is rolled back later, on its own).
            tx.rollback().await?;
            return match prior {
                Some((owner, expires_at, _)) => {
                    Ok(LeaseOutcome::Held { owner, expires_at: crate::from_millis(expires_at) })
                }
                // Inserted by another transaction since the read: read its holder.
                None => self.lease_held(account).await,
            };
        };
        tx.commit().await?;
        let fence = Fence { account_id: account.clone(), token };
        Ok(match prior {
            Some((from, _, renewed)) if !from.is_empty() && from != owner => {
                let last_renewed = (renewed > 0).then(|| crate::from_millis(renewed));
                LeaseOutcome::TakenOver { fence, from, last_renewed, at: crate::from_millis(at) }
            }
            _ => LeaseOutcome::Acquired(fence),
        })
    }

    async fn renew_lease(&self, fence: &Fence, ttl_ms: i64) -> Result<bool> {
        let now = B::NOW_MS;
        let done = sqlx::query(&format!(
            "UPDATE leases SET expires_at = {now} + $3, renewed_at = {now} WHERE account_id = $1 AND token = $2"
        ))
        .bind(fence.account_id.as_str())
        .bind(fence.token)
        .bind(ttl_ms)
        .execute(&mut *self.read().await?)
        .await?;
        Ok(B::rows_affected(&done) == 1)
    }

    async fn release_lease(&self, fence: &Fence) -> Result<()> {
        sqlx::query("UPDATE leases SET owner = '', expires_at = 0 WHERE account_id = $1 AND token = $2")
            .bind(fence.account_id.as_str())
            .bind(fence.token)
            .execute(&mut *self.read().await?)
            .await?;
        Ok(())
    }

    async fn lease_state(&self, account: &AccountId) -> Result<Option<LeaseState>> {
        let row: Option<(i64, i64, i64)> = sqlx::query_as(&format!(
            "SELECT token, expires_at, expires_at - {} FROM leases WHERE account_id = $1 AND owner <> ''",
            B::NOW_MS
        ))
        .bind(account.as_str())
        .fetch_optional(&mut *self.read().await?)
        .await?;
        Ok(row.map(|(token, expires_at, left_ms)| LeaseState {
            token,
            expires_at: crate::from_millis(expires_at),
            left_ms,
        }))
    }

    async fn lease_record(&self, account: &AccountId) -> Result<Option<LeaseRecord>> {
        let row: Option<(String, i64, i64, i64)> = sqlx::query_as(&format!(
            "SELECT owner, token, expires_at, expires_at - {} FROM leases WHERE account_id = $1",
            B::NOW_MS
        ))
        .bind(account.as_str())
        .fetch_optional(&mut *self.read().await?)
        .await?;
        Ok(row.map(|(owner, token, expires_at, left_ms)| LeaseRecord {
            owner,
            token,
            expires_at: crate::from_millis(expires_at),
            left_ms,
        }))
    }

    async fn rotation(&self, id: &str) -> Result<Rotation> {
        let row: RotationRow = sqlx::query_as(&format!("SELECT {ROTATION_COLS} FROM rotations WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.read().await?)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("rotation {id:?}")))?;
        row.try_into()
    }

    async fn rotations(&self, account: Option<&AccountId>, open_only: bool, limit: i64) -> Result<Vec<Rotation>> {
        // Two texts, so that one account's rotations are read through the account index
        // (`$1 IS NULL OR account_id = $1` is planned once for both and scans).
        let of = if account.is_some() { "account_id = $1" } else { "$1 IS NULL" };
        let sql = format!(
            "SELECT {ROTATION_COLS} FROM rotations \
             WHERE {of} \
               AND (NOT $2 OR phase NOT IN ('done', 'aborted')) \
             ORDER BY started_at DESC, id DESC LIMIT $3"
        );
        let rows: Vec<RotationRow> = sqlx::query_as(&sql)
            .bind(account.map(|a| a.as_str().to_owned()))
            .bind(open_only)
            .bind(limit)
            .fetch_all(&mut *self.read().await?)
            .await?;
        rows.into_iter().map(Rotation::try_from).collect()
    }

    async fn due_accounts(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Account>> {
        // An account whose lease a worker holds has its rotation under way: it is not handed
        // out again (the lease is checked again when it is taken).
        // Due by the caller's clock (the schedule's), held by the database's (the lease's).
        let condition = format!(
            "a.next_due_at IS NOT NULL AND a.next_due_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.account_id = a.id AND l.owner <> '' \
             AND l.expires_at > {}) ORDER BY a.next_due_at",
            B::NOW_MS
        );
        self.accounts_at(&condition, now, limit).await
    }

    async fn stale_heartbeats(&self, before: DateTime<Utc>, limit: i64) -> Result<Vec<Account>> {
        let condition = "a.status = 'ok' AND (a.heartbeat_at IS NULL OR a.heartbeat_at < $1) ORDER BY a.heartbeat_at";
        self.accounts_at(condition, before, limit).await
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<AuditRecord> {
        let tx = self.backend.begin_write().await?;
        self.commit(tx, entry).await
    }

    async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>> {
        let sql = format!("SELECT {AUDIT_COLS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows: Vec<AuditRow> =
            sqlx::query_as(&sql).bind(after).bind(limit).fetch_all(&mut *self.read().await?).await?;
        rows.into_iter().map(AuditRecord::try_from).collect()
    }

    async fn audit_head(&self) -> Result<i64> {
        let seq: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM audit_events").fetch_one(&mut *self.read().await?).await?;
        Ok(seq.unwrap_or(0))
    }

    async fn audit_events(&self, since: Option<DateTime<Utc>>, limit: i64) -> Result<Vec<AuditRecord>> {
        let sql = format!("SELECT {AUDIT_COLS} FROM audit_events WHERE at >= $1 ORDER BY seq LIMIT $2");
        let rows: Vec<AuditRow> = sqlx::query_as(&sql)
            .bind(since.map_or(i64::MIN, millis))
            .bind(limit)
            .fetch_all(&mut *self.read().await?)
            .await?;
        rows.into_iter().map(AuditRecord::try_from).collect()
    }
}
