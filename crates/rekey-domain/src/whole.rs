//! Whole-number fields (a password's length, the successes that verify a key, a page's size,
//! how many accounts to work on at once): each is read against the range it must be in, so a
//! wrong value is refused saying what was wrong, the range and an example — the same in the
//! API's JSON bodies, its query strings and on the command line — never with the parser's
//! "invalid type: string, expected u32" or "invalid digit found in string".
//!
//! Text is read exactly as given: digits, with a `-` only to say that a negative number is out
//! of range. A leading `+` or spaces around the digits are refused, each saying so, rather than
//! quietly dropped: a value is the same wherever it is read, and a stray character usually
//! means the value is not the one that was meant (a quoting or templating slip).
//!
//! A [`Whole`] describes one field; [`Whole::parse`] reads text (a flag, a query parameter),
//! [`Whole::optional`] a JSON number behind `#[serde(deserialize_with)]`, [`Whole::optional_text`]
//! a query parameter the same way.

use serde::{de, Deserializer};
use std::{fmt, marker::PhantomData};

/// The largest bound a [`Whole`] may have ("or more" when it is the maximum).
const UNBOUNDED: u64 = i64::MAX as u64;

/// What a whole-number field takes, and the words that say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whole {
    /// The smallest value allowed.
    pub min: u64,
    /// The largest value allowed (`i64::MAX`: no upper bound worth saying).
    pub max: u64,
    /// A good value, for the example.
    pub example: u64,
    /// What the range is of, completed by "MIN to MAX UNIT": `a generated password is`.
    pub rule: &'static str,
    /// What is counted: `characters`.
    pub unit: &'static str,
}

impl Whole {
    /// A field of `min` to `max` (`rule` `min` to `max` `unit`), with `example` as the example.
    pub const fn new(min: u64, max: u64, example: u64, rule: &'static str, unit: &'static str) -> Self {
        Self { min, max, example, rule, unit }
    }

    /// A field of `min` or more.
    pub const fn at_least(min: u64, example: u64, rule: &'static str, unit: &'static str) -> Self {
        Self::new(min, UNBOUNDED, example, rule, unit)
    }

    /// What is allowed and an example: `a generated password is 8 to 128 characters; use e.g. 32`.
    pub fn allowed(&self) -> String {
        let Self { min, max, example, rule, unit } = *self;
        if max >= UNBOUNDED {
            format!("{rule} {min} or more {unit}; use e.g. {example}")
        } else {
            format!("{rule} {min} to {max} {unit}; use e.g. {example}")
        }
    }

    /// `n` if it is allowed, else what is wrong and what to use.
    pub fn check<T: TryFrom<u64>>(&self, n: i128) -> Result<T, String> {
        self.within(n).map_err(|problem| self.explain(&problem))
    }

    /// `text` (a flag's value, a query parameter) as an allowed whole number, else what is
    /// wrong and what to use.
    pub fn parse<T: TryFrom<u64>>(&self, text: &str) -> Result<T, String> {
        self.read(text).map_err(|problem| self.explain(&problem))
    }

