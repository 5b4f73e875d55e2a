//! Every AWS action rekey calls, and what it is needed for: the single table behind
//! `rekey policy` (least-privilege policy) and behind the test that keeps the table complete.

/// Why an action is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Managing and rotating access keys.
    AccessKey,
    /// Managing and rotating console passwords.
    Password,
    /// Both kinds (user checks, tags).
    Account,
    /// Reading the whole account (discovery, drift evidence).
    Discovery,
    /// A user changing its own password (self-rotation).
    SelfPassword,
    /// The vault's own master key (KMS), not the managed accounts.
    Vault,
    /// Allowed to every principal; listed for completeness.
    Always,
    /// `provider test --preflight`, optional.
    Preflight,
    /// `provider add-org`, on the management account only.
    Organization,
    /// Delivery to AWS stores (Secrets Manager, SSM), when such targets are configured.
    Delivery,
}

/// Whether an action is scoped to the managed users' ARNs or needs `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `arn:aws:iam::ACCOUNT:user/…` of the managed users.
    User,
    /// Account-level: `*`.
    Any,
}

/// (action, need, scope) for every AWS call in this crate.
pub const ACTIONS: &[(&str, Need, Scope)] = &[
    ("iam:GetUser", Need::Account, Scope::User),
    ("iam:ListUserTags", Need::Account, Scope::User),
    ("iam:TagUser", Need::Account, Scope::User),
    ("iam:UntagUser", Need::Account, Scope::User),
    ("iam:ListAccessKeys", Need::Account, Scope::User),
    ("iam:CreateAccessKey", Need::AccessKey, Scope::User),
    ("iam:UpdateAccessKey", Need::AccessKey, Scope::User),
    ("iam:DeleteAccessKey", Need::AccessKey, Scope::User),
    ("iam:GetAccessKeyLastUsed", Need::AccessKey, Scope::User),
    ("iam:GetLoginProfile", Need::Password, Scope::User),
    ("iam:CreateLoginProfile", Need::Password, Scope::User),
    ("iam:UpdateLoginProfile", Need::Password, Scope::User),
    ("iam:GetAccountPasswordPolicy", Need::Password, Scope::Any),
    ("iam:ChangePassword", Need::SelfPassword, Scope::User),
    ("iam:GenerateCredentialReport", Need::Discovery, Scope::Any),
    ("iam:GetCredentialReport", Need::Discovery, Scope::Any),
    ("iam:ListUsers", Need::Discovery, Scope::Any),
    ("iam:GetAccountAuthorizationDetails", Need::Discovery, Scope::Any),
    ("iam:ListMFADevices", Need::Discovery, Scope::User),
    ("iam:SimulatePrincipalPolicy", Need::Preflight, Scope::Any),
    ("sts:GetCallerIdentity", Need::Always, Scope::Any),
    ("kms:GenerateDataKey", Need::Vault, Scope::Any),
    ("kms:Decrypt", Need::Vault, Scope::Any),
    ("organizations:ListAccounts", Need::Organization, Scope::Any),
    ("secretsmanager:PutSecretValue", Need::Delivery, Scope::Any),
    ("secretsmanager:CreateSecret", Need::Delivery, Scope::Any),
    ("ssm:PutParameter", Need::Delivery, Scope::Any),
];

#[cfg(test)]
mod tests {
    use super::ACTIONS;

    /// Every operation name the SDK wrappers report is in the table, and nothing else is.
    #[test]
    fn the_table_lists_exactly_the_calls_the_code_makes() {
        let sources = [
            include_str!("iam.rs"),
            include_str!("sts.rs"),
            include_str!("kms.rs"),
            include_str!("org.rs"),
            include_str!("deliver.rs"),
        ];
        let mut called: Vec<String> = Vec::new();
        for src in sources {
            for service in ["\"iam:", "\"sts:", "\"kms:", "\"organizations:", "\"secretsmanager:", "\"ssm:"] {
                for (i, _) in src.match_indices(service) {
                    let rest = &src[i + 1..];
                    let end = rest.find('"').unwrap();
                    called.push(rest[..end].to_owned());
                }
            }
        }
        called.sort();
        called.dedup();
        assert!(called.len() >= 15, "found the calls: {called:?}");
        let mut table: Vec<String> = ACTIONS.iter().map(|a| a.0.to_owned()).collect();
        table.sort();
        assert_eq!(called, table);
    }
}
