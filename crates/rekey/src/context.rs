//! Turning global options into an unlocked engine: where the vault is, which master key opens
//! it (passphrase from env / file / prompt, key file, KMS), and who is acting.

use crate::cli::Global;
use rekey_crypto::Secret;
use rekey_domain::{Outcome, SystemClock};
use rekey_engine::{Deps, Engine, Error, MasterKey, MasterKeyKind, Result, SdkConnector};
use rekey_store::OpenMode;
use std::{io::IsTerminal, path::PathBuf, sync::Arc};

/// The vault URL: `--vault`, `REKEY_VAULT`, `$REKEY_HOME/vault.db`, or the platform data dir.
pub fn vault_url(global: &Global) -> Result<String> {
    if let Some(v) = &global.vault {
        return Ok(v.clone());
    }
    let dir = match std::env::var_os("REKEY_HOME") {
        Some(home) => PathBuf::from(home),
        None => dirs::data_dir()
            .map(|d| d.join("rekey"))
            .ok_or_else(|| Error::usage("no data directory on this platform", "set REKEY_HOME or pass --vault"))?,
    };
    Ok(format!("sqlite:{}", dir.join("vault.db").display()))
}

/// Who is acting, for the audit log: `cli:NAME(UID)@HOST`, the name looked up from the
/// process's real uid (never `$USER`, which the caller sets at will); `cli:UID@HOST` when the
/// uid has no name.
pub fn actor() -> String {
    let uid = nix::unistd::getuid();
    let user = match nix::unistd::User::from_uid(uid) {
        Ok(Some(u)) => format!("{}({uid})", u.name),
        _ => uid.to_string(),
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("cli:{user}@{host}")
}

/// Opens the store for `mode` and builds the engine's collaborators.
pub async fn deps(global: &Global, mode: OpenMode) -> Result<Deps> {
    let url = vault_url(global)?;
    if mode == OpenMode::Create {
        if let Some(path) = url.strip_prefix("sqlite:").map(|p| p.strip_prefix("//").unwrap_or(p)) {
            if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| {
                    Error::usage(format!("cannot create {}: {e}", parent.display()), "choose a writable --vault path")
                })?;
            }
        }
    }
    let store = rekey_store::open(&url, mode).await?;
    Ok(Deps { store, clock: clock()?, actor: actor(), aws: Arc::new(SdkConnector) })
}

/// The wall clock.
#[cfg(not(feature = "test-clock"))]
fn clock() -> Result<Arc<dyn rekey_domain::Clock>> {
    Ok(Arc::new(SystemClock))
}

/// The wall clock, moved by `REKEY_TEST_CLOCK_OFFSET` (`2h`, `-90s`): a node whose clock is
/// wrong, for the tests that prove leases do not depend on it. Only test builds (the
/// `test-clock` feature) read it; a release build has no way to move its clock.
#[cfg(feature = "test-clock")]
fn clock() -> Result<Arc<dyn rekey_domain::Clock>> {
    let Ok(v) = std::env::var("REKEY_TEST_CLOCK_OFFSET") else { return Ok(Arc::new(SystemClock)) };
    let (sign, magnitude) = v.strip_prefix('-').map_or((1, v.as_str()), |m| (-1, m));
    let ms = rekey_domain::duration::parse_duration_ms(magnitude)
        .ok()
        .and_then(|ms| i64::try_from(ms).ok())
        .ok_or_else(|| Error::usage(format!("REKEY_TEST_CLOCK_OFFSET: not a duration: {v:?}"), "e.g. 2h or -90s"))?;
    Ok(Arc::new(OffsetClock(chrono::Duration::milliseconds(sign * ms))))
}

/// The wall clock plus an offset (test builds only).
#[cfg(feature = "test-clock")]
#[derive(Debug)]
struct OffsetClock(chrono::Duration);

#[cfg(feature = "test-clock")]
impl rekey_domain::Clock for OffsetClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        rekey_domain::Clock::now(&SystemClock) + self.0
    }
}

/// `REKEY_PASSPHRASE`, taken out of the environment by [`take_environment`].
static ENV_PASSPHRASE: std::sync::OnceLock<Option<Secret>> = std::sync::OnceLock::new();

