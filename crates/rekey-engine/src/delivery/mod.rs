//! Delivery: where a rotation puts a new secret before it becomes current. Each target kind is
//! a [`Sink`] in its own file; [`sink_for`] builds the sink of a configured [`Target`]. Every
//! delivery is idempotent for a rotation id (delivering twice writes the same thing), so
//! recovery can simply deliver again.
//!
//! # Layout
//! - [`credentials_file`]: a profile of an AWS shared credentials file.
//! - [`aws_store`]: Secrets Manager and SSM Parameter Store.
//! - [`script`]: a post-rotation program fed JSON on its standard input.
//! - [`webhook`]: the signed-webhook client (shared with notifications and SIEM export) and its sink.

pub mod aws_store;
pub mod credentials_file;
pub mod script;
pub mod webhook;

use crate::Result;
use async_trait::async_trait;
use rekey_crypto::Secret;
use rekey_domain::Target;
use std::path::PathBuf;

/// One secret to deliver.
#[derive(Debug)]
pub struct Delivery<'a> {
    /// The account, as `PROVIDER/USER/KIND`.
    pub account: &'a str,
    /// The key being replaced, if any.
    pub old_key_id: Option<&'a str>,
    /// The rotation delivering it.
    pub rotation_id: &'a str,
    /// The provider's connection (AWS stores are written in the account of the credential).
    pub conn: &'a rekey_aws::Conn,
    /// The access key id (access keys).
    pub key_id: Option<&'a str>,
    /// The secret.
    pub secret: &'a Secret,
    /// For timestamps (webhook signatures).
    pub clock: &'a dyn rekey_domain::Clock,
}

/// A delivery target.
#[async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// For messages and the journal.
    fn describe(&self) -> String;
    /// Writes the secret; must be idempotent.
    async fn deliver(&self, d: &Delivery<'_>) -> Result<()>;
    /// Whether the target can be used at all (checked before a rotation creates anything).
    fn ready(&self) -> Result<()> {
        Ok(())
    }
}

/// The sink for a configured target.
pub fn sink_for(target: &Target) -> Box<dyn Sink> {
    match target {
        Target::AwsCredentialsFile { path, profile } => {
            Box::new(credentials_file::CredentialsFile { path: PathBuf::from(path), profile: profile.clone() })
        }
        Target::SecretsManager { secret_id } => Box::new(aws_store::AwsStore::SecretsManager(secret_id.clone())),
        Target::Ssm { name } => Box::new(aws_store::AwsStore::Ssm(name.clone())),
        Target::Script { command, args, timeout_ms } => Box::new(script::Script {
            command: command.clone(),
            args: args.clone(),
            timeout: std::time::Duration::from_millis(*timeout_ms),
        }),
        Target::Webhook { url, key_env, key_file, include_secret, timeout_ms } => Box::new(webhook::WebhookSink {
            hook: webhook::Webhook {
                url: url.clone(),
                // Validated when the settings were saved; an unusable source fails at send.
                key: rekey_domain::webhook::KeySource::from_parts(key_env.clone(), key_file.clone(), "webhook target")
                    .unwrap_or_else(|_| rekey_domain::webhook::KeySource::Env(String::new())),
                timeout: std::time::Duration::from_millis(*timeout_ms),
            },
            include_secret: *include_secret,
        }),
    }
}
