//! The records commands print. Their JSON is the API's JSON for the same record (one shape per
//! record, documented once in the README's "Output formats"): a provider is the stored
//! [`Provider`], an account the listed [`AccountItem`], an audit event the [`AuditRecord`].
//! Tables pick columns from them. None of them can hold a secret.

use crate::output::{opt, time, Tabular};
use rekey_domain::CredentialKind;
use rekey_store::{listing::AccountItem, AuditRecord, Provider, ProviderAuth};
use serde::Serialize;

/// A provider as shown.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct ProviderView(pub Provider);

impl From<&Provider> for ProviderView {
    fn from(p: &Provider) -> Self {
        Self(p.clone())
    }
}

impl ProviderView {
    /// `static-key`, `default-chain` or `assume-role`.
    pub fn auth_kind(&self) -> &'static str {
        match &self.0.auth {
            ProviderAuth::StaticKey { .. } => "static-key",
            ProviderAuth::DefaultChain => "default-chain",
            ProviderAuth::AssumeRole { .. } => "assume-role",
        }
    }

    /// The access key id or the role it signs with, if any.
    pub fn identity(&self) -> Option<String> {
        match &self.0.auth {
            ProviderAuth::StaticKey { access_key_id } => Some(access_key_id.clone()),
            ProviderAuth::DefaultChain => None,
            ProviderAuth::AssumeRole { role_arn, .. } => Some(role_arn.to_string()),
        }
    }
}

impl Tabular for ProviderView {
    fn headers() -> Vec<&'static str> {
        vec!["name", "region", "auth", "identity", "endpoint_url", "created_at"]
    }
    fn cells(&self) -> Vec<String> {
        let p = &self.0;
        vec![
            p.name.to_string(),
            p.region.to_string(),
            self.auth_kind().into(),
            opt(self.identity()),
            opt(p.endpoint_url.clone()),
            time(p.created_at),
        ]
    }
}

/// An account's other name, `PROVIDER/USER/KIND`.
pub fn reference(a: &rekey_store::Account) -> String {
    format!("{}/{}/{}", a.provider, a.user_name, a.kind)
}

/// An account as shown: the API's account record. An account whose row failed its integrity
/// check is shown with the status `tampered` (nothing acts on it), by the record itself.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct AccountView(pub AccountItem);

impl From<AccountItem> for AccountView {
    fn from(item: AccountItem) -> Self {
        Self(item)
    }
}

impl AccountView {
    /// An account just added, before any check-out or rotation, as seen at `now`.
    pub fn fresh(a: &rekey_store::Account, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self(AccountItem::new(a.clone(), now, None, None))
    }

    /// The status, `tampered` for a row that failed its integrity check, and `(unverified)` on
    /// an adopted console password that was never rotated: IAM cannot confirm a password
    /// without a sign-in, so only a rotation makes it known-good.
    pub fn status_shown(&self) -> String {
        let a = &self.0.account;
        if a.tampered.is_some() {
            return rekey_domain::AccountStatus::TAMPERED.into();
        }
        let status = a.status.to_string();
        let adopted_password = a.kind == CredentialKind::Password && a.current_version.is_some();
        if adopted_password && a.last_rotated_at.is_none() && status == "ok" {
            return "ok (unverified)".into();
        }
        status
    }
}

impl Tabular for AccountView {
    fn headers() -> Vec<&'static str> {
        vec![
            "id",
            "provider",
            "user",
            "kind",
            "folder",
            "status",
            "key_id",
            "version",
            "last_rotated",
            "next_due",
            "heartbeat",
            "title",
        ]
    }
    fn cells(&self) -> Vec<String> {
        let a = &self.0.account;
        vec![
            a.id.to_string(),
            a.provider.to_string(),
            a.user_name.to_string(),
            a.kind.to_string(),
            opt(a.folder.as_ref()),
            self.status_shown(),
            opt(a.current_key_id.clone()),
            opt(a.current_version),
            opt(a.last_rotated_at.map(time)),
            opt(a.next_due_at.map(time)),
            opt(a.heartbeat.as_ref().map(|h| h.status.to_string())),
            opt(a.title.clone()),
        ]
    }
}

/// An audit event as shown.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct AuditView(pub AuditRecord);

impl Tabular for AuditView {
    fn headers() -> Vec<&'static str> {
        vec!["seq", "at", "actor", "action", "target", "outcome", "detail"]
    }
    fn cells(&self) -> Vec<String> {
        let e = &self.0.entry;
        vec![
            self.0.seq.to_string(),
            time(e.at),
            e.actor.clone(),
            e.action.clone(),
            opt(e.target.clone()),
            e.outcome.to_string(),
            e.detail.to_string(),
        ]
    }
}
