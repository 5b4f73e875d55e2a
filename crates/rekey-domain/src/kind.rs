//! What kind of credential an account holds, and the life states of a stored secret version.

use crate::error::{quote, ValidationError};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// The two IAM user credentials rekey manages.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    /// A console password (IAM login profile).
    Password,
    /// A long-lived access key pair.
    AccessKey,
}

impl CredentialKind {
    /// The spelling used on the command line, in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::AccessKey => "access-key",
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CredentialKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "password" => Ok(Self::Password),
            "access-key" => Ok(Self::AccessKey),
            _ => Err(ValidationError::new(
                "credential kind",
                format!("{} is not a credential kind", quote(s)),
                "use `password` or `access-key`",
            )),
        }
    }
}

/// The state of one secret version. The vault appends versions and moves `current` in one
/// transaction; it never overwrites a secret.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretState {
    /// Created by a rotation that has not committed yet.
    Pending,
    /// The credential in use.
    Current,
    /// The credential replaced by the last rotation (kept for rollback until retired).
    Previous,
    /// No longer valid anywhere.
    Retired,
}

impl SecretState {
    /// The spelling used in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Current => "current",
            Self::Previous => "previous",
            Self::Retired => "retired",
        }
    }
}

impl fmt::Display for SecretState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SecretState {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Self::Pending),
            "current" => Ok(Self::Current),
            "previous" => Ok(Self::Previous),
            "retired" => Ok(Self::Retired),
            _ => Err(ValidationError::new(
                "secret state",
                format!("{} is not a secret state", quote(s)),
                "expected pending, current, previous or retired",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_spelling() {
        for k in [CredentialKind::Password, CredentialKind::AccessKey] {
            assert_eq!(k.as_str().parse::<CredentialKind>().unwrap(), k);
        }
        assert!("key".parse::<CredentialKind>().is_err());
    }

    #[test]
    fn states_round_trip_through_their_spelling() {
        use SecretState::*;
        for s in [Pending, Current, Previous, Retired] {
            assert_eq!(s.as_str().parse::<SecretState>().unwrap(), s);
        }
        assert!("active".parse::<SecretState>().is_err());
    }
}
