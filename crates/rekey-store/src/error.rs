//! Storage errors, by what the caller can do about them.

use thiserror::Error;

/// A storage failure. Messages name the thing involved, never a secret.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The vault URL is not one rekey understands.
    #[error("invalid vault URL {url:?}: {problem}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What was wrong with it.
        problem: String,
    },
    /// There is no vault at that location.
    #[error("no vault at {location}")]
    NoVault {
        /// Where it was looked for.
        location: String,
    },
    /// The location holds something that is not a rekey vault, or a damaged one.
    #[error("the vault at {location} is unreadable: {problem}")]
    Corrupt {
        /// Where.
        location: String,
        /// What the database said.
        problem: String,
    },
    /// A row that was asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `provider "prod"`.
        what: String,
    },
    /// The write would break uniqueness or a reference.
    #[error("{what}")]
    Conflict {
        /// What conflicts with what.
        what: String,
    },
    /// The writer no longer holds the lease it presented (another worker took over).
    #[error("the lease on account {account} was taken over by another worker")]
    Fenced {
        /// The account.
        account: String,
    },
    /// A scheduled rotation's claim was refused: the account is no longer due (another worker
    /// rotated it since the due list was read).
    #[error("account {account} is no longer due for rotation")]
    NotDue {
        /// The account.
        account: String,
    },
    /// A row failed verification against the barrier: it was changed by someone without the
    /// master key (or written by an older rekey and never upgraded). It is not used.
    #[error("{what} failed its integrity check ({problem}): it was altered outside rekey")]
    Tampered {
        /// The row, e.g. `account "ab12cd34"`.
        what: String,
        /// Why it failed.
        problem: String,
    },
    /// The barrier is not installed: the vault has not been unlocked in this process, so
    /// authenticated rows can be neither read nor written.
    #[error("the vault is locked: its integrity keys are not loaded")]
    Sealed,
    /// The database could not be reached or failed.
    #[error("database error: {0}")]
    Database(String),
    /// The database did not answer within the bound every call of a networked store has (it is
    /// unreachable, or the link or a session froze); nothing may be assumed about the call.
    #[error("the database did not answer within {after_ms} ms ({call})")]
    Unavailable {
        /// The store call that went unanswered.
        call: &'static str,
        /// The bound it was given.
        after_ms: u64,
    },
}

/// Store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Whether the database could not be reached or did not answer (as opposed to answering
    /// with a refusal: a conflict, a missing row, a fenced write).
    pub fn is_outage(&self) -> bool {
        matches!(self, Self::Database(_) | Self::Unavailable { .. })
    }

    pub(crate) fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    /// Maps a sqlx error, turning constraint violations into `Conflict` with `conflict_what`.
    pub(crate) fn from_sqlx(e: sqlx::Error, conflict_what: &str) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() || db.is_foreign_key_violation() => {
                Self::Conflict { what: conflict_what.to_owned() }
            }
            _ => Self::Database(e.to_string()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}
