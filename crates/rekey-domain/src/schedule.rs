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
    if let Some(e) = out_of_range(expr) {
        return Err(e);
    }
    let cron = Cron::new(expr).parse().map_err(|e| {
        ValidationError::new("cron schedule", format!("{}: {e}", quote(expr)), "check each field's range and syntax")
    })?;
    // A day that no month has (`0 0 31 2 *`) parses but never comes: the longest real gap is
    // eight years (29 February across a skipped leap year), so look nine years ahead of a
    // fixed point.
    let from = DateTime::from_timestamp(946_684_800, 0).unwrap_or_default(); // 2000-01-01
    let fires = cron.find_next_occurrence(&from, false).is_ok_and(|t| t < from + Duration::days(9 * 366));
    if !fires {
        return Err(ValidationError::new(
            "cron schedule",
            format!("{} never fires (no month has that day)", quote(expr)),
            "check the day-of-month and month fields, e.g. \"0 3 28 2 *\" for 03:00 UTC on 28 February",
        ));
    }
    Ok(cron)
}

/// The fields of a cron expression, in order, with the numbers each allows (a day of week is
/// 0–7, Sunday being 0 and 7).
const FIELDS: [(&str, u32, u32); 5] =
    [("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7)];

/// The first number outside its field's range (`61 * * * *`), named with the field and the
/// range: the cron parser's own message ("Number out of bounds.") names neither.
fn out_of_range(expr: &str) -> Option<ValidationError> {
    for (text, (name, low, high)) in expr.split_whitespace().zip(FIELDS) {
        // `a-b/step`: the step is a count, not a value of the field.
        let values = text.split(',').flat_map(|part| part.split('/').next().unwrap_or("").split('-'));
        if let Some(n) =
            values.filter_map(|v| v.parse::<u64>().ok()).find(|n| !(u64::from(low)..=u64::from(high)).contains(n))
        {
            return Some(ValidationError::new(
                "cron schedule",
                format!("{}: the {name} field is {n}, outside {low}–{high}", quote(expr)),
                format!("use a {name} from {low} to {high}"),
            ));
        }
    }
    None
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
        for bad in
            ["", "* * *", "61 * * * *", "0 0 * * * *", "a b c d e", "0 0 31 2 *", "0 0 30 2 *", "0 0 31 4,6,9,11 *"]
        {
            assert!(parse_cron(bad).is_err(), "{bad}");
        }
        for rare in ["0 0 29 2 *", "0 3 31 1-12 *", "0 0 1 1 *", "*/59 0-23/6 1 1,12 7"] {
            assert!(parse_cron(rare).is_ok(), "{rare}");
        }
    }

    #[test]
    fn a_number_out_of_range_names_its_field_and_the_range() {
        for (bad, field, range) in [
            ("61 * * * *", "minute", "0 to 59"),
            ("0 24 * * *", "hour", "0 to 23"),
            ("0 0 0 * *", "day of month", "1 to 31"),
            ("0 0 1 1-13 *", "month", "1 to 12"),
            ("0 0 * * 1,8", "day of week", "0 to 7"),
        ] {
            let e = parse_cron(bad).unwrap_err();
            assert!(e.problem.contains(&format!("the {field} field is")), "{bad}: {e}");
            assert!(e.hint.contains(range), "{bad}: {}", e.hint);
        }
    }
}
