//! Master key sources and the vault key they protect.
//!
//! The vault key (32 random bytes) encrypts every data key. It is stored only wrapped: under a
//! key derived from a passphrase (Argon2id, parameters kept in the vault header), under the
//! bytes of a key file, or by KMS. A wrong master key fails the wrap's authentication tag, so
//! it is detected before anything is decrypted or written.

use crate::{envelope, CryptoError, Secret};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::{rngs::OsRng, RngCore};
use serde::{Deserialize, Serialize};
use std::{fmt, io::Write, path::Path};
use zeroize::Zeroizing;

/// A 256-bit AES key (the vault key, or a key that wraps it).
#[derive(Clone)]
pub struct VaultKey(pub(crate) Zeroizing<[u8; 32]>);

impl VaultKey {
    /// A fresh random key from the OS CSPRNG.
    pub fn random() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(k.as_mut());
        Self(k)
    }

    /// A key from exactly 32 bytes (e.g. a KMS data key's plaintext).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(arr)))
    }

    /// Wraps `self` under `wrapping` (AES-256-GCM; `context` is bound as associated data).
    pub fn wrap_under(&self, wrapping: &VaultKey, context: &str) -> Vec<u8> {
        envelope::encrypt(wrapping, self.0.as_ref(), context.as_bytes())
    }

    /// Unwraps a key wrapped by [`VaultKey::wrap_under`]; a wrong `wrapping` key gives `WrongKey`.
    pub fn unwrap_from(wrapping: &VaultKey, blob: &[u8], context: &str) -> Result<Self, CryptoError> {
        let plain = envelope::decrypt(wrapping, blob, context.as_bytes()).ok_or(CryptoError::WrongKey)?;
        Self::from_bytes(&plain).ok_or(CryptoError::WrongKey)
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultKey(<redacted>)")
    }
}

/// Argon2id parameters, stored in the vault header so the key can be derived again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Hex-encoded 16-byte salt.
    pub salt: String,
    /// Memory cost in KiB.
    pub m_kib: u32,
    /// Passes over the memory (Argon2's time cost).
    pub t: u32,
    /// Lanes computed in parallel (Argon2's parallelism).
    pub p: u32,
}

/// Largest memory cost accepted from a vault header (1 GiB, 16 times the default): the
/// parameters are read before anything is authenticated, so a header rewritten to
/// `m_kib=4294967295` must fail at once instead of hanging the process.
pub const MAX_M_KIB: u32 = 1024 * 1024;
/// Most passes accepted from a vault header.
pub const MAX_T: u32 = 16;
/// Most lanes accepted from a vault header.
pub const MAX_P: u32 = 16;

impl KdfParams {
    /// Fresh parameters with a random salt: Argon2id with 46 MiB and 2 passes, twice the work
    /// of OWASP's floor (19 MiB with 2 passes, or 46 MiB with 1). RFC 9106's 64 MiB with 3 passes
    /// would cost every command (each one derives the key) about five times the floor.
    pub fn generate() -> Self {
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        Self { salt: hex::encode(salt), m_kib: 46 * 1024, t: 2, p: 1 }
    }

    /// Checks the parameters read from a vault header against the bounds above.
    pub fn check(&self) -> Result<(), CryptoError> {
        let out = |what: &str, v: u32, max: u32| {
            Err(CryptoError::Kdf(format!("the vault header asks for {what} {v}; rekey accepts at most {max}")))
        };
        if self.m_kib > MAX_M_KIB {
            return out("an Argon2 memory cost (KiB) of", self.m_kib, MAX_M_KIB);
        }
        if self.t > MAX_T {
            return out("an Argon2 pass count of", self.t, MAX_T);
        }
        if self.p > MAX_P {
            return out("an Argon2 lane count of", self.p, MAX_P);
        }
        Ok(())
    }

    /// Derives the wrapping key from a passphrase.
    pub fn derive(&self, passphrase: &Secret) -> Result<VaultKey, CryptoError> {
        self.check()?;
        let salt = hex::decode(&self.salt).map_err(|e| CryptoError::Kdf(format!("salt: {e}")))?;
        let params = Params::new(self.m_kib, self.t, self.p, Some(32)).map_err(|e| CryptoError::Kdf(e.to_string()))?;
        let mut out = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase.expose().as_bytes(), &salt, out.as_mut())
            .map_err(|e| CryptoError::Kdf(e.to_string()))?;
        Ok(VaultKey(out))
    }
}

