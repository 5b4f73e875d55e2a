//! The web console in a real browser: Debian's chromium driven by playwright-core
//! (`tests/browser/console.mjs`) against `rekey serve` on a vault with moto behind it and 10,000
//! accounts: sign-in per role, the overview's counts against the API's, an account page, a
//! rotation watched until done, check-out and check-in, reveal, filter and paging (a filter past
//! 10,000 matches shown as `10,000+`, a bulk confirmation counting them exactly), a 360 px
//! layout, an axe-core scan; and how it fails: a refused value kept in its dialog, a filter,
//! rotation or report the server refuses, a token that expires while signed in, the focus
//! after each dialog. Screenshots and measurements go to the folder this test prints.
//!
//! Nothing here is optional: a missing chromium or npm install fails the test with the command
//! that installs it (`scripts/test.sh` does both).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{server::Server, Sandbox};
use std::{path::PathBuf, process::Command};

const FILLER: &str = "10000";

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&path).exists(),
        "no chromium at {path}: run scripts/test.sh, or `apt-get install chromium` (or set CHROMIUM)"
    );
    path
}

fn check_node_modules() {
    let dir = browser_dir();
    assert!(
        dir.join("node_modules/playwright-core").exists() && dir.join("node_modules/axe-core").exists(),
        "the browser test's npm packages are missing: run scripts/test.sh, or `npm ci --prefix {}`",
        dir.display()
    );
}

/// Adds `n` vault-only accounts to provider `p` with `rekey-bench seed-vault` (built beside
/// `rekey` by any workspace build; `cargo build -p rekey-bench` otherwise).
fn seed(sb: &Sandbox, n: &str) {
    let bench = assert_cmd::cargo::cargo_bin("rekey").with_file_name("rekey-bench");
    assert!(bench.exists(), "{} is missing: run `cargo build -p rekey-bench`", bench.display());
    let out = Command::new(bench)
        .args(["seed-vault", "--vault", &sb.vault, "--provider", "p", "--filler", n, "--filler-prefix", "bulk"])
        .env("REKEY_PASSPHRASE", common::PASSPHRASE)
        .output()
        .unwrap();
    assert!(out.status.success(), "seed-vault: {}", String::from_utf8_lossy(&out.stderr));
}

fn token(sb: &Sandbox, role: &str) -> String {
    let args = ["token", "create", "--role", role, "--name", &format!("{role}-console")];
    sb.json(&args)["token"].as_str().unwrap().to_owned()
}

fn token_expiring(sb: &Sandbox, lifetime: &str) -> String {
    let args = ["token", "create", "--role", "auditor", "--name", "expiring-console", "--expires", lifetime];
    sb.json(&args)["token"].as_str().unwrap().to_owned()
}

fn id_of(sb: &Sandbox, account: &str) -> String {
    sb.json(&["account", "show", account])["id"].as_str().unwrap().to_owned()
}

#[test]
fn the_console_works_in_a_real_browser_at_ten_thousand_accounts() {
    let chromium = chromium();
    check_node_modules();
    let (_moto, sb, _seeded) = common::svc_world();
    sb.adopt_password("p", "alice", "Alice-Initial-1!");
    // Settings of its own (stored whole, key settings too): its page shows the password's only.
    sb.rekey().args(["account", "set", "p/alice/password", "--password-length", "40"]).assert().success();
    sb.rekey()
        .args(["account", "set", "p/svc/access-key", "--previous-key", "delete"])
        .args(["--verify-successes", "1", "--verify-backoff", "50ms"])
        .assert()
        .success();
    seed(&sb, FILLER);
    // A vault-only account (no such IAM user: its heartbeat fails) with delivery targets to show.
    let target_account = id_of(&sb, "p/bulk-000007/access-key");
    sb.rekey()
        .args(["account", "set", &target_account, "--ssm-parameter", "/ci/deploy-key"])
        .args(["--secrets-manager", "ci/deploy"])
        .assert()
        .success();
    let (admin, operator, auditor) = (token(&sb, "admin"), token(&sb, "operator"), token(&sb, "auditor"));
    let (key_account, password_account) = (id_of(&sb, "p/svc/access-key"), id_of(&sb, "p/alice/password"));
    // The scheduler rotates a returned password; no periodic heartbeat changes the counts meanwhile.
    let server =
        Server::start(&sb, &[("REKEY_SCHEDULER_INTERVAL", "300ms"), ("REKEY_SCHEDULER_HEARTBEAT_EVERY", "365d")]);

    // Signed in first, expired by the end of the run (which waits for it if need be).
    let expiring = token_expiring(&sb, "45s");
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-artifacts");
    println!("browser artifacts (screenshots, measurements.json): {}", artifacts.display());
    let out = Command::new("node")
        .arg(browser_dir().join("console.mjs"))
        .env("REKEY_URL", format!("http://127.0.0.1:{}", server.port))
        .env("REKEY_ADMIN_TOKEN", &admin)
        .env("REKEY_OPERATOR_TOKEN", &operator)
        .env("REKEY_AUDITOR_TOKEN", &auditor)
        .env("REKEY_KEY_ACCOUNT", &key_account)
        .env("REKEY_PASSWORD_ACCOUNT", &password_account)
        .env("REKEY_TARGET_ACCOUNT", &target_account)
        .env("REKEY_EXPIRING_TOKEN", &expiring)
        .env("REKEY_ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node (Debian package nodejs) on PATH");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the browser checks failed (see above and {}); server log:\n{}",
        artifacts.display(),
        server.log_text()
    );
    assert!(stdout.contains(" passed, 0 failed"), "the browser run reported its checks: {stdout}");
    for secret in [&admin, &operator, &auditor, &expiring] {
        assert!(!server.log_text().contains(secret.as_str()), "a token in the server log");
    }
}
