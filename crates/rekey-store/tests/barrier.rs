//! The barrier's storage contract (issue findings H2, L3, M1, M2), on every backend like
//! `contract.rs`: rows that steer secrets are signed when written and verified when read; a row
//! changed with SQL alone (no vault key) is refused, in a listing flagged without hiding the
//! others; a write never re-signs an altered row; a locked store touches none of them; and
//! `upgrade_barrier` signs an older vault once.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;
use rekey_crypto::VaultKey;
use rekey_domain::{CredentialKind, RotationSettings, SecretState};
use rekey_store::{
    chain, AccountFilter, AccountPatch, ApiToken, Barrier, JournalWrite, OpenMode, ProviderAuth, Store, StoreError,
};
use std::sync::Arc;

macro_rules! barrier_contract {
    ($($name:ident),* $(,)?) => {
        barrier_contract!(@backend sqlite, common::Backend::Sqlite, $($name),*);
        barrier_contract!(@backend postgres, common::Backend::Postgres, $($name),*);
    };
    (@backend $module:ident, $backend:expr, $($name:ident),*) => {
        mod $module {
            use super::common;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    common::run($backend, super::$name).await;
                }
            )*
        }
    };
}

barrier_contract! {
    h2_altered_provider_account_and_token_rows_are_refused,
    l3_a_flipped_secret_state_is_refused,
    h2_a_write_never_re_signs_an_altered_row,
    h2_a_locked_store_reads_and_writes_no_authenticated_row,
    m1_m2_upgrade_signs_an_older_vault_once,
}

fn is_tampered<T: std::fmt::Debug>(r: &rekey_store::Result<T>) -> bool {
    matches!(r, Err(StoreError::Tampered { .. }))
}

/// Provider `p`, accounts `svc` and `other` with a current version each, and a token `t1`.
async fn populated(loc: &Location) -> (Arc<dyn Store>, rekey_domain::AccountId, rekey_domain::AccountId) {
    let s = initialised(loc).await;
    let key = VaultKey::random();
    s.insert_provider(&provider("p", ProviderAuth::DefaultChain), None, &audit("provider.add", None)).await.unwrap();
    let mut ids = Vec::new();
    for user in ["svc", "other"] {
        let a = account("p", user, CredentialKind::AccessKey, None);
        let v1 = sealed(&key, a.id.as_str(), 1, SecretState::Current, "v1");
        s.insert_account(&a, Some(&v1), &audit("account.add", Some(a.id.as_str()))).await.unwrap();
        ids.push(a.id);
    }
    let token = ApiToken {
        id: "t1".into(),
        name: "ci".into(),
        role: rekey_domain::Role::Auditor,
        folders: vec!["team-a".parse().unwrap()],
        hash: "ab".repeat(32),
        created_at: at(1),
        expires_at: None,
        revoked_at: None,
    };
    s.insert_token(&token, &audit("token.create", None)).await.unwrap();
    let other = ids.pop().unwrap();
    (s, ids.pop().unwrap(), other)
}