/// Refuses a file holding key material (a key file, a passphrase file) that its group or other
/// users may read or write: like ssh with private keys, rekey will not use a master key that is
/// already exposed. Returns what is wrong and how to fix it.
pub fn check_private_file(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "it is readable or writable by other users (mode {mode:04o}); make it private with `chmod 600 {}`",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Reads a key file: 64 hex characters (surrounding whitespace ignored).
pub fn read_key_file(path: &Path) -> Result<VaultKey, CryptoError> {
    let err = |problem: String| CryptoError::KeyFile { path: path.display().to_string(), problem };
    check_private_file(path).map_err(err)?;
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?);
    let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|_| err("expected 64 hexadecimal characters".into()))?);
    VaultKey::from_bytes(&bytes).ok_or_else(|| err("expected 64 hexadecimal characters (32 bytes)".into()))
}

/// Creates a new key file with a random key, readable by its owner only. Refuses to overwrite.
pub fn create_key_file(path: &Path) -> Result<VaultKey, CryptoError> {
    let err = |problem: String| CryptoError::KeyFile { path: path.display().to_string(), problem };
    let key = VaultKey::random();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| err(e.to_string()))?;
    let text = Zeroizing::new(format!("{}\n", hex::encode(key.0.as_ref())));
    f.write_all(text.as_bytes()).map_err(|e| err(e.to_string()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams { m_kib: 64, t: 1, ..KdfParams::generate() }
    }

    #[test]
    fn passphrase_wraps_and_wrong_passphrase_is_detected() {
        let params = fast();
        let vault = VaultKey::random();
        let blob = vault.wrap_under(&params.derive(&Secret::new("correct horse")).unwrap(), "vault");
        let back =
            VaultKey::unwrap_from(&params.derive(&Secret::new("correct horse")).unwrap(), &blob, "vault").unwrap();
        assert_eq!(back.0.as_ref(), vault.0.as_ref());
        let wrong = VaultKey::unwrap_from(&params.derive(&Secret::new("battery staple")).unwrap(), &blob, "vault");
        assert!(matches!(wrong, Err(CryptoError::WrongKey)));
    }

    #[test]
    fn key_files_round_trip_and_are_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.key");
        let k = create_key_file(&path).unwrap();
        assert_eq!(read_key_file(&path).unwrap().0.as_ref(), k.0.as_ref());
        assert!(create_key_file(&path).is_err());
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(read_key_file(&path), Err(CryptoError::KeyFile { .. })));
    }

    #[test]
    fn key_files_others_may_read_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vault.key");
        let k = create_key_file(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = read_key_file(&path).unwrap_err().to_string();
            assert!(
                err.contains("readable or writable by other users") && err.contains("chmod 600"),
                "{mode:o}: {err}"
            );
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(read_key_file(&path).unwrap().0.as_ref(), k.0.as_ref());
    }

    #[test]
    fn kdf_parameters_from_a_header_are_bounded() {
        let p = Secret::new("correct horse");
        for bad in [
            KdfParams { m_kib: u32::MAX, ..fast() },
            KdfParams { m_kib: MAX_M_KIB + 1, ..fast() },
            KdfParams { t: u32::MAX, ..fast() },
            KdfParams { p: 1000, ..fast() },
        ] {
            let started = std::time::Instant::now();
            assert!(matches!(bad.derive(&p), Err(CryptoError::Kdf(_))), "{bad:?}");
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused before deriving");
        }
        let d = KdfParams::generate();
        assert!(d.m_kib >= 46 * 1024 && d.t >= 2, "defaults above OWASP's floor");
        assert!(d.check().is_ok());
    }

    #[test]
    fn debug_of_a_key_is_redacted() {
        let k = VaultKey::random();
        let shown = format!("{k:?}");
        assert_eq!(shown, "VaultKey(<redacted>)");
        assert!(!shown.contains(&hex::encode(k.0.as_ref())));
    }
}
