//! Per-account rotation settings, stored as JSON on the account. Unknown keys are rejected so a
//! typo in a setting never silently falls back to a default.

use crate::{
    error::ValidationError,
    kind::CredentialKind,
    password::PasswordRules,
    targets::{GithubTarget, GitlabTarget, KubernetesTarget, ManualTarget, ValueFormat},
};
use serde::{Deserialize, Serialize};

/// What happens to the previous access key after a rotation commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PreviousKeyPolicy {
    /// Deactivate it after `deactivate_after` (kept, inactive, for rollback).
    #[default]
    Deactivate,
    /// Deactivate it after `deactivate_after`, then delete it after `delete_after`.
    Delete,
    /// Leave it active.
    Keep,
}

impl std::str::FromStr for PreviousKeyPolicy {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "deactivate" => Ok(Self::Deactivate),
            "delete" => Ok(Self::Delete),
            "keep" => Ok(Self::Keep),
            _ => Err(ValidationError::new(
                "previous-key policy",
                format!("{s:?} is not a policy"),
                "use deactivate, delete or keep",
            )),
        }
    }
}

/// How the retirement of the previous access key is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Retirement {
    /// After the grace periods (`deactivate_after`, `delete_after`).
    #[default]
    Grace,
    /// Confirmed cut-over: also only once IAM shows the new key used since the cut-over and the
    /// old key not (`GetAccessKeyLastUsed`), or the deadline passed with `proceed`.
    Confirmed,
}

/// What a confirmed cut-over does past its deadline (the owner is told either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PastDeadline {
    /// Keep waiting for the evidence.
    #[default]
    Wait,
    /// Retire the previous key anyway.
    Proceed,
}

impl std::str::FromStr for Retirement {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "grace" => Ok(Self::Grace),
            "confirmed" => Ok(Self::Confirmed),
            _ => Err(ValidationError::new("--retirement", format!("{s:?}"), "use grace or confirmed")),
        }
    }
}

impl std::str::FromStr for PastDeadline {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "wait" => Ok(Self::Wait),
            "proceed" => Ok(Self::Proceed),
            _ => Err(ValidationError::new("--cutover-past-deadline", format!("{s:?}"), "use wait or proceed")),
        }
    }
}

/// Default deadline of a confirmed cut-over (14 days).
pub const DEFAULT_CUTOVER_DEADLINE_MS: u64 = 14 * 86_400_000;

/// A delivery target for new secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Target {
    /// A profile in an AWS shared credentials file, replaced atomically with a backup kept.
    AwsCredentialsFile {
        /// The file.
        path: String,
        /// The profile name.
        profile: String,
    },
    /// A new version of an AWS Secrets Manager secret (created if missing), holding
    /// `{"AccessKeyId", "SecretAccessKey"}` (access keys) or `{"Password"}` (passwords).
    SecretsManager {
        /// Secret name or ARN.
        secret_id: String,
        /// A derived value (the SES SMTP password) instead of the secret access key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<ValueFormat>,
    },
    /// An SSM Parameter Store SecureString with the same JSON.
    Ssm {
        /// Parameter name.
        name: String,
        /// A derived value (the SES SMTP password) instead of the secret access key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<ValueFormat>,
    },
    /// A post-rotation script: JSON (with the secret) on its standard input, never in its
    /// arguments or environment; JSON on its standard output; non-zero exit or timeout fails.
    Script {
        /// The program.
        command: String,
        /// Its arguments (no secrets).
        #[serde(default)]
        args: Vec<String>,
        /// Kill it after this long.
        timeout_ms: u64,
        /// A derived value (the SES SMTP password) instead of the secret access key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<ValueFormat>,
    },
    /// An HTTPS (or HTTP) POST of JSON describing the new credential, signed with HMAC-SHA256
    /// (`X-Rekey-Signature`); the secret is in it only with `include_secret`.
    Webhook {
        /// Where to POST.
        url: String,
        /// The environment variable holding the HMAC key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_env: Option<String>,
        /// The file holding the HMAC key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_file: Option<String>,
        /// Put the secret in the body (off: the receiver learns the new key id only).
        #[serde(default)]
        include_secret: bool,
        /// Give up on one attempt after this long.
        timeout_ms: u64,
        /// A derived value (the SES SMTP password) instead of the secret access key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<ValueFormat>,
    },
    /// GitHub Actions secrets (repository, environment or organization).
    GithubActions(GithubTarget),
    /// GitLab CI/CD variables (project or group).
    Gitlab(GitlabTarget),
    /// A Kubernetes Secret, with an optional rollout restart of Deployments.
    Kubernetes(KubernetesTarget),
    /// Entered by an operator, who confirms with `rekey rotation confirm`.
    Manual(ManualTarget),
}

