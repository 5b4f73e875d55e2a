//! The barrier: the rows that steer where secrets go or how the vault is opened carry an
//! HMAC under a key derived from the vault key, so write access to the database without the
//! master key cannot change them unnoticed.
//!
//! The engine derives a [`Barrier`] from the unlocked vault key and installs it in the store
//! ([`crate::sign::BarrierStore::install_barrier`]). From then on the store signs every such
//! row it writes and verifies every such row it reads: providers (region, endpoint, auth, MFA
//! serial), accounts (provider, IAM user, folder, settings with the delivery targets), secret
//! versions (record, version, state, key id, origin) and API tokens (role, folders, hash,
//! expiry, revocation). The audit chain's links are HMACs under a key of their own, and the
//! header's key check proves the master key unwrapped this vault's key. Without a barrier the
//! store neither reads nor writes any of these ([`StoreError::Sealed`]).

use crate::{Result, StoreError};
use rekey_crypto::{MacKey, VaultKey};
use std::sync::{Arc, RwLock};

/// The MAC keys of one unlocked vault.
#[derive(Debug)]
pub struct Barrier {
    rows: MacKey,
    audit: MacKey,
    check: MacKey,
}

/// A row's authenticated columns, in a fixed order per table. An absent value and an empty one
/// differ (`-` versus `+` before the value).
#[derive(Debug, Default)]
pub(crate) struct RowParts(Vec<Vec<u8>>);

impl RowParts {
    pub(crate) fn new(table: &str) -> Self {
        Self(vec![table.as_bytes().to_vec()])
    }

    pub(crate) fn text(mut self, v: &str) -> Self {
        self.0.push(v.as_bytes().to_vec());
        self
    }

    pub(crate) fn opt(mut self, v: Option<&str>) -> Self {
        self.0.push(match v {
            Some(v) => [b"+", v.as_bytes()].concat(),
            None => b"-".to_vec(),
        });
        self
    }

    pub(crate) fn int(self, v: i64) -> Self {
        self.text(&v.to_string())
    }

    pub(crate) fn opt_int(self, v: Option<i64>) -> Self {
        self.opt(v.map(|v| v.to_string()).as_deref())
    }

    fn slices(&self) -> Vec<&[u8]> {
        self.0.iter().map(Vec::as_slice).collect()
    }
}

impl Barrier {
    /// The barrier of the vault whose key is `key`.
    pub fn new(key: &VaultKey) -> Self {
        Self {
            rows: key.derive_mac_key("rows"),
            audit: key.derive_mac_key("audit-chain"),
            check: key.derive_mac_key("key-check"),
        }
    }

    /// The header's key check: an HMAC of a constant, the vault id and the first keyed audit
    /// event under the vault key. It proves the unwrapped key is this vault's (a wrong key, e.g.
    /// the plaintext of a fake KMS, fails it), and ties the audit chain's upgrade marker to it.
    pub fn key_check(&self, vault_id: &str, audit_keyed_from: i64) -> String {
        self.check.sign(&[b"rekey key check v1", vault_id.as_bytes(), audit_keyed_from.to_string().as_bytes()])
    }

    /// Whether `check` is [`Self::key_check`] of `vault_id` and `audit_keyed_from`.
    pub fn verify_key_check(&self, vault_id: &str, audit_keyed_from: i64, check: &str) -> bool {
        self.check.verify(&[b"rekey key check v1", vault_id.as_bytes(), audit_keyed_from.to_string().as_bytes()], check)
    }

    /// The key of the audit chain's links.
    pub fn audit_key(&self) -> &MacKey {
        &self.audit
    }

    pub(crate) fn sign(&self, row: &RowParts) -> String {
        self.rows.sign(&row.slices())
    }

    /// `Tampered` naming `what` unless `mac` is the row's MAC.
    pub(crate) fn verify(&self, row: &RowParts, mac: Option<&str>, what: impl FnOnce() -> String) -> Result<()> {
        match mac {
            Some(mac) if self.rows.verify(&row.slices(), mac) => Ok(()),
            Some(_) => Err(StoreError::Tampered { what: what(), problem: "its MAC does not match".into() }),
            None => Err(StoreError::Tampered { what: what(), problem: "it carries no MAC".into() }),
        }
    }
}

