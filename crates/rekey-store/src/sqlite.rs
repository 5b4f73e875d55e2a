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
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, QueryBuilder, Sqlite, Transaction};
use std::{
    ops::{Deref, DerefMut},
    path::Path,
    sync::Mutex,
    time::Duration,
};
use tokio::sync::{Semaphore, SemaphorePermit};

/// A vault in one SQLite file.
pub(crate) type SqliteStore = SqlStore<SqliteBackend>;

/// SQLite's side of [`SqlStore`]: the one connection write transactions use, and why this
/// process may not write the vault, when it may not (every write is refused with it, before a
/// transaction starts).
#[derive(Debug)]
pub(crate) struct SqliteBackend {
    readers: Readers,
    writer: SqlitePool,
    read_only: Option<String>,
}

/// Connections reads go through at once.
const READERS: usize = 4;

/// How long a read waits for a free connection (sqlx's pool's default acquire timeout).
const LEND_LIMIT: Duration = Duration::from_secs(30);

/// Rows a statement's thread may hand over before the reader takes them: a page of the API
/// (at most 500) passes without that thread stopping to wait every 50 rows, sqlx's default.
const ROWS_IN_FLIGHT: usize = 512;

/// The connections reads go through: [`READERS`] SQLite connections, each lent to one reader
/// at a time and taken back as it was. sqlx's pool would check a connection with a round trip
/// to its worker thread when lending it and again when taking it back: for a one-statement
/// read, two of its three hand-offs between threads, which under load cost more CPU than the
/// read itself. A connection to a local file cannot go stale in between; a statement that
/// fails reports its error to its caller either way, and one whose caller gave up (a dropped
/// future) ends on the connection's thread before the next statement there starts.
#[derive(Debug)]
struct Readers {
    opts: SqliteConnectOptions,
    idle: Mutex<Vec<SqliteConnection>>,
    free: Semaphore,
}

/// A reader's connection, back among the idle ones when dropped.
pub(crate) struct Reader<'a> {
    conn: Option<SqliteConnection>,
    readers: &'a Readers,
    _turn: SemaphorePermit<'a>,
}

impl Readers {
    /// Readers of the vault `opts` opens, `first` the first of their connections.
    fn with(opts: SqliteConnectOptions, first: SqliteConnection) -> Self {
        let mut idle = Vec::with_capacity(READERS);
        idle.push(first);
        Self { opts, idle: Mutex::new(idle), free: Semaphore::new(READERS) }
    }

    /// An idle connection, or a new one while fewer than [`READERS`] are open; refused after
    /// [`LEND_LIMIT`] of waiting, as sqlx's pool refuses.
    async fn lend(&self) -> Result<Reader<'_>> {
        let turn = tokio::time::timeout(LEND_LIMIT, self.free.acquire())
            .await
            .map_err(|_| StoreError::unanswered("read", LEND_LIMIT))?
            .map_err(|_| StoreError::Database("the vault was closed".into()))?;
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.opts.connect().await?,
        };
        Ok(Reader { conn: Some(conn), readers: self, _turn: turn })
    }
}

impl Deref for Reader<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        // Taken out only in `drop`.
        self.conn.as_ref().unwrap_or_else(|| unreachable!("a reader's connection is taken only when it is dropped"))
    }
}

impl DerefMut for Reader<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("a reader's connection is taken only when it is dropped"))
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        // A connection left inside a transaction is closed rather than lent again.
        if let Some(conn) = self.conn.take().filter(|c| !c.is_in_transaction()) {
            if let Ok(mut idle) = self.readers.idle.lock() {
                idle.push(conn);
            }
        }
    }
}

impl Backend for SqliteBackend {
    type Db = Sqlite;
    const NAME: &'static str = "sqlite";
    // No row locks: the write lock is taken at `BEGIN IMMEDIATE`.
    const FOR_UPDATE: &'static str = "";
    const LOCK_NOWAIT: &'static str = "";
    const LOCK_NOT_AVAILABLE: &'static str = "";
    const JSON_TEXT_SET: (&'static str, &'static str) = ("SELECT value FROM json_each(", ")");
    // The clock of the host the file lives on: every process of a SQLite vault shares it.
    const NOW_MS: &'static str = "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)";
    type Reader<'a> = Reader<'a>;

