//! Pacing end to end: the model of real AWS throttles (its rates scaled down so the suite stays
//! fast) and delays new keys, rekey starts far above the rates the model accepts
//! (`REKEY_AWS_PACE`), and many rotations at high concurrency must all end `done`: every
//! throttled call is sent again at a slower pace, never failing a rotation. Reports and the
//! server's metrics show the throttling and the propagation rekey measured.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{iam, Moto, Sandbox};
use serde_json::Value;

/// Accounts rotated at once.
const ACCOUNTS: usize = 24;

/// IAM and STS at the rates reported for real AWS (with a small burst), and keys that work only
/// after 8–9 s: longer than a rotation's mark, CreateAccessKey and TagUser can queue for the
/// mutating bucket here (24 rotations × 3 calls at 10/s), so every first verification meets a key that
/// does not work yet, however loaded the machine.
const THROTTLED: [&str; 11] = [
    "throttle=on",
    "throttle.iam.rate=20",
    "throttle.iam.burst=4",
    "throttle.iam-mutating.rate=10",
    "throttle.iam-mutating.burst=2",
    "throttle.sts.rate=60",
    "throttle.sts.burst=6",
    "propagation=on",
    "propagation.min=8s",
    "propagation.max=9s",
    "latency=off",
];

/// Far above what the model accepts: the pacer must learn the rates from the throttling.
const TOO_FAST: &str = "iam=200,iam-mutating=100,sts=600";

/// svc's world plus `ACCOUNTS` users whose keys rekey created (the model not yet throttling).
fn world() -> (Moto, Sandbox, iam::Seeded) {
    let (moto, sb, seeded) = common::svc_world();
    let admin = iam::client_with(&moto, &seeded.admin.0, &seeded.admin.1);
    for i in 0..ACCOUNTS {
        let user = format!("bulk{i}");
        iam::block_on(admin.create_user().user_name(&user).send()).unwrap();
        sb.rekey()
            .args(["account", "add", "--provider", "p", "--user", &user, "--kind", "access-key", "--create"])
            .args(["--folder", "bulk"])
            .assert()
            .success();
    }
    (moto, sb, seeded)
}

fn reports(sb: &Sandbox, args: &[&str]) -> (Vec<Value>, Option<i32>) {
    let out = sb.rekey().env("REKEY_AWS_PACE", TOO_FAST).args(args).args(["-o", "json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}\n{stderr}", String::from_utf8_lossy(&out.stdout)));
    (v.as_array().unwrap().clone(), out.status.code())
}

#[test]
fn many_rotations_at_high_concurrency_meet_the_throttle_and_all_end_done() {
    let (moto, sb, seeded) = world();
    moto.model().set(&THROTTLED).unwrap();
    let before = moto.model().stats();
    let concurrency = ACCOUNTS.to_string();
    let (reports, code) = reports(&sb, &["rotate", "--folder", "bulk", "--concurrency", &concurrency]);
    assert_eq!(reports.len(), ACCOUNTS);
    for r in &reports {
        assert_eq!(r["outcome"], "done", "{r}");
        let propagation = r["propagation_ms"].as_u64();
        assert!(propagation.is_some_and(|ms| ms >= 7_000), "the propagation (8–9 s) is measured: {r}");
    }
    assert_eq!(code, Some(0));
    let throttled_by_model: u64 =
        moto.model().stats().throttled.values().sum::<u64>() - before.throttled.values().sum::<u64>();
    let throttled_in_reports: u64 = reports.iter().map(|r| r["throttled"].as_u64().unwrap()).sum();
    assert!(throttled_by_model > 0, "the model never throttled: the test proves nothing");
    assert!(
        throttled_in_reports > 0,
        "the reports show no throttling although the model throttled {throttled_by_model} calls"
    );
    assert!(moto.model().stats().not_yet_propagated > 0, "no new key was refused before it propagated");
    let figures = common::invariants::check(&moto, &seeded.admin, &[&sb]);
    assert_eq!((figures.credentials, figures.orphans), (ACCOUNTS + 1, 0), "{figures:?}");
    // The journal keeps the measured propagation of each rotation.
    let rotation = sb.json(&["rotation", "show", reports[0]["rotation"].as_str().unwrap()]);
    assert!(rotation["data"]["propagation_ms"].as_u64().is_some(), "{rotation}");
}

/// Heartbeats are paced too; a per-provider cap below `--concurrency` is said on stderr.
#[test]
fn heartbeats_of_many_accounts_are_paced_too() {
    let (moto, sb, _seeded) = world();
    moto.model().set(&THROTTLED).unwrap();
    let out = sb
        .rekey()
        .env("REKEY_AWS_PACE", TOO_FAST)
        .env("REKEY_PROVIDER_CONCURRENCY", "16")
        .args(["heartbeat", "--folder", "bulk", "--concurrency", "64", "-o", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "at most 16 accounts of one provider are worked at once (REKEY_PROVIDER_CONCURRENCY is set), not 24"
        ),
        "{stderr}"
    );
    let beats: Value = serde_json::from_slice(&out.stdout).unwrap();
    let beats = beats.as_array().unwrap();
    assert_eq!(beats.len(), ACCOUNTS);
    assert!(beats.iter().all(|b| b["status"] == "ok"), "{beats:?}");
    assert!(moto.model().stats().throttled.values().sum::<u64>() > 0, "the model never throttled");
}
