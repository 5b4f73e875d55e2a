//! rekey's vocabulary: the validated names, ids and rules that every other crate speaks in.
//!
//! Nothing here does I/O. Values are validated when they are built (`FromStr` / `new`), so a
//! `UserName` or an `Arn` that exists is always well-formed and the layers above never re-check.
//!
//! # Layout
//!
//! - [`names`]: validated names and ids ([`UserName`], [`ProviderName`], [`Folder`], [`AccountId`],
//!   [`AccessKeyId`], [`VaultId`], [`Region`]); [`arn`]: [`Arn`].
//! - [`kind`]: [`CredentialKind`] and the states of a secret version ([`SecretState`]); [`phase`]:
//!   the phases of both rotation state machines.
//! - [`settings`]: an account's [`RotationSettings`] and delivery [`Target`]s; [`targets`]: the
//!   settings of the GitHub, GitLab, Kubernetes and manual targets and value formats; [`webhook`]:
//!   where a signed webhook goes and where its key comes from.
//! - [`settings_patch`]: [`SettingsPatch`], a change to the settings (`account set`, the API).
//! - [`schedule`]: when an account is next due (interval, cron); [`duration`]: human durations
//!   and [`DurationMs`]; [`minimums`]: the smallest durations an operator may set.
//! - [`password`]: password rules and the generator.
//! - [`role`]: the [`Role`] an API token carries.
//! - [`status`]: an account's [`AccountStatus`] and its last [`HeartbeatStatus`]; [`outcome`]:
//!   how a rotation run ([`Outcome`]), a journaled rotation ([`JournalOutcome`]) and an audited
//!   operation ([`AuditOutcome`]) ended; [`ownership`]: an IAM key's [`KeyOwnership`];
//!   [`finding`]: a compliance [`Finding`]. [`spelling`]: [`Spelled`], the one spelling table
//!   each of these closed sets has.
//! - [`clock`]: time, injected ([`Clock`], [`SystemClock`], [`ManualClock`]); [`timestamp`]: how
//!   every record's times read in JSON (RFC 3339, milliseconds, `Z`).
//! - [`error`]: [`ValidationError`], what was wrong and how to fix it; [`glob`]: name patterns.
//! - [`whole`]: [`Whole`], a whole-number field's range, and the messages that say it.

pub mod arn;
pub mod clock;
pub mod duration;
pub mod error;
pub mod finding;
pub mod glob;
pub mod kind;
pub mod minimums;
pub mod names;
pub mod outcome;
pub mod ownership;
pub mod password;
pub mod phase;
pub mod role;
pub mod schedule;
pub mod settings;
pub mod settings_patch;
pub mod spelling;
pub mod status;
pub mod targets;
pub mod timestamp;
pub mod webhook;
pub mod whole;

pub use arn::Arn;
pub use clock::{Clock, ManualClock, SystemClock};
pub use duration::DurationMs;
pub use error::ValidationError;
pub use finding::Finding;
pub use kind::{CredentialKind, SecretState};
pub use names::{AccessKeyId, AccountId, Folder, ProviderName, Region, UserName, VaultId};
pub use outcome::{AuditOutcome, JournalOutcome, Outcome};
pub use ownership::KeyOwnership;
pub use password::{PasswordPolicy, PasswordRules};
pub use phase::Phase;
pub use role::Role;
pub use settings::{PastDeadline, PreviousKeyPolicy, Retirement, RotationSettings, Target, VerifySettings};
pub use settings_patch::SettingsPatch;
pub use spelling::Spelled;
#[cfg(feature = "openapi")]
pub use status::ShownStatus;
pub use status::{AccountStatus, HeartbeatStatus};
pub use targets::ValueFormat;
pub use whole::Whole;

/// The JSON schema of a validated string type (its rules are in its documentation).
#[cfg(feature = "openapi")]
fn string_schema(name: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(format!("A validated {name} (see rekey's README)")))
        .into()
}

/// Largest secret rekey stores (bytes). IAM passwords are at most 128 characters and secret
/// access keys 40; the margin leaves room for other credential material without inviting misuse.
pub const MAX_SECRET_LEN: usize = 1024;
