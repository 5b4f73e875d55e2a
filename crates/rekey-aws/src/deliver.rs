//! Delivery to AWS stores: a new secret as a new version of a Secrets Manager secret, or as a
//! SecureString SSM parameter. Both are idempotent for a rotation: Secrets Manager through the
//! client request token, SSM by overwriting with the same value.

use crate::{AwsError, AwsErrorClass, Conn, Result};
use rekey_crypto::Secret;

/// Puts `value` as the current version of secret `secret_id`, creating the secret if missing.
/// `token` (32–64 characters) makes a repeated call with the same token a no-op.
pub async fn secrets_manager_put(conn: &Conn, secret_id: &str, value: &Secret, token: &str) -> Result<()> {
    let client = aws_sdk_secretsmanager::Client::new(&conn.sdk_config().await);
    let put = client
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value.expose())
        .client_request_token(token)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("secretsmanager:PutSecretValue", e));
    match put {
        Ok(_) => Ok(()),
        Err(e) if e.class == AwsErrorClass::NotFound || e.code.as_deref() == Some("ResourceNotFoundException") => {
            client
                .create_secret()
                .name(secret_id)
                .secret_string(value.expose())
                .client_request_token(token)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("secretsmanager:CreateSecret", e))?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Puts `value` as SecureString parameter `name` (overwriting).
pub async fn ssm_put(conn: &Conn, name: &str, value: &Secret) -> Result<()> {
    let client = aws_sdk_ssm::Client::new(&conn.sdk_config().await);
    client
        .put_parameter()
        .name(name)
        .value(value.expose())
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ssm:PutParameter", e))?;
    Ok(())
}
