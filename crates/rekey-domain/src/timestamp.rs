//! Timestamps in JSON: RFC 3339 in UTC with milliseconds, `2026-11-24T08:06:59.123Z`, the same
//! precision in every record the CLI prints and the API returns. The vault keeps times to the
//! millisecond, so nothing is lost; chrono's own serialisation would print as many digits as a
//! value happens to need (none for a whole second), which scripts comparing strings trip on.
//!
//! Records use it as `#[serde(serialize_with = "rekey_domain::timestamp::serialize")]` (or
//! `timestamp::option::serialize` for an `Option`); reading accepts any RFC 3339 time, as
//! chrono's deserialisation does.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// `t` as RFC 3339 in UTC with milliseconds.
pub fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Serialises a timestamp with [`rfc3339`].
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(t))
}

/// The same for an optional timestamp (`null` when absent).
pub mod option {
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    /// Serialises an optional timestamp with [`super::rfc3339`].
    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::rfc3339(t)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Rec {
        #[serde(serialize_with = "serialize")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "option::serialize")]
        maybe: Option<DateTime<Utc>>,
    }

    #[test]
    fn every_timestamp_has_milliseconds() {
        let whole = DateTime::from_timestamp(1_795_507_619, 0).unwrap();
        let fine = DateTime::from_timestamp(1_795_507_619, 123_456_789).unwrap();
        assert_eq!(rfc3339(&whole), "2026-11-24T08:06:59.000Z");
        assert_eq!(rfc3339(&fine), "2026-11-24T08:06:59.123Z", "cut, not rounded, to milliseconds");
        let json = serde_json::to_string(&Rec { at: whole, maybe: Some(fine) }).unwrap();
        assert_eq!(json, r#"{"at":"2026-11-24T08:06:59.000Z","maybe":"2026-11-24T08:06:59.123Z"}"#);
        let none = serde_json::to_string(&Rec { at: whole, maybe: None }).unwrap();
        assert!(none.ends_with(r#""maybe":null}"#), "{none}");
    }
}
