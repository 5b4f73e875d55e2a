//! One storage story, run against every backend: SQLite always, PostgreSQL when
//! REKEY_TEST_POSTGRES_URL is set (a fresh schema per test). Covers the Store contract the
//! engine relies on: uniqueness, references, atomic change + audit, fencing, the hash chain,
//! and that sealed secrets never reach the database in the clear.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use chrono::{TimeZone, Utc};
use rekey_crypto::{seal, Secret, VaultKey};
use rekey_domain::{AccountId, CredentialKind, Phase, SecretState};
use rekey_store::*;
use serde_json::json;
use std::sync::Arc;

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
}

fn audit(action: &str) -> AuditEntry {
    AuditEntry {
        at: now(),
        actor: "test".into(),
        action: action.into(),
        target: None,
        outcome: "ok".into(),
        detail: json!({}),
    }
}

fn header() -> VaultHeader {
    VaultHeader {
        format: 1,
        key_source: "passphrase".into(),
        key_params: json!({"kdf": "x"}),
        wrapped_vault_key: vec![1, 2, 3],
        created_at: now(),
    }
}

fn provider(name: &str, source: Option<&str>) -> Provider {
    let auth = match source {
        Some(s) => ProviderAuth::AssumeRole {
            role_arn: "arn:aws:iam::123456789012:role/r".parse().unwrap(),
            external_id: None,
            source: Some(s.parse().unwrap()),
        },
        None => ProviderAuth::StaticKey { access_key_id: "AKIAEXAMPLE000001".into() },
    };
    Provider {
        name: name.parse().unwrap(),
        region: "us-east-1".parse().unwrap(),
        endpoint_url: None,
        auth,
        mfa_serial: None,
        created_at: now(),
        updated_at: now(),
    }
}

fn account(id: &str, provider: &str, user: &str, folder: Option<&str>) -> Account {
    Account {
        id: id.parse().unwrap(),
        provider: provider.parse().unwrap(),
        user_name: user.parse().unwrap(),
        user_id: format!("AIDA{user}"),
        arn: format!("arn:aws:iam::123456789012:user/{user}").parse().unwrap(),
        kind: CredentialKind::AccessKey,
        folder: folder.map(|f| f.parse().unwrap()),
        title: None,
        status: "ok".into(),
        settings: json!({}),
        created_at: now(),
        updated_at: now(),
        current_version: None,
        current_key_id: None,
        last_rotated_at: None,
        next_due_at: None,
        heartbeat: None,
    }
}

fn sealed(key: &VaultKey, record: &str, version: i64, state: SecretState, secret: &str) -> SecretVersion {
    let s = seal(key, record, version, &Secret::new(secret));
    SecretVersion {
        record_id: record.into(),
        version,
        state,
        key_id: Some(format!("AKIAKEY{version:010}")),
        origin: Origin::Created,
        wrapped_key: s.wrapped_key,
        ciphertext: s.ciphertext,
        created_at: now(),
    }
}

async fn chain_len(store: &dyn Store) -> usize {
    let events = store.audit_events(None, 100_000).await.unwrap();
    assert_eq!(chain::first_broken(&events), None, "the audit chain verifies");
    events.len()
}

