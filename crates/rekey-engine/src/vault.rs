//! Creating and unlocking the vault, and sealing/opening secret versions with its key.
//!
//! `init` draws a random vault key and stores it wrapped by the chosen master key source;
//! `unlock` reads the header, obtains the master key from the same kind of source and unwraps
//! the vault key (a wrong key fails authentication: nothing is decrypted or written). An
//! unlocked vault is an [`Engine`], through which every use case runs.

use crate::{connect::AwsConnector, Error, Result};
use rekey_aws::{Conn, ConnCredentials};
use rekey_crypto::{master, open, seal, KdfParams, Sealed, Secret, VaultKey};
use rekey_domain::{AuditOutcome, SecretState};
use rekey_domain::{Clock, VaultId, MAX_SECRET_LEN};
use rekey_store::{AuditEntry, Barrier, Origin, SecretVersion, Store, VaultHeader};
use serde_json::{json, Value};
use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

const WRAP_CONTEXT: &str = "rekey-vault-key-v1";
const FORMAT: i64 = 1;

/// The master key, as supplied by the operator.
#[derive(Debug, Clone)]
pub enum MasterKey {
    /// A passphrase (Argon2id).
    Passphrase(Secret),
    /// A key file of 64 hex characters (created at `init` if it does not exist).
    KeyFile(PathBuf),
    /// An AWS KMS key; the AWS default credential chain signs the calls.
    Kms {
        /// Key id, ARN or alias.
        key_id: String,
        /// The key's region.
        region: String,
        /// Endpoint override.
        endpoint_url: Option<String>,
    },
}

/// What kind of master key a vault needs, as recorded in its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeyKind {
    /// A passphrase.
    Passphrase,
    /// A key file; the path recorded at `init`.
    KeyFile(PathBuf),
    /// AWS KMS.
    Kms {
        /// Key id.
        key_id: String,
        /// The key's region.
        region: String,
        /// Endpoint override.
        endpoint_url: Option<String>,
    },
}

/// An unlocked vault with its collaborators: every use case is a method on it.
#[derive(Debug)]
pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    key: VaultKey,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) actor: String,
    pub(crate) aws: Arc<dyn AwsConnector>,
    /// The vault's identity, from its header: named by the ownership tags it puts on IAM users.
    pub(crate) vault_id: VaultId,
    /// Set when the process is shutting down: rotations stop at their next journal boundary.
    stopping: Arc<AtomicBool>,
    /// What the front end allows (concurrency per provider, AWS attempt timeout, initial pace).
    pub(crate) limits: crate::Limits,
    /// Progress of long runs (shared with engines made by [`Self::acting_as`]).
    pub(crate) progress: Arc<crate::progress::Progress>,
    /// Lease settings and the workers holding leases (shared by [`Engine::acting_as`] copies).
    pub(crate) leases: Arc<crate::lease::Leases>,
}

/// The collaborators an engine is built from.
#[derive(Debug, Clone)]
pub struct Deps {
    /// The opened vault database.
    pub store: Arc<dyn Store>,
    /// Where every "now" comes from (a manual clock in tests).
    pub clock: Arc<dyn Clock>,
    /// Who is acting, for the audit log (e.g. `cli:alice@host`).
    pub actor: String,
    /// AWS clients.
    pub aws: Arc<dyn AwsConnector>,
}

fn kms_conn(region: &str, endpoint_url: Option<&String>) -> Conn {
    Conn::new(region, endpoint_url.cloned(), ConnCredentials::DefaultChain)
}

