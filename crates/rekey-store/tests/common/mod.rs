//! The backends the contract runs on, and the fixtures its scenarios share.
//!
//! [`run`] makes a fresh, empty vault location — a file in a temp dir for SQLite, a new schema
//! with a random name for PostgreSQL (only when `REKEY_TEST_POSTGRES_URL` is set) — runs one
//! scenario on it in its own task, drops the schema (best effort, also after a failure) and
//! then re-raises the scenario's panic.

#![allow(dead_code)] // each test binary uses a different subset

use chrono::{DateTime, TimeZone, Utc};
use rekey_crypto::{seal, Secret, VaultKey};
use rekey_domain::{CredentialKind, SecretState};
use rekey_store::{
    chain, open, Account, AccountSettings, AuditEntry, AuditRecord, Barrier, OpenMode, Origin, Provider, ProviderAuth,
    SecretVersion, Store, StoreError, VaultHeader,
};
use serde_json::json;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::{future::Future, path::PathBuf, sync::Arc};

/// One test per scenario and backend. A `store` scenario gets an initialised vault (one audit
/// event so far), a `location` scenario the untouched location.
#[allow(unused_macros)] // not every test binary has scenarios
macro_rules! contract {
    ($($kind:ident $name:ident),* $(,)?) => {
        contract!(@backend sqlite, common::Backend::Sqlite, $($kind $name),*);
        contract!(@backend postgres, common::Backend::Postgres, $($kind $name),*);
    };
    (@backend $module:ident, $backend:expr, $($kind:ident $name:ident),*) => {
        mod $module {
            use super::common;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    common::run($backend, contract!(@scenario $kind $name)).await;
                }
            )*
        }
    };
    (@scenario store $name:ident) => {
        |loc| async move { super::$name(common::initialised(&loc).await).await }
    };
    (@scenario location $name:ident) => {
        super::$name
    };
}

/// Where CI (and a developer who wants the PostgreSQL variants) names the test server.
pub const POSTGRES_URL_VAR: &str = "REKEY_TEST_POSTGRES_URL";

/// A backend the contract runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh vault location nobody has opened yet.
#[derive(Debug)]
pub struct Location {
    pub backend: Backend,
    pub url: String,
    raw: Raw,
}

#[derive(Debug)]
enum Raw {
    Sqlite { _dir: tempfile::TempDir, path: PathBuf },
    Postgres { admin: PgPool, schema: String },
}

/// Runs `scenario` on a fresh location of `backend`; says so and returns when PostgreSQL is not configured.
pub async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(Arc<Location>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(loc) = Location::fresh(backend).await else {
        return;
    };
    let loc = Arc::new(loc);
    // Its own task, so that a failing scenario still reaches the clean-up below.
    let outcome = tokio::spawn(scenario(loc.clone())).await;
    loc.clean_up().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("scenario task failed: {e}"),
        }
    }
}