/// The story: everything the engine relies on, against one backend.
async fn story(store: Arc<dyn Store>) {
    let s = store.as_ref();
    assert!(s.header().await.unwrap().is_none());
    s.init(&header(), &audit("vault.init")).await.unwrap();
    assert_eq!(s.header().await.unwrap().unwrap(), header());
    assert!(matches!(s.init(&header(), &audit("again")).await, Err(StoreError::Conflict { .. })));

    s.insert_provider(&provider("p", None), None, &audit("provider.add")).await.unwrap();
    s.insert_provider(&provider("child", Some("p")), None, &audit("provider.add")).await.unwrap();
    assert!(matches!(
        s.insert_provider(&provider("p", None), None, &audit("dup")).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(s.providers().await.unwrap().len(), 2);
    let before = chain_len(s).await;
    assert!(
        matches!(s.delete_provider(&"p".parse().unwrap(), &audit("x")).await, Err(StoreError::Conflict { .. })),
        "a source is in use"
    );
    assert_eq!(chain_len(s).await, before, "a refused write appends no event");

    let key = VaultKey::random();
    let marker = format!("PLAINTEXT-MARKER-{}", std::process::id());
    let a = account("aaaaaaaa", "child", "alice", Some("prod/payments"));
    s.insert_account(&a, Some(&sealed(&key, "aaaaaaaa", 1, SecretState::Current, &marker)), &audit("account.add"))
        .await
        .unwrap();
    s.insert_account(&account("bbbbbbbb", "child", "bob", Some("production")), None, &audit("account.add"))
        .await
        .unwrap();
    let before = chain_len(s).await;
    let dup = account("cccccccc", "child", "alice", None);
    assert!(matches!(s.insert_account(&dup, None, &audit("dup")).await, Err(StoreError::Conflict { .. })));
    assert_eq!(chain_len(s).await, before, "nothing of a failed insert is kept");
    assert!(matches!(
        s.delete_provider(&"child".parse().unwrap(), &audit("x")).await,
        Err(StoreError::Conflict { .. })
    ));

    let got = s.account(&"aaaaaaaa".parse().unwrap()).await.unwrap();
    assert_eq!(got.current_version, Some(1));
    assert_eq!(got.current_key_id.as_deref(), Some("AKIAKEY0000000001"));
    let by_path =
        s.find_account(&"child".parse().unwrap(), &"alice".parse().unwrap(), CredentialKind::AccessKey).await.unwrap();
    assert_eq!(by_path.id, got.id);
    let in_prod = s.accounts(&AccountFilter { folder: Some("prod".parse().unwrap()), provider: None }).await.unwrap();
    assert_eq!(
        in_prod.iter().map(|a| a.user_name.as_str()).collect::<Vec<_>>(),
        vec!["alice"],
        "prod/… but not production"
    );
    assert!(matches!(s.account(&"zzzzzzzz".parse().unwrap()).await, Err(StoreError::NotFound { .. })));

    // Leases and fencing.
    let id: AccountId = "aaaaaaaa".parse().unwrap();
    let LeaseOutcome::Acquired(f1) = s.acquire_lease(&id, "one", now(), 60_000, None).await.unwrap() else {
        panic!("free lease")
    };
    assert!(matches!(s.acquire_lease(&id, "two", now(), 60_000, None).await.unwrap(), LeaseOutcome::Held { .. }));
    let LeaseOutcome::Acquired(f2) = s.acquire_lease(&id, "two", now(), 60_000, Some("one")).await.unwrap() else {
        panic!("steal")
    };
    assert!(f2.token > f1.token);
    let rot = Rotation {
        id: "rot_1".into(),
        account_id: id.clone(),
        kind: CredentialKind::AccessKey,
        phase: Phase::Planned,
        old_key_id: None,
        new_key_id: None,
        old_version: Some(1),
        new_version: None,
        data: json!({}),
        error: None,
        started_at: now(),
        updated_at: now(),
        finished_at: None,
    };
    let w = |fence: &Fence, phase: Phase, secrets: Vec<SecretVersion>| JournalWrite {
        at: now(),
        fence: Some(fence.clone()),
        rotation: Some(Rotation { phase, ..rot.clone() }),
        new_secrets: secrets,
        audit: vec![audit("rotation.phase")],
        ..Default::default()
    };
    let before = chain_len(s).await;
    assert!(
        matches!(s.write(&w(&f1, Phase::Planned, vec![])).await, Err(StoreError::Fenced { .. })),
        "the old holder is fenced off"
    );
    assert_eq!(chain_len(s).await, before);
    s.write(&w(&f2, Phase::Created, vec![sealed(&key, "aaaaaaaa", 2, SecretState::Pending, &format!("{marker}-2"))]))
        .await
        .unwrap();
    assert_eq!(s.rotation("rot_1").await.unwrap().phase, Phase::Created);
    assert_eq!(s.rotations(Some(&id), true, 10).await.unwrap().len(), 1);
    let mut commit = w(&f2, Phase::Done, vec![]);
    commit.secret_states =
        vec![("aaaaaaaa".into(), 2, SecretState::Current), ("aaaaaaaa".into(), 1, SecretState::Previous)];
    commit.account = Some((
        id.clone(),
        AccountPatch { last_rotated_at: Some(now()), next_due_at: Some(Some(now())), ..Default::default() },
    ));
    s.write(&commit).await.unwrap();
    assert!(s.rotations(Some(&id), true, 10).await.unwrap().is_empty());
    assert_eq!(s.account(&id).await.unwrap().current_version, Some(2));
    assert_eq!(s.secret_in_state("aaaaaaaa", SecretState::Previous).await.unwrap().unwrap().version, 1);
    assert_eq!(s.due_accounts(now(), 10).await.unwrap().len(), 1);
    s.release_lease(&f2).await.unwrap();

    // Sealed versions open only as the row they belong to.
    let versions = s.secret_versions("aaaaaaaa").await.unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), vec![1, 2]);
    let v = &versions[0];
    let blob = rekey_crypto::Sealed { wrapped_key: v.wrapped_key.clone(), ciphertext: v.ciphertext.clone() };
    assert_eq!(rekey_crypto::open(&key, "aaaaaaaa", 1, &blob).unwrap().expose(), marker);
    assert!(rekey_crypto::open(&key, "bbbbbbbb", 1, &blob).is_err());

    // Concurrent appends still make one gap-free chain.
    let mut tasks = Vec::new();
    for t in 0..8 {
        let st = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                st.append_audit(&audit(&format!("load.{t}.{i}"))).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = chain_len(s).await;
    assert!(n >= 80);
}

/// After the plaintext scan: removing an account removes its secrets.
async fn delete_story(store: &dyn Store) {
    let id: AccountId = "aaaaaaaa".parse().unwrap();
    store.delete_account(&id, &audit("account.remove")).await.unwrap();
    assert!(store.secret_versions("aaaaaaaa").await.unwrap().is_empty(), "secrets go with their account");
    assert!(matches!(store.account(&id).await, Err(StoreError::NotFound { .. })));
}

/// Every byte the backend stores, for the plaintext scan.
async fn assert_no_plaintext(bytes: &[u8]) {
    let marker = format!("PLAINTEXT-MARKER-{}", std::process::id());
    assert!(!bytes.windows(marker.len()).any(|w| w == marker.as_bytes()), "a secret is stored in the clear");
}

#[tokio::test]
async fn sqlite_story() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let url = format!("sqlite:{}", path.display());
    assert!(matches!(open(&url, OpenMode::Existing).await, Err(StoreError::NoVault { .. })));
    assert!(!path.exists(), "opening a missing vault does not create it");
    let store = open(&url, OpenMode::Create).await.unwrap();
    story(store.clone()).await;
    let mut bytes = Vec::new();
    for suffix in ["", "-wal"] {
        bytes.extend(std::fs::read(format!("{}{suffix}", path.display())).unwrap_or_default());
    }
    assert!(bytes.len() > 10_000);
    assert!(bytes.windows(5).any(|w| w == b"alice"), "the scan reads the data");
    assert_no_plaintext(&bytes).await;
    delete_story(store.as_ref()).await;
}

