//! The command line: clap definitions only. Each command group's behaviour lives in `cmd/`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// rekey — a self-hosted manager for privileged AWS IAM credentials.
#[derive(Debug, Parser)]
#[command(
    name = "rekey",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("REKEY_COMMIT"), ")"),
    about,
    propagate_version = true,
    max_term_width = 100
)]
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
    /// Read the vault passphrase from this file (takes precedence over REKEY_PASSPHRASE; else a prompt on a TTY)
    #[arg(long, env = "REKEY_PASSPHRASE_FILE", global = true, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,
    /// Master key file (64 hex characters); at init, created if it does not exist
    #[arg(long, env = "REKEY_KEY_FILE", global = true, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Output format [default: table]
    #[arg(long, short = 'o', env = "REKEY_OUTPUT", global = true, value_enum)]
    pub output: Option<Format>,
    /// Tables: never cut long columns to the terminal's width
    #[arg(long, global = true)]
    pub wide: bool,
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
    /// Rotate credentials now
    Rotate(RotateArgs),
    /// Incident: rotate every selected key at once, old keys deactivated as soon as the new ones are delivered
    Incident(crate::cli_targets::IncidentArgs),
    /// Resume or roll back every unfinished rotation
    Recover,
    /// Check that stored credentials still work and IAM has not drifted
    Heartbeat(Selection),
    /// Do everything due now: scheduled rotations, retirements, heartbeats (for cron/systemd)
    RunDue(RunDueArgs),
    /// Make the previous access key current again (re-activating it)
    Rollback {
        /// Account id or PROVIDER/USER/KIND
        account: String,
    },
    /// Inspect rotations
    #[command(subcommand)]
    Rotation(RotationCmd),
    /// List every IAM user and credential of providers, and import them as accounts
    Discover(DiscoverArgs),
    /// Compliance report: age, use, MFA, foreign keys, heartbeats (exit 9 when findings exist)
    Report(ReportArgs),
    /// Print the least-privilege IAM policy a provider's principal needs
    Policy {
        /// Only this provider's accounts (default: all)
        #[arg(long)]
        provider: Option<String>,
        /// Credential kinds to cover, comma-separated
        #[arg(long, value_delimiter = ',', default_value = "password,access-key")]
        kinds: Vec<String>,
        /// Add what discovery and import need (credential report, every user readable)
        #[arg(long)]
        with_discovery: bool,
        /// Add what the configured delivery targets need in AWS
        #[arg(long)]
        with_delivery: bool,
        /// The kind of policy to fit the size of: managed (6,144 characters), user-inline (2,048),
        /// group-inline (5,120) or role-inline (10,240)
        #[arg(long, default_value = "managed")]
        fit: String,
        /// How the managed users are named: auto (their ARNs while they fit, else their path),
        /// arns, path, or tag:KEY=VALUE (every user carrying that tag)
        #[arg(long, default_value = "auto")]
        scope: String,
        /// Split the users' ARNs over as many documents as fit (printed as a JSON array)
        #[arg(long)]
        split: bool,
    },
    /// Read the audit log
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Run the server: scheduler, REST API, health and metrics (stops cleanly on SIGTERM)
    Serve(ServeArgs),
    /// Manage API tokens for the server
    #[command(subcommand)]
    Token(TokenCmd),
    /// Vault maintenance
    #[command(subcommand)]
    Vault(VaultCmd),
}

#[derive(Debug, Subcommand)]
pub enum VaultCmd {
    /// Authenticate the contents of a vault written by an older rekey (once, after reviewing its
    /// providers, accounts, delivery targets and tokens): every row gets its MAC, the audit
    /// chain its keyed links from here on, the header its key check
    Upgrade,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8270; config key `listen`, env REKEY_LISTEN)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// TOML configuration file (unknown keys are rejected)
    #[arg(long, value_name = "FILE", env = "REKEY_CONFIG")]
    pub config: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (with --tls-key)
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Create a token; it is printed once and only its hash is stored
    Create {
        /// admin, operator or auditor
        #[arg(long)]
        role: String,
        /// A label for people
        #[arg(long)]
        name: String,
        /// Confine the token to this folder (and sub-folders); repeatable
        #[arg(long = "folder", value_name = "FOLDER")]
        folders: Vec<String>,
        /// Lifetime, e.g. 30d (default: no expiry)
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// List tokens (never their secrets)
    List,
    /// Revoke a token by id
    Revoke {
        /// Token id (the part after `rk_`)
        id: String,
    },
}