    /// `text` as an allowed whole number, else only what is wrong (`"ten" is not a whole
    /// number`), for a caller that gives [`Whole::allowed`] as a separate hint.
    pub fn read<T: TryFrom<u64>>(&self, text: &str) -> Result<T, String> {
        let trimmed = text.trim();
        let digits = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{text:?} is not a whole number"));
        }
        if trimmed != text {
            return Err(format!("{text:?} has spaces around the number: write the digits alone"));
        }
        if text.starts_with('+') {
            return Err(format!("{text:?} has a \"+\" sign: write the digits alone"));
        }
        match text.parse::<i128>() {
            Ok(n) => self.within(n),
            // Too many digits even for an i128: out of range, whatever the field.
            Err(_) => Err(format!("{text} is out of range")),
        }
    }

    /// `n` if it is allowed, else only what is wrong.
    fn within<T: TryFrom<u64>>(&self, n: i128) -> Result<T, String> {
        u64::try_from(n)
            .ok()
            .filter(|n| (self.min..=self.max).contains(n))
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| format!("{n} is out of range"))
    }

    /// `problem`, then what is allowed.
    fn explain(&self, problem: &str) -> String {
        format!("{problem}: {}", self.allowed())
    }

    /// A number (JSON, TOML), for `#[serde(deserialize_with)]` on a field that must be a number
    /// when it is given (a configuration key, whose default stands when it is absent).
    pub fn value<'de, D: Deserializer<'de>, T: TryFrom<u64>>(&self, d: D) -> Result<T, D::Error> {
        d.deserialize_any(Field { whole: *self, text: false, of: PhantomData })
    }

    /// An optional JSON number (absent or `null`: `None`), for `#[serde(deserialize_with)]`.
    pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<u64>>(&self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_option(Optional(Field { whole: *self, text: false, of: PhantomData }))
    }

    /// An optional query parameter, whose value is text (absent: `None`).
    pub fn optional_text<'de, D: Deserializer<'de>, T: TryFrom<u64>>(&self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_option(Optional(Field { whole: *self, text: true, of: PhantomData }))
    }
}

/// Reads one value of a field: a number (JSON), or text (`text`: a query string).
struct Field<T> {
    whole: Whole,
    text: bool,
    of: PhantomData<fn() -> T>,
}

impl<T> Field<T> {
    fn wrong<E: de::Error>(&self, what: impl fmt::Display) -> E {
        E::custom(format!("{what} is not a whole number: {}", self.whole.allowed()))
    }
}