#[tokio::test]
async fn postgres_story() {
    let Ok(base) = std::env::var("REKEY_TEST_POSTGRES_URL") else {
        eprintln!("skipped: REKEY_TEST_POSTGRES_URL not set");
        return;
    };
    let schema = format!("contract_{}_{}", std::process::id(), now().timestamp_subsec_nanos() ^ rand::random::<u32>());
    let admin = sqlx::PgPool::connect(&base).await.expect("REKEY_TEST_POSTGRES_URL is reachable");
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    assert!(matches!(open(&url, OpenMode::Existing).await, Err(StoreError::NoVault { .. })));
    let store = open(&url, OpenMode::Create).await.unwrap();
    story(store.clone()).await;
    let mut rows = String::new();
    for table in ["vault_header", "providers", "accounts", "secret_versions", "audit_events", "rotations", "leases"] {
        let texts: Vec<String> =
            sqlx::query_scalar(&format!("SELECT t::text FROM {schema}.{table} t")).fetch_all(&admin).await.unwrap();
        rows.push_str(&texts.join("\n"));
    }
    assert!(rows.contains("AIDAalice") && rows.contains("AKIAKEY0000000002"), "the scan reads the rows");
    assert_no_plaintext(rows.as_bytes()).await;
    delete_story(store.as_ref()).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await.unwrap();
}
