//! API tokens and what each role may do.
//!
//! A token is `rk_ID_SECRET`: the id is public (it names the token in the audit log), the
//! secret is 32 random bytes shown once at creation; the vault keeps only its SHA-256. Roles:
//! `admin` does everything; `operator` reads, rotates, heartbeats and checks out passwords;
//! `auditor` reads, runs reports and reads the audit log, never sees a secret. A token with
//! folders acts only on accounts in those folders (and their sub-folders).

use chrono::{DateTime, Utc};
use rekey_domain::Folder;
use rekey_engine::{Engine, Error, Result};
use rekey_store::{Account, ApiToken};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::{fmt, str::FromStr};

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// Read, rotate, heartbeat, check out.
    Operator,
    /// Read, reports, audit log.
    Auditor,
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "admin" => Ok(Self::Admin),
            "operator" => Ok(Self::Operator),
            "auditor" => Ok(Self::Auditor),
            _ => Err(Error::usage(format!("unknown role {s:?}"), "use admin, operator or auditor")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Admin => "admin",
            Self::Operator => "operator",
            Self::Auditor => "auditor",
        })
    }
}

/// What a request wants to do, for the role check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// List and show providers, accounts, rotations.
    Read,
    /// Rotate, heartbeat.
    Operate,
    /// Check a password out or in.
    Checkout,
    /// Show a secret.
    Reveal,
    /// Roll back, discover, other administration.
    Administer,
    /// Reports and the audit log.
    Audit,
}

impl Role {
    /// Whether the role allows `action`.
    pub fn allows(self, action: Action) -> bool {
        match self {
            Self::Admin => true,
            Self::Operator => matches!(action, Action::Read | Action::Operate | Action::Checkout),
            Self::Auditor => matches!(action, Action::Read | Action::Audit),
        }
    }
}

/// The caller of one request, once its token checked out.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token id.
    pub token_id: String,
    /// Role.
    pub role: Role,
    /// Folders it is confined to; empty for all.
    pub folders: Vec<Folder>,
    /// The token's name.
    pub name: String,
    /// When the token stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Caller {
    /// `token:ID`, as the audit log names it.
    pub fn actor(&self) -> String {
        format!("token:{}", self.token_id)
    }

    /// Whether the token may act on an account in `folder` (`None`: the root).
    pub fn sees(&self, folder: Option<&Folder>) -> bool {
        self.folders.is_empty() || folder.is_some_and(|f| self.folders.iter().any(|mine| within(f, mine)))
    }

    /// Whether it is confined to folders.
    pub fn scoped(&self) -> bool {
        !self.folders.is_empty()
    }

    /// The folders a listing covers for it (`None`: every folder).
    pub fn scope(&self) -> Option<Vec<Folder>> {
        self.scoped().then(|| self.folders.clone())
    }

    /// Keeps only the accounts it may see.
    pub fn visible(&self, accounts: Vec<Account>) -> Vec<Account> {
        accounts.into_iter().filter(|a| self.sees(a.folder.as_ref())).collect()
    }
}

fn within(folder: &Folder, root: &Folder) -> bool {
    let (f, r) = (folder.as_str(), root.as_str());
    f == r || f.strip_prefix(r).is_some_and(|rest| rest.starts_with('/'))
}

/// A token as handed to its user, once.
#[derive(Debug)]
pub struct Minted {
    /// What is stored.
    pub token: ApiToken,
    /// `rk_ID_SECRET`, shown once.
    pub bearer: rekey_crypto::Secret,
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Creates a token (audited as `token.create`).
pub async fn create(
    engine: &Engine,
    name: &str,
    role: Role,
    folders: Vec<Folder>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<Minted> {
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(Error::usage("a token name is 1 to 64 printable characters", "e.g. --name ci-pipeline"));
    }
    let id = hex::encode(rand::random::<[u8; 6]>());
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let token = ApiToken {
        id: id.clone(),
        name: name.to_owned(),
        role: role.to_string(),
        folders,
        hash: digest(&secret),
        created_at: engine.clock().now(),
        expires_at,
        revoked_at: None,
    };
    let detail = json!({ "name": token.name, "role": token.role, "folders": token.folders, "expires_at": expires_at });
    engine.store().insert_token(&token, &engine.audit_entry("token.create", Some(&id), "ok", detail)).await?;
    Ok(Minted { token, bearer: rekey_crypto::Secret::new(format!("rk_{id}_{secret}")) })
}

/// Revokes a token (audited as `token.revoke`).
pub async fn revoke(engine: &Engine, id: &str) -> Result<()> {
    let audit = engine.audit_entry("token.revoke", Some(id), "ok", json!({}));
    engine.store().revoke_token(id, engine.clock().now(), &audit).await.map_err(|e| match Error::from(e) {
        Error::NotFound { what, .. } => Error::NotFound { what, hint: "`rekey token list` shows the tokens".into() },
        other => other,
    })
}

/// Why a bearer token was not accepted (the answer is 401 either way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// No `Authorization: Bearer` header.
    Missing,
    /// Not of the form `rk_ID_SECRET`, unknown id, or wrong secret.
    Invalid(Option<String>),
    /// Revoked.
    Revoked(String),
    /// Past its expiry.
    Expired(String),
    /// Not looked at: too many failures from the request's source address (with the token id
    /// the request named, if it is well-formed).
    Throttled(Option<String>),
}

