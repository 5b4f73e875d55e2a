//! Closed sets of values with one spelling each, shared by the command line, JSON and the store.
//!
//! A type implements [`Spelled`] by listing its values ([`Spelled::ALL`]) and naming each one
//! ([`Spelled::as_str`]): that match is the type's only spelling table. Its `FromStr` calls
//! [`Spelled::parse_spelling`], so an unknown spelling is refused with the list of valid ones;
//! its serde derive uses the same kebab-case names, which the unit tests check for every value.

use crate::error::{quote, ValidationError};

/// A value spelt one way everywhere (CLI, JSON, the store's columns).
pub trait Spelled: Copy + PartialEq + Sized + 'static {
    /// What a value is called in error messages, e.g. `account status`.
    const WHAT: &'static str;
    /// Every value, in the order they are documented.
    const ALL: &'static [Self];

    /// The value's spelling.
    fn as_str(self) -> &'static str;

    /// The value spelt `s`; the error names every valid spelling.
    fn parse_spelling(s: &str) -> Result<Self, ValidationError> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
            ValidationError::new(Self::WHAT, format!("{} is not a {}", quote(s), Self::WHAT), Self::hint())
        })
    }

    /// `use one of: a, b, c`.
    fn hint() -> String {
        let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
        format!("use one of: {}", all.join(", "))
    }
}

/// `Display` and `FromStr` of a [`Spelled`] type: its spelling, and
/// [`Spelled::parse_spelling`] (a blanket impl of these foreign traits is not allowed).
macro_rules! spelled_text {
    ($t:ty) => {
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::spelling::Spelled::as_str(*self))
            }
        }

        impl ::std::str::FromStr for $t {
            type Err = $crate::error::ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <Self as $crate::spelling::Spelled>::parse_spelling(s)
            }
        }
    };
}
pub(crate) use spelled_text;

/// Checks everything a [`Spelled`] type promises, for its unit tests: each spelling reads back
/// as its value through `FromStr` and serde, serde and `Display` write it, spellings are
/// distinct, and an unknown spelling is refused with an error naming all of them.
#[cfg(test)]
pub(crate) fn assert_spelled<T>()
where
    T: Spelled + std::fmt::Debug + std::fmt::Display + std::str::FromStr<Err = ValidationError>,
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut seen = std::collections::HashSet::new();
    for &v in T::ALL {
        let s = v.as_str();
        assert!(seen.insert(s), "{s} is spelt twice");
        assert_eq!(s.parse::<T>().ok(), Some(v), "FromStr of {s}");
        assert_eq!(v.to_string(), s, "Display of {v:?}");
        assert_eq!(serde_json::to_value(v).ok(), Some(serde_json::json!(s)), "serde of {v:?}");
        assert_eq!(serde_json::from_value::<T>(serde_json::json!(s)).ok(), Some(v), "serde of {s}");
    }
    let err = "no-such-value".parse::<T>().err().map(|e| (e.field, e.problem, e.hint));
    let Some((field, problem, hint)) = err else { panic!("an unknown {} was accepted", T::WHAT) };
    assert_eq!(field, T::WHAT);
    assert!(problem.contains("no-such-value"), "{problem}");
    for &v in T::ALL {
        assert!(hint.contains(v.as_str()), "{hint} lacks {}", v.as_str());
    }
    assert!(serde_json::from_value::<T>(serde_json::json!("no-such-value")).is_err());
}
