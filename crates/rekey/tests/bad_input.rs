//! Bad input: each case gets its own exit code class, a message naming what was wrong, a hint,
//! and leaves the vault exactly as it was (providers, accounts and the audit log compared
//! before and after).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{iam, Moto, Sandbox};

fn snapshot(sb: &Sandbox) -> String {
    ["provider list", "account list", "audit list"]
        .iter()
        .map(|c| sb.json(&c.split(' ').collect::<Vec<_>>()).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs `args` (with `stdin`), expects exit `code` and `needle` in stderr, and an unchanged vault.
fn rejected(sb: &Sandbox, args: &[&str], stdin: &str, code: i32, needle: &str) {
    let before = snapshot(sb);
    let out = sb.rekey().args(args).write_stdin(stdin.to_owned()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: expected {needle:?} in: {stderr}");
    assert!(code == 2 && stderr.contains("Usage:") || stderr.contains("hint:"), "{args:?}: no hint: {stderr}");
    assert_eq!(snapshot(sb), before, "{args:?} changed the vault");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    iam::create_user(&moto, "alice");
    iam::create_user(&moto, "svc");
    let svc = iam::create_key(&moto, "svc");
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "p", &admin);
    sb.adopt_key("p", "svc", &svc);
    let add = |user: &str, kind: &str| -> Vec<String> {
        ["account", "add", "--provider", "p", "--user", user, "--kind", kind].iter().map(|s| s.to_string()).collect()
    };
    let long_name = "a".repeat(65);
    let big_secret = "x".repeat(1025);
    let cases: Vec<(Vec<String>, &str, i32, &str)> = vec![
        // IAM's user-name rules.
        ([add(&long_name, "password")].concat(), "", 2, "1 to 64 characters"),
        ([add("bob smith", "password")].concat(), "", 2, "contains ' '"),
        ([add("a/b", "password")].concat(), "", 2, "contains '/'"),
        ([add("ünï", "password")].concat(), "", 2, "invalid user name"),
        ([add("", "password")].concat(), "", 2, "invalid user name"),
        // Kinds, references, names.
        ([add("alice", "key")].concat(), "", 2, "not a credential kind"),
        (vec!["account".into(), "show".into(), "a/b".into()], "", 2, "not an account reference"),
        (vec!["account".into(), "show".into(), "ABCDEFGH".into()], "", 2, "not an account id"),
        (vec!["account".into(), "show".into(), "zzzzzzzz".into()], "", 3, "not found"),
        (vec!["account".into(), "reveal".into(), "p/nobody/password".into()], "", 3, "not found"),
        (vec!["provider".into(), "show".into(), "nope".into()], "", 3, "not found"),
        (vec!["provider".into(), "show".into(), "bad name".into()], "", 2, "provider name"),
        // Provider options.
        (
            vec![
                "provider".into(),
                "add".into(),
                "x".into(),
                "--region".into(),
                "Mars".into(),
                "--default-chain".into(),
            ],
            "",
            2,
            "not an AWS region",
        ),
        (
            vec![
                "provider".into(),
                "add".into(),
                "x".into(),
                "--region".into(),
                "us-east-1".into(),
                "--default-chain".into(),
                "--endpoint-url".into(),
                "ftp://x".into(),
            ],
            "",
            2,
            "invalid endpoint URL",
        ),
        (
            vec![
                "provider".into(),
                "add".into(),
                "x".into(),
                "--region".into(),
                "us-east-1".into(),
                "--role-arn".into(),
                "arn:aws:iam::123:role/x".into(),
            ],
            "",
            2,
            "12 digits",
        ),
        (
            vec![
                "provider".into(),
                "add".into(),
                "x".into(),
                "--region".into(),
                "us-east-1".into(),
                "--role-arn".into(),
                "arn:aws:iam::123456789012:user/x".into(),
            ],
            "",
            2,
            "not an IAM role ARN",
        ),
        (
            vec![
                "provider".into(),
                "add".into(),
                "x".into(),
                "--region".into(),
                "us-east-1".into(),
                "--role-arn".into(),
                "arn:aws:iam::123456789012:role/x".into(),
                "--source".into(),
                "ghost".into(),
            ],
            "",
            3,
            "not found",
        ),
        (
            vec![
                "provider".into(),
                "add".into(),
                "x".into(),
                "--region".into(),
                "us-east-1".into(),
                "--access-key-id".into(),
                "lowercase-id".into(),
                "--secret-stdin".into(),
            ],
            "s",
            2,
            "not an access key id",
        ),
        (
            vec![
                "provider".into(),
                "add".into(),
                "x".into(),
                "--region".into(),
                "us-east-1".into(),
                "--access-key-id".into(),
                "AKIAIOSFODNN7EXAMPLE".into(),
                "--secret-stdin".into(),
            ],
            "",
            2,
            "is empty",
        ),
        (
            vec![
                "provider".into(),
                "add".into(),
                "p".into(),
                "--region".into(),
                "us-east-1".into(),
                "--default-chain".into(),
            ],
            "",
            4,
            "already exists",
        ),
        (vec!["provider".into(), "remove".into(), "p".into()], "", 4, "used by 1 account"),
        // Account options and secrets.
        ([add("svc", "access-key"), vec!["--create".into()]].concat(), "", 4, "already exists"),
        ([add("alice", "access-key")].concat(), "", 2, "needs --access-key-id"),
        ([add("alice", "password"), vec!["--create".into()]].concat(), "", 2, "apply to access-key accounts"),
        ([add("alice", "password"), vec!["--secret-stdin".into()]].concat(), "", 2, "is empty"),
        ([add("alice", "password"), vec!["--secret-stdin".into()]].concat(), &big_secret, 2, "at most 1024"),
        (
            [add("alice", "access-key"), vec!["--access-key-id".into(), svc.0.clone(), "--secret-stdin".into()]]
                .concat(),
            "secret",
            3,
            "access key",
        ),
        ([add("ghost", "password")].concat(), "", 3, "IAM user"),
        (
            [
                add("svc", "access-key"),
                vec![
                    "--access-key-id".into(),
                    svc.0.clone(),
                    "--secret-stdin".into(),
                    "--folder".into(),
                    "a//b".into(),
                ],
            ]
            .concat(),
            &svc.1,
            2,
            "not a valid folder",
        ),
        // Settings, times, limits.
        (
            vec!["account".into(), "set".into(), "p/svc/access-key".into(), "--every".into(), "soon".into()],
            "",
            2,
            "not a duration",
        ),
        (
            vec!["account".into(), "set".into(), "p/svc/access-key".into(), "--cron".into(), "61 * * * *".into()],
            "",
            2,
            "cron",
        ),
        (
            vec!["account".into(), "set".into(), "p/svc/access-key".into(), "--password-length".into(), "4".into()],
            "",
            2,
            "password length",
        ),
        (
            vec!["account".into(), "set".into(), "p/svc/access-key".into(), "--previous-key".into(), "shred".into()],
            "",
            2,
            "not a policy",
        ),
        (vec!["audit".into(), "list".into(), "--since".into(), "yesterday".into()], "", 2, "not a time"),
        (vec!["audit".into(), "list".into(), "--limit".into(), "0".into()], "", 2, "out of range"),
        (vec!["init".into()], "", 4, "already holds a rekey vault"),
    ];
    assert!(cases.len() >= 30);
    for (args, stdin, code, needle) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rejected(&sb, &args, stdin, *code, needle);
    }
}

#[test]
fn a_bad_vault_location_is_refused_and_nothing_is_created() {
    let sb = Sandbox::new();
    let missing = sb.path("missing.db");
    let run = |vault: &str| sb.rekey().env("REKEY_VAULT", vault).args(["account", "list"]).output().unwrap();
    for (vault, code, needle) in [
        ("mysql://x".to_owned(), 2, "invalid vault URL"),
        ("sqlite:".to_owned(), 2, "no file path"),
        (format!("sqlite:{}", missing.display()), 3, "no vault at"),
    ] {
        let out = run(&vault);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{vault}: {stderr}");
        assert!(stderr.contains(needle) && stderr.contains("hint:"), "{vault}: {stderr}");
    }
    assert!(!missing.exists(), "a missing vault is not created by a read");
    // A file that is not a database, and a database that is not a vault: exit 8, untouched.
    let garbage = sb.path("garbage.db");
    std::fs::write(&garbage, b"this is not a database at all, just some bytes........").unwrap();
    let before = std::fs::read(&garbage).unwrap();
    let out = run(&format!("sqlite:{}", garbage.display()));
    assert_eq!(out.status.code(), Some(8), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&garbage).unwrap(), before, "a corrupt file is left as it was");
    let other = sb.path("other-app.db");
    iam::block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", other.display())).await.unwrap();
        sqlx::query("CREATE TABLE notes (x TEXT)").execute(&pool).await.unwrap();
    });
    let out = run(&format!("sqlite:{}", other.display()));
    assert_eq!(out.status.code(), Some(8));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a rekey vault"));
}

