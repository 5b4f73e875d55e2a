//! How things ended: one run of a rotation ([`Outcome`]), a journaled rotation as listed
//! ([`JournalOutcome`]), and an audited operation ([`AuditOutcome`]).

use crate::{phase::Phase, spelling::Spelled};
use serde::{Deserialize, Serialize};

/// What one run of a rotation (`rekey rotate`, the scheduler, recovery, the API) did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Finished: the new credential is current and the previous one retired.
    Done,
    /// Committed; the previous key retires later (grace period or cut-over).
    Retiring,
    /// Verified and delivered; a manual target waits for `rekey rotation confirm`.
    AwaitingConfirmation,
    /// Undone: the old credential is untouched and current.
    Aborted,
    /// Stopped part-way (shutdown, lost lease, an error); recovery resumes it.
    Interrupted,
    /// Not started (a pre-flight check or the vault said no).
    Refused,
    /// A scheduled rotation not started: another worker rotated the account first.
    Skipped,
    /// A dry run: what a rotation would do.
    Planned,
}

impl Spelled for Outcome {
    const WHAT: &'static str = "rotation outcome";
    const ALL: &'static [Self] = &[
        Self::Done,
        Self::Retiring,
        Self::AwaitingConfirmation,
        Self::Aborted,
        Self::Interrupted,
        Self::Refused,
        Self::Skipped,
        Self::Planned,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Retiring => "retiring",
            Self::AwaitingConfirmation => "awaiting-confirmation",
            Self::Aborted => "aborted",
            Self::Interrupted => "interrupted",
            Self::Refused => "refused",
            Self::Skipped => "skipped",
            Self::Planned => "planned",
        }
    }
}

impl Outcome {
    /// The spelling used in JSON, output and metrics.
    pub fn as_str(self) -> &'static str {
        Spelled::as_str(self)
    }

    /// Whether the run got where it was asked to go: anything but aborted, interrupted or
    /// refused.
    pub fn succeeded(self) -> bool {
        !matches!(self, Self::Aborted | Self::Interrupted | Self::Refused)
    }

    /// Whether the new credential is in use: done, or retiring the previous one.
    pub fn committed(self) -> bool {
        matches!(self, Self::Done | Self::Retiring)
    }
}

crate::spelling::spelled_text!(Outcome);

/// How a journaled rotation ended, or that it has not: what the rotation list shows and filters
/// by. Derived from the journal ([`JournalOutcome::of`]), never stored.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JournalOutcome {
    /// Finished (phase `done`).
    Done,
    /// Undone (phase `aborted`).
    Aborted,
    /// Stopped with an error, unfinished.
    Failed,
    /// Unfinished without an error: under way or waiting.
    Running,
}

impl Spelled for JournalOutcome {
    const WHAT: &'static str = "rotation outcome";
    const ALL: &'static [Self] = &[Self::Done, Self::Aborted, Self::Failed, Self::Running];

    fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Aborted => "aborted",
            Self::Failed => "failed",
            Self::Running => "running",
        }
    }
}

impl JournalOutcome {
    /// The spelling used in JSON and in the API's `outcome` filter.
    pub fn as_str(self) -> &'static str {
        Spelled::as_str(self)
    }

    /// The outcome of a rotation in `phase` that recorded an error (`errored`) or not.
    pub fn of(phase: Phase, errored: bool) -> Self {
        match phase {
            Phase::Aborted => Self::Aborted,
            p if p.is_final() => Self::Done,
            _ if errored => Self::Failed,
            _ => Self::Running,
        }
    }
}

crate::spelling::spelled_text!(JournalOutcome);

/// How an audited operation ended. Part of each audit event's hashed content: the spellings
/// never change.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditOutcome {
    /// It did what was asked.
    Ok,
    /// It failed (the event's detail says why).
    Failed,
    /// The caller was not allowed (no valid token, or a role or folder that does not permit it).
    Denied,
    /// A rotation phase that undid the rotation (`rotation.phase` to `aborted`).
    Aborted,
    /// A rotation passed its deadline for people (`rotation.stalled`).
    Overdue,
}

impl Spelled for AuditOutcome {
    const WHAT: &'static str = "audit outcome";
    const ALL: &'static [Self] = &[Self::Ok, Self::Failed, Self::Denied, Self::Aborted, Self::Overdue];

    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Denied => "denied",
            Self::Aborted => "aborted",
            Self::Overdue => "overdue",
        }
    }
}

impl AuditOutcome {
    /// The spelling used in JSON, in the store and in the audit chain's hashes.
    pub fn as_str(self) -> &'static str {
        Spelled::as_str(self)
    }
}

crate::spelling::spelled_text!(AuditOutcome);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spelling::assert_spelled;

    #[test]
    fn outcomes_have_one_spelling_each() {
        assert_spelled::<Outcome>();
        assert_spelled::<JournalOutcome>();
        assert_spelled::<AuditOutcome>();
    }

    #[test]
    fn only_aborted_interrupted_and_refused_runs_fail() {
        let failed: Vec<Outcome> = Outcome::ALL.iter().copied().filter(|o| !o.succeeded()).collect();
        assert_eq!(failed, [Outcome::Aborted, Outcome::Interrupted, Outcome::Refused]);
        let committed: Vec<Outcome> = Outcome::ALL.iter().copied().filter(|o| o.committed()).collect();
        assert_eq!(committed, [Outcome::Done, Outcome::Retiring]);
    }

    #[test]
    fn a_journal_outcome_follows_the_phase_then_the_error() {
        assert_eq!(JournalOutcome::of(Phase::Aborted, true), JournalOutcome::Aborted);
        assert_eq!(JournalOutcome::of(Phase::Done, false), JournalOutcome::Done);
        assert_eq!(JournalOutcome::of(Phase::Done, true), JournalOutcome::Done, "a finished rotation is done");
        assert_eq!(JournalOutcome::of(Phase::Verifying, true), JournalOutcome::Failed);
        assert_eq!(JournalOutcome::of(Phase::Retiring, false), JournalOutcome::Running);
    }
}
