//! `account set` options of the delivery targets that reach CI secret stores, clusters and
//! people (GitHub Actions, GitLab CI/CD, Kubernetes, manual), and the SES SMTP format.

use crate::cli::{duration_ms, hinted, whole};
use clap::Args;
use rekey_domain::{
    targets::{OnDeadline, OrgVisibility},
    PastDeadline, Retirement, Whole,
};

#[derive(Debug, Args, Default)]
pub struct DeliveryArgs {
    /// Deliver to GitHub Actions secrets of this repository (OWNER/REPO)
    #[arg(long, value_name = "OWNER/REPO", conflicts_with = "github_org", help_heading = "GitHub Actions target")]
    pub github_repo: Option<String>,
    /// ... of this environment of --github-repo
    #[arg(long, value_name = "NAME", requires = "github_repo", help_heading = "GitHub Actions target")]
    pub github_environment: Option<String>,
    /// Deliver to GitHub Actions secrets of this organization
    #[arg(long, value_name = "ORG", help_heading = "GitHub Actions target")]
    pub github_org: Option<String>,
    /// Which repositories see the organization secrets: private or all
    #[arg(
        long,
        value_name = "VISIBILITY",
        requires = "github_org",
        value_parser = hinted::<OrgVisibility>,
        help_heading = "GitHub Actions target"
    )]
    pub github_visibility: Option<OrgVisibility>,
    /// GitHub API base URL (GitHub Enterprise Server: https://HOST/api/v3)
    #[arg(long, value_name = "URL", default_value = rekey_domain::targets::GITHUB_API, help_heading = "GitHub Actions target")]
    pub github_api_url: String,
    /// Environment variable holding the GitHub token (read at each send, never stored)
    #[arg(long, value_name = "NAME", conflicts_with = "github_token_file", help_heading = "GitHub Actions target")]
    pub github_token_env: Option<String>,
    /// File holding the GitHub token (read at each send, never stored)
    #[arg(long, value_name = "PATH", help_heading = "GitHub Actions target")]
    pub github_token_file: Option<String>,

    /// Deliver to CI/CD variables of this GitLab project (GROUP/PROJECT or id)
    #[arg(long, value_name = "PATH", conflicts_with = "gitlab_group", help_heading = "GitLab CI/CD target")]
    pub gitlab_project: Option<String>,
    /// Deliver to CI/CD variables of this GitLab group (path or id)
    #[arg(long, value_name = "PATH", help_heading = "GitLab CI/CD target")]
    pub gitlab_group: Option<String>,
    /// GitLab instance URL
    #[arg(long, value_name = "URL", default_value = rekey_domain::targets::GITLAB_URL, help_heading = "GitLab CI/CD target")]
    pub gitlab_url: String,
    /// Environment scope of the variables (* for all)
    #[arg(long, value_name = "SCOPE", default_value = "*", help_heading = "GitLab CI/CD target")]
    pub gitlab_environment_scope: String,
    /// Mask the variables in job logs
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, help_heading = "GitLab CI/CD target")]
    pub gitlab_masked: bool,
    /// Export the variables to protected branches and tags only
    #[arg(long, value_name = "BOOL", default_value_t = false, action = clap::ArgAction::Set, help_heading = "GitLab CI/CD target")]
    pub gitlab_protected: bool,
    /// Environment variable holding the GitLab token (read at each send, never stored)
    #[arg(long, value_name = "NAME", conflicts_with = "gitlab_token_file", help_heading = "GitLab CI/CD target")]
    pub gitlab_token_env: Option<String>,
    /// File holding the GitLab token (read at each send, never stored)
    #[arg(long, value_name = "PATH", help_heading = "GitLab CI/CD target")]
    pub gitlab_token_file: Option<String>,

    /// Deliver to this Kubernetes Secret (NAMESPACE/NAME)
    #[arg(long, value_name = "NAMESPACE/NAME", help_heading = "Kubernetes target")]
    pub k8s_secret: Option<String>,
    /// Kubeconfig to reach the cluster (default: the pod's service account)
    #[arg(long, value_name = "PATH", requires = "k8s_secret", help_heading = "Kubernetes target")]
    pub k8s_kubeconfig: Option<String>,
    /// Context of --k8s-kubeconfig (default: its current context)
    #[arg(long, value_name = "NAME", requires = "k8s_kubeconfig", help_heading = "Kubernetes target")]
    pub k8s_context: Option<String>,
    /// Restart this Deployment of the Secret's namespace after the write (repeatable)
    #[arg(
        long = "k8s-restart",
        value_name = "DEPLOYMENT",
        requires = "k8s_secret",
        help_heading = "Kubernetes target"
    )]
    pub k8s_restart: Vec<String>,

    /// Name of the secret, variable or data key holding the access key id
    #[arg(long, value_name = "NAME", default_value = rekey_domain::targets::DEFAULT_KEY_ID_NAME, help_heading = "GitHub, GitLab and Kubernetes targets")]
    pub key_id_name: String,
    /// Name of the secret, variable or data key holding the secret access key (or SMTP password)
    #[arg(long, value_name = "NAME", default_value = rekey_domain::targets::DEFAULT_SECRET_NAME, help_heading = "GitHub, GitLab and Kubernetes targets")]
    pub secret_name: String,
    /// Give up on one API request after this long (three attempts in all)
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        value_parser = duration_ms,
        help_heading = "GitHub, GitLab and Kubernetes targets"
    )]
    pub api_timeout: u64,

    /// A manual target: where an operator enters the key (confirmed with `rekey rotation confirm`)
    #[arg(long, value_name = "INSTRUCTIONS", help_heading = "Manual target")]
    pub manual: Option<String>,
    /// How long a rotation waits for the confirmation
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "2d",
        requires = "manual",
        value_parser = duration_ms,
        help_heading = "Manual target"
    )]
    pub manual_deadline: u64,
    /// Past the deadline: abort (delete the new key) or notify (tell the owner, keep waiting)
    #[arg(
        long,
        value_name = "ACTION",
        default_value = "abort",
        requires = "manual",
        value_parser = hinted::<OnDeadline>,
        help_heading = "Manual target"
    )]
    pub manual_on_deadline: OnDeadline,

    /// The targets added by this command receive the SES SMTP password for REGION instead of the secret access key
    #[arg(long, value_name = "REGION")]
    pub ses_smtp_region: Option<String>,
}

