//! How the engine obtains AWS clients: through an [`AwsConnector`], so tests can hand it doubles
//! while the binary uses the SDK.

use async_trait::async_trait;
use rekey_aws::{Conn, IamApi, SdkIam, SdkSts, StsApi};
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
