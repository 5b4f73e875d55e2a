//! The listings' storage contract, on every backend like `contract.rs`: account pages keep
//! their order and never repeat or skip an item while accounts are added between pages; every
//! filter and the folder scope select exactly the accounts a plain model of the fixture says;
//! each overview count equals the total of the matching filter; the rotation journal and the
//! audit log page newest first; a filtered total stops at its cap, an unfiltered one never;
//! the metrics' account gauges count as the list does; reads of single items made at once (which
//! one statement may answer together) each get what a read alone gets.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[macro_use]
mod common;

use chrono::{DateTime, Utc};
use common::*;
use rekey_crypto::VaultKey;
use rekey_domain::{AccountId, CredentialKind, JournalOutcome, Phase, SecretState};
use rekey_store::listing::{
    AccountPage, AccountQuery, AccountSort, AuditQuery, Count, Cursor, CursorKey, HeartbeatFilter, Order,
    RotationQuery, TOTAL_CAP,
};
use rekey_store::{Account, AccountPatch, Checkout, Heartbeat, JournalWrite, Rotation, Store};
use serde_json::json;
use std::{collections::BTreeSet, sync::Arc};

contract! {
    store account_pages_are_stable,
    store account_filters_and_overview,
    store journal_and_audit_newest_first,
    store filtered_totals_stop_at_the_cap,
    location items_read_at_once_are_each_answered_as_if_alone,
}

const N: usize = 30;

/// What the fixture gave account `i`, for the model the filters are checked against.
struct Fact {
    id: AccountId,
    user: String,
    folder: Option<&'static str>,
    kind: CredentialKind,
    due: Option<u32>,
    rotated: Option<u32>,
    heartbeat: Option<&'static str>,
    foreign: bool,
    checked_out: bool,
    failed_rotation: bool,
}

fn now() -> DateTime<Utc> {
    at(30)
}

fn folder_of(i: usize) -> Option<&'static str> {
    [Some("ops/team"), Some("ops"), Some("finance"), None, Some("opsx")][i % 5]
}

/// Account `i` with its schedule, heartbeat, check-out and rotations.
async fn add(s: &dyn Store, i: usize) -> Fact {
    let kind = if i.is_multiple_of(3) { CredentialKind::Password } else { CredentialKind::AccessKey };
    let user = format!("u{i:02}");
    let a = account(if i.is_multiple_of(2) { "p" } else { "q" }, &user, kind, folder_of(i));
    let secret = (i == 4).then(|| sealed(&VaultKey::random(), a.id.as_str(), 1, SecretState::Current, "s"));
    s.insert_account(&a, secret.as_ref(), &audit("account.add", Some(a.id.as_str()))).await.unwrap();
    let due = [Some(10), Some(50), None, None][i % 4];
    let rotated = i.is_multiple_of(2).then_some(u32::try_from(i).unwrap());
    let beat = [None, Some(("ok", json!([]))), Some(("failed", json!([])))][i % 3].clone();
    let beat = if i % 5 == 3 { Some(("drift", json!(["AKIAFOREIGN"]))) } else { beat };
    let patch = AccountPatch {
        next_due_at: Some(due.map(at)),
        last_rotated_at: rotated.map(at),
        heartbeat: beat.clone().map(|(status, foreign)| Heartbeat {
            at: at(20),
            status: status.parse().unwrap(),
            detail: json!({ "findings": [], "foreign_keys": foreign }),
        }),
        ..Default::default()
    };
    s.write(&JournalWrite { at: at(5), account: Some((a.id.clone(), patch)), ..Default::default() }).await.unwrap();
    let checked_out = kind == CredentialKind::Password && i.is_multiple_of(2);
    if checked_out {
        let c = Checkout {
            id: format!("co{i}"),
            account_id: a.id.clone(),
            holder: "token:tk".into(),
            started_at: at(6),
            expires_at: at(59),
            ended_at: None,
            end_reason: None,
        };
        s.open_checkout(&c, &audit("account.checkout", Some(a.id.as_str()))).await.unwrap();
    }
    // Oldest first; the last one decides `rotation_failed`.
    let history: &[(Phase, Option<&str>)] = match i % 4 {
        0 => &[(Phase::Done, None), (Phase::Aborted, Some("x"))],
        1 => &[(Phase::Aborted, Some("x")), (Phase::Done, None)],
        2 => &[(Phase::Verifying, Some("stuck"))],
        _ => &[],
    };
    for (n, (phase, error)) in history.iter().enumerate() {
        let r = rotation(&a, &format!("rot{i:02}_{n}"), *phase, *error, u32::try_from(n + i).unwrap());
        s.write(&JournalWrite { at: at(7), rotation: Some(r), ..Default::default() }).await.unwrap();
    }
    Fact {
        id: a.id,
        user,
        folder: folder_of(i),
        kind,
        due,
        rotated,
        heartbeat: beat.map(|b| b.0),
        foreign: i % 5 == 3,
        checked_out,
        failed_rotation: i % 4 != 1 && i % 4 != 3,
    }
}

