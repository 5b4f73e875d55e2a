//! rekey's storage: one [`Store`] trait, two backends.
//!
//! [`open`] picks the backend from the vault URL (`sqlite:PATH` or `postgres://…`), connects,
//! applies that backend's migrations and hands back an `Arc<dyn Store>`. Both backends are one
//! generic `SqlStore<B>` over a small `Backend` trait (`sql.rs`), each with its own concrete
//! pool; dialect differences — how a write transaction starts, how the audit chain is locked,
//! how a row is locked — stay in `sqlite.rs` and `postgres.rs`.
//!
//! Every mutating method takes the [`AuditEntry`] that describes it and appends it in the same
//! transaction: a change and its audit record are committed together or not at all.
//!
//! # Layout
//!
//! - This file: the [`Store`] trait, [`open`], [`OpenMode`].
//! - [`model`]: the records ([`Account`], [`SecretVersion`], [`Rotation`], [`Provider`], audit
//!   entries, leases, journal writes); [`settings`]: an account's settings, typed as its row is
//!   read ([`AccountSettings`]). [`access`]: what the server adds (API tokens, check-outs).
//! - [`listing`]: paged, filtered, sorted listings and the overview's counts for front ends
//!   ([`ListStore`]; queries in `listing_sql`).
//! - `sql`: `SqlStore`, the `Backend` trait, the write helpers and the journal write's parts;
//!   `queries`: the [`Store`] methods; `rows`: rows as read (`sqlx::FromRow`) and their
//!   conversion into records (a value that does not parse is [`StoreError::Corrupt`]).
//! - `sqlite` and `postgres`: what differs per dialect (write transactions, the audit lock,
//!   row locks, PostgreSQL's session timeouts [`SESSION_SETTINGS`]).
//! - `bounded`: every store call with a time bound, and an outage noticed once.
//! - `gather`: reads of one row made at once, answered by one statement.
//! - [`barrier`]: the MACs on rows that steer where secrets go (keys derived from the vault
//!   key, checked on every read); [`sign`]: installing the barrier, signing an older vault.
//! - [`chain`]: the audit hash chain. `error`: [`StoreError`].
//! - `migrations/sqlite`, `migrations/postgres`: the schema, one numbered file per change.

pub mod access;
pub mod barrier;
mod bounded;
pub mod chain;
mod error;
mod gather;
pub mod listing;
mod listing_sql;
pub mod model;
mod postgres;
pub use postgres::{redact_url, SESSION_SETTINGS};
mod queries;
mod rows;
pub mod settings;
pub mod sign;
mod sql;
mod sqlite;

pub use access::{AccessStore, ApiToken, Checkout};
pub use barrier::Barrier;
pub use error::{Result, StoreError};
pub use listing::ListStore;
pub use model::*;
pub use settings::{AccountSettings, SettingsProblem};
pub use sign::{BarrierStore, UpgradeCounts};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rekey_domain::{AccountId, CredentialKind, ProviderName, SecretState, UserName};
use std::sync::Arc;

/// Whether `open` may create a new, empty vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// `rekey init`: create the file (SQLite) if missing.
    Create,
    /// Everything else: the vault must exist.
    Existing,
}

/// The vault's persistence.
#[async_trait]
pub trait Store: AccessStore + BarrierStore + ListStore + Send + Sync + std::fmt::Debug {
    /// The backend's name, `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// The header, or `None` for a database that was never initialised.
    async fn header(&self) -> Result<Option<VaultHeader>>;
    /// Writes the header of a new vault; `Conflict` if one exists.
    async fn init(&self, header: &VaultHeader, audit: &AuditEntry) -> Result<()>;

    /// Adds a provider with its sealed secret (static keys); `Conflict` on a duplicate name.
    async fn insert_provider(&self, p: &Provider, secret: Option<&SecretVersion>, audit: &AuditEntry) -> Result<()>;
    /// One provider by name.
    async fn provider(&self, name: &ProviderName) -> Result<Provider>;
    /// All providers, by name.
    async fn providers(&self) -> Result<Vec<Provider>>;
    /// Removes a provider and its secrets; `Conflict` while accounts or other providers use it.
    async fn delete_provider(&self, name: &ProviderName, audit: &AuditEntry) -> Result<()>;

    /// Adds an account with its first secret version, if known.
    async fn insert_account(&self, a: &Account, secret: Option<&SecretVersion>, audit: &AuditEntry) -> Result<()>;
    /// One account by id.
    async fn account(&self, id: &AccountId) -> Result<Account>;
    /// One account by provider, user and kind.
    async fn find_account(&self, provider: &ProviderName, user: &UserName, kind: CredentialKind) -> Result<Account>;
    /// Accounts matching `filter`, ordered by provider, user, kind.
    async fn accounts(&self, filter: &AccountFilter) -> Result<Vec<Account>>;
    /// The accounts of [`Store::accounts`], in its order, handed to `each` one at a time as they
    /// are read; stops at the first error, `each`'s included.
    async fn each_account(
        &self,
        filter: &AccountFilter,
        each: &mut (dyn FnMut(Account) -> Result<()> + Send),
    ) -> Result<()>;
    /// Removes an account and its secret versions; with `fence`, only while the writer still
    /// holds the account's lease (`Fenced` otherwise, and nothing is removed).
    async fn delete_account(&self, id: &AccountId, fence: Option<&Fence>, audit: &AuditEntry) -> Result<()>;