impl Engine {
    /// Creates a vault at `deps.store` protected by `master`.
    pub async fn init(deps: Deps, master: MasterKey) -> Result<Self> {
        if let Some(h) = deps.store.header().await? {
            return Err(Error::conflict(
                format!("this location already holds rekey vault {}", h.vault_id),
                "use it as it is, or choose another --vault location",
            ));
        }
        let (key, source, params, wrapped) = match &master {
            MasterKey::Passphrase(p) => {
                check_passphrase(p)?;
                let kdf = KdfParams::generate();
                let key = VaultKey::random();
                let wrapped = key.wrap_under(&kdf.derive(p)?, WRAP_CONTEXT);
                (key, "passphrase", json!({ "kdf": "argon2id", "params": kdf }), wrapped)
            }
            MasterKey::KeyFile(path) => {
                let wrapping =
                    if path.exists() { master::read_key_file(path)? } else { master::create_key_file(path)? };
                let abs = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                let key = VaultKey::random();
                (key.clone(), "key-file", json!({ "path": abs }), key.wrap_under(&wrapping, WRAP_CONTEXT))
            }
            MasterKey::Kms { key_id, region, endpoint_url } => {
                let (plain, blob) =
                    rekey_aws::kms::generate_data_key(&kms_conn(region, endpoint_url.as_ref()), key_id).await?;
                let key = VaultKey::from_bytes(&plain)
                    .ok_or_else(|| Error::Internal("KMS returned a data key that is not 32 bytes".into()))?;
                (key, "kms", json!({ "key_id": key_id, "region": region, "endpoint_url": endpoint_url }), blob)
            }
        };
        deps.store.install_barrier(Barrier::new(&key));
        let engine = Self::assemble(deps, key, VaultId::random());
        let header = VaultHeader {
            vault_id: engine.vault_id.clone(),
            format: FORMAT,
            key_source: source.into(),
            key_params: params,
            wrapped_vault_key: wrapped,
            created_at: engine.clock.now(),
            key_check: None,
            audit_keyed_from: None,
        };
        let audit = engine.audit_entry(
            "vault.init",
            None,
            AuditOutcome::Ok,
            json!({ "key_source": source, "backend": engine.store.backend(), "vault_id": engine.vault_id }),
        );
        engine.store.init(&header, &audit).await?;
        Ok(engine)
    }

    /// The kind of master key the vault at `store` needs.
    pub async fn key_source(store: &dyn Store) -> Result<MasterKeyKind> {
        let h = header(store).await?;
        let s = |v: &Value| v.as_str().map(str::to_owned);
        match h.key_source.as_str() {
            "passphrase" => Ok(MasterKeyKind::Passphrase),
            "key-file" => Ok(MasterKeyKind::KeyFile(PathBuf::from(s(&h.key_params["path"]).unwrap_or_default()))),
            "kms" => Ok(MasterKeyKind::Kms {
                key_id: s(&h.key_params["key_id"]).unwrap_or_default(),
                region: s(&h.key_params["region"]).unwrap_or_default(),
                endpoint_url: s(&h.key_params["endpoint_url"]),
            }),
            other => Err(Error::Integrity { message: format!("vault header names an unknown key source {other:?}") }),
        }
    }

    /// Unlocks an existing vault: the master key unwraps the vault key, the header's key check
    /// proves it is this vault's key, and the store gets the barrier (see
    /// [`rekey_store::barrier`]). A vault written before the barrier is refused until
    /// `rekey vault upgrade` ([`Engine::upgrade`]).
    pub async fn unlock(deps: Deps, master: MasterKey) -> Result<Self> {
        let h = header(deps.store.as_ref()).await?;
        let key = open_key(&h, &master).await?;
        let barrier = Barrier::new(&key);
        let (Some(check), Some(keyed_from)) = (&h.key_check, h.audit_keyed_from) else {
            return Err(Error::Locked {
                message: format!("vault {} was written before rekey authenticated its contents (it has no key check)", h.vault_id),
                hint: "run `rekey vault upgrade` once, after checking the vault's providers, accounts and delivery targets"
                    .into(),
            });
        };
        if !barrier.verify_key_check(h.vault_id.as_str(), keyed_from, check) {
            return Err(key_check_failed(&h));
        }
        deps.store.install_barrier(barrier);
        Ok(Self::assemble(deps, key, h.vault_id))
    }

