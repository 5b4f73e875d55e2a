//! One vault behind the app: providers `p` and `q` on one fake AWS account; `svc` (access key)
//! and `alice` (password) in folder `ops/team` through `p`; `bob` (access key) in `finance`
//! through `q`; a rotation of `svc` and one of `bob`; tokens of every role, unconfined and
//! confined to `ops` or `finance`.

use axum::{
    body::Body,
    extract::ConnectInfo,
    http::{HeaderMap, Method, Request, StatusCode},
    Router,
};
use http_body_util::BodyExt;
use rekey_aws::fake::FakeAws;
use rekey_crypto::Secret;
use rekey_domain::{CredentialKind, SystemClock};
use rekey_engine::{
    AccountChanges, AccountRef, AuthSpec, Deps, Engine, FakeConnector, InitialKey, MasterKey, NewAccount, NewProvider,
    RotateOptions,
};
use rekey_server::{auth::Role, AppState, Config, Shared};
use rekey_store::{Account, OpenMode};
use serde_json::Value;
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc,
    },
};

/// A token of the world: its name in the matrix, role, folders and bearer.
pub struct Token {
    pub name: &'static str,
    pub role: Role,
    pub folders: Vec<&'static str>,
    pub bearer: String,
}

pub struct World {
    dir: tempfile::TempDir,
    pub aws: FakeAws,
    pub engine: Arc<Engine>,
    pub state: AppState,
    pub app: Router,
    pub tokens: Vec<Token>,
    pub svc: Account,
    pub alice: Account,
    pub bob: Account,
    pub rotation_ops: String,
    pub rotation_finance: String,
    sources: AtomicU32,
}

