//! `rekey policy`: the least-privilege IAM policy for the configured accounts, as JSON, fitted
//! into IAM's size limit for the kind of policy asked (warnings with the size on stderr).

use crate::{cli::Global, context};
use rekey_domain::CredentialKind;
use rekey_engine::{
    policy_fit::{PolicyKind, Scope},
    Result,
};

/// `--fit`, `--scope`, `--split`.
#[derive(Debug)]
pub struct Fit {
    pub kind: String,
    pub scope: String,
    pub split: bool,
}

pub async fn run(
    global: &Global,
    provider: Option<String>,
    kinds: Vec<String>,
    discovery: bool,
    delivery: bool,
    fit: Fit,
) -> Result<()> {
    let provider = provider.map(|p| p.parse()).transpose()?;
    let kinds = kinds.iter().map(|k| k.parse()).collect::<Result<Vec<CredentialKind>, _>>()?;
    let kind: PolicyKind = fit.kind.parse()?;
    let scope: Scope = fit.scope.parse()?;
    let engine = context::engine(global).await?;
    if let Some(p) = &provider {
        engine.provider(p).await?;
    }
    let fitted = engine.least_privilege_fitted(provider, &kinds, discovery, delivery, kind, &scope, fit.split).await?;
    for w in &fitted.warnings {
        eprintln!("warning: {w}");
    }
    let out = match fitted.documents.as_slice() {
        [one] if !fit.split => serde_json::to_string_pretty(one),
        all => serde_json::to_string_pretty(all),
    };
    println!("{}", out.unwrap_or_default());
    Ok(())
}