    pub(crate) fn assemble(deps: Deps, key: VaultKey, vault_id: VaultId) -> Self {
        Self {
            store: deps.store,
            key,
            clock: deps.clock,
            actor: deps.actor,
            aws: deps.aws,
            vault_id,
            stopping: Arc::new(AtomicBool::new(false)),
            limits: crate::Limits::default(),
            progress: Arc::default(),
            leases: Arc::default(),
        }
    }

    /// This engine with `settings` for the leases it takes (length, node name); call it before
    /// any lease is taken.
    pub fn with_leases(mut self, settings: crate::lease::LeaseSettings) -> Self {
        self.leases = Arc::new(crate::lease::Leases::new(settings));
        self
    }

    /// The same unlocked vault acting for someone else (an API token, the scheduler): audit
    /// events name `actor`. Shares the stop flag.
    pub fn acting_as(&self, actor: impl Into<String>) -> Self {
        Self {
            store: self.store.clone(),
            key: self.key.clone(),
            clock: self.clock.clone(),
            actor: actor.into(),
            aws: self.aws.clone(),
            vault_id: self.vault_id.clone(),
            stopping: self.stopping.clone(),
            limits: self.limits.clone(),
            progress: self.progress.clone(),
            leases: self.leases.clone(),
        }
    }

    /// The vault's identity (kept in its header; named by its ownership tags in IAM).
    pub fn vault_id(&self) -> &VaultId {
        &self.vault_id
    }

    /// Progress of this engine's long runs (rotations, heartbeats, recovery).
    pub fn progress(&self) -> &Arc<crate::progress::Progress> {
        &self.progress
    }

