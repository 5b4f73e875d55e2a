//! The compliance report reads IAM a fixed number of times, whatever the number of users: the
//! credential report and one page of authorization details name every user's facts, and the
//! vault's stored facts name the keys of the users it manages. Counted by the model of real AWS
//! in front of moto (its request log by action), at 10 managed users and again at 50, with IAM's
//! own page size of 100 (the suites' default of one item per page would add a page per user:
//! pages grow with the account, per 100 users, not calls per user).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{iam, Moto, Sandbox};
use serde_json::Value;
use std::collections::BTreeMap;

/// IAM requests by action so far.
fn requests(moto: &Moto) -> BTreeMap<String, u64> {
    moto.model().stats().requests
}

/// The requests of `after` that `before` did not have yet.
fn since(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after.iter().map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0))).filter(|(_, n)| *n > 0).collect()
}

/// Adds users `PREFIX-i` for `range`, each with one access key, and imports them.
fn add_users(moto: &Moto, sb: &Sandbox, prefix: &str, range: std::ops::Range<usize>) {
    for i in range {
        let name = format!("{prefix}-{i:03}");
        iam::create_user(moto, &name);
        iam::create_key(moto, &name);
    }
    let filter = format!("{prefix}-*");
    sb.rekey().args(["discover", "p", "--import", "--filter", &filter, "-o", "json"]).assert().success();
}

/// The report's rows and the IAM requests it made.
fn report(moto: &Moto, sb: &Sandbox) -> (Vec<Value>, BTreeMap<String, u64>) {
    let before = requests(moto);
    let out = sb.rekey().args(["report", "-o", "json"]).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 9)), "report: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    (report["rows"].as_array().unwrap().clone(), since(&before, &requests(moto)))
}

#[test]
fn the_compliance_report_makes_as_many_iam_calls_at_50_users_as_at_10() {
    let moto = Moto::start();
    moto.model().set(&["paging.size=100"]).unwrap();
    let admin = iam::admin(&moto);
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "p", &admin);

    add_users(&moto, &sb, "svc", 0..10);
    let (rows10, calls10) = report(&moto, &sb);
    add_users(&moto, &sb, "svc", 10..50);
    let (rows50, calls50) = report(&moto, &sb);

    let managed = |rows: &[Value]| rows.iter().filter(|r| r["account"].is_string()).count();
    assert_eq!((managed(&rows10), managed(&rows50)), (10, 50), "every imported key is in its report");
    for r in rows50.iter().filter(|r| r["account"].is_string()) {
        assert!(r["key_id"].as_str().is_some_and(|k| k.starts_with("AKIA")), "a managed key is named: {r}");
    }
    assert!(!calls10.is_empty(), "the report read IAM");
    assert!(!calls10.keys().any(|a| a.contains("ListAccessKeys")), "no call per user: {calls10:?}");
    assert_eq!(calls10, calls50, "the same IAM calls at 10 and at 50 users");
}
