//! `rekey account …`: add, list, show, reveal and remove managed IAM user credentials.

use crate::{
    cli::{AccountAddArgs, AccountCmd, Format, Global},
    context, output,
    views::AccountView,
};
use rekey_domain::CredentialKind;
use rekey_engine::{AccountRef, Error, KeySource, NewAccount, Result};
use rekey_store::AccountFilter;
use std::io::Write;

pub async fn run(global: &Global, format: Format, cmd: AccountCmd) -> Result<()> {
    match cmd {
        AccountCmd::Add(args) => {
            let new = parse_add(args)?;
            let engine = context::engine(global).await?;
            let a = engine.add_account(new).await?;
            output::one(format, &AccountView::from(&a));
        }
        AccountCmd::List { folder, provider } => {
            let filter = AccountFilter {
                folder: folder.map(|f| f.parse()).transpose()?,
                provider: provider.map(|p| p.parse()).transpose()?,
            };
            let engine = context::engine(global).await?;
            let views: Vec<AccountView> = engine.accounts(&filter).await?.iter().map(AccountView::from).collect();
            output::list(format, &views);
        }
        AccountCmd::Show { account } => {
            let r: AccountRef = account.parse()?;
            let engine = context::engine(global).await?;
            output::one(format, &AccountView::from(&engine.account(&r).await?));
        }
        AccountCmd::Reveal { account } => {
            let r: AccountRef = account.parse()?;
            let engine = context::engine(global).await?;
            let (a, secret) = engine.reveal(&r).await?;
            reveal_out(format, &a, secret.expose(), a.current_key_id.as_deref());
        }
        AccountCmd::Remove { account, delete_managed_key } => {
            let r: AccountRef = account.parse()?;
            let removed = context::engine(global).await?.remove_account(&r, delete_managed_key).await?;
            match removed.deleted_key {
                Some(k) => eprintln!("Removed account {} and deleted its access key {k} in IAM.", removed.account),
                None => eprintln!("Removed account {} (IAM left untouched).", removed.account),
            }
        }
    }
    Ok(())
}

/// The one place a secret is printed: `reveal`, to stdout only.
fn reveal_out(format: Format, a: &rekey_store::Account, secret: &str, key_id: Option<&str>) {
    let text = match format {
        Format::Json => {
            let v = serde_json::json!({ "id": a.id, "kind": a.kind, "access_key_id": key_id, "secret": secret });
            format!("{v}\n")
        }
        Format::Csv => format!("id,access_key_id,secret\n{},{},{secret}\n", a.id, key_id.unwrap_or("")),
        Format::Table => format!("{secret}\n"),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    drop(zeroize::Zeroizing::new(text));
}

/// Validates every argument (and reads the secret) before the vault is opened.
fn parse_add(a: AccountAddArgs) -> Result<NewAccount> {
    let kind: CredentialKind = a.kind.parse()?;
    let provider = a.provider.parse()?;
    let user = a.user.parse()?;
    let folder = a.folder.map(|f| f.parse()).transpose()?;
    let access_key_id = a.access_key_id.map(|k| k.parse()).transpose()?;
    if a.secret_stdin && a.create {
        return Err(Error::usage("--secret-stdin and --create exclude each other", "adopt a key or create one"));
    }
    if kind == CredentialKind::Password && (access_key_id.is_some() || a.create) {
        return Err(Error::usage(
            "--access-key-id and --create apply to access-key accounts",
            "drop them, or use --kind access-key",
        ));
    }
    let mut new = NewAccount { provider, user, kind, folder, title: a.title, password: None, key: None };
    match kind {
        CredentialKind::Password if a.secret_stdin => {
            new.password = Some(context::read_secret(true, "password", "")?);
        }
        CredentialKind::Password => {}
        CredentialKind::AccessKey => {
            new.key = match (access_key_id, a.create) {
                (Some(access_key_id), false) => {
                    let secret = context::read_secret(
                        a.secret_stdin,
                        "secret access key",
                        "pass --secret-stdin and pipe it in",
                    )?;
                    Some(KeySource::Adopt { access_key_id, secret })
                }
                (None, true) => Some(KeySource::Create),
                _ => None,
            };
        }
    }
    Ok(new)
}
