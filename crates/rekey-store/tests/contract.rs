//! The storage contract: one story, written once, run against every backend — SQLite always,
//! PostgreSQL when `REKEY_TEST_POSTGRES_URL` is set (a fresh schema per test). Each scenario is
//! an async fn; `contract!` turns it into one `#[tokio::test]` per backend (`sqlite::NAME`,
//! `postgres::NAME`). It covers what the engine relies on: opening and initialising,
//! uniqueness and references, atomic change + audit event, secret versions, fencing, the hash
//! chain under concurrency, and that sealed secrets never reach the database in the clear.

#[macro_use]
mod common;

use common::*;
use rekey_crypto::{Sealed, VaultKey};
use rekey_domain::{AccountId, AccountStatus, CredentialKind, Phase, Role, SecretState};
use rekey_store::{
    chain, Account, AccountFilter, AccountPatch, ApiToken, AuditEntry, Barrier, Checkout, Heartbeat, JournalWrite,
    LeaseOutcome, LeaseRecord, OpenMode, Provider, ProviderAuth, Rotation, SecretVersion, Store, StoreError, Unleased,
};
use serde_json::json;
use std::{collections::BTreeSet, sync::Arc};

contract! {
    location open_and_init,
    location vault_id_of_an_older_vault,
    store providers,
    store accounts,
    store secret_versions,
    store audit_chain,
    store leases_and_journal,
    store one_current_version,
    store scheduled_claim,
    store finished_rotations_stay_finished,
    location a_frozen_holder_stalls_nobody,
    location encryption_at_rest,
    store tokens_checkouts_cursors,
    store writes_beside_the_lease,
}

async fn open_and_init(loc: Arc<Location>) {
    for attempt in ["first", "second"] {
        let r = loc.open(OpenMode::Existing).await;
        assert!(matches!(r, Err(StoreError::NoVault { .. })), "{attempt} open of nothing: {r:?}");
    }
    let store = loc.open(OpenMode::Create).await.expect("Create makes a new vault");
    let expected_backend = if loc.backend == Backend::Sqlite { "sqlite" } else { "postgres" };
    assert_eq!(store.backend(), expected_backend);
    assert_eq!(store.header().await.expect("header"), None, "a new vault has no header yet");

    let h = header(&[0, 1, 2, 0xfe, 0xff]);
    let init = audit("vault.init", None);
    store.init(&h, &init).await.expect("init");
    let h = as_initialised(&h);
    assert_eq!(store.header().await.expect("header"), Some(h.clone()), "the header round-trips");
    let events = verified_chain(store.as_ref()).await;
    assert_eq!(events.iter().map(|e| &e.entry).collect::<Vec<_>>(), vec![&init], "init is audited");

    let watch = AuditWatch::new(store.as_ref()).await;
    let again = store.init(&header(b"other"), &audit("vault.init", None)).await;
    assert!(is_conflict(&again), "a second init is a conflict: {again:?}");
    watch.unchanged(store.as_ref(), "a refused init").await;
    assert_eq!(store.header().await.expect("header"), Some(h.clone()), "the first header stays");

    let reopened = loc.open(OpenMode::Existing).await.expect("the vault exists now");
    assert_eq!(reopened.header().await.expect("header"), Some(h.clone()));
    let recreated = loc.open(OpenMode::Create).await.expect("Create on an existing vault");
    assert_eq!(recreated.header().await.expect("header"), Some(h), "Create never wipes a vault");
    watch.unchanged(store.as_ref(), "opening").await;
}

/// A vault made before vault ids existed gets one from the migration, derived from its header
/// (the last 8 bytes of the wrapped vault key), so a backup restored later gets the same one.
async fn vault_id_of_an_older_vault(loc: Arc<Location>) {
    let store = loc.open(OpenMode::Create).await.expect("Create makes a new vault");
    let wrapped = [9, 9, 9, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10];
    store.init(&header(&wrapped), &audit("vault.init", None)).await.expect("init");
    drop(store);
    // As rekey left the vault before migration 0005.
    loc.execute("ALTER TABLE vault_header DROP COLUMN vault_id").await;
    loc.execute("DELETE FROM _sqlx_migrations WHERE version = 5").await;
    let reopened = loc.open(OpenMode::Existing).await.expect("the migrated vault opens");
    let h = reopened.header().await.expect("header").expect("the header is still there");
    assert_eq!(h.vault_id.as_str(), "fedcba9876543210", "derived from the wrapped key's last 8 bytes");
    assert_eq!(h.wrapped_vault_key, wrapped, "nothing else changed");
}

async fn providers(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let mut watch = AuditWatch::new(s).await;
    let stat = provider("static", static_key());
    let secret = sealed(&VaultKey::random(), &stat.secret_record(), 1, SecretState::Current, "provider-secret");
    add_provider(s, &mut watch, &stat, Some(&secret)).await;
    add_provider(s, &mut watch, &provider("chain", ProviderAuth::DefaultChain), None).await;
    let assumed = provider("assumed", assume_role(Some("static")));
    add_provider(s, &mut watch, &assumed, None).await;

    assert_eq!(s.provider(&stat.name).await.expect("get static"), stat);
    assert_eq!(s.provider(&assumed.name).await.expect("get assumed"), assumed);
    assert_eq!(provider_names(s).await, ["assumed", "chain", "static"], "listed by name");
    assert_eq!(s.secret_versions("provider/static").await.expect("versions"), vec![secret]);

    let dup = s.insert_provider(&provider("static", ProviderAuth::DefaultChain), None, &audit("x", None)).await;
    assert!(is_conflict(&dup), "duplicate name: {dup:?}");
    watch.unchanged(s, "a duplicate provider").await;
    assert_eq!(s.provider(&stat.name).await.expect("get").auth, static_key(), "the first one stays");

    let missing = "missing".parse().expect("name");
    assert!(is_not_found(&s.provider(&missing).await));
    assert!(is_not_found(&s.delete_provider(&missing, &audit("provider.remove", None)).await));
    watch.unchanged(s, "deleting a missing provider").await;

    let a = account("chain", "alice", CredentialKind::AccessKey, None);
    let e = audit("account.add", Some(a.id.as_str()));
    s.insert_account(&a, None, &e).await.expect("insert account");
    watch.appended(s, &e).await;
    for (name, why) in [("chain", "an account uses it"), ("static", "it is an assume-role source")] {
        let r = s.delete_provider(&name.parse().expect("name"), &audit("provider.remove", Some(name))).await;
        assert!(is_conflict(&r), "{name}: {why}: {r:?}");
        watch.unchanged(s, why).await;
    }
    assert_eq!(provider_names(s).await, ["assumed", "chain", "static"], "refused deletes keep the providers");
    assert_eq!(s.secret_versions("provider/static").await.expect("versions").len(), 1);

    // Only the exact source name protects a provider: `_` is no wildcard, case matters.
    for name in ["stat_c", "STATIC"] {
        add_provider(s, &mut watch, &provider(name, ProviderAuth::DefaultChain), None).await;
        remove_provider(s, &mut watch, name).await;
    }
    remove_provider(s, &mut watch, "assumed").await;
    remove_provider(s, &mut watch, "static").await;
    assert!(s.secret_versions("provider/static").await.expect("versions").is_empty(), "its secret goes with it");
    assert_eq!(provider_names(s).await, ["chain"]);
}