impl Target {
    /// The derived value the target takes instead of the secret access key, if any.
    pub fn format(&self) -> Option<&ValueFormat> {
        match self {
            Self::AwsCredentialsFile { .. } => None,
            Self::SecretsManager { format, .. }
            | Self::Ssm { format, .. }
            | Self::Script { format, .. }
            | Self::Webhook { format, .. } => format.as_ref(),
            Self::GithubActions(t) => t.format.as_ref(),
            Self::Gitlab(t) => t.format.as_ref(),
            Self::Kubernetes(t) => t.format.as_ref(),
            Self::Manual(t) => t.format.as_ref(),
        }
    }

    /// Sets the derived value (not for credentials files, whose profile is an AWS key).
    pub fn set_format(&mut self, f: Option<ValueFormat>) {
        match self {
            Self::AwsCredentialsFile { .. } => {}
            Self::SecretsManager { format, .. }
            | Self::Ssm { format, .. }
            | Self::Script { format, .. }
            | Self::Webhook { format, .. } => *format = f,
            Self::GithubActions(t) => t.format = f,
            Self::Gitlab(t) => t.format = f,
            Self::Kubernetes(t) => t.format = f,
            Self::Manual(t) => t.format = f,
        }
    }

    /// Every kind [`Target::kind`] names.
    pub const KINDS: [&'static str; 9] = [
        "aws-credentials-file",
        "secrets-manager",
        "ssm",
        "script",
        "webhook",
        "github-actions",
        "gitlab",
        "kubernetes",
        "manual",
    ];

    /// The target's kind, as stored (`github-actions`, `kubernetes` …), for selections.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AwsCredentialsFile { .. } => "aws-credentials-file",
            Self::SecretsManager { .. } => "secrets-manager",
            Self::Ssm { .. } => "ssm",
            Self::Script { .. } => "script",
            Self::Webhook { .. } => "webhook",
            Self::GithubActions(_) => "github-actions",
            Self::Gitlab(_) => "gitlab",
            Self::Kubernetes(_) => "kubernetes",
            Self::Manual(_) => "manual",
        }
    }
}

/// The successes that verify a new access key, as a setting takes them (`verify_successes`,
/// `--verify-successes`).
pub const VERIFY_SUCCESSES: crate::Whole =
    crate::Whole::new(1, 20, 3, "a new key is verified by", "consecutive successes");

/// How a rotation verifies a new access key: `successes` consecutive GetCallerIdentity calls
/// signed with it, retried with exponential backoff from `backoff_ms` until `deadline_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifySettings {
    /// Consecutive successes required (AWS propagates new keys in 5–15 s; one success is luck).
    pub successes: u32,
    /// Give up (and abort the rotation) after this long.
    pub deadline_ms: u64,
    /// First backoff after a failure, doubled each time (capped at 10 s); also the spacing
    /// between successes.
    pub backoff_ms: u64,
}

impl Default for VerifySettings {
    fn default() -> Self {
        Self { successes: 3, deadline_ms: 120_000, backoff_ms: 1_000 }
    }
}

/// All of an account's rotation settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RotationSettings {
    /// Rotate every this many milliseconds.
    pub every_ms: Option<u64>,
    /// Rotate on this cron schedule (5 fields, UTC).
    pub cron: Option<String>,
    /// Report as overdue past this age.
    pub max_age_ms: Option<u64>,
    /// Password generation rules (merged with the account's IAM password policy).
    pub password: PasswordRules,
    /// Create the login profile if the user has none.
    pub create_login_profile: bool,
    /// Previous access key policy.
    pub previous_key: PreviousKeyPolicy,
    /// Grace before the previous key is deactivated.
    pub deactivate_after_ms: u64,
    /// Grace between deactivation and deletion (policy `delete`).
    pub delete_after_ms: u64,
    /// Retire the previous key only if IAM shows no use of it since the cut-over.
    pub retire_only_if_unused: bool,
    /// How the previous key's retirement is decided.
    pub retirement: Retirement,
    /// Confirmed cut-over: how long to wait for the evidence (default 14 days).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutover_deadline_ms: Option<u64>,
    /// Confirmed cut-over: past the deadline, keep waiting or retire anyway.
    pub cutover_past_deadline: PastDeadline,
    /// Verification of new keys.
    pub verify: VerifySettings,
    /// Delivery targets.
    pub targets: Vec<Target>,
}

