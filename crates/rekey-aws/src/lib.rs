//! rekey's view of AWS: narrow traits holding only the calls rekey makes ([`IamApi`],
//! [`StsApi`]), their aws-sdk implementations, how a provider's credentials are built
//! ([`conn`]), KMS wrapping of the vault key ([`kms`]), and the classification of every AWS
//! failure into what the caller can do about it ([`AwsError`]), and the pace of calls IAM and STS
//! accept ([`pace`]).
//!
//! # Layout
//!
//! - [`iam`]: [`IamApi`] (the IAM calls rekey makes, paginated), [`SdkIam`], the credential
//!   report; [`sts`]: [`StsApi`], [`SdkSts`]; [`org`]: AWS Organizations' member accounts.
//! - [`conn`]: [`Conn`], how a provider authenticates (static key, default chain, assume-role),
//!   with the SDK's retries and timeouts.
//! - [`pace`]: adaptive token buckets per provider for IAM (all calls, mutating calls) and STS,
//!   and the paced connector that sends a throttled call again after a new token.
//! - `error`: [`AwsError`] and [`AwsErrorClass`], every failure classified by what the caller can
//!   do about it.
//! - [`kms`]: the vault key as a KMS data key. [`deliver`]: Secrets Manager and SSM as targets.
//! - [`actions`]: every action rekey calls and why (the table behind `rekey policy`).
//! - `fake`: an in-memory IAM/STS double for the engine's tests (feature `test-support`).

pub mod actions;
pub mod conn;
pub mod deliver;
mod error;
#[cfg(any(test, feature = "test-support"))]
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
