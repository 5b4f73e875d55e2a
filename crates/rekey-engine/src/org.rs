//! `provider add-org`: one assume-role provider per active account of an AWS Organization,
//! walked from the management account. Re-running it adds new accounts, removes providers of
//! accounts that left (unless accounts still use them) and leaves the rest alone.

use crate::{AuthSpec, Engine, Error, NewProvider, Result};
use rekey_domain::{error::quote, Arn, AuditOutcome, ProviderName};
use rekey_store::ProviderAuth;
use serde::Serialize;

/// What a sync did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OrgSync {
    pub added: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
    /// Providers of accounts that left the organization but still have accounts.
    pub kept_in_use: Vec<String>,
    pub excluded: Vec<String>,
}

/// Options of `provider add-org`.
#[derive(Debug, Clone)]
pub struct OrgOptions {
    /// Providers are named `PREFIX-ACCOUNTID`.
    pub prefix: ProviderName,
    /// The role to assume in each member account.
    pub role_name: String,
    pub external_id: Option<String>,
    /// The provider that signs ListAccounts and AssumeRole (the management account).
    pub source: ProviderName,
    /// Account ids to leave out.
    pub exclude: Vec<String>,
}

impl OrgOptions {
    /// Checks names before anything is called.
    pub fn validate(&self) -> Result<()> {
        let ok_role = (1..=64).contains(&self.role_name.len())
            && self.role_name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if !ok_role {
            return Err(Error::usage(
                format!("{} is not an IAM role name", quote(&self.role_name)),
                "use 1 to 64 letters, digits and + = , . @ _ -",
            ));
        }
        if let Some(bad) = self.exclude.iter().find(|id| id.len() != 12 || !id.chars().all(|c| c.is_ascii_digit())) {
            return Err(Error::usage(format!("{} is not an AWS account id", quote(bad)), "account ids are 12 digits"));
        }
        if self.prefix.as_str().len() > 51 {
            return Err(Error::usage("the provider name prefix is too long", "use at most 51 characters"));
        }
        Ok(())
    }
}

fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

impl Engine {
    /// Creates or updates the providers of an organization's accounts.
    pub async fn add_org(&self, o: &OrgOptions) -> Result<OrgSync> {
        o.validate()?;
        let source = self.provider(&o.source).await?;
        let accounts = rekey_aws::org::active_accounts(&self.conn(&source).await?).await?;
        let prefix = format!("{}-", o.prefix);
        let existing: Vec<_> = self
            .providers()
            .await?
            .into_iter()
            .filter(|p| {
                p.name
                    .as_str()
                    .strip_prefix(&prefix)
                    .is_some_and(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()))
            })
            .filter(|p| matches!(&p.auth, ProviderAuth::AssumeRole { source: Some(s), .. } if *s == o.source))
            .collect();
        let mut sync = OrgSync::default();
        let mut active = Vec::new();
        for (id, _) in &accounts {
            if o.exclude.contains(id) {
                sync.excluded.push(id.clone());
                continue;
            }
            active.push(id.clone());
            let name: ProviderName = format!("{prefix}{id}").parse()?;
            if existing.iter().any(|p| p.name == name) {
                sync.unchanged.push(name.to_string());
                continue;
            }
            let role_arn: Arn =
                format!("arn:{}:iam::{id}:role/{}", partition(source.region.as_str()), o.role_name).parse()?;
            self.add_provider(NewProvider {
                name: name.clone(),
                region: source.region.clone(),
                endpoint_url: source.endpoint_url.clone(),
                auth: AuthSpec::AssumeRole {
                    role_arn,
                    external_id: o.external_id.clone(),
                    source: Some(o.source.clone()),
                },
            })
            .await?;
            sync.added.push(name.to_string());
        }
        for p in existing {
            let id = p.name.as_str()[prefix.len()..].to_owned();
            if active.contains(&id) {
                continue;
            }
            match self.remove_provider(&p.name).await {
                Ok(()) => sync.removed.push(p.name.to_string()),
                Err(Error::Conflict { .. }) => sync.kept_in_use.push(p.name.to_string()),
                Err(e) => return Err(e),
            }
        }
        let detail = serde_json::to_value(&sync).unwrap_or_default();
        self.store
            .append_audit(&self.audit_entry("provider.add-org", Some(o.prefix.as_str()), AuditOutcome::Ok, detail))
            .await?;
        Ok(sync)
    }
}
