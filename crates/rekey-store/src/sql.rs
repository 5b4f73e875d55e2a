//! The store both backends share: [`SqlStore`], generic over a [`Backend`] that supplies what
//! differs per dialect (how a write transaction starts, how appends to the audit chain are
//! serialised, how a row is locked for the rest of a transaction). SQL text uses `$N`
//! placeholders, which SQLite and PostgreSQL both accept.
//!
//! The generic code needs a few things of a database's sqlx types: that a connection executes
//! queries, that its arguments are built the usual way, and that the column types used here
//! (`i64`, text, `bool`, bytes) encode and decode. Rust does not carry a trait's `where`
//! clauses to the places that use the trait, so each generic `impl` block of this crate
//! states them once, in the same words (SQLite and PostgreSQL meet them all).
//!
//! Every write is `begin_write` → its statements (`changed` checks that one touched a row) →
//! `commit`, which appends the write's audit event to the chain and commits, so a change and
//! its audit record are durable together or not at all. The journal write's checks (fence,
//! current version, due period) and its parts live here too; the `Store` methods are in
//! `queries.rs`.

use crate::barrier::{Barrier, Slot};
use crate::chain::{keyed_event_hash, GENESIS};
use crate::gather::Gathered;
use crate::listing::AccountItem;
use crate::rows::{to_json, ProviderRow, SignedAccountRow};
use crate::settings::AccountSettings;
use crate::{barrier, from_millis, millis, model::*, Result, StoreError};
use chrono::{DateTime, Utc};
use rekey_domain::{AccountId, ProviderName, SecretState};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, QueryBuilder, Transaction, Type};
use std::{future::Future, ops::DerefMut};

/// What differs between the SQL dialects: implemented by `SqliteBackend` and `PgBackend`.
pub(crate) trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// The sqlx database.
    type Db: Database;
    /// The backend's name, `sqlite` or `postgres`.
    const NAME: &'static str;
    /// Row-lock suffix for reads that precede a write in the same transaction.
    const FOR_UPDATE: &'static str;
    /// Row-lock suffix that fails at once instead of waiting for another transaction's lock
    /// (empty where the backend has no row locks and takes its write lock at `BEGIN`).
    const LOCK_NOWAIT: &'static str;
    /// The error code of a `LOCK_NOWAIT` read that found the row locked (empty: never).
    const LOCK_NOT_AVAILABLE: &'static str;
    /// A set of text values given as one JSON array parameter: the text before the parameter
    /// and after it (`x IN (<before>$1<after>)`), so one prepared statement serves any number.
    const JSON_TEXT_SET: (&'static str, &'static str);
    /// The database's clock, in milliseconds since the epoch, as an SQL expression: leases are
    /// judged by it, so that nodes whose clocks disagree agree on when a lease expires.
    const NOW_MS: &'static str;

    /// A connection of this process's own, held for reads (and the few single-statement writes
    /// that need no transaction) until the guard is dropped.
    type Reader<'a>: DerefMut<Target = <Self::Db as Database>::Connection> + Send
    where
        Self: 'a;

    /// Waits for a [`Backend::Reader`] to be free.
    fn reader(&self) -> impl Future<Output = Result<Self::Reader<'_>>> + Send;
    /// Starts a write transaction (refused before it starts if this process may not write).
    fn begin_write(&self) -> impl Future<Output = Result<Tx<Self>>> + Send;
    /// Serialises appends to the audit chain until `tx` ends.
    fn lock_audit(tx: &mut Tx<Self>) -> impl Future<Output = Result<()>> + Send;
    /// How many rows a statement changed (sqlx has no trait method for it).
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;
    /// The rows of a statement assembled with a `QueryBuilder` (the listings). Only the
    /// concrete database type shows that the builder's arguments, which borrow nothing, serve
    /// a query that borrows the builder, so generic code cannot run it itself.
    fn fetch_built<'a>(
        conn: &'a mut <Self::Db as Database>::Connection,
        qb: &'a mut QueryBuilder<'static, Self::Db>,
    ) -> impl Future<Output = Result<Vec<<Self::Db as Database>::Row>>> + Send + 'a;
}

/// A write transaction of backend `B`.
pub(crate) type Tx<B> = Transaction<'static, <B as Backend>::Db>;