#[test]
fn tampered_ciphertext_is_detected_and_never_printed() {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "p", &admin);
    iam::create_user(&moto, "alice");
    iam::create_login_profile(&moto, "alice", "Alice-Secret-Pw-1!");
    sb.adopt_password("p", "alice", "Alice-Secret-Pw-1!");
    let url = format!("sqlite://{}", sb.vault_file().display());
    iam::block_on(async {
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let ct: Vec<u8> =
            sqlx::query_scalar("SELECT ciphertext FROM secret_versions WHERE record_id NOT LIKE 'provider/%'")
                .fetch_one(&pool)
                .await
                .unwrap();
        let mut bad = ct.clone();
        let i = bad.len() - 3;
        bad[i] ^= 0x55;
        sqlx::query("UPDATE secret_versions SET ciphertext = $1 WHERE ciphertext = $2")
            .bind(bad)
            .bind(ct)
            .execute(&pool)
            .await
            .unwrap();
    });
    let out = sb.rekey().args(["account", "reveal", "p/alice/password"]).output().unwrap();
    assert_eq!(out.status.code(), Some(8));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed authentication"));
    assert!(out.stdout.is_empty(), "nothing is printed");
    // A wrong passphrase: exit 7, nothing written (the audit log is unchanged).
    let before = sb.json(&["audit", "list"]);
    sb.rekey().env("REKEY_PASSPHRASE", "wrong passphrase").args(["account", "list"]).assert().code(7);
    sb.rekey()
        .env_remove("REKEY_PASSPHRASE")
        .args(["account", "list"])
        .assert()
        .code(7)
        .stderr(predicates::str::contains("REKEY_PASSPHRASE"));
    assert_eq!(sb.json(&["audit", "list"]), before);
}

#[test]
fn init_refuses_a_short_passphrase_without_creating_a_vault() {
    let sb = Sandbox::new();
    sb.rekey()
        .env("REKEY_PASSPHRASE", "short")
        .arg("init")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("shorter than 8"));
    assert!(!sb.vault_file().exists(), "no vault file is left behind");
}