async fn h2_altered_provider_account_and_token_rows_are_refused(loc: Arc<Location>) {
    let (s, svc, other) = populated(&loc).await;
    assert!(s.provider(&"p".parse().unwrap()).await.is_ok(), "untouched rows verify");
    assert!(s.account(&svc).await.is_ok());
    assert_eq!(s.token("t1").await.unwrap().role, rekey_domain::Role::Auditor);

    loc.execute("UPDATE providers SET endpoint_url = 'http://attacker.example' WHERE name = 'p'").await;
    assert!(is_tampered(&s.provider(&"p".parse().unwrap()).await), "a changed endpoint is refused");
    assert!(is_tampered(&s.providers().await), "and so is a listing holding it");

    let targets = r#"{"targets":[{"kind":"script","command":["/bin/sh","-c","id"]}]}"#;
    loc.execute(&format!("UPDATE accounts SET settings = '{targets}' WHERE id = '{svc}'")).await;
    assert!(is_tampered(&s.account(&svc).await), "an added delivery target is refused");
    let listed = s.accounts(&AccountFilter::default()).await.expect("a listing still answers");
    let flagged: Vec<_> = listed.iter().filter(|a| a.tampered.is_some()).map(|a| a.id.clone()).collect();
    assert_eq!(flagged, vec![svc.clone()], "only the altered account is flagged");
    assert!(listed.iter().any(|a| a.id == other && a.tampered.is_none()), "the others are listed as they are");

    loc.execute(&format!("UPDATE accounts SET folder = 'team-a' WHERE id = '{other}'")).await;
    assert!(is_tampered(&s.account(&other).await), "a moved folder is refused");

    loc.execute("UPDATE api_tokens SET role = 'admin', folders = '[]' WHERE id = 't1'").await;
    assert!(is_tampered(&s.token("t1").await), "a raised role is refused");
    let forged = format!(
        "INSERT INTO api_tokens (id, name, role, folders, hash, created_at) VALUES ('t2', 'x', 'admin', '[]', '{}', 0)",
        "cd".repeat(32)
    );
    loc.execute(&forged).await;
    assert!(is_tampered(&s.token("t2").await), "a token inserted with SQL is refused");
    assert!(is_tampered(&s.tokens().await));
}

async fn l3_a_flipped_secret_state_is_refused(loc: Arc<Location>) {
    let (s, svc, _) = populated(&loc).await;
    let key = VaultKey::random();
    let v2 = sealed(&key, svc.as_str(), 2, SecretState::Pending, "v2");
    s.write(&JournalWrite { at: at(5), new_secrets: vec![v2], audit: vec![audit("x", None)], ..Default::default() })
        .await
        .unwrap();
    s.write(&JournalWrite {
        at: at(6),
        secret_states: vec![(svc.to_string(), 1, SecretState::Retired), (svc.to_string(), 2, SecretState::Current)],
        audit: vec![audit("x", None)],
        ..Default::default()
    })
    .await
    .expect("states moved through the store are re-signed");
    assert_eq!(s.account(&svc).await.unwrap().current_version, Some(2));

    loc.execute(&format!("UPDATE secret_versions SET state = 'previous' WHERE record_id = '{svc}' AND version = 2"))
        .await;
    loc.execute(&format!("UPDATE secret_versions SET state = 'current' WHERE record_id = '{svc}' AND version = 1"))
        .await;
    assert!(is_tampered(&s.secret_versions(svc.as_str()).await), "a retired version made current is refused");
    assert!(is_tampered(&s.secret_in_state(svc.as_str(), SecretState::Current).await));
    assert!(is_tampered(&s.account(&svc).await), "the account's current version is checked with it");

    loc.execute(&format!("UPDATE secret_versions SET key_id = 'AKIAOTHER' WHERE record_id = '{svc}'")).await;
    assert!(is_tampered(&s.secret_versions(svc.as_str()).await), "a changed key id is refused");
}

async fn h2_a_write_never_re_signs_an_altered_row(loc: Arc<Location>) {
    let (s, svc, _) = populated(&loc).await;
    let every = |ms| RotationSettings { every_ms: Some(ms), ..Default::default() };
    let patch = |v: RotationSettings| JournalWrite {
        at: at(7),
        account: Some((svc.clone(), AccountPatch { settings: Some(v), ..Default::default() })),
        audit: vec![audit("account.set", None)],
        ..Default::default()
    };
    s.write(&patch(every(1000))).await.expect("a settings change through the store");
    assert_eq!(s.account(&svc).await.expect("re-signed").settings.typed(), Ok(&every(1000)));

    loc.execute(&format!("UPDATE accounts SET user_name = 'admin' WHERE id = '{svc}'")).await;
    let watch = AuditWatch::new(s.as_ref()).await;
    assert!(is_tampered(&s.write(&patch(every(2000))).await), "the altered row is not signed anew");
    watch.unchanged(s.as_ref(), "a refused write").await;
    assert!(is_tampered(&s.account(&svc).await), "and it stays refused");

    let auth = ProviderAuth::StaticKey { access_key_id: "AKIANEW".into() };
    loc.execute("UPDATE providers SET region = 'us-west-2' WHERE name = 'p'").await;
    let w = JournalWrite {
        at: at(8),
        provider_auth: Some(("p".parse().unwrap(), auth)),
        audit: vec![audit("x", None)],
        ..Default::default()
    };
    assert!(is_tampered(&s.write(&w).await), "a provider's auth is not re-signed over an altered row");

    loc.execute("UPDATE api_tokens SET role = 'admin' WHERE id = 't1'").await;
    assert!(is_tampered(&s.revoke_token("t1", at(9), &audit("token.revoke", None)).await));
}