impl Location {
    async fn fresh(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temp dir for the vault");
                let path = dir.path().join("vault.db");
                Some(Self { backend, url: format!("sqlite:{}", path.display()), raw: Raw::Sqlite { _dir: dir, path } })
            }
            Backend::Postgres => {
                let Ok(base) = std::env::var(POSTGRES_URL_VAR) else {
                    eprintln!("skipped: {POSTGRES_URL_VAR} not set");
                    return None;
                };
                let admin = PgPoolOptions::new()
                    .max_connections(2)
                    .connect(&base)
                    .await
                    .expect("REKEY_TEST_POSTGRES_URL names a reachable server");
                let schema = format!("t_{:016x}", rand::random::<u64>());
                sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.expect("CREATE SCHEMA");
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
                Some(Self { backend, url, raw: Raw::Postgres { admin, schema } })
            }
        }
    }

    /// Opens the store at this location, unlocked: the barrier of [`test_key`] installed.
    pub async fn open(&self, mode: OpenMode) -> rekey_store::Result<Arc<dyn Store>> {
        let store = open(&self.url, mode).await?;
        store.install_barrier(Barrier::new(&test_key()));
        Ok(store)
    }

    /// Opens the store at this location without the barrier (still locked).
    pub async fn open_locked(&self, mode: OpenMode) -> rekey_store::Result<Arc<dyn Store>> {
        open(&self.url, mode).await
    }

    /// Every byte the backend keeps for this vault: the database file and its write-ahead log
    /// (SQLite), or every row of every table of the schema as text (PostgreSQL; `bytea`
    /// columns appear hex-encoded, see [`holds`]).
    pub async fn stored_bytes(&self) -> Vec<u8> {
        match &self.raw {
            Raw::Sqlite { path, .. } => {
                let mut bytes = std::fs::read(path).expect("the vault file exists");
                let wal = PathBuf::from(format!("{}-wal", path.display()));
                bytes.extend(std::fs::read(wal).expect("an open WAL-mode vault has a -wal file"));
                bytes
            }
            Raw::Postgres { admin, schema } => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1",
                )
                .bind(schema)
                .fetch_all(admin)
                .await
                .expect("listing the schema's tables");
                assert!(tables.iter().any(|t| t == "secret_versions"), "the scan sees the vault's tables: {tables:?}");
                let mut text = String::new();
                for table in tables {
                    let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM {schema}.\"{table}\" t"))
                        .fetch_all(admin)
                        .await
                        .expect("reading a table as text");
                    text.push_str(&rows.join("\n"));
                    text.push('\n');
                }
                text.into_bytes()
            }
        }
    }

    /// Runs `sql` on this location's database directly (as an older rekey, or an operator,
    /// would have left it).
    pub async fn execute(&self, sql: &str) {
        match &self.raw {
            Raw::Sqlite { path, .. } => {
                let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
                let mut c = sqlx::ConnectOptions::connect(&opts).await.expect("opening the vault file");
                sqlx::query(sql).execute(&mut c).await.expect("a raw statement");
            }
            Raw::Postgres { .. } => {
                let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url).await.expect("connecting");
                sqlx::query(sql).execute(&mut c).await.expect("a raw statement");
            }
        }
    }

    async fn clean_up(&self) {
        if let Raw::Postgres { admin, schema } = &self.raw {
            // Best effort: a leftover schema in a test database harms nobody.
            if let Err(e) = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(admin).await {
                eprintln!("could not drop test schema {schema}: {e}");
            }
            admin.close().await;
        }
    }
}

/// Whether `stored` holds `needle`, as raw bytes or hex-encoded (how PostgreSQL prints `bytea`).
pub fn holds(stored: &[u8], needle: &[u8]) -> bool {
    let hex = hex::encode(needle).into_bytes();
    [needle, hex.as_slice()].iter().any(|n| stored.windows(n.len()).any(|w| w == *n))
}

/// A fixed instant, `minute` minutes after noon on 2026-05-01 (whole milliseconds, as stored).
pub fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, minute, 0).single().expect("a valid fixture time")
}

pub fn audit(action: &str, target: Option<&str>) -> AuditEntry {
    AuditEntry {
        at: at(0),
        actor: "cli:test@host".into(),
        action: action.into(),
        target: target.map(Into::into),
        outcome: "ok".into(),
        detail: json!({ "note": "non-secret facts" }),
    }
}

pub fn header(wrapped_vault_key: &[u8]) -> VaultHeader {
    VaultHeader {
        vault_id: "0123456789abcdef".parse().expect("a valid vault id"),
        format: 1,
        key_source: "passphrase".into(),
        key_params: json!({ "kdf": "argon2id", "m_cost": 19456, "salt": "c2FsdA" }),
        wrapped_vault_key: wrapped_vault_key.to_vec(),
        created_at: at(0),
        key_check: None,
        audit_keyed_from: None,
    }
}

/// The vault key the scenarios' stores are unlocked with.
pub fn test_key() -> VaultKey {
    VaultKey::from_bytes(&[7; 32]).expect("32 bytes")
}

/// `h` as the store hands it back after `init`: with its key check, keyed from event 1.
pub fn as_initialised(h: &VaultHeader) -> VaultHeader {
    VaultHeader {
        key_check: Some(Barrier::new(&test_key()).key_check(h.vault_id.as_str(), 1)),
        audit_keyed_from: Some(1),
        ..h.clone()
    }
}

