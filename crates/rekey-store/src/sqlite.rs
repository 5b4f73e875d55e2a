//! The SQLite backend: one vault file in WAL mode with a busy timeout, so several rekey
//! processes can share it. Write transactions start with `BEGIN IMMEDIATE`, which takes the
//! write lock up front: a read-then-write transaction can never fail half-way on a lock upgrade,
//! and that same lock serialises appends to the audit chain. Write transactions of this process
//! queue for one dedicated connection instead of waiting on the file lock inside SQLite's busy
//! handler: a waiting writer then holds no connection, so reads never starve behind writers
//! (other processes still meet the busy timeout).

use crate::sql::{Backend, SqlStore};
use crate::{OpenMode, Result, StoreError};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite, Transaction};
use std::{path::Path, time::Duration};

/// A vault in one SQLite file.
pub(crate) type SqliteStore = SqlStore<SqliteBackend>;

/// SQLite's side of [`SqlStore`]: the one connection write transactions use, and why this
/// process may not write the vault, when it may not (every write is refused with it, before a
/// transaction starts).
#[derive(Debug)]
pub(crate) struct SqliteBackend {
    writer: SqlitePool,
    read_only: Option<String>,
}

impl Backend for SqliteBackend {
    type Db = Sqlite;
    const NAME: &'static str = "sqlite";
    // No row locks: the write lock is taken at `BEGIN IMMEDIATE`.
    const FOR_UPDATE: &'static str = "";
    const LOCK_NOWAIT: &'static str = "";
    const LOCK_NOT_AVAILABLE: &'static str = "";

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        if let Some(reason) = &self.read_only {
            return Err(StoreError::ReadOnly { detail: reason.clone() });
        }
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// `BEGIN IMMEDIATE` already holds the database's single write lock.
    async fn lock_audit(_tx: &mut Transaction<'static, Sqlite>) -> Result<()> {
        Ok(())
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    async fn fetch_built(pool: &SqlitePool, qb: &mut QueryBuilder<'static, Sqlite>) -> Result<Vec<SqliteRow>> {
        Ok(qb.build().fetch_all(pool).await?)
    }
}

impl SqliteStore {
    /// Opens the vault file at `path` (with `Create`, makes it if missing) and brings its schema
    /// up to date; a file this process may not write is opened for reads only.
    pub(crate) async fn open(path: &str, mode: OpenMode) -> Result<Self> {
        let exists = Path::new(path).exists();
        if mode == OpenMode::Existing && !exists {
            return Err(StoreError::NoVault { location: path.to_owned() });
        }
        let corrupt = |e: sqlx::Error| StoreError::Corrupt { location: path.to_owned(), problem: e.to_string() };
        if mode == OpenMode::Existing {
            if let Some(reason) = read_only_reason(path)? {
                return Self::open_read_only(path, reason).await;
            }
            check_is_vault(path).await?;
        }
        // `init` on a file that is there already: an empty one (pre-created, perhaps 0644) is
        // made private like a new one; another application's database is left alone.
        let empty = mode == OpenMode::Create && exists && check_can_hold_a_vault(path).await?;
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(mode == OpenMode::Create)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts.clone()).await.map_err(corrupt)?;
        if !exists || empty {
            restrict_permissions(path);
        }
        sqlx::migrate!("./migrations/sqlite").run(&pool).await.map_err(|e| StoreError::Corrupt {
            location: path.to_owned(),
            problem: format!("migrating the vault: {e}"),
        })?;
        // Opened at the first write: a read-only command never pays for the connection.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(120))
            // A connection whose transaction could not be ended (a COMMIT, then its ROLLBACK,
            // refused on a full disk) is closed, not reused: sqlx would refuse every later
            // BEGIN on it ("begin_with at non-zero transaction depth").
            .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .connect_lazy_with(opts.create_if_missing(false));
        Ok(Self::new(pool, SqliteBackend { writer, read_only: None }))
    }