fn rotation(a: &Account, id: &str, phase: Phase, error: Option<&str>, minute: u32) -> Rotation {
    Rotation {
        id: id.into(),
        account_id: a.id.clone(),
        kind: a.kind,
        phase,
        old_key_id: None,
        new_key_id: None,
        old_version: None,
        new_version: None,
        data: json!({}),
        error: error.map(Into::into),
        started_at: at(minute),
        updated_at: at(minute),
        finished_at: phase.is_final().then(|| at(minute)),
    }
}

async fn fixture(s: &dyn Store) -> Vec<Fact> {
    for p in ["p", "q"] {
        s.insert_provider(&provider(p, static_key()), None, &audit("provider.add", Some(p))).await.unwrap();
    }
    let mut facts = Vec::new();
    for i in 0..N {
        facts.push(add(s, i).await);
    }
    facts
}

/// Every page of `q` sorted by `sort`, `limit` at a time: the items' ids and sort keys, and the
/// total each page reported.
async fn all_pages(s: &dyn Store, q: &AccountQuery, sort: AccountSort, order: Order) -> (Vec<String>, i64) {
    let mut page = AccountPage { sort, order, limit: 7, after: None, count: Count::default() };
    let mut ids = Vec::new();
    let mut totals = BTreeSet::new();
    loop {
        let got = s.account_page(q, &page).await.unwrap();
        assert!(got.items.len() <= 7);
        ids.extend(got.items.iter().map(|i| i.account.id.to_string()));
        totals.insert(got.total);
        assert!(got.total_exact, "{} accounts are under the cap", got.total);
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    assert_eq!(totals.len(), 1, "every page reports the same total: {totals:?}");
    (ids, totals.into_iter().next().unwrap())
}

fn query() -> AccountQuery {
    AccountQuery { now: now(), ..Default::default() }
}

async fn account_pages_are_stable(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let facts = fixture(s).await;
    let key = |f: &Fact, sort: AccountSort| -> i64 {
        let ms = |m: u32| at(m).timestamp_millis();
        match sort {
            AccountSort::Due => f.due.map_or(i64::MAX, ms),
            AccountSort::Age => -f.rotated.map_or(ms(3), ms),
            AccountSort::LastRotated => f.rotated.map_or(0, ms),
            AccountSort::Name => f.user[1..].parse().unwrap(),
        }
    };
    for sort in [AccountSort::Name, AccountSort::Due, AccountSort::Age, AccountSort::LastRotated] {
        for order in [Order::Asc, Order::Desc] {
            let (ids, total) = all_pages(s, &query(), sort, order).await;
            assert_eq!((ids.len(), total), (N, N as i64), "{sort:?} {order:?}: every account once");
            assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), N, "{sort:?} {order:?}: no repeats");
            let keys: Vec<i64> =
                ids.iter().map(|id| key(facts.iter().find(|f| f.id.as_str() == id).unwrap(), sort)).collect();
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            if order == Order::Desc {
                sorted.reverse();
            }
            assert_eq!(keys, sorted, "{sort:?} {order:?}: in order");
        }
    }
    // Accounts added between pages neither repeat nor push out what was listed already.
    let page = AccountPage { sort: AccountSort::Name, order: Order::Asc, limit: 7, ..Default::default() };
    let first = s.account_page(&query(), &page).await.unwrap();
    for user in ["u03b", "u99"] {
        let a = account("p", user, CredentialKind::AccessKey, None);
        s.insert_account(&a, None, &audit("account.add", Some(a.id.as_str()))).await.unwrap();
    }
    let mut names: Vec<String> = first.items.iter().map(|i| i.account.user_name.to_string()).collect();
    let mut after = first.next.clone();
    while let Some(c) = after {
        let got = s.account_page(&query(), &AccountPage { after: Some(c), ..page.clone() }).await.unwrap();
        names.extend(got.items.iter().map(|i| i.account.user_name.to_string()));
        after = got.next;
    }
    let mut expected: Vec<String> = (0..N).map(|i| format!("u{i:02}")).collect();
    expected.push("u99".into());
    assert_eq!(names, expected, "the page after the cursor starts after it; a newer account before it is not repeated");
    let bad = Cursor { sort: "name.asc".into(), key: CursorKey::Text("u05".into()), id: String::new() };
    let got = s.account_page(&query(), &AccountPage { after: Some(bad), ..page }).await.unwrap();
    assert_eq!(got.items[0].account.user_name.as_str(), "u05", "a key without an id starts at that key");
}

