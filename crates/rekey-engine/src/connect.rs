//! How the engine obtains AWS clients: through an [`AwsConnector`], so tests can hand it doubles
//! while the binary uses the SDK.

use async_trait::async_trait;
#[cfg(feature = "test-support")]
use rekey_aws::fake::FakeAws;
use rekey_aws::{Conn, ConnCredentials, IamApi, SdkIam, SdkSts, StsApi};
use std::sync::Arc;

/// Makes IAM and STS clients for a connection.
#[async_trait]
pub trait AwsConnector: Send + Sync + std::fmt::Debug {
    /// An IAM client signed as `conn`.
    async fn iam(&self, conn: &Conn) -> Arc<dyn IamApi>;
    /// An STS client signed as `conn`.
    async fn sts(&self, conn: &Conn) -> Arc<dyn StsApi>;
}

/// The real AWS SDK.
///
/// IAM clients are made once per connection and process and then shared: building an SDK client
/// builds its HTTPS connector (parsing the system's root certificates), which cost more CPU than
/// all of a rotation's API calls together when every rotation built its own. STS clients are
/// made per call site: they are signed with a different key each time (a new key to verify).
#[derive(Debug, Default, Clone, Copy)]
pub struct SdkConnector;

/// A connection's identity for the client cache: everything that shapes the client, with the
/// secret of a static key hashed (a corrected secret under the same key id is a new client).
fn conn_key(conn: &Conn) -> String {
    use sha2::{Digest, Sha256};
    let creds = match &conn.credentials {
        ConnCredentials::Static { access_key_id, secret } => {
            format!("static:{access_key_id}:{}", hex::encode(Sha256::digest(secret.expose().as_bytes())))
        }
        ConnCredentials::DefaultChain => "default-chain".into(),
        ConnCredentials::AssumeRole { role_arn, external_id, source } => {
            format!("assume-role:{role_arn}:{external_id:?}:[{}]", conn_key(source))
        }
    };
    format!("{}|{:?}|{}|{:?}|{creds}", conn.region, conn.endpoint_url, conn.max_attempts, conn.attempt_timeout)
}

type IamCache = std::sync::Mutex<std::collections::HashMap<String, Arc<dyn IamApi>>>;

fn iam_cache() -> &'static IamCache {
    static CACHE: std::sync::OnceLock<IamCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(IamCache::default)
}

#[async_trait]
impl AwsConnector for SdkConnector {
    async fn iam(&self, conn: &Conn) -> Arc<dyn IamApi> {
        let key = conn_key(conn);
        if let Some(c) = iam_cache().lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key) {
            return c.clone();
        }
        let client: Arc<dyn IamApi> = Arc::new(SdkIam::connect(conn).await);
        iam_cache().lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(key).or_insert(client).clone()
    }
    async fn sts(&self, conn: &Conn) -> Arc<dyn StsApi> {
        Arc::new(SdkSts::connect(conn).await)
    }
}

/// The in-memory double ([`FakeAws`]), signed as the connection's static key (unit tests).
#[cfg(feature = "test-support")]
#[derive(Debug, Clone)]
pub struct FakeConnector(pub FakeAws);

#[cfg(feature = "test-support")]
fn static_key(conn: &Conn) -> Option<(String, rekey_crypto::Secret)> {
    match &conn.credentials {
        ConnCredentials::Static { access_key_id, secret } => Some((access_key_id.clone(), secret.clone())),
        _ => None,
    }
}

#[cfg(feature = "test-support")]
#[async_trait]
impl AwsConnector for FakeConnector {
    async fn iam(&self, conn: &Conn) -> Arc<dyn IamApi> {
        Arc::new(self.0.iam(static_key(conn).map(|k| k.0)))
    }
    async fn sts(&self, conn: &Conn) -> Arc<dyn StsApi> {
        Arc::new(self.0.sts(static_key(conn)))
    }
}
