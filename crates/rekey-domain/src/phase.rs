//! The phases of the two rotation state machines (docs/ARCHITECTURE.md, the README's rotation
//! model). A phase names what has been made durable; the side effect a phase announces happens
//! after the phase is journaled.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A rotation phase. Access keys use all but `Generated`/`UpdateRequested`; passwords use
/// `Preflight`, `Generated`, `UpdateRequested`, `Committed`, `Done`, `Aborted`. `Planned` and
/// `Tagged` are no longer written, only resumed from older journals.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Recorded, nothing done. No longer written (a rotation starts at `Preflight`); resumed
    /// from older journals as `Preflight`.
    Planned,
    /// Checking the user and its keys or login profile.
    Preflight,
    /// About to call CreateAccessKey (any key IAM has beyond the pre-flight snapshot is ours).
    CreateRequested,
    /// The new key exists and its secret is sealed in the vault (pending).
    Created,
    /// The user is tagged with the new key id (ownership marker). No longer written (tagging
    /// journals `Verifying`); resumed from older journals as `Verifying`.
    Tagged,
    /// The user is tagged with the new key id; verifying the new key with GetCallerIdentity.
    Verifying,
    /// Delivering the new secret to its targets (skipped when there are none).
    Delivering,
    /// The new secret is current; the previous one is `previous`.
    Committed,
    /// Waiting to deactivate the previous key.
    Retiring,
    /// The previous key is inactive; waiting to delete it (policy `delete`).
    Deactivated,
    /// Finished: the new credential is current; the previous key is deleted, deactivated or
    /// kept, as its policy says.
    Done,
    /// Undoing: deleting the new key.
    Aborting,
    /// Undone: the old credential is untouched and current.
    Aborted,
    /// A new password is generated and sealed (pending).
    Generated,
    /// About to call UpdateLoginProfile / CreateLoginProfile with the pending password.
    UpdateRequested,
}

impl Phase {
    /// Every phase, in machine order.
    pub const ALL: [Phase; 15] = [
        Phase::Planned,
        Phase::Preflight,
        Phase::CreateRequested,
        Phase::Created,
        Phase::Tagged,
        Phase::Verifying,
        Phase::Delivering,
        Phase::Committed,
        Phase::Retiring,
        Phase::Deactivated,
        Phase::Done,
        Phase::Aborting,
        Phase::Aborted,
        Phase::Generated,
        Phase::UpdateRequested,
    ];

    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Preflight => "preflight",
            Self::CreateRequested => "create_requested",
            Self::Created => "created",
            Self::Tagged => "tagged",
            Self::Verifying => "verifying",
            Self::Delivering => "delivering",
            Self::Committed => "committed",
            Self::Retiring => "retiring",
            Self::Deactivated => "deactivated",
            Self::Done => "done",
            Self::Aborting => "aborting",
            Self::Aborted => "aborted",
            Self::Generated => "generated",
            Self::UpdateRequested => "update_requested",
        }
    }

    /// Whether the rotation is over.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Aborted)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Phase {
    type Err = crate::ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            let all: Vec<&str> = Self::ALL.iter().map(|p| p.as_str()).collect();
            crate::ValidationError::new(
                "phase",
                format!("{s:?} is not a phase"),
                format!("use one of {}", all.join(", ")),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_phase_lists_the_phases() {
        let e = "weird".parse::<Phase>().unwrap_err();
        assert!(
            e.hint.contains(Phase::ALL[0].as_str()) && e.hint.contains(Phase::ALL[Phase::ALL.len() - 1].as_str()),
            "{}",
            e.hint
        );
    }

    #[test]
    fn phases_round_trip() {
        for p in Phase::ALL {
            assert_eq!(p.as_str().parse::<Phase>().unwrap(), p);
        }
        assert!(Phase::Done.is_final() && Phase::Aborted.is_final() && !Phase::Retiring.is_final());
    }
}
