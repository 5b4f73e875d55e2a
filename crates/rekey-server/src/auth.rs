//! Who is calling and what each role may do.
//!
//! The engine mints, revokes and verifies tokens (`rekey_engine::tokens`); this module takes the
//! bearer token from a request, has the engine check it, and decides each request from the
//! token's role and folders. Roles: `admin` does everything; `operator` reads, rotates,
//! heartbeats and checks out passwords; `auditor` reads, runs reports and reads the audit log,
//! never sees a secret. A token with folders acts only on accounts in those folders (and their
//! sub-folders).

use chrono::{DateTime, Utc};
use rekey_domain::Folder;
pub use rekey_domain::Role;
use rekey_engine::{tokens::Refused, Engine};
use rekey_store::Account;

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

impl Action {
    /// Whether `role` allows this action.
    pub fn allowed_for(self, role: Role) -> bool {
        match role {
            Role::Admin => true,
            Role::Operator => matches!(self, Self::Read | Self::Operate | Self::Checkout),
            Role::Auditor => matches!(self, Self::Read | Self::Audit),
        }
    }
}

/// The caller of one request, once its token checked out.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token id.
    pub token_id: String,
    /// What the token may do ([`Action::allowed_for`]).
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

/// Why a bearer token was not accepted (the answer is 401 either way).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header of another scheme (`Basic …`).
    NotBearer,
    /// Not of the form `rk_ID_SECRET`, unknown id, or wrong secret.
    Invalid(Option<String>),
    /// Revoked (`rekey token revoke`); the token id.
    Revoked(String),
    /// Past its expiry.
    Expired(String),
    /// Not looked at: too many failures from the request's source address (with the token id
    /// the request named, if it is well-formed).
    Throttled(Option<String>),
    /// Not checked: the vault could not be read (answered 503, not counted as a failure).
    Unavailable,
}

impl Rejected {
    /// What the 401 answer says.
    pub fn message(&self) -> &'static str {
        match self {
            Self::Missing => "no API token",
            Self::NotBearer => "the Authorization header is not a Bearer token; rekey takes an API token as Bearer",
            Self::Invalid(_) => "the API token is not valid",
            Self::Revoked(_) => "the API token was revoked",
            Self::Expired(_) => "the API token has expired",
            Self::Throttled(_) => "too many failed authentication attempts from this address",
            Self::Unavailable => "the API token could not be checked: the vault did not answer",
        }
    }
}

impl From<Refused> for Rejected {
    fn from(why: Refused) -> Self {
        match why {
            Refused::Invalid(id) => Self::Invalid(id),
            Refused::Revoked(id) => Self::Revoked(id),
            Refused::Expired(id) => Self::Expired(id),
            Refused::Unavailable => Self::Unavailable,
        }
    }
}

/// Checks a request's bearer token against the vault.
pub async fn authenticate(engine: &Engine, bearer: Option<&str>) -> std::result::Result<Caller, Rejected> {
    let token = engine.verify_token(bearer.ok_or(Rejected::Missing)?).await?;
    Ok(Caller {
        token_id: token.id,
        role: token.role,
        folders: token.folders,
        name: token.name,
        expires_at: token.expires_at,
    })
}

/// The token id a bearer token names, if it is well-formed (not checked against the vault).
pub fn claimed_id(bearer: &str) -> Option<&str> {
    rekey_engine::tokens::claimed_id(bearer)
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
        let allowed = |r: Role| all.iter().filter(|a| a.allowed_for(r)).count();
        assert_eq!(allowed(Role::Admin), 6);
        let op = Role::Operator;
        assert!(Checkout.allowed_for(op) && !Reveal.allowed_for(op) && !Audit.allowed_for(op));
        let aud = Role::Auditor;
        assert!(Audit.allowed_for(aud) && !Reveal.allowed_for(aud) && !Operate.allowed_for(aud));
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