/// Where a store keeps the barrier once the vault is unlocked.
#[derive(Debug, Default)]
pub(crate) struct Slot(RwLock<Option<Arc<Barrier>>>);

impl Slot {
    pub(crate) fn install(&self, b: Barrier) {
        if let Ok(mut slot) = self.0.write() {
            *slot = Some(Arc::new(b));
        }
    }

    pub(crate) fn get(&self) -> Result<Arc<Barrier>> {
        self.0.read().ok().and_then(|b| b.clone()).ok_or(StoreError::Sealed)
    }
}

/// The authenticated columns of a provider row.
pub(crate) fn provider_row(
    name: &str,
    region: &str,
    endpoint_url: Option<&str>,
    auth: &str,
    mfa_serial: Option<&str>,
) -> RowParts {
    RowParts::new("providers").text(name).text(region).opt(endpoint_url).text(auth).opt(mfa_serial)
}

/// The authenticated columns of an account row: which IAM user, through which provider, in
/// which folder, and its settings (with the delivery targets).
#[allow(clippy::too_many_arguments)] // one per authenticated column
pub(crate) fn account_row(
    id: &str,
    provider: &str,
    user_name: &str,
    user_id: &str,
    arn: &str,
    kind: &str,
    folder: Option<&str>,
    settings: &str,
) -> RowParts {
    RowParts::new("accounts")
        .text(id)
        .text(provider)
        .text(user_name)
        .text(user_id)
        .text(arn)
        .text(kind)
        .opt(folder)
        .text(settings)
}

/// The authenticated columns of a secret version (the sealed bytes are bound to the record and
/// version by the AEAD already).
pub(crate) fn secret_row(record_id: &str, version: i64, state: &str, key_id: Option<&str>, origin: &str) -> RowParts {
    RowParts::new("secret_versions").text(record_id).int(version).text(state).opt(key_id).text(origin)
}

/// The authenticated columns of an API token.
#[allow(clippy::too_many_arguments)] // one per authenticated column
pub(crate) fn token_row(
    id: &str,
    name: &str,
    role: &str,
    folders: &str,
    hash: &str,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
) -> RowParts {
    RowParts::new("api_tokens")
        .text(id)
        .text(name)
        .text(role)
        .text(folders)
        .text(hash)
        .int(created_at)
        .opt_int(expires_at)
        .opt_int(revoked_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_verify_only_unchanged_and_only_under_their_key() {
        let b = Barrier::new(&VaultKey::random());
        let row = || secret_row("acc1", 2, "retired", Some("AKIA1"), "created");
        let mac = b.sign(&row());
        assert!(b.verify(&row(), Some(&mac), String::new).is_ok());
        let flipped = secret_row("acc1", 2, "current", Some("AKIA1"), "created");
        assert!(matches!(b.verify(&flipped, Some(&mac), || "v".into()), Err(StoreError::Tampered { .. })));
        assert!(b.verify(&row(), None, String::new).is_err(), "a missing MAC fails");
        assert!(Barrier::new(&VaultKey::random()).verify(&row(), Some(&mac), String::new).is_err());
        let none = RowParts::new("t").opt(None);
        let empty = RowParts::new("t").opt(Some(""));
        assert_ne!(b.sign(&none), b.sign(&empty), "absent and empty differ");
    }

    #[test]
    fn the_key_check_binds_key_vault_and_marker() {
        let key = VaultKey::random();
        let b = Barrier::new(&key);
        let check = b.key_check("0123456789abcdef", 1);
        assert!(Barrier::new(&key).verify_key_check("0123456789abcdef", 1, &check));
        assert!(!b.verify_key_check("0123456789abcdee", 1, &check));
        assert!(!b.verify_key_check("0123456789abcdef", 7, &check));
        assert!(!Barrier::new(&VaultKey::random()).verify_key_check("0123456789abcdef", 1, &check));
    }
}
