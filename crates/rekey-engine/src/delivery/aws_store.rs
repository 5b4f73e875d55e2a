//! Secrets Manager and SSM Parameter Store targets: the new credential as JSON, written in the
//! credential's own AWS account through the provider's connection.

use super::{Delivery, Sink};
use crate::Result;
use async_trait::async_trait;
use rekey_crypto::Secret;

/// Secrets Manager or SSM Parameter Store, in the credential's own AWS account.
#[derive(Debug, Clone)]
pub enum AwsStore {
    /// A Secrets Manager secret.
    SecretsManager(String),
    /// An SSM parameter.
    Ssm(String),
}

#[async_trait]
impl Sink for AwsStore {
    fn describe(&self) -> String {
        match self {
            Self::SecretsManager(id) => format!("secrets-manager {id}"),
            Self::Ssm(name) => format!("ssm-parameter {name}"),
        }
    }

    async fn deliver(&self, d: &Delivery<'_>) -> Result<()> {
        let value = Secret::new(match d.key_id {
            Some(k) => serde_json::json!({ "AccessKeyId": k, "SecretAccessKey": d.secret.expose() }).to_string(),
            None => serde_json::json!({ "Password": d.secret.expose() }).to_string(),
        });
        match self {
            Self::SecretsManager(id) => {
                // Same token for the same rotation: delivering again is a no-op.
                let token = format!("rekey-rotation-{}", d.rotation_id);
                rekey_aws::deliver::secrets_manager_put(d.conn, id, &value, &token).await?;
            }
            Self::Ssm(name) => rekey_aws::deliver::ssm_put(d.conn, name, &value).await?,
        }
        Ok(())
    }
}
