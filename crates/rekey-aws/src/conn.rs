//! How rekey authenticates to an AWS account: a [`Conn`] describes one set of credentials
//! (a static key, the default chain, or an assumed role on top of another `Conn`) plus region
//! and endpoint, and turns into an `SdkConfig` with bounded retries and timeouts. A connection
//! with a [`Pacer`] sends its IAM and STS calls at the pace the account accepts (see [`crate::pace`]).

use crate::pace::{connector::PacedClient, Pacer};
use aws_config::{
    identity::IdentityCache, retry::RetryConfig, stalled_stream_protection::StalledStreamProtectionConfig,
    sts::AssumeRoleProvider, timeout::TimeoutConfig, BehaviorVersion, ConfigLoader, SdkConfig,
};
use aws_credential_types::{provider::SharedCredentialsProvider, Credentials};
use aws_smithy_http_client::{proxy::ProxyConfig, tls, Connector};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use rekey_crypto::Secret;
use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, OnceLock, PoisonError},
    time::Duration,
};

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
    /// The AWS region the clients sign for and send to.
    pub region: String,
    /// Endpoint override (an emulator, a partition).
    pub endpoint_url: Option<String>,
    /// Whose calls these are: a static key, the default chain, or an assumed role.
    pub credentials: ConnCredentials,
    /// SDK attempts per call (1 = no SDK retry), with the SDK's exponential backoff and jitter.
    pub max_attempts: u32,
    /// Timeout of one attempt.
    pub attempt_timeout: Duration,
    /// The provider's pacer, if its calls are paced (every provider connection is; KMS is not).
    pub pacer: Option<Arc<Pacer>>,
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
            pacer: None,
        }
    }

    /// The same connection, its IAM and STS calls paced by `pacer`.
    pub fn paced(self, pacer: Arc<Pacer>) -> Self {
        Self { pacer: Some(pacer), ..self }
    }

    /// The same account and endpoint, signed with another static key (verifying a new key).
    pub fn with_key(&self, access_key_id: &str, secret: Secret) -> Self {
        Self {
            credentials: ConnCredentials::Static { access_key_id: access_key_id.to_owned(), secret },
            ..self.clone()
        }
    }

    /// Builds the SDK configuration (boxed because assume-role recurses into its source).
    ///
    /// A static key is set on a configuration loaded once per region, endpoint and retry
    /// settings: loading reads the environment and the shared config files, and verifying a new
    /// key needs a client of its own every time. Such a client caches no identity (the key is
    /// at hand) and shares the process's HTTP client like every other.
    pub fn sdk_config(&self) -> Pin<Box<dyn Future<Output = SdkConfig> + Send + '_>> {
        Box::pin(async move {
            match &self.credentials {
                ConnCredentials::Static { access_key_id, secret } => {
                    let creds = Credentials::new(access_key_id, secret.expose(), None, None, "rekey");
                    self.base_config()
                        .await
                        .to_builder()
                        .credentials_provider(SharedCredentialsProvider::new(creds))
                        .identity_cache(IdentityCache::no_cache())
                        .build()
                }
                ConnCredentials::DefaultChain => self.loader().load().await,
                ConnCredentials::AssumeRole { role_arn, external_id, source } => {
                    let source_conf = source.sdk_config().await;
                    let mut builder =
                        AssumeRoleProvider::builder(role_arn).session_name("rekey").configure(&source_conf);
                    if let Some(x) = external_id {
                        builder = builder.external_id(x);
                    }
                    let provider = SharedCredentialsProvider::new(builder.build().await);
                    self.loader().credentials_provider(provider).load().await
                }
            }
        })
    }

    /// The loader with this connection's region, endpoint, retries and timeouts.
    ///
    /// A paced connection's attempt timeout is kept by its connector, from the moment the call's
    /// tokens are there: time spent waiting for the pace is not an attempt's.
    ///
    /// The SDK's stalled-stream protection of request bodies is off for a paced connection: it
    /// times a body from when the SDK hands the request to the connector, so a call that waits
    /// longer than its grace period (5 s) for the pace — as calls do when hundreds of rotations
    /// share one account's bucket — failed as "minimum throughput … 0 B/s" without being sent
    /// (and its retries reserved more tokens). The connector's attempt timeout bounds the send.
    fn loader(&self) -> ConfigLoader {
        let mut timeouts = TimeoutConfig::builder().connect_timeout(Duration::from_secs(5));
        let client = match &self.pacer {
            Some(pacer) => SharedHttpClient::new(PacedClient {
                inner: http_client(),
                pacer: pacer.clone(),
                attempt_timeout: self.attempt_timeout,
            }),
            None => {
                timeouts = timeouts.operation_attempt_timeout(self.attempt_timeout);
                http_client()
            }
        };
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.clone()))
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts.max(1)))
            .timeout_config(timeouts.build())
            .http_client(client);
        if self.pacer.is_some() {
            loader = loader
                .stalled_stream_protection(StalledStreamProtectionConfig::enabled().upload_enabled(false).build());
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        loader
    }

    /// The configuration without credentials, loaded once per process and settings.
    async fn base_config(&self) -> SdkConfig {
        type Key = (String, Option<String>, u32, Duration, Option<String>);
        type Bases = Mutex<HashMap<Key, SdkConfig>>;
        static BASES: OnceLock<Bases> = OnceLock::new();
        let pacer = self.pacer.as_ref().map(|p| p.name().to_owned());
        let key = (self.region.clone(), self.endpoint_url.clone(), self.max_attempts, self.attempt_timeout, pacer);
        let bases = BASES.get_or_init(Bases::default);
        if let Some(c) = bases.lock().unwrap_or_else(PoisonError::into_inner).get(&key) {
            return c.clone();
        }
        let loaded = self.loader().no_credentials().load().await;
        bases.lock().unwrap_or_else(PoisonError::into_inner).entry(key).or_insert(loaded).clone()
    }
}

/// One HTTP client for every SDK client of the process. Left to itself each SDK client builds
/// its own: an HTTPS connector (parsing the system's root certificates) and a connection pool,
/// so the client that verifies a new key paid for both and opened new connections every
/// rotation. This is the SDK's default client (rustls on aws-lc, proxies from the environment),
/// made once; it keeps one connector per set of connector settings.
fn http_client() -> SharedHttpClient {
    static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            aws_smithy_http_client::Builder::new().build_with_connector_fn(|settings, components| {
                let mut conn =
                    Connector::builder().tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc));
                conn.set_connector_settings(settings.cloned());
                if let Some(components) = components {
                    conn.set_sleep_impl(components.sleep_impl());
                }
                conn.set_proxy_config(Some(ProxyConfig::from_env()));
                conn.build()
            })
        })
        .clone()
}
