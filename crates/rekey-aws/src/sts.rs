//! STS: who am I. Used to test providers and to verify and heartbeat access keys.

use crate::{AwsError, Conn, Result};
use async_trait::async_trait;

/// The principal a set of credentials authenticates as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// 12-digit account id.
    pub account: String,
    /// The principal's ARN.
    pub arn: String,
    /// The principal's unique id.
    pub user_id: String,
}

/// The STS calls rekey makes.
#[async_trait]
pub trait StsApi: Send + Sync {
    /// `sts:GetCallerIdentity`.
    async fn caller_identity(&self) -> Result<CallerIdentity>;
}

/// [`StsApi`] over the AWS SDK.
#[derive(Debug, Clone)]
pub struct SdkSts {
    client: aws_sdk_sts::Client,
}

impl SdkSts {
    /// A client for `conn`.
    pub async fn connect(conn: &Conn) -> Self {
        Self { client: aws_sdk_sts::Client::new(&conn.sdk_config().await) }
    }
}

#[async_trait]
impl StsApi for SdkSts {
    async fn caller_identity(&self) -> Result<CallerIdentity> {
        let out = self
            .client
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("sts:GetCallerIdentity", e))?;
        Ok(CallerIdentity {
            account: out.account.unwrap_or_default(),
            arn: out.arn.unwrap_or_default(),
            user_id: out.user_id.unwrap_or_default(),
        })
    }
}
