//! Shared world of the engine's delivery and retirement tests: a vault on SQLite, the IAM
//! double with a manual clock, provider `p` and user svc's key adopted as an account.
#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chrono::{TimeZone, Utc};
use rekey_aws::fake::FakeAws;
use rekey_crypto::Secret;
use rekey_domain::{CredentialKind, ManualClock, RotationSettings, Target};
use rekey_engine::{
    AccountRef, AuthSpec, Deps, Engine, FakeConnector, InitialKey, MasterKey, NewAccount, NewProvider, RotateOptions,
};
use rekey_store::{Account, OpenMode};
use std::sync::Arc;

pub const TOKEN: &str = "fake-token-0123456789";

pub struct World {
    pub _dir: tempfile::TempDir,
    pub clock: Arc<ManualClock>,
    pub aws: FakeAws,
    pub engine: Engine,
    pub account: Account,
    pub old: (String, String),
}

/// A vault with provider `p` and user svc's key adopted, verified by one success.
pub async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("v.db").display());
    let store = rekey_store::open(&url, OpenMode::Create).await.unwrap();
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
    let aws = FakeAws::new(clock.clone());
    let deps = Deps { store, clock: clock.clone(), actor: "test".into(), aws: Arc::new(FakeConnector(aws.clone())) };
    let engine = Engine::init(deps, MasterKey::Passphrase(Secret::new("a long test passphrase"))).await.unwrap();
    aws.add_user("admin");
    let admin = aws.add_key("admin");
    let auth = AuthSpec::StaticKey { access_key_id: admin.0.parse().unwrap(), secret: Secret::new(admin.1) };
    let p = NewProvider { name: "p".parse().unwrap(), region: "us-east-1".parse().unwrap(), endpoint_url: None, auth };
    engine.add_provider(p).await.unwrap();
    aws.add_user("svc");
    let old = aws.add_key("svc");
    let new = NewAccount {
        provider: "p".parse().unwrap(),
        user: "svc".parse().unwrap(),
        kind: CredentialKind::AccessKey,
        folder: None,
        title: None,
        password: None,
        key: Some(InitialKey::Adopt { access_key_id: old.0.parse().unwrap(), secret: Secret::new(old.1.clone()) }),
    };
    let account = engine.add_account(new).await.unwrap();
    World { _dir: dir, clock, aws, engine, account, old }
}

impl World {
    /// Edits the account's settings (verification: one success, 1 ms backoff).
    pub async fn settings(&self, edit: impl FnOnce(&mut RotationSettings) + Send) {
        self.engine
            .set_account(
                &AccountRef::Id(self.account.id.clone()),
                Default::default(),
                move |s: &mut RotationSettings| {
                    s.verify.successes = 1;
                    s.verify.backoff_ms = 1;
                    edit(s);
                },
            )
            .await
            .unwrap();
    }

    pub async fn targets(&self, targets: Vec<Target>) {
        self.settings(move |s| s.targets = targets).await;
    }

    pub async fn current(&self) -> (String, String) {
        let (a, secret) = self.engine.reveal(&AccountRef::Id(self.account.id.clone())).await.unwrap();
        (a.current_key_id.unwrap(), secret.expose().to_owned())
    }

    pub async fn rotate(&self) -> rekey_engine::RotationReport {
        self.engine.rotate(&self.account, &RotateOptions::default()).await.unwrap()
    }
}
