//! Keys derived from the vault key for authenticating (not encrypting) what the vault stores.
//!
//! The barrier idea: whatever in the database steers where secrets go or how the vault is
//! opened is covered by an HMAC-SHA256 under a key derived from the vault key, so write access to
//! the database without the master key cannot change it unnoticed. Each use derives its own key
//! ([`VaultKey::derive_mac_key`] with a purpose string), so a MAC made for one purpose is never
//! valid for another.

use crate::VaultKey;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// An HMAC-SHA256 key derived from the vault key for one purpose.
#[derive(Clone)]
pub struct MacKey(Zeroizing<[u8; 32]>);

impl VaultKey {
    /// The MAC key for `purpose` (HMAC-SHA256 of `rekey-mac-key-v1 NUL purpose` under the vault key).
    pub fn derive_mac_key(&self, purpose: &str) -> MacKey {
        let mut m = HmacSha256::new_from_slice(self.0.as_ref()).unwrap_or_else(|_| unreachable_key());
        m.update(b"rekey-mac-key-v1\0");
        m.update(purpose.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&m.finalize().into_bytes());
        MacKey(out)
    }
}

/// HMAC accepts keys of any length; a 32-byte key cannot be refused.
fn unreachable_key() -> HmacSha256 {
    unreachable!("HMAC-SHA256 accepts keys of any length")
}

impl MacKey {
    fn hmac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut m = HmacSha256::new_from_slice(self.0.as_ref()).unwrap_or_else(|_| unreachable_key());
        // Each part is length-prefixed, so no two different lists of parts hash alike.
        for p in parts {
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m
    }

    /// The MAC of `parts` as 64 hex characters.
    pub fn sign(&self, parts: &[&[u8]]) -> String {
        hex::encode(self.hmac(parts).finalize().into_bytes())
    }

    /// Whether `mac` (hex) is the MAC of `parts`; compared in constant time.
    pub fn verify(&self, parts: &[&[u8]], mac: &str) -> bool {
        match hex::decode(mac) {
            Ok(bytes) => self.hmac(parts).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_depend_on_key_purpose_and_every_part() {
        let k = VaultKey::random();
        let a = k.derive_mac_key("rows");
        let mac = a.sign(&[b"acc1", b"{\"targets\":[]}"]);
        assert!(a.verify(&[b"acc1", b"{\"targets\":[]}"], &mac));
        assert!(!a.verify(&[b"acc1", b"{\"targets\":[1]}"], &mac), "a changed part fails");
        assert!(!a.verify(&[b"acc", b"1{\"targets\":[]}"], &mac), "moving bytes between parts fails");
        assert!(!k.derive_mac_key("header").verify(&[b"acc1", b"{\"targets\":[]}"], &mac), "another purpose fails");
        assert!(!VaultKey::random().derive_mac_key("rows").verify(&[b"acc1", b"{\"targets\":[]}"], &mac));
        assert!(!a.verify(&[b"acc1", b"{\"targets\":[]}"], "not hex"));
        assert_eq!(format!("{a:?}"), "MacKey(<redacted>)");
    }
}
