//! The engine's error: every failure a use case can report, each with a class the front ends
//! map to an exit code or HTTP status, and a hint that says how to fix it.

use rekey_aws::{AwsError, AwsErrorClass};
use rekey_crypto::CryptoError;
use rekey_domain::ValidationError;
use rekey_store::StoreError;
use thiserror::Error;

/// What kind of failure, for exit codes and HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Bad input: nothing was done.
    Usage,
    /// The named object does not exist.
    NotFound,
    /// The request conflicts with existing state (duplicate, in use, busy).
    Conflict,
    /// AWS refused the credentials or the permission.
    Auth,
    /// AWS failed or could not be reached.
    Upstream,
    /// The vault cannot be unlocked (wrong or missing master key).
    Locked,
    /// Stored data failed an integrity check (tampered or corrupt).
    Integrity,
    /// The vault's storage refused: it is read-only to this process (file, file system,
    /// another user's vault), not readable by it, or its disk is full. Nothing was written.
    Storage,
    /// The command ran, but what it found or did needs attention (a failed rotation or
    /// heartbeat, compliance findings): for scripts and CI gates.
    Findings,
    /// A bug or an unexpected environment failure.
    Internal,
}

/// An engine failure.
#[derive(Debug, Error)]
pub enum Error {
    /// Input failed validation.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// A usage error with a hint.
    #[error("{message}")]
    Usage {
        /// What was wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// Something named does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, by kind and name, e.g. `account prod/ci`.
        what: String,
        /// How to find the right name.
        hint: String,
    },
    /// A conflict with existing state.
    #[error("{what}")]
    Conflict {
        /// What conflicts.
        what: String,
        /// How to resolve it.
        hint: String,
    },
    /// The account's lease is held by another live worker (a rotation of it is under way, in
    /// this process or another): nothing was done.
    #[error("{what}")]
    Busy {
        /// Who works the account, and which rotation.
        what: String,
        /// What to do.
        hint: String,
        /// The rotation under way, when it has been journaled.
        rotation: Option<String>,
    },
    /// The vault could not be unlocked.
    #[error("{message}")]
    Locked {
        /// What went wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// Integrity failure.
    #[error("{message}")]
    Integrity {
        /// What failed.
        message: String,
    },
    /// An AWS call failed.
    #[error("{0}")]
    Aws(#[from] AwsError),
    /// Storage failure.
    #[error("{0}")]
    Store(StoreError),
    /// A delivery target or webhook receiver refused or did not answer.
    #[error("{0}")]
    Delivery(String),
    /// The command completed with findings (see [`ErrorClass::Findings`]).
    #[error("{0}")]
    Findings(String),
    /// Anything else.
    #[error("{0}")]
    Internal(String),
    /// A failure a rotation report carried ([`Failure`]), raised again by the front end that
    /// printed the report: its class and hint are the original error's.
    #[error("{message}")]
    Reported {
        /// The original error's message.
        message: String,
        /// Its class and hint.
        failure: Failure,
    },
}

/// What a report keeps of the error that stopped or refused a rotation: its class (the front
/// ends decide exit codes and statuses by it, never by the message) and its hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The error's class.
    pub class: ErrorClass,
    /// How to fix it.
    pub hint: Option<String>,
    /// Whether it was [`Error::Busy`]: another worker held the account, and nothing was done.
    pub busy: bool,
}

impl Failure {
    /// The class and hint of `e`.
    pub fn of(e: &Error) -> Self {
        Self { class: e.class(), hint: e.hint(), busy: e.is_busy() }
    }
}

/// Engine results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the vault's database could not be reached, did not answer or failed (see
    /// [`StoreError::is_outage`]): the work stops until it is back.
    pub fn is_store_outage(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_outage())
    }

    /// Whether another worker holds the account (see [`Error::Busy`]): healthy contention,
    /// which scheduled and bulk work skips rather than counts as a failure. A failure a report
    /// carried ([`Error::Reported`]) is busy when its original error was.
    pub fn is_busy(&self) -> bool {
        match self {
            Self::Busy { .. } => true,
            Self::Reported { failure, .. } => failure.busy,
            _ => false,
        }
    }

    /// The class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Invalid(_) | Self::Usage { .. } => ErrorClass::Usage,
            Self::NotFound { .. } => ErrorClass::NotFound,
            Self::Conflict { .. } | Self::Busy { .. } => ErrorClass::Conflict,
            Self::Locked { .. } => ErrorClass::Locked,
            Self::Integrity { .. } => ErrorClass::Integrity,
            Self::Aws(e) => match e.class {
                AwsErrorClass::Auth => ErrorClass::Auth,
                AwsErrorClass::NotFound => ErrorClass::NotFound,
                AwsErrorClass::Limit | AwsErrorClass::Conflict => ErrorClass::Conflict,
                AwsErrorClass::Invalid => ErrorClass::Usage,
                AwsErrorClass::Retryable | AwsErrorClass::Other => ErrorClass::Upstream,
            },
            Self::Store(e) => match e {
                StoreError::InvalidUrl { .. } => ErrorClass::Usage,
                StoreError::NoVault { .. } | StoreError::NotFound { .. } => ErrorClass::NotFound,
                StoreError::Conflict { .. } | StoreError::Fenced { .. } | StoreError::NotDue { .. } => {
                    ErrorClass::Conflict
                }
                StoreError::Corrupt { .. } | StoreError::Tampered { .. } => ErrorClass::Integrity,
                StoreError::Sealed => ErrorClass::Locked,
                StoreError::ReadOnly { .. } | StoreError::Unreadable { .. } | StoreError::Full { .. } => {
                    ErrorClass::Storage
                }
                StoreError::Database(_) | StoreError::Unavailable { .. } => ErrorClass::Internal,
            },
            Self::Findings(_) => ErrorClass::Findings,
            Self::Delivery(_) => ErrorClass::Upstream,
            Self::Internal(_) => ErrorClass::Internal,
            Self::Reported { failure, .. } => failure.class,
        }
    }

    /// How to fix it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Invalid(v) => Some(v.hint.clone()),
            Self::Usage { hint, .. }
            | Self::NotFound { hint, .. }
            | Self::Conflict { hint, .. }
            | Self::Busy { hint, .. }
            | Self::Locked { hint, .. } => Some(hint.clone()).filter(|h| !h.is_empty()),
            Self::Integrity { .. } => Some("restore the vault from a backup; rekey refuses to use altered data".into()),
            Self::Aws(e) => Some(aws_hint(e)),
            Self::Store(StoreError::NoVault { .. }) => {
                Some("create one with `rekey init`, or point --vault / REKEY_VAULT at an existing vault".into())
            }
            Self::Store(StoreError::InvalidUrl { .. }) => {
                Some("use --vault sqlite:PATH or --vault postgres://USER@HOST:PORT/DB".into())
            }
            Self::Store(StoreError::Corrupt { .. }) => {
                Some("check that --vault points at a rekey vault; restore it from a backup if it was damaged".into())
            }
            Self::Store(StoreError::Tampered { .. }) => Some(
                "someone with write access to the database changed it without the master key; restore the row from a \
                 backup, or remove and add the object again"
                    .into(),
            ),
            Self::Store(StoreError::Sealed) => Some("unlock the vault first (a bug if you see this)".into()),
            Self::Store(StoreError::NotFound { what }) => Some(not_found_hint(what)),
            Self::Store(StoreError::Conflict { .. }) => Some("choose another name, or remove the existing one".into()),
            Self::Store(StoreError::Fenced { .. }) => Some("another rekey worker took the work over".into()),
            Self::Store(StoreError::NotDue { .. }) => Some("another worker rotated it already; nothing to do".into()),
            Self::Store(StoreError::ReadOnly { .. }) => Some(
                "reads work on a read-only vault; to change it, run as the vault file's owner on a writable file \
                 system, or work on a writable copy"
                    .into(),
            ),
            Self::Store(StoreError::Unreadable { .. }) => Some(
                "run as a user who may read the vault file (a new vault is private to its owner, mode 0600), or \
                 point --vault at a copy you may read"
                    .into(),
            ),
            Self::Store(StoreError::Full { .. }) => {
                Some("free space on the vault's disk, then run the command again (nothing was written)".into())
            }
            Self::Store(StoreError::Database(_)) => Some("check that the database is reachable".into()),
            Self::Store(StoreError::Unavailable { .. }) => Some(
                "check that the database is reachable and not overloaded; the journal lets the work resume where it stopped"
                    .into(),
            ),
            Self::Delivery(_) => Some("check that the receiver is up and accepts rekey's requests".into()),
            Self::Findings(_) | Self::Internal(_) => None,
            Self::Reported { failure, .. } => failure.hint.clone(),
        }
    }

    /// Shorthand for a usage error.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::Usage { message: message.into(), hint: hint.into() }
    }

    /// Shorthand for a conflict.
    pub fn conflict(what: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::Conflict { what: what.into(), hint: hint.into() }
    }
}

