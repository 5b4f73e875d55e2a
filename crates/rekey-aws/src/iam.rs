//! IAM: only the calls rekey makes, behind [`IamApi`] so the engine can be tested with doubles.

use crate::{to_chrono, AwsError, Conn, Result};
use async_trait::async_trait;
use aws_sdk_iam::types::{StatusType, Tag};
use chrono::{DateTime, Utc};
use rekey_crypto::Secret;
use rekey_domain::PasswordPolicy;

/// An IAM user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamUser {
    /// The user name (unique in the AWS account, case-insensitively).
    pub user_name: String,
    /// Immutable unique id (changes if the user is deleted and re-created).
    pub user_id: String,
    /// ARN.
    pub arn: String,
    /// Path, e.g. `/ops/`.
    pub path: String,
    /// When IAM created the user (`None` if the answer omitted it).
    pub created: Option<DateTime<Utc>>,
    /// The user's tags (key, value), when the call returns them: `GetUser` does (all of them, at
    /// most 50 per user), `ListUsers` does not (`None`).
    pub tags: Option<Vec<(String, String)>>,
}

/// One access key as IAM lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyMeta {
    /// Access key id.
    pub id: String,
    /// Active or Inactive.
    pub active: bool,
    /// When IAM created the key: the age rotation and compliance checks measure.
    pub created: Option<DateTime<Utc>>,
}

/// A console login profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginProfileInfo {
    /// Created (IAM updates nothing else visible here).
    pub created: Option<DateTime<Utc>>,
    /// Whether the user must reset the password at next sign-in.
    pub reset_required: bool,
}

/// `GetAccessKeyLastUsed`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LastUsed {
    /// When the key was last used, if ever.
    pub at: Option<DateTime<Utc>>,
    /// Service it was used with.
    pub service: Option<String>,
    /// Region it was used in.
    pub region: Option<String>,
}

/// The IAM calls rekey makes.
#[async_trait]
pub trait IamApi: Send + Sync {
    /// `iam:GetUser`, with the user's tags.
    async fn get_user(&self, user: &str) -> Result<IamUser>;
    /// `iam:ListAccessKeys`.
    async fn list_access_keys(&self, user: &str) -> Result<Vec<AccessKeyMeta>>;
    /// `iam:CreateAccessKey`: the only time IAM returns a secret.
    async fn create_access_key(&self, user: &str) -> Result<(AccessKeyMeta, Secret)>;
    /// `iam:UpdateAccessKey`.
    async fn update_access_key(&self, user: &str, key_id: &str, active: bool) -> Result<()>;
    /// `iam:DeleteAccessKey`.
    async fn delete_access_key(&self, user: &str, key_id: &str) -> Result<()>;
    /// `iam:GetAccessKeyLastUsed`.
    async fn access_key_last_used(&self, key_id: &str) -> Result<LastUsed>;
    /// `iam:TagUser`.
    async fn tag_user(&self, user: &str, tags: &[(String, String)]) -> Result<()>;
    /// `iam:UntagUser`.
    async fn untag_user(&self, user: &str, keys: &[String]) -> Result<()>;
    /// `iam:ListUserTags`.
    async fn list_user_tags(&self, user: &str) -> Result<Vec<(String, String)>>;
    /// The tags of `user` as the call that found it returned them (`GetUser` does), else
    /// `iam:ListUserTags`.
    async fn tags_of(&self, user: &IamUser) -> Result<Vec<(String, String)>> {
        match &user.tags {
            Some(tags) => Ok(tags.clone()),
            None => self.list_user_tags(&user.user_name).await,
        }
    }
    /// `iam:GetLoginProfile`; `None` when the user has no console password.
    async fn login_profile(&self, user: &str) -> Result<Option<LoginProfileInfo>>;
    /// `iam:CreateLoginProfile`.
    async fn create_login_profile(&self, user: &str, password: &Secret) -> Result<()>;
    /// `iam:UpdateLoginProfile` — always with a password and without a reset requirement.
    async fn update_login_profile(&self, user: &str, password: &Secret) -> Result<()>;
    /// `iam:GetAccountPasswordPolicy`; `None` when the account has none.
    async fn password_policy(&self) -> Result<Option<PasswordPolicy>>;
    /// `iam:ChangePassword`: the caller changes its own console password.
    async fn change_password(&self, old: &Secret, new: &Secret) -> Result<()>;
    /// `iam:GenerateCredentialReport` until complete, then `iam:GetCredentialReport`.
    async fn credential_report(&self) -> Result<Vec<ReportRow>>;
    /// `iam:ListUsers`, all pages.
    async fn list_users(&self) -> Result<Vec<IamUser>>;
    /// `iam:GetAccountAuthorizationDetails` (users only), all pages: every user with its tags.
    async fn users_with_tags(&self) -> Result<Vec<IamUser>>;
    /// `iam:ListMFADevices`: how many MFA devices the user has.
    async fn mfa_devices(&self, user: &str) -> Result<usize>;
    /// `iam:SimulatePrincipalPolicy`: may `principal` call each action on `resources`?
    async fn simulate(&self, principal: &str, actions: &[&str], resources: &[String]) -> Result<Vec<Simulated>>;
}

