//! `rekey provider …`: add, list, show, remove and test AWS account connections (`show` in a
//! table: how the provider signs in, where, and how many accounts use it).

use crate::{
    cli::{Format, Global},
    context, detail,
    output::{self, Tabular},
    views::ProviderView,
};
use clap::{Args, Subcommand};
use rekey_domain::Arn;
use rekey_engine::{AuthSpec, NewProvider, Result};
use rekey_store::listing::{AccountPage, AccountQuery, Count};
use serde::Serialize;

#[derive(Debug, Subcommand)]
pub enum ProviderCmd {
    /// Add a provider
    Add(ProviderAddArgs),
    /// List providers
    List,
    /// Show one provider
    Show {
        /// Provider name
        name: String,
    },
    /// Remove a provider (refused while accounts use it)
    Remove {
        /// Provider name
        name: String,
    },
    /// Add one assume-role provider per active account of an AWS Organization (idempotent)
    AddOrg {
        /// Name prefix: providers are named PREFIX-ACCOUNTID
        name: String,
        /// The role to assume in each account
        #[arg(long)]
        role_name: String,
        /// External id for AssumeRole
        #[arg(long)]
        external_id: Option<String>,
        /// The management account's provider (signs ListAccounts and AssumeRole)
        #[arg(long)]
        source: String,
        /// Account ids to leave out (repeat or comma-separate)
        #[arg(long, value_delimiter = ',')]
        exclude: Vec<String>,
    },
    /// Check a provider's credentials with sts:GetCallerIdentity
    Test {
        /// Provider name
        name: String,
        /// Also simulate every action its accounts need (iam:SimulatePrincipalPolicy)
        #[arg(long)]
        preflight: bool,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("auth").required(true).args(["access_key_id", "default_chain", "role_arn"])))]
pub struct ProviderAddArgs {
    /// Provider name (letters, digits, '.', '_', '-')
    pub name: String,
    /// AWS region, e.g. us-east-1
    #[arg(long)]
    pub region: String,
    /// Endpoint URL override (emulators, partitions)
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Authenticate with this static access key (secret from --secret-stdin or a prompt)
    #[arg(long, value_name = "ID")]
    pub access_key_id: Option<String>,
    /// Read the secret access key from standard input
    #[arg(long, requires = "access_key_id")]
    pub secret_stdin: bool,
    /// Authenticate with the AWS default credential chain (env, profile, SSO, instance role)
    #[arg(long)]
    pub default_chain: bool,
    /// Assume this IAM role
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// External id for AssumeRole
    #[arg(long, value_name = "ID", requires = "role_arn")]
    pub external_id: Option<String>,
    /// Provider whose credentials call AssumeRole [default: the default chain]
    #[arg(long, value_name = "NAME", requires = "role_arn")]
    pub source: Option<String>,
    /// Add the provider without testing its credentials (by default one STS GetCallerIdentity
    /// must succeed first)
    #[arg(long)]
    pub no_test: bool,
}

