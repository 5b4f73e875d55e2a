//! `rekey account remove`: one account, or every account whose IAM user name matches a glob
//! (narrowed by provider, folder and kind). A removal by filter lists what it matches first,
//! then asks on a terminal (or takes `--yes`; without a terminal `--yes` is required);
//! `--dry-run` stops after the list. Each removal is its own audited `account.remove`.

use crate::{
    cli::{account_ref, hinted, Format, Global},
    context,
    output::{self, opt, Tabular},
    views::reference,
};
use clap::Args;
use rekey_domain::{glob::Glob, CredentialKind, Folder, ProviderName};
use rekey_engine::{AccountRef, Engine, Error, Result};
use rekey_store::{Account, AccountFilter};
use serde::Serialize;
use std::io::IsTerminal;

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Account id or PROVIDER/USER/KIND (or --filter)
    #[arg(value_parser = account_ref)]
    account: Option<AccountRef>,
    /// Remove every account whose IAM user name matches this glob: * ? [a-z] [!a-z] {a,b}
    #[arg(long, value_name = "GLOB", value_parser = glob)]
    filter: Option<Glob>,
    /// With --filter: only this provider's accounts
    #[arg(long, value_parser = hinted::<ProviderName>)]
    provider: Option<ProviderName>,
    /// With --filter: only accounts in this folder and its sub-folders
    #[arg(long, value_parser = hinted::<Folder>)]
    folder: Option<Folder>,
    /// With --filter: only this kind (password or access-key)
    #[arg(long, value_parser = hinted::<CredentialKind>)]
    kind: Option<CredentialKind>,
    /// With --filter: list the accounts it matches and remove nothing
    #[arg(long)]
    dry_run: bool,
    /// With --filter: remove without asking (required when standard input is not a terminal)
    #[arg(long)]
    yes: bool,
    /// Also delete the access key in IAM, if rekey created it (with --filter: of the matching
    /// access-key accounts)
    #[arg(long)]
    delete_managed_key: bool,
}

fn glob(s: &str) -> std::result::Result<Glob, String> {
    Glob::new(s).map_err(|e| format!("{e}\n  hint: {}", e.hint))
}

pub async fn run(global: &Global, format: Format, a: RemoveArgs) -> Result<()> {
    check(&a)?;
    let Some(filter) = &a.filter else {
        let Some(r) = &a.account else { return Ok(()) };
        let removed = context::engine_for_write(global).await?.remove_account(r, a.delete_managed_key).await?;
        match &removed.deleted_key {
            Some(k) => errln!("Removed account {} and deleted its access key {k} in IAM.", removed.account),
            None => errln!("Removed account {} (IAM left untouched).", removed.account),
        }
        tag_left(&removed);
        return Ok(());
    };
    // A dry run changes nothing, not even by recovering earlier rotations.
    let engine = if a.dry_run { context::engine(global).await? } else { context::engine_for_write(global).await? };
    let matched = matching(&engine, &a, filter).await?;
    errln!("{} account(s) match:", matched.len());
    for m in &matched {
        errln!("  {} ({})", reference(m), m.id);
    }
    if a.dry_run {
        errln!("Dry run: nothing was removed.");
        let rows: Vec<Removal> = matched.iter().map(|m| Removal::of(m, false, None)).collect();
        output::list(format, &rows);
        return Ok(());
    }
    if !a.yes && !confirmed(matched.len())? {
        return Err(Error::usage("the removal was not confirmed; nothing was removed", "answer y, or pass --yes"));
    }
    remove_all(&engine, format, matched, a.delete_managed_key).await
}

