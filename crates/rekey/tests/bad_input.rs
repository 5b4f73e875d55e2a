//! Bad input, end to end: the real binary against moto. Every case is refused with the exit
//! code of its class, an error that names what was wrong and a `hint:` line, prints nothing on
//! stdout, and leaves the vault exactly as it was — providers, accounts and the whole audit log,
//! compared as JSON before and after ([`assert_rejected`]). Where there is no usable vault (a bad
//! location, a file that is not a vault) the files on disk are compared instead.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use assert_cmd::Command;
use common::{iam, Moto, Sandbox};
use std::{collections::BTreeMap, path::Path, process::Output};

// Exit codes by error class (crates/rekey/src/exit.rs).
const USAGE: i32 = 2;
const NOT_FOUND: i32 = 3;
const CONFLICT: i32 = 4;
const LOCKED: i32 = 7;
const INTEGRITY: i32 = 8;

const ALICE_PASSWORD: &str = "Alice-Secret-Pw-1!";

/// One bad invocation: arguments, standard input, expected exit code, a substring of stderr.
type Case<'a> = (Vec<&'a str>, &'a str, i32, &'a str);

/// The vault as the CLI shows it: `provider list`, `account list` and `audit list`, as JSON.
fn snapshot(sb: &Sandbox) -> [String; 3] {
    ["provider", "account", "audit"].map(|what| {
        let out = sb.rekey().args([what, "list", "-o", "json"]).assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    })
}

/// Runs `cmd args` with `stdin` and checks the refusal: exit `code`, `needle` and a non-empty
/// `hint:` line on stderr, nothing on stdout, and standard input (a secret) not echoed.
fn assert_fails(mut cmd: Command, args: &[&str], stdin: &str, code: i32, needle: &str) -> Output {
    let out = cmd.args(args).write_stdin(stdin.to_owned()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "rekey {args:?}: wrong exit code; stderr:\n{stderr}");
    assert!(stderr.contains(needle), "rekey {args:?}: {needle:?} not in stderr:\n{stderr}");
    let hinted = stderr.lines().filter_map(|l| l.trim_start().strip_prefix("hint:")).any(|h| !h.trim().is_empty());
    assert!(hinted, "rekey {args:?}: no hint line in stderr:\n{stderr}");
    assert!(out.stdout.is_empty(), "rekey {args:?} printed on stdout: {}", String::from_utf8_lossy(&out.stdout));
    let secret = stdin.trim();
    assert!(secret.len() < 4 || !stderr.contains(secret), "rekey {args:?}: stderr echoes standard input");
    out
}

/// Snapshot, run, check the refusal ([`assert_fails`]), snapshot: the vault must not change.
fn assert_rejected(sb: &Sandbox, args: &[&str], stdin: &str, code: i32, needle: &str) {
    assert_rejected_by(sb, sb.rekey(), args, stdin, code, needle);
}

/// [`assert_rejected`] with a prepared command (other environment, other master key).
fn assert_rejected_by(sb: &Sandbox, cmd: Command, args: &[&str], stdin: &str, code: i32, needle: &str) {
    let before = snapshot(sb);
    assert_fails(cmd, args, stdin, code, needle);
    assert_eq!(snapshot(sb), before, "rekey {args:?} changed the vault");
}

/// Every file in `dir`, with its length and a digest of its bytes.
fn files(dir: &Path) -> BTreeMap<String, String> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let digest = |bytes: Vec<u8>| {
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        format!("{} bytes, {:016x}", bytes.len(), h.finish())
    };
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), digest(std::fs::read(&p).unwrap())))
        .collect()
}

/// `account add --provider p --user USER --kind KIND REST…`
fn add_account<'a>(user: &'a str, kind: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    [&["account", "add", "--provider", "p", "--user", user, "--kind", kind][..], rest].concat()
}

/// `provider add NAME --region us-east-1 REST…`
fn add_provider<'a>(name: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    [&["provider", "add", name, "--region", "us-east-1"][..], rest].concat()
}

