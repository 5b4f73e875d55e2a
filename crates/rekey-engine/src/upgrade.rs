//! `rekey vault upgrade`: brings a vault written before the barrier under it.
//!
//! Such a vault has no key check, no row MACs and plain SHA-256 audit links. Upgrading unwraps
//! the vault key with the operator's master key, signs every provider, account, secret version
//! and API token as they stand, starts the keyed audit chain with a `vault.upgrade` event (the
//! events before it keep their plain links) and writes the key check, in one transaction.
//!
//! It is a command, not something unlock does on its own: whatever the database holds when the
//! rows are signed becomes authentic. Signing at every unlock would let anyone who can write the
//! database clear a key check and have their rows signed by the next command that runs; the
//! upgrade is the one moment an operator vouches for the contents, after reviewing them.

use crate::vault::{header, key_check_failed, open_key};
use crate::{Deps, Engine, Error, MasterKey, Result};
use rekey_domain::AuditOutcome;
use rekey_store::{Barrier, UpgradeCounts};
use serde_json::json;

impl Engine {
    /// Upgrades the vault at `deps.store` (see the module docs); `Conflict` if it already is.
    pub async fn upgrade(deps: Deps, master: MasterKey) -> Result<(Self, UpgradeCounts)> {
        let h = header(deps.store.as_ref()).await?;
        let key = open_key(&h, &master).await?;
        let barrier = Barrier::new(&key);
        if let (Some(check), Some(from)) = (&h.key_check, h.audit_keyed_from) {
            if !barrier.verify_key_check(h.vault_id.as_str(), from, check) {
                return Err(key_check_failed(&h));
            }
            return Err(Error::conflict(
                format!("vault {} is already protected: its contents are authenticated", h.vault_id),
                "nothing to do; unsigned rows in it are refused as altered",
            ));
        }
        deps.store.install_barrier(barrier);
        let engine = Self::assemble(deps, key, h.vault_id.clone());
        let audit = engine.audit_entry("vault.upgrade", None, AuditOutcome::Ok, json!({ "vault_id": h.vault_id }));
        let counts = engine.store.upgrade_barrier(&audit).await?;
        Ok((engine, counts))
    }
}
