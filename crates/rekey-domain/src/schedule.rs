//! When an account is next due: an interval since the last rotation, a cron schedule, or both
//! (whichever comes first).

use crate::error::{quote, ValidationError};
use chrono::{DateTime, Duration, Utc};
use croner::Cron;

/// Parses a 5-field cron expression (minute hour day-of-month month day-of-week, UTC).
pub fn parse_cron(expr: &str) -> Result<Cron, ValidationError> {
    if expr.split_whitespace().count() != 5 {
        return Err(ValidationError::new(
            "cron schedule",
            format!("{} does not have 5 fields", quote(expr)),
            "use MINUTE HOUR DAY MONTH WEEKDAY, e.g. \"0 3 1 * *\" for 03:00 UTC on the 1st",
        ));
    }
    Cron::new(expr).parse().map_err(|e| {
        ValidationError::new("cron schedule", format!("{}: {e}", quote(expr)), "check each field's range and syntax")
    })
}

/// The next time a rotation is due after `last` (the last rotation, or when the account was
/// added), or `None` when no schedule is set.
pub fn next_due(every_ms: Option<u64>, cron: Option<&str>, last: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let by_interval = every_ms.and_then(|ms| i64::try_from(ms).ok()).map(|ms| last + Duration::milliseconds(ms));
    let by_cron = cron.and_then(|c| parse_cron(c).ok()).and_then(|c| c.find_next_occurrence(&last, false).ok());
    match (by_interval, by_cron) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_and_cron_give_the_earliest_due_time() {
        let last = DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(next_due(Some(3_600_000), None, last).unwrap().to_rfc3339(), "2026-03-10T13:00:00+00:00");
        assert_eq!(next_due(None, Some("0 3 * * *"), last).unwrap().to_rfc3339(), "2026-03-11T03:00:00+00:00");
        assert_eq!(
            next_due(Some(3_600_000), Some("0 3 * * *"), last).unwrap().to_rfc3339(),
            "2026-03-10T13:00:00+00:00"
        );
        assert_eq!(next_due(None, None, last), None);
    }

    #[test]
    fn rejects_bad_cron() {
        for bad in ["", "* * *", "61 * * * *", "0 0 * * * *", "a b c d e"] {
            assert!(parse_cron(bad).is_err(), "{bad}");
        }
    }
}