async fn add_provider(s: &dyn Store, watch: &mut AuditWatch, p: &Provider, secret: Option<&SecretVersion>) {
    let e = audit("provider.add", Some(p.name.as_str()));
    s.insert_provider(p, secret, &e).await.expect("insert provider");
    watch.appended(s, &e).await;
}

async fn remove_provider(s: &dyn Store, watch: &mut AuditWatch, name: &str) {
    let e = audit("provider.remove", Some(name));
    let name = name.parse().expect("name");
    s.delete_provider(&name, &e).await.expect("delete provider");
    watch.appended(s, &e).await;
    assert!(is_not_found(&s.provider(&name).await), "deleted");
}

async fn provider_names(s: &dyn Store) -> Vec<String> {
    s.providers().await.expect("providers").into_iter().map(|p| p.name.to_string()).collect()
}

async fn accounts(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let mut watch = AuditWatch::new(s).await;
    for name in ["prod-aws", "dev-aws"] {
        add_provider(s, &mut watch, &provider(name, ProviderAuth::DefaultChain), None).await;
    }
    let alice = account("prod-aws", "alice", CredentialKind::AccessKey, Some("prod/payments"));
    let v1 = sealed(&VaultKey::random(), alice.id.as_str(), 1, SecretState::Current, "alice-secret");
    let e = audit("account.add", Some(alice.id.as_str()));
    s.insert_account(&alice, Some(&v1), &e).await.expect("insert alice");
    watch.appended(s, &e).await;
    let others = [
        ("prod-aws", "bob", CredentialKind::Password, Some("production")),
        ("dev-aws", "carol", CredentialKind::AccessKey, Some("prod")),
        ("dev-aws", "dave", CredentialKind::AccessKey, None),
        ("dev-aws", "erin", CredentialKind::Password, Some("PROD/payments")),
        ("prod-aws", "frank", CredentialKind::AccessKey, Some("prod-eu/x")),
    ];
    let mut ids = Vec::new();
    for (p, user, kind, folder) in others {
        let a = account(p, user, kind, folder);
        let e = audit("account.add", Some(a.id.as_str()));
        s.insert_account(&a, None, &e).await.expect("insert account");
        watch.appended(s, &e).await;
        ids.push(a.id);
    }

    let got = s.account(&alice.id).await.expect("alice by id");
    let expected = Account { current_version: Some(1), current_key_id: v1.key_id.clone(), ..alice.clone() };
    assert_eq!(got, expected, "round-trips, with the current version filled in");
    let bob = s.account(&ids[0]).await.expect("bob by id");
    assert_eq!((bob.current_version, bob.current_key_id), (None, None), "no secret, no current version");
    let (prod, alice_name) = ("prod-aws".parse().expect("name"), "alice".parse().expect("name"));
    let found = s.find_account(&prod, &alice_name, CredentialKind::AccessKey).await.expect("find alice");
    assert_eq!(found, expected);
    assert!(is_not_found(&s.find_account(&prod, &alice_name, CredentialKind::Password).await));
    assert!(is_not_found(&s.account(&AccountId::random()).await));

    assert_eq!(users(s, None, None).await, ["carol", "dave", "erin", "alice", "bob", "frank"]);
    assert_eq!(users(s, Some("prod-aws"), None).await, ["alice", "bob", "frank"]);
    assert_eq!(users(s, None, Some("prod")).await, ["carol", "alice"], "prod and prod/…, not production");
    assert_eq!(users(s, None, Some("prod/payments")).await, ["alice"]);
    assert_eq!(users(s, Some("dev-aws"), Some("prod")).await, ["carol"]);
    assert_eq!(users(s, None, Some("prod-eu")).await, ["frank"]);
    assert!(users(s, None, Some("prod_eu")).await.is_empty(), "`_` in a folder is no wildcard");

    let dup = account("prod-aws", "alice", CredentialKind::AccessKey, None);
    let dup_secret = sealed(&VaultKey::random(), dup.id.as_str(), 1, SecretState::Current, "dup");
    let r = s.insert_account(&dup, Some(&dup_secret), &audit("account.add", Some(dup.id.as_str()))).await;
    assert!(is_conflict(&r), "same provider/user/kind: {r:?}");
    let orphan = account("nowhere", "zed", CredentialKind::AccessKey, None);
    let r = s.insert_account(&orphan, None, &audit("account.add", None)).await;
    assert!(is_conflict(&r), "unknown provider: {r:?}");
    watch.unchanged(s, "refused account inserts").await;
    assert!(is_not_found(&s.account(&dup.id).await) && is_not_found(&s.account(&orphan.id).await));
    assert!(s.secret_versions(dup.id.as_str()).await.expect("versions").is_empty(), "no secret kept");
    assert_eq!(users(s, None, None).await.len(), 6);

    let e = audit("account.remove", Some(alice.id.as_str()));
    s.delete_account(&alice.id, None, &e).await.expect("delete alice");
    watch.appended(s, &e).await;
    assert!(is_not_found(&s.account(&alice.id).await));
    assert!(s.secret_versions(alice.id.as_str()).await.expect("versions").is_empty(), "secrets go with it");
    assert!(is_not_found(&s.delete_account(&alice.id, None, &e).await));
    watch.unchanged(s, "deleting a missing account").await;
}

