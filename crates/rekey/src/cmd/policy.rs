//! `rekey policy`: the least-privilege IAM policy for the configured accounts, as JSON, fitted
//! into IAM's size limit for the kind of policy asked (warnings with the size on stderr).

use crate::{
    cli::{hinted, Global},
    context,
};
use rekey_domain::{CredentialKind, ProviderName};
use rekey_engine::{
    policy_fit::{PolicyKind, Scope},
    Result,
};

/// `rekey policy`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// Only this provider's accounts (default: all)
    #[arg(long, value_parser = hinted::<ProviderName>)]
    provider: Option<ProviderName>,
    /// Credential kinds to cover, comma-separated
    #[arg(long, value_delimiter = ',', default_value = "password,access-key", value_parser = hinted::<CredentialKind>)]
    kinds: Vec<CredentialKind>,
    /// Add what discovery and import need (credential report, every user readable)
    #[arg(long)]
    with_discovery: bool,
    /// Add what the configured delivery targets need in AWS
    #[arg(long)]
    with_delivery: bool,
    /// The kind of policy to fit the size of: managed (6,144 characters), user-inline (2,048),
    /// group-inline (5,120) or role-inline (10,240)
    #[arg(long, default_value = "managed")]
    fit: String,
    /// How the managed users are named: auto (their ARNs while they fit, else their path),
    /// arns, path, or tag:KEY=VALUE (every user carrying that tag)
    #[arg(long, default_value = "auto")]
    scope: String,
    /// Split the users' ARNs over as many documents as fit (printed as a JSON array)
    #[arg(long)]
    split: bool,
}

pub async fn run(global: &Global, args: PolicyArgs) -> Result<()> {
    let PolicyArgs { provider, kinds, with_discovery: discovery, with_delivery: delivery, fit: kind, scope, split } =
        args;
    let kind: PolicyKind = kind.parse()?;
    let scope: Scope = scope.parse()?;
    let engine = context::engine(global).await?;
    if let Some(p) = &provider {
        engine.provider(p).await?;
    }
    let fitted = engine.least_privilege_fitted(provider, &kinds, discovery, delivery, kind, &scope, split).await?;
    for w in &fitted.warnings {
        errln!("warning: {w}");
    }
    let out = match fitted.documents.as_slice() {
        [one] if !split => serde_json::to_string_pretty(one),
        all => serde_json::to_string_pretty(all),
    };
    outln!("{}", out.unwrap_or_default());
    Ok(())
}