async fn ids_of(s: &dyn Store, q: &AccountQuery) -> BTreeSet<String> {
    let (ids, total) = all_pages(s, q, AccountSort::Name, Order::Asc).await;
    assert_eq!(ids.len() as i64, total, "the total counts what the pages list");
    ids.into_iter().collect()
}

fn model(facts: &[Fact], keep: impl Fn(&Fact) -> bool) -> BTreeSet<String> {
    facts.iter().filter(|f| keep(f)).map(|f| f.id.to_string()).collect()
}

async fn account_filters_and_overview(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let facts = fixture(s).await;
    let overdue = |f: &Fact| f.due.is_some_and(|d| at(d) <= now());
    let failing = |f: &Fact| f.heartbeat.is_some_and(|h| h != "ok");
    let in_ops = |f: &Fact| f.folder.is_some_and(|x| x == "ops" || x.starts_with("ops/"));
    let cases: Vec<(AccountQuery, BTreeSet<String>)> = vec![
        (query(), model(&facts, |_| true)),
        (AccountQuery { q: Some("U1".into()), ..query() }, model(&facts, |f| f.user.starts_with("u1"))),
        (
            AccountQuery { q: Some("Q/u2".into()), ..query() },
            model(&facts, |f| f.user.starts_with("u2") && f.user[1..].parse::<usize>().unwrap() % 2 == 1),
        ),
        (AccountQuery { q: Some("_".into()), ..query() }, model(&facts, |_| false)),
        (
            AccountQuery { provider: Some("q".parse().unwrap()), ..query() },
            model(&facts, |f| f.user[1..].parse::<usize>().unwrap() % 2 == 1),
        ),
        (AccountQuery { folder: Some("ops".parse().unwrap()), ..query() }, model(&facts, in_ops)),
        (
            AccountQuery { kind: Some(CredentialKind::Password), ..query() },
            model(&facts, |f| f.kind == CredentialKind::Password),
        ),
        (AccountQuery { overdue: Some(true), ..query() }, model(&facts, overdue)),
        (AccountQuery { overdue: Some(false), ..query() }, model(&facts, |f| !overdue(f))),
        (AccountQuery { heartbeat: Some(HeartbeatFilter::Failing), ..query() }, model(&facts, failing)),
        (AccountQuery { heartbeat: Some(HeartbeatFilter::Never), ..query() }, model(&facts, |f| f.heartbeat.is_none())),
        (
            AccountQuery { heartbeat: Some(HeartbeatFilter::Ok), ..query() },
            model(&facts, |f| f.heartbeat == Some("ok")),
        ),
        (AccountQuery { foreign_keys: true, ..query() }, model(&facts, |f| f.foreign)),
        (AccountQuery { key_id: Some("AKIA0000000000000001".into()), ..query() }, model(&facts, |f| f.user == "u04")),
        (AccountQuery { checked_out: Some(true), ..query() }, model(&facts, |f| f.checked_out)),
        (AccountQuery { rotation_failed: true, ..query() }, model(&facts, |f| f.failed_rotation)),
        (AccountQuery { scope: Some(vec!["ops".parse().unwrap()]), ..query() }, model(&facts, in_ops)),
        (
            AccountQuery {
                scope: Some(vec!["finance".parse().unwrap(), "ops/team".parse().unwrap()]),
                overdue: Some(true),
                ..query()
            },
            model(&facts, |f| overdue(f) && matches!(f.folder, Some("finance" | "ops/team"))),
        ),
    ];
    for (n, (q, expected)) in cases.iter().enumerate() {
        assert!(n < 3 || !expected.is_empty() || q.q.is_some(), "case {n} selects something");
        assert_eq!(&ids_of(s, q).await, expected, "case {n}: {q:?}");
    }
    for scope in [None, Some(vec!["ops".parse().unwrap()])] {
        let base = AccountQuery { scope: scope.clone(), ..query() };
        let o = s.overview(&base).await.unwrap();
        let total = |q: AccountQuery| async move {
            s.account_page(&q, &AccountPage { limit: 1, ..Default::default() }).await.unwrap().total
        };
        assert_eq!(o.accounts, total(base.clone()).await, "{scope:?}");
        assert_eq!(o.overdue, total(AccountQuery { overdue: Some(true), ..base.clone() }).await);
        assert_eq!(
            o.heartbeat_failing,
            total(AccountQuery { heartbeat: Some(HeartbeatFilter::Failing), ..base.clone() }).await
        );
        assert_eq!(o.rotations_failed, total(AccountQuery { rotation_failed: true, ..base.clone() }).await);
        assert_eq!(o.foreign_keys, total(AccountQuery { foreign_keys: true, ..base.clone() }).await);
        assert_eq!(o.checked_out, total(AccountQuery { checked_out: Some(true), ..base.clone() }).await);
        assert_eq!(o.access_keys + o.passwords, o.accounts);
        assert_eq!(o.age_days.iter().sum::<i64>(), o.accounts);
    }
    let o = s.overview(&query()).await.unwrap();
    let gauges = s.account_gauges(now()).await.unwrap();
    assert_eq!(
        (gauges.overdue, gauges.heartbeat_failing),
        (o.overdue, o.heartbeat_failing),
        "the metrics count as the list"
    );
    let mut last: Vec<(String, DateTime<Utc>)> =
        gauges.last_success.iter().map(|l| (l.user_name.clone(), l.at)).collect();
    last.sort();
    let mut rotated: Vec<(String, DateTime<Utc>)> =
        facts.iter().filter_map(|f| f.rotated.map(|r| (f.user.clone(), at(r)))).collect();
    rotated.sort();
    assert!(!rotated.is_empty() && rotated.len() < N, "some accounts rotated, some never");
    assert_eq!(last, rotated, "the last successes are those of the rotated accounts");
    assert_eq!(
        (o.accounts, o.overdue, o.checked_out),
        (N as i64, model(&facts, overdue).len() as i64, model(&facts, |f| f.checked_out).len() as i64)
    );
    assert!(
        o.overdue > 0 && o.heartbeat_failing > 0 && o.rotations_failed > 0 && o.foreign_keys > 0 && o.checked_out > 0
    );
    let page = s
        .account_page(
            &AccountQuery { checked_out: Some(true), ..query() },
            &AccountPage { limit: 1, ..Default::default() },
        )
        .await
        .unwrap();
    let item = &page.items[0];
    assert_eq!(item.checked_out_by.as_deref(), Some("token:tk"));
    assert_eq!(s.account_item(&item.account.id, now()).await.unwrap().as_ref(), Some(item), "one as in the list");
    assert_eq!(s.account_item(&AccountId::random(), now()).await.unwrap(), None);
    assert_eq!(item.reference, format!("{}/{}/password", item.account.provider, item.account.user_name));
    let page = s
        .account_page(
            &AccountQuery { rotation_failed: true, ..query() },
            &AccountPage { limit: 500, ..Default::default() },
        )
        .await
        .unwrap();
    for item in &page.items {
        let last = item.last_rotation.as_ref().unwrap();
        assert!(["aborted", "failed"].contains(&last.outcome.as_str()), "{last:?}");
        assert_eq!(
            s.account_item(&item.account.id, now()).await.unwrap().as_ref(),
            Some(item),
            "with its last rotation"
        );
    }
}

