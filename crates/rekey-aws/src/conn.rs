//! How rekey authenticates to an AWS account: a [`Conn`] describes one set of credentials
//! (a static key, the default chain, or an assumed role on top of another `Conn`) plus region
//! and endpoint, and turns into an `SdkConfig` with bounded retries and timeouts.

use aws_config::{retry::RetryConfig, sts::AssumeRoleProvider, timeout::TimeoutConfig, BehaviorVersion, SdkConfig};
use aws_credential_types::{provider::SharedCredentialsProvider, Credentials};
use rekey_crypto::Secret;
use std::{future::Future, pin::Pin, time::Duration};

/// The credentials part of a connection.
#[derive(Debug, Clone)]
pub enum ConnCredentials {
    /// A static access key.
    Static {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret: Secret,
    },
    /// The AWS default credential chain.
    DefaultChain,
    /// AssumeRole, signed by `source`.
    AssumeRole {
        /// Role ARN.
        role_arn: String,
        /// External id.
        external_id: Option<String>,
        /// Who calls AssumeRole.
        source: Box<Conn>,
    },
}

/// Everything needed to talk to one AWS account as one principal.
#[derive(Debug, Clone)]
pub struct Conn {
    /// Region.
    pub region: String,
    /// Endpoint override (an emulator, a partition).
    pub endpoint_url: Option<String>,
    /// Credentials.
    pub credentials: ConnCredentials,
    /// SDK attempts per call (1 = no SDK retry), with the SDK's exponential backoff and jitter.
    pub max_attempts: u32,
    /// Timeout of one attempt.
    pub attempt_timeout: Duration,
}

impl Conn {
    /// A connection with default retry (4 attempts) and a 20 s attempt timeout.
    pub fn new(region: impl Into<String>, endpoint_url: Option<String>, credentials: ConnCredentials) -> Self {
        Self {
            region: region.into(),
            endpoint_url,
            credentials,
            max_attempts: 4,
            attempt_timeout: Duration::from_secs(20),
        }
    }

    /// The same account and endpoint, signed with another static key (verifying a new key).
    pub fn with_key(&self, access_key_id: &str, secret: Secret) -> Self {
        Self {
            credentials: ConnCredentials::Static { access_key_id: access_key_id.to_owned(), secret },
            ..self.clone()
        }
    }

    /// Builds the SDK configuration (boxed because assume-role recurses into its source).
    pub fn sdk_config(&self) -> Pin<Box<dyn Future<Output = SdkConfig> + Send + '_>> {
        Box::pin(async move {
            let mut loader = aws_config::defaults(BehaviorVersion::latest())
                .region(aws_config::Region::new(self.region.clone()))
                .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts.max(1)))
                .timeout_config(
                    TimeoutConfig::builder()
                        .connect_timeout(Duration::from_secs(5))
                        .operation_attempt_timeout(self.attempt_timeout)
                        .build(),
                );
            if let Some(url) = &self.endpoint_url {
                loader = loader.endpoint_url(url);
            }
            match &self.credentials {
                ConnCredentials::Static { access_key_id, secret } => {
                    let creds = Credentials::new(access_key_id, secret.expose(), None, None, "rekey");
                    loader = loader.credentials_provider(SharedCredentialsProvider::new(creds));
                }
                ConnCredentials::DefaultChain => {}
                ConnCredentials::AssumeRole { role_arn, external_id, source } => {
                    let source_conf = source.sdk_config().await;
                    let mut builder =
                        AssumeRoleProvider::builder(role_arn).session_name("rekey").configure(&source_conf);
                    if let Some(x) = external_id {
                        builder = builder.external_id(x);
                    }
                    loader = loader.credentials_provider(SharedCredentialsProvider::new(builder.build().await));
                }
            }
            loader.load().await
        })
    }
}
