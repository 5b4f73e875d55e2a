//! A vault this process may not write — on a read-only mount, or another user's copy — and a
//! full disk: reads work, every write is refused with exit 10 (storage) saying why, the
//! integrity error (exit 8) is not claimed, and the vault is left as it was. Mounts need root
//! (these tests run as root here, where file modes do not stop root: the read-only case is a
//! read-only bind mount, the non-owner case runs rekey as `nobody` through `setpriv`); run as
//! another user, the non-owner case is the user's own copy made read-only with chmod, and the
//! mount cases say they were skipped.

use super::{assert_fails, files, snapshot, STORAGE};
use crate::common::{iam, server::Server, Moto, Sandbox};
use std::path::{Path, PathBuf};

/// A mount made for one test, undone when dropped (also when the test fails).
struct Mount(PathBuf);

impl Mount {
    /// `mount ARGS… AT`, or `None` (with the reason on stderr) where this process may not mount.
    fn new(args: &[&str], at: &Path) -> Option<Self> {
        let out = std::process::Command::new("mount").args(args).arg(at).output().ok()?;
        if !out.status.success() {
            eprintln!("cannot mount {args:?} at {}: {}", at.display(), String::from_utf8_lossy(&out.stderr));
            return None;
        }
        Some(Self(at.to_owned()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    let out = std::process::Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// `cmd` run as user `nobody` (root only), with the same program, arguments and environment.
fn as_nobody(cmd: &std::process::Command) -> assert_cmd::Command {
    let mut c = std::process::Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(cmd.get_program()).args(cmd.get_args());
    c.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    assert_cmd::Command::from_std(c)
}

/// Reads that must work on a vault this process may not write.
const READS: [&[&str]; 6] = [
    &["account", "list"],
    &["account", "show", "p/svc/access-key"],
    &["provider", "list"],
    &["audit", "list"],
    &["audit", "verify"],
    &["report"],
];

/// Writes, each refused: (arguments, what the refusal names).
fn writes() -> Vec<Vec<&'static str>> {
    vec![
        vec!["provider", "add", "y", "--region", "us-east-1", "--default-chain", "--no-test"],
        vec!["account", "set", "p/svc/access-key", "--every", "30d"],
        // Audited: with no audit event, no secret.
        vec!["account", "reveal", "p/svc/access-key"],
        vec!["account", "due", "p/svc/access-key"],
    ]
}

fn check_read_only(what: &str, moto: &Moto, seeded: &iam::Seeded, run: &dyn Fn() -> assert_cmd::Command, needle: &str) {
    for args in READS {
        let out = run().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // `report` exits 9 when it has findings (svc's key is older than its vault record says).
        let ok = out.status.success() || (args[0] == "report" && out.status.code() == Some(9));
        assert!(ok, "{what}: rekey {args:?} failed: {stderr}");
        assert!(!out.stdout.is_empty(), "{what}: rekey {args:?} printed nothing");
    }
    for args in writes() {
        let out = assert_fails(run(), &args, "", STORAGE, needle);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("the vault cannot be written"), "{what}: rekey {args:?}: {stderr}");
        assert!(!stderr.contains("backup"), "{what}: no integrity advice for a read-only vault: {stderr}");
    }
    // A rotation is refused before its first step (its report row says why), exit 10.
    let out = run().args(["rotate", "p/svc/access-key"]).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(STORAGE), "{what}: rotate: {stdout}{stderr}");
    assert!(stdout.contains("refused") && stderr.contains(needle), "{what}: rotate: {stdout}{stderr}");
    let admin = iam::client_with(moto, &seeded.admin.0, &seeded.admin.1);
    let keys: Vec<String> = iam::keys_of(&admin, "svc").into_iter().map(|k| k.0).collect();
    assert_eq!(keys, vec![seeded.svc.0.clone()], "{what}: no key was created in IAM");
}

/// The same vault, read through a read-only bind mount, and as a user who may read but not
/// write it: every read works, every write is refused with exit 10, and nothing changes.
#[test]
fn reads_work_on_a_read_only_vault_and_writes_say_why() {
    use std::os::unix::fs::PermissionsExt;
    let (moto, sb, seeded) = crate::common::svc_world();
    let before = (snapshot(&sb), files(sb.dir.path()));
    if is_root() {
        let view = tempfile::tempdir().unwrap();
        if let Some(bound) = Mount::new(&["--bind", sb.dir.path().to_str().unwrap()], view.path()) {
            let ro = Mount::new(&["-o", "remount,bind,ro"], view.path()).expect("a bind mount can be made read-only");
            let vault = format!("sqlite:{}", view.path().join("vault.db").display());
            let run = || {
                let mut c = sb.rekey();
                c.env("REKEY_VAULT", &vault);
                c
            };
            check_read_only("read-only mount", &moto, &seeded, &run, "Read-only file system");
            drop((ro, bound));
        }
        // Another user's copy, readable by all (a vault is made 0600; an auditor's copy may not be).
        std::fs::set_permissions(sb.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(sb.vault_file(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let run = || as_nobody(&sb.std_rekey());
        check_read_only("another user's vault", &moto, &seeded, &run, "Permission denied");
        // As it is made: private to its owner, so another user cannot even read it.
        std::fs::set_permissions(sb.vault_file(), std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = assert_fails(as_nobody(&sb.std_rekey()), &["account", "list"], "", STORAGE, "cannot be read");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("backup"));
    } else {
        std::fs::set_permissions(sb.vault_file(), std::fs::Permissions::from_mode(0o444)).unwrap();
        std::fs::set_permissions(sb.dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
        check_read_only("read-only file", &moto, &seeded, &|| sb.rekey(), "Permission denied");
        std::fs::set_permissions(sb.dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(sb.vault_file(), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    assert_eq!(files(sb.dir.path()), before.1, "the vault file is unchanged");
    assert_eq!(snapshot(&sb), before.0, "the vault is unchanged");
}

/// Fills the file system that holds `path` (a file written until the disk refuses).
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
}

/// A vault on a small tmpfs: once the disk is full, a write is refused with exit 10 ("disk is
/// full") from the CLI and 503 `storage` from the server, reads still work, and once space is
/// freed the same long-running server writes again (its write connection was not left inside
/// a transaction the full disk broke).
#[test]
fn a_full_disk_refuses_writes_and_leaves_nothing_broken() {
    if !is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let sb = Sandbox::new();
    let Some(_disk) = Mount::new(&["-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs"], sb.dir.path()) else {
        eprintln!("skipped: this host does not allow mounting a tmpfs");
        return;
    };
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", iam::SEED_REQUESTS)]);
    let seeded = iam::seed_with_auth(&moto);
    sb.init_with_key_file();
    sb.add_provider(&moto, "p", &seeded.admin);
    sb.adopt_key("p", "svc", &seeded.svc);
    let token =
        sb.json(&["token", "create", "--role", "admin", "--name", "disk"])["token"].as_str().unwrap().to_owned();
    let id = sb.json(&["account", "show", "p/svc/access-key"])["id"].as_str().unwrap().to_owned();
    let server = Server::start(&sb, &[("REKEY_SCHEDULER_ENABLED", "false")]);
    let reveal = format!("/api/v1/accounts/{id}/reveal");
    let (status, body) = server.json("POST", &reveal, Some(&token), None);
    assert_eq!(status, 200, "{body}");

    fill(&sb.path("fill"));
    let before = snapshot(&sb);
    let add = ["provider", "add", "y", "--region", "us-east-1", "--default-chain", "--no-test"];
    let out = assert_fails(sb.rekey(), &add, "", STORAGE, "disk is full");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("transaction depth"));
    for _ in 0..3 {
        let (status, body) = server.json("POST", &reveal, Some(&token), None);
        assert_eq!((status, body["code"].as_str()), (503, Some("storage")), "{body}");
        assert!(body["secret"].is_null(), "no secret without its audit event: {body}");
    }
    assert_eq!(snapshot(&sb), before, "nothing was written");

    std::fs::remove_file(sb.path("fill")).unwrap();
    let (status, body) = server.json("POST", &reveal, Some(&token), None);
    assert_eq!(status, 200, "the server writes again once space is freed: {body}");
    sb.rekey().args(add).assert().success();
    drop(server);
    sb.rekey().args(["audit", "verify"]).assert().success();
}
