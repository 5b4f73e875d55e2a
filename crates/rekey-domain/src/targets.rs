//! The settings of the delivery targets that reach where keys are consumed outside AWS: GitHub
//! Actions secrets, GitLab CI/CD variables, Kubernetes Secrets, and manual entry by an operator;
//! and the derived value formats (the SES SMTP password) any target can take instead of the
//! raw secret access key.
//!
//! These are plain settings, stored (and MACed) with the account. Tokens are never part of
//! them: a target names the environment variable or file its token is read from at each send,
//! under the same rule as webhook signing keys ([`crate::webhook::check_key_source`]).

use crate::{error::ValidationError, webhook::KeySource};
use serde::{Deserialize, Serialize};

/// Default name of the variable or secret holding the access key id.
pub const DEFAULT_KEY_ID_NAME: &str = "AWS_ACCESS_KEY_ID";
/// Default name of the variable or secret holding the secret access key.
pub const DEFAULT_SECRET_NAME: &str = "AWS_SECRET_ACCESS_KEY";
/// Default GitHub API (GitHub Enterprise Server: `https://HOST/api/v3`).
pub const GITHUB_API: &str = "https://api.github.com";
/// Default GitLab instance.
pub const GITLAB_URL: &str = "https://gitlab.com";

/// What a target receives in place of the secret access key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ValueFormat {
    /// The Amazon SES SMTP password of the key for this region (AWS's documented derivation,
    /// version 4); the SMTP user name is the access key id.
    SesSmtp {
        /// The SES region whose SMTP endpoint the password is for.
        region: String,
    },
}

impl ValueFormat {
    /// Checks the format's own settings.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Self::SesSmtp { region } => region.parse::<crate::Region>().map(drop).map_err(|_| {
                ValidationError::new(
                    "SES SMTP format",
                    format!("{region:?} is not a region code"),
                    "use --ses-smtp-region with the SES region, e.g. eu-west-1",
                )
            }),
        }
    }

    /// For messages.
    pub fn describe(&self) -> String {
        match self {
            Self::SesSmtp { region } => format!("SES SMTP password ({region})"),
        }
    }
}

/// The source of a target's API token: exactly one of an environment variable and a file,
/// read at each send; checked like webhook keys (not a `REKEY_*` variable, not the master key
/// files).
pub fn token_source(
    env: Option<&String>,
    file: Option<&String>,
    field: &'static str,
) -> Result<KeySource, ValidationError> {
    KeySource::from_parts(env.cloned(), file.cloned(), field).map_err(|mut e| {
        if e.problem == "no signing key" {
            e.problem = "no token".into();
            e.hint = "name the token's environment variable or file (--github-token-env / --github-token-file, --gitlab-token-env / --gitlab-token-file)".into();
        }
        e
    })
}

/// Which GitHub Actions secrets a target writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OrgVisibility {
    /// Every private and internal repository of the organization.
    #[default]
    Private,
    /// Every repository of the organization.
    All,
}

/// GitHub Actions secrets: one for the key id, one for the secret, sealed with the
/// repository's, environment's or organization's public key (libsodium sealed box).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubTarget {
    /// API base URL.
    pub api_url: String,
    /// `OWNER/REPO` for repository and environment secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// An environment of `repository`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// An organization, for organization secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Which repositories see an organization secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<OrgVisibility>,
    /// Secret holding the access key id.
    pub key_id_name: String,
    /// Secret holding the secret access key (or the derived value).
    pub secret_name: String,
    /// The environment variable holding the API token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// The file holding the API token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// Limit on one request.
    pub timeout_ms: u64,
    /// A derived value instead of the secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ValueFormat>,
}

/// Which kind of GitLab variable holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GitlabScope {
    /// A project (`/projects/:id/variables`).
    Project,
    /// A group (`/groups/:id/variables`).
    Group,
}

