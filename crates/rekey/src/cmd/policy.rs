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
    let policy = engine.least_privilege(provider, &kinds, discovery, delivery).await?;
    println!("{}", serde_json::to_string_pretty(&policy).unwrap_or_default());
    Ok(())
}