impl Rejected {
    /// What the 401 answer says.
    pub fn message(&self) -> &'static str {
        match self {
            Self::Missing => "no API token",
            Self::Invalid(_) => "the API token is not valid",
            Self::Revoked(_) => "the API token was revoked",
            Self::Expired(_) => "the API token has expired",
            Self::Throttled(_) => "too many failed authentication attempts from this address",
        }
    }
}

/// Checks a bearer token against the vault.
pub async fn authenticate(engine: &Engine, bearer: Option<&str>) -> std::result::Result<Caller, Rejected> {
    let bearer = bearer.ok_or(Rejected::Missing)?;
    let (id, secret) = split(bearer).ok_or(Rejected::Invalid(None))?;
    let token = match engine.store().token(id).await {
        Ok(t) => t,
        Err(e @ rekey_store::StoreError::Tampered { .. }) => {
            // A token row changed without the master key (an added token, a raised role): refused
            // like an unknown one, and audited.
            let detail = serde_json::json!({ "error": e.to_string() });
            let entry = engine.audit_entry("integrity", Some(&format!("token:{id}")), "failed", detail);
            if let Err(e) = engine.store().append_audit(&entry).await {
                tracing::warn!(error = %e, "could not audit a token that failed its integrity check");
            }
            return Err(Rejected::Invalid(None));
        }
        Err(_) => return Err(Rejected::Invalid(None)),
    };
    if !constant_time_eq(digest(secret).as_bytes(), token.hash.as_bytes()) {
        return Err(Rejected::Invalid(Some(id.to_owned())));
    }
    if token.revoked_at.is_some() {
        return Err(Rejected::Revoked(id.to_owned()));
    }
    if token.expires_at.is_some_and(|t| t <= engine.clock().now()) {
        return Err(Rejected::Expired(id.to_owned()));
    }
    let role = token.role.parse().map_err(|_| Rejected::Invalid(Some(id.to_owned())))?;
    Ok(Caller { token_id: token.id, role, folders: token.folders, name: token.name, expires_at: token.expires_at })
}

/// `rk_ID_SECRET` as (id, secret), if it has that form.
fn split(bearer: &str) -> Option<(&str, &str)> {
    let (id, secret) = bearer.strip_prefix("rk_")?.split_once('_')?;
    (id.len() == 12 && secret.len() == 64).then_some((id, secret))
}

/// The token id a bearer token names, if it is well-formed (not checked against the vault).
pub fn claimed_id(bearer: &str) -> Option<&str> {
    split(bearer).map(|(id, _)| id)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, folders: &[&str]) -> Caller {
        Caller {
            token_id: "t".into(),
            role,
            folders: folders.iter().map(|f| f.parse().expect("a valid folder")).collect(),
            name: "t".into(),
            expires_at: None,
        }
    }

    #[test]
    fn roles() {
        use Action::*;
        let all = [Read, Operate, Checkout, Reveal, Administer, Audit];
        let allowed = |r: Role| all.iter().filter(|a| r.allows(**a)).count();
        assert_eq!(allowed(Role::Admin), 6);
        assert!(Role::Operator.allows(Checkout) && !Role::Operator.allows(Reveal) && !Role::Operator.allows(Audit));
        assert!(Role::Auditor.allows(Audit) && !Role::Auditor.allows(Reveal) && !Role::Auditor.allows(Operate));
    }

    #[test]
    fn folders_are_prefixes_by_segment() {
        let c = caller(Role::Operator, &["prod"]);
        let f = |s: &str| s.parse::<Folder>().expect("a valid folder");
        assert!(c.sees(Some(&f("prod"))) && c.sees(Some(&f("prod/payments"))));
        assert!(!c.sees(Some(&f("prod-eu"))) && !c.sees(Some(&f("production"))) && !c.sees(None));
        assert!(caller(Role::Admin, &[]).sees(None));
    }
}