    async fn reader(&self) -> Result<Reader<'_>> {
        self.readers.lend().await
    }

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

    async fn fetch_built(
        conn: &mut SqliteConnection,
        qb: &mut QueryBuilder<'static, Sqlite>,
    ) -> Result<Vec<SqliteRow>> {
        Ok(qb.build().fetch_all(conn).await?)
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
            .foreign_keys(true)
            .row_buffer_size(ROWS_IN_FLIGHT);
        let setup = SqlitePoolOptions::new().max_connections(1).connect_with(opts.clone()).await.map_err(corrupt)?;
        if !exists || empty {
            restrict_permissions(path);
        }
        sqlx::migrate!("./migrations/sqlite").run(&setup).await.map_err(|e| StoreError::Corrupt {
            location: path.to_owned(),
            problem: format!("migrating the vault: {e}"),
        })?;
        setup.close().await;
        let first = opts.clone().connect().await.map_err(corrupt)?;
        let opts = opts.create_if_missing(false);
        // Opened at the first write: a read-only command never pays for the connection.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(120))
            // A connection whose transaction could not be ended (a COMMIT, then its ROLLBACK,
            // refused on a full disk) is closed, not reused: sqlx would refuse every later
            // BEGIN on it ("begin_with at non-zero transaction depth").
            .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
            .connect_lazy_with(opts.clone());
        Ok(Self::new(SqliteBackend { readers: Readers::with(opts, first), writer, read_only: None }))
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
            .foreign_keys(true)
            .row_buffer_size(ROWS_IN_FLIGHT);
        let (opts, mut first) = match reader(opts.clone(), path).await {
            Ok(first) => (opts, first),
            Err(_) => (opts.clone().immutable(true), reader(opts.immutable(true), path).await?),
        };
        let latest = sqlx::migrate!("./migrations/sqlite").iter().map(|m| m.version).max().unwrap_or(0);
        let applied: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut first)
            .await
            .map_err(|e| StoreError::Corrupt { location: path.to_owned(), problem: e.to_string() })?;
        if applied < latest {
            return Err(StoreError::ReadOnly {
                detail: format!("{reason}, and its schema needs an upgrade to this version of rekey (a write)"),
            });
        }
        // Never connected: every write is refused before it asks for the writer.
        let writer = SqlitePoolOptions::new().max_connections(1).connect_lazy_with(opts.clone());
        Ok(Self::new(SqliteBackend { readers: Readers::with(opts, first), writer, read_only: Some(reason) }))
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

/// A read-only connection to the vault at `path`, after one read that proves it is a rekey
/// vault.
async fn reader(opts: SqliteConnectOptions, path: &str) -> Result<SqliteConnection> {
    let corrupt = |problem: String| StoreError::Corrupt { location: path.to_owned(), problem };
    let mut conn = opts.connect().await.map_err(|e| corrupt(e.to_string()))?;
    let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'vault_header'")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| corrupt(e.to_string()))?;
    if tables == 0 {
        return Err(corrupt("not a rekey vault (no vault header)".into()));
    }
    Ok(conn)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
    use super::*;
    use futures_util::FutureExt;

    fn idle(readers: &Readers) -> usize {
        readers.idle.lock().unwrap().len()
    }

    #[tokio::test]
    async fn readers_are_lent_one_at_a_time_waited_for_and_taken_back_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.db");
        let store = SqliteStore::open(path.to_str().unwrap(), OpenMode::Create).await.unwrap();
        let readers = &store.backend.readers;
        let mut held = Vec::new();
        for _ in 0..READERS {
            held.push(readers.lend().await.unwrap());
        }
        assert_eq!(idle(readers), 0);
        assert!(readers.lend().now_or_never().is_none(), "a reader past {READERS} waits");
        tokio::time::pause();
        let refused = readers.lend().await.err().unwrap();
        assert!(matches!(refused, StoreError::Unavailable { call: "read", .. }), "{refused}");
        tokio::time::resume();
        drop(held.pop());
        assert_eq!(idle(readers), 1, "taken back without a round trip");
        let mut again = readers.lend().now_or_never().unwrap().unwrap();
        assert_eq!(idle(readers), 0, "the idle connection, not a new one");
        let one: i64 = sqlx::query_scalar("SELECT 1").fetch_one(&mut *again).await.unwrap();
        assert_eq!(one, 1);
        // A transaction never ended (its future dropped before COMMIT or ROLLBACK ran).
        std::mem::forget(again.begin().await.unwrap());
        drop(again);
        assert_eq!(idle(readers), 0, "a connection left inside a transaction is not lent again");
        drop(held);
        assert_eq!(idle(readers), READERS - 1);
        let fresh = readers.lend().await.unwrap();
        assert!(!fresh.is_in_transaction());
    }

    #[tokio::test]
    async fn each_audit_filter_is_a_range_of_its_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("vault.db").to_str().unwrap(), OpenMode::Create).await.unwrap();
        let mut conn = store.read().await.unwrap();
        for column in ["actor", "action", "target"] {
            // The shapes `audit_log_page` builds: the newest page and the count.
            for sql in [
                format!("SELECT seq FROM audit_events WHERE 1 = 1 AND {column} = 'x' ORDER BY seq DESC LIMIT 101"),
                format!("SELECT COUNT(*) FROM (SELECT 1 FROM audit_events WHERE 1 = 1 AND {column} = 'x' LIMIT 10001)"),
            ] {
                let plan: Vec<(i64, i64, i64, String)> =
                    sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(&mut *conn).await.unwrap();
                let plan: Vec<String> = plan.into_iter().map(|p| p.3).collect();
                assert!(
                    plan.iter().any(|step| step.contains(&format!("INDEX audit_events_by_{column} ({column}=?)"))),
                    "{sql}: {plan:?}"
                );
                assert!(!plan.iter().any(|step| step.contains("TEMP B-TREE")), "{sql}: no sort: {plan:?}");
            }
        }
    }
}