/// A vault in a SQL database: the barrier once the vault is unlocked, and the backend's own
/// state (its connections, SQLite's read-only reason).
#[derive(Debug)]
pub(crate) struct SqlStore<B: Backend> {
    /// The MAC keys, once the vault is unlocked.
    pub(crate) barrier: Slot,
    pub(crate) backend: B,
    /// Reads of one account's list item waiting to be answered together (`listing_sql`).
    pub(crate) items: Gathered<AccountId, DateTime<Utc>, Result<Option<AccountItem>>>,
}

pub(crate) const ROTATION_COLS: &str = "id, account_id, kind, phase, old_key_id, new_key_id, old_version, \
    new_version, data, error, started_at, updated_at, finished_at";
pub(crate) const PROVIDER_COLS: &str = "name, region, endpoint_url, auth, mfa_serial, created_at, updated_at, mac";
pub(crate) const ACCOUNT_COLS: &str =
    "id, provider, user_name, user_id, arn, kind, folder, title, status, settings, created_at, updated_at, mac";
/// Account columns plus the current secret version's number and key id, in one query.
pub(crate) const ACCOUNT_SELECT: &str = "SELECT a.id, a.provider, a.user_name, a.user_id, a.arn, a.kind, \
    a.folder, a.title, a.status, a.settings, a.created_at, a.updated_at, s.version AS current_version, \
    s.key_id AS current_key_id, s.origin AS current_origin, s.mac AS current_mac, a.mac, a.last_rotated_at, \
    a.next_due_at, a.heartbeat_at, a.heartbeat_status, a.heartbeat_detail FROM accounts a \
    LEFT JOIN secret_versions s ON s.record_id = a.id AND s.state = 'current'";
pub(crate) const SECRET_COLS: &str =
    "record_id, version, state, key_id, origin, wrapped_key, ciphertext, created_at, mac";
pub(crate) const AUDIT_COLS: &str = "seq, at, actor, action, target, outcome, detail, prev_hash, hash";
/// The columns of an account its MAC covers, and the MAC.
pub(crate) const ACCOUNT_SIGNED: &str = "id, provider, user_name, user_id, arn, kind, folder, settings, mac";

impl<B: Backend> SqlStore<B> {
    /// A store over `backend`, sealed until the barrier is installed.
    pub(crate) fn new(backend: B) -> Self {
        Self { barrier: Slot::default(), backend, items: Gathered::default() }
    }

    /// A connection to read through, once one is free.
    pub(crate) async fn read(&self) -> Result<B::Reader<'_>> {
        self.backend.reader().await
    }

    /// `Ok` if the statement that answered `done` changed a row, `missing()` otherwise.
    pub(crate) fn changed(done: &<B::Db as Database>::QueryResult, missing: impl FnOnce() -> StoreError) -> Result<()> {
        if B::rows_affected(done) == 0 {
            return Err(missing());
        }
        Ok(())
    }
}