async fn users(s: &dyn Store, provider: Option<&str>, folder: Option<&str>) -> Vec<String> {
    let filter = AccountFilter {
        provider: provider.map(|p| p.parse().expect("provider name")),
        folder: folder.map(|f| f.parse().expect("folder")),
    };
    s.accounts(&filter).await.expect("accounts").into_iter().map(|a| a.user_name.to_string()).collect()
}

/// An account (of a fresh provider) with version 1 of its secret, current.
async fn account_with_secret(s: &dyn Store, key: &VaultKey, watch: &mut AuditWatch) -> (AccountId, SecretVersion) {
    add_provider(s, watch, &provider("p", ProviderAuth::DefaultChain), None).await;
    let a = account("p", "svc", CredentialKind::AccessKey, None);
    let v1 = sealed(key, a.id.as_str(), 1, SecretState::Current, "v1");
    let e = audit("account.add", Some(a.id.as_str()));
    s.insert_account(&a, Some(&v1), &e).await.expect("insert account");
    watch.appended(s, &e).await;
    (a.id, v1)
}

async fn secret_versions(store: Arc<dyn Store>) {
    let (s, key) = (store.as_ref(), VaultKey::random());
    let mut watch = AuditWatch::new(s).await;
    let (id, v1) = account_with_secret(s, &key, &mut watch).await;
    let rec = id.as_str();
    let [v2, v3, v4] = [2, 3, 4].map(|v| sealed(&key, rec, v, SecretState::Pending, &format!("v{v}")));

    let e = audit("rotation.created", Some(rec));
    s.write(&JournalWrite {
        at: at(5),
        new_secrets: vec![v3.clone(), v2.clone()],
        audit: vec![e.clone()],
        ..Default::default()
    })
    .await
    .expect("add versions");
    watch.appended(s, &e).await;
    let all = vec![v1.clone(), v2.clone(), v3.clone()];
    assert_eq!(s.secret_versions(rec).await.expect("versions"), all, "oldest first");
    assert_eq!(s.secret_in_state(rec, SecretState::Current).await.expect("current"), Some(v1.clone()));
    assert_eq!(s.secret_in_state(rec, SecretState::Pending).await.expect("pending"), Some(v3.clone()), "newest");
    assert_eq!(s.secret_in_state(rec, SecretState::Previous).await.expect("previous"), None);

    // A journal write is one transaction: any failing part leaves nothing behind.
    let dup =
        JournalWrite { at: at(5), new_secrets: vec![v4.clone(), v2], audit: vec![e.clone()], ..Default::default() };
    assert!(is_conflict(&s.write(&dup).await), "a version is never overwritten");
    let patch =
        Some((AccountId::random(), AccountPatch { status: Some(AccountStatus::NeedsRotation), ..Default::default() }));
    let gone = JournalWrite { at: at(5), new_secrets: vec![v4], account: patch, audit: vec![e], ..Default::default() };
    assert!(is_not_found(&s.write(&gone).await), "patching a missing account");
    watch.unchanged(s, "failed journal writes").await;
    assert_eq!(s.secret_versions(rec).await.expect("versions"), all, "no version 4");

    let e = audit("rotation.committed", Some(rec));
    let moves = [(3, SecretState::Current), (1, SecretState::Previous), (2, SecretState::Retired)];
    s.write(&JournalWrite {
        at: at(6),
        secret_states: moves.iter().map(|(v, st)| (rec.to_owned(), *v, *st)).collect(),
        account: Some((id.clone(), AccountPatch { last_rotated_at: Some(at(6)), ..Default::default() })),
        audit: vec![e.clone()],
        ..Default::default()
    })
    .await
    .expect("commit");
    watch.appended(s, &e).await;
    for (v, state) in moves {
        let found = s.secret_in_state(rec, state).await.expect("in state").map(|x| x.version);
        assert_eq!(found, Some(v), "{state:?}");
    }
    assert_eq!(s.secret_in_state(rec, SecretState::Pending).await.expect("pending"), None);
    let a = s.account(&id).await.expect("account");
    assert_eq!((a.current_version, a.current_key_id), (Some(3), v3.key_id), "the current pointer moved");
    assert_eq!((a.last_rotated_at, a.updated_at), (Some(at(6)), at(6)));
    assert!(s.secret_versions("nothing").await.expect("versions").is_empty());

    // A provider's versions in one query: every account's of that provider, none of another's.
    add_provider(s, &mut watch, &provider("q", ProviderAuth::DefaultChain), None).await;
    let other = account("q", "svc", CredentialKind::AccessKey, None);
    let other_v1 = sealed(&key, other.id.as_str(), 1, SecretState::Current, "q1");
    let e = audit("account.add", Some(other.id.as_str()));
    s.insert_account(&other, Some(&other_v1), &e).await.expect("insert account");
    watch.appended(s, &e).await;
    let of = |name: &str| name.parse().expect("a valid provider name");
    let ours = s.secret_versions(rec).await.expect("versions");
    assert_eq!(ours.len(), 3);
    assert_eq!(s.provider_secret_versions(&of("p")).await.expect("p's versions"), ours, "by account, oldest first");
    assert_eq!(s.provider_secret_versions(&of("q")).await.expect("q's versions"), vec![other_v1]);
    assert!(s.provider_secret_versions(&of("none")).await.expect("versions").is_empty());
    assert_eq!(s.secret_in_state("nothing", SecretState::Current).await.expect("none"), None);
}

