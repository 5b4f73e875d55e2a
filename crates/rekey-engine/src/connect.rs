//! How the engine obtains AWS clients: through an [`AwsConnector`], so tests can hand it doubles
//! while the binary uses the SDK.

use async_trait::async_trait;
use rekey_aws::{fake::FakeAws, Conn, ConnCredentials, IamApi, SdkIam, SdkSts, StsApi};
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
#[derive(Debug, Default, Clone, Copy)]
pub struct SdkConnector;

#[async_trait]
impl AwsConnector for SdkConnector {
    async fn iam(&self, conn: &Conn) -> Arc<dyn IamApi> {
        Arc::new(SdkIam::connect(conn).await)
    }
    async fn sts(&self, conn: &Conn) -> Arc<dyn StsApi> {
        Arc::new(SdkSts::connect(conn).await)
    }
}

/// The in-memory double ([`FakeAws`]), signed as the connection's static key (unit tests).
#[derive(Debug, Clone)]
pub struct FakeConnector(pub FakeAws);

fn static_key(conn: &Conn) -> Option<(String, rekey_crypto::Secret)> {
    match &conn.credentials {
        ConnCredentials::Static { access_key_id, secret } => Some((access_key_id.clone(), secret.clone())),
        _ => None,
    }
}

#[async_trait]
impl AwsConnector for FakeConnector {
    async fn iam(&self, conn: &Conn) -> Arc<dyn IamApi> {
        Arc::new(self.0.iam(static_key(conn).map(|k| k.0)))
    }
    async fn sts(&self, conn: &Conn) -> Arc<dyn StsApi> {
        Arc::new(self.0.sts(static_key(conn)))
    }
}
