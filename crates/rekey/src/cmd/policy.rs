//! `rekey policy`: the least-privilege IAM policy for the configured accounts, as JSON.

use crate::{cli::Global, context};
use rekey_domain::CredentialKind;
use rekey_engine::Result;

pub async fn run(
    global: &Global,
    provider: Option<String>,
    kinds: Vec<String>,
    discovery: bool,
    delivery: bool,
) -> Result<()> {
    let provider = provider.map(|p| p.parse()).transpose()?;
    let kinds = kinds.iter().map(|k| k.parse()).collect::<Result<Vec<CredentialKind>, _>>()?;
    let engine = context::engine(global).await?;
    if let Some(p) = &provider {
        engine.provider(p).await?;
    }
    if delivery {
        // The delivery targets rekey has today (credentials files, scripts) are local: they need
        // no AWS permission. Say so rather than print an unexplained policy.
        eprintln!("--with-delivery: the configured delivery targets are local and need no AWS permissions");
    }
    let policy = engine.least_privilege(provider, &kinds, discovery).await?;
    println!("{}", serde_json::to_string_pretty(&policy).unwrap_or_default());
    Ok(())
}