    /// Every version of a record, oldest first.
    async fn secret_versions(&self, record_id: &str) -> Result<Vec<SecretVersion>>;
    /// Every version of every account of `provider`, by account then oldest first, in one query
    /// (discovery and reports name every key the vault has held without a query per account).
    async fn provider_secret_versions(&self, provider: &ProviderName) -> Result<Vec<SecretVersion>>;
    /// The version in `state`, newest first.
    async fn secret_in_state(&self, record_id: &str, state: SecretState) -> Result<Option<SecretVersion>>;

    /// Applies a journal write atomically (see [`JournalWrite`]); `Fenced` if the lease was lost.
    async fn write(&self, w: &JournalWrite) -> Result<()>;
    /// Takes `account`'s lease for `owner` for `ttl_ms` if it is free, expired, already
    /// `owner`'s, or held by `steal_from` (an owner the caller proved dead). The token grows at
    /// every acquisition. Expiry is judged by the database's clock, never the caller's.
    /// Never waits on another transaction's lock of the lease row (PostgreSQL: `NOWAIT`): a row
    /// locked by a write under way is `Held` by its stored owner.
    async fn acquire_lease(
        &self,
        account: &AccountId,
        owner: &str,
        ttl_ms: i64,
        steal_from: Option<&str>,
    ) -> Result<LeaseOutcome>;
    /// Extends a held lease to `ttl_ms` from now by the database's clock; `false` if it was
    /// taken over.
    async fn renew_lease(&self, fence: &Fence, ttl_ms: i64) -> Result<bool>;
    /// Releases a held lease (no-op if it was taken over).
    async fn release_lease(&self, fence: &Fence) -> Result<()>;
    /// `account`'s lease as stored now, with the time it has left by the database's clock
    /// (`None`: never taken, or released). Never waits on a write under way.
    async fn lease_state(&self, account: &AccountId) -> Result<Option<LeaseState>>;
    /// `account`'s lease as stored, held or released (`None`: never taken). Never waits on a
    /// write under way.
    async fn lease_record(&self, account: &AccountId) -> Result<Option<LeaseRecord>>;
    /// One rotation.
    async fn rotation(&self, id: &str) -> Result<Rotation>;
    /// Rotations, newest first: of one account or all; only unfinished ones if `open_only`.
    async fn rotations(&self, account: Option<&AccountId>, open_only: bool, limit: i64) -> Result<Vec<Rotation>>;
    /// Accounts whose next rotation is due at `now` and whose lease no worker holds by the
    /// database's clock (a rotation under way is not due again), earliest first (uses the
    /// next-due index).
    async fn due_accounts(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Account>>;

    /// Accounts in good standing whose last heartbeat is older than `before` (or missing),
    /// stalest first; served by an index, so the cost follows the result.
    async fn stale_heartbeats(&self, before: DateTime<Utc>, limit: i64) -> Result<Vec<Account>>;
    /// Appends one audit event on its own.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<AuditRecord>;
    /// Events with `seq > after`, in chain order, at most `limit` (for walking the chain).
    async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>>;
    /// The newest audit event's sequence number (0 for an empty log).
    async fn audit_head(&self) -> Result<i64>;
    /// Events at or after `since`, in chain order, at most `limit`.
    async fn audit_events(&self, since: Option<DateTime<Utc>>, limit: i64) -> Result<Vec<AuditRecord>>;
}

/// Opens the vault at `url`, applying migrations. Every call of the store it returns is bounded
/// in time when the database is reached over a network (`CALL_LIMIT` in `postgres.rs`), and an
/// outage is logged once (see the `bounded` module).
pub async fn open(url: &str, mode: OpenMode) -> Result<Arc<dyn Store>> {
    let limit = (!url.starts_with("sqlite:")).then_some(postgres::CALL_LIMIT);
    let backend = open_backend(url, mode).await?;
    Ok(Arc::new(bounded::Bounded::new(backend, limit, postgres::OUT_CALL_LIMIT)))
}

async fn open_backend(url: &str, mode: OpenMode) -> Result<Arc<dyn Store>> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(StoreError::InvalidUrl { url: url.into(), problem: "no file path after `sqlite:`".into() });
        }
        Ok(Arc::new(sqlite::SqliteStore::open(path, mode).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url, mode).await?))
    } else {
        Err(StoreError::InvalidUrl {
            url: url.into(),
            problem: "expected `sqlite:PATH` or `postgres://USER@HOST:PORT/DB`".into(),
        })
    }
}

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
