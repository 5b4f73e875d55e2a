//! Errors of the crypto layer, by what the caller can do about them.

use thiserror::Error;

/// A failure to seal, open or derive key material. Never carries key material or plaintext.
#[derive(Debug, Error)]
pub enum CryptoError {
    /// The master key (passphrase, key file, KMS key) does not open this vault.
    #[error("the master key does not open this vault (wrong passphrase or key)")]
    WrongKey,
    /// A sealed record failed authentication: its bytes were changed or moved to another row.
    #[error("secret record {record} version {version} failed authentication: its ciphertext was altered or swapped")]
    Tampered {
        /// The record id.
        record: String,
        /// The version.
        version: i64,
    },
    /// A key file could not be read or has the wrong format.
    #[error("key file {path}: {problem}")]
    KeyFile {
        /// Where the file was looked for.
        path: String,
        /// What was wrong.
        problem: String,
    },
    /// Key derivation failed (bad stored parameters).
    #[error("key derivation failed: {0}")]
    Kdf(String),
}