/// `rekey incident`.
/// A value parser for `--target-kind`: one of the kinds a delivery target has (an unknown one
/// would select nothing and read as "not found").
fn target_kind(s: &str) -> Result<String, String> {
    if rekey_domain::Target::KINDS.contains(&s) {
        return Ok(s.to_owned());
    }
    Err(format!(
        "{} is not a delivery target kind\n  hint: use one of {}",
        rekey_domain::error::quote(s),
        rekey_domain::Target::KINDS.join(", ")
    ))
}

/// `incident --concurrency`.
const INCIDENT_CONCURRENCY: Whole = Whole::new(1, 256, 16, "an incident rotates", "accounts at once");

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["accounts", "all", "folder", "provider", "target_kind", "target"])))]
pub struct IncidentArgs {
    /// Account ids or PROVIDER/USER/KIND
    pub accounts: Vec<String>,
    /// Every account
    #[arg(long)]
    pub all: bool,
    /// Every account in this folder (and its sub-folders)
    #[arg(long)]
    pub folder: Option<String>,
    /// Every account of this provider
    #[arg(long)]
    pub provider: Option<String>,
    /// Only accounts with a delivery target of this kind (github-actions, gitlab, kubernetes, webhook …)
    #[arg(long, value_name = "KIND", value_parser = target_kind)]
    pub target_kind: Option<String>,
    /// Only accounts with a delivery target whose description contains TEXT (e.g. "org acme", "acme/")
    #[arg(long, value_name = "TEXT")]
    pub target: Option<String>,
    /// Why (recorded in the audit event)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Rotate without asking (required when standard input is not a terminal)
    #[arg(long)]
    pub yes: bool,
    /// How many accounts to work on at once
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = whole::<u16>(INCIDENT_CONCURRENCY))]
    pub concurrency: u16,
}

/// `account set` options of the previous key's retirement by confirmed cut-over.
#[derive(Debug, Args, Default)]
pub struct RetirementArgs {
    /// How the previous key's retirement is decided: grace (after the grace periods) or confirmed (also only once IAM shows the new key used and the old one not)
    #[arg(long, value_name = "MODE", value_parser = hinted::<Retirement>)]
    pub retirement: Option<Retirement>,
    /// Confirmed cut-over: how long to wait for the evidence (default 14d)
    #[arg(long, value_name = "DURATION", value_parser = duration_ms)]
    pub cutover_deadline: Option<u64>,
    /// Confirmed cut-over, past the deadline: wait (keep waiting, owner told) or proceed (retire anyway)
    #[arg(long, value_name = "ACTION", value_parser = hinted::<PastDeadline>)]
    pub cutover_past_deadline: Option<PastDeadline>,
}
