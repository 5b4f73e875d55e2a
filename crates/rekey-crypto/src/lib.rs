//! Everything rekey does with key material.
//!
//! * [`Secret`] carries a credential value through the program: zeroized on drop, redacted in
//!   `Debug`, no `Display`/`Serialize`; the value is read only through [`Secret::expose`].
//! * [`envelope`] seals a secret version: a fresh data key per record encrypts the value
//!   (AES-256-GCM, the record id and version as associated data), and the vault key wraps the
//!   data key. Nothing decrypts unless the record id and version match the row it came from.
//! * [`mac`] derives MAC keys from the vault key, which authenticate what the database holds
//!   in the clear but must not be changed without the master key (the barrier).
//! * [`ses`] derives the Amazon SES SMTP password of an access key.
//! * [`master`] turns a master key source (passphrase via Argon2id, key file) into the key that
//!   wraps the vault key. (KMS wrapping lives with the AWS clients.)
//!
//! # Layout
//!
//! - `secret`: [`Secret`]. [`error`]: [`CryptoError`].
//! - [`master`]: [`VaultKey`], passphrase derivation ([`KdfParams`], Argon2id with bounded
//!   parameters), key files (refused if others may read them), wrapping the vault key.
//! - [`envelope`]: [`seal`] / [`open`] of a secret version under the vault key.
//! - [`mac`]: [`MacKey`]s derived from the vault key per purpose.
//! - [`ses`]: the SES SMTP password of an access key.

pub mod envelope;
pub mod error;
pub mod mac;
pub mod master;
mod secret;
pub mod ses;

pub use envelope::{open, seal, Sealed};
pub use error::CryptoError;
pub use mac::MacKey;
pub use master::{KdfParams, VaultKey};
pub use secret::Secret;
