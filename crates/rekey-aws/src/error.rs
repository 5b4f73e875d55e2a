//! Classification of AWS failures. The engine decides retry, abort or report from the class
//! alone; the code and message are kept for the operator. AWS messages never carry secrets.
//!
//! Every SDK failure becomes an [`AwsError`] here, and its message is one line: the service's
//! own code and message when it answered, or what kept the call from an answer (the connection
//! refused, a timeout, a name that does not resolve) read from the innermost error of the SDK's
//! chain (`why_unanswered`). The SDK's `Debug` forms (`DispatchFailure(DispatchFailure { source:
//! ConnectorError { … } })`) never reach the operator.

use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::ErrorMetadata;
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
    /// Human-readable detail, one line.
    pub message: String,
    /// The call got no answer from the service (it could not connect, timed out, or the
    /// answer could not be read): the endpoint or the network is the suspect, not the request.
    pub unanswered: bool,
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
        Self { class, operation, code: None, message: message.into(), unanswered: false }
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
                    .map_or_else(|| format!("HTTP {}", status.unwrap_or_default()), |m| one_line(&m));
                (classify(code.as_deref(), status), code, message)
            }
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                (AwsErrorClass::Retryable, None, why_unanswered(&err))
            }
            SdkError::ConstructionFailure(_) => (AwsErrorClass::Auth, None, why_unanswered(&err)),
            _ => (AwsErrorClass::Other, None, why_unanswered(&err)),
        };
        let class =
            if matches!(err, SdkError::DispatchFailure(ref d) if d.is_user()) { AwsErrorClass::Auth } else { class };
        let unanswered = matches!(err, SdkError::TimeoutError(_) | SdkError::ResponseError(_))
            || matches!(err, SdkError::DispatchFailure(ref d) if !d.is_user());
        record(operation, code.as_deref().unwrap_or(class.as_label()));
        Self { class, operation, code, message, unanswered }
    }
}

/// One line saying why an SDK call got no answer from the service: what the SDK was doing, then
/// the innermost error of its chain (`Connection refused (os error 111)`, `operation attempt
/// timeout occurred after 20s`), which is the one that names the cause. The wrappers above it
/// say only "dispatch failure", "io error" and the like; their `Debug` forms are never used.
fn why_unanswered<E, R>(err: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: fmt::Debug,
{
    let what = match err {
        SdkError::TimeoutError(_) => "no answer in time",
        SdkError::DispatchFailure(d) if d.is_timeout() => "no answer in time",
        SdkError::DispatchFailure(d) if d.is_io() => "could not reach the endpoint",
        SdkError::DispatchFailure(d) if d.is_user() => "the request could not be sent",
        SdkError::DispatchFailure(_) => "could not reach the endpoint",
        SdkError::ResponseError(_) => "the answer could not be read",
        SdkError::ConstructionFailure(_) => "the request could not be made",
        _ => "the call failed",
    };
    match innermost(std::error::Error::source(err)) {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_owned(),
    }
}

/// The last error of a source chain that starts at `first`, on one line: its `Display`, or an
/// AWS error's code and message when the chain ends in one (an assumed role's STS refusal: its
/// `Display` is a struct dump).
fn innermost(first: Option<&(dyn std::error::Error + 'static)>) -> Option<String> {
    let mut last = first?;
    while let Some(next) = last.source() {
        last = next;
    }
    if let Some(meta) = last.downcast_ref::<ErrorMetadata>() {
        let said = [meta.code(), meta.message()].into_iter().flatten().collect::<Vec<_>>().join(": ");
        return Some(one_line(&said)).filter(|l| !l.is_empty());
    }
    Some(one_line(&last.to_string())).filter(|l| !l.is_empty())
}

/// `text` with its line breaks and runs of blanks made single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
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

    type Sdk = SdkError<aws_sdk_iam::operation::get_user::GetUserError, aws_smithy_runtime_api::http::Response>;

    #[test]
    fn a_call_without_an_answer_says_why_in_one_line() {
        use aws_smithy_runtime_api::client::result::ConnectorError;
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused (os error 111)");
        let e = AwsError::from_sdk("iam:GetUser", Sdk::dispatch_failure(ConnectorError::io(refused.into())));
        assert_eq!(
            e.to_string(),
            "iam:GetUser failed: could not reach the endpoint: Connection refused (os error 111)"
        );
        assert!(e.unanswered && e.is_retryable(), "{e:?}");
        let e = AwsError::from_sdk("iam:GetUser", Sdk::timeout_error("operation attempt timeout occurred after 20s"));
        assert_eq!(
            e.to_string(),
            "iam:GetUser failed: no answer in time: operation attempt timeout occurred after 20s"
        );
        let slow = ConnectorError::timeout("no complete answer\nwithin 20000 ms".into());
        let e = AwsError::from_sdk("iam:GetUser", Sdk::dispatch_failure(slow));
        assert_eq!(e.message, "no answer in time: no complete answer within 20000 ms", "one line");
        for shown in [e.to_string(), e.message.clone()] {
            for debug in ["DispatchFailure", "ConnectorError", "TimeoutError", "source:", "{"] {
                assert!(!shown.contains(debug), "{debug:?} in {shown:?}");
            }
        }
    }

    #[test]
    fn a_refusal_at_the_end_of_the_chain_is_its_code_and_message() {
        let sts = ErrorMetadata::builder().code("AccessDenied").message("not authorized\nto assume").build();
        let e = AwsError::from_sdk("iam:GetUser", Sdk::construction_failure(sts));
        assert_eq!(e.message, "the request could not be made: AccessDenied: not authorized to assume");
        assert_eq!(e.class, AwsErrorClass::Auth);
        assert!(!e.unanswered);
    }
}
