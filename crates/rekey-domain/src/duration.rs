//! Human durations on the command line and in settings: `500ms`, `30s`, `15m`, `12h`, `90d`,
//! and [`DurationMs`], such a duration parsed once where it enters (a configuration file, an
//! environment variable) so that nothing downstream parses it again or falls back to a default.

use crate::error::{quote, ValidationError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr, time::Duration};

/// A duration in whole milliseconds, written and read as a human duration (`30s`, `5m`, `24h`).
/// Serde reads and writes the same text, so a configuration key of this type is refused when
/// the file is read, not when the value is first used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DurationMs(u64);

impl DurationMs {
    /// `ms` milliseconds.
    pub const fn from_ms(ms: u64) -> Self {
        Self(ms)
    }

    /// `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        Self(s.saturating_mul(1_000))
    }

    /// The length in milliseconds.
    pub const fn ms(self) -> u64 {
        self.0
    }

    /// The length in milliseconds as a signed number (for time arithmetic with chrono), at most
    /// `i64::MAX`.
    pub fn ms_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }

    /// The length as a [`Duration`].
    pub const fn duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl FromStr for DurationMs {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_duration_ms(s).map(Self)
    }
}

impl fmt::Display for DurationMs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration_ms(self.0))
    }
}

impl Serialize for DurationMs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DurationMs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|e: ValidationError| serde::de::Error::custom(format!("{}; {}", e.problem, e.hint)))
    }
}

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

    #[test]
    fn a_duration_reads_and_writes_the_text_people_type() {
        let d: DurationMs = serde_json::from_value(serde_json::json!("90s")).unwrap();
        assert_eq!((d.ms(), d.duration(), d.to_string()), (90_000, Duration::from_secs(90), "90s".to_owned()));
        assert_eq!(serde_json::to_value(DurationMs::from_secs(3_600)).unwrap(), serde_json::json!("1h"));
        assert_eq!("1500ms".parse::<DurationMs>().unwrap().to_string().parse::<DurationMs>().unwrap().ms(), 1_500);
        let e = serde_json::from_value::<DurationMs>(serde_json::json!("soon")).unwrap_err().to_string();
        assert!(e.contains("\"soon\" is not a duration") && e.contains("30s"), "{e}");
        assert!(serde_json::from_value::<DurationMs>(serde_json::json!(30)).is_err(), "a bare number has no unit");
        assert_eq!(DurationMs::from_ms(u64::MAX).ms_i64(), i64::MAX);
    }
}
