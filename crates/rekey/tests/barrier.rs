//! The barrier end to end (issue findings H2, L3, M1, M2): the real binary on a real SQLite
//! vault, altered with SQL as an attacker who can write the database but has no master key.
//! Whatever steers where secrets go or how the vault opens is refused with the integrity exit
//! code (8), nothing runs and nothing is posted; one altered account does not stop the others;
//! the audit chain is keyed and anchored.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{iam, receiver::Receiver, Moto, Sandbox};
use predicates::str::contains;
use serde_json::json;

const INTEGRITY: i32 = 8;

/// Runs `statement` (with `binds` as text) on the vault file, as the attacker; rows changed.
fn sql(sb: &Sandbox, statement: &str, binds: &[&str]) -> u64 {
    let url = format!("sqlite://{}", sb.vault_file().display());
    iam::block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let mut q = sqlx::query(statement);
        for b in binds {
            q = q.bind(*b);
        }
        let n = q.execute(&pool).await.unwrap().rows_affected();
        pool.close().await;
        n
    })
}

/// A vault with provider `p` on `moto` and the access keys of `svc` and `svc2` adopted.
fn world() -> (Moto, Sandbox) {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "p", &admin);
    for user in ["svc", "svc2"] {
        iam::create_user(&moto, user);
        let key = iam::create_key(&moto, user);
        sb.adopt_key("p", user, &key);
    }
    (moto, sb)
}

/// Gives `user`'s account `targets` and makes it due, with SQL.
fn add_targets(sb: &Sandbox, user: &str, targets: serde_json::Value) {
    let settings = json!({ "targets": targets }).to_string();
    let n = sql(sb, "UPDATE accounts SET settings = $1, next_due_at = 0 WHERE user_name = $2", &[&settings, user]);
    assert_eq!(n, 1);
}

fn integrity_events(sb: &Sandbox) -> Vec<serde_json::Value> {
    let events = sb.json(&["audit", "list"]);
    events.as_array().unwrap().iter().filter(|e| e["action"] == "integrity").cloned().collect()
}

/// H2: a script target added with SQL never runs (rotate, run-due); the key stays as it was.
#[test]
fn h2_a_script_target_added_with_sql_is_refused_and_never_run() {
    let (moto, sb) = world();
    let marker = sb.path("pwned");
    let script = json!([{ "type": "script", "command": "/bin/sh",
        "args": ["-c", format!("cat > {}", marker.display())], "timeout_ms": 5000 }]);
    add_targets(&sb, "svc", script);
    let before = iam::key_ids(&moto, "svc");
    sb.rekey()
        .args(["rotate", "p/svc/access-key"])
        .assert()
        .code(INTEGRITY)
        .stderr(contains("failed its integrity check"));
    sb.rekey().args(["run-due", "--once"]).assert().code(INTEGRITY);
    assert!(!marker.exists(), "the script ran");
    assert_eq!(iam::key_ids(&moto, "svc"), before, "nothing was done in IAM");
    assert!(!integrity_events(&sb).is_empty(), "the refusal is audited as integrity");
}

/// H2: a webhook with `include_secret` added with SQL posts nothing.
#[test]
fn h2_a_webhook_with_the_secret_added_with_sql_posts_nothing() {
    let (_moto, sb) = world();
    let receiver = Receiver::start();
    let hook = json!([{ "type": "webhook", "url": receiver.url, "include_secret": true,
        "key_env": "HOOK_KEY", "timeout_ms": 5000 }]);
    add_targets(&sb, "svc", hook);
    sb.rekey().env("HOOK_KEY", "k".repeat(32)).args(["rotate", "p/svc/access-key"]).assert().code(INTEGRITY);
    sb.rekey().env("HOOK_KEY", "k".repeat(32)).args(["run-due", "--once"]).assert().code(INTEGRITY);
    assert!(receiver.requests().is_empty(), "something was posted");
}

