//! Every store call with a bound, and an outage noticed once.
//!
//! sqlx has no per-query timeout and sets no socket options (no TCP keepalive, no user
//! timeout), so a PostgreSQL call whose link froze or was cut mid-flight would wait for the
//! kernel to give up (up to ~15 minutes of retransmissions), and the worker making it with it.
//! [`Bounded`] wraps a backend and gives every call a time limit: past it the call fails with
//! [`StoreError::Unavailable`] (nothing may be assumed about what it did; the journal and fencing
//! make that safe), and the worker that made it stops. While the database is out (the last call
//! failed that way), calls get a short limit instead, so a node whose store is gone stops all
//! its work within seconds rather than one full limit per call. The server side is bounded by
//! the session settings of [`crate::postgres`] (lock, statement and idle-in-transaction
//! timeouts, TCP keepalives), which end a frozen node's transactions and free its locks.
//!
//! The start and the end of an outage are logged once each, not at every failing call.
//!
//! A method added to [`Store`] or [`AccessStore`] is added to the list below (the compiler
//! says so). The list is a small `bounded!` macro, not written-out methods: every method is the
//! same one-line delegation (`self.call("name", self.inner.name(args))`), which plain Rust
//! cannot express generically (a method cannot be named by a parameter), and a list of
//! signatures leaves no room for a method that forgets its bound.

use crate::{
    access::{AccessStore, ApiToken, Checkout},
    listing::{
        AccountGauges, AccountItem, AccountPage, AccountQuery, AuditQuery, Count, Cursor, ListStore, Overview, Page,
        RotationQuery,
    },
    model::*,
    BarrierStore, Result, Store, StoreError,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rekey_domain::{AccountId, CredentialKind, ProviderName, SecretState, UserName};
use std::{
    future::Future,
    sync::atomic::{AtomicBool, Ordering},
    sync::Arc,
    time::Duration,
};

/// A store whose calls are bounded in time.
#[derive(Debug)]
pub(crate) struct Bounded {
    inner: Arc<dyn Store>,
    /// The limit of a call (`None`: unbounded, e.g. a local SQLite file whose waits are bounded
    /// by its busy timeout).
    limit: Option<Duration>,
    /// The limit while the database is out.
    out_limit: Duration,
    /// Whether the last call found the database out.
    out: AtomicBool,
}

impl Bounded {
    pub(crate) fn new(inner: Arc<dyn Store>, limit: Option<Duration>, out_limit: Duration) -> Self {
        Self { inner, limit, out_limit, out: AtomicBool::new(false) }
    }

    async fn call<T>(&self, call: &'static str, f: impl Future<Output = Result<T>> + Send) -> Result<T> {
        let out = self.out.load(Ordering::SeqCst);
        let limit = self.limit.map(|l| if out { self.out_limit.min(l) } else { l });
        let result = match limit {
            Some(limit) => {
                tokio::time::timeout(limit, f).await.unwrap_or_else(|_| Err(StoreError::unanswered(call, limit)))
            }
            None => f.await,
        };
        self.note(&result);
        result
    }

    /// Logs the start and the end of an outage, once each.
    fn note<T>(&self, result: &Result<T>) {
        match result {
            Err(e) if e.is_outage() => {
                if !self.out.swap(true, Ordering::SeqCst) {
                    tracing::error!(error = %e, backend = self.inner.backend(),
                        "the vault's database is out: this process stops working rotations until it answers again");
                }
            }
            _ => {
                if self.out.swap(false, Ordering::SeqCst) {
                    tracing::warn!(backend = self.inner.backend(), "the vault's database answers again");
                }
            }
        }
    }
}

/// Implements a trait for [`Bounded`]: each listed method calls the inner store's within the
/// bound.
macro_rules! bounded {
    ($trait:ident { $($extra:item)* } $( fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty; )*) => {
        #[async_trait]
        impl $trait for Bounded {
            $($extra)*
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    self.call(stringify!($name), self.inner.$name($($arg),*)).await
                }
            )*
        }
    };
}

