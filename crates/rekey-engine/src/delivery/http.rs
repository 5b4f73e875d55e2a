//! The HTTP client of the API targets (GitHub, GitLab, Kubernetes): JSON requests with a
//! bearer-style token header, a per-attempt timeout, and retries of what may pass (connection
//! failures, timeouts, 429 and 5xx: three attempts, 0.5 s then 1 s apart). Every request these
//! targets make is idempotent or checked by the caller (a create that finds the object exists
//! falls back to an update), so a retry after a lost answer is safe.
//!
//! Answers are returned whole to the caller, which reads only the fields it needs; error
//! messages quote at most the API's own `message` field, never a request body (which holds
//! the secret) or a header (which holds the token).

use crate::{Error, Result};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use std::{sync::Arc, time::Duration};
use zeroize::Zeroizing;

pub(crate) type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Attempts per request.
const ATTEMPTS: u32 = 3;
/// Wait before the second attempt (doubled before the third).
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Largest answer read (public keys, objects; far below this).
const MAX_ANSWER: usize = 4 << 20;

/// An answer.
#[derive(Debug)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (an empty body is `null`).
    pub fn json(&self, what: &str) -> Result<serde_json::Value> {
        if self.body.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|_| Error::Delivery(format!("{what}: the answer is not JSON")))
    }

    /// A short description of a failed answer: its status and the API's `message`, if any.
    pub fn failure(&self, what: &str) -> Error {
        let message = serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| match &v["message"] {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            })
            .map(|m| format!(": {}", m.chars().take(200).collect::<String>()))
            .unwrap_or_default();
        Error::Delivery(format!("{what}: answered {}{message}", self.status))
    }
}

/// One request to send (and resend on a transient failure). Its `Debug` shows the method and
/// URL only: headers hold tokens and the body holds the secret.
pub struct Request<'a> {
    pub method: Method,
    /// Full URL.
    pub url: String,
    /// Headers; values may be tokens (never logged).
    pub headers: Vec<(HeaderName, Zeroizing<String>)>,
    /// Content type of `body`.
    pub content_type: &'a str,
    /// Body (may hold a secret: zeroized after use).
    pub body: Option<Zeroizing<Vec<u8>>>,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &"<redacted>")
            .field("body", &self.body.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Request<'_> {
    /// A request without a body.
    pub fn new(method: Method, url: String) -> Self {
        Self { method, url, headers: Vec::new(), content_type: "application/json", body: None }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((HeaderName::from_static(name), Zeroizing::new(value.into())));
        self
    }

    /// Sets a JSON body.
    pub fn json(mut self, value: &serde_json::Value) -> Self {
        self.body = Some(Zeroizing::new(value.to_string().into_bytes()));
        self
    }
}

/// An HTTPS client: the process's shared one (the system's CA certificates) or one with its own
/// TLS settings (a cluster's CA and client certificate).
#[derive(Clone, Debug)]
pub struct Http {
    client: Arc<HttpsClient>,
    /// Limit on one attempt.
    pub timeout: Duration,
}

impl Http {
    /// The shared client, trusting the system's CA certificates.
    pub fn system(timeout: Duration) -> Result<Self> {
        Ok(Self { client: system_client().map_err(Error::Delivery)?, timeout })
    }