/// GitLab CI/CD variables of a project or group, created or updated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabTarget {
    /// The instance, e.g. `https://gitlab.com`.
    pub url: String,
    /// Project or group.
    pub scope: GitlabScope,
    /// Numeric id or full path (`group/project`).
    pub path: String,
    /// The variables' environment scope (`*`: all).
    pub environment_scope: String,
    /// Masked in job logs.
    pub masked: bool,
    /// Exported to protected branches and tags only.
    pub protected: bool,
    /// Variable holding the access key id.
    pub key_id_name: String,
    /// Variable holding the secret access key (or the derived value).
    pub secret_name: String,
    /// The environment variable holding the API token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// The file holding the API token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// Limit on one request.
    pub timeout_ms: u64,
    /// A derived value instead of the secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ValueFormat>,
}

/// A Kubernetes Secret (created, or updated with its resourceVersion), then optionally a
/// rollout restart of Deployments that read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesTarget {
    /// Namespace of the Secret.
    pub namespace: String,
    /// Name of the Secret.
    pub name: String,
    /// Data key holding the access key id.
    pub key_id_key: String,
    /// Data key holding the secret access key (or the derived value).
    pub secret_key: String,
    /// A kubeconfig file (absolute path); none: the pod's service account (in-cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context (default: its current context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Deployments of the namespace to restart after the write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restart: Vec<String>,
    /// Limit on one request.
    pub timeout_ms: u64,
    /// A derived value instead of the secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ValueFormat>,
}

/// What happens when nobody confirms a manual delivery in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OnDeadline {
    /// Abort the rotation: the new key is deleted, the old one stays current.
    #[default]
    Abort,
    /// Tell the owner (an audit event the notifier sends) and keep waiting.
    Notify,
}

/// An operator enters the new key by hand (a SaaS console) and confirms with
/// `rekey rotation confirm`; the rotation waits, lease released, until then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualTarget {
    /// Where the key goes, for the operator (no secrets).
    pub instructions: String,
    /// How long to wait for the confirmation.
    pub deadline_ms: u64,
    /// What happens past the deadline.
    #[serde(default)]
    pub on_deadline: OnDeadline,
    /// A derived value instead of the secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ValueFormat>,
}

fn bad(field: &'static str, problem: impl Into<String>, hint: &str) -> ValidationError {
    ValidationError::new(field, problem, hint)
}

/// `https://` (or `http://` to loopback only: tokens travel with every request), no
/// credentials, query or fragment.
fn validate_api_url(url: &str, field: &'static str) -> Result<(), ValidationError> {
    crate::webhook::validate_url(url, field)?;
    if crate::webhook::is_plain_http_off_host(url) {
        return Err(bad(field, format!("{url:?} would send the API token over plain HTTP"), "use an https:// URL"));
    }
    Ok(())
}

fn validate_timeout(ms: u64, field: &'static str) -> Result<(), ValidationError> {
    if ms == 0 || ms > 600_000 {
        return Err(bad(field, format!("timeout {ms} ms"), "use a timeout between 1ms and 10m, e.g. 10s"));
    }
    Ok(())
}

/// GitHub secret names: letters, digits and `_`, not starting with a digit or `GITHUB_`.
fn validate_github_name(name: &str) -> Result<(), ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !name.to_ascii_uppercase().starts_with("GITHUB_");
    if ok {
        return Ok(());
    }
    Err(bad(
        "GitHub secret name",
        format!("{name:?} is not a valid secret name"),
        "letters, digits and _, not starting with a digit or GITHUB_, e.g. AWS_ACCESS_KEY_ID",
    ))
}

/// GitHub owner, repository, organization and environment names (URL path segments).
fn validate_segment(value: &str, field: &'static str, hint: &str) -> Result<(), ValidationError> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && value != "."
        && value != ".."
        && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(bad(field, format!("{value:?} is not a valid name"), hint))
    }
}

