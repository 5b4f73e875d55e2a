//! The scripted walk of the README, end to end: the real binary against moto, with the
//! embedded SQLite vault and (when REKEY_TEST_POSTGRES_URL is set) a PostgreSQL vault.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{contains, iam, vault_bytes, Moto, Sandbox};
use predicates::prelude::*;

fn walk(sb: &Sandbox, moto: &Moto) {
    let admin = iam::admin(moto);
    iam::create_user(moto, "alice");
    iam::create_login_profile(moto, "alice", "Alice-Initial-Pass-1!");
    iam::create_user(moto, "svc-ci");
    let svc = iam::create_key(moto, "svc-ci");

    sb.init();
    sb.add_provider(moto, "sandbox", &admin);
    let id = sb.json(&["provider", "test", "sandbox"]);
    assert_eq!(id["arn"], "arn:aws:iam::123456789012:user/admin");

    let alice = sb.json_stdin(
        &["account", "add", "--provider", "sandbox", "--user", "alice", "--kind", "password", "--secret-stdin"],
        "Alice-Initial-Pass-1!\n",
    );
    assert_eq!(alice["status"], "ok");
    assert_eq!(alice["current_version"], 1);
    let svc_acc = sb.json_stdin(
        &["account", "add", "--provider", "sandbox", "--user", "svc-ci", "--kind", "access-key"]
            .into_iter()
            .chain(["--access-key-id", &svc.0, "--secret-stdin", "--folder", "ci"])
            .collect::<Vec<_>>(),
        &svc.1,
    );
    assert_eq!(svc_acc["current_key_id"], svc.0.as_str());
    assert_eq!(svc_acc["folder"], "ci");

    // admin holds the provider's own key: a created key beside it leaves no free slot, which
    // `account add` refuses unless told (the heartbeat below reports that key as drift).
    let created = sb.json(&[
        "account",
        "add",
        "--provider",
        "sandbox",
        "--user",
        "admin",
        "--kind",
        "access-key",
        "--create",
        "--allow-no-free-slot",
    ]);
    let new_key = created["current_key_id"].as_str().unwrap().to_owned();
    assert!(iam::key_ids(moto, "admin").contains(&new_key), "the managed key exists in IAM");

    let list = sb.json(&["account", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 3);
    let in_ci = sb.json(&["account", "list", "--folder", "ci"]);
    assert_eq!(in_ci.as_array().unwrap().len(), 1);

    // Reveal prints the secret, and is audited without it.
    sb.rekey()
        .args(["account", "reveal", "sandbox/svc-ci/access-key"])
        .assert()
        .success()
        .stdout(format!("{}\n", svc.1));
    let audit = sb.json(&["audit", "list"]);
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"account.reveal"), "{actions:?}");
    assert!(!audit.to_string().contains(&svc.1), "no secret in the audit log");

    // Rotation and heartbeat work on this backend too.
    sb.fast_verify("sandbox/svc-ci/access-key").assert().success();
    let reports = sb.json(&["rotate", "sandbox/svc-ci/access-key", "sandbox/alice/password"]);
    assert!(reports.as_array().unwrap().iter().all(|r| r["outcome"] == "done"), "{reports}");
    let rotated = reports[0]["new_key_id"].as_str().unwrap().to_owned();
    assert!(iam::key_ids(moto, "svc-ci").contains(&rotated));
    sb.rekey().args(["heartbeat", "sandbox/svc-ci/access-key", "sandbox/alice/password"]).assert().success();
    // admin also holds the provider's own key, which this account does not manage: drift.
    let hb = sb
        .rekey()
        .args(["heartbeat", "sandbox/admin/access-key", "-o", "json"])
        .assert()
        .code(9)
        .get_output()
        .stdout
        .clone();
    let hb: serde_json::Value = serde_json::from_slice(&hb).unwrap();
    assert_eq!(hb[0]["status"], "drift", "{hb}");
    assert!(hb[0]["findings"].to_string().contains(&admin.0), "{hb}");

    // Removing with --delete-managed-key deletes only a key rekey created.
    let created_id = created["id"].as_str().unwrap();
    sb.rekey().args(["account", "remove", created_id, "--delete-managed-key"]).assert().success();
    assert!(!iam::key_ids(moto, "admin").contains(&new_key));
    sb.rekey()
        .args(["account", "remove", "sandbox/alice/password", "--delete-managed-key"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("applies to access-key accounts"));
    assert!(iam::key_ids(moto, "svc-ci").contains(&rotated), "a key rekey did not create is never deleted");

    // Nothing the vault file holds is a secret in the clear.
    if let Some(path) = sb.vault.strip_prefix("sqlite:") {
        let bytes = vault_bytes(std::path::Path::new(path));
        for secret in [&svc.1, &admin.1, "Alice-Initial-Pass-1!"] {
            assert!(!contains(&bytes, secret), "a secret is stored in the clear");
        }
    }
}

