//! The least-privilege IAM policy for what is configured, and the pre-flight that checks a
//! provider's principal against it: the actions the configured kinds need (from
//! `rekey_aws::actions::ACTIONS`, the same table the code's calls are checked against), scoped
//! to the managed users' ARNs where IAM allows it.

use crate::policy_fit::{Fitted, Parts, PolicyKind, Scope as Naming};
use crate::{Engine, Error, Result};
use rekey_aws::actions::{Need, Scope, ACTIONS};
use rekey_aws::AwsErrorClass;
use rekey_domain::{CredentialKind, ProviderName, Target};
use rekey_store::AccountFilter;
use serde::Serialize;
use serde_json::{json, Value};

/// What a principal needs: actions on the managed users, actions account-wide, the users.
struct Needed {
    on_users: Vec<&'static str>,
    account_wide: Vec<&'static str>,
    users: Vec<String>,
    /// Actions and resources of the configured AWS delivery targets.
    delivery: Vec<(&'static str, String)>,
}

/// One action's pre-flight verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub action: String,
    /// `allowed`, `denied` or `mfa-required`.
    pub verdict: String,
    /// Resources on which it is not allowed.
    pub denied_on: Vec<String>,
}

impl Engine {
    async fn needed(
        &self,
        provider: Option<ProviderName>,
        kinds: &[CredentialKind],
        discovery: bool,
    ) -> Result<Needed> {
        let accounts = self.accounts(&AccountFilter { provider, folder: None }).await?;
        // An account that failed its integrity check names no user the policy grants access to.
        let mut users: Vec<String> = accounts
            .iter()
            .filter(|a| kinds.contains(&a.kind) && a.tampered.is_none())
            .map(|a| a.arn.to_string())
            .collect();
        users.sort();
        users.dedup();
        // Discovery reads every user (per-user path, import), not only the managed ones.
        if users.is_empty() || discovery {
            users = vec!["arn:aws:iam::*:user/*".into()];
        }
        let wanted = |need: Need| match need {
            Need::AccessKey => kinds.contains(&CredentialKind::AccessKey),
            Need::Password => kinds.contains(&CredentialKind::Password),
            Need::Account => true,
            Need::Discovery => discovery,
            Need::SelfPassword | Need::Vault | Need::Always | Need::Preflight | Need::Organization | Need::Delivery => {
                false
            }
        };
        let pick = |scope: Scope| {
            let mut a: Vec<&'static str> =
                ACTIONS.iter().filter(|(_, n, s)| wanted(*n) && *s == scope).map(|(a, _, _)| *a).collect();
            a.sort_unstable();
            a
        };
        let mut delivery = Vec::new();
        for a in accounts.iter().filter(|a| kinds.contains(&a.kind)) {
            for t in Self::settings_of(a)?.targets.iter().cloned() {
                match t {
                    Target::SecretsManager { secret_id, .. } => {
                        let arn = if secret_id.starts_with("arn:") {
                            secret_id
                        } else {
                            format!("arn:aws:secretsmanager:*:*:secret:{secret_id}*")
                        };
                        delivery.push(("secretsmanager:PutSecretValue", arn.clone()));
                        delivery.push(("secretsmanager:CreateSecret", arn));
                    }
                    Target::Ssm { name, .. } => {
                        delivery.push((
                            "ssm:PutParameter",
                            format!("arn:aws:ssm:*:*:parameter/{}", name.trim_start_matches('/')),
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(Needed { on_users: pick(Scope::User), account_wide: pick(Scope::Any), users, delivery })
    }

    /// The policy a provider's principal needs for its accounts of `kinds` (all providers when
    /// `provider` is `None`); `discovery` adds the account-wide read actions. Every managed
    /// user is named by ARN, whatever the size (see [`Engine::least_privilege_fitted`]).
    pub async fn least_privilege(
        &self,
        provider: Option<ProviderName>,
        kinds: &[CredentialKind],
        discovery: bool,
        delivery: bool,
    ) -> Result<Value> {
        let parts = self.policy_parts(provider, kinds, discovery, delivery).await?;
        let fitted = crate::policy_fit::fit(&parts, PolicyKind::Managed, &Naming::Arns, false);
        Ok(fitted.documents.into_iter().next().unwrap_or_default())
    }

    /// [`Engine::least_privilege`] fitted into the size limit of a `kind` policy: users named as
    /// `scope` says, split over several documents if `split` (see [`crate::policy_fit`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn least_privilege_fitted(
        &self,
        provider: Option<ProviderName>,
        kinds: &[CredentialKind],
        discovery: bool,
        delivery: bool,
        kind: PolicyKind,
        scope: &Naming,
        split: bool,
    ) -> Result<Fitted> {
        let parts = self.policy_parts(provider, kinds, discovery, delivery).await?;
        Ok(crate::policy_fit::fit(&parts, kind, scope, split))
    }

    async fn policy_parts(
        &self,
        provider: Option<ProviderName>,
        kinds: &[CredentialKind],
        discovery: bool,
        delivery: bool,
    ) -> Result<Parts> {
        let n = self.needed(provider, kinds, discovery).await?;
        let mut rest = Vec::new();
        if !n.account_wide.is_empty() {
            rest.push(
                json!({ "Sid": "RekeyAccountWide", "Effect": "Allow", "Action": n.account_wide, "Resource": "*" }),
            );
        }
        if delivery && !n.delivery.is_empty() {
            let mut actions: Vec<&str> = n.delivery.iter().map(|d| d.0).collect();
            actions.sort_unstable();
            actions.dedup();
            let mut resources: Vec<&str> = n.delivery.iter().map(|d| d.1.as_str()).collect();
            resources.sort_unstable();
            resources.dedup();
            rest.push(json!({ "Sid": "RekeyDelivery", "Effect": "Allow", "Action": actions, "Resource": resources }));
        }
        Ok(Parts { on_users: n.on_users, users: n.users, rest })
    }

    /// Simulates every action the provider's accounts need, as the provider's principal.
    pub async fn preflight(&self, provider: &ProviderName) -> Result<Vec<Verdict>> {
        let p = self.provider(provider).await?;
        let conn = self.conn(&p).await?;
        let me = self.aws.sts(&conn).await.caller_identity().await?;
        let principal = principal_arn(&me.arn);
        let n =
            self.needed(Some(provider.clone()), &[CredentialKind::Password, CredentialKind::AccessKey], false).await?;
        let iam = self.aws.iam(&conn).await;
        let unavailable = |e: rekey_aws::AwsError| match e.class {
            AwsErrorClass::Retryable | AwsErrorClass::Other | AwsErrorClass::Invalid => {
                Error::Aws(rekey_aws::AwsError {
                    class: AwsErrorClass::Other,
                    message: format!("pre-flight unavailable on this endpoint ({})", e.message),
                    ..e
                })
            }
            _ => Error::Aws(e),
        };
        let mut results = iam.simulate(&principal, &n.on_users, &n.users).await.map_err(unavailable)?;
        results.extend(iam.simulate(&principal, &n.account_wide, &["*".to_owned()]).await.map_err(unavailable)?);
        let mut verdicts: Vec<Verdict> = Vec::new();
        for action in n.on_users.iter().chain(&n.account_wide) {
            let mine: Vec<_> = results.iter().filter(|r| r.action == *action).collect();
            let denied: Vec<String> =
                mine.iter().filter(|r| r.decision != "allowed").map(|r| r.resource.clone()).collect();
            let mfa = mine.iter().any(|r| {
                r.decision != "allowed" && r.missing_context.iter().any(|c| c == "aws:MultiFactorAuthPresent")
            });
            let verdict = if denied.is_empty() && !mine.is_empty() {
                "allowed"
            } else if mfa {
                "mfa-required"
            } else {
                "denied"
            };
            verdicts.push(Verdict { action: (*action).into(), verdict: verdict.into(), denied_on: denied });
        }
        Ok(verdicts)
    }
}

/// The IAM principal behind a caller ARN (an assumed-role session → its role).
fn principal_arn(caller: &str) -> String {
    match caller.split_once(":assumed-role/") {
        Some((head, rest)) => {
            let role = rest.split('/').next().unwrap_or(rest);
            format!("{}:role/{role}", head.replacen(":sts:", ":iam:", 1))
        }
        None => caller.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::principal_arn;

    #[test]
    fn assumed_role_sessions_map_to_their_role() {
        assert_eq!(
            principal_arn("arn:aws:sts::123456789012:assumed-role/Rotator/rekey"),
            "arn:aws:iam::123456789012:role/Rotator"
        );
        assert_eq!(principal_arn("arn:aws:iam::123456789012:user/admin"), "arn:aws:iam::123456789012:user/admin");
    }
}
