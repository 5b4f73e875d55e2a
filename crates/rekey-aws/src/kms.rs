//! KMS envelope for the vault key: `GenerateDataKey` makes the vault key and its KMS-encrypted
//! blob (stored in the vault header); `Decrypt` recovers the key when the vault is opened.

use crate::{AwsError, Conn, Result};
use aws_sdk_kms::{primitives::Blob, types::DataKeySpec};
use zeroize::Zeroizing;

/// A fresh 256-bit data key under `key_id`: (plaintext, encrypted blob).
pub async fn generate_data_key(conn: &Conn, key_id: &str) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>)> {
    let client = aws_sdk_kms::Client::new(&conn.sdk_config().await);
    let out = client
        .generate_data_key()
        .key_id(key_id)
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("purpose", "rekey-vault-key")
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("kms:GenerateDataKey", e))?;
    let plain = out.plaintext.map(|b| Zeroizing::new(b.into_inner())).unwrap_or_default();
    let blob = out.ciphertext_blob.map(Blob::into_inner).unwrap_or_default();
    Ok((plain, blob))
}

/// Decrypts a blob made by [`generate_data_key`].
pub async fn decrypt(conn: &Conn, key_id: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let client = aws_sdk_kms::Client::new(&conn.sdk_config().await);
    let out = client
        .decrypt()
        .key_id(key_id)
        .ciphertext_blob(Blob::new(blob))
        .encryption_context("purpose", "rekey-vault-key")
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("kms:Decrypt", e))?;
    Ok(out.plaintext.map(|b| Zeroizing::new(b.into_inner())).unwrap_or_default())
}
