//! rekey's view of AWS: narrow traits holding only the calls rekey makes ([`IamApi`],
//! [`StsApi`]), their aws-sdk implementations, how a provider's credentials are built
//! ([`conn`]), KMS wrapping of the vault key ([`kms`]), and the classification of every AWS
//! failure into what the caller can do about it ([`AwsError`]), and the pace of calls IAM and STS
//! accept ([`pace`]).

pub mod actions;
pub mod conn;
pub mod deliver;
mod error;
pub mod fake;
pub mod iam;
pub mod kms;
pub mod org;
pub mod pace;
pub mod sts;

pub use conn::{Conn, ConnCredentials};
pub use error::{error_counts, AwsError, AwsErrorClass};
pub use iam::{AccessKeyMeta, IamApi, IamUser, LastUsed, LoginProfileInfo, ReportRow, SdkIam, Simulated};
pub use sts::{CallerIdentity, SdkSts, StsApi};

/// AWS results.
pub type Result<T, E = AwsError> = std::result::Result<T, E>;

pub(crate) fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}