/// Opens a fresh location with `OpenMode::Create` and initialises the vault (one audit event).
pub async fn initialised(loc: &Location) -> Arc<dyn Store> {
    let store = loc.open(OpenMode::Create).await.expect("creating the vault");
    store.init(&header(b"wrapped"), &audit("vault.init", None)).await.expect("initialising the vault");
    store
}

pub fn static_key() -> ProviderAuth {
    ProviderAuth::StaticKey { access_key_id: "AKIAIOSFODNN7EXAMPLE".into() }
}

pub fn assume_role(source: Option<&str>) -> ProviderAuth {
    ProviderAuth::AssumeRole {
        role_arn: "arn:aws:iam::123456789012:role/rekey-admin".parse().expect("a valid role ARN"),
        external_id: Some("ext-1".into()),
        source: source.map(|s| s.parse().expect("a valid provider name")),
    }
}

pub fn provider(name: &str, auth: ProviderAuth) -> Provider {
    Provider {
        name: name.parse().expect("a valid provider name"),
        region: "eu-west-1".parse().expect("a valid region"),
        endpoint_url: Some("http://127.0.0.1:5000".into()),
        auth,
        mfa_serial: None,
        created_at: at(1),
        updated_at: at(2),
    }
}

pub fn account(provider: &str, user: &str, kind: CredentialKind, folder: Option<&str>) -> Account {
    let mut a = Account::new(
        provider.parse().expect("a valid provider name"),
        user.parse().expect("a valid user name"),
        format!("AIDA{}", user.to_uppercase()),
        format!("arn:aws:iam::123456789012:user/{user}").parse().expect("a valid user ARN"),
        kind,
        at(3),
    );
    a.folder = folder.map(|f| f.parse().expect("a valid folder"));
    a.title = Some(format!("{user}'s {kind}"));
    a.settings = AccountSettings::from_stored(json!({ "schedule": "@every 30d" }));
    a
}

/// `secret`, sealed under `key` as `version` of `record`.
pub fn sealed(key: &VaultKey, record: &str, version: i64, state: SecretState, secret: &str) -> SecretVersion {
    let s = seal(key, record, version, &Secret::new(secret));
    SecretVersion {
        record_id: record.into(),
        version,
        state,
        key_id: Some(format!("AKIA{version:016}")),
        origin: Origin::Created,
        wrapped_key: s.wrapped_key,
        ciphertext: s.ciphertext,
        created_at: at(4),
    }
}

/// The whole audit chain, checked link by link.
pub async fn verified_chain(store: &dyn Store) -> Vec<AuditRecord> {
    let events = store.audit_page(0, 1_000_000).await.expect("reading the audit chain");
    assert_eq!(
        chain::first_broken(&events, Barrier::new(&test_key()).audit_key(), 1),
        None,
        "the audit chain verifies"
    );
    events
}

/// Follows the audit chain so a scenario can check that each call appended exactly one event
/// (mutations) or none (refused writes and reads).
#[derive(Debug)]
pub struct AuditWatch {
    seen: usize,
}

impl AuditWatch {
    pub async fn new(store: &dyn Store) -> Self {
        Self { seen: verified_chain(store).await.len() }
    }

    /// The last call appended exactly `expected`, and the chain still verifies.
    pub async fn appended(&mut self, store: &dyn Store, expected: &AuditEntry) {
        let events = verified_chain(store).await;
        assert_eq!(events.len(), self.seen + 1, "{:?} appended exactly one audit event", expected.action);
        let last = events.last().expect("the chain is not empty");
        assert_eq!(&last.entry, expected, "the event appended is the one given");
        self.seen = events.len();
    }

    /// The last call appended nothing.
    pub async fn unchanged(&self, store: &dyn Store, why: &str) {
        assert_eq!(verified_chain(store).await.len(), self.seen, "{why}: no audit event appended");
    }
}

pub fn is_conflict<T: std::fmt::Debug>(r: &rekey_store::Result<T>) -> bool {
    matches!(r, Err(StoreError::Conflict { .. }))
}

pub fn is_not_found<T: std::fmt::Debug>(r: &rekey_store::Result<T>) -> bool {
    matches!(r, Err(StoreError::NotFound { .. }))
}