/// The combinations clap cannot say with a hint.
fn check(a: &RemoveArgs) -> Result<()> {
    let hint = "name one account (rekey account remove ID), or select by --filter GLOB [--provider P] \
                [--folder F] [--kind K]";
    match (&a.account, &a.filter) {
        (Some(_), Some(_)) => return Err(Error::usage("give an account or --filter, not both", hint)),
        (None, None) => return Err(Error::usage("which account? none was named and no --filter given", hint)),
        _ => {}
    }
    let with_filter_only = [
        ("--provider", a.provider.is_some()),
        ("--folder", a.folder.is_some()),
        ("--kind", a.kind.is_some()),
        ("--dry-run", a.dry_run),
        ("--yes", a.yes),
    ];
    let stray: Vec<&str> =
        with_filter_only.iter().filter(|(_, on)| *on && a.filter.is_none()).map(|(n, _)| *n).collect();
    if !stray.is_empty() {
        return Err(Error::usage(format!("{} select(s) accounts for --filter only", stray.join(", ")), hint));
    }
    Ok(())
}

/// The accounts the filter selects, by user name; none is "not found" (a misspelt pattern
/// should not look like a removal of nothing).
async fn matching(engine: &Engine, a: &RemoveArgs, filter: &Glob) -> Result<Vec<Account>> {
    let scope = AccountFilter { provider: a.provider.clone(), folder: a.folder.clone() };
    let mut matched: Vec<Account> = engine
        .accounts(&scope)
        .await?
        .into_iter()
        .filter(|m| a.kind.is_none_or(|k| m.kind == k) && filter.matches(m.user_name.as_str()))
        .collect();
    matched.sort_by_key(reference);
    if matched.is_empty() {
        return Err(Error::NotFound {
            what: "an account matching the filter".into(),
            hint: "`rekey account list` shows the accounts; the glob is matched against the IAM user name".into(),
        });
    }
    Ok(matched)
}

/// Asks on the terminal; without one, `--yes` is required.
fn confirmed(n: usize) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            format!("removing {n} account(s) needs confirmation and standard input is not a terminal"),
            "check the list above, then run again with --yes (or --dry-run to only list them)",
        ));
    }
    err!("Remove these {n} account(s) from the vault? [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| Error::Internal(format!("reading the answer: {e}")))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

/// Says so when a removed account's ownership tag stayed on its IAM user, with the command
/// that removes it.
fn tag_left(removed: &rekey_engine::Removed) {
    if let Some(command) = &removed.tag_left {
        errln!(
            "warning: the ownership tag of removed account {} could not be removed from IAM (it refuses other accounts \
             what it names); remove it with `{command}`",
            removed.account
        );
    }
}

/// Removes each account; one that cannot be removed does not stop the others, and the first
/// failure decides the exit code once all were tried.
async fn remove_all(engine: &Engine, format: Format, matched: Vec<Account>, delete_key: bool) -> Result<()> {
    let mut rows = Vec::with_capacity(matched.len());
    let mut first_error = None;
    for m in &matched {
        let delete = delete_key && m.kind == CredentialKind::AccessKey;
        match engine.remove_account(&AccountRef::Id(m.id.clone()), delete).await {
            Ok(removed) => {
                tag_left(&removed);
                rows.push(Removal::of(m, true, removed.deleted_key));
            }
            Err(e) => {
                errln!("error: {}: {e}", reference(m));
                rows.push(Removal::of(m, false, None));
                first_error.get_or_insert(e);
            }
        }
    }
    let done = rows.iter().filter(|r| r.removed).count();
    errln!("Removed {done} of {} account(s).", rows.len());
    output::list(format, &rows);
    first_error.map_or(Ok(()), Err)
}

/// One account of a removal by filter.
#[derive(Debug, Serialize)]
struct Removal {
    account: String,
    #[serde(rename = "ref")]
    reference: String,
    /// Whether it is gone from the vault (`false` in a dry run or when it failed).
    removed: bool,
    /// The managed access key deleted in IAM with it, if any.
    deleted_key: Option<String>,
}

impl Removal {
    fn of(a: &Account, removed: bool, deleted_key: Option<String>) -> Self {
        Self { account: a.id.to_string(), reference: reference(a), removed, deleted_key }
    }
}

impl Tabular for Removal {
    fn headers() -> Vec<&'static str> {
        vec!["account", "ref", "removed", "deleted_key"]
    }
    fn cells(&self) -> Vec<String> {
        let removed = if self.removed { "yes" } else { "no" };
        vec![self.account.clone(), self.reference.clone(), removed.into(), opt(self.deleted_key.clone())]
    }
}