/// Where to look for what exists, by the kind of object `what` names (`rotation "rot_…"`): the
/// CLI command and the API collection that list it.
fn not_found_hint(what: &str) -> String {
    let list = |cli: &str, api: &str| format!("`rekey {cli} list` (GET /api/v1/{api}) shows what exists");
    match what.split_once(' ').map_or(what, |(kind, _)| kind) {
        "rotation" => list("rotation", "rotations"),
        "account" => list("account", "accounts"),
        "provider" => list("provider", "providers"),
        "token" => list("token", "tokens"),
        _ => "`rekey provider list` and `rekey account list` show what exists".into(),
    }
}

fn aws_hint(e: &AwsError) -> String {
    if e.unanswered {
        return "AWS did not answer: check the provider's region and endpoint URL, and the network (proxy, firewall) \
                between rekey and AWS; then try again"
            .into();
    }
    match e.class {
        AwsErrorClass::Auth => {
            "check the provider's credentials and that its policy allows this call (`rekey provider test NAME`)".into()
        }
        AwsErrorClass::NotFound => "check the IAM user name and the provider's account".into(),
        AwsErrorClass::Limit => "the IAM quota is reached (e.g. two access keys per user); remove an unused key".into(),
        AwsErrorClass::Retryable => "AWS was unavailable or throttled the call; try again".into(),
        _ => "the AWS error code and message say what AWS refused".into(),
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => Self::NotFound { hint: not_found_hint(&what), what },
            StoreError::Conflict { what } => Self::Conflict { what, hint: String::new() },
            other => Self::Store(other),
        }
    }
}

impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::WrongKey => Self::Locked {
                message: "the master key does not open this vault".into(),
                hint: "check the passphrase (REKEY_PASSPHRASE / --passphrase-file) or key file (--key-file)".into(),
            },
            CryptoError::Tampered { .. } => Self::Integrity { message: e.to_string() },
            CryptoError::KeyFile { .. } => Self::Locked {
                message: e.to_string(),
                hint: "pass the key file made by `rekey init --key-file` with --key-file or REKEY_KEY_FILE".into(),
            },
            CryptoError::Kdf(m) => Self::Integrity { message: format!("vault header key parameters: {m}") },
        }
    }
}