/// Which accounts a command acts on.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["accounts", "all", "folder", "provider"])))]
pub struct Selection {
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
    /// How many accounts to work on at once (one lease per account)
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Print what would be done (read-only IAM calls), change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// If no key slot is free, allow deleting an INACTIVE key that is not this account's (untagged,
    /// another vault's, or made by a state this vault does not have); never one another account
    /// of this vault holds
    #[arg(long)]
    pub reclaim_foreign: bool,
    /// Rotate a password someone has checked out (audited; the copy they hold stops working)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["providers", "all"])))]
pub struct DiscoverArgs {
    /// Provider names
    pub providers: Vec<String>,
    /// Every provider
    #[arg(long)]
    pub all: bool,
    /// Ask user by user instead of reading the credential report
    #[arg(long)]
    pub per_user: bool,
    /// Create accounts for the discovered credentials rekey does not manage yet
    #[arg(long)]
    pub import: bool,
    /// What to import: password, access-key or both
    #[arg(long, default_value = "both", requires = "import")]
    pub kind: String,
    /// Folder for imported accounts
    #[arg(long, requires = "import")]
    pub folder: Option<String>,
    /// Import only users whose name matches this glob: * ? [a-z] [!a-z] {a,b}
    #[arg(long, requires = "import")]
    pub filter: Option<String>,
    /// Rotate imported accounts at once, so the vault knows their secrets
    #[arg(long, requires = "import")]
    pub reset_on_import: bool,
    /// Users tagged KEY=true are exempt (listed, never imported)
    #[arg(long, default_value = "rekey:exempt")]
    pub exempt_tag: String,
    /// KEY=OWNER names a user's owner
    #[arg(long, default_value = "rekey:owner")]
    pub owner_tag: String,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only this provider (default: all)
    #[arg(long)]
    pub provider: Option<String>,
    /// Credentials older than this are overdue
    #[arg(long, default_value = "90d")]
    pub max_age: String,
    /// Credentials not used within this window are unused
    #[arg(long, default_value = "90d")]
    pub unused: String,
    /// Report format (overrides --output): table, json, csv or html
    #[arg(long)]
    pub format: Option<String>,
    /// Write the report to this file instead of standard output
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
    /// Users tagged KEY=true are exempt (left out of the report)
    #[arg(long, default_value = "rekey:exempt")]
    pub exempt_tag: String,
    /// KEY=OWNER names a user's owner
    #[arg(long, default_value = "rekey:owner")]
    pub owner_tag: String,
}

#[derive(Debug, Args)]
pub struct RunDueArgs {
    /// Run once and exit (otherwise repeat every --interval until stopped)
    #[arg(long)]
    pub once: bool,
    /// Time between runs without --once
    #[arg(long, default_value = "60s")]
    pub interval: String,
    /// Heartbeat accounts whose last heartbeat is older than this
    #[arg(long, default_value = "24h")]
    pub heartbeat_every: String,
    /// How many accounts to work on at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
}

#[derive(Debug, Subcommand)]
pub enum RotationCmd {
    /// List rotations, newest first
    List {
        /// Only this account
        #[arg(long)]
        account: Option<String>,
        /// Only unfinished rotations
        #[arg(long)]
        open: bool,
        /// At most this many
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Show one rotation with its phases
    Show {
        /// Rotation id
        id: String,
    },
    /// Abandon an unfinished rotation that has not committed (its new key is deleted)
    Abort {
        /// Rotation id
        id: String,
    },
    /// Print the value a rotation waiting for its manual delivery needs entered (audited)
    Reveal {
        /// Rotation id
        id: String,
    },
    /// Confirm that a manual delivery is done: the rotation commits and goes on (audited)
    Confirm {
        /// Rotation id
        id: String,
    },
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
    /// Add one assume-role provider per active account of an AWS Organization (idempotent)
    AddOrg {
        /// Name prefix: providers are named PREFIX-ACCOUNTID
        name: String,
        /// The role to assume in each account
        #[arg(long)]
        role_name: String,
        /// External id for AssumeRole
        #[arg(long)]
        external_id: Option<String>,
        /// The management account's provider (signs ListAccounts and AssumeRole)
        #[arg(long)]
        source: String,
        /// Account ids to leave out (repeat or comma-separate)
        #[arg(long, value_delimiter = ',')]
        exclude: Vec<String>,
    },
    /// Check a provider's credentials with sts:GetCallerIdentity
    Test {
        /// Provider name
        name: String,
        /// Also simulate every action its accounts need (iam:SimulatePrincipalPolicy)
        #[arg(long)]
        preflight: bool,
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
    /// Add the provider without testing its credentials (by default one STS GetCallerIdentity
    /// must succeed first)
    #[arg(long)]
    pub no_test: bool,
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
    /// Change rotation settings, folder or title
    Set(Box<AccountSetArgs>),
    /// Make an account due now: the next run-due or scheduler tick rotates it (audited)
    Due {
        /// Account id or PROVIDER/USER/KIND
        account: String,
    },
    /// Print the current secret (audited)
    Reveal {
        /// Account id or PROVIDER/USER/KIND
        account: String,
        /// Reveal a password someone else has checked out (audited)
        #[arg(long)]
        force: bool,
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
    /// With --create: create the key even though the user holds another key this account will
    /// not own (rotations then fail until that key is gone)
    #[arg(long, requires = "create")]
    pub allow_no_free_slot: bool,
}

#[derive(Debug, Args)]
pub struct AccountSetArgs {
    /// Account id or PROVIDER/USER/KIND
    pub account: String,
    /// Rotate every interval, e.g. 90d
    #[arg(long, value_name = "DURATION")]
    pub every: Option<String>,
    /// Rotate on a cron schedule (5 fields, UTC), e.g. "0 3 1 * *"
    #[arg(long, value_name = "SPEC")]
    pub cron: Option<String>,
    /// Remove the schedule (interval and cron)
    #[arg(long, conflicts_with_all = ["every", "cron"])]
    pub no_schedule: bool,
    /// Report the credential as overdue past this age
    #[arg(long, value_name = "DURATION")]
    pub max_age: Option<String>,
    /// What happens to the previous access key: deactivate, delete or keep
    #[arg(long, value_name = "POLICY")]
    pub previous_key: Option<String>,
    /// Grace before the previous key is deactivated
    #[arg(long, value_name = "DURATION")]
    pub deactivate_after: Option<String>,
    /// Grace between deactivation and deletion (policy delete)
    #[arg(long, value_name = "DURATION")]
    pub delete_after: Option<String>,
    /// Retire the previous key only if IAM shows no use of it since the cut-over
    #[arg(long, value_name = "BOOL")]
    pub retire_only_if_unused: Option<bool>,
    /// Length of generated passwords (8-128)
    #[arg(long, value_name = "N")]
    pub password_length: Option<u8>,
    /// Symbols generated passwords may use (a subset of IAM's)
    #[arg(long, value_name = "CHARS")]
    pub password_symbols: Option<String>,
    /// Include symbols in generated passwords (false: none, unless IAM's policy requires them)
    #[arg(long, value_name = "BOOL")]
    pub password_use_symbols: Option<bool>,
    /// Create the console password if the user has none
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub create_login_profile: Option<bool>,
    /// Consecutive GetCallerIdentity successes that verify a new key
    #[arg(long, value_name = "N")]
    pub verify_successes: Option<u32>,
    /// Abort the rotation if the new key has not verified within this time
    #[arg(long, value_name = "DURATION")]
    pub verify_deadline: Option<String>,
    /// First backoff between verification attempts
    #[arg(long, value_name = "DURATION")]
    pub verify_backoff: Option<String>,
    /// Deliver new access keys to this AWS credentials file (with --profile)
    #[arg(long, value_name = "PATH", requires = "profile")]
    pub credentials_file: Option<String>,
    /// Profile in --credentials-file
    #[arg(long, value_name = "NAME", requires = "credentials_file")]
    pub profile: Option<String>,
    /// Deliver new access keys to this AWS Secrets Manager secret (created if missing)
    #[arg(long, value_name = "SECRET_ID")]
    pub secrets_manager: Option<String>,
    /// Deliver new access keys to this SSM Parameter Store SecureString
    #[arg(long, value_name = "NAME")]
    pub ssm_parameter: Option<String>,
    /// Run this post-rotation script for new access keys (JSON with the secret on its stdin)
    #[arg(long, value_name = "PATH")]
    pub script: Option<String>,
    /// An argument for --script (repeatable; never put secrets here)
    #[arg(long = "script-arg", value_name = "ARG", requires = "script", allow_hyphen_values = true)]
    pub script_args: Vec<String>,
    /// Kill the script after this long
    #[arg(long, value_name = "DURATION", default_value = "30s", requires = "script")]
    pub script_timeout: String,
    /// POST a signed JSON notice of each new access key to this URL (HMAC-SHA256, see README)
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Environment variable holding the --webhook HMAC key (read at each send, never stored)
    #[arg(long, value_name = "NAME", requires = "webhook", conflicts_with = "webhook_key_file")]
    pub webhook_key_env: Option<String>,
    /// File holding the --webhook HMAC key (read at each send, never stored)
    #[arg(long, value_name = "PATH", requires = "webhook")]
    pub webhook_key_file: Option<String>,
    /// Put the secret in the --webhook body (off: the receiver learns the new key id only)
    #[arg(long, requires = "webhook")]
    pub webhook_include_secret: bool,
    /// Give up on one --webhook attempt after this long (three attempts in all)
    #[arg(long, value_name = "DURATION", default_value = "10s", requires = "webhook")]
    pub webhook_timeout: String,
    #[command(flatten)]
    pub retirement: crate::cli_targets::RetirementArgs,
    #[command(flatten)]
    pub delivery: crate::cli_targets::DeliveryArgs,
    /// Remove all delivery targets
    #[arg(long)]
    pub clear_targets: bool,
    /// Move to this folder ("" clears it)
    #[arg(long)]
    pub folder: Option<String>,
    /// New title ("" clears it)
    #[arg(long = "name", value_name = "TITLE")]
    pub title: Option<String>,
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
    /// Walk the hash chain and report the first broken link (exit 8 if there is one), and the
    /// head and event count to keep outside the database as anchors
    Verify {
        /// The head hash printed by an earlier verify (or sent with an export batch): exit 8
        /// unless an event of the chain still has it
        #[arg(long, value_name = "HASH")]
        expect_head: Option<String>,
        /// The event count printed by an earlier verify: exit 8 if the chain holds fewer
        #[arg(long, value_name = "N")]
        expect_count: Option<i64>,
    },
    /// Print the chain's head hash and event count (the anchor to keep outside the database)
    Head,
}