async fn journal_and_audit_newest_first(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let facts = fixture(s).await;
    let all = s.rotations(None, false, 1000).await.unwrap();
    let mut seen = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = s.rotation_page(&RotationQuery::default(), 4, after.as_ref(), Count::default()).await.unwrap();
        assert_eq!(page.total, all.len() as i64);
        seen.extend(page.items.iter().map(|r| (r.started_at, r.id.clone())));
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    let expected: Vec<_> = all.iter().map(|r| (r.started_at, r.id.clone())).collect();
    assert_eq!(seen, expected, "newest first, each once");
    let ops = RotationQuery { scope: Some(vec!["ops".parse().unwrap()]), ..Default::default() };
    let page = s.rotation_page(&ops, 500, None, Count::default()).await.unwrap();
    let in_ops: BTreeSet<_> = facts
        .iter()
        .filter(|f| f.folder.is_some_and(|x| x.starts_with("ops") && x != "opsx"))
        .map(|f| f.id.clone())
        .collect();
    assert!(!page.items.is_empty() && page.items.iter().all(|r| in_ops.contains(&r.account_id)));
    let aborted = RotationQuery { outcome: Some(JournalOutcome::Aborted), ..Default::default() };
    let page = s.rotation_page(&aborted, 500, None, Count::default()).await.unwrap();
    assert_eq!(page.total, all.iter().filter(|r| r.phase == Phase::Aborted).count() as i64);

    let chain = s.audit_page(0, 100_000).await.unwrap();
    let mut seqs = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = s.audit_log_page(&AuditQuery::default(), 9, after.as_ref(), Count::default()).await.unwrap();
        assert_eq!(page.total, chain.len() as i64);
        seqs.extend(page.items.iter().map(|e| e.seq));
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    assert_eq!(seqs, chain.iter().rev().map(|e| e.seq).collect::<Vec<_>>(), "newest first, each once");
    let q = AuditQuery { action: Some("account.checkout".into()), ..Default::default() };
    let page = s.audit_log_page(&q, 500, None, Count::default()).await.unwrap();
    assert_eq!(page.total, facts.iter().filter(|f| f.checked_out).count() as i64);
    assert!(page.items.iter().all(|e| e.entry.action == "account.checkout"));
}

