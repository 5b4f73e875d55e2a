//! Vault files and master keys that cannot be used: a bad location, another application's
//! database, tampered ciphertext, a wrong passphrase or key file; server settings that cannot
//! work.

use super::{
    assert_fails, assert_rejected_by, files, snapshot, ALICE_PASSWORD, CONFLICT, INTEGRITY, LOCKED, NOT_FOUND, USAGE,
};
use crate::common::{iam, Moto, Sandbox};
use std::collections::BTreeMap;

/// Python that makes another application's SQLite database (rollback journal, one table) at argv[1].
const OTHER_APP_DB: &str = "import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute('CREATE TABLE notes (x TEXT)')
db.execute(\"INSERT INTO notes VALUES ('hi')\")
db.commit()";

/// A vault URL that does not parse, a vault that does not exist, a file that is not a database
/// and another application's database: refused, and nothing on disk is created or changed.
#[test]
fn a_bad_vault_location_is_refused_and_nothing_is_created() {
    let sb = Sandbox::new();
    std::fs::write(sb.path("garbage.db"), b"this is not a database at all, just some bytes.........").unwrap();
    std::fs::write(sb.path("empty.db"), b"").unwrap();
    let other = sb.path("other-app.db");
    let status = std::process::Command::new("python3").arg("-c").arg(OTHER_APP_DB).arg(&other).status().unwrap();
    assert!(status.success());
    let at = |name: &str| format!("sqlite:{}", sb.path(name).display());
    let cases = [
        ("mysql://x".to_owned(), USAGE, r#"invalid vault URL "mysql://x""#),
        ("sqlite:".to_owned(), USAGE, "no file path after `sqlite:`"),
        ("sqlite://".to_owned(), USAGE, "no file path after `sqlite:`"),
        ("vault.db".to_owned(), USAGE, "invalid vault URL"),
        (at("missing.db"), NOT_FOUND, "no vault at"),
        (format!("sqlite:{}", sb.path("no-such-dir/vault.db").display()), NOT_FOUND, "no vault at"),
        (at("garbage.db"), INTEGRITY, "file is not a database"),
        (at("other-app.db"), INTEGRITY, "not a rekey vault"),
        // An empty file is a valid, empty SQLite database: not a vault.
        (at("empty.db"), INTEGRITY, "not a rekey vault"),
    ];
    for (vault, code, needle) in cases {
        for args in [&["account", "list"][..], &["provider", "add", "x", "--region", "us-east-1", "--default-chain"]] {
            let before = files(sb.dir.path());
            let mut cmd = sb.rekey();
            cmd.env("REKEY_VAULT", &vault);
            assert_fails(cmd, args, "", code, needle);
            assert_eq!(files(sb.dir.path()), before, "{vault}: rekey {args:?} created or changed a file");
        }
    }
    assert!(!sb.path("no-such-dir").exists(), "a read does not create directories");
}

/// A secret whose ciphertext was altered is refused (exit 8) and never printed; a wrong or
/// missing passphrase locks the vault (exit 7) without writing anything.
#[test]
fn tampered_ciphertext_and_a_wrong_passphrase_are_refused() {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    iam::create_user(&moto, "alice");
    iam::create_login_profile(&moto, "alice", ALICE_PASSWORD);
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "p", &admin);
    sb.adopt_password("p", "alice", ALICE_PASSWORD);

    let wrong = sb.path("wrong-passphrase");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    std::fs::set_permissions(&wrong, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let env = |key: &str, value: Option<&str>| {
        let mut c = sb.rekey();
        match value {
            Some(v) => c.env(key, v),
            None => c.env_remove(key),
        };
        c
    };
    let unlock = "the master key does not open this vault";
    for args in [&["account", "list"][..], &["account", "reveal", "p/alice/password"], &["audit", "list"]] {
        assert_rejected_by(&sb, env("REKEY_PASSPHRASE", Some("wrong passphrase")), args, "", LOCKED, unlock);
    }
    let add = ["provider", "add", "x", "--region", "us-east-1", "--default-chain"];
    assert_rejected_by(&sb, env("REKEY_PASSPHRASE", Some("wrong passphrase")), &add, "", LOCKED, unlock);
    let file = ["--passphrase-file", wrong.to_str().unwrap()];
    assert_rejected_by(&sb, sb.rekey(), &[&file[..], &add[..]].concat(), "", LOCKED, unlock);
    let missing = ["--passphrase-file", "/nonexistent/passphrase"];
    assert_rejected_by(
        &sb,
        sb.rekey(),
        &[&missing[..], &add[..]].concat(),
        "",
        LOCKED,
        "cannot read the passphrase file",
    );
    // No passphrase anywhere and standard input is not a terminal: no prompt, exit 7.
    let none = "the vault passphrase is needed but none was given";
    assert_rejected_by(&sb, env("REKEY_PASSPHRASE", None), &["account", "list"], "", LOCKED, none);
    assert_rejected_by(&sb, env("REKEY_PASSPHRASE", None), &add, "", LOCKED, none);

    tamper_with_the_secret(&sb);
    let before = snapshot(&sb);
    let reveal = ["account", "reveal", "p/alice/password"];
    let out = assert_fails(sb.rekey(), &reveal, "", INTEGRITY, "failed authentication: its ciphertext was altered");
    assert!(!String::from_utf8_lossy(&out.stderr).contains(ALICE_PASSWORD), "the secret is not printed");
    // As JSON the error is one JSON object on stderr, and stdout stays empty.
    let json = sb.rekey().args(reveal).args(["-o", "json"]).output().unwrap();
    assert_eq!(json.status.code(), Some(INTEGRITY));
    assert!(json.stdout.is_empty(), "nothing on stdout: {}", String::from_utf8_lossy(&json.stdout));
    let err: serde_json::Value = serde_json::from_slice(&json.stderr).unwrap();
    assert_eq!(err["error"]["class"], "integrity", "{err}");
    assert!(err["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()), "{err}");
    assert!(!err.to_string().contains(ALICE_PASSWORD));
    // Providers and accounts are untouched; the audit log records the failed reveals, and only them.
    let after = snapshot(&sb);
    assert_eq!(after[..2], before[..2], "providers and accounts are unchanged");
    let earlier: Vec<serde_json::Value> = serde_json::from_str(&before[2]).unwrap();
    let events: Vec<serde_json::Value> = serde_json::from_str(&after[2]).unwrap();
    // Newest first: what was there before is the tail of the list now.
    let new = events.len() - earlier.len();
    assert_eq!(events[new..], earlier[..], "the audit log is only appended to");
    let added: Vec<(&str, &str)> =
        events[..new].iter().map(|e| (e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
    assert_eq!(added, [("account.reveal", "failed"), ("account.reveal", "failed")], "{events:?}");
    assert!(!after[2].contains(ALICE_PASSWORD), "no secret in the audit log");
    sb.rekey().args(["audit", "verify"]).assert().success();
}

/// Flips one byte inside the sealed password's ciphertext (the GCM tag must catch it).
fn tamper_with_the_secret(sb: &Sandbox) {
    let url = format!("sqlite://{}", sb.vault_file().display());
    iam::block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let (record, ct): (String, Vec<u8>) =
            sqlx::query_as("SELECT record_id, ciphertext FROM secret_versions WHERE record_id NOT LIKE 'provider/%'")
                .fetch_one(&pool)
                .await
                .unwrap();
        let mut bad = ct.clone();
        bad[ct.len() / 2] ^= 0x01;
        let done = sqlx::query("UPDATE secret_versions SET ciphertext = $1 WHERE record_id = $2 AND ciphertext = $3")
            .bind(bad)
            .bind(record)
            .bind(ct)
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(done.rows_affected(), 1);
        pool.close().await;
    });
}

/// `init` refuses a short passphrase, and a missing one without a terminal, and leaves no file.
#[test]
fn init_refuses_a_bad_passphrase_without_creating_a_vault() {
    let sb = Sandbox::new();
    for (passphrase, code, needle) in [
        (Some("short"), USAGE, "the passphrase is shorter than 8 characters"),
        (Some("seven77"), USAGE, "shorter than 8"),
        (Some(""), USAGE, "shorter than 8"),
        (None, LOCKED, "the vault passphrase is needed but none was given"),
    ] {
        let mut cmd = sb.rekey();
        match passphrase {
            Some(p) => cmd.env("REKEY_PASSPHRASE", p),
            None => cmd.env_remove("REKEY_PASSPHRASE"),
        };
        assert_fails(cmd, &["init"], "", code, needle);
        assert_eq!(files(sb.dir.path()), BTreeMap::new(), "{passphrase:?}: no vault file is left behind");
    }
}

/// A key-file vault opened with another key file, a malformed one or none: exit 7, unchanged.
#[test]
fn a_key_file_vault_refuses_the_wrong_key_file() {
    let sb = Sandbox::new();
    let key = sb.path("vault.key");
    // Only the key file may open this vault: no passphrase in the environment.
    let key_file = || {
        let mut c = sb.rekey();
        c.env_remove("REKEY_PASSPHRASE");
        c
    };
    key_file().args(["init", "--key-file", key.to_str().unwrap()]).assert().success();
    key_file()
        .arg("--key-file")
        .arg(&key)
        .args(["provider", "add", "chain", "--region", "us-east-1", "--default-chain", "--no-test"])
        .assert()
        .success();
    let bad_keys = [
        ("other.key", "ab".repeat(32), "the master key does not open this vault"),
        ("not-hex.key", "this is not hex at all".to_owned(), "expected 64 hexadecimal characters"),
        ("short.key", "ab".repeat(31), "expected 64 hexadecimal characters (32 bytes)"),
        ("empty.key", String::new(), "expected 64 hexadecimal characters"),
    ];
    for (name, text, _) in &bad_keys {
        std::fs::write(sb.path(name), text).unwrap();
        std::fs::set_permissions(sb.path(name), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    }
    let mut cases: Vec<(String, &str)> =
        bad_keys.iter().map(|(name, _, needle)| (sb.path(name).display().to_string(), *needle)).collect();
    cases.push((sb.path("missing.key").display().to_string(), "No such file"));
    for (path, needle) in &cases {
        for args in [&["provider", "list"][..], &["provider", "add", "x", "--region", "us-east-1", "--default-chain"]] {
            let mut cmd = key_file();
            cmd.args(["--key-file", path]);
            assert_rejected_by(&sb, cmd, args, "", LOCKED, needle);
        }
    }
    // No key file named: exit 7, naming the one recorded at init (which is never used unasked).
    let mut unnamed = key_file();
    unnamed.env_remove("REKEY_KEY_FILE");
    assert_fails(unnamed, &["provider", "list"], "", LOCKED, "vault.key");
    // init on the existing vault with a new key file: refused before the key file is created.
    let new_key = sb.path("new.key");
    assert_rejected_by(
        &sb,
        key_file(),
        &["init", "--key-file", new_key.to_str().unwrap()],
        "",
        CONFLICT,
        "already holds",
    );
    assert!(!new_key.exists(), "no key file is created for a refused init");
    // A new vault with a malformed key file: exit 7, and no vault file is left.
    let mut cmd = key_file();
    cmd.env("REKEY_VAULT", format!("sqlite:{}", sb.path("second.db").display()));
    let not_hex = sb.path("not-hex.key");
    assert_fails(cmd, &["init", "--key-file", not_hex.to_str().unwrap()], "", LOCKED, "expected 64 hexadecimal");
    assert!(!sb.path("second.db").exists(), "no vault is left by a failed init");
}

/// `init` over another application's SQLite database is refused and leaves it as it was; over
/// a pre-created empty file (0644) it makes the vault there, private.
#[test]
fn init_refuses_another_database_and_makes_a_precreated_file_private() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let other = sb.path("other-app.db");
    let status = std::process::Command::new("python3").arg("-c").arg(OTHER_APP_DB).arg(&other).status().unwrap();
    assert!(status.success());
    let before = files(sb.dir.path());
    let mut cmd = sb.rekey();
    cmd.env("REKEY_VAULT", format!("sqlite:{}", other.display()));
    assert_fails(cmd, &["init"], "", INTEGRITY, "another application's SQLite database (tables notes)");
    assert_eq!(files(sb.dir.path()), before, "the other database was changed");
    let pre = sb.path("pre-created.db");
    std::fs::write(&pre, b"").unwrap();
    std::fs::set_permissions(&pre, std::fs::Permissions::from_mode(0o644)).unwrap();
    let vault = format!("sqlite:{}", pre.display());
    sb.rekey().env("REKEY_VAULT", &vault).arg("init").assert().success();
    assert_eq!(std::fs::metadata(&pre).unwrap().permissions().mode() & 0o777, 0o600);
    sb.rekey().env("REKEY_VAULT", &vault).args(["account", "list"]).assert().success();
}

/// Server settings that parse but cannot work stop `rekey serve` at start (exit 2, a hint,
/// nothing written): a check-out TTL longer than any check-out, an export file in a directory
/// that does not exist, an export file that is a link.
#[test]
fn server_settings_that_cannot_work_are_refused_at_start() {
    let sb = Sandbox::new();
    sb.init();
    let before = snapshot(&sb);
    let link = sb.path("audit-link.jsonl");
    std::os::unix::fs::symlink(sb.path("elsewhere.jsonl"), &link).unwrap();
    let export = |path: &str| format!("[[export]]\nname = \"siem\"\nkind = \"file\"\npath = \"{path}\"\n");
    let missing = sb.path("no-such-dir").join("audit.jsonl");
    let cases = [
        ("[checkout]\ndefault_ttl = \"48h\"\n".to_owned(), "checkout.default_ttl must be at most 24h"),
        (export(missing.to_str().unwrap()), "No such file or directory"),
        (export(link.to_str().unwrap()), "is a symbolic link"),
    ];
    let config = sb.path("server.toml");
    for (toml, needle) in cases {
        std::fs::write(&config, &toml).unwrap();
        let args = ["serve", "--listen", "127.0.0.1:0", "--config", config.to_str().unwrap()];
        assert_fails(sb.rekey(), &args, "", USAGE, needle);
    }
    assert!(!sb.path("no-such-dir").exists() && !sb.path("elsewhere.jsonl").exists(), "nothing was created");
    assert_eq!(snapshot(&sb), before, "the vault is unchanged");
}
