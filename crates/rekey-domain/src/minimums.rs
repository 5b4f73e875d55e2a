//! The smallest durations an operator may set, per setting. They are checked where a value is
//! given (`account set`, the API's settings patch), never on settings read back from the vault:
//! a vault written before a minimum existed keeps working, and only a new value is held to it.

use crate::{duration::format_duration_ms, error::ValidationError, settings::Target, RotationSettings};

/// `--every`: a shorter interval rotates the key on nearly every scheduler tick.
pub const EVERY_MS: u64 = 60_000;
/// `--max-age`: a credential cannot sensibly be overdue sooner.
pub const MAX_AGE_MS: u64 = 60_000;
/// `--verify-deadline`: AWS takes seconds to propagate a new key.
pub const VERIFY_DEADLINE_MS: u64 = 1_000;
/// `--script-timeout`, `--webhook-timeout`: no script or HTTPS round trip reliably ends sooner.
pub const TARGET_TIMEOUT_MS: u64 = 1_000;

/// Checks each duration of `new` that differs from `before` against its minimum.
pub fn check(new: &RotationSettings, before: &RotationSettings) -> Result<(), ValidationError> {
    if new.every_ms != before.every_ms {
        at_least(
            "--every",
            new.every_ms,
            EVERY_MS,
            "use e.g. 90d; `rekey account due` rotates at the next run instead",
        )?;
    }
    if new.max_age_ms != before.max_age_ms {
        at_least("--max-age", new.max_age_ms, MAX_AGE_MS, "use e.g. 90d")?;
    }
    if new.verify.deadline_ms != before.verify.deadline_ms {
        at_least("--verify-deadline", Some(new.verify.deadline_ms), VERIFY_DEADLINE_MS, "use e.g. 2m")?;
    }
    if new.verify != before.verify && new.verify.backoff_ms > new.verify.deadline_ms {
        return Err(ValidationError::new(
            "--verify-backoff",
            format!(
                "{} is longer than --verify-deadline {}: a failed check would never be retried",
                format_duration_ms(new.verify.backoff_ms),
                format_duration_ms(new.verify.deadline_ms)
            ),
            "make the backoff shorter than the deadline, e.g. --verify-backoff 1s --verify-deadline 2m",
        ));
    }
    for t in new.targets.iter().filter(|t| !before.targets.contains(t)) {
        match t {
            Target::Script { timeout_ms, .. } => {
                at_least("--script-timeout", Some(*timeout_ms), TARGET_TIMEOUT_MS, "use e.g. 30s")?;
            }
            Target::Webhook { timeout_ms, .. } => {
                at_least("--webhook-timeout", Some(*timeout_ms), TARGET_TIMEOUT_MS, "use e.g. 10s")?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn at_least(field: &'static str, value: Option<u64>, min: u64, hint: &str) -> Result<(), ValidationError> {
    match value {
        Some(v) if v < min => Err(ValidationError::new(
            field,
            format!("{} is below the minimum of {}", format_duration_ms(v), format_duration_ms(min)),
            format!("{hint} (at least {})", format_duration_ms(min)),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_values_are_held_to_their_minimum() {
        let old = RotationSettings { every_ms: Some(1), ..Default::default() };
        let title_only = old.clone();
        assert!(check(&title_only, &old).is_ok(), "an unchanged interval from an older vault is kept");
        let mut faster = old.clone();
        faster.every_ms = Some(59_999);
        let e = check(&faster, &old).unwrap_err();
        assert_eq!(e.field, "--every");
        assert!(e.problem.contains("minimum of 1m"), "{e:?}");
        faster.every_ms = Some(60_000);
        assert!(check(&faster, &old).is_ok());
    }

    #[test]
    fn verify_backoff_longer_than_the_deadline_is_refused() {
        let old = RotationSettings::default();
        let mut s = old.clone();
        s.verify.deadline_ms = 5_000;
        s.verify.backoff_ms = 6_000;
        assert_eq!(check(&s, &old).unwrap_err().field, "--verify-backoff");
        s.verify.deadline_ms = 500;
        s.verify.backoff_ms = 50;
        assert_eq!(check(&s, &old).unwrap_err().field, "--verify-deadline");
        s.verify.deadline_ms = 5_000;
        assert!(check(&s, &old).is_ok());
    }

    #[test]
    fn new_targets_need_a_timeout_of_a_second() {
        let old = RotationSettings::default();
        let mut s = old.clone();
        s.targets.push(Target::Script { command: "/bin/true".into(), args: vec![], timeout_ms: 500, format: None });
        assert_eq!(check(&s, &old).unwrap_err().field, "--script-timeout");
        assert!(check(&s, &s.clone()).is_ok(), "a stored target is not checked again");
    }
}
