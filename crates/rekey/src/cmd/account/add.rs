//! `rekey account add`: bring one IAM user's password or access key under management, adopting
//! the current secret (read from standard input) or creating a fresh access key.

use super::print_account;
use crate::{
    cli::{hinted, Format, Global},
    context,
};
use clap::Args;
use rekey_domain::{AccessKeyId, CredentialKind, Folder, ProviderName, UserName};
use rekey_engine::{AccountRef, Error, InitialKey, NewAccount, Result};

#[derive(Debug, Args)]
pub struct AccountAddArgs {
    /// Provider name
    #[arg(long, value_parser = hinted::<ProviderName>)]
    pub provider: ProviderName,
    /// IAM user name
    #[arg(long, value_parser = hinted::<UserName>)]
    pub user: UserName,
    /// Credential kind: password or access-key
    #[arg(long, value_parser = hinted::<CredentialKind>)]
    pub kind: CredentialKind,
    /// Folder, e.g. prod/payments
    #[arg(long, value_parser = hinted::<Folder>)]
    pub folder: Option<Folder>,
    /// Human title
    #[arg(long = "name", value_name = "TITLE")]
    pub title: Option<String>,
    /// Adopt this existing access key (its secret from --secret-stdin)
    #[arg(long, value_name = "ID", conflicts_with = "create", value_parser = hinted::<AccessKeyId>)]
    pub access_key_id: Option<AccessKeyId>,
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

pub async fn run(global: &Global, format: Format, args: AccountAddArgs) -> Result<()> {
    let new = parse(args)?;
    let adopted_password = new.kind == CredentialKind::Password && new.password.is_some();
    let engine = context::engine_for_write(global).await?;
    let a = engine.add_account(new).await?;
    if adopted_password {
        errln!(
            "note: IAM cannot check a console password without a sign-in, so the adopted password is stored \
             as given and shown as unverified until its first rotation replaces it."
        );
    }
    print_account(&engine, format, &AccountRef::Id(a.id)).await
}

/// Checks the combination of options and reads the secret, before the vault is opened.
fn parse(a: AccountAddArgs) -> Result<NewAccount> {
    if a.secret_stdin && a.create {
        return Err(Error::usage("--secret-stdin and --create exclude each other", "adopt a key or create one"));
    }
    if a.kind == CredentialKind::Password && (a.access_key_id.is_some() || a.create) {
        return Err(Error::usage(
            "--access-key-id and --create apply to access-key accounts",
            "drop them, or use --kind access-key",
        ));
    }
    let mut new = NewAccount {
        provider: a.provider,
        user: a.user,
        kind: a.kind,
        folder: a.folder,
        title: a.title,
        password: None,
        key: None,
    };
    match a.kind {
        CredentialKind::Password if a.secret_stdin => {
            new.password = Some(context::read_secret(true, "password", "")?);
        }
        CredentialKind::Password => {}
        CredentialKind::AccessKey => {
            new.key = match (a.access_key_id, a.create) {
                (Some(access_key_id), false) => {
                    let secret = context::read_secret(
                        a.secret_stdin,
                        "secret access key",
                        "pass --secret-stdin and pipe it in",
                    )?;
                    Some(InitialKey::Adopt { access_key_id, secret })
                }
                (None, true) => Some(InitialKey::Create { allow_no_free_slot: a.allow_no_free_slot }),
                _ => None,
            };
        }
    }
    Ok(new)
}
