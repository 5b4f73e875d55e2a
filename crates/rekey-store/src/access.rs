//! What the server adds to the vault: API tokens (only their hashes), password check-outs and
//! the cursors of audit exporters. [`AccessStore`] is a supertrait of [`crate::Store`], so an
//! `Arc<dyn Store>` reaches these too; `SqlStore` (`sql.rs`) implements it for both backends.

use crate::barrier::{self, Barrier, RowParts};
use crate::rows::{json_col, parse_col, to_json};
use crate::sql::{Backend, SqlStore};
use crate::{
    from_millis, millis,
    model::{AuditEntry, Fence},
    Result, StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rekey_domain::{AccountId, Folder, Role};
use serde::Serialize;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};

/// An API token as stored: never the token itself, only a SHA-256 of its secret part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    /// Public id, the `ID` in `rk_ID_SECRET`.
    pub id: String,
    /// A label for people.
    pub name: String,
    /// What its holder may do.
    pub role: Role,
    /// The folders it may act in (with their sub-folders); empty means every folder.
    pub folders: Vec<Folder>,
    /// Hex SHA-256 of the secret part.
    #[serde(skip)]
    pub hash: String,
    /// When it was made.
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked, if it was.
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One check-out of an account's password: exclusive while open; it ends at check-in or, once
/// expired, when the scheduler rotates the password the holder saw.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkout {
    /// Its id.
    pub id: String,
    /// The account checked out.
    pub account_id: AccountId,
    /// Who holds it (`token:ID`).
    pub holder: String,
    /// When it began.
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub started_at: DateTime<Utc>,
    /// When it lapses.
    #[serde(serialize_with = "rekey_domain::timestamp::serialize")]
    pub expires_at: DateTime<Utc>,
    /// When it ended, if it has.
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub ended_at: Option<DateTime<Utc>>,
    /// `checked-in` or `expired`.
    pub end_reason: Option<String>,
}

/// Tokens, check-outs and export cursors.
#[async_trait]
pub trait AccessStore: Send + Sync {
    /// Stores a new token.
    async fn insert_token(&self, t: &ApiToken, audit: &AuditEntry) -> Result<()>;
    /// One token by id.
    async fn token(&self, id: &str) -> Result<ApiToken>;
    /// Every token, newest first.
    async fn tokens(&self) -> Result<Vec<ApiToken>>;
    /// Revokes a token; `Conflict` if it already was.
    async fn revoke_token(&self, id: &str, at: DateTime<Utc>, audit: &AuditEntry) -> Result<()>;

    /// Opens a check-out; `Conflict` while another one on the account is open.
    async fn open_checkout(&self, c: &Checkout, audit: &AuditEntry) -> Result<()>;
    /// The account's open check-out, if any.
    async fn open_checkout_of(&self, account: &AccountId) -> Result<Option<Checkout>>;
    /// Marks an open check-out returned: it lapses at `at` (the scheduler then rotates).
    async fn return_checkout(&self, id: &str, at: DateTime<Utc>, audit: &AuditEntry) -> Result<()>;
    /// Ends an open check-out; `Conflict` if it had already ended. With `fence` (the lease of
    /// the check-out's account), only while the writer still holds it (`Fenced` otherwise).
    async fn end_checkout(
        &self,
        id: &str,
        at: DateTime<Utc>,
        reason: &str,
        fence: Option<&Fence>,
        audit: &AuditEntry,
    ) -> Result<()>;
    /// Open check-outs whose expiry is at or before `now`, oldest first.
    async fn expired_checkouts(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Checkout>>;

    /// The last audit sequence number an exporter shipped (0 before the first).
    async fn export_cursor(&self, name: &str) -> Result<i64>;
    /// Records how far an exporter got.
    async fn set_export_cursor(&self, name: &str, seq: i64) -> Result<()>;
}

const TOKEN_COLS: &str = "id, name, role, folders, hash, created_at, expires_at, revoked_at, mac";
const CHECKOUT_COLS: &str = "id, account_id, holder, started_at, expires_at, ended_at, end_reason";

/// The columns of `api_tokens`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub folders: String,
    pub hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub mac: Option<String>,
}

