//! API tokens: minting, listing, revoking and verifying the bearer tokens `rekey serve` accepts.
//!
//! A token is `rk_ID_SECRET`: the id is public (it names the token in the audit log), the
//! secret is 32 random bytes shown once at creation; the vault keeps only its SHA-256, so
//! verifying a token costs one hash and one read, never a key derivation. What a token's
//! [`Role`] allows, and reading it from an HTTP header, belong to the server (`rekey_server::auth`).

use crate::{Engine, Error, Result};
use chrono::{DateTime, Utc};
use rekey_crypto::Secret;
use rekey_domain::{AuditOutcome, Folder, Role};
use rekey_store::{
    listing::{AuditQuery, Count},
    ApiToken, StoreError,
};
use serde_json::json;
use sha2::{Digest, Sha256};

/// A token as handed to its user, once.
#[derive(Debug)]
pub struct Minted {
    /// What the vault stores (the secret's digest, never the secret).
    pub token: ApiToken,
    /// `rk_ID_SECRET`, shown once.
    pub bearer: Secret,
}

/// A token that passed [`Engine::verify_token`]: who holds it and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The token's public id.
    pub id: String,
    /// Its label.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The folders it is confined to; empty for all.
    pub folders: Vec<Folder>,
    /// When it stops working, if ever (a cache of verified tokens must not outlive it).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a token was refused. Callers answer each the same way (HTTP 401); the reason goes to the
/// audit log and the failure throttle, with the token id when the bearer named a real token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not of the form `rk_ID_SECRET`, an unknown id (`None`), or a wrong secret (`Some(id)`).
    Invalid(Option<String>),
    /// Revoked (`rekey token revoke`); the token id.
    Revoked(String),
    /// Past its expiry.
    Expired(String),
    /// Not checked: the vault could not be read (nothing is known of the token either way).
    Unavailable,
}

/// The token id a bearer token names, if it has the form `rk_ID_SECRET` (not checked against the
/// vault).
pub fn claimed_id(bearer: &str) -> Option<&str> {
    split(bearer).map(|(id, _)| id)
}

impl Engine {
    /// Mints a token (audited as `token.create`); its bearer form is returned only now.
    pub async fn create_token(
        &self,
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
            role,
            folders,
            hash: digest(&secret),
            created_at: self.clock.now(),
            expires_at,
            revoked_at: None,
        };
        let detail =
            json!({ "name": token.name, "role": token.role, "folders": token.folders, "expires_at": expires_at });
        self.store.insert_token(&token, &self.audit_entry("token.create", Some(&id), AuditOutcome::Ok, detail)).await?;
        Ok(Minted { token, bearer: Secret::new(format!("rk_{id}_{secret}")) })
    }

    /// Every token, revoked and expired ones included (never their secrets).
    pub async fn tokens(&self) -> Result<Vec<ApiToken>> {
        Ok(self.store.tokens().await?)
    }

    /// Revokes a token (audited as `token.revoke`).
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        let audit = self.audit_entry("token.revoke", Some(id), AuditOutcome::Ok, json!({}));
        self.store.revoke_token(id, self.clock.now(), &audit).await.map_err(|e| match Error::from(e) {
            Error::NotFound { what, .. } => {
                Error::NotFound { what, hint: "`rekey token list` shows the tokens".into() }
            }
            other => other,
        })
    }

    /// Checks a bearer token (`rk_ID_SECRET`) against the vault. A token row that fails its
    /// integrity check is refused like an unknown one, and audited.
    pub async fn verify_token(&self, bearer: &str) -> std::result::Result<Verified, Refused> {
        let (id, secret) = split(bearer).ok_or(Refused::Invalid(None))?;
        let token = match self.store.token(id).await {
            Ok(t) => t,
            Err(e @ StoreError::Tampered { .. }) => {
                self.audit_tampered_token(id, &e).await;
                return Err(Refused::Invalid(None));
            }
            Err(StoreError::NotFound { .. }) => return Err(Refused::Invalid(None)),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the vault to check an API token");
                return Err(Refused::Unavailable);
            }
        };
        if !constant_time_eq(digest(secret).as_bytes(), token.hash.as_bytes()) {
            return Err(Refused::Invalid(Some(id.to_owned())));
        }
        self.standing(&token).await?;
        let ApiToken { id, name, role, folders, expires_at, .. } = token;
        Ok(Verified { id, name, role, folders, expires_at })
    }

    /// Whether the token `id`, verified earlier, still stands: its row intact, not revoked, not
    /// expired. For what outlives one request's check (an event stream).
    pub async fn token_stands(&self, id: &str) -> bool {
        match self.store.token(id).await {
            Ok(token) => self.standing(&token).await.is_ok(),
            Err(_) => false,
        }
    }

    /// A verified token's revocation and expiry.
    async fn standing(&self, token: &ApiToken) -> std::result::Result<(), Refused> {
        if token.revoked_at.is_some() || self.revoked_in_audit_log(&token.id).await? {
            return Err(Refused::Revoked(token.id.clone()));
        }
        if token.expires_at.is_some_and(|t| t <= self.clock.now()) {
            return Err(Refused::Expired(token.id.clone()));
        }
        Ok(())
    }

    /// Whether the audit log holds the token's `token.revoke` event. The token row's MAC binds
    /// its content, not its age: a database writer could put back the row as it was before the
    /// revocation, and it would verify. The event stays: deleting it breaks the audit chain
    /// (`rekey audit verify`), deleting the newest events is caught by an anchor. A failed read
    /// leaves the token unchecked.
    async fn revoked_in_audit_log(&self, id: &str) -> std::result::Result<bool, Refused> {
        let q = AuditQuery { action: Some("token.revoke".into()), target: Some(id.to_owned()), actor: None };
        match self.store.audit_log_page(&q, 1, None, Count::Uncounted).await {
            Ok(page) => Ok(!page.items.is_empty()),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the audit log to check a token's revocation");
                Err(Refused::Unavailable)
            }
        }
    }

    /// A token row changed without the master key (an added token, a raised role).
    async fn audit_tampered_token(&self, id: &str, e: &StoreError) {
        let detail = json!({ "error": e.to_string() });
        let entry = self.audit_entry("integrity", Some(&format!("token:{id}")), AuditOutcome::Failed, detail);
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::warn!(error = %e, "could not audit a token that failed its integrity check");
        }
    }
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `rk_ID_SECRET` as (id, secret), if it has that form.
fn split(bearer: &str) -> Option<(&str, &str)> {
    let (id, secret) = bearer.strip_prefix("rk_")?.split_once('_')?;
    (id.len() == 12 && secret.len() == 64).then_some((id, secret))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_minted_form_names_a_token() {
        let good = format!("rk_{}_{}", "a".repeat(12), "b".repeat(64));
        assert_eq!(claimed_id(&good), Some("aaaaaaaaaaaa"));
        assert_eq!(claimed_id(&good[..good.len() - 1]), None);
        assert_eq!(claimed_id(&good.replacen("rk_", "rx_", 1)), None);
        assert_eq!(claimed_id("rk_short_secret"), None);
    }
}