    /// A client with its own TLS settings (`https://` only).
    pub fn with_tls(config: rustls::ClientConfig, timeout: Duration) -> Self {
        let https =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config).https_only().enable_http1().build();
        Self { client: Arc::new(build(https)), timeout }
    }

    /// Sends `req`, retrying transient failures; returns the last answer (any status but 429
    /// and 5xx, or those after the last attempt). `what` names the call in errors.
    pub async fn send(&self, req: &Request<'_>, what: &str) -> Result<Answer> {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let last = attempt == ATTEMPTS;
            match self.attempt(req).await {
                Ok(a) if !transient(a.status) || last => return Ok(a),
                Ok(a) => tracing::warn!(call = what, status = %a.status, attempt, "API call failed; retrying"),
                Err(e) if last => return Err(Error::Delivery(format!("{what}: {e}"))),
                Err(e) => tracing::warn!(call = what, error = %e, attempt, "API call failed; retrying"),
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
            attempt += 1;
        }
    }

    async fn attempt(&self, req: &Request<'_>) -> Result<Answer, String> {
        let mut b = http::Request::builder()
            .method(req.method.clone())
            .uri(&req.url)
            .header(http::header::USER_AGENT, concat!("rekey/", env!("CARGO_PKG_VERSION")))
            .header(http::header::ACCEPT, "application/json");
        for (name, value) in &req.headers {
            let mut v =
                HeaderValue::from_str(value).map_err(|_| format!("header {name} holds characters HTTP forbids"))?;
            v.set_sensitive(true);
            b = b.header(name, v);
        }
        let body = match &req.body {
            Some(bytes) => {
                b = b.header(http::header::CONTENT_TYPE, req.content_type);
                Full::new(Bytes::copy_from_slice(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        let request = b.body(body).map_err(|e| format!("cannot build the request: {e}"))?;
        let exchange = async {
            let resp = self.client.request(request).await.map_err(|e| format!("no answer: {}", chain(&e)))?;
            let status = resp.status();
            let limited = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER);
            let body = limited.collect().await.map_err(|e| format!("reading the answer: {e}"))?.to_bytes();
            Ok::<_, String>(Answer { status, body })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {} ms", self.timeout.as_millis()))?
    }
}

/// One client for the process that trusts the system's CA certificates (connections are pooled
/// per host), shared by the API targets and the signed webhooks.
pub(crate) fn system_client() -> std::result::Result<Arc<HttpsClient>, String> {
    static SHARED: std::sync::OnceLock<std::result::Result<Arc<HttpsClient>, String>> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| {
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
                .map_err(|e| format!("cannot load the system's CA certificates: {e}"))?
                .https_or_http()
                .enable_http1()
                .build();
            Ok(Arc::new(build(https)))
        })
        .clone()
}

fn build(https: hyper_rustls::HttpsConnector<HttpConnector>) -> HttpsClient {
    Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(https)
}

/// Whether an answer may be different next time.
fn transient(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// One URL path segment, percent-encoded (names from settings are validated, but an
/// environment name may hold spaces).
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Reads a target's API token from its variable or file (at each send: never stored). A
/// missing or empty token is a usage error naming where it was looked for, never the value.
pub fn read_token(src: &rekey_domain::webhook::KeySource, what: &'static str) -> Result<Zeroizing<String>> {
    use rekey_domain::webhook::KeySource;
    src.check(what)?;
    let raw = match src {
        KeySource::Env(name) => Zeroizing::new(std::env::var(name).map_err(|_| {
            Error::usage(format!("the {what} variable ${name} is not set"), format!("export {name} with the token"))
        })?),
        KeySource::File(path) => Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            Error::usage(format!("cannot read the {what} file {path}: {e}"), "check the path and its permissions")
        })?),
    };
    let token = Zeroizing::new(raw.trim().to_owned());
    if token.is_empty() || token.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Error::usage(
            format!("the {what} in {} is empty or not a single token", src.describe()),
            "put the token alone in the variable or file",
        ));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requests_debug_shows_neither_token_nor_body() {
        let r = Request::new(Method::PUT, "https://h/x".into())
            .header("authorization", "Bearer tok-123456")
            .json(&serde_json::json!({ "value": "sec-abcdef" }));
        let shown = format!("{r:?}");
        assert!(!shown.contains("tok-123456") && !shown.contains("sec-abcdef"), "{shown}");
        assert!(shown.contains("https://h/x"));
    }

    #[test]
    fn failures_quote_the_api_message_only() {
        let a =
            Answer { status: StatusCode::UNPROCESSABLE_ENTITY, body: Bytes::from_static(br#"{"message":"Bad key"}"#) };
        assert_eq!(a.failure("PUT x").to_string(), "PUT x: answered 422 Unprocessable Entity: Bad key");
        let a = Answer { status: StatusCode::BAD_GATEWAY, body: Bytes::from_static(b"<html>") };
        assert_eq!(a.failure("GET y").to_string(), "GET y: answered 502 Bad Gateway");
    }

    #[test]
    fn tokens_are_read_trimmed_and_named_by_source_only() {
        use rekey_domain::webhook::KeySource;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        std::fs::write(&path, "ghp_abc123\n").unwrap();
        let src = KeySource::File(path.display().to_string());
        assert_eq!(read_token(&src, "GitHub token").unwrap().as_str(), "ghp_abc123");
        std::fs::write(&path, "two words").unwrap();
        let e = read_token(&src, "GitHub token").unwrap_err().to_string();
        assert!(!e.contains("words"), "{e}");
        assert!(read_token(&KeySource::Env("REKEY_TEST_UNSET_TOKEN_X".into()), "t").is_err());
        assert!(read_token(&KeySource::Env("UNSET_TOKEN_FOR_REKEY_TEST".into()), "t").is_err());
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