/// Takes what must not stay in the process environment out of it, before any thread starts
/// (the environment is shared by every thread and inherited by every child, e.g. an AWS
/// `credential_process`): `REKEY_PASSPHRASE` is kept in memory only; `LOG_SIGNABLE_BODY`, which
/// makes the AWS SDK print request bodies (new console passwords among them) in trace logs, is
/// dropped with a warning.
pub fn take_environment() {
    let passphrase = std::env::var("REKEY_PASSPHRASE").ok().map(Secret::new);
    std::env::remove_var("REKEY_PASSPHRASE");
    let _ = ENV_PASSPHRASE.set(passphrase);
    if std::env::var_os("LOG_SIGNABLE_BODY").is_some() {
        std::env::remove_var("LOG_SIGNABLE_BODY");
        errln!("warning: LOG_SIGNABLE_BODY is ignored: rekey never logs request bodies, which carry secrets");
    }
}

/// Reads a passphrase or key file, refusing one that other users may read (and remembering it
/// as master key material, never to be used as a signing key).
fn read_private(path: &std::path::Path, what: &str, hint: &str) -> Result<zeroize::Zeroizing<String>> {
    let locked = |message: String| Error::Locked { message, hint: hint.into() };
    let text =
        std::fs::read_to_string(path).map_err(|e| locked(format!("cannot read the {what} {}: {e}", path.display())))?;
    rekey_crypto::master::check_private_file(path)
        .map_err(|problem| locked(format!("the {what} {}: {problem}", path.display())))?;
    rekey_domain::webhook::protect_master_key_file(path);
    Ok(zeroize::Zeroizing::new(text))
}

/// The passphrase: `--passphrase-file` (or `REKEY_PASSPHRASE_FILE`), else `REKEY_PASSPHRASE`,
/// else a prompt on a TTY.
pub fn passphrase(global: &Global, confirm: bool) -> Result<Secret> {
    if let Some(path) = &global.passphrase_file {
        let text = read_private(path, "passphrase file", "check --passphrase-file / REKEY_PASSPHRASE_FILE")?;
        return Ok(Secret::new(text.trim_end_matches(['\r', '\n'])));
    }
    let from_env = match ENV_PASSPHRASE.get() {
        Some(p) => p.clone(),
        None => std::env::var("REKEY_PASSPHRASE").ok().map(Secret::new),
    };
    if let Some(p) = from_env {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        let p = prompt("Vault passphrase: ")?;
        if confirm && prompt("Repeat passphrase: ")? != p {
            return Err(Error::usage("the passphrases do not match", "type the same passphrase twice"));
        }
        return Ok(p);
    }
    Err(Error::Locked {
        message: "the vault passphrase is needed but none was given".into(),
        hint: "set REKEY_PASSPHRASE, pass --passphrase-file PATH, or run on a terminal to be prompted".into(),
    })
}

/// Prompts without echo (see [`crate::prompt`]).
pub fn prompt(label: &str) -> Result<Secret> {
    match crate::prompt::hidden(label) {
        Ok(crate::prompt::Answer::Line(secret)) => Ok(secret),
        Ok(crate::prompt::Answer::Interrupted) => Err(Error::usage(
            format!("the prompt {:?} was ended by a signal; nothing was read", label.trim_end_matches([':', ' '])),
            "run the command again and enter the value",
        )),
        Err(e) => {
            Err(Error::usage(format!("cannot read from the terminal: {e}"), "supply the value on standard input"))
        }
    }
}

/// The engine's limits from the environment: `REKEY_PROVIDER_CONCURRENCY`,
/// `REKEY_AWS_ATTEMPT_TIMEOUT`, `REKEY_AWS_PACE` (see [`rekey_engine::limits`]).
pub fn limits() -> Result<rekey_engine::Limits> {
    rekey_engine::Limits::from_settings(|k| std::env::var(k).ok())
}

/// Opens and unlocks the existing vault.
pub async fn engine(global: &Global) -> Result<Engine> {
    let deps = deps(global, OpenMode::Existing).await?;
    let master = master_key(global, &deps).await?;
    Ok(Engine::unlock(deps, master).await?.with_limits(limits()?))
}

