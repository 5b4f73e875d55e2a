//! Timestamps in JSON: RFC 3339 in UTC with milliseconds, `2026-11-24T08:06:59.123Z`, the same
//! precision in every record the CLI prints and the API returns. The vault keeps times to the
//! millisecond, so nothing is lost; chrono's own serialisation would print as many digits as a
//! value happens to need (none for a whole second), which scripts comparing strings trip on.
//!
//! Records use it as `#[serde(serialize_with = "rekey_domain::timestamp::serialize")]` (or
//! `timestamp::option::serialize` for an `Option`); reading accepts any RFC 3339 time, as
//! chrono's deserialisation does. Free-form JSON that holds times (a rotation's journal `data`,
//! whose older rows were written with chrono's precision) is shown through [`json::serialize`],
//! which gives every RFC 3339 string in it this one form.

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

/// The same for a list of timestamps.
pub mod vec {
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    /// Serialises timestamps with [`super::rfc3339`].
    pub fn serialize<S: Serializer>(ts: &[DateTime<Utc>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ts.iter().map(super::rfc3339))
    }
}

/// The same for free-form JSON: every string in it that is an RFC 3339 time is serialised
/// with [`super::rfc3339`], everything else as it is.
pub mod json {
    use chrono::{DateTime, Utc};
    use serde::{Serialize, Serializer};
    use serde_json::Value;

    /// Serialises `v` with its RFC 3339 times in one form.
    pub fn serialize<S: Serializer>(v: &Value, s: S) -> Result<S::Ok, S::Error> {
        Normalized(v).serialize(s)
    }

    /// A borrowed JSON value, serialised with its times normalised (no copy of the value).
    struct Normalized<'a>(&'a Value);

    impl Serialize for Normalized<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self.0 {
                Value::String(t) => match time(t) {
                    Some(at) => s.serialize_str(&super::rfc3339(&at)),
                    None => s.serialize_str(t),
                },
                Value::Array(items) => s.collect_seq(items.iter().map(Normalized)),
                Value::Object(fields) => s.collect_map(fields.iter().map(|(k, v)| (k, Normalized(v)))),
                other => other.serialize(s),
            }
        }
    }

    /// `t` as a time, when it is an RFC 3339 date and time (`2026-11-24T08:06:59Z`, …).
    fn time(t: &str) -> Option<DateTime<Utc>> {
        // Cheap first: only a string shaped like one is parsed.
        let shaped = t.len() >= 20 && t.as_bytes().get(10).is_some_and(|b| *b == b'T' || *b == b't');
        shaped.then(|| DateTime::parse_from_rfc3339(t).ok()).flatten().map(|at| at.with_timezone(&Utc))
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

    #[test]
    fn times_in_free_form_json_take_the_one_form() {
        #[derive(serde::Serialize)]
        struct Rec {
            #[serde(serialize_with = "json::serialize")]
            data: serde_json::Value,
        }
        let data = serde_json::json!({
            "cutover_at": "2026-11-24T08:06:59Z",
            "delete_at": "2026-11-24T08:06:59.123456789Z",
            "confirm_by": "2026-11-24T09:06:59.5+01:00",
            "phases": ["planned", "created"],
            "nested": [{ "at": "2026-11-24T08:06:59.100Z" }],
            "confirmed_by": "cli:ops@host",
            "note": "2026-11-24 is not a time",
            "propagation_ms": 1200,
            "flag": true,
            "none": null,
        });
        let shown: serde_json::Value = serde_json::to_value(Rec { data }).unwrap();
        assert_eq!(
            shown["data"],
            serde_json::json!({
                "cutover_at": "2026-11-24T08:06:59.000Z",
                "delete_at": "2026-11-24T08:06:59.123Z",
                "confirm_by": "2026-11-24T08:06:59.500Z",
                "phases": ["planned", "created"],
                "nested": [{ "at": "2026-11-24T08:06:59.100Z" }],
                "confirmed_by": "cli:ops@host",
                "note": "2026-11-24 is not a time",
                "propagation_ms": 1200,
                "flag": true,
                "none": null,
            })
        );
    }
}
