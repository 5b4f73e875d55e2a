//! Shared fixtures for the end-to-end tests: a moto server on a free loopback port (killed on
//! drop), an AWS SDK client to seed and inspect it, and a `rekey` command bound to a temporary
//! vault with a clean environment.
#![allow(dead_code)] // each test binary uses a different subset

pub mod iam;
pub mod invariants;
pub mod link;
pub mod moto;
pub mod pg;
pub mod proxy;
pub mod receiver;
pub mod server;
pub mod suite;

use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub use moto::Moto;

/// The passphrase the test vaults use.
pub const PASSPHRASE: &str = "correct-horse-battery-staple";

/// A temporary home for one test: vault, key files, credentials files.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub vault: String,
}

impl Sandbox {
    /// A fresh directory with a SQLite vault URL in it (not yet initialised).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let vault = format!("sqlite:{}", dir.path().join("vault.db").display());
        Self { dir, vault }
    }

    /// A sandbox whose vault is a PostgreSQL schema (for the Postgres variants).
    pub fn with_vault(vault: String) -> Self {
        Self { dir: tempfile::tempdir().expect("temp dir"), vault }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The vault file (SQLite only).
    pub fn vault_file(&self) -> PathBuf {
        self.path("vault.db")
    }

    /// `rekey` with this sandbox's vault and passphrase, and an environment that cannot reach
    /// any real AWS credentials.
    pub fn rekey(&self) -> Command {
        Command::from_std(self.std_rekey())
    }

    /// The same invocation as a plain `std::process::Command` (to spawn it in the background).
    pub fn std_rekey(&self) -> std::process::Command {
        rekey_command(self.dir.path(), &self.vault)
    }

    /// A maker of [`Sandbox::std_rekey`] commands that other threads can use.
    pub fn std_rekey_factory(&self) -> impl Fn() -> std::process::Command + Send + Sync + 'static {
        let (dir, vault) = (self.dir.path().to_owned(), self.vault.clone());
        move || rekey_command(&dir, &vault)
    }

    /// `rekey account set ACCOUNT` with the verification made fast for tests (one successful
    /// call, 50 ms apart); add the settings under test and assert.
    pub fn fast_verify(&self, account: &str) -> Command {
        let mut cmd = self.rekey();
        cmd.args(["account", "set", account, "--verify-successes", "1", "--verify-backoff", "50ms"]);
        cmd
    }

    /// Runs `rekey init` and asserts success.
    pub fn init(&self) {
        self.rekey().arg("init").assert().success();
    }

    /// Runs `rekey init` with a new key file (`vault.key`, named by every later command): no key
    /// derivation per command, for tests that run many.
    pub fn init_with_key_file(&self) {
        self.rekey()
            .env_remove("REKEY_PASSPHRASE")
            .arg("init")
            .arg("--key-file")
            .arg(self.path("vault.key"))
            .assert()
            .success();
    }

    /// Adds provider `name` signed by `admin`'s static key on `moto`.
    pub fn add_provider(&self, moto: &Moto, name: &str, key: &(String, String)) {
        self.add_provider_at(&moto.url, name, key);
    }

    /// Adds provider `name` signed by `key`, whose IAM is at `endpoint`: moto, or the fault
    /// proxy in front of it (`Proxy::url`).
    pub fn add_provider_at(&self, endpoint: &str, name: &str, key: &(String, String)) {
        self.rekey()
            .args(["provider", "add", name, "--region", "us-east-1", "--endpoint-url", endpoint])
            .args(["--access-key-id", &key.0, "--secret-stdin"])
            .write_stdin(key.1.clone())
            .assert()
            .success();
    }

    /// Adopts `user`'s existing access key `key` as an account of `provider`.
    pub fn adopt_key(&self, provider: &str, user: &str, key: &(String, String)) {
        self.rekey()
            .args(["account", "add", "--provider", provider, "--user", user, "--kind", "access-key"])
            .args(["--access-key-id", &key.0, "--secret-stdin"])
            .write_stdin(key.1.clone())
            .assert()
            .success();
    }

    /// Adopts `user`'s console password as an account of `provider`.
    pub fn adopt_password(&self, provider: &str, user: &str, password: &str) {
        self.rekey()
            .args(["account", "add", "--provider", provider, "--user", user, "--kind", "password", "--secret-stdin"])
            .write_stdin(password.to_owned())
            .assert()
            .success();
    }

    /// Runs rekey with `args` and parses its JSON stdout, asserting success.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        self.json_stdin(args, "")
    }

    /// Like [`Sandbox::json`], with `stdin` piped in.
    pub fn json_stdin(&self, args: &[&str], stdin: &str) -> serde_json::Value {
        let out = self
            .rekey()
            .args(args)
            .args(["--output", "json"])
            .write_stdin(stdin.to_owned())
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).expect("rekey printed JSON")
    }
}