/// H2: one altered account is skipped, audited and reported; `rotate --all` rotates the others.
#[test]
fn h2_one_altered_account_does_not_stop_rotate_all() {
    let (moto, sb) = world();
    sql(&sb, "UPDATE accounts SET user_name = 'admin' WHERE user_name = 'svc'", &[]);
    let before = iam::key_ids(&moto, "svc2");
    let out = sb.rekey().args(["rotate", "--all", "-o", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(INTEGRITY), "an altered account is reported with the integrity code");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("integrity"), "the altered account is reported: {text}");
    let after = iam::key_ids(&moto, "svc2");
    assert!(after.iter().any(|k| !before.contains(k)), "svc2 was rotated: {before:?} → {after:?}");
    let listed = sb.rekey().args(["account", "list"]).assert().success().get_output().stdout.clone();
    let listed = String::from_utf8_lossy(&listed).into_owned();
    assert!(listed.contains("svc2") && listed.contains("tampered"), "listed, the altered one flagged: {listed}");
    assert!(!integrity_events(&sb).is_empty(), "the altered account is audited");
}

/// H2: a provider endpoint changed with SQL is refused before any call.
#[test]
fn h2_a_provider_endpoint_changed_with_sql_is_refused() {
    let (_moto, sb) = world();
    sql(&sb, "UPDATE providers SET endpoint_url = 'http://127.0.0.1:9' WHERE name = 'p'", &[]);
    sb.rekey().args(["rotate", "p/svc/access-key"]).assert().code(INTEGRITY);
    sb.rekey().args(["provider", "test", "p"]).assert().code(INTEGRITY).stderr(contains("provider \"p\""));
}

/// L3: a retired version flipped back to current (and the current one demoted) is refused.
#[test]
fn l3_a_retired_version_flipped_to_current_is_refused() {
    let (_moto, sb) = world();
    sb.rekey().args(["rotate", "p/svc/access-key"]).assert().success();
    let id = sb.json(&["account", "show", "p/svc/access-key"])["id"].as_str().unwrap().to_owned();
    sql(&sb, "UPDATE secret_versions SET state = 'retired' WHERE record_id = $1 AND state = 'current'", &[&id]);
    sql(&sb, "UPDATE secret_versions SET state = 'current' WHERE record_id = $1 AND version = 1", &[&id]);
    sb.rekey().args(["account", "reveal", "p/svc/access-key"]).assert().code(INTEGRITY);
    sb.rekey().args(["rotate", "p/svc/access-key"]).assert().code(INTEGRITY);
}

/// M1: a rewritten key check (or one removed) refuses every command before anything is read.
#[test]
fn m1_a_rewritten_key_check_is_refused() {
    let (_moto, sb) = world();
    sql(&sb, "UPDATE vault_header SET key_check = $1", &[&"0".repeat(64)]);
    sb.rekey().args(["account", "list"]).assert().code(INTEGRITY).stderr(contains("key check"));
    sql(&sb, "UPDATE vault_header SET key_check = NULL", &[]);
    sb.rekey().args(["account", "list"]).assert().code(7).stderr(contains("rekey vault upgrade"));
}

/// M1 + upgrade: a vault written before the barrier is refused until `rekey vault upgrade`,
/// which signs it once; its old plain audit links still verify.
#[test]
fn m1_an_older_vault_works_after_vault_upgrade() {
    let (_moto, sb) = world();
    for t in ["providers", "accounts", "secret_versions", "api_tokens"] {
        sql(&sb, &format!("UPDATE {t} SET mac = NULL"), &[]);
    }
    sql(&sb, "UPDATE vault_header SET key_check = NULL, audit_keyed_from = NULL", &[]);
    rehash_plain(&sb, 1);
    sb.rekey().args(["account", "list"]).assert().code(7).stderr(contains("rekey vault upgrade"));
    sb.rekey().args(["vault", "upgrade"]).assert().success().stderr(contains("signed account"));
    sb.rekey().args(["account", "list"]).assert().success();
    sb.rekey().args(["audit", "verify"]).assert().success();
    sb.rekey().args(["vault", "upgrade"]).assert().code(4).stderr(contains("already protected"));
}

/// An audit row: seq, at, actor, action, target, outcome, detail.
type StoredEvent = (i64, i64, String, String, Option<String>, String, String);