#[test]
fn readme_walk_on_sqlite() {
    let moto = Moto::start();
    let sb = Sandbox::new();
    walk(&sb, &moto);
}

#[test]
fn readme_walk_on_postgres() {
    let Some(pg) = common::pg::schema() else { return };
    let moto = Moto::start();
    let sb = Sandbox::with_vault(pg.url.clone());
    walk(&sb, &moto);
}

#[test]
fn audit_verify_finds_a_tampered_event() {
    let moto = Moto::start();
    let sb = Sandbox::new();
    walk(&sb, &moto);
    let ok = sb.json(&["audit", "verify"]);
    let events = ok["events"].as_i64().unwrap();
    assert!(events > 10, "{ok}");
    // Someone rewrites history: event 3's outcome.
    let url = format!("sqlite://{}", sb.vault_file().display());
    iam::block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        sqlx::query("UPDATE audit_events SET outcome = 'ok-ish' WHERE seq = 3").execute(&pool).await.unwrap();
    });
    sb.rekey().args(["audit", "verify"]).assert().code(8).stderr(predicate::str::contains("broken at event 3"));
}

#[test]
fn preflight_on_moto_is_reported_unavailable() {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "p", &admin);
    // moto answers SimulatePrincipalPolicy with HTTP 500.
    sb.rekey()
        .args(["provider", "test", "p", "--preflight"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("pre-flight unavailable on this endpoint"));
}

#[test]
fn policy_with_discovery_covers_every_user() {
    let moto = Moto::start();
    let sb = Sandbox::new();
    let admin = iam::admin(&moto);
    iam::create_user(&moto, "svc");
    sb.init();
    sb.add_provider(&moto, "p", &admin);
    sb.rekey()
        .args(["account", "add", "--provider", "p", "--user", "svc", "--kind", "access-key", "--create"])
        .assert()
        .success();
    let scoped = sb.json(&["policy", "--provider", "p"]);
    assert_eq!(scoped["Statement"][0]["Resource"], serde_json::json!(["arn:aws:iam::123456789012:user/svc"]));
    let wide = sb.json(&["policy", "--provider", "p", "--with-discovery", "--with-delivery"]);
    assert_eq!(
        wide["Statement"][0]["Resource"],
        serde_json::json!(["arn:aws:iam::*:user/*"]),
        "discovery reads every user"
    );
    let account_wide = wide["Statement"][1]["Action"].to_string();
    for a in [
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:ListUsers",
        "iam:GetAccountAuthorizationDetails",
    ] {
        assert!(account_wide.contains(a), "{a} in {account_wide}");
    }
}

/// `--version` names the version and the commit it was built from (`unknown` outside git).
#[test]
fn version_names_the_commit() {
    let out = Sandbox::new().rekey().arg("--version").assert().success().get_output().stdout.clone();
    let line = String::from_utf8(out).unwrap();
    let commit = line
        .trim()
        .strip_prefix(concat!("rekey ", env!("CARGO_PKG_VERSION"), " (commit "))
        .and_then(|r| r.strip_suffix(')'));
    let known = commit.is_some_and(|c| c == "unknown" || (c.len() == 12 && c.chars().all(|h| h.is_ascii_hexdigit())));
    assert!(known, "{line}");
}
