//! Classification of AWS failures. The engine decides retry, abort or report from the class
//! alone; the code and message are kept for the operator. AWS messages never carry secrets.

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::fmt;

/// What a caller can do about an AWS failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorClass {
    /// Throttling, 5xx, timeouts, broken connections: try again later.
    Retryable,
    /// Bad or missing credentials, or not permitted.
    Auth,
    /// The user, key or profile does not exist.
    NotFound,
    /// An IAM quota, e.g. two access keys per user.
    Limit,
    /// The entity already exists.
    Conflict,
    /// The request was rejected as malformed.
    Invalid,
    /// Anything else.
    Other,
}

/// An AWS call that failed.
#[derive(Debug, Clone)]
pub struct AwsError {
    /// The class.
    pub class: AwsErrorClass,
    /// The API operation, e.g. `iam:CreateAccessKey`.
    pub operation: &'static str,
    /// AWS's error code, when there was one.
    pub code: Option<String>,
    /// Human-readable detail.
    pub message: String,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} failed: {code}: {}", self.operation, self.message),
            None => write!(f, "{} failed: {}", self.operation, self.message),
        }
    }
}

impl std::error::Error for AwsError {}

impl AwsError {
    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.class == AwsErrorClass::Retryable
    }

    /// Builds an error by hand (test doubles, local checks).
    pub fn new(class: AwsErrorClass, operation: &'static str, message: impl Into<String>) -> Self {
        Self { class, operation, code: None, message: message.into() }
    }

    /// Classifies an SDK failure of `operation`.
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + HasStatus,
    {
        let status = err.raw_response().map(HasStatus::status);
        let (class, code, message) = match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let code = e.code().map(str::to_owned);
                let message = e.message().map_or_else(|| DisplayErrorContext(&err).to_string(), str::to_owned);
                (classify(code.as_deref(), status), code, message)
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                (AwsErrorClass::Retryable, None, DisplayErrorContext(&err).to_string())
            }
            SdkError::ConstructionFailure(_) => (AwsErrorClass::Auth, None, DisplayErrorContext(&err).to_string()),
            _ => (AwsErrorClass::Other, None, DisplayErrorContext(&err).to_string()),
        };
        let class =
            if matches!(err, SdkError::DispatchFailure(ref d) if d.is_user()) { AwsErrorClass::Auth } else { class };
        Self { class, operation, code, message }
    }
}

/// The HTTP status of a raw response.
pub trait HasStatus {
    /// The status code.
    fn status(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

fn classify(code: Option<&str>, status: Option<u16>) -> AwsErrorClass {
    use AwsErrorClass::*;
    match code {
        Some("NoSuchEntity" | "NoSuchEntityException" | "NotFoundException") => NotFound,
        Some("LimitExceeded" | "LimitExceededException") => Limit,
        Some("EntityAlreadyExists" | "EntityAlreadyExistsException") => Conflict,
        Some(
            "Throttling"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "ServiceFailure"
            | "ServiceUnavailable"
            | "InternalFailure"
            | "InternalError"
            | "RequestTimeout"
            | "EntityTemporarilyUnmodifiable",
        ) => Retryable,
        Some(
            "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "AccessDenied"
            | "AccessDeniedException"
            | "UnrecognizedClientException"
            | "ExpiredToken"
            | "InvalidAccessKeyId"
            | "AuthFailure"
            | "MissingAuthenticationToken"
            | "IncompleteSignature",
        ) => Auth,
        Some("ValidationError" | "InvalidInput" | "MalformedPolicyDocument" | "PasswordPolicyViolation") => Invalid,
        _ => match status {
            Some(401 | 403) => Auth,
            Some(404) => NotFound,
            Some(429) => Retryable,
            Some(s) if s >= 500 => Retryable,
            _ => Other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_classes() {
        assert_eq!(classify(Some("NoSuchEntity"), Some(404)), AwsErrorClass::NotFound);
        assert_eq!(classify(Some("Throttling"), Some(400)), AwsErrorClass::Retryable);
        assert_eq!(classify(Some("InvalidClientTokenId"), Some(403)), AwsErrorClass::Auth);
        assert_eq!(classify(None, Some(403)), AwsErrorClass::Auth);
        assert_eq!(classify(None, Some(500)), AwsErrorClass::Retryable);
        assert_eq!(classify(Some("LimitExceeded"), Some(409)), AwsErrorClass::Limit);
        assert_eq!(classify(Some("Weird"), Some(400)), AwsErrorClass::Other);
    }
}