/// One simulated decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulated {
    /// The action, e.g. `iam:CreateAccessKey`.
    pub action: String,
    /// The resource it was simulated on.
    pub resource: String,
    /// `allowed`, `explicitDeny` or `implicitDeny`.
    pub decision: String,
    /// Context keys the decision depended on but were not supplied (e.g. `aws:MultiFactorAuthPresent`).
    pub missing_context: Vec<String>,
}

/// One row of the IAM credential report: column name → value, as IAM wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportRow(pub std::collections::BTreeMap<String, String>);

impl ReportRow {
    /// A column's value, `None` when absent or `N/A`/`not_supported`/`no_information`.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.0
            .get(column)
            .map(String::as_str)
            .filter(|v| !matches!(*v, "" | "N/A" | "not_supported" | "no_information"))
    }
    /// A timestamp column.
    pub fn time(&self, column: &str) -> Option<DateTime<Utc>> {
        self.get(column).and_then(|v| DateTime::parse_from_rfc3339(v).ok()).map(|t| t.with_timezone(&Utc))
    }
    /// A boolean column.
    pub fn flag(&self, column: &str) -> bool {
        self.get(column) == Some("true")
    }
}

/// Parses the report's CSV (no quoted fields occur in it).
pub fn parse_report(csv: &str) -> Vec<ReportRow> {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else { return vec![] };
    let cols: Vec<&str> = header.split(',').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| ReportRow(cols.iter().zip(l.split(',')).map(|(c, v)| ((*c).to_owned(), v.to_owned())).collect()))
        .collect()
}

/// [`IamApi`] over the AWS SDK.
#[derive(Debug, Clone)]
pub struct SdkIam {
    client: aws_sdk_iam::Client,
}

/// How many times a tag listing of several pages is read at most (see `list_user_tags`).
const TAG_READS: usize = 5;

impl SdkIam {
    /// A client for `conn`.
    pub async fn connect(conn: &Conn) -> Self {
        Self { client: aws_sdk_iam::Client::new(&conn.sdk_config().await) }
    }

    /// One read of `user`'s tags, every page, and how many pages it took.
    async fn user_tags_once(&self, user: &str) -> Result<(Vec<(String, String)>, usize)> {
        let (mut tags, mut n) = (Vec::new(), 0);
        let mut pages = self.client.list_user_tags().user_name(user).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("iam:ListUserTags", e))?;
            tags.extend(tag_pairs(page.tags));
            n += 1;
        }
        Ok((tags, n))
    }
}

fn key_meta(
    id: Option<String>,
    status: Option<&StatusType>,
    created: Option<&aws_smithy_types::DateTime>,
) -> AccessKeyMeta {
    AccessKeyMeta {
        id: id.unwrap_or_default(),
        active: matches!(status, Some(StatusType::Active)),
        created: created.and_then(to_chrono),
    }
}

/// IAM's tags as (key, value) pairs.
fn tag_pairs(tags: Vec<Tag>) -> Vec<(String, String)> {
    tags.into_iter().map(|t| (t.key, t.value)).collect()
}