/// `rekey` in sandbox `dir` with `vault`, its passphrase (or its key file, once `vault.key`
/// exists), and an environment that cannot reach any real AWS credentials.
fn rekey_command(dir: &Path, vault: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("rekey"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("REKEY_VAULT", vault)
        .env("REKEY_PASSPHRASE", PASSPHRASE)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("USER", "tester");
    // An operator of a key-file vault names the key file in the environment of every command.
    if dir.join("vault.key").exists() {
        cmd.env("REKEY_KEY_FILE", dir.join("vault.key"));
    }
    cmd
}

/// moto with authentication on (seeded by [`iam::seed_with_auth`]) and a fresh SQLite vault
/// with provider `p` (signed by admin's key) and svc's access key adopted as an account.
pub fn svc_world() -> (Moto, Sandbox, iam::Seeded) {
    let moto = Moto::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", iam::SEED_REQUESTS)]);
    let seeded = iam::seed_with_auth(&moto);
    let sb = Sandbox::new();
    sb.init();
    sb.add_provider(&moto, "p", &seeded.admin);
    sb.adopt_key("p", "svc", &seeded.svc);
    (moto, sb, seeded)
}

/// Every byte of a file and of its SQLite WAL/SHM companions.
pub fn vault_bytes(path: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(b) = std::fs::read(&p) {
            all.extend(b);
        }
    }
    all
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The access-key account of user `svc` that the crash and fault tests rotate.
pub const SVC_KEY: &str = "p/svc/access-key";

/// The vault's current key of [`SVC_KEY`], checked to authenticate as svc against moto (which
/// verifies signatures: only a real key with its real secret gets through): (id, secret).
pub fn svc_key_works(moto: &Moto, sb: &Sandbox) -> (String, String) {
    let shown = sb.json(&["account", "reveal", SVC_KEY]);
    let key_id = shown["access_key_id"].as_str().expect("the vault has a key id").to_owned();
    let secret = shown["secret"].as_str().expect("the vault has a secret").to_owned();
    let me = iam::block_on(iam::client_with(moto, &key_id, &secret).get_user().send()).expect("the vault's key works");
    assert_eq!(me.user.expect("GetUser names the user").user_name, "svc");
    (key_id, secret)
}

/// [`svc_key_works`], and IAM holds exactly that key: no orphan, and the previous key deleted
/// (policy delete).
pub fn svc_key_alone_in_iam(moto: &Moto, sb: &Sandbox, seeded: &iam::Seeded) -> (String, String) {
    let (key_id, secret) = svc_key_works(moto, sb);
    let admin = iam::client_with(moto, &seeded.admin.0, &seeded.admin.1);
    let ids: Vec<String> = iam::keys_of(&admin, "svc").into_iter().map(|k| k.0).collect();
    assert_eq!(ids, vec![key_id.clone()], "IAM holds a key the vault does not have");
    (key_id, secret)
}

/// [`svc_key_alone_in_iam`], and either the rotation completed (a new key, which the sandbox's
/// credentials file holds) or it did not (the seeded key is still current).
pub fn check_svc_key(moto: &Moto, sb: &Sandbox, seeded: &iam::Seeded, rotated: bool) {
    let (key_id, secret) = svc_key_alone_in_iam(moto, sb, seeded);
    if rotated {
        assert_ne!(key_id, seeded.svc.0, "the rotation did not complete");
        let file = std::fs::read_to_string(sb.path("credentials")).expect("the credentials file");
        assert!(file.contains(&key_id) && file.contains(&secret), "the credentials file has the current key");
    } else {
        assert_eq!(key_id, seeded.svc.0, "an aborted rotation keeps the old key");
    }
}
