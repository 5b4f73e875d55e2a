//! `rekey account clear-tag`: removes from an IAM user the ownership tag of an account this
//! vault does not have — left by an `account add` or import that stopped between writing its
//! tag and storing its account — which otherwise refuses every later add or import of the
//! password or key it names. Refused for an account the vault has and for another vault's tag;
//! `--dry-run` shows the tag and removes nothing; each removal is an audited `account.clear-tag`.

use crate::{
    cli::{hinted, Format, Global},
    context,
    output::{self, Tabular},
};
use clap::Args;
use rekey_domain::{AccountId, ProviderName, UserName};
use rekey_engine::{ownership::ClearedTag, Result};
use serde::Serialize;

#[derive(Debug, Args)]
pub struct ClearTagArgs {
    /// The account the tag names (an id of this vault's accounts, which it no longer or never had)
    #[arg(value_parser = hinted::<AccountId>)]
    account: AccountId,
    /// Provider of the IAM user
    #[arg(long, value_parser = hinted::<ProviderName>)]
    provider: ProviderName,
    /// IAM user whose tag it is
    #[arg(long, value_parser = hinted::<UserName>)]
    user: UserName,
    /// Show the tag and remove nothing
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(global: &Global, format: Format, a: ClearTagArgs) -> Result<()> {
    let engine = if a.dry_run { context::engine(global).await? } else { context::engine_for_write(global).await? };
    let c = engine.clear_tag(&a.provider, &a.user, &a.account, a.dry_run).await?;
    if c.removed {
        errln!(
            "Removed tag {} ({}) of account {}, which this vault does not have, from IAM user {}.",
            c.tag,
            c.value,
            c.account,
            c.user
        );
    } else {
        errln!(
            "Dry run: IAM user {} has tag {} ({}) of account {}, which this vault does not have; nothing was removed.",
            c.user,
            c.tag,
            c.value,
            c.account
        );
    }
    output::one(format, &Row(c));
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Row(ClearedTag);

impl Tabular for Row {
    fn headers() -> Vec<&'static str> {
        vec!["provider", "user", "account", "tag", "value", "removed"]
    }
    fn cells(&self) -> Vec<String> {
        let c = &self.0;
        let removed = if c.removed { "yes" } else { "no" };
        vec![c.provider.clone(), c.user.clone(), c.account.clone(), c.tag.clone(), c.value.clone(), removed.into()]
    }
}