async fn audit_chain(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let mut watch = AuditWatch::new(s).await;
    let e = AuditEntry {
        at: at(10),
        actor: "scheduler".into(),
        action: "heartbeat.run".into(),
        target: Some("abcdefgh".into()),
        outcome: "failed".into(),
        detail: json!({ "status": 403, "nested": { "b": [1, 2], "a": null } }),
    };
    let rec = s.append_audit(&e).await.expect("append");
    watch.appended(s, &e).await;
    assert_eq!((rec.seq, &rec.entry), (2, &e), "after the init event");
    assert_eq!(verified_chain(s).await.last(), Some(&rec), "stored as returned");
    assert_eq!(s.audit_page(0, 1).await.expect("page").iter().map(|r| r.seq).collect::<Vec<_>>(), [1]);
    assert_eq!(s.audit_page(1, 10).await.expect("page"), vec![rec.clone()]);
    assert_eq!(s.audit_events(Some(at(10)), 10).await.expect("since"), vec![rec]);
    assert!(s.audit_events(Some(at(11)), 10).await.expect("since").is_empty());

    let mut tasks = Vec::new();
    for t in 0..8 {
        let st = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                st.append_audit(&audit(&format!("load.{t}.{i}"), None)).await.expect("concurrent append");
            }
        }));
    }
    for t in tasks {
        t.await.expect("append task");
    }
    let events = verified_chain(s).await;
    assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=82).collect::<Vec<i64>>(), "gap-free");
    let loads: Vec<&str> = events[2..].iter().map(|e| e.entry.action.as_str()).collect();
    let expected: BTreeSet<String> = (0..8).flat_map(|t| (0..10).map(move |i| format!("load.{t}.{i}"))).collect();
    assert_eq!(loads.iter().map(|a| (*a).to_owned()).collect::<BTreeSet<_>>(), expected, "each append once");
    for t in 0..8 {
        let mine: Vec<&&str> = loads.iter().filter(|a| a.starts_with(&format!("load.{t}."))).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "task {t}'s appends in order");
    }

    // The verification is not vacuous: an altered event breaks the chain right there.
    let mut tampered = events;
    tampered[40].entry.outcome = "ok-really".into();
    assert_eq!(chain::first_broken(&tampered, Barrier::new(&test_key()).audit_key(), 1), Some(41));
}

async fn leases_and_journal(store: Arc<dyn Store>) {
    let (s, key) = (store.as_ref(), VaultKey::random());
    let mut watch = AuditWatch::new(s).await;
    let (id, _) = account_with_secret(s, &key, &mut watch).await;
    let acquire = |owner: &'static str, steal: Option<&'static str>| {
        let (store, id) = (store.clone(), id.clone());
        async move { store.acquire_lease(&id, owner, 60_000, steal).await.expect("acquire") }
    };
    let LeaseOutcome::Acquired(f1) = acquire("one", None).await else { panic!("a free lease is taken") };
    let state = s.lease_state(&id).await.expect("state").expect("held");
    assert!(
        state.token == f1.token && (1..=60_000).contains(&state.left_ms),
        "60 s by the database's clock: {state:?}"
    );
    let held = acquire("two", None).await;
    assert!(
        matches!(&held, LeaseOutcome::Held { owner, expires_at } if owner == "one" && *expires_at == state.expires_at),
        "{held:?}"
    );
    let stolen = acquire("two", Some("one")).await;
    let LeaseOutcome::TakenOver { fence: f2, from, last_renewed, at: taken_at } = stolen else {
        panic!("stolen from the dead: {stolen:?}")
    };
    assert_eq!(from, "one", "the takeover names the holder");
    assert!(last_renewed.is_some_and(|t| t <= taken_at), "and its last renewal, by the database's clock");
    assert!(f2.token > f1.token, "the token grows");
    assert!(!s.renew_lease(&f1, 60_000).await.expect("renew"), "the old holder lost it");
    assert!(s.renew_lease(&f2, 60_000).await.expect("renew"));

    let rot = Rotation {
        id: "rot_1".into(),
        account_id: id.clone(),
        kind: CredentialKind::AccessKey,
        phase: Phase::Created,
        old_key_id: Some("AKIA0000000000000001".into()),
        new_key_id: Some("AKIA0000000000000002".into()),
        old_version: Some(1),
        new_version: Some(2),
        data: json!({ "preflight": ["AKIA0000000000000001"] }),
        error: None,
        started_at: at(0),
        updated_at: at(0),
        finished_at: None,
    };
    let v2 = sealed(&key, id.as_str(), 2, SecretState::Pending, "v2");
    let e = audit("rotation.created", Some(id.as_str()));
    let mut w = JournalWrite {
        at: at(0),
        fence: Some(f1),
        rotation: Some(rot.clone()),
        new_secrets: vec![v2],
        audit: vec![e.clone()],
        ..Default::default()
    };
    assert!(matches!(s.write(&w).await, Err(StoreError::Fenced { .. })), "the old holder is fenced off");
    watch.unchanged(s, "a fenced write").await;
    assert!(is_not_found(&s.rotation("rot_1").await));
    assert_eq!(s.secret_versions(id.as_str()).await.expect("versions").len(), 1, "nothing of it was kept");

    w.fence = Some(f2.clone());
    s.write(&w).await.expect("fenced write by the holder");
    watch.appended(s, &e).await;
    assert_eq!(s.rotation("rot_1").await.expect("rotation"), rot);
    assert_eq!(s.rotations(Some(&id), true, 10).await.expect("open").len(), 1);

    let done = Rotation { phase: Phase::Done, updated_at: at(1), finished_at: Some(at(1)), ..rot };
    let e = audit("rotation.done", Some(id.as_str()));
    let patch = AccountPatch { last_rotated_at: Some(at(1)), next_due_at: Some(Some(at(30))), ..Default::default() };
    s.write(&JournalWrite {
        at: at(1),
        fence: Some(f2.clone()),
        rotation: Some(done.clone()),
        secret_states: vec![(id.to_string(), 2, SecretState::Current), (id.to_string(), 1, SecretState::Previous)],
        account: Some((id.clone(), patch)),
        audit: vec![e.clone()],
        ..Default::default()
    })
    .await
    .expect("commit");
    watch.appended(s, &e).await;
    assert!(s.rotations(Some(&id), true, 10).await.expect("open").is_empty(), "finished");
    assert_eq!(s.rotations(None, false, 10).await.expect("all"), vec![done]);
    assert_eq!(s.account(&id).await.expect("account").current_version, Some(2));
    assert!(s.due_accounts(at(30), 10).await.expect("due").is_empty(), "its lease is held: under way");
    s.release_lease(&f2).await.expect("release");
    assert!(s.due_accounts(at(29), 10).await.expect("due").is_empty());
    let due = s.due_accounts(at(30), 10).await.expect("due");
    assert_eq!(due.iter().map(|a| &a.id).collect::<Vec<_>>(), [&id]);

    let LeaseOutcome::Acquired(f3) = acquire("three", None).await else { panic!("released") };
    assert!(matches!(acquire("four", None).await, LeaseOutcome::Held { .. }));
    // Its holder renews it for a moment and stops: it expires by the database's clock.
    assert!(s.renew_lease(&f3, 20).await.expect("renew"));
    until_expired(s, &id).await;
    let expired = acquire("four", None).await;
    let LeaseOutcome::TakenOver { fence: f4, from, last_renewed, at: taken_at } = expired else {
        panic!("expired: {expired:?}")
    };
    assert_eq!(from, "three");
    assert!(last_renewed.is_some_and(|t| t < taken_at), "its holder stood still since its last renewal");
    let LeaseOutcome::Acquired(again) = acquire("four", None).await else { panic!("the holder takes it again") };
    assert!(again.token > f4.token, "taking it again fences off the holder's earlier token");
    let held = acquire("five", Some("nobody")).await;
    assert!(
        matches!(&held, LeaseOutcome::Held { owner, .. } if owner == "four"),
        "a steal must name the holder: {held:?}"
    );
    assert!(s.renew_lease(&again, 20).await.expect("renew"), "renewed");
    until_expired(s, &id).await;
    let at_expiry = acquire("five", None).await;
    assert!(
        matches!(&at_expiry, LeaseOutcome::TakenOver { from, last_renewed: Some(t), at, .. } if from == "four" && t < at),
        "free at its expiry: {at_expiry:?}"
    );
}

