//! The role an API token carries: what its holder may do through `rekey serve`.
//!
//! The spelling table below is the only one: the CLI's `--role`, the API's JSON and the store's
//! `api_tokens.role` column all use it. Which request a role allows is decided by the server
//! (`rekey_server::auth::Action`), which is the only place requests exist.

use crate::error::{quote, ValidationError};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// An API token's role.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including revealing secrets and administration.
    Admin,
    /// Reads, rotates, runs heartbeats, checks passwords out and in.
    Operator,
    /// Reads, runs reports and reads the audit log; never sees a secret.
    Auditor,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Self; 3] = [Self::Admin, Self::Operator, Self::Auditor];

    /// The spelling used on the command line, in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            ValidationError::new("role", format!("{} is not a role", quote(s)), "use admin, operator or auditor")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_reads_back_and_matches_serde() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_value(role).ok(), Some(serde_json::json!(role.as_str())));
        }
    }

    #[test]
    fn an_unknown_role_says_which_exist() {
        let err = "root".parse::<Role>().err();
        assert!(err.is_some_and(|e| e.field == "role" && e.hint.contains("operator")));
    }
}
