//! The PostgreSQL backend, for server nodes that share one database. Appends to the audit chain
//! are serialised with a transaction-scoped advisory lock, so concurrent writers on several
//! nodes still produce one unbroken chain.
//!
//! No node may stall another. Every session gets [`SESSION_SETTINGS`]: a transaction left open
//! by a node that froze (SIGSTOP, a stalled VM) or whose link was cut is ended by the server
//! after `idle_in_transaction_session_timeout`, which frees its row locks and the audit lock;
//! nobody waits longer than `lock_timeout` for a lock, no statement runs longer than
//! `statement_timeout`; and the server's TCP keepalives and user timeout notice a peer that is
//! gone (sqlx sets no socket options on the client side, so the client's side of that bound is
//! [`CALL_LIMIT`] on every call, see the `bounded` module). A setting given in the vault URL's
//! `options` wins over the default here. Migrations run on a connection of their own, without
//! these limits (a migration may rightly wait for another node's or take long).

use crate::sql::{Backend, SqlStore};
use crate::{OpenMode, Result, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgQueryResult, PgRow};
use sqlx::{Postgres, QueryBuilder, Transaction};
use std::{str::FromStr, time::Duration};

/// Advisory lock key for the audit chain ("rekey" in ASCII).
const AUDIT_LOCK: i64 = 0x72_65_6b_65_79;

/// Session settings of every connection of the pool, unless the URL sets them.
pub const SESSION_SETTINGS: [(&str, &str); 7] = [
    // A frozen holder's transaction ends after 5 s: the longest anyone waits for its locks.
    ("idle_in_transaction_session_timeout", "5s"),
    // Above the idle limit, so a waiter outlives a frozen holder instead of failing first.
    ("lock_timeout", "8s"),
    ("statement_timeout", "10s"),
    // A peer gone without a word (a cut link, a dead host) is noticed in 5 + 3 × 2 s.
    ("tcp_keepalives_idle", "5"),
    ("tcp_keepalives_interval", "2"),
    ("tcp_keepalives_count", "3"),
    // Data the peer does not acknowledge for 10 s ends the connection.
    ("tcp_user_timeout", "10000"),
];

/// The client's bound on every store call: above `statement_timeout`, so a slow statement the
/// server ends answers first.
pub const CALL_LIMIT: Duration = Duration::from_secs(12);

/// The bound while the database is out (the last call went unanswered or failed to connect).
pub const OUT_CALL_LIMIT: Duration = Duration::from_secs(3);

/// Connections of one process.
const POOL_SIZE: u32 = 8;

/// A vault in a PostgreSQL database (or schema, via `options=-c search_path=…`).
pub(crate) type PgStore = SqlStore<PgBackend>;

/// PostgreSQL's side of [`SqlStore`]: write transactions start on the shared pool, rows read
/// before a write are locked `FOR UPDATE`, and appends to the audit chain take a
/// transaction-scoped advisory lock.
#[derive(Debug)]
pub(crate) struct PgBackend {
    pool: PgPool,
}

impl Backend for PgBackend {
    type Db = Postgres;
    const NAME: &'static str = "postgres";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const LOCK_NOWAIT: &'static str = " FOR UPDATE NOWAIT";
    const LOCK_NOT_AVAILABLE: &'static str = "55P03";
    const JSON_TEXT_SET: (&'static str, &'static str) = ("SELECT json_array_elements_text(", "::json)");
    // The server's clock as the statement runs (`now()` would be its transaction's start).
    const NOW_MS: &'static str = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint";
    type Reader<'a> = PoolConnection<Postgres>;

    async fn reader(&self) -> Result<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    async fn lock_audit(tx: &mut Transaction<'static, Postgres>) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(AUDIT_LOCK).execute(&mut **tx).await?;
        Ok(())
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    async fn fetch_built(conn: &mut PgConnection, qb: &mut QueryBuilder<'static, Postgres>) -> Result<Vec<PgRow>> {
        Ok(qb.build().fetch_all(conn).await?)
    }
}

impl PgStore {
    /// Connects to the database at `url` (an `Existing` vault must have its header table),
    /// applies migrations on a connection of their own, then opens the pool every session of
    /// which gets [`SESSION_SETTINGS`].
    pub(crate) async fn open(url: &str, mode: OpenMode) -> Result<Self> {
        let location = redact_url(url);
        let invalid = |e: sqlx::Error| StoreError::InvalidUrl { url: location.clone(), problem: e.to_string() };
        let unreachable = |e: sqlx::Error| StoreError::Database(format!("connecting to {location}: {e}"));
        let given = PgConnectOptions::from_str(url).map_err(invalid)?;
        let setup = PgPoolOptions::new().max_connections(1).connect_with(given.clone()).await.map_err(|e| match e {
            sqlx::Error::Configuration(_) => invalid(e),
            other => unreachable(other),
        })?;
        if mode == OpenMode::Existing {
            let present: Option<String> =
                sqlx::query_scalar("SELECT to_regclass('vault_header')::text").fetch_one(&setup).await?;
            if present.is_none() {
                return Err(StoreError::NoVault { location });
            }
        }
        sqlx::migrate!("./migrations/postgres").run(&setup).await.map_err(|e| StoreError::Corrupt {
            location: location.clone(),
            problem: format!("migrating the vault: {e}"),
        })?;
        setup.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(CALL_LIMIT)
            .connect_with(with_session_settings(given))
            .await
            .map_err(unreachable)?;
        Ok(Self::new(PgBackend { pool }))
    }
}

/// `options` with [`SESSION_SETTINGS`] added, except those its `options` set already.
fn with_session_settings(options: PgConnectOptions) -> PgConnectOptions {
    let given = options.get_options().unwrap_or_default().to_owned();
    let missing = SESSION_SETTINGS.iter().filter(|(k, _)| !given.contains(&format!("{k}=")));
    options.options(missing.copied())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_settings_are_added_unless_the_url_sets_them() {
        let given = PgConnectOptions::from_str(
            "postgres://u@db:5432/v?options=-c%20search_path%3Drekey%20-c%20statement_timeout%3D1min",
        )
        .expect("url");
        let options = with_session_settings(given);
        let text = options.get_options().expect("options");
        assert!(text.starts_with("-c search_path=rekey -c statement_timeout=1min"), "{text}");
        assert_eq!(text.matches("statement_timeout").count(), 1, "the URL's value wins: {text}");
        for (k, v) in SESSION_SETTINGS.iter().filter(|(k, _)| *k != "statement_timeout") {
            assert!(text.contains(&format!("-c {k}={v}")), "{k}: {text}");
        }
    }
}