/// Waits until `account`'s lease has expired by the database's clock (or is free).
async fn until_expired(s: &dyn Store, account: &AccountId) {
    for _ in 0..3_000 {
        if s.lease_state(account).await.expect("state").is_none_or(|l| l.left_ms <= 0) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("the lease of {account} never expired");
}

/// At most one `current` version per record, whatever a writer asks for; a commit names the
/// version it replaces, so a stale writer can never replace a newer one.
async fn one_current_version(store: Arc<dyn Store>) {
    let (s, key) = (store.as_ref(), VaultKey::random());
    let mut watch = AuditWatch::new(s).await;
    let (id, _) = account_with_secret(s, &key, &mut watch).await;
    let rec = id.as_str();
    let v2 = sealed(&key, rec, 2, SecretState::Pending, "v2");
    s.write(&JournalWrite { at: at(1), new_secrets: vec![v2], ..Default::default() }).await.expect("pending");

    // A second current version, by a state change or by an insert, is refused whole.
    let e = audit("rotation.committed", Some(rec));
    let two = JournalWrite {
        at: at(2),
        secret_states: vec![(rec.to_owned(), 2, SecretState::Current)],
        audit: vec![e.clone()],
        ..Default::default()
    };
    assert!(is_conflict(&s.write(&two).await), "two current versions");
    let v3 = sealed(&key, rec, 3, SecretState::Current, "v3");
    let inserted = JournalWrite { at: at(2), new_secrets: vec![v3], audit: vec![e.clone()], ..Default::default() };
    assert!(is_conflict(&s.write(&inserted).await), "a new version inserted as a second current one");
    watch.unchanged(s, "refused second current versions").await;
    assert_eq!(s.secret_in_state(rec, SecretState::Current).await.expect("current").map(|v| v.version), Some(1));

    // A commit that expects another current version than the stored one writes nothing.
    let stale = JournalWrite {
        at: at(2),
        expect_current: Some((rec.to_owned(), Some(7))),
        secret_states: vec![(rec.to_owned(), 1, SecretState::Previous), (rec.to_owned(), 2, SecretState::Current)],
        audit: vec![e.clone()],
        ..Default::default()
    };
    let r = s.write(&stale).await;
    assert!(is_conflict(&r), "a commit replacing a version that is not current: {r:?}");
    watch.unchanged(s, "a stale commit").await;

    // The commit that names the current version goes through, whatever order its moves are in.
    let commit = JournalWrite { expect_current: Some((rec.to_owned(), Some(1))), ..stale };
    s.write(&commit).await.expect("commit");
    watch.appended(s, &e).await;
    let states: Vec<(i64, SecretState)> =
        s.secret_versions(rec).await.expect("versions").iter().map(|v| (v.version, v.state)).collect();
    assert_eq!(states, [(1, SecretState::Previous), (2, SecretState::Current)]);
    // Replayed (a second worker with the same view), it is refused: version 1 is no longer current.
    let replay = JournalWrite {
        at: at(3),
        expect_current: Some((rec.to_owned(), Some(1))),
        secret_states: vec![(rec.to_owned(), 1, SecretState::Current), (rec.to_owned(), 2, SecretState::Previous)],
        ..Default::default()
    };
    assert!(is_conflict(&s.write(&replay).await), "the same commit twice");
    assert_eq!(s.account(&id).await.expect("account").current_version, Some(2));
}

/// A scheduled rotation claims its period with its first write: only while the account is due.
async fn scheduled_claim(store: Arc<dyn Store>) {
    let (s, key) = (store.as_ref(), VaultKey::random());
    let mut watch = AuditWatch::new(s).await;
    let (id, _) = account_with_secret(s, &key, &mut watch).await;
    let due_at = |t| Some((id.clone(), AccountPatch { next_due_at: Some(Some(t)), ..Default::default() }));
    s.write(&JournalWrite { at: at(0), account: due_at(at(10)), ..Default::default() }).await.expect("schedule");
    let LeaseOutcome::Acquired(fence) = s.acquire_lease(&id, "w#1", 60_000, None).await.expect("lease") else {
        panic!("a free lease")
    };
    let rot = |n: &str| Rotation {
        id: n.into(),
        account_id: id.clone(),
        kind: CredentialKind::AccessKey,
        phase: Phase::Preflight,
        old_key_id: None,
        new_key_id: None,
        old_version: Some(1),
        new_version: None,
        data: json!({}),
        error: None,
        started_at: at(9),
        updated_at: at(9),
        finished_at: None,
    };
    let claim = |n: &str, when| JournalWrite {
        at: when,
        fence: Some(fence.clone()),
        claim_due: Some(id.clone()),
        rotation: Some(rot(n)),
        audit: vec![audit("rotation.phase", Some(id.as_str()))],
        ..Default::default()
    };
    let early = s.write(&claim("rot_early", at(9))).await;
    assert!(matches!(early, Err(StoreError::NotDue { .. })), "not yet due: {early:?}");
    watch.unchanged(s, "a claim before the due time").await;
    assert!(is_not_found(&s.rotation("rot_early").await));

    let first = claim("rot_first", at(10));
    s.write(&first).await.expect("the due account is claimed");
    watch.appended(s, &first.audit[0]).await;
    // The rotation commits: the schedule moves on in the same write.
    let done = Rotation { phase: Phase::Done, finished_at: Some(at(11)), ..rot("rot_first") };
    s.write(&JournalWrite {
        at: at(11),
        fence: Some(fence.clone()),
        rotation: Some(done),
        account: due_at(at(40)),
        ..Default::default()
    })
    .await
    .expect("commit");
    // A second worker that read the due list before the commit claims nothing.
    let second = s.write(&claim("rot_second", at(12))).await;
    assert!(matches!(second, Err(StoreError::NotDue { .. })), "rotated once per period: {second:?}");
    assert!(is_not_found(&s.rotation("rot_second").await));
    assert!(s.due_accounts(at(39), 10).await.expect("due").is_empty());

    // A due account whose lease a worker holds is not handed out, however late the caller's
    // clock says it is; its expiry by the database's clock frees it.
    assert!(s.due_accounts(at(40), 10).await.expect("due").is_empty(), "under way: not due again");
    assert!(s.renew_lease(&fence, 20).await.expect("renew"));
    until_expired(s, &id).await;
    assert_eq!(s.due_accounts(at(40), 10).await.expect("due").len(), 1, "the lease expired");
    assert!(s.renew_lease(&fence, 60_000).await.expect("renew"));
    assert!(s.due_accounts(at(40), 10).await.expect("due").is_empty(), "under way: not due again");
    s.release_lease(&fence).await.expect("release");
    assert_eq!(s.due_accounts(at(40), 10).await.expect("due").len(), 1, "released");
    assert_eq!(s.lease_state(&id).await.expect("state"), None, "a released lease has no holder");
}

/// A rotation in `done` or `aborted` is never written again (a worker resuming it read a
/// stale state).
async fn finished_rotations_stay_finished(store: Arc<dyn Store>) {
    let (s, key) = (store.as_ref(), VaultKey::random());
    let mut watch = AuditWatch::new(s).await;
    let (id, _) = account_with_secret(s, &key, &mut watch).await;
    let rot = Rotation {
        id: "rot_f".into(),
        account_id: id.clone(),
        kind: CredentialKind::AccessKey,
        phase: Phase::Verifying,
        old_key_id: None,
        new_key_id: None,
        old_version: Some(1),
        new_version: None,
        data: json!({}),
        error: None,
        started_at: at(0),
        updated_at: at(0),
        finished_at: None,
    };
    for phase in [Phase::Verifying, Phase::Aborting, Phase::Aborted] {
        let r = Rotation { phase, ..rot.clone() };
        s.write(&JournalWrite { at: at(1), rotation: Some(r), ..Default::default() }).await.expect("forward");
    }
    let e = audit("rotation.phase", Some(id.as_str()));
    let back = JournalWrite {
        at: at(2),
        rotation: Some(Rotation { phase: Phase::Committed, ..rot.clone() }),
        audit: vec![e],
        ..Default::default()
    };
    let r = s.write(&back).await;
    assert!(is_conflict(&r), "an aborted rotation resumed: {r:?}");
    watch.unchanged(s, "a write to a finished rotation").await;
    assert_eq!(s.rotation("rot_f").await.expect("rotation").phase, Phase::Aborted);
}

/// A node frozen inside a transaction (SIGSTOP, a link gone silent) stalls nobody: a lease grab
/// on the row it locked is answered at once (the row's stored owner holds the lease), and a write
/// waiting for a lock it holds goes through once the server ends its idle transaction
/// (`idle_in_transaction_session_timeout`, below `lock_timeout`). PostgreSQL only: SQLite serves
/// one host, where a frozen writer is bounded by the busy timeout.
async fn a_frozen_holder_stalls_nobody(loc: Arc<Location>) {
    use sqlx::{ConnectOptions, Executor};
    if loc.backend != Backend::Postgres {
        return;
    }
    let s = initialised(&loc).await;
    let mut watch = AuditWatch::new(s.as_ref()).await;
    let (id, _) = account_with_secret(s.as_ref(), &VaultKey::random(), &mut watch).await;
    let LeaseOutcome::Acquired(_) = s.acquire_lease(&id, "frozen#1", 60_000, None).await.expect("lease") else {
        panic!("a free lease")
    };
    // The frozen node: a session with the settings of every rekey session, stopped inside a
    // journal write (the lease row and the audit chain's advisory lock held).
    let options = <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(&loc.url)
        .expect("url")
        .options(rekey_store::SESSION_SETTINGS);
    let mut frozen = options.connect().await.expect("connect");
    frozen.execute("BEGIN").await.expect("begin");
    sqlx::query("SELECT token FROM leases WHERE account_id = $1 FOR UPDATE")
        .bind(id.as_str())
        .execute(&mut frozen)
        .await
        .expect("lock the lease row");
    frozen.execute("SELECT pg_advisory_xact_lock(x'72656b6579'::bigint)").await.expect("lock the audit chain");

    let other = loc.open(OpenMode::Existing).await.expect("another node");
    let grab = other.acquire_lease(&id, "other#1", 60_000, None).await.expect("answered while the row is locked");
    assert!(matches!(&grab, LeaseOutcome::Held { owner, .. } if owner == "frozen#1"), "{grab:?}");
    let e = audit("rotation.phase", Some(id.as_str()));
    other.append_audit(&e).await.expect("the write goes through once the frozen transaction is ended");
    watch.appended(other.as_ref(), &e).await;
    let mut ended = false;
    for _ in 0..300 {
        if frozen.execute("SELECT 1").await.is_err() {
            ended = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ended, "the server ended the frozen session");
}

async fn encryption_at_rest(loc: Arc<Location>) {
    let tag = format!("{:016x}", rand::random::<u64>());
    let marker = |n: &str| format!("PLAINTEXT-MARKER-{tag}-{n}");
    let (header_control, visible_control) = (format!("HEADER-CONTROL-{tag}"), format!("VISIBLE-CONTROL-{tag}"));
    let store = loc.open(OpenMode::Create).await.expect("create");
    let s = store.as_ref();
    s.init(&header(header_control.as_bytes()), &audit("vault.init", None)).await.expect("init");
    let key = VaultKey::random();
    let stat = provider("static", static_key());
    let p_secret = sealed(&key, &stat.secret_record(), 1, SecretState::Current, &marker("provider"));
    s.insert_provider(&stat, Some(&p_secret), &audit("provider.add", None)).await.expect("provider");
    let a = account("static", "alice", CredentialKind::AccessKey, None);
    let rec = a.id.as_str();
    let v1 = sealed(&key, rec, 1, SecretState::Current, &marker("v1"));
    s.insert_account(&a, Some(&v1), &audit("account.add", Some(rec))).await.expect("account");
    let mut e = audit("rotation.created", Some(rec));
    e.detail = json!({ "visible": visible_control });
    let v2 = sealed(&key, rec, 2, SecretState::Pending, &marker("v2"));
    s.write(&JournalWrite { at: at(0), new_secrets: vec![v2], audit: vec![e], ..Default::default() })
        .await
        .expect("second version");

    let stored = loc.stored_bytes().await;
    assert!(holds(&stored, visible_control.as_bytes()), "the scan sees the latest write");
    assert!(holds(&stored, header_control.as_bytes()), "the scan sees binary columns");
    for n in ["provider", "v1", "v2"] {
        assert!(!holds(&stored, marker(n).as_bytes()), "secret {n} is stored in the clear");
    }

    // A sealed row opens only as the record and version it was sealed for.
    let rows = s.secret_versions(rec).await.expect("versions");
    let blob = |i: usize| Sealed { wrapped_key: rows[i].wrapped_key.clone(), ciphertext: rows[i].ciphertext.clone() };
    for (i, n) in ["v1", "v2"].iter().enumerate() {
        let opened = rekey_crypto::open(&key, rec, rows[i].version, &blob(i)).expect("opens as its own row");
        assert_eq!(opened.expose(), marker(n));
    }
    assert!(rekey_crypto::open(&key, &AccountId::random().to_string(), 1, &blob(0)).is_err(), "wrong record id");
    assert!(rekey_crypto::open(&key, rec, 2, &blob(0)).is_err(), "wrong version");
    assert!(rekey_crypto::open(&VaultKey::random(), rec, 1, &blob(0)).is_err(), "wrong vault key");
    let p_row = &s.secret_versions("provider/static").await.expect("provider secret")[0];
    let p_blob = Sealed { wrapped_key: p_row.wrapped_key.clone(), ciphertext: p_row.ciphertext.clone() };
    assert_eq!(rekey_crypto::open(&key, "provider/static", 1, &p_blob).expect("opens").expose(), marker("provider"));
    assert!(rekey_crypto::open(&key, rec, 1, &p_blob).is_err(), "a provider secret is not an account's");
}

/// Server state: tokens (revocation is once only), exclusive check-outs with their lapse and
/// end, export cursors, and the stale-heartbeat query.
async fn tokens_checkouts_cursors(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let mut watch = AuditWatch::new(s).await;
    let token = ApiToken {
        id: "tk1".into(),
        name: "ci".into(),
        role: Role::Operator,
        folders: vec!["prod".parse().expect("a valid folder")],
        hash: "ab".repeat(32),
        created_at: at(1),
        expires_at: Some(at(50)),
        revoked_at: None,
    };
    let e = audit("token.create", Some("tk1"));
    s.insert_token(&token, &e).await.expect("insert token");
    watch.appended(s, &e).await;
    assert_eq!(s.token("tk1").await.expect("read token"), token);
    assert!(is_not_found(&s.token("tk2").await));
    let e = audit("token.revoke", Some("tk1"));
    s.revoke_token("tk1", at(5), &e).await.expect("revoke");
    watch.appended(s, &e).await;
    assert_eq!(s.tokens().await.expect("tokens")[0].revoked_at, Some(at(5)));
    assert!(is_conflict(&s.revoke_token("tk1", at(6), &e).await), "revoked twice");
    assert!(is_not_found(&s.revoke_token("nope", at(6), &e).await));
    watch.unchanged(s, "refused revocations").await;

    s.insert_provider(&provider("p", static_key()), None, &audit("provider.add", Some("p"))).await.expect("provider");
    let bob = account("p", "bob", CredentialKind::Password, None);
    s.insert_account(&bob, None, &audit("account.add", Some(bob.id.as_str()))).await.expect("account");
    let mut watch = AuditWatch::new(s).await;
    let c = Checkout {
        id: "co1".into(),
        account_id: bob.id.clone(),
        holder: "token:tk1".into(),
        started_at: at(10),
        expires_at: at(40),
        ended_at: None,
        end_reason: None,
    };
    let e = audit("account.checkout", Some(bob.id.as_str()));
    s.open_checkout(&c, &e).await.expect("check out");
    watch.appended(s, &e).await;
    let second = Checkout { id: "co2".into(), holder: "token:tk9".into(), ..c.clone() };
    assert!(is_conflict(&s.open_checkout(&second, &e).await), "a second open check-out");
    watch.unchanged(s, "refused check-out").await;
    assert_eq!(s.open_checkout_of(&bob.id).await.expect("open"), Some(c.clone()));
    assert!(s.expired_checkouts(at(39), 10).await.expect("expired").is_empty());
    let e = audit("account.checkin", Some(bob.id.as_str()));
    s.return_checkout("co1", at(20), &e).await.expect("check in");
    watch.appended(s, &e).await;
    let lapsed = s.expired_checkouts(at(20), 10).await.expect("expired");
    assert_eq!(lapsed.len(), 1, "a returned check-out lapses at once");
    assert_eq!((lapsed[0].expires_at, lapsed[0].end_reason.as_deref()), (at(20), Some("checked-in")));
    let e = audit("account.checkout-end", Some(bob.id.as_str()));
    s.end_checkout("co1", at(21), "rotated", None, &e).await.expect("end");
    watch.appended(s, &e).await;
    assert!(is_conflict(&s.end_checkout("co1", at(22), "rotated", None, &e).await), "ended twice");
    assert_eq!(s.open_checkout_of(&bob.id).await.expect("open"), None);
    assert!(s.expired_checkouts(at(59), 10).await.expect("expired").is_empty());
    s.open_checkout(&second, &audit("account.checkout", None)).await.expect("checked out again after the end");

    assert_eq!(s.export_cursor("siem").await.expect("cursor"), 0);
    s.set_export_cursor("siem", 7).await.expect("set");
    s.set_export_cursor("siem", 9).await.expect("set again");
    s.set_export_cursor("file", 3).await.expect("another");
    assert_eq!((s.export_cursor("siem").await.ok(), s.export_cursor("file").await.ok()), (Some(9), Some(3)));

    let stale: Vec<String> =
        s.stale_heartbeats(at(30), 10).await.expect("stale").iter().map(|a| a.user_name.to_string()).collect();
    assert_eq!(stale, ["bob"], "an account never heartbeaten is stale");
}

/// Writes of the work that holds no lease (a heartbeat) apply only while nobody took the lease
/// since it was read; removing an account and ending a check-out can be fenced by the lease.
async fn writes_beside_the_lease(store: Arc<dyn Store>) {
    let (s, key) = (store.as_ref(), VaultKey::random());
    let mut watch = AuditWatch::new(s).await;
    let (id, _) = account_with_secret(s, &key, &mut watch).await;
    assert_eq!(s.lease_record(&id).await.expect("lease"), None, "never taken");
    let beat = |minute: u32, token: i64| JournalWrite {
        at: at(minute),
        account: Some((
            id.clone(),
            AccountPatch {
                heartbeat: Some(Heartbeat {
                    at: at(minute),
                    status: rekey_domain::HeartbeatStatus::Ok,
                    detail: json!({}),
                }),
                ..Default::default()
            },
        )),
        audit: vec![audit("account.heartbeat", Some(id.as_str()))],
        unleased: Some(Unleased { account_id: id.clone(), token }),
        ..Default::default()
    };
    let w = beat(1, 0);
    s.write(&w).await.expect("never leased: the heartbeat is written");
    watch.appended(s, &w.audit[0]).await;

    let LeaseOutcome::Acquired(f1) = s.acquire_lease(&id, "rotation", 60_000, None).await.expect("acquire") else {
        panic!("a free lease is taken")
    };
    let held = s.lease_record(&id).await.expect("lease").expect("a lease row");
    assert_eq!((held.owner.as_str(), held.token), ("rotation", f1.token));
    assert!(held.held() && held.left_ms <= 60_000, "held for the lease's time by the database's clock: {held:?}");
    let LeaseRecord { expires_at, .. } = held;
    assert!(s.renew_lease(&f1, 1).await.expect("renew"), "still held");
    until_expired(s, &id).await;
    let lapsed = s.lease_record(&id).await.expect("lease").expect("a lease row");
    assert!(!lapsed.held() && lapsed.expires_at < expires_at, "held until it expires: {lapsed:?}");
    let w = beat(2, f1.token);
    s.write(&w).await.expect("expired by the database's clock, and not taken since the read");
    watch.appended(s, &w.audit[0]).await;
    assert!(s.renew_lease(&f1, 60_000).await.expect("renew"), "renewed by its holder");
    let refused = s.write(&beat(2, 0)).await;
    assert!(matches!(refused, Err(StoreError::Fenced { .. })), "taken since the read: {refused:?}");
    let refused = s.write(&beat(2, f1.token)).await;
    assert!(matches!(refused, Err(StoreError::Fenced { .. })), "held now: {refused:?}");
    watch.unchanged(s, "heartbeats beside a rotation").await;
    s.release_lease(&f1).await.expect("release");
    let released = s.lease_record(&id).await.expect("lease").expect("a lease row");
    assert!(!released.held() && released.token == f1.token, "released, its token kept: {released:?}");
    let w = beat(4, f1.token);
    s.write(&w).await.expect("nobody took it since the read");
    watch.appended(s, &w.audit[0]).await;
    assert_eq!(s.account(&id).await.expect("account").heartbeat.map(|h| h.at), Some(at(4)));

    let LeaseOutcome::Acquired(f2) = s.acquire_lease(&id, "remover", 60_000, None).await.expect("acquire") else {
        panic!("a released lease is taken")
    };
    let e = audit("account.remove", Some(id.as_str()));
    assert!(matches!(s.delete_account(&id, Some(&f1), &e).await, Err(StoreError::Fenced { .. })), "a stale remover");
    watch.unchanged(s, "a fenced removal").await;
    s.account(&id).await.expect("still there");
    s.delete_account(&id, Some(&f2), &e).await.expect("removed by the lease holder");
    watch.appended(s, &e).await;
    assert!(is_not_found(&s.account(&id).await));
    assert_eq!(s.lease_record(&id).await.expect("lease"), None, "the lease went with the account");
    assert!(!s.renew_lease(&f2, 60_000).await.expect("renew"), "nothing left to renew");
    // A lease taken on the id again (ending a check-out of the removed account takes one) never
    // repeats a token: a stale holder of the old lease is fenced by the new one.
    let LeaseOutcome::Acquired(again) = s.acquire_lease(&id, "ender", 60_000, None).await.expect("acquire") else {
        panic!("a lease on a removed account's id is free")
    };
    assert!(again.token > f2.token, "the new lease's token {} is above the removed one's {}", again.token, f2.token);
    for stale in [&f1, &f2] {
        let ended = s.delete_account(&id, Some(stale), &e).await;
        assert!(matches!(ended, Err(StoreError::Fenced { .. })), "a stale holder is fenced: {ended:?}");
    }
    s.release_lease(&again).await.expect("release");

    let bob = account("p", "bob", CredentialKind::Password, None);
    s.insert_account(&bob, None, &audit("account.add", Some(bob.id.as_str()))).await.expect("account");
    let c = Checkout {
        id: "co1".into(),
        account_id: bob.id.clone(),
        holder: "token:tk1".into(),
        started_at: at(10),
        expires_at: at(20),
        ended_at: None,
        end_reason: None,
    };
    s.open_checkout(&c, &audit("account.checkout", Some(bob.id.as_str()))).await.expect("check out");
    let LeaseOutcome::Acquired(old) = s.acquire_lease(&bob.id, "one", 1, None).await.expect("acquire") else {
        panic!("a free lease is taken")
    };
    until_expired(s, &bob.id).await;
    let LeaseOutcome::TakenOver { fence: new, .. } =
        s.acquire_lease(&bob.id, "two", 60_000, None).await.expect("acquire")
    else {
        panic!("an expired lease is taken over")
    };
    let mut watch = AuditWatch::new(s).await;
    let e = audit("account.checkout-end", Some(bob.id.as_str()));
    let stale = s.end_checkout("co1", at(23), "rotated", Some(&old), &e).await;
    assert!(matches!(stale, Err(StoreError::Fenced { .. })), "a stale worker ends nothing: {stale:?}");
    watch.unchanged(s, "a fenced check-out end").await;
    s.end_checkout("co1", at(23), "rotated", Some(&new), &e).await.expect("ended by the lease holder");
    watch.appended(s, &e).await;
    assert_eq!(s.open_checkout_of(&bob.id).await.expect("open"), None);
}
