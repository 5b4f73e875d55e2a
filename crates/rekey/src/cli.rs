//! The command line's top: the global options, the list of commands, and the arguments of the
//! commands whose handlers share them (selections, rotate, discover, report, run-due, init,
//! serve). A command group with arguments of its own keeps them beside its handler in `cmd/`
//! (cargo-style), e.g. `cmd/account/`, `cmd/audit.rs`, `cmd/token.rs`.

use crate::cmd;
use clap::{Args, Parser, Subcommand, ValueEnum};
use rekey_domain::{error::quote, CredentialKind, DurationMs, Folder, ProviderName, ValidationError, Whole};
use rekey_engine::AccountRef;
use std::{path::PathBuf, str::FromStr};

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

/// Options every command accepts (listed after a command's own options in its `--help`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
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
    Provider(cmd::provider::ProviderCmd),
    /// Manage accounts (IAM user credentials)
    #[command(subcommand)]
    Account(cmd::account::AccountCmd),
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
    Rollback(cmd::rollback::RollbackArgs),
    /// Inspect rotations
    #[command(subcommand)]
    Rotation(cmd::rotation::RotationCmd),
    /// List every IAM user and credential of providers, and import them as accounts
    Discover(DiscoverArgs),
    /// Compliance report: age, use, MFA, foreign keys, heartbeats (exit 9 when findings exist)
    Report(ReportArgs),
    /// Print the least-privilege IAM policy a provider's principal needs
    Policy(cmd::policy::PolicyArgs),
    /// Read the audit log
    #[command(subcommand)]
    Audit(cmd::audit::AuditCmd),
    /// Run the server: scheduler, REST API, health and metrics (stops cleanly on SIGTERM)
    Serve(ServeArgs),
    /// Manage API tokens for the server
    #[command(subcommand)]
    Token(cmd::token::TokenCmd),
    /// Vault maintenance
    #[command(subcommand)]
    Vault(VaultCmd),
    /// Print a shell completion script (bash, zsh, fish, powershell or elvish) to standard output
    Completions(cmd::docs::CompletionsArgs),
    /// Print the manual page (roff) to standard output, or write one page per command with --dir
    Man(cmd::docs::ManArgs),
}

/// A value parser for a domain type whose parse error carries a hint: clap reports the error
/// with its `hint:` line, exit 2, before anything runs.
pub fn hinted<T>(s: &str) -> Result<T, String>
where
    T: FromStr<Err = ValidationError>,
{
    s.parse::<T>().map_err(|e| format!("{e}\n  hint: {}", e.hint))
}

/// A value parser for account references (an id or `PROVIDER/USER/KIND`), with the hint of
/// the error.
pub fn account_ref(s: &str) -> Result<AccountRef, String> {
    s.parse::<AccountRef>().map_err(|e| match e.hint() {
        Some(h) => format!("{e}\n  hint: {h}"),
        None => e.to_string(),
    })
}

/// A value parser for a whole-number option: a value that is not a whole number, or is out of
/// range, is refused saying so, with the range and an example as its hint (not the parser's
/// "invalid digit found in string").
pub fn whole<T: TryFrom<u64> + Clone + Send + Sync + 'static>(
    w: Whole,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |s| w.read(s).map_err(|problem| format!("{problem}\n  hint: {}", w.allowed()))
}

/// `--concurrency` of the commands that work on many accounts.
pub const CONCURRENCY: Whole = Whole::new(1, 1024, 4, "rekey works on", "accounts at once");

/// A value parser for durations (`500ms`, `30s`, `15m`, `12h`, `90d`), in milliseconds.
pub fn duration_ms(s: &str) -> Result<u64, String> {
    rekey_domain::duration::parse_duration_ms(s).map_err(|e| format!("{e}\n  hint: {}", e.hint))
}

