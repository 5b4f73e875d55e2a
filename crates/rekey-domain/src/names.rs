//! Validated names and ids: IAM user names, provider names, folders, regions, key ids, account ids.
//!
//! Each type is a string newtype whose only constructor is `FromStr`, which enforces the rule
//! documented on the type. Serde goes through the same check.

use crate::error::{quote, ValidationError};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $check(s).map(|()| Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $check(&s).map(|()| Self(s))
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::string_schema(stringify!($name))
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

validated_string!(
    /// An IAM user name: 1–64 characters of letters, digits and `+=,.@_-` (IAM's own rule).
    UserName,
    check_user_name
);
validated_string!(
    /// A provider's name in rekey: 1–64 characters of letters, digits, `.`, `_`, `-`, starting
    /// with a letter or digit (it appears in `PROVIDER/USER/KIND` account references).
    ProviderName,
    check_provider_name
);
validated_string!(
    /// A folder: `/`-separated segments of letters, digits, `.`, `_`, `-`; at most 128 characters.
    Folder,
    check_folder
);
validated_string!(
    /// An AWS region code such as `eu-west-1`.
    Region,
    check_region
);
validated_string!(
    /// An access key id: 16–128 upper-case letters and digits (e.g. `AKIA…`).
    AccessKeyId,
    check_access_key_id
);
validated_string!(
    /// rekey's short, stable account id: 8 characters of lower-case Crockford base32.
    AccountId,
    check_account_id
);
validated_string!(
    /// A vault's stable identity: 16 lower-case hex digits, drawn at `init` (or, for a vault made
    /// before vault ids existed, derived from its header by a migration) and named by the
    /// ownership tags the vault puts on IAM users.
    VaultId,
    check_vault_id
);

fn check_user_name(s: &str) -> Result<(), ValidationError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    // Counted in characters, as the message says: a non-ASCII name is refused for its
    // characters below, not reported as "40 characters" against a limit of 64.
    if s.is_empty() || s.chars().count() > 64 {
        return Err(ValidationError::new(
            "user name",
            format!("{} has {} characters", quote(s), s.chars().count()),
            "IAM user names are 1 to 64 characters long",
        ));
    }
    if let Some(bad) = s.chars().find(|c| !ok_char(*c)) {
        return Err(ValidationError::new(
            "user name",
            format!("{} contains {bad:?}", quote(s)),
            "IAM user names use only letters, digits and + = , . @ _ -",
        ));
    }
    Ok(())
}

