//! `rekey vault upgrade`: authenticate the contents of a vault written by an older rekey (see
//! `rekey_engine::upgrade`). What it signed is listed on standard error for the operator to
//! review: from now on only a holder of the master key can change it.

use crate::{
    cli::{Format, Global, VaultCmd},
    context, output,
};
use rekey_engine::{Engine, Result};
use rekey_store::{AccountFilter, OpenMode, UpgradeCounts};

pub async fn run(global: &Global, format: Format, cmd: VaultCmd) -> Result<()> {
    match cmd {
        VaultCmd::Upgrade => {
            let deps = context::deps(global, OpenMode::Existing).await?;
            let master = context::master_key(global, &deps).await?;
            let (engine, counts) = Engine::upgrade(deps, master).await?;
            for p in engine.providers().await? {
                errln!(
                    "signed provider {}: region {}, endpoint {}, auth {}",
                    p.name,
                    p.region,
                    p.endpoint_url.as_deref().unwrap_or("(AWS)"),
                    serde_json::to_string(&p.auth).unwrap_or_default()
                );
            }
            for a in engine.accounts(&AccountFilter::default()).await? {
                errln!(
                    "signed account {} ({}/{}/{}): folder {}, targets {}",
                    a.id,
                    a.provider,
                    a.user_name,
                    a.kind,
                    a.folder.as_ref().map_or("-", |f| f.as_str()),
                    a.settings.stored().get("targets").map(|t| t.to_string()).unwrap_or_else(|| "[]".into())
                );
            }
            output::one(format, &Upgraded(counts));
        }
    }
    Ok(())
}

#[derive(Debug, serde::Serialize)]
#[serde(transparent)]
struct Upgraded(UpgradeCounts);

impl output::Tabular for Upgraded {
    fn headers() -> Vec<&'static str> {
        vec!["providers", "accounts", "secret_versions", "api_tokens", "audit_keyed_from"]
    }
    fn cells(&self) -> Vec<String> {
        let n = &self.0;
        [n.providers, n.accounts, n.secret_versions, n.api_tokens]
            .iter()
            .map(u64::to_string)
            .chain([n.audit_keyed_from.to_string()])
            .collect()
    }
}
