//! Envelope encryption of secret versions.
//!
//! `seal` draws a fresh data key, encrypts the secret under it with `record id + version` as
//! associated data, and wraps the data key under the vault key with the same associated data.
//! `open` reverses it; any change to either blob, or moving them to another record or version,
//! fails authentication and yields `Tampered` — never garbage plaintext.

use crate::{CryptoError, Secret, VaultKey};
use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use rand::{rngs::OsRng, RngCore};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;

/// A sealed secret version: both blobs are `nonce || ciphertext+tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The data key, wrapped by the vault key.
    pub wrapped_key: Vec<u8>,
    /// The secret, encrypted by the data key.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} + {} bytes)", self.wrapped_key.len(), self.ciphertext.len())
    }
}

fn aad(record_id: &str, version: i64) -> Vec<u8> {
    format!("rekey-secret-v1\0{record_id}\0{version}").into_bytes()
}

/// Encrypts `plain` under `key`, returning `nonce || ciphertext+tag`.
pub(crate) fn encrypt(key: &VaultKey, plain: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.0.as_ref().into());
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    // Encryption with a valid key and in-memory buffers cannot fail.
    let ct = cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad }).unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    out
}

/// Decrypts `nonce || ciphertext+tag`; `None` when authentication fails.
pub(crate) fn decrypt(key: &VaultKey, blob: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    if blob.len() < NONCE_LEN + 16 {
        return None;
    }
    let (nonce, ct) = blob.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new(key.0.as_ref().into());
    cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad }).ok().map(Zeroizing::new)
}

/// Seals `secret` as version `version` of record `record_id`.
pub fn seal(vault: &VaultKey, record_id: &str, version: i64, secret: &Secret) -> Sealed {
    let data_key = VaultKey::random();
    let aad = aad(record_id, version);
    Sealed {
        wrapped_key: encrypt(vault, data_key.0.as_ref(), &aad),
        ciphertext: encrypt(&data_key, secret.expose().as_bytes(), &aad),
    }
}

/// Opens version `version` of record `record_id`.
pub fn open(vault: &VaultKey, record_id: &str, version: i64, sealed: &Sealed) -> Result<Secret, CryptoError> {
    let tampered = || CryptoError::Tampered { record: record_id.to_owned(), version };
    let aad = aad(record_id, version);
    let key_bytes = decrypt(vault, &sealed.wrapped_key, &aad).ok_or_else(tampered)?;
    let data_key = VaultKey::from_bytes(&key_bytes).ok_or_else(tampered)?;
    let plain = decrypt(&data_key, &sealed.ciphertext, &aad).ok_or_else(tampered)?;
    let text = String::from_utf8(plain.to_vec()).map_err(|_| tampered())?;
    Ok(Secret::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AES key schedule and GHASH state are wiped when a cipher is dropped (L6): this does
    /// not compile without the `zeroize` features of `aes`, `aes-gcm` and `polyval`.
    #[test]
    fn ciphers_are_wiped_on_drop() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<aes::Aes256>();
        let _ = Aes256Gcm::new(VaultKey::random().0.as_ref().into());
    }

    #[test]
    fn round_trip() {
        let k = VaultKey::random();
        let s = seal(&k, "acc1", 1, &Secret::new("wJalrXUtnFEMI/K7MDENG"));
        assert_eq!(open(&k, "acc1", 1, &s).unwrap().expose(), "wJalrXUtnFEMI/K7MDENG");
    }

    #[test]
    fn ciphertext_never_contains_the_plaintext() {
        let k = VaultKey::random();
        let s = seal(&k, "acc1", 1, &Secret::new("PLAINTEXT-MARKER"));
        let hay = [s.wrapped_key.clone(), s.ciphertext.clone()].concat();
        assert!(!hay.windows(16).any(|w| w == b"PLAINTEXT-MARKER"));
    }

    #[test]
    fn swapped_or_altered_records_are_detected() {
        let k = VaultKey::random();
        let s = seal(&k, "acc1", 1, &Secret::new("x"));
        assert!(matches!(open(&k, "acc2", 1, &s), Err(CryptoError::Tampered { .. })));
        assert!(matches!(open(&k, "acc1", 2, &s), Err(CryptoError::Tampered { .. })));
        let mut bad = s.clone();
        let last = bad.ciphertext.len() - 1;
        bad.ciphertext[last] ^= 1;
        assert!(open(&k, "acc1", 1, &bad).is_err());
        assert!(open(&VaultKey::random(), "acc1", 1, &s).is_err());
    }
}
