//! rekey's use cases. An [`Engine`] is an unlocked vault plus its collaborators (store, clock,
//! AWS connector); each use case is a method on it, in the module named after what it acts on.
//! Data flows one way: front ends (CLI, HTTP) → engine → store / AWS / clock.
//!
//! # Layout
//!
//! - [`vault`]: [`Engine`] itself — `init` draws the vault key and wraps it under the master
//!   key, `unlock` unwraps it (passphrase → Argon2id in [`rekey_crypto::master`], key file, KMS),
//!   sealing and opening secret versions. `upgrade`: `rekey vault upgrade`, signing a vault
//!   written before the barrier; `integrity`: refusing rows that failed their check.
//! - [`providers`], [`org`], [`accounts`], [`settings`]: what the vault manages and how
//!   (`settings` also holds `rekey rollback`).
//! - [`rotate`]: the rotation driver (`rotate/run.rs`) and both state machines —
//!   `rotate/access_key.rs` creates, verifies and delivers the new key and deactivates
//!   (`deactivate_previous`) and deletes the old one; `rotate/password.rs`; dry-run plans,
//!   confirmed cut-over, manual confirmation, recovery, the journaled history.
//! - [`ownership`]: whose each IAM key is (the ownership tag, the classifier, `free_slot`), for
//!   the rotation, its dry-run plan, `heartbeat` and `discover`.
//! - [`lease`]: who may work a rotation (leases, fencing, renewal). [`batch`]: many accounts at
//!   once. [`limits`]: the limits passed in by the front end. `tick`: one scheduler tick.
//! - [`delivery`]: where a new secret goes, one file per target kind behind one trait;
//!   [`private_file`]: files that hold secrets, written so nobody else can read or swap them.
//! - `listing`: pages of accounts, rotations and audit events, and the overview's counts.
//! - [`tokens`]: the API tokens `rekey serve` accepts — minting, revoking, and checking a bearer
//!   token ([`Engine::verify_token`]: its hash, revocation, expiry).
//! - `heartbeat`, [`discover`], [`report`], [`incident`], `checkout`: the other use cases.
//! - `audit`: verifying the audit chain; `audit_log`: reading it, appending batches, readers'
//!   cursors. [`policy`], [`policy_fit`]: the least-privilege policy.
//! - [`connect`]: how the engine gets AWS clients (the SDK, or doubles in tests).
//! - `error`: [`Error`] and its classes (the exit codes and HTTP statuses follow from them).
//! - [`failpoint`], [`progress`], [`stats`]: crash points for tests, progress, metrics.
//! - [`stderr`]: lines on standard error that a closed pipe cannot turn into a panic (the CLI's
//!   and the server's).

pub mod accounts;
mod audit;
mod audit_log;
pub mod batch;
mod checkout;
pub mod connect;
pub mod delivery;
pub mod discover;
mod error;
pub mod failpoint;
mod heartbeat;
pub mod incident;
mod integrity;
pub mod lease;
pub mod limits;
mod listing;
pub mod org;
pub mod ownership;
pub mod policy;
pub mod policy_fit;
pub mod private_file;
pub mod progress;
pub mod providers;
pub mod report;
pub mod rotate;
pub mod settings;
pub mod stats;
pub mod stderr;
mod tick;
pub mod tokens;
mod upgrade;
pub mod vault;

pub use accounts::{AccountRef, InitialKey, NewAccount, Removed};
pub use audit::{Anchor, ChainReport};
pub use checkout::MAX_CHECKOUT_MS;
#[cfg(feature = "test-support")]
pub use connect::FakeConnector;
pub use connect::{AwsConnector, SdkConnector};
pub use error::{Error, ErrorClass, Failure, Result};
pub use limits::Limits;
pub use providers::{AuthSpec, NewProvider};
pub use rotate::{Pending, RotateOptions, RotationReport};
pub use settings::AccountChanges;
pub use tick::{retry_wait, TickOptions, TickReport};
pub use vault::{Deps, Engine, MasterKey, MasterKeyKind};