/// A value parser for the time between `run-due` runs, which must be longer than zero.
fn run_interval(s: &str) -> Result<DurationMs, String> {
    match hinted::<DurationMs>(s)? {
        d if d.ms() == 0 => Err(format!("{} is no pause between runs\n  hint: use e.g. 60s", quote(s))),
        d => Ok(d),
    }
}

/// A value parser for the report's `--max-age` and `--unused`, which must be longer than zero
/// (a zero age would make every credential overdue or unused; the API refuses 0 days too).
fn report_window(s: &str) -> Result<DurationMs, String> {
    match hinted::<DurationMs>(s)? {
        d if d.ms() == 0 => {
            Err(format!("{} is no age: every credential would be past it\n  hint: use e.g. 90d", quote(s)))
        }
        d => Ok(d),
    }
}

/// A value parser for name patterns (`rekey_domain::glob`), checked here and matched later.
fn glob(s: &str) -> Result<String, String> {
    rekey_domain::glob::Glob::new(s).map(|_| s.to_owned()).map_err(|e| format!("{e}\n  hint: {}", e.hint))
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
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = whole::<u16>(CONCURRENCY))]
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

/// What `discover --import` imports: one credential kind or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKinds {
    /// Passwords and access keys.
    Both,
    /// Credentials of this kind only.
    Only(CredentialKind),
}

impl ImportKinds {
    /// The kinds, passwords first.
    pub fn kinds(self) -> Vec<CredentialKind> {
        match self {
            Self::Both => vec![CredentialKind::Password, CredentialKind::AccessKey],
            Self::Only(k) => vec![k],
        }
    }
}

impl FromStr for ImportKinds {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "both" => Ok(Self::Both),
            _ => s.parse().map(Self::Only).map_err(|e: ValidationError| {
                ValidationError::new(e.field, e.problem, "use `password`, `access-key` or `both`")
            }),
        }
    }
}

/// `report --format`: an output format, or one self-contained HTML file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// One of the output formats of `--output`.
    Output(Format),
    /// A self-contained HTML page.
    Html,
}

impl FromStr for ReportFormat {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(Self::Output(Format::Table)),
            "json" => Ok(Self::Output(Format::Json)),
            "csv" => Ok(Self::Output(Format::Csv)),
            "html" => Ok(Self::Html),
            _ => Err(ValidationError::new(
                "report format",
                format!("{} is not a report format", quote(s)),
                "use table, json, csv or html",
            )),
        }
    }
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).multiple(true).args(["providers", "all"])))]
pub struct DiscoverArgs {
    /// Provider names
    #[arg(value_parser = hinted::<ProviderName>)]
    pub providers: Vec<ProviderName>,
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
    #[arg(long, value_name = "KIND", default_value = "both", requires = "import", value_parser = hinted::<ImportKinds>)]
    pub kind: ImportKinds,
    /// Folder for imported accounts
    #[arg(long, requires = "import", value_parser = hinted::<Folder>)]
    pub folder: Option<Folder>,
    /// Import only users whose name matches this glob: * ? [a-z] [!a-z] {a,b}
    #[arg(long, requires = "import", value_parser = glob)]
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
    #[arg(long, value_parser = hinted::<ProviderName>)]
    pub provider: Option<ProviderName>,
    /// Credentials older than this are overdue
    #[arg(long, value_name = "DURATION", default_value = "90d", value_parser = report_window)]
    pub max_age: DurationMs,
    /// Credentials not used within this window are unused
    #[arg(long, value_name = "DURATION", default_value = "90d", value_parser = report_window)]
    pub unused: DurationMs,
    /// Report format (overrides --output): table, json, csv or html
    #[arg(long, value_name = "FORMAT", value_parser = hinted::<ReportFormat>)]
    pub format: Option<ReportFormat>,
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
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = run_interval)]
    pub interval: DurationMs,
    /// Heartbeat accounts whose last heartbeat is older than this
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = hinted::<DurationMs>)]
    pub heartbeat_every: DurationMs,
    /// How many accounts to work on at once
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = whole::<u16>(CONCURRENCY))]
    pub concurrency: u16,
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
