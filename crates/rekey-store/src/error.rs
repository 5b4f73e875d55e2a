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
        /// The vault file, the database, or the column (`column NAME`) that held the bad value.
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
    /// The vault cannot be written by this process: its file or file system is read-only, or
    /// this user may not write it. Reads still work; nothing was written.
    #[error("the vault cannot be written: {detail}")]
    ReadOnly {
        /// Why, as the operating system or database said it.
        detail: String,
    },
    /// This process may not read the vault file (it is private to its owner).
    #[error("the vault cannot be read: {detail}")]
    Unreadable {
        /// What the operating system said.
        detail: String,
    },
    /// The disk (or the database's space) is full: the write was not made.
    #[error("the vault's disk is full: {detail}")]
    Full {
        /// What the operating system or database said.
        detail: String,
    },
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

    /// `call` went unanswered for `limit`.
    pub(crate) fn unanswered(call: &'static str, limit: std::time::Duration) -> Self {
        Self::Unavailable { call, after_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX) }
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
            _ => Self::from(e),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    /// A write refused for lack of permission or space gets its own variant (it is not an
    /// outage and not damage); anything else is a database error.
    fn from(e: sqlx::Error) -> Self {
        match write_refusal(&e) {
            Some(Refusal::ReadOnly) => Self::ReadOnly { detail: e.to_string() },
            Some(Refusal::Full) => Self::Full { detail: e.to_string() },
            None => Self::Database(e.to_string()),
        }
    }
}

enum Refusal {
    ReadOnly,
    Full,
}

/// SQLite's result codes (the primary code is the low byte of the extended one): 8
/// `SQLITE_READONLY`, 13 `SQLITE_FULL`; PostgreSQL's SQLSTATEs: 25006 read-only transaction
/// (a standby), 53100 disk full; and the operating system's own errors.
fn write_refusal(e: &sqlx::Error) -> Option<Refusal> {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                return match code.parse::<i64>().ok()? & 0xff {
                    8 => Some(Refusal::ReadOnly),
                    13 => Some(Refusal::Full),
                    _ => None,
                };
            }
            match code.as_ref() {
                "25006" => Some(Refusal::ReadOnly),
                "53100" => Some(Refusal::Full),
                _ => None,
            }
        }
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::StorageFull => Some(Refusal::Full),
            std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied => Some(Refusal::ReadOnly),
            _ => None,
        },
        _ => None,
    }
}
