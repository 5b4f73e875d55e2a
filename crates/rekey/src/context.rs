//! Turning global options into an unlocked engine: where the vault is, which master key opens
//! it (passphrase from env / file / prompt, key file, KMS), and who is acting.

use crate::cli::Global;
use rekey_crypto::Secret;
use rekey_domain::SystemClock;
use rekey_engine::{Deps, Engine, Error, MasterKey, MasterKeySource, Result, SdkConnector};
use rekey_store::OpenMode;
use std::{future::Future, io::IsTerminal, path::PathBuf, sync::Arc};

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

/// Who is acting, for the audit log: `cli:USER@HOST`.
pub fn actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
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
    Ok(Deps { store, clock: Arc::new(SystemClock), actor: actor(), aws: Arc::new(SdkConnector) })
}

/// The passphrase: `--passphrase-file` (or `REKEY_PASSPHRASE_FILE`), else `REKEY_PASSPHRASE`,
/// else a prompt on a TTY.
pub fn passphrase(global: &Global, confirm: bool) -> Result<Secret> {
    if let Some(path) = &global.passphrase_file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Locked {
            message: format!("cannot read the passphrase file {}: {e}", path.display()),
            hint: "check --passphrase-file / REKEY_PASSPHRASE_FILE".into(),
        })?;
        return Ok(Secret::new(text.trim_end_matches(['\r', '\n'])));
    }
    if let Ok(p) = std::env::var("REKEY_PASSPHRASE") {
        return Ok(Secret::new(p));
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

/// Prompts without echo.
pub fn prompt(label: &str) -> Result<Secret> {
    rpassword::prompt_password(label)
        .map(Secret::new)
        .map_err(|e| Error::usage(format!("cannot read from the terminal: {e}"), "supply the value on standard input"))
}

/// Opens and unlocks the existing vault.
pub async fn engine(global: &Global) -> Result<Engine> {
    let deps = deps(global, OpenMode::Existing).await?;
    let master = master_key(global, &deps).await?;
    Engine::unlock(deps, master).await
}

/// Opens the existing vault and runs `read` on its store while the master key unlocks it (the
/// key derivation is tens of milliseconds of CPU, and the other core is free): a read-only
/// command then costs the longer of the two, not their sum. What `read` returns is handed back
/// only once the vault has unlocked; a wrong key gets the same error as [`engine`] and nothing else.
pub async fn engine_while<T, F, Fut>(global: &Global, read: F) -> Result<(Engine, T)>
where
    F: FnOnce(Arc<dyn rekey_store::Store>) -> Fut,
    Fut: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let deps = deps(global, OpenMode::Existing).await?;
    let master = master_key(global, &deps).await?;
    let reading = tokio::spawn(read(deps.store.clone()));
    let engine = match Engine::unlock(deps, master).await {
        Ok(engine) => engine,
        Err(e) => {
            reading.abort();
            return Err(e);
        }
    };
    let value = reading.await.map_err(|e| Error::Internal(format!("reading the vault: {e}")))??;
    Ok((engine, value))
}

async fn master_key(global: &Global, deps: &Deps) -> Result<MasterKey> {
    Ok(match Engine::key_source(deps.store.as_ref()).await? {
        MasterKeySource::Passphrase => MasterKey::Passphrase(passphrase(global, false)?),
        MasterKeySource::KeyFile(recorded) => MasterKey::KeyFile(global.key_file.clone().unwrap_or(recorded)),
        MasterKeySource::Kms { key_id, region, endpoint_url } => MasterKey::Kms { key_id, region, endpoint_url },
    })
}

/// Opens the vault for a command that writes: unfinished rotations are recovered first.
pub async fn engine_for_write(global: &Global) -> Result<Engine> {
    let engine = engine(global).await?;
    for r in engine.recover().await? {
        if matches!(r.outcome.as_str(), "done" | "aborted" | "interrupted") {
            eprintln!(
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
