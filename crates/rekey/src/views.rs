//! The records commands print. Their JSON field names are stable and documented in the README;
//! none of them can hold a secret.

use crate::output::{opt, time, Tabular};
use rekey_store::{Account, AuditRecord, Provider, ProviderAuth};
use serde::Serialize;

/// A provider as shown.
#[derive(Debug, Serialize)]
pub struct ProviderView {
    pub name: String,
    pub region: String,
    pub endpoint_url: Option<String>,
    /// `static-key`, `default-chain` or `assume-role`.
    pub auth: &'static str,
    pub access_key_id: Option<String>,
    pub role_arn: Option<String>,
    pub external_id: Option<String>,
    pub source: Option<String>,
    pub created_at: String,
}

impl From<&Provider> for ProviderView {
    fn from(p: &Provider) -> Self {
        let (auth, access_key_id, role_arn, external_id, source) = match &p.auth {
            ProviderAuth::StaticKey { access_key_id } => ("static-key", Some(access_key_id.clone()), None, None, None),
            ProviderAuth::DefaultChain => ("default-chain", None, None, None, None),
            ProviderAuth::AssumeRole { role_arn, external_id, source } => (
                "assume-role",
                None,
                Some(role_arn.to_string()),
                external_id.clone(),
                source.as_ref().map(ToString::to_string),
            ),
        };
        Self {
            name: p.name.to_string(),
            region: p.region.to_string(),
            endpoint_url: p.endpoint_url.clone(),
            auth,
            access_key_id,
            role_arn,
            external_id,
            source,
            created_at: time(p.created_at),
        }
    }
}

impl Tabular for ProviderView {
    fn headers() -> Vec<&'static str> {
        vec!["name", "region", "auth", "identity", "endpoint_url", "created_at"]
    }
    fn cells(&self) -> Vec<String> {
        let identity = self.access_key_id.clone().or_else(|| self.role_arn.clone());
        vec![
            self.name.clone(),
            self.region.clone(),
            self.auth.into(),
            opt(identity),
            opt(self.endpoint_url.clone()),
            self.created_at.clone(),
        ]
    }
}

/// An account as shown.
#[derive(Debug, Serialize)]
pub struct AccountView {
    pub id: String,
    /// `PROVIDER/USER/KIND`, the other way to name it.
    #[serde(rename = "ref")]
    pub reference: String,
    pub provider: String,
    pub user_name: String,
    pub user_id: String,
    pub arn: String,
    pub kind: String,
    pub folder: Option<String>,
    pub title: Option<String>,
    pub status: String,
    pub current_version: Option<i64>,
    pub current_key_id: Option<String>,
    pub last_rotated_at: Option<String>,
    pub next_due_at: Option<String>,
    pub heartbeat_status: Option<String>,
    pub heartbeat_at: Option<String>,
    /// Rotation settings (see `rekey account set --help`).
    pub settings: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        a.clone().into()
    }
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.to_string(),
            reference: format!("{}/{}/{}", a.provider, a.user_name, a.kind),
            provider: a.provider.to_string(),
            user_name: a.user_name.to_string(),
            user_id: a.user_id,
            arn: a.arn.to_string(),
            kind: a.kind.to_string(),
            folder: a.folder.as_ref().map(ToString::to_string),
            title: a.title,
            // An account that failed its integrity check is listed as such (nothing acts on it).
            status: if a.tampered.is_some() { "tampered".into() } else { a.status },
            current_version: a.current_version,
            current_key_id: a.current_key_id,
            last_rotated_at: a.last_rotated_at.map(time),
            next_due_at: a.next_due_at.map(time),
            heartbeat_at: a.heartbeat.as_ref().map(|h| time(h.at)),
            heartbeat_status: a.heartbeat.map(|h| h.status),
            settings: a.settings,
            created_at: time(a.created_at),
            updated_at: time(a.updated_at),
        }
    }
}

impl AccountView {
    /// The status, with `(unverified)` on an adopted console password that was never rotated:
    /// IAM cannot confirm a password without a sign-in, so only a rotation makes it known-good.
    fn status_shown(&self) -> String {
        let adopted_password = self.kind == "password" && self.current_version.is_some();
        if adopted_password && self.last_rotated_at.is_none() && self.status == "ok" {
            return "ok (unverified)".into();
        }
        self.status.clone()
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
        vec![
            self.id.clone(),
            self.provider.clone(),
            self.user_name.clone(),
            self.kind.clone(),
            opt(self.folder.clone()),
            self.status_shown(),
            opt(self.current_key_id.clone()),
            opt(self.current_version),
            opt(self.last_rotated_at.clone()),
            opt(self.next_due_at.clone()),
            opt(self.heartbeat_status.clone()),
            opt(self.title.clone()),
        ]
    }
}

/// An audit event as shown.
#[derive(Debug, Serialize)]
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
            e.outcome.clone(),
            e.detail.to_string(),
        ]
    }
}