/// An answer: status, headers, and the body as JSON (or as a JSON string when it is not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl World {
    pub async fn new() -> Self {
        Self::with_config(Config::default()).await
    }

    pub async fn with_config(config: Config) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("vault.db").display());
        let store = rekey_store::open(&url, OpenMode::Create).await.unwrap();
        let aws = FakeAws::new(Arc::new(SystemClock));
        let deps = Deps {
            store,
            clock: Arc::new(SystemClock),
            actor: "test".into(),
            aws: Arc::new(FakeConnector(aws.clone())),
        };
        let engine =
            Arc::new(Engine::init(deps, MasterKey::Passphrase(Secret::new("a long test passphrase"))).await.unwrap());
        aws.add_user("admin");
        for name in ["p", "q"] {
            let key = aws.add_key("admin");
            let auth = AuthSpec::StaticKey { access_key_id: key.0.parse().unwrap(), secret: Secret::new(key.1) };
            let p = NewProvider {
                name: name.parse().unwrap(),
                region: "us-east-1".parse().unwrap(),
                endpoint_url: None,
                auth,
            };
            engine.add_provider(p).await.unwrap();
        }
        let svc = add(&engine, &aws, "p", "svc", CredentialKind::AccessKey, "ops/team").await;
        let alice = add(&engine, &aws, "p", "alice", CredentialKind::Password, "ops/team").await;
        let bob = add(&engine, &aws, "q", "bob", CredentialKind::AccessKey, "finance").await;
        let rotation_ops = rotate(&engine, &svc).await;
        let rotation_finance = rotate(&engine, &bob).await;
        let mut tokens = Vec::new();
        for (name, role, folders) in [
            ("admin", Role::Admin, vec![]),
            ("admin@ops", Role::Admin, vec!["ops"]),
            ("operator", Role::Operator, vec![]),
            ("operator@ops", Role::Operator, vec!["ops"]),
            ("operator@finance", Role::Operator, vec!["finance"]),
            ("auditor", Role::Auditor, vec![]),
            ("auditor@ops", Role::Auditor, vec!["ops"]),
        ] {
            let f = folders.iter().map(|f| f.parse().unwrap()).collect();
            let minted = engine.create_token(name, role, f, None).await.unwrap();
            tokens.push(Token { name, role, folders, bearer: minted.bearer.expose().to_owned() });
        }
        let state = Shared::new(engine.clone(), config);
        let app = rekey_server::app(state.clone());
        let svc = engine.account(&AccountRef::Id(svc.id)).await.unwrap();
        Self {
            dir,
            aws,
            engine,
            state,
            app,
            tokens,
            svc,
            alice,
            bob,
            rotation_ops,
            rotation_finance,
            sources: AtomicU32::new(1),
        }
    }

    pub fn token(&self, name: &str) -> &str {
        &self.tokens.iter().find(|t| t.name == name).unwrap().bearer
    }

    /// A request from a source address of its own (so failed logins of one test step do not
    /// throttle the next).
    pub async fn call(&self, method: &str, uri: &str, token: Option<&str>, body: Option<&str>) -> Answer {
        let n = self.sources.fetch_add(1, Ordering::Relaxed);
        let source = SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 40000));
        self.call_from(source, method, uri, token, body).await
    }

    /// A request from `source`.
    pub async fn call_from(
        &self,
        source: SocketAddr,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let mut req = Request::builder().method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap()).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        self.send(source, req.body(Body::from(body.unwrap_or("").to_owned())).unwrap()).await
    }

    /// Sends a request built by the caller.
    pub async fn send(&self, source: SocketAddr, mut req: Request<Body>) -> Answer {
        use tower::ServiceExt;
        req.extensions_mut().insert(ConnectInfo(source));
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer { status, headers, body }
    }

    /// Runs one SQL statement on the vault's database behind rekey's back (as someone with
    /// write access to the file, without the master key, could); returns the rows it changed.
    pub async fn sql(&self, statement: &str, binds: &[&str]) -> u64 {
        let url = format!("sqlite://{}", self.dir.path().join("vault.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let mut q = sqlx::query(statement);
        for b in binds {
            q = q.bind(*b);
        }
        let n = q.execute(&pool).await.unwrap().rows_affected();
        pool.close().await;
        n
    }

    /// The first column of every row `query` selects, as text.
    pub async fn sql_texts(&self, query: &str, binds: &[&str]) -> Vec<String> {
        let url = format!("sqlite://{}", self.dir.path().join("vault.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let mut q = sqlx::query_scalar::<_, String>(query);
        for b in binds {
            q = q.bind(*b);
        }
        let rows = q.fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    }

    /// The OpenAPI document, as served.
    pub async fn doc(&self) -> Value {
        let a = self.call("GET", "/openapi.json", None, None).await;
        assert_eq!(a.status, StatusCode::OK);
        a.body
    }
}

async fn add(
    engine: &Engine,
    aws: &FakeAws,
    provider: &str,
    user: &str,
    kind: CredentialKind,
    folder: &str,
) -> Account {
    aws.add_user(user);
    let (password, key) = match kind {
        CredentialKind::Password => {
            aws.set_password(user, "Initial-Password-1!");
            (Some(Secret::new("Initial-Password-1!")), None)
        }
        CredentialKind::AccessKey => {
            let k = aws.add_key(user);
            (None, Some(InitialKey::Adopt { access_key_id: k.0.parse().unwrap(), secret: Secret::new(k.1) }))
        }
    };
    let new = NewAccount {
        provider: provider.parse().unwrap(),
        user: user.parse().unwrap(),
        kind,
        folder: None,
        title: None,
        password,
        key,
    };
    let a = engine.add_account(new).await.unwrap();
    let changes = AccountChanges { folder: Some(Some(folder.parse().unwrap())), title: None };
    engine
        .set_account(&AccountRef::Id(a.id), changes, |s| {
            s.verify.successes = 1;
            s.verify.backoff_ms = 1;
        })
        .await
        .unwrap()
}

async fn rotate(engine: &Engine, account: &Account) -> String {
    let report = engine.rotate(account, &RotateOptions::default()).await.unwrap();
    report.rotation.expect("a rotation id")
}

/// Asserts the body is exactly the error shape `{code, message, hint}` with `code`.
pub fn assert_error(a: &Answer, code: &str, context: &str) {
    let obj = a.body.as_object().unwrap_or_else(|| panic!("{context}: not a JSON object: {}", a.body));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "hint", "message"], "{context}: {}", a.body);
    assert_eq!(a.body["code"], code, "{context}: {}", a.body);
    assert!(a.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{context}: {}", a.body);
    assert!(a.body["hint"].is_string() || a.body["hint"].is_null(), "{context}: {}", a.body);
    let ctype = a.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(ctype.starts_with("application/json"), "{context}: content-type {ctype}");
}
