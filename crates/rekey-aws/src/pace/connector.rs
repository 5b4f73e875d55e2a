//! The paced HTTP connector: wraps the process's HTTP client for one provider's connections.
//! Each IAM or STS request waits for its tokens ([`super::Pacer::acquire`]), is sent under the
//! attempt timeout (which starts only once the tokens are there), and its answer is read whole;
//! a `Throttling` answer cuts the pace and the same request — signed seconds ago, and never
//! acted on — goes again after a new token, up to [`MAX_THROTTLES`] times and while its
//! signature is fresh. Requests to other services pass through unpaced.

use super::{Bucket, Pacer};
use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
    },
    orchestrator::{HttpRequest, HttpResponse},
    result::ConnectorError,
    runtime_components::RuntimeComponents,
};
use aws_smithy_types::body::SdkBody;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// Throttled sends of one request before the throttle is handed to the SDK's own retries.
pub const MAX_THROTTLES: u32 = 30;
/// A request is not sent again once it was signed this long ago (AWS refuses stale signatures
/// after 5 minutes); the SDK signs its next attempt afresh.
const FRESH: Duration = Duration::from_secs(240);

/// The process's HTTP client, paced for one provider.
#[derive(Debug, Clone)]
pub struct PacedClient {
    /// The HTTP client underneath.
    pub inner: SharedHttpClient,
    /// The provider's pacer.
    pub pacer: Arc<Pacer>,
    /// Limit of one send (from its first byte to the answer's last).
    pub attempt_timeout: Duration,
}

impl HttpClient for PacedClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
            attempt_timeout: self.attempt_timeout,
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
    attempt_timeout: Duration,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, pacer, limit) = (self.inner.clone(), self.pacer.clone(), self.attempt_timeout);
        HttpConnectorFuture::new(async move { send(&inner, &pacer, limit, request).await })
    }
}

async fn send(
    inner: &SharedHttpConnector,
    pacer: &Pacer,
    limit: Duration,
    request: HttpRequest,
) -> Result<HttpResponse, ConnectorError> {
    let buckets = buckets_of(&request);
    if buckets.is_empty() {
        return once(inner, limit, request).await;
    }
    let signed = Instant::now();
    let mut throttles = 0;
    loop {
        let ticket = pacer.acquire(&buckets).await;
        let may_repeat = throttles < MAX_THROTTLES && signed.elapsed() < FRESH;
        // A body that cannot be copied (a stream) is sent once: the SDK retries it.
        let Some(this) = request.try_clone().filter(|_| may_repeat) else {
            return once(inner, limit, request).await.inspect(|r| judge(pacer, &ticket, r));
        };
        let response = once(inner, limit, this).await?;
        if !is_throttling(&response) {
            pacer.succeeded(&ticket);
            return Ok(response);
        }
        pacer.throttled(&ticket);
        throttles += 1;
        tracing::debug!(pacer = pacer.name(), throttles, "throttled; sending again at the new pace");
    }
}

/// Records the outcome of a last send.
fn judge(pacer: &Pacer, ticket: &super::Ticket, response: &HttpResponse) {
    if is_throttling(response) {
        pacer.throttled(ticket);
    } else {
        pacer.succeeded(ticket);
    }
}

/// One send under the attempt timeout, its answer read whole. A successful answer's body is
/// handed on as a stream, never as bytes in view: the SDK traces responses it receives, and
/// only a body it reads itself is kept out of the trace when it holds a secret (a new key).
async fn once(
    inner: &SharedHttpConnector,
    limit: Duration,
    request: HttpRequest,
) -> Result<HttpResponse, ConnectorError> {
    let attempt = async {
        let mut response = inner.call(request).await?;
        let body = response.take_body();
        let bytes = aws_smithy_types::byte_stream::ByteStream::new(body)
            .collect()
            .await
            .map_err(|e| ConnectorError::io(e.into()))?
            .into_bytes();
        *response.body_mut() = if response.status().is_success() {
            SdkBody::from_body_1_x(http_body_util::Full::new(bytes))
        } else {
            // An error answer (read again to spot throttling) holds no secret.
            SdkBody::from(bytes)
        };
        Ok(response)
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(r) => r,
        Err(_) => Err(ConnectorError::timeout(format!("no complete answer within {} ms", limit.as_millis()).into())),
    }
}

/// The buckets a request takes: from the service of its signature's credential scope and the
/// action of its form body (a read is a `Get…`, `List…`, `Simulate…` or `Generate…` call).
fn buckets_of(request: &HttpRequest) -> Vec<Bucket> {
    let service = request
        .headers()
        .get("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|scope| scope.split([',', ' ']).next())
        .and_then(|scope| scope.split('/').nth(3));
    match service {
        Some("iam") => {
            let body = request.body().bytes().unwrap_or_default();
            let action = std::str::from_utf8(body)
                .unwrap_or_default()
                .split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .unwrap_or_default();
            let read = ["Get", "List", "Simulate", "Generate"].iter().any(|p| action.starts_with(p));
            if read {
                vec![Bucket::Iam]
            } else {
                vec![Bucket::Iam, Bucket::IamMutating]
            }
        }
        Some("sts") => vec![Bucket::Sts],
        _ => vec![],
    }
}

/// Whether an answer is AWS's throttling error.
fn is_throttling(response: &HttpResponse) -> bool {
    let status = response.status().as_u16();
    if status != 400 && status != 429 {
        return false;
    }
    let body = String::from_utf8_lossy(response.body().bytes().unwrap_or_default());
    ["<Code>Throttling</Code>", "<Code>ThrottlingException</Code>", "<Code>RequestLimitExceeded</Code>"]
        .iter()
        .any(|c| body.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(service: &str, body: &str) -> HttpRequest {
        let mut r = HttpRequest::new(SdkBody::from(body.to_owned()));
        r.headers_mut().insert(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=AKIAX/20261205/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=x"),
        );
        r
    }

    #[test]
    fn requests_take_the_buckets_of_their_service_and_action() {
        assert_eq!(buckets_of(&request("iam", "Action=ListAccessKeys&UserName=a")), vec![Bucket::Iam]);
        assert_eq!(
            buckets_of(&request("iam", "Action=CreateAccessKey&UserName=a")),
            vec![Bucket::Iam, Bucket::IamMutating]
        );
        assert_eq!(buckets_of(&request("sts", "Action=GetCallerIdentity")), vec![Bucket::Sts]);
        assert!(buckets_of(&request("secretsmanager", "{}")).is_empty());
        assert!(buckets_of(&HttpRequest::empty()).is_empty(), "unsigned requests are not paced");
    }

    #[test]
    fn throttling_is_read_from_the_error_body() {
        let answer = |status: u16, body: &str| {
            HttpResponse::new(status.try_into().unwrap_or_else(|_| panic!("status")), SdkBody::from(body.to_owned()))
        };
        let throttled = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
        assert!(is_throttling(&answer(400, throttled)));
        assert!(!is_throttling(&answer(403, "<Code>InvalidClientTokenId</Code>")));
        assert!(!is_throttling(&answer(200, throttled)), "a successful answer that mentions the word");
    }
}
