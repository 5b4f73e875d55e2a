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
//! - [`github`], [`gitlab`], [`kubernetes`] (with [`kubeconfig`]): CI secret stores and clusters,
//!   through [`http`], the shared API client (retries, timeouts, tokens read at each send).
//! - [`manual`]: an operator enters the key by hand; the rotation machine waits for their
//!   confirmation instead of calling a sink.
//!
//! A target may take a derived value instead of the secret access key ([`value_for`]: the SES
//! SMTP password); the sink never knows the difference.

pub mod aws_store;
pub mod credentials_file;
pub mod github;
pub mod gitlab;
pub mod http;
pub mod kubeconfig;
pub mod kubernetes;
pub mod manual;
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
    /// Whether a failed delivery may have left part of the new key behind (targets written
    /// with several requests): an abort then restores the old key there too.
    fn writes_in_parts(&self) -> bool {
        false
    }
}

/// The sink for a configured target.
pub fn sink_for(target: &Target) -> Box<dyn Sink> {
    match target {
        Target::AwsCredentialsFile { path, profile } => {
            Box::new(credentials_file::CredentialsFile { path: PathBuf::from(path), profile: profile.clone() })
        }
        Target::SecretsManager { secret_id, .. } => Box::new(aws_store::AwsStore::SecretsManager(secret_id.clone())),
        Target::Ssm { name, .. } => Box::new(aws_store::AwsStore::Ssm(name.clone())),
        Target::Script { command, args, timeout_ms, .. } => Box::new(script::Script {
            command: command.clone(),
            args: args.clone(),
            timeout: std::time::Duration::from_millis(*timeout_ms),
        }),
        Target::GithubActions(t) => Box::new(github::Github(t.clone())),
        Target::Gitlab(t) => Box::new(gitlab::Gitlab(t.clone())),
        Target::Kubernetes(t) => Box::new(kubernetes::Kubernetes(t.clone())),
        Target::Manual(t) => Box::new(manual::Manual(t.clone())),
        Target::Webhook { url, key_env, key_file, include_secret, timeout_ms, .. } => Box::new(webhook::WebhookSink {
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

/// What `target` receives for `secret`: the secret itself, or the value derived from it.
pub fn value_for(target: &Target, secret: &Secret) -> Secret {
    match target.format() {
        None => secret.clone(),
        Some(rekey_domain::ValueFormat::SesSmtp { region }) => rekey_crypto::ses::smtp_password(secret, region),
    }
}