impl TokenRow {
    /// The row's authenticated columns, with `revoked_at` as given.
    pub(crate) fn parts(&self, revoked_at: Option<i64>) -> RowParts {
        barrier::token_row(
            &self.id,
            &self.name,
            &self.role,
            &self.folders,
            &self.hash,
            self.created_at,
            self.expires_at,
            revoked_at,
        )
    }

    /// The token, after checking the row's MAC (`Tampered` if it fails).
    fn verified(self, b: &Barrier) -> Result<ApiToken> {
        b.verify(&self.parts(self.revoked_at), self.mac.as_deref(), || format!("API token {:?}", self.id))?;
        self.try_into()
    }
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;

    fn try_from(r: TokenRow) -> Result<Self> {
        Ok(ApiToken {
            folders: json_col(&r.folders, "api_tokens.folders")?,
            id: r.id,
            name: r.name,
            role: parse_col(&r.role, "api_tokens.role")?,
            hash: r.hash,
            created_at: from_millis(r.created_at),
            expires_at: r.expires_at.map(from_millis),
            revoked_at: r.revoked_at.map(from_millis),
        })
    }
}

/// The columns of `checkouts`.
#[derive(Debug, sqlx::FromRow)]
struct CheckoutRow {
    id: String,
    account_id: String,
    holder: String,
    started_at: i64,
    expires_at: i64,
    ended_at: Option<i64>,
    end_reason: Option<String>,
}

impl TryFrom<CheckoutRow> for Checkout {
    type Error = StoreError;

    fn try_from(r: CheckoutRow) -> Result<Self> {
        Ok(Checkout {
            id: r.id,
            account_id: parse_col(&r.account_id, "checkouts.account_id")?,
            holder: r.holder,
            started_at: from_millis(r.started_at),
            expires_at: from_millis(r.expires_at),
            ended_at: r.ended_at.map(from_millis),
            end_reason: r.end_reason,
        })
    }
}