impl GithubTarget {
    /// Checks the target as a whole.
    pub fn validate(&self) -> Result<(), ValidationError> {
        const F: &str = "GitHub target";
        validate_api_url(&self.api_url, F)?;
        match (&self.repository, &self.organization) {
            (Some(repo), None) => {
                let Some((owner, name)) = repo.split_once('/') else {
                    return Err(bad(
                        F,
                        format!("{repo:?} is not a repository: OWNER/REPO is expected"),
                        "use --github-repo OWNER/REPO, e.g. acme/payments",
                    ));
                };
                validate_segment(owner, F, "use --github-repo OWNER/REPO")?;
                validate_segment(name, F, "use --github-repo OWNER/REPO")?;
                if self.visibility.is_some() {
                    return Err(bad(F, "a visibility for a repository secret", "visibility applies to --github-org"));
                }
            }
            (None, Some(org)) => {
                validate_segment(org, F, "use --github-org ORG")?;
                if self.environment.is_some() {
                    return Err(bad(F, "an environment of an organization", "environments belong to --github-repo"));
                }
            }
            _ => {
                return Err(bad(
                    F,
                    "needs exactly one of a repository and an organization",
                    "use --github-repo OWNER/REPO or --github-org ORG",
                ))
            }
        }
        if let Some(env) = &self.environment {
            if env.is_empty() || env.len() > 255 || env.chars().any(|c| c.is_control() || c == '/') {
                return Err(bad(F, format!("{env:?} is not an environment name"), "use --github-environment NAME"));
            }
        }
        validate_github_name(&self.key_id_name)?;
        validate_github_name(&self.secret_name)?;
        if self.key_id_name.eq_ignore_ascii_case(&self.secret_name) {
            return Err(bad(F, "the key id and the secret would be one secret", "give two different names"));
        }
        token_source(self.token_env.as_ref(), self.token_file.as_ref(), "GitHub token")?;
        validate_timeout(self.timeout_ms, F)?;
        self.format.as_ref().map_or(Ok(()), ValueFormat::validate)
    }

    /// `repo OWNER/REPO`, `environment OWNER/REPO:ENV` or `org ORG`, for messages.
    pub fn describe(&self) -> String {
        match (&self.repository, &self.environment, &self.organization) {
            (Some(r), Some(e), _) => format!("github-actions {r} environment {e}"),
            (Some(r), None, _) => format!("github-actions {r}"),
            (_, _, Some(o)) => format!("github-actions org {o}"),
            _ => "github-actions".into(),
        }
    }
}

/// GitLab variable keys: letters, digits and `_`, at most 255.
fn validate_gitlab_key(key: &str) -> Result<(), ValidationError> {
    if !key.is_empty() && key.len() <= 255 && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(());
    }
    Err(bad(
        "GitLab variable name",
        format!("{key:?} is not a valid key"),
        "letters, digits and _, e.g. AWS_ACCESS_KEY_ID",
    ))
}

impl GitlabTarget {
    /// Checks the target as a whole.
    pub fn validate(&self) -> Result<(), ValidationError> {
        const F: &str = "GitLab target";
        validate_api_url(&self.url, F)?;
        let path_ok = !self.path.is_empty()
            && self.path.len() <= 1024
            && !self.path.starts_with('/')
            && !self.path.ends_with('/')
            && self.path.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
            && self.path.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        if !path_ok {
            return Err(bad(
                F,
                format!("{:?} is not a project or group id or path", self.path),
                "use --gitlab-project GROUP/PROJECT (or its numeric id) or --gitlab-group GROUP",
            ));
        }
        let scope_ok = !self.environment_scope.is_empty()
            && self.environment_scope.len() <= 255
            && !self.environment_scope.chars().any(char::is_control);
        if !scope_ok {
            return Err(bad(F, "an empty environment scope", "use * (all environments) or an environment name"));
        }
        validate_gitlab_key(&self.key_id_name)?;
        validate_gitlab_key(&self.secret_name)?;
        if self.key_id_name == self.secret_name {
            return Err(bad(F, "the key id and the secret would be one variable", "give two different names"));
        }
        token_source(self.token_env.as_ref(), self.token_file.as_ref(), "GitLab token")?;
        validate_timeout(self.timeout_ms, F)?;
        self.format.as_ref().map_or(Ok(()), ValueFormat::validate)
    }

    /// For messages.
    pub fn describe(&self) -> String {
        let kind = match self.scope {
            GitlabScope::Project => "project",
            GitlabScope::Group => "group",
        };
        format!("gitlab {kind} {}", self.path)
    }
}