bounded! { Store {
        fn backend(&self) -> &'static str {
            self.inner.backend()
        }
    }
    fn header(&self) -> Result<Option<VaultHeader>>;
    fn init(&self, header: &VaultHeader, audit: &AuditEntry) -> Result<()>;
    fn insert_provider(&self, p: &Provider, secret: Option<&SecretVersion>, audit: &AuditEntry) -> Result<()>;
    fn provider(&self, name: &ProviderName) -> Result<Provider>;
    fn providers(&self) -> Result<Vec<Provider>>;
    fn delete_provider(&self, name: &ProviderName, audit: &AuditEntry) -> Result<()>;
    fn insert_account(&self, a: &Account, secret: Option<&SecretVersion>, audit: &AuditEntry) -> Result<()>;
    fn account(&self, id: &AccountId) -> Result<Account>;
    fn find_account(&self, provider: &ProviderName, user: &UserName, kind: CredentialKind) -> Result<Account>;
    fn accounts(&self, filter: &AccountFilter) -> Result<Vec<Account>>;
    fn each_account(&self, filter: &AccountFilter, each: &mut (dyn FnMut(Account) -> Result<()> + Send)) -> Result<()>;
    fn delete_account(&self, id: &AccountId, fence: Option<&Fence>, audit: &AuditEntry) -> Result<()>;
    fn secret_versions(&self, record_id: &str) -> Result<Vec<SecretVersion>>;
    fn provider_secret_versions(&self, provider: &ProviderName) -> Result<Vec<SecretVersion>>;
    fn secret_in_state(&self, record_id: &str, state: SecretState) -> Result<Option<SecretVersion>>;
    fn write(&self, w: &JournalWrite) -> Result<()>;
    fn acquire_lease(&self, account: &AccountId, owner: &str, ttl_ms: i64, steal_from: Option<&str>) -> Result<LeaseOutcome>;
    fn renew_lease(&self, fence: &Fence, ttl_ms: i64) -> Result<bool>;
    fn release_lease(&self, fence: &Fence) -> Result<()>;
    fn lease_state(&self, account: &AccountId) -> Result<Option<LeaseState>>;
    fn lease_record(&self, account: &AccountId) -> Result<Option<LeaseRecord>>;
    fn rotation(&self, id: &str) -> Result<Rotation>;
    fn rotations(&self, account: Option<&AccountId>, open_only: bool, limit: i64) -> Result<Vec<Rotation>>;
    fn due_accounts(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Account>>;
    fn stale_heartbeats(&self, before: DateTime<Utc>, limit: i64) -> Result<Vec<Account>>;
    fn append_audit(&self, entry: &AuditEntry) -> Result<AuditRecord>;
    fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<AuditRecord>>;
    fn audit_head(&self) -> Result<i64>;
    fn audit_events(&self, since: Option<DateTime<Utc>>, limit: i64) -> Result<Vec<AuditRecord>>;
}

bounded! { AccessStore {}
    fn insert_token(&self, t: &ApiToken, audit: &AuditEntry) -> Result<()>;
    fn token(&self, id: &str) -> Result<ApiToken>;
    fn tokens(&self) -> Result<Vec<ApiToken>>;
    fn revoke_token(&self, id: &str, at: DateTime<Utc>, audit: &AuditEntry) -> Result<()>;
    fn open_checkout(&self, c: &Checkout, audit: &AuditEntry) -> Result<()>;
    fn open_checkout_of(&self, account: &AccountId) -> Result<Option<Checkout>>;
    fn return_checkout(&self, id: &str, at: DateTime<Utc>, audit: &AuditEntry) -> Result<()>;
    fn end_checkout(&self, id: &str, at: DateTime<Utc>, reason: &str, fence: Option<&Fence>, audit: &AuditEntry) -> Result<()>;
    fn expired_checkouts(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Checkout>>;
    fn export_cursor(&self, name: &str) -> Result<i64>;
    fn set_export_cursor(&self, name: &str, seq: i64) -> Result<()>;
}

bounded! { ListStore {}
    fn account_page(&self, q: &AccountQuery, page: &AccountPage) -> Result<Page<AccountItem>>;
    fn account_item(&self, id: &AccountId, now: DateTime<Utc>) -> Result<Option<AccountItem>>;
    fn overview(&self, q: &AccountQuery) -> Result<Overview>;
    fn rotation_page(&self, q: &RotationQuery, limit: i64, after: Option<&Cursor>, count: Count) -> Result<Page<Rotation>>;
    fn audit_log_page(&self, q: &AuditQuery, limit: i64, after: Option<&Cursor>, count: Count) -> Result<Page<AuditRecord>>;
    fn account_gauges(&self, now: DateTime<Utc>) -> Result<AccountGauges>;
}

bounded! { BarrierStore {
        fn install_barrier(&self, barrier: crate::Barrier) {
            self.inner.install_barrier(barrier);
        }
    }
    fn upgrade_barrier(&self, audit: &AuditEntry) -> Result<crate::UpgradeCounts>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_past_its_bound_fails_and_the_next_ones_fail_fast() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite:{}", dir.path().join("v.db").display());
        let inner = crate::open_backend(&url, crate::OpenMode::Create).await.expect("open");
        tokio::time::pause();
        let b = Bounded::new(inner, Some(Duration::from_secs(20)), Duration::from_secs(2));
        assert_eq!(b.call("header", async { Ok(1) }).await.expect("answered"), 1);
        let started = tokio::time::Instant::now();
        let hung = b.call("write", std::future::pending::<Result<()>>()).await;
        assert!(matches!(hung, Err(StoreError::Unavailable { call: "write", after_ms: 20_000 })), "{hung:?}");
        assert_eq!(started.elapsed().as_secs(), 20, "the call's bound");
        assert!(b.out.load(Ordering::SeqCst), "the database is out");
        let started = tokio::time::Instant::now();
        let again = b.call("header", std::future::pending::<Result<()>>()).await;
        assert!(matches!(again, Err(StoreError::Unavailable { after_ms: 2_000, .. })), "{again:?}");
        assert_eq!(started.elapsed().as_secs(), 2, "a store that is out fails fast");
        b.call("header", async { Ok(()) }).await.expect("back");
        assert!(!b.out.load(Ordering::SeqCst), "an answer ends the outage");
        let refused = b.call("account", async { Err::<(), _>(StoreError::not_found("account")) }).await;
        assert!(refused.is_err() && !b.out.load(Ordering::SeqCst), "a refusal is an answer, not an outage");
    }
}
