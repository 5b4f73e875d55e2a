//! `rekey account set`: the options become a [`SettingsPatch`] (the type the API's `PATCH
//! …/settings` body becomes too) plus the delivery targets to add; every value is parsed by
//! clap before anything runs, and the settings they produce are validated as a whole by the
//! engine before anything is written.

use super::print_account;
use crate::{
    cli::{account_ref, duration_ms, hinted, whole, Format, Global},
    cli_targets::{DeliveryArgs, RetirementArgs},
    cmd::targets as delivery,
    context,
};
use clap::Args;
use rekey_domain::{
    password,
    settings::VERIFY_SUCCESSES,
    settings_patch::{parse_folder, parse_title},
    Folder, PreviousKeyPolicy, RotationSettings, SettingsPatch, Target,
};
use rekey_engine::{AccountChanges, AccountRef, Error, Result};

/// `--folder`: a folder, or `None` to take the account out of every folder (a newtype, since
/// clap reads a bare `Option<Option<_>>` as an option whose value may be left out).
#[derive(Debug, Clone)]
pub struct FolderChange(Option<Folder>);

/// `--name`: a title, or `None` to clear it.
#[derive(Debug, Clone)]
pub struct TitleChange(Option<String>);

fn folder_or_none(s: &str) -> std::result::Result<FolderChange, String> {
    parse_folder(s).map(FolderChange).map_err(|e| format!("{e}\n  hint: {}", e.hint))
}

fn title_or_none(s: &str) -> std::result::Result<TitleChange, String> {
    parse_title(s).map(TitleChange).map_err(|e| format!("{e}\n  hint: {}", e.hint))
}

fn cron(s: &str) -> std::result::Result<String, String> {
    rekey_domain::schedule::parse_cron(s).map(|_| s.to_owned()).map_err(|e| format!("{e}\n  hint: {}", e.hint))
}

#[derive(Debug, Args)]
pub struct AccountSetArgs {
    /// Account id or PROVIDER/USER/KIND
    #[arg(value_parser = account_ref)]
    pub account: AccountRef,
    /// Rotate every interval, e.g. 90d
    #[arg(long, value_name = "DURATION", value_parser = duration_ms)]
    pub every: Option<u64>,
    /// Rotate on a cron schedule (5 fields, UTC), e.g. "0 3 1 * *"
    #[arg(long, value_name = "SPEC", value_parser = cron)]
    pub cron: Option<String>,
    /// Remove the schedule (interval and cron)
    #[arg(long, conflicts_with_all = ["every", "cron"])]
    pub no_schedule: bool,
    /// Report the credential as overdue past this age
    #[arg(long, value_name = "DURATION", value_parser = duration_ms)]
    pub max_age: Option<u64>,
    /// What happens to the previous access key: deactivate, delete or keep
    #[arg(long, value_name = "POLICY", value_parser = hinted::<PreviousKeyPolicy>)]
    pub previous_key: Option<PreviousKeyPolicy>,
    /// Grace before the previous key is deactivated
    #[arg(long, value_name = "DURATION", value_parser = duration_ms)]
    pub deactivate_after: Option<u64>,
    /// Grace between deactivation and deletion (policy delete)
    #[arg(long, value_name = "DURATION", value_parser = duration_ms)]
    pub delete_after: Option<u64>,
    /// Retire the previous key only if IAM shows no use of it since the cut-over
    #[arg(long, value_name = "BOOL")]
    pub retire_only_if_unused: Option<bool>,
    /// Length of generated passwords (8-128)
    #[arg(long, value_name = "N", value_parser = whole::<u8>(password::LENGTH))]
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
    #[arg(long, value_name = "N", value_parser = whole::<u32>(VERIFY_SUCCESSES))]
    pub verify_successes: Option<u32>,
    /// Abort the rotation if the new key has not verified within this time
    #[arg(long, value_name = "DURATION", value_parser = duration_ms)]
    pub verify_deadline: Option<u64>,
    /// First backoff between verification attempts
    #[arg(long, value_name = "DURATION", value_parser = duration_ms)]
    pub verify_backoff: Option<u64>,
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
    #[arg(long, value_name = "DURATION", default_value = "30s", requires = "script", value_parser = duration_ms)]
    pub script_timeout: u64,
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
    #[arg(long, value_name = "DURATION", default_value = "10s", requires = "webhook", value_parser = duration_ms)]
    pub webhook_timeout: u64,
    #[command(flatten)]
    pub retirement: RetirementArgs,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
    /// Remove all delivery targets
    #[arg(long)]
    pub clear_targets: bool,
    /// Move to this folder ("" clears it)
    #[arg(long, value_parser = folder_or_none)]
    pub folder: Option<FolderChange>,
    /// New title, at most 200 printable characters ("" clears it)
    #[arg(long = "name", value_name = "TITLE", value_parser = title_or_none)]
    pub title: Option<TitleChange>,
}

