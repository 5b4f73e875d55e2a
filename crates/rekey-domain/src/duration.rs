//! Human durations on the command line and in settings: `500ms`, `30s`, `15m`, `12h`, `90d`.

use crate::error::{quote, ValidationError};

/// Parses a duration into milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<u64, ValidationError> {
    let bad = || {
        ValidationError::new(
            "duration",
            format!("{} is not a duration", quote(s)),
            "use a number and a unit: 500ms, 30s, 15m, 12h, 90d",
        )
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let factor = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(factor).filter(|ms| *ms <= 100 * 365 * 86_400_000).ok_or_else(bad)
}

/// Formats milliseconds in the largest whole unit.
pub fn format_duration_ms(ms: u64) -> String {
    for (unit, f) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms >= f && ms.is_multiple_of(f) {
            return format!("{}{unit}", ms / f);
        }
    }
    format!("{ms}ms")
}

/// Milliseconds for a sentence: `now`, `500 ms`, `90 s`, `2 min`, `12 h`, `1 day`, `90 days`
/// (the largest unit that holds the value whole).
pub fn human_ms(ms: u64) -> String {
    if ms == 0 {
        return "now".into();
    }
    for (f, one, many) in
        [(86_400_000, "day", "days"), (3_600_000, "h", "h"), (60_000, "min", "min"), (1_000, "s", "s")]
    {
        if ms >= f && ms.is_multiple_of(f) {
            let n = ms / f;
            return format!("{n} {}", if n == 1 { one } else { many });
        }
    }
    format!("{ms} ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_read_as_words() {
        let cases = [(0, "now"), (500, "500 ms"), (90_000, "90 s"), (120_000, "2 min"), (86_400_000, "1 day")];
        for (ms, text) in cases {
            assert_eq!(human_ms(ms), text);
        }
        assert_eq!(human_ms(90 * 86_400_000), "90 days");
    }

    #[test]
    fn parses_and_formats() {
        assert_eq!(parse_duration_ms("90d").unwrap(), 90 * 86_400_000);
        assert_eq!(parse_duration_ms("500ms").unwrap(), 500);
        assert_eq!(format_duration_ms(90 * 86_400_000), "90d");
        assert_eq!(format_duration_ms(1500), "1500ms");
        for bad in ["", "d", "10", "10y", "-5s", "1.5h", "99999999999999d"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }
}
