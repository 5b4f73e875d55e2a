//! Signed webhooks: one JSON document POSTed over HTTPS (or plain HTTP where the settings allow
//! it: never for a body carrying a secret, except to loopback), signed so the receiver can tell
//! it came from rekey and was not replayed.
//!
//! Signature: `X-Rekey-Signature: sha256=HEX(HMAC-SHA256(key, TIMESTAMP "." BODY))` with
//! `X-Rekey-Timestamp: TIMESTAMP` (Unix seconds); receivers should reject timestamps more than
//! a few minutes old. `X-Rekey-Delivery` carries an id that is the same for every retry of one
//! delivery, so receivers can drop duplicates. The key is read from its environment variable or
//! file at each send, never stored by rekey. Connection failures, timeouts, 429 and 5xx
//! answers are retried (three attempts in all); other answers fail at once.

use super::{Delivery, Sink};
use crate::{Error, Result};
use async_trait::async_trait;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use rekey_domain::webhook::{KeySource, MIN_KEY_LEN};
use rekey_domain::Clock;
use std::time::Duration;
use zeroize::Zeroizing;

type HmacSha256 = Hmac<sha2::Sha256>;

/// Attempts per delivery.
const ATTEMPTS: u32 = 3;
/// Wait before the second attempt (doubled before the third).
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// A signed-webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Where to POST.
    pub url: String,
    /// Where the HMAC key is read from.
    pub key: KeySource,
    /// Limit on one attempt.
    pub timeout: Duration,
}

impl Webhook {
    /// For messages and the journal.
    pub fn describe(&self) -> String {
        format!("webhook {}", self.url)
    }

    /// Checks that the signing key can be read (before work that would need it).
    pub fn check_key(&self) -> Result<()> {
        read_key(&self.key).map(drop)
    }

    /// POSTs `body`, signed, retrying transient failures; `delivery_id` is sent as
    /// `X-Rekey-Delivery`, the same on every attempt.
    pub async fn post(&self, clock: &dyn Clock, delivery_id: &str, body: &[u8]) -> Result<()> {
        self.post_detailed(clock, delivery_id, body).await.map_err(|f| f.error)
    }