fn check_provider_name(s: &str) -> Result<(), ValidationError> {
    let starts_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let chars_ok = s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !(1..=64).contains(&s.len()) || !starts_ok || !chars_ok {
        return Err(ValidationError::new(
            "provider name",
            format!("{} is not a valid provider name", quote(s)),
            "use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        ));
    }
    Ok(())
}

fn check_folder(s: &str) -> Result<(), ValidationError> {
    // `.` and `..` would read as relative paths (`../etc`) wherever folders are shown or matched.
    let segment_ok = |seg: &str| {
        !seg.is_empty()
            && !seg.chars().all(|c| c == '.')
            && seg.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    if s.is_empty() || s.len() > 128 || !s.split('/').all(segment_ok) {
        return Err(ValidationError::new(
            "folder",
            format!("{} is not a valid folder", quote(s)),
            "use '/'-separated names of letters, digits, '.', '_' or '-' (not `.` or `..` alone), e.g. `prod/payments`",
        ));
    }
    Ok(())
}

fn check_region(s: &str) -> Result<(), ValidationError> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts[..parts.len() - 1].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
        && s.len() <= 32;
    if !ok {
        return Err(ValidationError::new(
            "region",
            format!("{} is not an AWS region code", quote(s)),
            "use a region code such as `us-east-1` or `eu-west-1`",
        ));
    }
    Ok(())
}

fn check_access_key_id(s: &str) -> Result<(), ValidationError> {
    let ok = (16..=128).contains(&s.len()) && s.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if !ok {
        return Err(ValidationError::new(
            "access key id",
            format!("{} is not an access key id", quote(s)),
            "an access key id is 16 to 128 upper-case letters and digits, e.g. AKIAIOSFODNN7EXAMPLE",
        ));
    }
    Ok(())
}

const CROCKFORD: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";

fn check_account_id(s: &str) -> Result<(), ValidationError> {
    if s.len() != 8 || !s.bytes().all(|b| CROCKFORD.contains(&b)) {
        return Err(ValidationError::new(
            "account id",
            format!("{} is not an account id", quote(s)),
            "account ids are 8 characters as shown by `rekey account list`; or name the account as PROVIDER/USER/KIND",
        ));
    }
    Ok(())
}

fn check_vault_id(s: &str) -> Result<(), ValidationError> {
    if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(ValidationError::new(
            "vault id",
            format!("{} is not a vault id", quote(s)),
            "a vault id is 16 lower-case hex digits, as `rekey init` printed it",
        ));
    }
    Ok(())
}

impl VaultId {
    /// A fresh random id (64 bits).
    pub fn random() -> Self {
        let bits: u64 = rand::thread_rng().gen();
        Self(format!("{bits:016x}"))
    }
}

impl AccountId {
    /// A fresh random id (40 bits; the store rejects the rare collision and the caller retries).
    pub fn random() -> Self {
        let mut rng = rand::thread_rng();
        let id = (0..8).map(|_| CROCKFORD[rng.gen_range(0..CROCKFORD.len())] as char).collect();
        Self(id)
    }

    /// The id spelling the low 40 bits of `bits` (for ids derived from a hash).
    pub fn from_bits(bits: u64) -> Self {
        Self((0..8).map(|i| CROCKFORD[((bits >> (35 - 5 * i)) & 31) as usize] as char).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_follow_iam_rules() {
        for ok in ["alice", "a", "svc+ci=1,x.y@z_w-v", &"a".repeat(64)] {
            assert!(ok.parse::<UserName>().is_ok(), "{ok}");
        }
        for bad in ["", &"a".repeat(65), "bob smith", "a/b", "ünï", "x;rm"] {
            let err = bad.parse::<UserName>().unwrap_err();
            assert_eq!(err.field, "user name");
        }
        // 40 characters (80 bytes): refused for the character, not for a length it does not have.
        let err = "é".repeat(40).parse::<UserName>().unwrap_err();
        assert!(err.problem.contains("contains 'é'"), "{}", err.problem);
    }

    #[test]
    fn provider_names_cannot_contain_slashes_or_start_oddly() {
        assert!("prod-1".parse::<ProviderName>().is_ok());
        for bad in ["", "-x", "a/b", "has space", &"p".repeat(65)] {
            assert!(bad.parse::<ProviderName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn folders_are_slash_separated_segments() {
        assert!("prod/payments".parse::<Folder>().is_ok());
        assert!("v1.2/.hidden".parse::<Folder>().is_ok());
        for bad in ["", "/x", "x/", "a//b", "a b", "../etc", "a/./b", "..", "a/..."] {
            assert!(bad.parse::<Folder>().is_err(), "{bad}");
        }
    }

    #[test]
    fn regions_look_like_region_codes() {
        for ok in ["us-east-1", "eu-west-2", "us-gov-west-1", "ap-southeast-3"] {
            assert!(ok.parse::<Region>().is_ok(), "{ok}");
        }
        for bad in ["", "useast1", "US-EAST-1", "us-east-", "us east 1"] {
            assert!(bad.parse::<Region>().is_err(), "{bad}");
        }
    }

    #[test]
    fn vault_ids_are_sixteen_hex_digits() {
        let v = VaultId::random();
        assert_eq!(v.as_str().parse::<VaultId>().unwrap(), v);
        assert_ne!(v, VaultId::random());
        for bad in ["", "0123456789abcde", "0123456789ABCDEF", "0123456789abcdefa", "0123456789abcdeg"] {
            assert!(bad.parse::<VaultId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn access_key_ids_are_upper_alnum() {
        assert!("AKIAIOSFODNN7EXAMPLE".parse::<AccessKeyId>().is_ok());
        for bad in ["akiaiosfodnn7example", "AKIA", "AKIA-IOSFODNN7EXAMPLE"] {
            assert!(bad.parse::<AccessKeyId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn random_account_ids_are_valid_and_distinct() {
        let a = AccountId::random();
        assert!(a.as_str().parse::<AccountId>().is_ok());
        assert_ne!(a, AccountId::random());
        let d = AccountId::from_bits(0xff_ffff_ffff);
        assert_eq!(d.as_str(), "zzzzzzzz");
        assert!(AccountId::from_bits(0x12_3456_789a).as_str().parse::<AccountId>().is_ok());
        assert!("ABCDEFGH".parse::<AccountId>().is_err());
    }

    #[test]
    fn serde_applies_the_same_validation() {
        let err = serde_json::from_str::<UserName>("\"a b\"");
        assert!(err.is_err());
        let ok: UserName = serde_json::from_str("\"alice\"").unwrap();
        assert_eq!(ok.as_str(), "alice");
    }
}
