//! Amazon Resource Names: the "distinguished name" of an IAM user or role.

use crate::error::{quote, ValidationError};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// A parsed ARN: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Arn {
    text: String,
    partition: String,
    service: String,
    account: String,
    resource: String,
}

impl Arn {
    /// The partition (`aws`, `aws-cn`, `aws-us-gov`, …).
    pub fn partition(&self) -> &str {
        &self.partition
    }
    /// The service (`iam`, `sts`, …).
    pub fn service(&self) -> &str {
        &self.service
    }
    /// The 12-digit account id (empty for services that omit it).
    pub fn account(&self) -> &str {
        &self.account
    }
    /// Everything after the account, e.g. `user/path/alice`.
    pub fn resource(&self) -> &str {
        &self.resource
    }
    /// The whole ARN.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Parses an ARN that must name an IAM role (for `--role-arn`).
    pub fn parse_role(s: &str) -> Result<Self, ValidationError> {
        let arn: Self = s.parse()?;
        if arn.service != "iam" || !arn.resource.starts_with("role/") || arn.resource.len() <= 5 {
            return Err(ValidationError::new(
                "role ARN",
                format!("{} is not an IAM role ARN", quote(s)),
                "expected arn:aws:iam::123456789012:role/NAME",
            ));
        }
        Ok(arn)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Arn {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::string_schema("ARN")
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Arn {}

impl FromStr for Arn {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            ValidationError::new(
                "ARN",
                format!("{} {why}", quote(s)),
                "an ARN looks like arn:aws:iam::123456789012:user/NAME",
            )
        };
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" {
            return Err(bad("does not have the form arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE"));
        }
        let lower_dash = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '-');
        if !lower_dash(parts[1]) {
            return Err(bad("has an invalid partition"));
        }
        if !lower_dash(parts[2]) {
            return Err(bad("has an invalid service"));
        }
        if !parts[4].is_empty() && (parts[4].len() != 12 || !parts[4].chars().all(|c| c.is_ascii_digit())) {
            return Err(bad("has an account id that is not 12 digits"));
        }
        if parts[5].is_empty() || parts[5].len() > 2048 || parts[5].chars().any(char::is_whitespace) {
            return Err(bad("has an empty or invalid resource"));
        }
        Ok(Self {
            text: s.to_owned(),
            partition: parts[1].to_owned(),
            service: parts[2].to_owned(),
            account: parts[4].to_owned(),
            resource: parts[5].to_owned(),
        })
    }
}

impl TryFrom<String> for Arn {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Arn> for String {
    fn from(a: Arn) -> String {
        a.text
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_user_arn() {
        let a: Arn = "arn:aws:iam::123456789012:user/ops/alice".parse().unwrap();
        assert_eq!(a.partition(), "aws");
        assert_eq!(a.service(), "iam");
        assert_eq!(a.account(), "123456789012");
        assert_eq!(a.resource(), "user/ops/alice");
    }

    #[test]
    fn rejects_malformed_arns() {
        for bad in [
            "",
            "arn:aws:iam::123:user/x",
            "aws:iam::123456789012:user/x",
            "arn:AWS:iam::123456789012:user/x",
            "arn:aws:iam::123456789012:",
            "arn:aws:iam::123456789012:user/a b",
        ] {
            assert!(bad.parse::<Arn>().is_err(), "{bad}");
        }
    }

    #[test]
    fn role_arns_must_name_a_role() {
        assert!(Arn::parse_role("arn:aws:iam::123456789012:role/Rotator").is_ok());
        assert!(Arn::parse_role("arn:aws:iam::123456789012:user/Rotator").is_err());
        assert!(Arn::parse_role("arn:aws:s3:::bucket").is_err());
    }
}