/// A DNS-1123 subdomain (Kubernetes object names) or label (namespaces: `max` 63).
fn dns_name(v: &str, max: usize) -> bool {
    !v.is_empty()
        && v.len() <= max
        && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && v.starts_with(|c: char| c.is_ascii_alphanumeric())
        && v.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Secret data keys: letters, digits, `-`, `_`, `.`.
fn secret_key_ok(k: &str) -> bool {
    !k.is_empty() && k.len() <= 253 && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl KubernetesTarget {
    /// Checks the target as a whole.
    pub fn validate(&self) -> Result<(), ValidationError> {
        const F: &str = "Kubernetes target";
        if !dns_name(&self.namespace, 63) || self.namespace.contains('.') {
            return Err(bad(F, format!("{:?} is not a namespace", self.namespace), "use --k8s-secret NAMESPACE/NAME"));
        }
        if !dns_name(&self.name, 253) {
            return Err(bad(
                F,
                format!("{:?} is not a Secret name", self.name),
                "use --k8s-secret NAMESPACE/NAME (lower-case DNS name)",
            ));
        }
        for k in [&self.key_id_key, &self.secret_key] {
            if !secret_key_ok(k) {
                return Err(bad(F, format!("{k:?} is not a Secret data key"), "letters, digits, -, _ and ."));
            }
        }
        if self.key_id_key == self.secret_key {
            return Err(bad(F, "the key id and the secret would be one data key", "give two different keys"));
        }
        if let Some(path) = &self.kubeconfig {
            if !path.starts_with('/') {
                return Err(bad(
                    F,
                    format!("kubeconfig {path:?} is not an absolute path"),
                    "give the kubeconfig's path",
                ));
            }
            crate::webhook::check_key_source(None, Some(path), "kubeconfig")?;
        } else if self.context.is_some() {
            return Err(bad(F, "a context without a kubeconfig", "give --k8s-kubeconfig PATH too"));
        }
        if let Some(c) = &self.context {
            if c.is_empty() || c.chars().any(char::is_control) {
                return Err(bad(F, "an empty context name", "name a context of the kubeconfig"));
            }
        }
        for d in &self.restart {
            if !dns_name(d, 253) {
                return Err(bad(
                    F,
                    format!("{d:?} is not a Deployment name"),
                    "use --k8s-restart NAME (a Deployment of the Secret's namespace)",
                ));
            }
        }
        validate_timeout(self.timeout_ms, F)?;
        self.format.as_ref().map_or(Ok(()), ValueFormat::validate)
    }

    /// For messages.
    pub fn describe(&self) -> String {
        format!("kubernetes secret {}/{}", self.namespace, self.name)
    }
}

impl ManualTarget {
    /// Checks the target as a whole.
    pub fn validate(&self) -> Result<(), ValidationError> {
        const F: &str = "manual target";
        if self.instructions.trim().is_empty()
            || self.instructions.len() > 500
            || self.instructions.chars().any(char::is_control)
        {
            return Err(bad(
                F,
                "instructions must be 1 to 500 printable characters",
                "say where the key is entered, e.g. --manual \"SendGrid > Settings > SMTP\"",
            ));
        }
        // Between a minute and a year: a shorter wait cannot be met by a person, a longer one
        // keeps a verified, unused key alive for no one.
        if !(60_000..=366 * 86_400_000).contains(&self.deadline_ms) {
            return Err(bad(
                F,
                format!("deadline {} ms", self.deadline_ms),
                "use --manual-deadline between 1m and 366d, e.g. 2d",
            ));
        }
        self.format.as_ref().map_or(Ok(()), ValueFormat::validate)
    }
}

impl std::str::FromStr for OnDeadline {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "abort" => Ok(Self::Abort),
            "notify" => Ok(Self::Notify),
            _ => Err(bad("--manual-on-deadline", format!("{s:?}"), "use abort or notify")),
        }
    }
}

impl std::str::FromStr for OrgVisibility {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "private" => Ok(Self::Private),
            "all" => Ok(Self::All),
            _ => Err(bad("--github-visibility", format!("{s:?}"), "use private or all")),
        }
    }
}

#[cfg(test)]
mod tests;
