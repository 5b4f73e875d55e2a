//! `rekey rollback`: makes an access key account's previous key current again (re-activated in
//! IAM), cancelling its retirement.

use crate::{
    cli::{account_ref, Format, Global},
    cmd::account::print_account,
    context,
};
use rekey_engine::{AccountRef, Result};

/// `rekey rollback`.
#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    /// Account id or PROVIDER/USER/KIND
    #[arg(value_parser = account_ref)]
    pub account: AccountRef,
}

pub async fn run(global: &Global, format: Format, args: RollbackArgs) -> Result<()> {
    let r = args.account;
    let engine = context::engine_for_write(global).await?;
    let a = engine.rollback(&r).await?;
    print_account(&engine, format, &AccountRef::Id(a.id)).await
}
