//! Bad input, end to end: the real binary against moto. Every case is refused with the exit
//! code of its class, an error that names what was wrong and a `hint:` line, prints nothing on
//! stdout, and leaves the vault exactly as it was — providers, accounts and the whole audit log,
//! compared as JSON before and after ([`assert_rejected`]). Where there is no usable vault (a bad
//! location, a file that is not a vault) the files on disk are compared instead.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod cases;
#[path = "../common/mod.rs"]
mod common;
mod providers;
mod storage;
mod vault_files;

use assert_cmd::Command;
use cases::{
    account_options, bulk_and_docs, minimums, mistakes, provider_options, references, settings_and_audit,
    typed_options, user_names, whole_numbers,
};
use common::{iam, Moto, Sandbox};
use std::{collections::BTreeMap, path::Path, process::Output};

// Exit codes by error class (crates/rekey/src/exit.rs).
const USAGE: i32 = 2;
const NOT_FOUND: i32 = 3;
const CONFLICT: i32 = 4;
const AUTH: i32 = 5;
const UPSTREAM: i32 = 6;
const LOCKED: i32 = 7;
const INTEGRITY: i32 = 8;
const FINDINGS: i32 = 9;
const STORAGE: i32 = 10;

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
        minimums(),
        bulk_and_docs(),
        typed_options(),
        whole_numbers(),
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
    no_free_slot_and_unverified_passwords(&sb, &moto);
    sb.rekey().args(["audit", "verify"]).assert().success();
}

/// `account add --create` for a user who holds a key the account would not own is refused (a
/// rotation would find no free slot), unless `--allow-no-free-slot`; an adopted console
/// password is shown as unverified (IAM cannot check it) until its first rotation.
fn no_free_slot_and_unverified_passwords(sb: &Sandbox, moto: &Moto) {
    iam::create_user(moto, "carol");
    let carol = iam::create_key(moto, "carol");
    let create = add_account("carol", "access-key", &["--create"]);
    assert_rejected(sb, &create, "", CONFLICT, "the user has no free slot");
    assert_eq!(iam::key_ids(moto, "carol"), vec![carol.0.clone()], "no key was created");
    let forced = [&create[..], &["--allow-no-free-slot"]].concat();
    let out = sb.rekey().args(&forced).assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("rotations fail until"));
    assert_eq!(iam::key_ids(moto, "carol").len(), 2, "created beside the other key");
    let out = sb.rekey().args(["account", "show", "p/alice/password"]).assert().success();
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("ok (unverified)"));
    let out = sb.rekey().args(["account", "show", "p/svc/access-key"]).assert().success();
    assert!(!String::from_utf8_lossy(&out.get_output().stdout).contains("unverified"), "keys are checked at add");
}
