//! The least-privilege IAM policy for what is configured: the actions the configured kinds
//! need (from `rekey_aws::actions::ACTIONS`, the same table the code's calls are checked
//! against), scoped to the managed users' ARNs where IAM allows it.

use crate::{Engine, Result};
use rekey_aws::actions::{Need, Scope, ACTIONS};
use rekey_domain::{CredentialKind, ProviderName};
use rekey_store::AccountFilter;
use serde_json::{json, Value};

impl Engine {
    /// The policy a provider's principal needs for its accounts of `kinds` (all providers when
    /// `provider` is `None`); `discovery` adds the account-wide read actions.
    pub async fn least_privilege(
        &self,
        provider: Option<ProviderName>,
        kinds: &[CredentialKind],
        discovery: bool,
    ) -> Result<Value> {
        let accounts = self.accounts(&AccountFilter { provider, folder: None }).await?;
        let mut users: Vec<String> =
            accounts.iter().filter(|a| kinds.contains(&a.kind)).map(|a| a.arn.to_string()).collect();
        users.sort();
        users.dedup();
        if users.is_empty() {
            users.push("arn:aws:iam::*:user/*".into());
        }
        let wanted = |need: Need| match need {
            Need::AccessKey => kinds.contains(&CredentialKind::AccessKey),
            Need::Password => kinds.contains(&CredentialKind::Password),
            Need::Account => true,
            Need::Discovery => discovery,
            Need::SelfPassword | Need::Vault | Need::Always => false,
        };
        let pick = |scope: Scope| {
            let mut a: Vec<&str> =
                ACTIONS.iter().filter(|(_, n, s)| wanted(*n) && *s == scope).map(|(a, _, _)| *a).collect();
            a.sort_unstable();
            a
        };
        let mut statements = vec![json!({
            "Sid": "RekeyManagedUsers",
            "Effect": "Allow",
            "Action": pick(Scope::User),
            "Resource": users,
        })];
        let account_wide = pick(Scope::Any);
        if !account_wide.is_empty() {
            statements
                .push(json!({ "Sid": "RekeyAccountWide", "Effect": "Allow", "Action": account_wide, "Resource": "*" }));
        }
        Ok(json!({ "Version": "2012-10-17", "Statement": statements }))
    }
}