impl<'de, T: TryFrom<u64>> de::Visitor<'de> for Field<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.whole.allowed())
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<T, E> {
        self.whole.check(n.into()).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<T, E> {
        self.whole.check(n.into()).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<T, E> {
        if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e30 {
            #[allow(clippy::cast_possible_truncation)] // whole and far inside i128
            return self.whole.check(n as i128).map_err(E::custom);
        }
        Err(self.wrong(n))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        if self.text {
            return self.whole.parse(s).map_err(E::custom);
        }
        if self.whole.parse::<T>(s).is_ok() {
            return Err(E::custom(format!(
                "{s:?} is text, not a number: write {s} without quotes: {}",
                self.whole.allowed()
            )));
        }
        Err(self.wrong(format_args!("{s:?}")))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<T, E> {
        Err(self.wrong(b))
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Err(self.wrong("null"))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(self.wrong("a list"))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(self.wrong("an object"))
    }
}

/// A field that may be absent or `null`.
struct Optional<T>(Field<T>);

impl<'de, T: TryFrom<u64>> de::Visitor<'de> for Optional<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self.0).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LENGTH: Whole = Whole::new(8, 128, 32, "a generated password is", "characters");

    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "length")]
        n: Option<u8>,
    }

    fn length<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
        LENGTH.optional(d)
    }

    fn says(json: &str) -> String {
        serde_json::from_str::<Body>(json).unwrap_err().to_string()
    }

    #[test]
    fn json_numbers_in_range_are_read_and_absent_or_null_is_none() {
        for (json, n) in [(r#"{"n":8}"#, Some(8)), (r#"{"n":128}"#, Some(128)), (r#"{"n":20.0}"#, Some(20))] {
            assert_eq!(serde_json::from_str::<Body>(json).unwrap().n, n, "{json}");
        }
        assert_eq!(serde_json::from_str::<Body>(r#"{"n":null}"#).unwrap().n, None);
        assert_eq!(serde_json::from_str::<Body>("{}").unwrap().n, None);
    }

    #[test]
    fn wrong_values_say_what_was_wrong_the_range_and_an_example() {
        for (json, wrong) in [
            (r#"{"n":500}"#, "500 is out of range"),
            (r#"{"n":7}"#, "7 is out of range"),
            (r#"{"n":-1}"#, "-1 is out of range"),
            (r#"{"n":99999999999999999999}"#, "is out of range"),
            (r#"{"n":"long"}"#, r#""long" is not a whole number"#),
            (r#"{"n":2.5}"#, "2.5 is not a whole number"),
            (r#"{"n":true}"#, "true is not a whole number"),
            (r#"{"n":[1]}"#, "a list is not a whole number"),
            (r#"{"n":{}}"#, "an object is not a whole number"),
        ] {
            let e = says(json);
            assert!(e.contains(wrong) && e.contains("8 to 128 characters; use e.g. 32"), "{json}: {e}");
            assert!(!e.contains("u8") && !e.contains("invalid type"), "{json}: {e}");
        }
        assert!(says(r#"{"n":"20"}"#).contains(r#""20" is text, not a number: write 20 without quotes"#));
        // Text that would not be read as a whole number elsewhere is not offered as one.
        for json in [r#"{"n":"+20"}"#, r#"{"n":" 20"}"#] {
            let e = says(json);
            assert!(!e.contains("without quotes") && e.contains("8 to 128 characters; use e.g. 32"), "{json}: {e}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct Required {
        #[serde(deserialize_with = "required")]
        n: u8,
    }

    fn required<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
        LENGTH.value(d)
    }

    #[test]
    fn a_number_that_must_be_given_is_read_the_same_way() {
        assert_eq!(serde_json::from_str::<Required>(r#"{"n":32}"#).unwrap().n, 32);
        for (json, wrong) in [
            (r#"{"n":null}"#, "null is not a whole number"),
            (r#"{"n":"+20"}"#, r#""+20" is not a whole number"#),
            (r#"{"n":200}"#, "200 is out of range"),
            (r#"{"n":"20"}"#, r#""20" is text, not a number: write 20 without quotes"#),
        ] {
            let e = serde_json::from_str::<Required>(json).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("{wrong}: a generated password is 8 to 128 characters; use e.g. 32")),
                "{e}"
            );
        }
    }

    #[test]
    fn text_is_parsed_whole_and_in_range() {
        assert_eq!(LENGTH.parse::<u8>("20"), Ok(20));
        for (text, wrong) in [
            ("ten", r#""ten" is not a whole number"#),
            ("", r#""" is not a whole number"#),
            ("1e3", r#""1e3" is not a whole number"#),
            ("2.5", r#""2.5" is not a whole number"#),
            ("0", "0 is out of range"),
            ("-3", "-3 is out of range"),
            (
                "999999999999999999999999999999999999999999",
                "999999999999999999999999999999999999999999 is out of range",
            ),
        ] {
            let e = LENGTH.parse::<u8>(text).unwrap_err();
            assert!(e.starts_with(wrong) && e.ends_with("8 to 128 characters; use e.g. 32"), "{text}: {e}");
        }
        for (text, wrong) in [
            ("+20", r#""+20" has a "+" sign: write the digits alone"#),
            ("+0", r#""+0" has a "+" sign: write the digits alone"#),
            (" 20", r#"" 20" has spaces around the number: write the digits alone"#),
            ("20 ", r#""20 " has spaces around the number: write the digits alone"#),
            ("\t20\n", r#""\t20\n" has spaces around the number: write the digits alone"#),
            (" +20", r#"" +20" has spaces around the number: write the digits alone"#),
            ("2 0", r#""2 0" is not a whole number"#),
            ("++20", r#""++20" is not a whole number"#),
            ("+", r#""+" is not a whole number"#),
            (" ", r#"" " is not a whole number"#),
        ] {
            let e = LENGTH.parse::<u8>(text).unwrap_err();
            assert_eq!(e, format!("{wrong}: a generated password is 8 to 128 characters; use e.g. 32"), "{text:?}");
        }
        let count = Whole::at_least(0, 120, "the chain holds", "events");
        assert_eq!(
            count.parse::<i64>("x").unwrap_err(),
            r#""x" is not a whole number: the chain holds 0 or more events; use e.g. 120"#
        );
    }
}
