//! What the compliance report finds wrong with a credential ([`Finding`]). Its JSON counts
//! findings in a map keyed by spelling; the variants are declared in spelling order so that map
//! keeps its alphabetical order.

use crate::spelling::Spelled;
use serde::{Deserialize, Serialize};

/// One problem of a credential in the compliance report.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Finding {
    /// An active access key no account of the vault holds (foreign or orphaned).
    Foreign,
    /// The account's last heartbeat failed or found drift.
    HeartbeatFailed,
    /// An imported key whose secret the vault does not know.
    NeedsRotation,
    /// Console access without MFA.
    NoMfa,
    /// Older than the maximum age (the account's own, or the report's).
    Overdue,
    /// A rotation waits for people past its deadline.
    Stalled,
    /// Not used within the report's window.
    Unused,
    /// The vault holds a credential of an IAM user that no longer exists.
    UserMissing,
}

impl Spelled for Finding {
    const WHAT: &'static str = "finding";
    const ALL: &'static [Self] = &[
        Self::Foreign,
        Self::HeartbeatFailed,
        Self::NeedsRotation,
        Self::NoMfa,
        Self::Overdue,
        Self::Stalled,
        Self::Unused,
        Self::UserMissing,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Foreign => "foreign",
            Self::HeartbeatFailed => "heartbeat-failed",
            Self::NeedsRotation => "needs-rotation",
            Self::NoMfa => "no-mfa",
            Self::Overdue => "overdue",
            Self::Stalled => "stalled",
            Self::Unused => "unused",
            Self::UserMissing => "user-missing",
        }
    }
}

impl Finding {
    /// The spelling used in JSON and output.
    pub fn as_str(self) -> &'static str {
        Spelled::as_str(self)
    }
}

crate::spelling::spelled_text!(Finding);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spelling::assert_spelled;

    #[test]
    fn findings_have_one_spelling_each() {
        assert_spelled::<Finding>();
    }

    #[test]
    fn findings_sort_as_their_spellings() {
        let mut by_value = Finding::ALL.to_vec();
        by_value.sort();
        let mut by_spelling = Finding::ALL.to_vec();
        by_spelling.sort_by_key(|f| f.as_str());
        assert_eq!(by_value, by_spelling);
    }
}