fn user_names() -> Vec<Case<'static>> {
    let pw = |user: &'static str| add_account(user, "password", &[]);
    vec![
        (pw(""), "", USAGE, r#"invalid user name: "" has 0 characters"#),
        (pw("a".repeat(65).leak()), "", USAGE, "has 65 characters"),
        (pw("bob smith"), "", USAGE, "contains ' '"),
        (pw("ops/alice"), "", USAGE, "contains '/'"),
        (pw("ünïcødé"), "", USAGE, "contains 'ü'"),
        // 40 characters but 80 bytes: refused for the character, not for its length.
        (pw("é".repeat(40).leak()), "", USAGE, "contains 'é'"),
        (pw("x;rm"), "", USAGE, "contains ';'"),
    ]
}

fn provider_options(endpoint: &str) -> Vec<Case<'_>> {
    const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    let role = |arn: &'static str| add_provider("x", &["--role-arn", arn]);
    let static_key = |id: &'static str| add_provider("x", &["--access-key-id", id, "--secret-stdin"]);
    vec![
        (add_provider("bad name", &["--default-chain"]), "", USAGE, "is not a valid provider name"),
        (add_provider("_x", &["--default-chain"]), "", USAGE, "is not a valid provider name"),
        (vec!["provider", "add", "x", "--region", "Mars", "--default-chain"], "", USAGE, "not an AWS region code"),
        (vec!["provider", "add", "x", "--region", "us-east", "--default-chain"], "", USAGE, "not an AWS region code"),
        (add_provider("x", &["--default-chain", "--endpoint-url", "ftp://moto"]), "", USAGE, "invalid endpoint URL"),
        (add_provider("x", &["--default-chain", "--endpoint-url", "http://"]), "", USAGE, "invalid endpoint URL"),
        (add_provider("x", &["--default-chain", "--endpoint-url", "moto:5000"]), "", USAGE, "invalid endpoint URL"),
        (role("not-an-arn"), "", USAGE, "does not have the form arn:"),
        (role("arn:aws:iam::123:role/x"), "", USAGE, "12 digits"),
        (role("arn:aws:iam::123456789012:user/x"), "", USAGE, "is not an IAM role ARN"),
        (role("arn:aws:sts::123456789012:assumed-role/x/s"), "", USAGE, "is not an IAM role ARN"),
        (role("arn:aws:iam::123456789012:role/"), "", USAGE, "is not an IAM role ARN"),
        (
            add_provider("x", &["--role-arn", "arn:aws:iam::123456789012:role/x", "--external-id", "a"]),
            "",
            USAGE,
            "invalid external id",
        ),
        (
            add_provider("x", &["--role-arn", "arn:aws:iam::123456789012:role/x", "--source", "ghost"]),
            "",
            NOT_FOUND,
            r#"provider "ghost" not found"#,
        ),
        (static_key("lowercase-id"), "secret", USAGE, "is not an access key id"),
        (static_key("AKIA"), "secret", USAGE, "is not an access key id"),
        (static_key(KEY), "", USAGE, "the secret access key is empty"),
        (static_key(KEY), "x".repeat(1025).leak(), USAGE, "rekey stores at most 1024"),
        (add_provider("x", &["--access-key-id", KEY]), "", USAGE, "standard input is not a terminal"),
        // The name is taken, whatever the new provider would have been.
        (add_provider("p", &["--default-chain"]), "", CONFLICT, "already exists"),
        (add_provider("p", &["--default-chain", "--endpoint-url", endpoint]), "", CONFLICT, "already exists"),
        (vec!["provider", "remove", "p"], "", CONFLICT, "used by 2 account"),
        (vec!["provider", "remove", "nope"], "", NOT_FOUND, r#"provider "nope" not found"#),
        (vec!["provider", "show", "nope"], "", NOT_FOUND, r#"provider "nope" not found"#),
        (vec!["provider", "show", "bad name"], "", USAGE, "is not a valid provider name"),
        (vec!["provider", "test", "nope"], "", NOT_FOUND, r#"provider "nope" not found"#),
    ]
}

fn account_options(svc_key: &str) -> Vec<Case<'_>> {
    let secret = "a-secret-never-checked";
    vec![
        (add_account("bob", "key", &[]), "", USAGE, r#""key" is not a credential kind"#),
        (add_account("bob", "Password", &[]), "", USAGE, "is not a credential kind"),
        (add_account("bob", "", &[]), "", USAGE, "is not a credential kind"),
        (vec!["account", "add", "--provider", "ghost", "--user", "bob", "--kind", "password"], "", NOT_FOUND, "ghost"),
        (add_account("bob", "password", &["--create"]), "", USAGE, "apply to access-key accounts"),
        (add_account("bob", "password", &["--access-key-id", svc_key]), "", USAGE, "apply to access-key accounts"),
        (add_account("bob", "access-key", &[]), "", USAGE, "needs --access-key-id ID --secret-stdin"),
        (add_account("bob", "access-key", &["--secret-stdin"]), "pw-for-a-key", USAGE, "needs --access-key-id"),
        (add_account("bob", "access-key", &["--create", "--secret-stdin"]), "", USAGE, "exclude each other"),
        (add_account("bob", "password", &["--secret-stdin"]), "", USAGE, "the password is empty"),
        (add_account("bob", "password", &["--secret-stdin"]), "\n", USAGE, "the password is empty"),
        (add_account("bob", "password", &["--secret-stdin"]), "x".repeat(1025).leak(), USAGE, "at most 1024"),
        (add_account("bob", "password", &["--secret-stdin"]), "P".repeat(129).leak(), USAGE, "IAM's 128 characters"),
        (add_account("bob", "access-key", &["--access-key-id", svc_key]), "", USAGE, "not a terminal"),
        (
            add_account("bob", "access-key", &["--access-key-id", svc_key, "--secret-stdin"]),
            "",
            USAGE,
            "the secret access key is empty",
        ),
        (
            add_account("bob", "access-key", &["--access-key-id", svc_key, "--secret-stdin"]),
            "two words",
            USAGE,
            "contains white space",
        ),
        (add_account("bob", "password", &["--folder", "a//b"]), "", USAGE, "is not a valid folder"),
        (add_account("bob", "password", &["--folder", "/prod"]), "", USAGE, "is not a valid folder"),
        (add_account("bob", "password", &["--name", "tab\there"]), "", USAGE, "invalid title"),
        // Already managed (checked before IAM is asked).
        (add_account("svc", "access-key", &["--create"]), "", CONFLICT, "account p/svc/access-key already exists"),
        (add_account("alice", "password", &[]), "", CONFLICT, "account p/alice/password already exists"),
        // IAM disagrees: no such user; a key the user does not have.
        (add_account("ghost", "password", &[]), "", NOT_FOUND, r#"IAM user "ghost" in provider p not found"#),
        (add_account("ghost", "access-key", &["--create"]), "", NOT_FOUND, r#"IAM user "ghost""#),
        (
            add_account("bob", "access-key", &["--access-key-id", svc_key, "--secret-stdin"]),
            secret,
            NOT_FOUND,
            "of IAM user bob not found",
        ),
        (
            add_account("bob", "access-key", &["--access-key-id", "AKIAAAAAAAAAAAAAAAAA", "--secret-stdin"]),
            secret,
            NOT_FOUND,
            "IAM user bob has no access keys",
        ),
        // bob has no console password to adopt.
        (add_account("bob", "password", &["--secret-stdin"]), "Bob-Pw-123!", CONFLICT, "no console password"),
    ]
}

fn references() -> Vec<Case<'static>> {
    let cmd = |args: &[&'static str]| args.to_vec();
    vec![
        (cmd(&["account", "show", "a/b"]), "", USAGE, r#""a/b" is not an account reference"#),
        (cmd(&["account", "show", "p/svc/access-key/x"]), "", USAGE, "is not an account reference"),
        (cmd(&["account", "show", "p/svc/key"]), "", USAGE, "is not a credential kind"),
        (cmd(&["account", "show", "p/bob smith/password"]), "", USAGE, "contains ' '"),
        (cmd(&["account", "show", "ABCDEFGH"]), "", USAGE, "is not an account id"),
        (cmd(&["account", "show", "short"]), "", USAGE, "is not an account id"),
        (cmd(&["account", "show", "zzzzzzzz"]), "", NOT_FOUND, "account zzzzzzzz not found"),
        (cmd(&["account", "show", "p/nobody/password"]), "", NOT_FOUND, "account p/nobody/password not found"),
        (cmd(&["account", "show", "q/svc/access-key"]), "", NOT_FOUND, "not found"),
        (cmd(&["account", "reveal", "p/svc/password"]), "", NOT_FOUND, "account p/svc/password not found"),
        (cmd(&["account", "reveal", "zzzzzzzz"]), "", NOT_FOUND, "account zzzzzzzz not found"),
        (cmd(&["account", "remove", "zzzzzzzz"]), "", NOT_FOUND, "account zzzzzzzz not found"),
        (cmd(&["account", "remove", "a/b"]), "", USAGE, "is not an account reference"),
        (cmd(&["account", "list", "--provider", "ghost"]), "", NOT_FOUND, r#"provider "ghost" not found"#),
        (cmd(&["account", "list", "--folder", "a//b"]), "", USAGE, "is not a valid folder"),
        (cmd(&["rotate", "zzzzzzzz"]), "", NOT_FOUND, "account zzzzzzzz not found"),
        (cmd(&["rotate", "a/b"]), "", USAGE, "is not an account reference"),
        (cmd(&["rotate", "--folder", "nosuch"]), "", NOT_FOUND, "an account in folder nosuch not found"),
        (cmd(&["heartbeat", "--folder", "nosuch"]), "", NOT_FOUND, "an account in folder nosuch not found"),
        (cmd(&["rollback", "zzzzzzzz"]), "", NOT_FOUND, "account zzzzzzzz not found"),
        (cmd(&["heartbeat", "p/nobody/access-key"]), "", NOT_FOUND, "not found"),
        (cmd(&["rotation", "show", "nope"]), "", NOT_FOUND, r#"rotation "nope" not found"#),
        (cmd(&["discover", "ghost"]), "", NOT_FOUND, r#"provider "ghost" not found"#),
    ]
}

fn settings_and_audit() -> Vec<Case<'static>> {
    let set = |rest: &[&'static str]| [&["account", "set", "p/svc/access-key"][..], rest].concat();
    vec![
        (set(&["--every", "soon"]), "", USAGE, r#""soon" is not a duration"#),
        (set(&["--max-age", "5 days"]), "", USAGE, "is not a duration"),
        (set(&["--cron", "61 * * * *"]), "", USAGE, "cron"),
        (vec!["account", "set", "p/alice/password", "--password-length", "4"], "", USAGE, "password length"),
        (set(&["--previous-key", "shred"]), "", USAGE, "not a policy"),
        (set(&["--folder", "a b"]), "", USAGE, "is not a valid folder"),
        (
            vec!["account", "set", "p/alice/password", "--secrets-manager", "prod/alice"],
            "",
            USAGE,
            "delivery targets receive new access keys only",
        ),
        (vec!["account", "set", "zzzzzzzz", "--every", "1d"], "", NOT_FOUND, "account zzzzzzzz not found"),
        // Only an access key that rekey created may be deleted with the account.
        (vec!["account", "remove", "p/svc/access-key", "--delete-managed-key"], "", CONFLICT, "did not create"),
        (
            vec!["account", "remove", "p/alice/password", "--delete-managed-key"],
            "",
            USAGE,
            "applies to access-key accounts",
        ),
        (vec!["audit", "list", "--since", "yesterday"], "", USAGE, r#""yesterday" is not a time"#),
        (vec!["audit", "list", "--since", "5y"], "", USAGE, "is not a time"),
        (vec!["audit", "list", "--limit", "0"], "", USAGE, "--limit 0 is out of range"),
        (vec!["audit", "list", "--limit=-1"], "", USAGE, "--limit -1 is out of range"),
        (vec!["rotation", "list", "--limit", "0"], "", USAGE, "out of range"),
        (vec!["report", "--max-age", "soon"], "", USAGE, "is not a duration"),
        (vec!["init"], "", CONFLICT, "already holds rekey vault "),
    ]
}

/// Settings that are surely mistakes: options for the other credential kind, no change at
/// all, a schedule that never fires, endpoints with credentials, secrets no AWS secret has.
fn mistakes() -> Vec<Case<'static>> {
    let set = |account: &'static str, rest: &[&'static str]| [&["account", "set", account][..], rest].concat();
    let key = |rest: &[&'static str]| set("p/svc/access-key", rest);
    let pw = |rest: &[&'static str]| set("p/alice/password", rest);
    let key_only = "to access-key accounts only";
    let pw_only = "to password accounts only";
    let static_key =
        |secret| (add_provider("x", &["--access-key-id", "AKIAIOSFODNN7EXAMPLE", "--secret-stdin"]), secret);
    let adopt = add_account("bob", "access-key", &["--access-key-id", "AKIAIOSFODNN7EXAMPLE", "--secret-stdin"]);
    let (sk1, sk1_in) = static_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEé");
    let (sk2, sk2_in) = static_key("wJalrXUtnFEMI/K7MDENG\u{7}bPxRfiCYEXAMPLEKEY");
    vec![
        (pw(&["--previous-key", "delete"]), "", USAGE, key_only),
        (pw(&["--verify-successes", "2"]), "", USAGE, key_only),
        (pw(&["--deactivate-after", "1d", "--every", "30d"]), "", USAGE, "--deactivate-after applies to access-key"),
        (pw(&["--retirement", "confirmed"]), "", USAGE, key_only),
        (key(&["--password-length", "20"]), "", USAGE, pw_only),
        (key(&["--create-login-profile"]), "", USAGE, pw_only),
        (key(&["--password-use-symbols", "false", "--every", "30d"]), "", USAGE, pw_only),
        (key(&[]), "", USAGE, "nothing to change"),
        (key(&["--no-schedule"]), "", USAGE, "nothing to change"),
        (key(&["--previous-key", "deactivate"]), "", USAGE, "nothing to change"),
        (pw(&[]), "", USAGE, "nothing to change"),
        (key(&["--cron", "0 0 31 2 *"]), "", USAGE, "never fires"),
        (key(&["--cron", "0 0 30 2 *"]), "", USAGE, "never fires"),
        (key(&["--cron", "0 0 31 4,6,9,11 *"]), "", USAGE, "never fires"),
        (
            add_provider("x", &["--default-chain", "--endpoint-url", "http://u:p@moto:5000/"]),
            "",
            USAGE,
            "credentials in it",
        ),
        (
            add_provider("x", &["--default-chain", "--endpoint-url", "https://token@moto/"]),
            "",
            USAGE,
            "credentials in it",
        ),
        (add_account("bob", "password", &["--secret-stdin"]), "Pass\u{1}word-123", USAGE, "U+0001"),
        (add_account("bob", "password", &["--secret-stdin"]), "Pässwörd-🔑-123", USAGE, "U+1F511"),
        (adopt.clone(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEé", USAGE, "no AWS secret key contains (U+00E9)"),
        (adopt, "wJalrXUtnFEMI/K7MDENG\u{1b}bPxRfiCYEXAMPLEKEY", USAGE, "(U+001B)"),
        (sk1, sk1_in, USAGE, "no AWS secret key contains"),
        (sk2, sk2_in, USAGE, "no AWS secret key contains"),
    ]
}

/// Credentials-file targets that cannot be what was meant, and environment settings that
/// cannot be used: refused, the vault unchanged.
fn files_and_environment(sb: &Sandbox) {
    let dir = sb.path("a-directory");
    std::fs::create_dir(&dir).unwrap();
    let not_ini = sb.path("notes.txt");
    std::fs::write(&not_ini, "shopping list\n- milk\n- eggs\n").unwrap();
    let binary = sb.path("blob.bin");
    std::fs::write(&binary, [0u8, 0xff, 0xfe, 0x80, 1, 2]).unwrap();
    let link = sb.path("linked-credentials");
    std::os::unix::fs::symlink(&not_ini, &link).unwrap();
    let open_dir = sb.path("open");
    std::fs::create_dir(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let in_open = open_dir.join("credentials");
    for (path, needle) in [
        (&dir, "is not a regular file"),
        (&not_ini, "is not an AWS credentials file"),
        (&binary, "is not an AWS credentials file"),
        (&link, "is a symbolic link"),
        (&in_open, "may be written by other users"),
    ] {
        let args =
            ["account", "set", "p/svc/access-key", "--credentials-file", path.to_str().unwrap(), "--profile", "ci"];
        assert_rejected(sb, &args, "", USAGE, needle);
    }
    assert_eq!(std::fs::read_to_string(&not_ini).unwrap(), "shopping list\n- milk\n- eggs\n");
    for bad in ["verbose", "rekey=loud", "info,debugging", "[{"] {
        let mut cmd = sb.rekey();
        cmd.env("REKEY_LOG", bad);
        assert_rejected_by(sb, cmd, &["account", "list"], "", USAGE, "REKEY_LOG");
    }
    // A key file named for a passphrase vault belongs to some other vault.
    let key = sb.path("other.key");
    std::fs::write(&key, "ab".repeat(32)).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    for how in ["flag", "env"] {
        let mut cmd = sb.rekey();
        match how {
            "flag" => cmd.arg("--key-file").arg(&key),
            _ => cmd.env("REKEY_KEY_FILE", &key),
        };
        assert_rejected_by(
            sb,
            cmd,
            &["provider", "add", "x", "--region", "us-east-1", "--default-chain"],
            "",
            USAGE,
            "protected by a passphrase",
        );
    }
}

/// One vault (provider `p`, accounts `p/svc/access-key` and `p/alice/password`), one moto, and
/// every bad input that can be tried against them.
#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let moto = Moto::start();
    let admin = iam::admin(&moto);
    for user in ["alice", "bob", "svc"] {
        iam::create_user(&moto, user);
    }
    iam::create_login_profile(&moto, "alice", ALICE_PASSWORD);
    let svc = iam::create_key(&moto, "svc");
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "p", &admin);
    sb.adopt_key("p", "svc", &svc);
    sb.adopt_password("p", "alice", ALICE_PASSWORD);
    let vault = snapshot(&sb).join("\n");
    for expected in [r#""svc""#, r#""alice""#, r#""account.add""#, &svc.0] {
        assert!(vault.contains(expected), "the snapshot shows {expected}: {vault}");
    }
    let cases = [
        user_names(),
        provider_options(&moto.url),
        account_options(&svc.0),
        references(),
        settings_and_audit(),
        mistakes(),
    ]
    .concat();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for (args, stdin, code, needle) in &cases {
        assert_rejected(&sb, args, stdin, *code, needle);
    }
    // Settings from the environment: a value that cannot be used is refused up front (the async
    // runtime itself would panic on TOKIO_WORKER_THREADS; a bad cap used to be ignored).
    for (var, bad) in [
        ("TOKIO_WORKER_THREADS", ""),
        ("TOKIO_WORKER_THREADS", "0"),
        ("TOKIO_WORKER_THREADS", "two"),
        ("REKEY_PROVIDER_CONCURRENCY", "0"),
        ("REKEY_PROVIDER_CONCURRENCY", "1025"),
        ("REKEY_PROVIDER_CONCURRENCY", "abc"),
        ("REKEY_AWS_ATTEMPT_TIMEOUT", "0s"),
        ("REKEY_AWS_PACE", "iam=fast"),
    ] {
        let mut cmd = sb.rekey();
        cmd.env(var, bad);
        assert_rejected_by(&sb, cmd, &["rotate", "p/svc/access-key"], "", USAGE, var);
    }
    files_and_environment(&sb);
    assert_eq!(iam::key_ids(&moto, "bob"), Vec::<String>::new(), "no key was created in IAM");
    assert_eq!(iam::key_ids(&moto, "svc"), vec![svc.0.clone()], "svc's keys are as they were");
    sb.rekey().args(["audit", "verify"]).assert().success();
}

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
    assert_eq!(events[..earlier.len()], earlier[..], "the audit log is only appended to");
    let added: Vec<(&str, &str)> = events[earlier.len()..]
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
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
        .args(["provider", "add", "chain", "--region", "us-east-1", "--default-chain"])
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