async fn h2_a_locked_store_reads_and_writes_no_authenticated_row(loc: Arc<Location>) {
    let (_, svc, _) = populated(&loc).await;
    let locked = loc.open_locked(OpenMode::Existing).await.unwrap();
    assert!(locked.header().await.unwrap().is_some(), "the header is read before unlocking");
    assert!(matches!(locked.account(&svc).await, Err(StoreError::Sealed)));
    assert!(matches!(locked.providers().await, Err(StoreError::Sealed)));
    assert!(matches!(locked.token("t1").await, Err(StoreError::Sealed)));
    assert!(matches!(locked.append_audit(&audit("x", None)).await, Err(StoreError::Sealed)));
    let wrong = loc.open_locked(OpenMode::Existing).await.unwrap();
    wrong.install_barrier(Barrier::new(&VaultKey::random()));
    assert!(is_tampered(&wrong.account(&svc).await), "rows do not verify under another vault's key");
}

async fn m1_m2_upgrade_signs_an_older_vault_once(loc: Arc<Location>) {
    let (s, svc, _) = populated(&loc).await;
    // As an older rekey left it: no MACs, no key check, plain SHA-256 links.
    for t in ["providers", "accounts", "secret_versions", "api_tokens"] {
        loc.execute(&format!("UPDATE {t} SET mac = NULL")).await;
    }
    loc.execute("UPDATE vault_header SET key_check = NULL, audit_keyed_from = NULL").await;
    let mut prev = chain::GENESIS.to_owned();
    for e in s.audit_page(0, 1000).await.unwrap() {
        let hash = chain::event_hash(&prev, e.seq, &e.entry);
        loc.execute(&format!("UPDATE audit_events SET prev_hash = '{prev}', hash = '{hash}' WHERE seq = {}", e.seq))
            .await;
        prev = hash;
    }
    assert!(is_tampered(&s.account(&svc).await), "unsigned rows are refused before the upgrade");

    let n = s.upgrade_barrier(&audit("vault.upgrade", None)).await.expect("upgrade");
    assert_eq!((n.providers, n.accounts, n.secret_versions, n.api_tokens), (1, 2, 2, 1));
    assert!(s.account(&svc).await.is_ok() && s.token("t1").await.is_ok(), "signed");
    let h = s.header().await.unwrap().unwrap();
    assert_eq!(h.audit_keyed_from, Some(n.audit_keyed_from));
    let b = Barrier::new(&test_key());
    assert!(b.verify_key_check(h.vault_id.as_str(), n.audit_keyed_from, h.key_check.as_deref().unwrap()));
    s.append_audit(&audit("after", None)).await.unwrap();
    let events = s.audit_page(0, 1000).await.unwrap();
    assert_eq!(chain::first_broken(&events, b.audit_key(), n.audit_keyed_from), None, "plain links, then keyed ones");
    assert!(chain::first_broken(&events, b.audit_key(), 1).is_some(), "the plain links are not keyed ones");

    loc.execute(&format!("UPDATE accounts SET mac = NULL WHERE id = '{svc}'")).await;
    assert!(is_conflict(&s.upgrade_barrier(&audit("vault.upgrade", None)).await), "an upgraded vault is not re-signed");
    assert!(is_tampered(&s.account(&svc).await), "an unsigned row in an upgraded vault is altered");
}