/// The totals of a page of 3 of each listing counted as `count` says, filtered and not:
/// access-key accounts and all accounts, aborted rotations and all rotations, `account.add`
/// events and all events; each as (total, exact).
async fn totals(s: &dyn Store, count: Count) -> [(i64, bool); 6] {
    let mut out = Vec::new();
    let keys = AccountQuery { kind: Some(CredentialKind::AccessKey), ..query() };
    for q in [keys, query()] {
        let page = s.account_page(&q, &AccountPage { limit: 3, count, ..Default::default() }).await.unwrap();
        assert_eq!(page.items.len(), 3, "the cap never shortens a page");
        out.push((page.total, page.total_exact));
    }
    for q in [RotationQuery { phase: Some(Phase::Aborted), ..Default::default() }, RotationQuery::default()] {
        let page = s.rotation_page(&q, 3, None, count).await.unwrap();
        assert_eq!(page.items.len(), 3, "the cap never shortens a page");
        out.push((page.total, page.total_exact));
    }
    for q in [AuditQuery { action: Some("account.add".into()), ..Default::default() }, AuditQuery::default()] {
        let page = s.audit_log_page(&q, 3, None, count).await.unwrap();
        assert_eq!(page.items.len(), 3, "the cap never shortens a page");
        out.push((page.total, page.total_exact));
    }
    out.try_into().unwrap()
}

