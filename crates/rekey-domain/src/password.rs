//! Password rules and the generator for console passwords.
//!
//! An account's `PasswordRules` are merged with the AWS account's password policy (IAM stores it
//! but emulators do not enforce it, so rekey does): the longer length wins and every class
//! either side requires is required. The generator draws from the OS CSPRNG.

use crate::error::ValidationError;
use rand::{rngs::OsRng, seq::SliceRandom, Rng};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The symbols IAM counts as "non-alphanumeric characters" in a password policy.
pub const IAM_SYMBOLS: &str = "!@#$%^&*()_+-=[]{}|'";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const DIGITS: &str = "0123456789";

/// IAM's account password policy, as far as generation is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    /// Minimum length (IAM: 6–128).
    pub minimum_length: u8,
    /// At least one upper-case letter.
    pub require_uppercase: bool,
    /// At least one lower-case letter.
    pub require_lowercase: bool,
    /// At least one digit.
    pub require_numbers: bool,
    /// At least one of [`IAM_SYMBOLS`].
    pub require_symbols: bool,
}

/// An account's own password rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordRules {
    /// Length of generated passwords (8–128).
    pub length: u8,
    /// Include upper-case letters (at least one).
    pub uppercase: bool,
    /// Include lower-case letters (at least one).
    pub lowercase: bool,
    /// Include digits (at least one).
    pub numbers: bool,
    /// Include symbols (at least one).
    pub symbols: bool,
    /// The symbols to draw from; a non-empty subset of [`IAM_SYMBOLS`].
    pub symbol_set: String,
}

impl Default for PasswordRules {
    fn default() -> Self {
        Self {
            length: 32,
            uppercase: true,
            lowercase: true,
            numbers: true,
            symbols: true,
            symbol_set: IAM_SYMBOLS.to_owned(),
        }
    }
}

/// The lengths rekey generates passwords of.
pub const LENGTHS: std::ops::RangeInclusive<u8> = 8..=128;

/// The password length as a setting takes it (`password_length`, `--password-length`).
pub const LENGTH: crate::Whole = crate::Whole::new(8, 128, 32, "a generated password is", "characters");

impl PasswordRules {
    /// Checks the rules themselves.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if !LENGTHS.contains(&self.length) {
            return Err(ValidationError::new(
                "password length",
                format!("{} is out of range", self.length),
                "use a length from 8 to 128",
            ));
        }
        if self.symbol_set.is_empty() || !self.symbol_set.chars().all(|c| IAM_SYMBOLS.contains(c)) {
            return Err(ValidationError::new(
                "password symbol set",
                format!("{:?} is not a non-empty subset of IAM's symbols", self.symbol_set),
                format!("choose symbols from {IAM_SYMBOLS}"),
            ));
        }
        if !(self.uppercase || self.lowercase || self.numbers || self.symbols) {
            return Err(ValidationError::new(
                "password rules",
                "every character class is disabled",
                "enable at least one of upper-case, lower-case, numbers, symbols",
            ));
        }
        Ok(())
    }

    /// These rules tightened by the account's policy: longer length, union of required classes.
    pub fn merged_with(&self, policy: &PasswordPolicy) -> Self {
        Self {
            length: self.length.max(policy.minimum_length).min(128),
            uppercase: self.uppercase || policy.require_uppercase,
            lowercase: self.lowercase || policy.require_lowercase,
            numbers: self.numbers || policy.require_numbers,
            symbols: self.symbols || policy.require_symbols,
            symbol_set: self.symbol_set.clone(),
        }
    }

    fn classes(&self) -> Vec<&str> {
        [
            (self.uppercase, UPPER),
            (self.lowercase, LOWER),
            (self.numbers, DIGITS),
            (self.symbols, self.symbol_set.as_str()),
        ]
        .into_iter()
        .filter_map(|(on, set)| on.then_some(set))
        .collect()
    }

    /// Generates a password with one character of every enabled class and the rest drawn from
    /// their union, shuffled, from the OS CSPRNG.
    pub fn generate(&self) -> Zeroizing<String> {
        let classes = self.classes();
        let all: Vec<char> = classes.iter().flat_map(|s| s.chars()).collect();
        let mut rng = OsRng;
        let mut chars: Zeroizing<Vec<char>> = Zeroizing::new(Vec::with_capacity(self.length.into()));
        for class in &classes {
            let set: Vec<char> = class.chars().collect();
            chars.push(set[rng.gen_range(0..set.len())]);
        }
        while chars.len() < usize::from(self.length) {
            chars.push(all[rng.gen_range(0..all.len())]);
        }
        chars.shuffle(&mut rng);
        Zeroizing::new(chars.iter().collect())
    }

    /// Whether `password` satisfies these rules (the property the generator guarantees).
    pub fn accepts(&self, password: &str) -> bool {
        let has = |set: &str| password.chars().any(|c| set.contains(c));
        password.chars().count() >= usize::from(self.length)
            && (!self.uppercase || has(UPPER))
            && (!self.lowercase || has(LOWER))
            && (!self.numbers || has(DIGITS))
            && (!self.symbols || has(&self.symbol_set))
            && password.chars().all(|c| self.classes().iter().any(|s| s.contains(c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules() -> impl Strategy<Value = PasswordRules> {
        (8u8..=128, any::<[bool; 4]>(), proptest::sample::subsequence(IAM_SYMBOLS.chars().collect::<Vec<_>>(), 1..=20))
            .prop_map(|(length, c, syms)| PasswordRules {
                length,
                uppercase: c[0],
                lowercase: c[1] || !(c[0] || c[2] || c[3]),
                numbers: c[2],
                symbols: c[3],
                symbol_set: syms.into_iter().collect(),
            })
    }

    fn policy() -> impl Strategy<Value = PasswordPolicy> {
        (6u8..=128, any::<[bool; 4]>()).prop_map(|(minimum_length, r)| PasswordPolicy {
            minimum_length,
            require_uppercase: r[0],
            require_lowercase: r[1],
            require_numbers: r[2],
            require_symbols: r[3],
        })
    }

    proptest! {
        #[test]
        fn generated_passwords_satisfy_the_merged_rules(rules in rules(), policy in policy()) {
            prop_assert!(rules.validate().is_ok());
            let merged = rules.merged_with(&policy);
            let pw = merged.generate();
            prop_assert!(merged.accepts(&pw));
            prop_assert!(pw.chars().count() >= usize::from(policy.minimum_length));
            prop_assert!(!policy.require_symbols || pw.chars().any(|c| IAM_SYMBOLS.contains(c)));
            prop_assert!(!policy.require_numbers || pw.chars().any(|c| c.is_ascii_digit()));
            prop_assert!(!policy.require_uppercase || pw.chars().any(|c| c.is_ascii_uppercase()));
            prop_assert!(!policy.require_lowercase || pw.chars().any(|c| c.is_ascii_lowercase()));
        }
    }

    #[test]
    fn rejects_bad_rules() {
        let r = PasswordRules { length: 4, ..Default::default() };
        assert!(r.validate().is_err());
        let r = PasswordRules { symbol_set: "~".into(), ..Default::default() };
        assert!(r.validate().is_err());
        let r =
            PasswordRules { uppercase: false, lowercase: false, numbers: false, symbols: false, ..Default::default() };
        assert!(r.validate().is_err());
    }

    #[test]
    fn two_passwords_differ() {
        let r = PasswordRules::default();
        assert_ne!(*r.generate(), *r.generate());
    }
}