/// Re-links the audit chain from event `from` on with plain SHA-256 links (what an attacker
/// without the key can compute, and what an older rekey wrote).
fn rehash_plain(sb: &Sandbox, from: i64) {
    let url = format!("sqlite://{}", sb.vault_file().display());
    iam::block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let rows: Vec<StoredEvent> =
            sqlx::query_as("SELECT seq, at, actor, action, target, outcome, detail FROM audit_events ORDER BY seq")
                .fetch_all(&pool)
                .await
                .unwrap();
        let mut prev = rekey_store::chain::GENESIS.to_owned();
        for (i, (seq, at, actor, action, target, outcome, detail)) in rows.into_iter().enumerate() {
            let new_seq = i as i64 + 1;
            let entry = rekey_store::AuditEntry {
                at: chrono::DateTime::from_timestamp_millis(at).unwrap(),
                actor,
                action,
                target,
                outcome,
                detail: serde_json::from_str(&detail).unwrap(),
            };
            if new_seq >= from {
                let hash = rekey_store::chain::event_hash(&prev, new_seq, &entry);
                sqlx::query("UPDATE audit_events SET seq = $1, prev_hash = $2, hash = $3 WHERE seq = $4")
                    .bind(new_seq)
                    .bind(&prev)
                    .bind(&hash)
                    .bind(seq)
                    .execute(&pool)
                    .await
                    .unwrap();
                prev = hash;
            } else {
                prev = sqlx::query_scalar("SELECT hash FROM audit_events WHERE seq = $1")
                    .bind(seq)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            }
        }
        pool.close().await;
    });
}

fn anchor(sb: &Sandbox) -> (String, i64) {
    let v = sb.json(&["audit", "verify"]);
    (v["head"].as_str().unwrap().to_owned(), v["events"].as_i64().unwrap())
}

/// M2: deleting the newest events leaves an intact chain; the anchors kept outside show it.
#[test]
fn m2_a_deleted_tail_is_caught_by_the_anchor() {
    let (_moto, sb) = world();
    let (head, count) = anchor(&sb);
    sb.rekey()
        .args(["audit", "verify", "--expect-head", &head, "--expect-count", &count.to_string()])
        .assert()
        .success();
    sb.rekey().args(["account", "set", "p/svc/access-key", "--name", "later"]).assert().success();
    let (_, grown) = anchor(&sb);
    assert_eq!(grown, count + 1);
    sb.rekey().args(["audit", "verify", "--expect-head", &head]).assert().success();
    assert_eq!(sql(&sb, &format!("DELETE FROM audit_events WHERE seq >= {count}"), &[]), 2);
    sb.rekey().args(["audit", "verify"]).assert().success();
    sb.rekey().args(["audit", "verify", "--expect-count", &count.to_string()]).assert().code(INTEGRITY);
    sb.rekey().args(["audit", "verify", "--expect-head", &head]).assert().code(INTEGRITY);
}

/// M2: deleting an event and re-linking the rest needs the key: plain re-hashing is caught.
#[test]
fn m2_deleted_and_re_hashed_events_are_caught() {
    let (_moto, sb) = world();
    sb.rekey().args(["audit", "verify"]).assert().success();
    assert_eq!(sql(&sb, "DELETE FROM audit_events WHERE seq = 3", &[]), 1);
    rehash_plain(&sb, 3);
    sb.rekey().args(["audit", "verify"]).assert().code(INTEGRITY).stderr(contains("broken at event 3"));
    // Moving the keyed-links marker past the rewrite breaks the key check instead.
    sql(&sb, "UPDATE vault_header SET audit_keyed_from = 1000", &[]);
    sb.rekey().args(["audit", "verify"]).assert().code(INTEGRITY).stderr(contains("key check"));
}

/// M2: an edited event is caught at that event.
#[test]
fn m2_an_edited_event_is_caught() {
    let (_moto, sb) = world();
    assert_eq!(sql(&sb, "UPDATE audit_events SET actor = 'someone-else' WHERE seq = 2", &[]), 1);
    sb.rekey().args(["audit", "verify"]).assert().code(INTEGRITY).stderr(contains("broken at event 2"));
}
