//! `rekey account …`: add, list, show, change, reveal and remove managed IAM user credentials,
//! and edit their delivery targets. Each subcommand's arguments sit beside its handler: `add.rs`,
//! `set.rs`, `remove.rs` (one account, or many by filter), `clear_tag.rs` (the tag of an account
//! the vault does not have), `targets.rs`.

mod add;
mod clear_tag;
mod remove;
mod set;
mod targets;

use crate::{
    cli::{account_ref, hinted, Format, Global},
    context, detail, output,
    views::AccountView,
};
use clap::Subcommand;
use rekey_domain::{CredentialKind, Folder, ProviderName};
use rekey_engine::{AccountRef, Engine, Error, Result};
use rekey_store::listing::{AccountPage, AccountQuery};
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum AccountCmd {
    /// Add an account
    Add(add::AccountAddArgs),
    /// List accounts
    List {
        /// Only this folder and its sub-folders
        #[arg(long, value_parser = hinted::<Folder>)]
        folder: Option<Folder>,
        /// Only this provider
        #[arg(long, value_parser = hinted::<ProviderName>)]
        provider: Option<ProviderName>,
    },
    /// Show one account with its settings (schedule, previous-key policy, verification,
    /// delivery targets)
    Show {
        /// Account id or PROVIDER/USER/KIND
        #[arg(value_parser = account_ref)]
        account: AccountRef,
    },
    /// Change rotation settings, folder or title
    Set(Box<set::AccountSetArgs>),
    /// Make an account due now: the next run-due or scheduler tick rotates it (audited)
    Due {
        /// Account id or PROVIDER/USER/KIND
        #[arg(value_parser = account_ref)]
        account: AccountRef,
    },
    /// Print the current secret (audited)
    Reveal {
        /// Account id or PROVIDER/USER/KIND
        #[arg(value_parser = account_ref)]
        account: AccountRef,
        /// Reveal a password someone else has checked out (audited)
        #[arg(long)]
        force: bool,
    },
    /// Remove one account, or every account matching --filter, from the vault (IAM is left
    /// untouched unless --delete-managed-key)
    Remove(remove::RemoveArgs),
    /// Remove from an IAM user the ownership tag of an account this vault does not have (left
    /// by an `account add` or import that stopped before storing it); audited
    ClearTag(clear_tag::ClearTagArgs),
    /// List or remove an account's delivery targets
    #[command(subcommand)]
    Targets(targets::TargetsCmd),
}

pub async fn run(global: &Global, format: Format, cmd: AccountCmd) -> Result<()> {
    match cmd {
        AccountCmd::Add(args) => add::run(global, format, args).await?,
        AccountCmd::List { folder, provider } => list(global, format, folder, provider).await?,
        AccountCmd::Set(args) => set::run(global, format, *args).await?,
        AccountCmd::Due { account } => {
            let engine = context::engine_for_write(global).await?;
            let a = engine.mark_due(&account).await?;
            errln!("Account {} is due now: the next run-due or scheduler tick rotates it.", a.id);
            print_account(&engine, format, &AccountRef::Id(a.id)).await?;
        }
        AccountCmd::Show { account } => {
            let engine = context::engine(global).await?;
            let v = AccountView(engine.account_item(&account).await?);
            output::detail(format, &v, detail::account_rows(&v));
        }
        AccountCmd::Reveal { account, force } => {
            let engine = context::engine(global).await?;
            let (a, secret) = engine.reveal_with(&account, force).await?;
            reveal_out(format, &a, secret.expose());
        }
        AccountCmd::Remove(args) => remove::run(global, format, args).await?,
        AccountCmd::ClearTag(args) => clear_tag::run(global, format, args).await?,
        AccountCmd::Targets(cmd) => targets::run(global, format, cmd).await?,
    }
    Ok(())
}

/// Prints an account as `account show -o json` and the API show it.
pub async fn print_account(engine: &Engine, format: Format, r: &AccountRef) -> Result<()> {
    output::one(format, &AccountView(engine.account_item(r).await?));
    Ok(())
}

/// The largest page read at a time by listings that print every account.
const PAGE: i64 = 500;

/// Calls `each` with every account `query` matches, by user name, a page at a time. The pages'
/// totals go unread (every item is handed out), so they are counted only up to the cap.
pub(super) async fn each_item(
    engine: &Engine,
    query: &AccountQuery,
    each: &mut (dyn FnMut(AccountView) + Send),
) -> Result<()> {
    let mut page = AccountPage { limit: PAGE, ..Default::default() };
    loop {
        let got = engine.account_page(query.clone(), &page).await?;
        got.items.into_iter().for_each(|item| each(AccountView(item)));
        match got.next {
            Some(next) => page.after = Some(next),
            None => return Ok(()),
        }
    }
}

async fn list(global: &Global, format: Format, folder: Option<Folder>, provider: Option<ProviderName>) -> Result<()> {
    let engine = context::engine(global).await?;
    let query = AccountQuery { folder, provider, ..Default::default() };
    let mut list = output::ListBuilder::new(format);
    each_item(&engine, &query, &mut |v| list.push(v)).await?;
    let text = list.finish().map_err(|e| Error::Internal(format!("rendering the account list: {e}")))?;
    output::emit_bytes(&text);
    Ok(())
}

/// The one place an account's secret is printed: `reveal`, to stdout only. JSON has the API's
/// field names (`account`, `kind`, `access_key_id`, `secret`).
fn reveal_out(format: Format, a: &rekey_store::Account, secret: &str) {
    let key_id = a.current_key_id.as_deref().filter(|_| a.kind == CredentialKind::AccessKey);
    let text = zeroize::Zeroizing::new(match format {
        Format::Json => {
            let v = serde_json::json!({ "account": a.id, "kind": a.kind, "access_key_id": key_id, "secret": secret });
            format!("{v}\n")
        }
        Format::Csv => format!("account,access_key_id,secret\n{},{},{secret}\n", a.id, key_id.unwrap_or("")),
        Format::Table => format!("{secret}\n"),
    });
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
