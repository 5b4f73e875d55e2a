//! Where an account stands: its [`AccountStatus`] (may rekey act on its stored credential?) and
//! the [`HeartbeatStatus`] of its last heartbeat. Both are stored as their spellings in the
//! `accounts` table (`status`, `heartbeat_status`) and shown as such in JSON.

use crate::spelling::Spelled;
use serde::{Deserialize, Serialize};

/// Whether the vault holds the credential an account's IAM user uses.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccountStatus {
    /// The vault holds the credential in use: heartbeats check it, check-outs hand it out.
    Ok,
    /// An access key imported without its secret: nothing can use it until a rotation replaces it.
    NeedsRotation,
    /// A password account added without its password: the first rotation sets one.
    NoSecret,
}

impl Spelled for AccountStatus {
    const WHAT: &'static str = "account status";
    const ALL: &'static [Self] = &[Self::Ok, Self::NeedsRotation, Self::NoSecret];

    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NeedsRotation => "needs-rotation",
            Self::NoSecret => "no-secret",
        }
    }
}

impl AccountStatus {
    /// The spelling used on the command line, in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        Spelled::as_str(self)
    }

    /// What the CLI and the API show in place of the stored status of an account whose row
    /// failed its integrity check: nothing acts on such an account.
    pub const TAMPERED: &'static str = "tampered";
}

/// An account's status as the CLI and the API show it: the stored [`AccountStatus`], or
/// [`AccountStatus::TAMPERED`]. Only the OpenAPI document names this type; it is never stored.
#[cfg(feature = "openapi")]
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ShownStatus {
    /// [`AccountStatus::Ok`].
    Ok,
    /// [`AccountStatus::NeedsRotation`].
    NeedsRotation,
    /// [`AccountStatus::NoSecret`].
    NoSecret,
    /// The account's row failed its integrity check.
    Tampered,
}

crate::spelling::spelled_text!(AccountStatus);

/// What the last heartbeat of an account found.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeartbeatStatus {
    /// The stored credential works and IAM matches what the vault believes.
    Ok,
    /// The credential works, but IAM changed behind rekey's back (unknown keys, a re-created
    /// login profile, a forced password reset).
    Drift,
    /// The credential does not work, or its user or key is gone.
    Failed,
}

impl Spelled for HeartbeatStatus {
    const WHAT: &'static str = "heartbeat status";
    const ALL: &'static [Self] = &[Self::Ok, Self::Drift, Self::Failed];

    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Drift => "drift",
            Self::Failed => "failed",
        }
    }
}

impl HeartbeatStatus {
    /// The spelling used in JSON and in the store.
    pub fn as_str(self) -> &'static str {
        Spelled::as_str(self)
    }
}

crate::spelling::spelled_text!(HeartbeatStatus);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spelling::assert_spelled;

    #[test]
    fn account_statuses_have_one_spelling_each() {
        assert_spelled::<AccountStatus>();
        #[cfg(feature = "openapi")]
        {
            let shown = [ShownStatus::Ok, ShownStatus::NeedsRotation, ShownStatus::NoSecret, ShownStatus::Tampered];
            let shown: Vec<String> = shown.iter().map(|s| serde_json::to_value(s).unwrap().to_string()).collect();
            let mut stored: Vec<String> = AccountStatus::ALL.iter().map(|s| format!("{:?}", s.as_str())).collect();
            stored.push(format!("{:?}", AccountStatus::TAMPERED));
            assert_eq!(shown, stored, "the shown statuses are the stored ones and tampered");
        }
        assert_eq!("needs-rotation".parse::<AccountStatus>(), Ok(AccountStatus::NeedsRotation));
    }

    #[test]
    fn heartbeat_statuses_have_one_spelling_each() {
        assert_spelled::<HeartbeatStatus>();
        assert!("tampered".parse::<HeartbeatStatus>().is_err_and(|e| e.hint == "use one of: ok, drift, failed"));
    }
}