/// The master key for the vault's kind of key source. Where the key comes from is always the
/// operator's to say (flags, environment), never the vault header's: anyone who can write the
/// database could point the header at a key file or KMS endpoint of their own, and rekey would
/// then seal new secrets under their key. The header's record only has to agree.
pub async fn master_key(global: &Global, deps: &Deps) -> Result<MasterKey> {
    let source = Engine::key_source(deps.store.as_ref()).await?;
    if let (Some(path), false) = (&global.key_file, matches!(source, MasterKeyKind::KeyFile(_))) {
        // Ignoring it would hide a mix-up of vaults (the key file belongs to another one).
        let kind = if matches!(source, MasterKeyKind::Passphrase) { "a passphrase" } else { "an AWS KMS key" };
        return Err(Error::usage(
            format!("key file {} was given, but this vault is protected by {kind}", path.display()),
            "leave out --key-file and unset REKEY_KEY_FILE for this vault, or point --vault at the vault the key \
             file belongs to",
        ));
    }
    Ok(match source {
        MasterKeyKind::Passphrase => MasterKey::Passphrase(passphrase(global, false)?),
        MasterKeyKind::KeyFile(recorded) => {
            let path = global.key_file.clone().ok_or_else(|| Error::Locked {
                message: format!("this vault is protected by a key file (recorded at init as {})", recorded.display()),
                hint: "pass --key-file PATH or set REKEY_KEY_FILE (the vault itself never says which key opens it)"
                    .into(),
            })?;
            read_private(&path, "key file", "check --key-file / REKEY_KEY_FILE")?;
            MasterKey::KeyFile(path)
        }
        MasterKeyKind::Kms { key_id, region, endpoint_url } => kms_master_key(key_id, region, endpoint_url)?,
    })
}

/// A KMS master key from `REKEY_KMS_KEY_ID`, `REKEY_KMS_REGION` and `REKEY_KMS_ENDPOINT_URL`,
/// which must name the key, region and endpoint the vault was created with.
fn kms_master_key(key_id: String, region: String, endpoint_url: Option<String>) -> Result<MasterKey> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let recorded = format!(
        "REKEY_KMS_KEY_ID={key_id} REKEY_KMS_REGION={region}{}",
        endpoint_url.as_ref().map(|u| format!(" REKEY_KMS_ENDPOINT_URL={u}")).unwrap_or_default()
    );
    let locked = |message: String| {
        Error::Locked {
        message,
        hint: format!(
            "set the KMS key the vault was created with, e.g. {recorded} (the vault itself never says which key opens it)"
        ),
    }
    };
    let Some(given) = var("REKEY_KMS_KEY_ID") else {
        return Err(locked("this vault is protected by an AWS KMS key, and REKEY_KMS_KEY_ID is not set".into()));
    };
    let given_region = var("REKEY_KMS_REGION").unwrap_or_else(|| region.clone());
    let given_endpoint = var("REKEY_KMS_ENDPOINT_URL");
    if given != key_id || given_region != region || given_endpoint != endpoint_url {
        return Err(locked(format!(
            "the vault was created with KMS key {key_id} in {region}{} but the environment names key {given} in {given_region}{}",
            endpoint_url.as_ref().map(|u| format!(" at {u}")).unwrap_or_default(),
            given_endpoint.as_ref().map(|u| format!(" at {u}")).unwrap_or_default(),
        )));
    }
    Ok(MasterKey::Kms { key_id, region, endpoint_url })
}

/// Opens the vault for a command that writes: unfinished rotations are recovered first.
pub async fn engine_for_write(global: &Global) -> Result<Engine> {
    let engine = engine(global).await?;
    let shown = crate::progress::show(engine.progress(), "recover");
    let recovered = engine.recover().await;
    if let Some(s) = shown {
        s.done().await;
    }
    for r in recovered? {
        if matches!(r.outcome, Outcome::Done | Outcome::Aborted | Outcome::Interrupted) {
            errln!(
                "recovered rotation {} of {}: {}{}",
                r.rotation.as_deref().unwrap_or("-"),
                r.reference,
                r.outcome,
                r.error.map(|e| format!(" ({e})")).unwrap_or_default()
            );
        }
    }
    Ok(engine)
}

/// Reads a secret from standard input (one trailing newline removed), or prompts on a TTY.
pub fn read_secret(from_stdin: bool, label: &str, flag_hint: &str) -> Result<Secret> {
    if from_stdin {
        let mut buf = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut buf).map_err(|e| {
            Error::usage(format!("cannot read standard input: {e}"), "pipe the secret in as UTF-8 text")
        })?;
        let trimmed = buf.strip_suffix('\n').map(|s| s.strip_suffix('\r').unwrap_or(s)).unwrap_or(&buf);
        let secret = Secret::new(trimmed);
        zeroize_string(buf);
        return Ok(secret);
    }
    if std::io::stdin().is_terminal() {
        return prompt(&format!("{label}: "));
    }
    Err(Error::usage(format!("the {label} is needed but standard input is not a terminal"), flag_hint))
}

fn zeroize_string(s: String) {
    drop(zeroize::Zeroizing::new(s));
}
