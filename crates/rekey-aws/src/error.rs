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
        let body = err.raw_response().and_then(HasStatus::body).map(|b| String::from_utf8_lossy(b).into_owned());
        let (class, code, message) = match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                // Some endpoints answer in an error format the SDK does not parse: read it here.
                let code = e.code().map(str::to_owned).or_else(|| body.as_deref().and_then(|b| xml_tag(b, "Code")));
                let message = e
                    .message()
                    .map(str::to_owned)
                    .or_else(|| body.as_deref().and_then(|b| xml_tag(b, "Message")))
                    .unwrap_or_else(|| format!("HTTP {}", status.unwrap_or_default()));
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
        record(operation, code.as_deref().unwrap_or(class.as_label()));
        Self { class, operation, code, message }
    }
}

/// The HTTP status (and body) of a raw response.
pub trait HasStatus {
    /// The status code.
    fn status(&self) -> u16;
    /// The body, when it is in memory.
    fn body(&self) -> Option<&[u8]>;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
    fn body(&self) -> Option<&[u8]> {
        self.body().bytes()
    }
}

/// The text of the first `<tag>…</tag>` in an XML error body.
fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].trim().to_owned()).filter(|s| !s.is_empty())
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

/// AWS call failures seen by this process, by operation and error code (or class when the
/// service gave no code): what the server's `/metrics` exports.
static ERRORS: std::sync::Mutex<std::collections::BTreeMap<(String, String), u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn record(operation: &str, code: &str) {
    if let Ok(mut m) = ERRORS.lock() {
        *m.entry((operation.to_owned(), code.to_owned())).or_default() += 1;
    }
}

/// A snapshot of the failure counts: `((operation, code), count)`.
pub fn error_counts() -> Vec<((String, String), u64)> {
    ERRORS.lock().map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect()).unwrap_or_default()
}

impl AwsErrorClass {
    /// A short label for metrics.
    pub fn as_label(self) -> &'static str {
        match self {
            Self::NotFound => "not-found",
            Self::Limit => "limit",
            Self::Conflict => "conflict",
            Self::Auth => "auth",
            Self::Invalid => "invalid",
            Self::Retryable => "retryable",
            Self::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_code_and_message_from_an_unparsed_error_body() {
        let body = "<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>not allowed</Message></Error></Errors></ErrorResponse>";
        assert_eq!(xml_tag(body, "Code").as_deref(), Some("AccessDenied"));
        assert_eq!(xml_tag(body, "Message").as_deref(), Some("not allowed"));
        assert_eq!(xml_tag("<x/>", "Code"), None);
    }

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