impl<B: Backend> SqlStore<B>
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
    /// Appends `audit` to the chain inside `tx` and commits: the write's change and its audit
    /// record become durable together.
    pub(crate) async fn commit(&self, mut tx: Tx<B>, audit: &AuditEntry) -> Result<AuditRecord> {
        let record = Self::append_audit_in(&mut tx, &*self.barrier.get()?, audit).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Appends `e` to the audit chain inside `tx`, linked to the newest event under the
    /// barrier's audit key; the record as stored (its time truncated to milliseconds).
    pub(crate) async fn append_audit_in(tx: &mut Tx<B>, b: &Barrier, e: &AuditEntry) -> Result<AuditRecord> {
        B::lock_audit(tx).await?;
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await?;
        let (seq, prev_hash) = match last {
            Some((seq, hash)) => (seq + 1, hash),
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

    /// Accounts matching `condition` (which compares a time column with `$1` and orders), at
    /// most `limit` (`$2`).
    pub(crate) async fn accounts_at(&self, condition: &str, at: DateTime<Utc>, limit: i64) -> Result<Vec<Account>> {
        let b = self.barrier.get()?;
        let rows: Vec<crate::rows::AccountRow> =
            sqlx::query_as(&format!("{ACCOUNT_SELECT} WHERE {condition} LIMIT $2"))
                .bind(millis(at))
                .bind(limit)
                .fetch_all(&mut *self.read().await?)
                .await?;
        rows.into_iter().map(|r| r.checked(&b)).collect()
    }

    /// The holder of a lease another transaction holds (read outside any transaction).
    pub(crate) async fn lease_held(&self, account: &AccountId) -> Result<LeaseOutcome> {
        let (owner, expires_at): (String, i64) =
            sqlx::query_as("SELECT owner, expires_at FROM leases WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_one(&mut *self.read().await?)
                .await?;
        Ok(LeaseOutcome::Held { owner, expires_at: from_millis(expires_at) })
    }

    /// Applies a journal write in one transaction: its checks first (fence, current version,
    /// due period), then the rotation, secret versions, account and provider changes and the
    /// audit events. Nothing is written if any part fails.
    pub(crate) async fn apply(&self, w: &JournalWrite) -> Result<()> {
        let b = self.barrier.get()?;
        let mut tx = self.backend.begin_write().await?;
        if let Some(f) = &w.fence {
            Self::check_fence(&mut tx, f).await?;
        }
        if let Some(u) = &w.unleased {
            Self::check_unleased(&mut tx, u).await?;
        }
        if let Some(account) = &w.claim_due {
            Self::check_due(&mut tx, account, w.at).await?;
        }
        if let Some((record, expected)) = &w.expect_current {
            Self::check_current(&mut tx, record, *expected).await?;
        }
        if let Some(r) = &w.rotation {
            Self::upsert_rotation(&mut tx, r).await?;
        }
        // At most one `current` version per record (a unique index): versions leave `current`
        // before new ones are inserted or others become current.
        let (promote, demote): (Vec<_>, Vec<_>) =
            w.secret_states.iter().partition(|(_, _, state)| *state == SecretState::Current);
        for (record, version, state) in demote {
            Self::set_state(&mut tx, &b, record, *version, *state).await?;
        }
        for v in &w.new_secrets {
            Self::insert_secret_in(&mut tx, &b, v).await?;
        }
        for (record, version, state) in promote {
            Self::set_state(&mut tx, &b, record, *version, *state).await?;
        }
        if let Some((id, patch)) = &w.account {
            Self::patch_account(&mut tx, &b, id, patch, w.at).await?;
        }
        if let Some((name, auth)) = &w.provider_auth {
            Self::set_provider_auth(&mut tx, &b, name, auth, w.at).await?;
        }
        for a in &w.audit {
            Self::append_audit_in(&mut tx, &b, a).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Fails with `Fenced` unless `fence` is still the account's lease token. The lease row is
    /// locked for the rest of the transaction, so a takeover waits for this write.
    pub(crate) async fn check_fence(tx: &mut Tx<B>, fence: &Fence) -> Result<()> {
        let token: Option<i64> =
            sqlx::query_scalar(&format!("SELECT token FROM leases WHERE account_id = $1{}", B::FOR_UPDATE))
                .bind(fence.account_id.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        if token != Some(fence.token) {
            return Err(StoreError::Fenced { account: fence.account_id.to_string() });
        }
        Ok(())
    }

    /// Fails with `Fenced` if `u`'s account's lease was taken since `u.token` was read, or is
    /// held now by the database's clock. The account's row is locked first, so a rotation whose lease is taken
    /// after the lease is read here writes the account only after this write. The lease row
    /// is read without a lock: a worker taking the lease never waits for a lock on it.
    async fn check_unleased(tx: &mut Tx<B>, u: &Unleased) -> Result<()> {
        let id = u.account_id.as_str();
        let found: Option<String> =
            sqlx::query_scalar(&format!("SELECT id FROM accounts WHERE id = $1{}", B::FOR_UPDATE))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?;
        if found.is_none() {
            return Err(StoreError::not_found(format!("account {id:?}")));
        }
        // Expiry by the database's clock, as the lease is taken and renewed by it.
        let lease: Option<(String, i64, i64)> = sqlx::query_as(&format!(
            "SELECT owner, token, expires_at - {} FROM leases WHERE account_id = $1",
            B::NOW_MS
        ))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
        let quiet = match lease {
            None => u.token == 0,
            Some((owner, token, left_ms)) => token == u.token && (owner.is_empty() || left_ms <= 0),
        };
        if !quiet {
            return Err(StoreError::Fenced { account: id.to_owned() });
        }
        Ok(())
    }

    /// Fails with `Conflict` unless `record`'s current version is `expected`.
    async fn check_current(tx: &mut Tx<B>, record: &str, expected: Option<i64>) -> Result<()> {
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
    async fn check_due(tx: &mut Tx<B>, account: &AccountId, at: DateTime<Utc>) -> Result<()> {
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

    /// Inserts or updates a rotation; a finished one is never written again.
    async fn upsert_rotation(tx: &mut Tx<B>, r: &Rotation) -> Result<()> {
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
        Self::changed(&done, || StoreError::Conflict { what: format!("rotation {} has already finished", r.id) })
    }

    /// Applies `p` to account `id`, re-signing the row when its authenticated columns change.
    async fn patch_account(
        tx: &mut Tx<B>,
        b: &Barrier,
        id: &AccountId,
        p: &AccountPatch,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mac =
            if p.settings.is_some() || p.folder.is_some() { Self::resign_account(tx, b, id, p).await? } else { None };
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
        .bind(p.settings.as_ref().map(AccountSettings::text_of))
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
        Self::changed(&done, || StoreError::not_found(format!("account {:?}", id.as_str())))
    }

    /// The MAC of account `id` with `p`'s settings and folder, after verifying the row as
    /// stored (a write never launders an altered row); `None` if there is no such account.
    async fn resign_account(tx: &mut Tx<B>, b: &Barrier, id: &AccountId, p: &AccountPatch) -> Result<Option<String>> {
        let sql = format!("SELECT {ACCOUNT_SIGNED} FROM accounts WHERE id = $1{}", B::FOR_UPDATE);
        let Some(r): Option<SignedAccountRow> =
            sqlx::query_as(&sql).bind(id.as_str()).fetch_optional(&mut **tx).await?
        else {
            return Ok(None);
        };
        let what = || format!("account {:?}", id.as_str());
        b.verify(&r.parts(r.folder.as_deref(), &r.settings), r.mac.as_deref(), what)?;
        let folder = match &p.folder {
            Some(f) => f.as_ref().map(|f| f.as_str().to_owned()),
            None => r.folder.clone(),
        };
        let settings = p.settings.as_ref().map_or_else(|| r.settings.clone(), AccountSettings::text_of);
        Ok(Some(b.sign(&r.parts(folder.as_deref(), &settings))))
    }

    /// Replaces provider `name`'s auth (a self-rotation switches its key id), re-signed after
    /// verifying the row as stored.
    async fn set_provider_auth(
        tx: &mut Tx<B>,
        b: &Barrier,
        name: &ProviderName,
        auth: &ProviderAuth,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let sql = format!("SELECT {PROVIDER_COLS} FROM providers WHERE name = $1{}", B::FOR_UPDATE);
        let stored: ProviderRow = sqlx::query_as(&sql)
            .bind(name.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("provider {:?}", name.as_str())))?;
        stored.verify(b)?;
        let auth = to_json(auth);
        let mac = b.sign(&stored.parts(&auth));
        sqlx::query("UPDATE providers SET auth = $2, updated_at = $3, mac = $4 WHERE name = $1")
            .bind(name.as_str())
            .bind(auth)
            .bind(millis(at))
            .bind(mac)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Moves a version to `state`, after verifying the row as it stands (a re-signed row must
    /// have been authentic), and signs it anew. A version that does not exist is left alone.
    async fn set_state(tx: &mut Tx<B>, b: &Barrier, record: &str, version: i64, state: SecretState) -> Result<()> {
        let sql = format!(
            "SELECT state, key_id, origin, mac FROM secret_versions WHERE record_id = $1 AND version = $2{}",
            B::FOR_UPDATE
        );
        let row: Option<(String, Option<String>, String, Option<String>)> =
            sqlx::query_as(&sql).bind(record).bind(version).fetch_optional(&mut **tx).await?;
        let Some((stored, key_id, origin, mac)) = row else { return Ok(()) };
        let old = barrier::secret_row(record, version, &stored, key_id.as_deref(), &origin);
        b.verify(&old, mac.as_deref(), || format!("secret version {version} of {record}"))?;
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

    /// Inserts a sealed secret version, signed.
    pub(crate) async fn insert_secret_in(tx: &mut Tx<B>, b: &Barrier, s: &SecretVersion) -> Result<()> {
        let row =
            barrier::secret_row(&s.record_id, s.version, s.state.as_str(), s.key_id.as_deref(), s.origin.as_str());
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
                let what =
                    format!("secret {} version {} exists, or the record has a current version", s.record_id, s.version);
                StoreError::from_sqlx(e, &what)
            })?;
        Ok(())
    }

    /// Writes the MAC of each row (`update` binds the MAC, then the row's keys); how many.
    pub(crate) async fn sign_rows(
        tx: &mut Tx<B>,
        b: &Barrier,
        update: &str,
        rows: Vec<(barrier::RowParts, Vec<String>)>,
    ) -> Result<u64> {
        let n = rows.len() as u64;
        for (row, keys) in rows {
            let mut q = sqlx::query(update).bind(b.sign(&row));
            for k in keys {
                q = q.bind(k);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(n)
    }
}