#[async_trait]
impl<B: Backend> AccessStore for SqlStore<B>
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
    async fn insert_token(&self, t: &ApiToken, audit: &AuditEntry) -> Result<()> {
        let folders = to_json(&t.folders);
        let row = barrier::token_row(
            &t.id,
            &t.name,
            t.role.as_str(),
            &folders,
            &t.hash,
            millis(t.created_at),
            t.expires_at.map(millis),
            t.revoked_at.map(millis),
        );
        let mac = self.barrier.get()?.sign(&row);
        let mut tx = self.backend.begin_write().await?;
        sqlx::query(&format!("INSERT INTO api_tokens ({TOKEN_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"))
            .bind(&t.id)
            .bind(&t.name)
            .bind(t.role.as_str())
            .bind(folders)
            .bind(&t.hash)
            .bind(millis(t.created_at))
            .bind(t.expires_at.map(millis))
            .bind(t.revoked_at.map(millis))
            .bind(mac)
            .execute(&mut *tx)
            .await?;
        self.commit(tx, audit).await?;
        Ok(())
    }

    async fn token(&self, id: &str) -> Result<ApiToken> {
        let b = self.barrier.get()?;
        let row: Option<TokenRow> = sqlx::query_as(&format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.read().await?)
            .await?;
        row.map(|r| r.verified(&b)).transpose()?.ok_or_else(|| StoreError::not_found(format!("token {id:?}")))
    }

    async fn tokens(&self) -> Result<Vec<ApiToken>> {
        let b = self.barrier.get()?;
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_at DESC, id");
        let rows: Vec<TokenRow> = sqlx::query_as(&sql).fetch_all(&mut *self.read().await?).await?;
        rows.into_iter().map(|r| r.verified(&b)).collect()
    }

    async fn revoke_token(&self, id: &str, at: DateTime<Utc>, audit: &AuditEntry) -> Result<()> {
        let b = self.barrier.get()?;
        let mut tx = self.backend.begin_write().await?;
        // Verified as stored, then signed with the revocation.
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = $1 AND revoked_at IS NULL{}", B::FOR_UPDATE);
        let stored: Option<TokenRow> = sqlx::query_as(&sql).bind(id).fetch_optional(&mut *tx).await?;
        let mac = match &stored {
            Some(r) => {
                r.clone().verified(&b)?;
                Some(b.sign(&r.parts(Some(millis(at)))))
            }
            None => None,
        };
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1, mac = $3 WHERE id = $2 AND revoked_at IS NULL")
            .bind(millis(at))
            .bind(id)
            .bind(mac)
            .execute(&mut *tx)
            .await?;
        if B::rows_affected(&done) == 0 {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM api_tokens WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
            return Err(match exists {
                Some(_) => StoreError::Conflict { what: format!("token {id:?} is already revoked") },
                None => StoreError::not_found(format!("token {id:?}")),
            });
        }
        self.commit(tx, audit).await?;
        Ok(())
    }

    async fn open_checkout(&self, c: &Checkout, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.backend.begin_write().await?;
        let held: Option<String> =
            sqlx::query_scalar("SELECT holder FROM checkouts WHERE account_id = $1 AND ended_at IS NULL")
                .bind(c.account_id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(holder) = held {
            return Err(StoreError::Conflict { what: format!("account {} is checked out by {holder}", c.account_id) });
        }
        sqlx::query(&format!("INSERT INTO checkouts ({CHECKOUT_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7)"))
            .bind(&c.id)
            .bind(c.account_id.as_str())
            .bind(&c.holder)
            .bind(millis(c.started_at))
            .bind(millis(c.expires_at))
            .bind(c.ended_at.map(millis))
            .bind(&c.end_reason)
            .execute(&mut *tx)
            .await
            .map_err(|e| match e.as_database_error() {
                // A concurrent check-out won the unique index.
                Some(d) if d.is_unique_violation() => {
                    StoreError::Conflict { what: format!("account {} is already checked out", c.account_id) }
                }
                _ => StoreError::from(e),
            })?;
        self.commit(tx, audit).await?;
        Ok(())
    }

    async fn open_checkout_of(&self, account: &AccountId) -> Result<Option<Checkout>> {
        let sql = format!("SELECT {CHECKOUT_COLS} FROM checkouts WHERE account_id = $1 AND ended_at IS NULL");
        let row: Option<CheckoutRow> =
            sqlx::query_as(&sql).bind(account.as_str()).fetch_optional(&mut *self.read().await?).await?;
        row.map(Checkout::try_from).transpose()
    }

    async fn return_checkout(&self, id: &str, at: DateTime<Utc>, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.backend.begin_write().await?;
        let done = sqlx::query(
            "UPDATE checkouts SET expires_at = CASE WHEN expires_at < $1 THEN expires_at ELSE $1 END, \
             end_reason = 'checked-in' WHERE id = $2 AND ended_at IS NULL",
        )
        .bind(millis(at))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        Self::changed(&done, || StoreError::Conflict { what: format!("check-out {id} has already ended") })?;
        self.commit(tx, audit).await?;
        Ok(())
    }

    async fn end_checkout(
        &self,
        id: &str,
        at: DateTime<Utc>,
        reason: &str,
        fence: Option<&Fence>,
        audit: &AuditEntry,
    ) -> Result<()> {
        let mut tx = self.backend.begin_write().await?;
        if let Some(f) = fence {
            Self::check_fence(&mut tx, f).await?;
        }
        let done = sqlx::query(
            "UPDATE checkouts SET ended_at = $1, end_reason = COALESCE(end_reason, $2) \
             WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(millis(at))
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        Self::changed(&done, || StoreError::Conflict { what: format!("check-out {id} has already ended") })?;
        self.commit(tx, audit).await?;
        Ok(())
    }

    async fn expired_checkouts(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Checkout>> {
        let sql = format!(
            "SELECT {CHECKOUT_COLS} FROM checkouts WHERE ended_at IS NULL AND expires_at <= $1 \
             ORDER BY expires_at LIMIT $2"
        );
        let rows: Vec<CheckoutRow> =
            sqlx::query_as(&sql).bind(millis(now)).bind(limit).fetch_all(&mut *self.read().await?).await?;
        rows.into_iter().map(Checkout::try_from).collect()
    }

    async fn export_cursor(&self, name: &str) -> Result<i64> {
        let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM export_cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *self.read().await?)
            .await?;
        Ok(seq.unwrap_or(0))
    }

    async fn set_export_cursor(&self, name: &str, seq: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO export_cursors (name, seq) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
        )
        .bind(name)
        .bind(seq)
        .execute(&mut *self.read().await?)
        .await?;
        Ok(())
    }
}
