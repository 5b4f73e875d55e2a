//! The PostgreSQL backend, for server nodes that share one database. Appends to the audit chain
//! are serialised with a transaction-scoped advisory lock, so concurrent writers on several
//! nodes still produce one unbroken chain.

use crate::{OpenMode, Result, StoreError};
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Transaction};

/// Advisory lock key for the audit chain ("rekey" in ASCII).
const AUDIT_LOCK: i64 = 0x72_65_6b_65_79;

/// A vault in a PostgreSQL database (or schema, via `options=-c search_path=…`).
#[derive(Debug)]
pub(crate) struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Row-lock suffix for reads that precede a write in the same transaction.
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    /// Row-lock suffix that fails at once instead of waiting for another transaction's lock
    /// (empty: the backend has no row locks; its write lock is taken at `BEGIN`).
    const LOCK_NOWAIT: &'static str = " FOR UPDATE NOWAIT";
    /// The error code of a `LOCK_NOWAIT` read that found the row locked.
    const LOCK_NOT_AVAILABLE: &'static str = "55P03";
    const BACKEND: &'static str = "postgres";

    pub(crate) async fn open(url: &str, mode: OpenMode) -> Result<Self> {
        let location = redact_url(url);
        let pool = PgPoolOptions::new().max_connections(8).connect(url).await.map_err(|e| match e {
            sqlx::Error::Configuration(c) => StoreError::InvalidUrl { url: location.clone(), problem: c.to_string() },
            other => StoreError::Database(format!("connecting to {location}: {other}")),
        })?;
        if mode == OpenMode::Existing {
            let present: Option<String> =
                sqlx::query_scalar("SELECT to_regclass('vault_header')::text").fetch_one(&pool).await?;
            if present.is_none() {
                return Err(StoreError::NoVault { location });
            }
        }
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Corrupt { location, problem: format!("migrating the vault: {e}") })?;
        Ok(Self { pool })
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    async fn lock_audit(tx: &mut Transaction<'static, Postgres>) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(AUDIT_LOCK).execute(&mut **tx).await?;
        Ok(())
    }
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..s + 3], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

crate::sql::sql_store!(PgStore, Postgres, PgRow);
crate::access::access_queries!(PgStore, PgRow);