fn not_found_as_none<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.class == crate::AwsErrorClass::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl IamApi for SdkIam {
    async fn get_user(&self, user: &str) -> Result<IamUser> {
        let out =
            self.client.get_user().user_name(user).send().await.map_err(|e| AwsError::from_sdk("iam:GetUser", e))?;
        let u =
            out.user.ok_or_else(|| AwsError::new(crate::AwsErrorClass::Other, "iam:GetUser", "no user returned"))?;
        Ok(IamUser {
            created: to_chrono(&u.create_date),
            tags: Some(tag_pairs(u.tags.unwrap_or_default())),
            user_name: u.user_name,
            user_id: u.user_id,
            arn: u.arn,
            path: u.path,
        })
    }

    async fn list_access_keys(&self, user: &str) -> Result<Vec<AccessKeyMeta>> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_access_keys().user_name(user).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("iam:ListAccessKeys", e))?;
            keys.extend(
                page.access_key_metadata
                    .into_iter()
                    .map(|k| key_meta(k.access_key_id, k.status.as_ref(), k.create_date.as_ref())),
            );
        }
        Ok(keys)
    }

    async fn create_access_key(&self, user: &str) -> Result<(AccessKeyMeta, Secret)> {
        let out = self
            .client
            .create_access_key()
            .user_name(user)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:CreateAccessKey", e))?;
        let k = out.access_key.ok_or_else(|| {
            AwsError::new(crate::AwsErrorClass::Other, "iam:CreateAccessKey", "no access key in the response")
        })?;
        let meta = key_meta(Some(k.access_key_id), Some(&k.status), k.create_date.as_ref());
        Ok((meta, Secret::new(k.secret_access_key)))
    }

    async fn update_access_key(&self, user: &str, key_id: &str, active: bool) -> Result<()> {
        let status = if active { StatusType::Active } else { StatusType::Inactive };
        self.client
            .update_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .status(status)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:UpdateAccessKey", e))?;
        Ok(())
    }

    async fn delete_access_key(&self, user: &str, key_id: &str) -> Result<()> {
        self.client
            .delete_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:DeleteAccessKey", e))?;
        Ok(())
    }

    async fn access_key_last_used(&self, key_id: &str) -> Result<LastUsed> {
        let out = self
            .client
            .get_access_key_last_used()
            .access_key_id(key_id)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:GetAccessKeyLastUsed", e))?;
        Ok(out
            .access_key_last_used
            .map(|u| LastUsed {
                at: u.last_used_date.as_ref().and_then(to_chrono),
                service: Some(u.service_name).filter(|s| s != "N/A"),
                region: Some(u.region).filter(|s| s != "N/A"),
            })
            .unwrap_or_default())
    }

    async fn tag_user(&self, user: &str, tags: &[(String, String)]) -> Result<()> {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| AwsError::new(crate::AwsErrorClass::Invalid, "iam:TagUser", e.to_string()))?;
        self.client
            .tag_user()
            .user_name(user)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:TagUser", e))?;
        Ok(())
    }

    async fn untag_user(&self, user: &str, keys: &[String]) -> Result<()> {
        self.client
            .untag_user()
            .user_name(user)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:UntagUser", e))?;
        Ok(())
    }

    async fn list_user_tags(&self, user: &str) -> Result<Vec<(String, String)>> {
        // A read of several pages while another process writes or removes a tag can miss a tag
        // that was there all along (those after a removed one move up into a page already read),
        // or hold a marker that no longer points into the list. Whoever takes a credential
        // decides on this read (see the engine's ownership module), so a read that took several
        // pages is repeated until two in a row agree (IAM answers 50 tags, its most per user, in
        // one page of its default 100, but may answer with fewer).
        let mut last = None;
        for _ in 0..TAG_READS {
            match self.user_tags_once(user).await {
                Ok((tags, 1)) => return Ok(tags),
                Ok((tags, _)) if last.as_ref() == Some(&tags) => return Ok(tags),
                Ok((tags, _)) => last = Some(tags),
                Err(e) if e.code.as_deref() == Some("ValidationError") && e.message.contains("Marker") => last = None,
                Err(e) => return Err(e),
            }
        }
        Err(AwsError::new(
            crate::AwsErrorClass::Retryable,
            "iam:ListUserTags",
            format!("the tags of IAM user {user} changed during each of {TAG_READS} reads"),
        ))
    }

    async fn login_profile(&self, user: &str) -> Result<Option<LoginProfileInfo>> {
        let r = self
            .client
            .get_login_profile()
            .user_name(user)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:GetLoginProfile", e));
        not_found_as_none(r).map(|o| {
            o.and_then(|out| out.login_profile).map(|p| LoginProfileInfo {
                created: to_chrono(&p.create_date),
                reset_required: p.password_reset_required,
            })
        })
    }

    async fn create_login_profile(&self, user: &str, password: &Secret) -> Result<()> {
        self.client
            .create_login_profile()
            .user_name(user)
            .password(password.expose())
            .password_reset_required(false)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:CreateLoginProfile", e))?;
        Ok(())
    }

    async fn update_login_profile(&self, user: &str, password: &Secret) -> Result<()> {
        self.client
            .update_login_profile()
            .user_name(user)
            .password(password.expose())
            .password_reset_required(false)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:UpdateLoginProfile", e))?;
        Ok(())
    }

    async fn password_policy(&self) -> Result<Option<PasswordPolicy>> {
        let r = self
            .client
            .get_account_password_policy()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:GetAccountPasswordPolicy", e));
        Ok(not_found_as_none(r)?.and_then(|o| o.password_policy).map(|p| PasswordPolicy {
            minimum_length: p.minimum_password_length.and_then(|n| u8::try_from(n).ok()).unwrap_or(6),
            require_uppercase: p.require_uppercase_characters,
            require_lowercase: p.require_lowercase_characters,
            require_numbers: p.require_numbers,
            require_symbols: p.require_symbols,
        }))
    }

    async fn change_password(&self, old: &Secret, new: &Secret) -> Result<()> {
        self.client
            .change_password()
            .old_password(old.expose())
            .new_password(new.expose())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("iam:ChangePassword", e))?;
        Ok(())
    }

    async fn list_users(&self) -> Result<Vec<IamUser>> {
        let mut users = Vec::new();
        let mut pages = self.client.list_users().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("iam:ListUsers", e))?;
            users.extend(page.users.into_iter().map(|u| IamUser {
                created: to_chrono(&u.create_date),
                tags: None,
                user_name: u.user_name,
                user_id: u.user_id,
                arn: u.arn,
                path: u.path,
            }));
        }
        Ok(users)
    }

    async fn users_with_tags(&self) -> Result<Vec<IamUser>> {
        let mut users = Vec::new();
        let mut pages = self
            .client
            .get_account_authorization_details()
            .filter(aws_sdk_iam::types::EntityType::User)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("iam:GetAccountAuthorizationDetails", e))?;
            for u in page.user_detail_list.unwrap_or_default() {
                users.push(IamUser {
                    created: u.create_date.as_ref().and_then(to_chrono),
                    tags: Some(tag_pairs(u.tags.unwrap_or_default())),
                    user_name: u.user_name.unwrap_or_default(),
                    user_id: u.user_id.unwrap_or_default(),
                    arn: u.arn.unwrap_or_default(),
                    path: u.path.unwrap_or_default(),
                });
            }
        }
        Ok(users)
    }

    async fn mfa_devices(&self, user: &str) -> Result<usize> {
        let mut n = 0;
        let mut pages = self.client.list_mfa_devices().user_name(user).into_paginator().send();
        while let Some(page) = pages.next().await {
            n += page.map_err(|e| AwsError::from_sdk("iam:ListMFADevices", e))?.mfa_devices.len();
        }
        Ok(n)
    }

    async fn simulate(&self, principal: &str, actions: &[&str], resources: &[String]) -> Result<Vec<Simulated>> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .simulate_principal_policy()
            .policy_source_arn(principal)
            .set_action_names(Some(actions.iter().map(|a| (*a).to_owned()).collect()))
            .set_resource_arns(Some(resources.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::from_sdk("iam:SimulatePrincipalPolicy", e))?;
            for r in page.evaluation_results.unwrap_or_default() {
                out.push(Simulated {
                    action: r.eval_action_name,
                    resource: r.eval_resource_name.unwrap_or_else(|| "*".into()),
                    decision: r.eval_decision.as_str().to_owned(),
                    missing_context: r.missing_context_values.unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    async fn credential_report(&self) -> Result<Vec<ReportRow>> {
        let mut wait = std::time::Duration::from_millis(200);
        for _ in 0..30 {
            let out = self
                .client
                .generate_credential_report()
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("iam:GenerateCredentialReport", e))?;
            if out.state == Some(aws_sdk_iam::types::ReportStateType::Complete) {
                let report = self
                    .client
                    .get_credential_report()
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("iam:GetCredentialReport", e))?;
                let bytes = report.content.map(aws_smithy_types::Blob::into_inner).unwrap_or_default();
                return Ok(parse_report(&String::from_utf8_lossy(&bytes)));
            }
            // IAM builds the report asynchronously; poll with backoff.
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(std::time::Duration::from_secs(5));
        }
        Err(AwsError::new(
            crate::AwsErrorClass::Retryable,
            "iam:GenerateCredentialReport",
            "the report was not ready in time",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_credential_report() {
        let csv = "user,arn,password_enabled,password_last_changed\n<root_account>,arn:aws:iam::1:root,not_supported,not_supported\nalice,arn:aws:iam::1:user/alice,true,2026-01-02T03:04:05+00:00\n";
        let rows = parse_report(csv);
        assert_eq!(rows.len(), 2);
        assert!(rows[1].flag("password_enabled"));
        assert_eq!(rows[1].time("password_last_changed").unwrap().to_rfc3339(), "2026-01-02T03:04:05+00:00");
        assert_eq!(rows[0].get("password_enabled"), None);
    }
}