impl RotationSettings {
    /// The settings, by their stored names, that mean something to accounts of `kind` only:
    /// the other kind's are stored (one settings document fits both) but never used, and
    /// front ends leave them out of an account they show.
    pub fn only_for(kind: CredentialKind) -> &'static [&'static str] {
        match kind {
            CredentialKind::AccessKey => &[
                "previous_key",
                "deactivate_after_ms",
                "delete_after_ms",
                "retire_only_if_unused",
                "retirement",
                "cutover_deadline_ms",
                "cutover_past_deadline",
                "verify",
                "targets",
            ],
            CredentialKind::Password => &["password", "create_login_profile"],
        }
    }

    /// Whether the setting stored as `name` applies to an account of `kind`.
    pub fn applies(name: &str, kind: CredentialKind) -> bool {
        let other = match kind {
            CredentialKind::AccessKey => CredentialKind::Password,
            CredentialKind::Password => CredentialKind::AccessKey,
        };
        !Self::only_for(other).contains(&name)
    }

    /// Checks the settings as a whole.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.password.validate()?;
        if let Some(c) = &self.cron {
            crate::schedule::parse_cron(c)?;
        }
        if self.every_ms == Some(0) {
            return Err(ValidationError::new("--every", "a zero interval", "use an interval such as 90d"));
        }
        if self.cutover_deadline_ms.is_some_and(|d| d < 60_000) {
            return Err(ValidationError::new(
                "--cutover-deadline",
                "shorter than a minute",
                "IAM records key use with a delay: use e.g. 14d",
            ));
        }
        let successes = self.verify.successes;
        if VERIFY_SUCCESSES.check::<u32>(successes.into()).is_err() {
            return Err(ValidationError::new(
                "verify successes",
                format!("{successes} is out of range"),
                VERIFY_SUCCESSES.allowed(),
            ));
        }
        if self.verify.deadline_ms == 0 || self.verify.backoff_ms == 0 {
            return Err(ValidationError::new(
                "verify timing",
                "deadline and backoff must be positive",
                "use e.g. 2m and 1s",
            ));
        }
        for t in &self.targets {
            match t {
                Target::AwsCredentialsFile { path, profile } => {
                    if path.is_empty() || profile.is_empty() || profile.contains([']', '[', '\n']) {
                        return Err(ValidationError::new(
                            "credentials-file target",
                            format!("path {path:?} profile {profile:?}"),
                            "use --credentials-file PATH --profile NAME",
                        ));
                    }
                }
                Target::SecretsManager { secret_id: n, .. } | Target::Ssm { name: n, .. } => {
                    if n.is_empty() || n.len() > 2048 || n.chars().any(char::is_whitespace) {
                        return Err(ValidationError::new(
                            "AWS delivery target",
                            format!("{n:?} is not a secret or parameter name"),
                            "use a name such as prod/ci/aws-key",
                        ));
                    }
                }
                Target::Webhook { url, key_env, key_file, timeout_ms, include_secret, .. } => {
                    crate::webhook::validate_url(url, "webhook target")?;
                    if *include_secret && crate::webhook::is_plain_http_off_host(url) {
                        return Err(ValidationError::new(
                            "webhook target",
                            format!("{url:?} would carry the secret over plain HTTP"),
                            "use an https:// URL (plain http is allowed to loopback only when the secret is included)",
                        ));
                    }
                    crate::webhook::KeySource::from_parts(key_env.clone(), key_file.clone(), "webhook target")?;
                    if *timeout_ms == 0 {
                        return Err(ValidationError::new(
                            "webhook target",
                            "a zero timeout",
                            "use a positive --webhook-timeout such as 10s",
                        ));
                    }
                }
                Target::Script { command, timeout_ms, .. } => {
                    if command.is_empty() || *timeout_ms == 0 {
                        return Err(ValidationError::new(
                            "script target",
                            format!("command {command:?}, timeout {timeout_ms} ms"),
                            "use --script PATH with a positive --script-timeout",
                        ));
                    }
                }
                Target::GithubActions(g) => g.validate()?,
                Target::Gitlab(g) => g.validate()?,
                Target::Kubernetes(k) => k.validate()?,
                Target::Manual(m) => m.validate()?,
            }
            if let Some(f) = t.format() {
                f.validate()?;
            }
        }
        if self.targets.iter().filter(|t| matches!(t, Target::Manual(_))).count() > 1 {
            return Err(ValidationError::new(
                "manual target",
                "more than one manual target",
                "one manual target per account: its instructions can name every place the key goes",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stored setting is either common or one kind's; none is both.
    #[test]
    fn every_setting_belongs_to_both_kinds_or_one() {
        let s = RotationSettings {
            every_ms: Some(1),
            cron: Some("0 3 1 * *".into()),
            max_age_ms: Some(1),
            cutover_deadline_ms: Some(60_000),
            ..Default::default()
        };
        let serde_json::Value::Object(all) = serde_json::to_value(&s).unwrap() else { panic!("an object") };
        let (key, pw) = (
            RotationSettings::only_for(CredentialKind::AccessKey),
            RotationSettings::only_for(CredentialKind::Password),
        );
        for name in [key, pw].concat() {
            assert!(all.contains_key(name), "{name} is a stored setting");
        }
        let common: Vec<&str> =
            all.keys().map(String::as_str).filter(|k| !key.contains(k) && !pw.contains(k)).collect();
        assert_eq!(common, ["cron", "every_ms", "max_age_ms"]);
        assert!(key.iter().all(|k| !pw.contains(k)));
        assert!(RotationSettings::applies("verify", CredentialKind::AccessKey));
        assert!(!RotationSettings::applies("verify", CredentialKind::Password));
        assert!(!RotationSettings::applies("password", CredentialKind::AccessKey));
        assert!(RotationSettings::applies("every_ms", CredentialKind::Password));
    }
}