pub async fn run(global: &Global, format: Format, a: AccountSetArgs) -> Result<()> {
    let patch = patch(&a);
    let mut added = targets(&a)?;
    delivery::apply_format(&a.delivery, &mut added)?;
    let clear = a.clear_targets;
    let engine = context::engine_for_write(global).await?;
    check_kind(&patch, &engine.account(&a.account).await?)?;
    let changes = AccountChanges { folder: patch.folder.clone(), title: patch.title.clone() };
    let account = engine
        .set_account(&a.account, changes, |s: &mut RotationSettings| {
            patch.apply(s);
            if clear {
                s.targets.clear();
            }
            for t in added {
                if !s.targets.contains(&t) {
                    s.targets.push(t);
                }
            }
        })
        .await?;
    print_account(&engine, format, &AccountRef::Id(account.id)).await
}

/// The settings, folder and title the options change.
fn patch(a: &AccountSetArgs) -> SettingsPatch {
    let r = &a.retirement;
    SettingsPatch {
        every: a.every.map(Some),
        cron: a.cron.clone().map(Some),
        no_schedule: a.no_schedule,
        max_age: a.max_age,
        previous_key: a.previous_key,
        deactivate_after: a.deactivate_after,
        delete_after: a.delete_after,
        retire_only_if_unused: a.retire_only_if_unused,
        retirement: r.retirement,
        cutover_deadline: r.cutover_deadline,
        cutover_past_deadline: r.cutover_past_deadline,
        password_length: a.password_length,
        password_symbols: a.password_symbols.clone(),
        password_use_symbols: a.password_use_symbols,
        create_login_profile: a.create_login_profile,
        verify_successes: a.verify_successes,
        verify_deadline: a.verify_deadline,
        verify_backoff: a.verify_backoff,
        folder: a.folder.clone().map(|f| f.0),
        title: a.title.clone().map(|t| t.0),
    }
}

/// Refuses options that mean nothing for `account`'s kind (they would be stored and ignored),
/// named as they were given.
fn check_kind(patch: &SettingsPatch, account: &rekey_store::Account) -> Result<()> {
    let (access_key, password) = patch.kind_only();
    let (wrong, kind, right) = match account.kind {
        rekey_domain::CredentialKind::Password => (access_key, "a console password", "access-key"),
        rekey_domain::CredentialKind::AccessKey => (password, "an access key", "password"),
    };
    if wrong.is_empty() {
        return Ok(());
    }
    let flags: Vec<String> = wrong.iter().map(|n| format!("--{}", n.replace('_', "-"))).collect();
    Err(Error::usage(
        format!(
            "{}/{}/{} is {kind}; {} {} to {right} accounts only",
            account.provider,
            account.user_name,
            account.kind,
            flags.join(", "),
            if flags.len() == 1 { "applies" } else { "apply" }
        ),
        "leave these options out (rekey account set --help lists what each kind takes)",
    ))
}

fn absolute(p: &str) -> Result<String> {
    std::path::absolute(p)
        .map(|a| a.display().to_string())
        .map_err(|e| Error::usage(format!("{p}: {e}"), "give a valid path"))
}

/// The delivery targets the options add, each validated.
fn targets(a: &AccountSetArgs) -> Result<Vec<Target>> {
    let script = match &a.script {
        Some(command) => Some(Target::Script {
            command: absolute(command)?,
            args: a.script_args.clone(),
            timeout_ms: a.script_timeout,
            format: None,
        }),
        None => None,
    };
    let file = match (&a.credentials_file, &a.profile) {
        (Some(path), Some(profile)) => {
            Some(Target::AwsCredentialsFile { path: absolute(path)?, profile: profile.clone() })
        }
        _ => None,
    };
    let webhook = match &a.webhook {
        Some(url) => {
            let t = Target::Webhook {
                url: url.clone(),
                key_env: a.webhook_key_env.clone(),
                key_file: a.webhook_key_file.as_deref().map(absolute).transpose()?,
                include_secret: a.webhook_include_secret,
                timeout_ms: a.webhook_timeout,
                format: None,
            };
            RotationSettings { targets: vec![t.clone()], ..Default::default() }.validate()?;
            Some(t)
        }
        None => None,
    };
    let stores = [
        a.secrets_manager.clone().map(|secret_id| Target::SecretsManager { secret_id, format: None }),
        a.ssm_parameter.clone().map(|name| Target::Ssm { name, format: None }),
    ];
    let mut added: Vec<Target> = [file, script, webhook].into_iter().chain(stores).flatten().collect();
    added.extend(delivery::parse(&a.delivery)?);
    Ok(added)
}