    /// Like [`Self::post`], telling a refusal (a 4xx answer other than 429: sending the same
    /// again will not help) from a failure that may pass later.
    pub async fn post_detailed(&self, clock: &dyn Clock, delivery_id: &str, body: &[u8]) -> Result<(), Failure> {
        let key = read_key(&self.key).map_err(|error| Failure { error, refused: false })?;
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let ts = clock.now().timestamp().to_string();
            match self.attempt(&key, &ts, delivery_id, body).await {
                Ok(()) => return Ok(()),
                Err((e, transient)) if !transient || attempt == ATTEMPTS => {
                    let error = Error::Delivery(format!("{}: {e}", self.describe()));
                    return Err(Failure { error, refused: !transient });
                }
                Err((e, _)) => {
                    tracing::warn!(target_url = %self.describe(), attempt, error = %e, "webhook attempt failed; retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff *= 2;
            attempt += 1;
        }
    }

    /// One attempt: `Err((why, transient))`.
    async fn attempt(&self, key: &[u8], ts: &str, delivery_id: &str, body: &[u8]) -> Result<(), (String, bool)> {
        let req = http::Request::post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, concat!("rekey/", env!("CARGO_PKG_VERSION")))
            .header("x-rekey-timestamp", ts)
            .header("x-rekey-signature", signature(key, ts, body).map_err(|e| (e, false))?)
            .header("x-rekey-delivery", delivery_id)
            .body(Full::new(Bytes::copy_from_slice(body)))
            .map_err(|e| (format!("cannot build the request: {e}"), false))?;
        let client = super::http::system_client().map_err(|e| (e, false))?;
        // The status line decides; the answer's body is neither awaited nor reported (a
        // receiver might echo what it got), so a slow body cannot turn an acceptance into a
        // failure.
        let status = tokio::time::timeout(self.timeout, client.request(req))
            .await
            .map_err(|_| (format!("no answer within {} ms", self.timeout.as_millis()), true))?
            .map_err(|e| (format!("no answer: {}", error_chain(&e)), true))?
            .status();
        if status.is_success() {
            Ok(())
        } else {
            let transient = status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS;
            Err((format!("answered {status}"), transient))
        }
    }
}

/// A signed webhook told of each new credential: account, rotation, new and old key ids, and
/// the secret only when configured to carry it.
#[derive(Debug, Clone)]
pub struct WebhookSink {
    /// The endpoint.
    pub hook: Webhook,
    /// Put the secret in the body.
    pub include_secret: bool,
}

impl WebhookSink {
    /// A body carrying the secret goes over HTTPS or to loopback only: checked again where the
    /// secret leaves, not only when the settings were saved.
    fn check_transport(&self) -> Result<()> {
        if self.include_secret && rekey_domain::webhook::is_plain_http_off_host(&self.hook.url) {
            return Err(Error::usage(
                format!("webhook {} would carry the secret over plain HTTP", self.hook.url),
                "use an https:// URL (plain http is allowed to 127.0.0.0/8, [::1] and localhost only)",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for WebhookSink {
    fn describe(&self) -> String {
        self.hook.describe()
    }

    fn ready(&self) -> Result<()> {
        self.check_transport()?;
        self.hook.check_key()
    }

    async fn deliver(&self, d: &Delivery<'_>) -> Result<()> {
        self.check_transport()?;
        let mut body = serde_json::json!({
            "event": "credential.delivered",
            "account": d.account,
            "rotation": d.rotation_id,
            "access_key_id": d.key_id,
            "old_access_key_id": d.old_key_id,
        });
        if self.include_secret {
            body["secret"] = serde_json::Value::String(d.secret.expose().to_owned());
        }
        let body = zeroize::Zeroizing::new(body.to_string());
        // One delivery id per rotation and key: a redelivery after recovery is recognisably
        // the same delivery.
        let id = format!("{}:{}", d.rotation_id, d.key_id.unwrap_or("password"));
        self.hook.post(d.clock, &id, body.as_bytes()).await
    }
}

/// A failed [`Webhook::post_detailed`].
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub error: Error,
    /// The receiver refused the request itself (retrying the same body will not help).
    pub refused: bool,
}

/// `sha256=HEX` of HMAC-SHA256 over `timestamp "." body`.
pub fn signature(key: &[u8], timestamp: &str, body: &[u8]) -> Result<String, String> {
    Ok(format!("sha256={}", hex::encode(mac(key, timestamp, body)?.finalize().into_bytes())))
}

fn mac(key: &[u8], timestamp: &str, body: &[u8]) -> Result<HmacSha256, String> {
    let mut mac = HmacSha256::new_from_slice(key).map_err(|e| format!("cannot use the signing key: {e}"))?;
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// Whether `header` is the signature of `body` at `timestamp` (constant-time), for receivers.
pub fn verify(key: &[u8], timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(sig) = header.strip_prefix("sha256=").and_then(|h| hex::decode(h).ok()) else { return false };
    mac(key, timestamp, body).is_ok_and(|m| m.verify_slice(&sig).is_ok())
}

/// Reads the HMAC key; a missing or short key is a usage error naming where it was looked for.
pub fn read_key(src: &KeySource) -> Result<Zeroizing<Vec<u8>>> {
    // The source was validated where it was configured, perhaps by another process that did
    // not know this one's passphrase or key file: the rule is applied again here.
    src.check("webhook signing key")?;
    let key = match src {
        KeySource::Env(name) => Zeroizing::new(
            std::env::var(name)
                .map_err(|_| {
                    Error::usage(
                        format!("the webhook key variable ${name} is not set"),
                        format!(
                            "export {name} with at least {MIN_KEY_LEN} random bytes, e.g. from `openssl rand -hex 32`"
                        ),
                    )
                })?
                .into_bytes(),
        ),
        KeySource::File(path) => {
            let mut bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
                Error::usage(
                    format!("cannot read the webhook key file {path}: {e}"),
                    "check the path and its permissions",
                )
            })?);
            while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                bytes.pop();
            }
            bytes
        }
    };
    if key.len() < MIN_KEY_LEN {
        return Err(Error::usage(
            format!("the webhook key in {} is shorter than {MIN_KEY_LEN} bytes", src.describe()),
            "use a random key, e.g. `openssl rand -hex 32`",
        ));
    }
    Ok(key)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A receiver answering each request with the next status of `statuses` (then 200),
    /// recording (headers, body) of every request.
    async fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<(String, Vec<u8>)>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut statuses = statuses.into_iter();
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                let (head, body) = loop {
                    let mut chunk = [0u8; 4096];
                    let n = sock.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map(|v| v.trim().parse().unwrap())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break (head, buf[end + 4..end + 4 + len].to_vec());
                        }
                    }
                };
                log.lock().unwrap().push((head, body));
                let status = statuses.next().unwrap_or(200);
                let resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                sock.write_all(resp.as_bytes()).await.unwrap();
            }
        });
        (url, seen)
    }

    fn header<'a>(head: &'a str, name: &str) -> &'a str {
        head.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':'))).unwrap().trim()
    }

    /// The documented signature, computed independently:
    /// `printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 0123456789abcdef`.
    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        assert_eq!(
            signature(b"0123456789abcdef", "1700000000", br#"{"a":1}"#).as_deref(),
            Ok("sha256=9eb18f493f8ec135d9eb2dad817c369bb4e9cbfa818657897a7437c1cd8c3a23")
        );
    }

    #[tokio::test]
    async fn signs_and_retries_transient_failures_with_one_delivery_id() {
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("key");
        std::fs::write(&key_path, "0123456789abcdef0123\n").unwrap();
        let (url, seen) = receiver(vec![503]).await;
        let hook =
            Webhook { url, key: KeySource::File(key_path.display().to_string()), timeout: Duration::from_secs(5) };
        hook.post(&rekey_domain::SystemClock, "d-1", br#"{"a":1}"#).await.unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "one 503, then success");
        for (head, body) in seen.iter() {
            assert_eq!(body, br#"{"a":1}"#);
            assert_eq!(header(head, "x-rekey-delivery"), "d-1");
            let ts = header(head, "x-rekey-timestamp");
            assert!(verify(b"0123456789abcdef0123", ts, body, header(head, "x-rekey-signature")));
            assert!(!verify(b"0123456789abcdef0124", ts, body, header(head, "x-rekey-signature")));
            assert!(!verify(b"0123456789abcdef0123", ts, b"{\"a\":2}", header(head, "x-rekey-signature")));
        }
    }

    #[tokio::test]
    async fn a_client_error_fails_at_once_and_a_missing_key_is_a_usage_error() {
        let (url, seen) = receiver(vec![400]).await;
        std::env::set_var("HOOK_TEST_KEY_OK", "0123456789abcdef");
        let hook = Webhook {
            url: url.clone(),
            key: KeySource::Env("HOOK_TEST_KEY_OK".into()),
            timeout: Duration::from_secs(5),
        };
        let e = hook.post(&rekey_domain::SystemClock, "d", b"{}").await.unwrap_err();
        assert!(matches!(e, Error::Delivery(_)) && e.to_string().contains("400"), "{e}");
        assert_eq!(seen.lock().unwrap().len(), 1);
        let hook = Webhook { key: KeySource::Env("HOOK_TEST_KEY_UNSET".into()), ..hook };
        assert!(matches!(hook.post(&rekey_domain::SystemClock, "d", b"{}").await.unwrap_err(), Error::Usage { .. }));
        std::env::set_var("HOOK_TEST_KEY_SHORT", "short");
        let hook = Webhook { key: KeySource::Env("HOOK_TEST_KEY_SHORT".into()), ..hook };
        assert!(hook.post(&rekey_domain::SystemClock, "d", b"{}").await.unwrap_err().to_string().contains("shorter"));
        assert_eq!(seen.lock().unwrap().len(), 1, "nothing sent without a usable key");
    }

    /// L1: a secret-bearing sink loaded with a plain-HTTP URL to a name that only looks like
    /// loopback (settings written behind rekey's back) refuses before sending anything.
    #[test]
    fn l1_a_secret_bearing_sink_refuses_plain_http_off_host() {
        std::env::set_var("HOOK_TEST_KEY_L1", "0123456789abcdef");
        let sink = |url: &str, include_secret| WebhookSink {
            hook: Webhook {
                url: url.into(),
                key: KeySource::Env("HOOK_TEST_KEY_L1".into()),
                timeout: Duration::from_secs(5),
            },
            include_secret,
        };
        let e = sink("http://127.attacker.example.com/hook", true).ready().unwrap_err();
        assert!(matches!(e, Error::Usage { .. }) && e.to_string().contains("plain HTTP"), "{e}");
        sink("http://127.attacker.example.com/hook", false).ready().unwrap();
        sink("http://127.0.0.1:9/hook", true).ready().unwrap();
    }
}
