//! The command line: clap definitions only. Each command group's behaviour lives in `cmd/`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// rekey — a self-hosted manager for privileged AWS IAM credentials.
#[derive(Debug, Parser)]
#[command(name = "rekey", version, about, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// Vault location: sqlite:PATH or postgres://USER@HOST:PORT/DB
    /// [default: sqlite:$REKEY_HOME/vault.db, else the platform data directory]
    #[arg(long, env = "REKEY_VAULT", global = true, value_name = "URL")]
    pub vault: Option<String>,
    /// Read the vault passphrase from this file (else REKEY_PASSPHRASE, else a prompt on a TTY)
    #[arg(long, env = "REKEY_PASSPHRASE_FILE", global = true, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,
    /// Master key file (64 hex characters); at init, created if it does not exist
    #[arg(long, env = "REKEY_KEY_FILE", global = true, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Output format [default: table]
    #[arg(long, short = 'o', env = "REKEY_OUTPUT", global = true, value_enum)]
    pub output: Option<Format>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON (stable field names, documented in the README).
    Json,
    /// Comma-separated values with a header row.
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new vault
    Init(InitArgs),
    /// Manage providers (AWS account connections)
    #[command(subcommand)]
    Provider(ProviderCmd),
    /// Manage accounts (IAM user credentials)
    #[command(subcommand)]
    Account(AccountCmd),
    /// Read the audit log
    #[command(subcommand)]
    Audit(AuditCmd),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Protect the vault key with this AWS KMS key (id, ARN or alias) instead of a passphrase
    #[arg(long, value_name = "KEY", conflicts_with = "key_file")]
    pub kms_key_id: Option<String>,
    /// Region of the KMS key [default: AWS_REGION, else us-east-1]
    #[arg(long, value_name = "REGION", requires = "kms_key_id")]
    pub kms_region: Option<String>,
    /// Endpoint URL for KMS (an emulator)
    #[arg(long, value_name = "URL", requires = "kms_key_id")]
    pub kms_endpoint_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ProviderCmd {
    /// Add a provider
    Add(ProviderAddArgs),
    /// List providers
    List,
    /// Show one provider
    Show {
        /// Provider name
        name: String,
    },
    /// Remove a provider (refused while accounts use it)
    Remove {
        /// Provider name
        name: String,
    },
    /// Check a provider's credentials with sts:GetCallerIdentity
    Test {
        /// Provider name
        name: String,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("auth").required(true).args(["access_key_id", "default_chain", "role_arn"])))]
pub struct ProviderAddArgs {
    /// Provider name (letters, digits, '.', '_', '-')
    pub name: String,
    /// AWS region, e.g. us-east-1
    #[arg(long)]
    pub region: String,
    /// Endpoint URL override (emulators, partitions)
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Authenticate with this static access key (secret from --secret-stdin or a prompt)
    #[arg(long, value_name = "ID")]
    pub access_key_id: Option<String>,
    /// Read the secret access key from standard input
    #[arg(long, requires = "access_key_id")]
    pub secret_stdin: bool,
    /// Authenticate with the AWS default credential chain (env, profile, SSO, instance role)
    #[arg(long)]
    pub default_chain: bool,
    /// Assume this IAM role
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// External id for AssumeRole
    #[arg(long, value_name = "ID", requires = "role_arn")]
    pub external_id: Option<String>,
    /// Provider whose credentials call AssumeRole [default: the default chain]
    #[arg(long, value_name = "NAME", requires = "role_arn")]
    pub source: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    /// Add an account
    Add(AccountAddArgs),
    /// List accounts
    List {
        /// Only this folder and its sub-folders
        #[arg(long)]
        folder: Option<String>,
        /// Only this provider
        #[arg(long)]
        provider: Option<String>,
    },
    /// Show one account
    Show {
        /// Account id or PROVIDER/USER/KIND
        account: String,
    },
    /// Print the current secret (audited)
    Reveal {
        /// Account id or PROVIDER/USER/KIND
        account: String,
    },
    /// Remove an account from the vault (IAM is left untouched)
    Remove {
        /// Account id or PROVIDER/USER/KIND
        account: String,
        /// Also delete the access key in IAM, if rekey created it
        #[arg(long)]
        delete_managed_key: bool,
    },
}

#[derive(Debug, Args)]
pub struct AccountAddArgs {
    /// Provider name
    #[arg(long)]
    pub provider: String,
    /// IAM user name
    #[arg(long)]
    pub user: String,
    /// Credential kind: password or access-key
    #[arg(long)]
    pub kind: String,
    /// Folder, e.g. prod/payments
    #[arg(long)]
    pub folder: Option<String>,
    /// Human title
    #[arg(long = "name", value_name = "TITLE")]
    pub title: Option<String>,
    /// Adopt this existing access key (its secret from --secret-stdin)
    #[arg(long, value_name = "ID", conflicts_with = "create")]
    pub access_key_id: Option<String>,
    /// Read the current secret (password or secret access key) from standard input
    #[arg(long)]
    pub secret_stdin: bool,
    /// Create a fresh access key that rekey manages
    #[arg(long)]
    pub create: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// List audit events
    List {
        /// Only events at or after this time: RFC 3339, a date (2026-01-31), or an age (30m, 12h, 7d)
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// At most this many events
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
}