    /// Opens a vault this process may not write (a read-only file or file system, another
    /// user's copy): reads only. A reader of a WAL database needs its shared-memory file; where
    /// that cannot be made (a read-only directory or mount), the file is read as immutable.
    /// Nothing is migrated: a schema older than this rekey's is refused.
    async fn open_read_only(path: &str, reason: String) -> Result<Self> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(30))
            .foreign_keys(true);
        let pool = match reader(opts.clone(), path).await {
            Ok(pool) => pool,
            Err(_) => reader(opts.immutable(true), path).await?,
        };
        let latest = sqlx::migrate!("./migrations/sqlite").iter().map(|m| m.version).max().unwrap_or(0);
        let applied: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&pool)
            .await
            .map_err(|e| StoreError::Corrupt { location: path.to_owned(), problem: e.to_string() })?;
        if applied < latest {
            return Err(StoreError::ReadOnly {
                detail: format!("{reason}, and its schema needs an upgrade to this version of rekey (a write)"),
            });
        }
        Ok(Self::new(pool.clone(), SqliteBackend { writer: pool, read_only: Some(reason) }))
    }
}

/// Refuses a file that is not a rekey vault before the pool's pragmas touch it: switching to
/// WAL is persistent (it rewrites the file header), so another application's database or a
/// damaged file must only ever be read. A plain connection that sets no pragmas only reads.
async fn check_is_vault(path: &str) -> Result<()> {
    let corrupt = |problem: String| StoreError::Corrupt { location: path.to_owned(), problem };
    let opts = SqliteConnectOptions::new().filename(path).busy_timeout(Duration::from_secs(30));
    let mut conn = opts.connect().await.map_err(|e| corrupt(e.to_string()))?;
    let tables: std::result::Result<i64, _> =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'vault_header'").fetch_one(&mut conn).await;
    let _ = conn.close().await;
    match tables {
        Ok(0) => Err(corrupt("not a rekey vault (no vault header)".into())),
        Ok(_) => Ok(()),
        Err(e) => Err(corrupt(e.to_string())),
    }
}

/// Why this process may not write the vault file, if it may not (opening it for writing, which
/// changes nothing, is refused: a read-only file or mount, an immutable file, another user's
/// file); an error if it may not even read it.
fn read_only_reason(path: &str) -> Result<Option<String>> {
    use std::io::ErrorKind::{PermissionDenied, ReadOnlyFilesystem};
    if let Err(e) = std::fs::File::open(path) {
        if e.kind() == PermissionDenied {
            return Err(StoreError::Unreadable { detail: format!("{path}: {e}") });
        }
    }
    match std::fs::OpenOptions::new().write(true).open(path) {
        Err(e) if matches!(e.kind(), PermissionDenied | ReadOnlyFilesystem) => {
            Ok(Some(format!("{path} is read-only to this process ({e})")))
        }
        _ => Ok(None),
    }
}

/// A pool of read-only connections to the vault at `path`, after one read that proves it is a
/// rekey vault.
async fn reader(opts: SqliteConnectOptions, path: &str) -> Result<SqlitePool> {
    let corrupt = |problem: String| StoreError::Corrupt { location: path.to_owned(), problem };
    let pool =
        SqlitePoolOptions::new().max_connections(4).connect_with(opts).await.map_err(|e| corrupt(e.to_string()))?;
    let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'vault_header'")
        .fetch_one(&pool)
        .await
        .map_err(|e| corrupt(e.to_string()))?;
    if tables == 0 {
        return Err(corrupt("not a rekey vault (no vault header)".into()));
    }
    Ok(pool)
}

/// Whether an existing file `init` was pointed at holds no tables (`true`) or a rekey vault
/// (`false`: init then names the vault there); another application's database, or a file that
/// is not a database, is refused before anything is written to it.
async fn check_can_hold_a_vault(path: &str) -> Result<bool> {
    let corrupt = |problem: String| StoreError::Corrupt { location: path.to_owned(), problem };
    let opts = SqliteConnectOptions::new().filename(path).read_only(true).busy_timeout(Duration::from_secs(30));
    let mut conn = opts.connect().await.map_err(|e| corrupt(e.to_string()))?;
    let tables: std::result::Result<Vec<String>, _> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await;
    let _ = conn.close().await;
    let tables = tables.map_err(|e| corrupt(e.to_string()))?;
    if tables.is_empty() || tables.iter().any(|t| t == "vault_header") {
        return Ok(tables.is_empty());
    }
    let mut shown = tables.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
    if tables.len() > 5 {
        shown.push_str(", …");
    }
    Err(corrupt(format!(
        "another application's SQLite database (tables {shown}); rekey creates a vault only in a new or empty file"
    )))
}

/// The vault holds only sealed secrets, but its metadata (who is managed where) is still private.
fn restrict_permissions(path: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path, error = %e, "could not restrict vault file permissions");
        }
    }
}