    /// The same engine under `limits` (the front end's settings; the defaults otherwise).
    #[must_use]
    pub fn with_limits(mut self, limits: crate::Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &crate::Limits {
        &self.limits
    }

    /// Who the audit log names for this engine's actions.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Asks every rotation of this engine (and of engines made from it by [`Self::acting_as`])
    /// to stop at its next journal boundary; recovery resumes them later.
    pub fn request_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether [`Self::request_stop`] was called.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The store itself, for tests that inspect the vault beneath the engine. Front ends have
    /// none: everything they do goes through a method of the engine.
    #[cfg(feature = "test-support")]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The kind of database behind the vault (`sqlite`, `postgres`).
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Whether the database answers and still holds this vault's header (readiness probes).
    pub async fn vault_present(&self) -> Result<bool> {
        Ok(self.store.header().await?.is_some())
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Seals `secret` as a new version of `record_id`.
    pub(crate) fn seal_version(
        &self,
        record_id: &str,
        version: i64,
        state: SecretState,
        key_id: Option<String>,
        origin: Origin,
        secret: &Secret,
    ) -> SecretVersion {
        let Sealed { wrapped_key, ciphertext } = seal(&self.key, record_id, version, secret);
        SecretVersion {
            record_id: record_id.to_owned(),
            version,
            state,
            key_id,
            origin,
            wrapped_key,
            ciphertext,
            created_at: self.clock.now(),
        }
    }

    /// The MAC keys of this vault (see [`rekey_store::barrier`]).
    pub(crate) fn barrier(&self) -> Barrier {
        Barrier::new(&self.key)
    }

    /// Opens a stored version.
    pub(crate) fn open_version(&self, v: &SecretVersion) -> Result<Secret> {
        let sealed = Sealed { wrapped_key: v.wrapped_key.clone(), ciphertext: v.ciphertext.clone() };
        Ok(open(&self.key, &v.record_id, v.version, &sealed)?)
    }

    /// An audit event by this engine's actor, stamped now.
    pub fn audit_entry(&self, action: &str, target: Option<&str>, outcome: AuditOutcome, detail: Value) -> AuditEntry {
        AuditEntry {
            at: self.clock.now(),
            actor: self.actor.clone(),
            action: action.into(),
            target: target.map(str::to_owned),
            outcome: outcome.as_str().to_owned(),
            detail,
        }
    }

    /// Records a failed operation (best effort: the original error matters more).
    pub(crate) async fn audit_failure(&self, action: &str, target: Option<&str>, err: &Error) {
        let entry = self.audit_entry(action, target, AuditOutcome::Failed, json!({ "error": err.to_string() }));
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::warn!(error = %e, action, "could not record a failed operation in the audit log");
        }
    }
}

/// The header's key check did not verify under the unwrapped key: the key is not this vault's
/// (e.g. a KMS that answered with another plaintext), or the header was altered.
pub(crate) fn key_check_failed(h: &VaultHeader) -> Error {
    Error::Integrity {
        message: format!(
            "the master key unwrapped a key that fails vault {}'s key check: it is not this vault's key, or the \
             vault header was altered; nothing was read or written",
            h.vault_id
        ),
    }
}

/// The vault key of the vault with header `h`, unwrapped by `master`.
pub(crate) async fn open_key(h: &VaultHeader, master: &MasterKey) -> Result<VaultKey> {
    Ok(match (h.key_source.as_str(), master) {
        ("passphrase", MasterKey::Passphrase(p)) => {
            let kdf: KdfParams = serde_json::from_value(h.key_params["params"].clone())
                .map_err(|e| Error::Integrity { message: format!("vault header KDF parameters: {e}") })?;
            VaultKey::unwrap_from(&kdf.derive(p)?, &h.wrapped_vault_key, WRAP_CONTEXT)?
        }
        ("key-file", MasterKey::KeyFile(path)) => {
            VaultKey::unwrap_from(&master::read_key_file(path)?, &h.wrapped_vault_key, WRAP_CONTEXT)?
        }
        ("kms", MasterKey::Kms { key_id, region, endpoint_url }) => {
            let plain = rekey_aws::kms::decrypt(&kms_conn(region, endpoint_url.as_ref()), key_id, &h.wrapped_vault_key)
                .await
                .map_err(|e| Error::Locked {
                    message: format!("KMS could not unwrap the vault key: {e}"),
                    hint: "check that the default AWS credentials may call kms:Decrypt on the vault's key".into(),
                })?;
            VaultKey::from_bytes(&plain).ok_or(rekey_crypto::CryptoError::WrongKey)?
        }
        (source, _) => {
            return Err(Error::Locked {
                message: format!("this vault is protected by a {source} master key"),
                hint: "supply that kind of key (see `rekey init --help`)".into(),
            })
        }
    })
}

pub(crate) async fn header(store: &dyn Store) -> Result<VaultHeader> {
    store.header().await?.ok_or_else(|| Error::NotFound {
        what: "vault header".into(),
        hint: "this database was never initialised; run `rekey init`".into(),
    })
}

/// Rejects passphrases too short (or long) to protect a vault.
pub fn check_passphrase(p: &Secret) -> Result<()> {
    if p.expose().chars().count() < 8 {
        return Err(Error::usage("the passphrase is shorter than 8 characters", "choose a longer passphrase"));
    }
    check_secret_size("passphrase", p)
}

/// A secret access key is printable ASCII without spaces (AWS issues 40 base64 characters):
/// white space, control characters or anything beyond ASCII mean a wrong or mangled value.
pub(crate) fn check_access_key_secret(s: &Secret) -> Result<()> {
    if s.expose().chars().any(char::is_whitespace) {
        return Err(Error::usage("the secret access key contains white space", "check the value"));
    }
    if let Some(c) = s.expose().chars().find(|c| !c.is_ascii_graphic()) {
        return Err(Error::usage(
            format!("the secret access key has a character no AWS secret key contains (U+{:04X})", u32::from(c)),
            "an AWS secret access key is 40 letters, digits, + and /; check the value",
        ));
    }
    Ok(())
}

/// Rejects empty and oversize secrets.
pub(crate) fn check_secret_size(what: &str, s: &Secret) -> Result<()> {
    if s.is_empty() {
        return Err(Error::usage(format!("the {what} is empty"), "supply the value on standard input"));
    }
    if s.len() > MAX_SECRET_LEN {
        return Err(Error::usage(
            format!("the {what} is {} bytes long; rekey stores at most {MAX_SECRET_LEN}", s.len()),
            "check that the right value was supplied",
        ));
    }
    Ok(())
}