pub async fn run(global: &Global, format: Format, cmd: ProviderCmd) -> Result<()> {
    match cmd {
        ProviderCmd::Add(args) => {
            let test = !args.no_test;
            let new = parse_add(args)?;
            let engine = context::engine_for_write(global).await?;
            let p = if test {
                let (p, id) = engine.add_provider_tested(new).await?;
                errln!("Tested: the credentials are {} in AWS account {}.", id.arn, id.account);
                p
            } else {
                let p = engine.add_provider(new).await?;
                errln!("Added without a test: `rekey provider test {}` checks the credentials.", p.name);
                p
            };
            output::one(format, &ProviderView::from(&p));
        }
        ProviderCmd::List => {
            let engine = context::engine(global).await?;
            let views: Vec<ProviderView> = engine.providers().await?.iter().map(ProviderView::from).collect();
            output::list(format, &views);
        }
        ProviderCmd::Show { name } => {
            let name = name.parse()?;
            let engine = context::engine(global).await?;
            let view = ProviderView::from(&engine.provider(&name).await?);
            let query = AccountQuery { provider: Some(name), ..Default::default() };
            let page = AccountPage { limit: 1, count: Count::Exact, ..Default::default() };
            let accounts = engine.account_page(query, &page).await?.total;
            output::detail(format, &view, detail::provider_rows(&view, accounts));
        }
        ProviderCmd::Remove { name } => {
            let name = name.parse()?;
            context::engine_for_write(global).await?.remove_provider(&name).await?;
            errln!("Removed provider {name}.");
        }
        ProviderCmd::AddOrg { name, role_name, external_id, source, exclude } => {
            let opts = rekey_engine::org::OrgOptions {
                prefix: name.parse()?,
                role_name,
                external_id,
                source: source.parse()?,
                exclude,
            };
            opts.validate()?;
            let engine = context::engine_for_write(global).await?;
            let sync = engine.add_org(&opts).await?;
            errln!(
                "{} added, {} unchanged, {} removed, {} kept (still used), {} excluded",
                sync.added.len(),
                sync.unchanged.len(),
                sync.removed.len(),
                sync.kept_in_use.len(),
                sync.excluded.len()
            );
            output::json_out(&sync);
        }
        ProviderCmd::Test { name, preflight } => {
            let name = name.parse()?;
            let engine = context::engine(global).await?;
            let id = engine.test_provider(&name).await?;
            let identity =
                Identity { provider: name.to_string(), account: id.account, arn: id.arn, user_id: id.user_id };
            if !(preflight && format == Format::Json) {
                output::one(format, &identity);
            }
            if preflight {
                let verdicts = engine.preflight(&name).await?;
                let views: Vec<VerdictView> = verdicts.into_iter().map(VerdictView).collect();
                if format == Format::Json {
                    // One JSON document: the identity with its pre-flight.
                    output::json_out(&serde_json::json!({ "identity": identity, "preflight": views }));
                } else {
                    output::list(format, &views);
                }
                let bad = views.iter().filter(|v| v.0.verdict != "allowed").count();
                if bad > 0 {
                    return Err(rekey_engine::Error::Findings(format!(
                        "{bad} action(s) are not allowed; `rekey policy --provider {name}` prints the policy to attach"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Validates every argument before the vault is opened.
fn parse_add(a: ProviderAddArgs) -> Result<NewProvider> {
    let name = a.name.parse()?;
    let region = a.region.parse()?;
    if let Some(url) = &a.endpoint_url {
        rekey_engine::providers::check_endpoint_url(url)?;
    }
    let auth = if let Some(id) = a.access_key_id {
        let access_key_id = id.parse()?;
        let secret =
            context::read_secret(a.secret_stdin, "secret access key", "pass --secret-stdin and pipe the secret in")?;
        AuthSpec::StaticKey { access_key_id, secret }
    } else if let Some(role) = a.role_arn {
        AuthSpec::AssumeRole {
            role_arn: Arn::parse_role(&role)?,
            external_id: a.external_id,
            source: a.source.map(|s| s.parse()).transpose()?,
        }
    } else {
        AuthSpec::DefaultChain
    };
    Ok(NewProvider { name, region, endpoint_url: a.endpoint_url, auth })
}

/// The result of `provider test`.
#[derive(Debug, Serialize)]
struct Identity {
    provider: String,
    account: String,
    arn: String,
    user_id: String,
}

impl Tabular for Identity {
    fn headers() -> Vec<&'static str> {
        vec!["provider", "account", "arn", "user_id"]
    }
    fn cells(&self) -> Vec<String> {
        vec![self.provider.clone(), self.account.clone(), self.arn.clone(), self.user_id.clone()]
    }
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
struct VerdictView(rekey_engine::policy::Verdict);

impl Tabular for VerdictView {
    fn headers() -> Vec<&'static str> {
        vec!["action", "verdict", "denied_on"]
    }
    fn cells(&self) -> Vec<String> {
        vec![self.0.action.clone(), self.0.verdict.clone(), self.0.denied_on.join(" ")]
    }
}