async fn filtered_totals_stop_at_the_cap(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let facts = fixture(s).await;
    assert_eq!(Count::default(), Count::AtMost(TOTAL_CAP));
    let exact = totals(s, Count::Exact).await;
    let rotations = s.rotations(None, false, 1000).await.unwrap();
    let events = s.audit_page(0, 100_000).await.unwrap();
    let model = [
        facts.iter().filter(|f| f.kind == CredentialKind::AccessKey).count(),
        N,
        rotations.iter().filter(|r| r.phase == Phase::Aborted).count(),
        rotations.len(),
        events.iter().filter(|e| e.entry.action == "account.add").count(),
        events.len(),
    ];
    assert_eq!(exact, model.map(|n| (n as i64, true)), "Count::Exact counts every match");
    assert_eq!(totals(s, Count::default()).await, exact, "under the default cap every total is exact");
    for cap in [0, 1, 3, 15, 16, 17, 20, 29, 30, 31, 40, 1000] {
        let got = totals(s, Count::AtMost(cap)).await;
        for (i, ((got, want), n)) in got.iter().zip(exact).zip(model).enumerate() {
            let filtered = i % 2 == 0;
            let expected = if filtered && want.0 > cap { (cap, false) } else { want };
            assert_eq!(*got, expected, "listing {i} ({n} items) at most {cap}");
        }
    }
    assert_eq!(totals(s, Count::Uncounted).await, [(0, false); 6], "an uncounted page has its items, no total");
}

/// Hundreds of reads of single items at once, from several threads: some of the same account,
/// some of no account, one of an account altered with SQL (listed flagged, as read alone). Each
/// is answered as a read alone is, whichever statement answered it.
async fn items_read_at_once_are_each_answered_as_if_alone(loc: Arc<Location>) {
    let s = initialised(&loc).await;
    let facts = fixture(s.as_ref()).await;
    let altered = facts[7].id.clone();
    loc.execute(&format!("UPDATE accounts SET folder = 'elsewhere' WHERE id = '{altered}'")).await;
    let mut alone = Vec::new();
    for f in &facts {
        alone.push(s.account_item(&f.id, now()).await.unwrap().unwrap());
    }
    assert!(alone[7].account.tampered.is_some(), "the altered account is flagged");
    assert_eq!(alone.iter().filter(|i| i.account.tampered.is_some()).count(), 1, "and only it");
    let mut reads = tokio::task::JoinSet::new();
    for i in 0..600 {
        let s = s.clone();
        let id = if i % 11 == 0 { AccountId::random() } else { facts[i % N].id.clone() };
        reads.spawn(async move { (i, s.account_item(&id, now()).await) });
    }
    let mut answered = 0;
    while let Some(read) = reads.join_next().await {
        let (i, got) = read.unwrap();
        answered += 1;
        let expected = (i % 11 != 0).then(|| &alone[i % N]);
        assert_eq!(got.unwrap().as_ref(), expected, "read {i}: as read alone");
    }
    assert_eq!(answered, 600);
}
