//! GitHub Actions secrets: a repository's, an environment's or an organization's. GitHub takes
//! secret values only sealed (libsodium `crypto_box_seal`: an ephemeral X25519 key, XSalsa20-
//! Poly1305) to the holder's public key, so each delivery reads the public key
//! (`GET …/secrets/public-key`) and writes both secrets (`PUT …/secrets/NAME` with
//! `encrypted_value` and `key_id`; 201 created, 204 updated). Writing the same values again is
//! harmless, so a delivery repeated after a crash or a lost answer is idempotent.
//!
//! The token (a fine-grained token with "Secrets: write" on the repository or environment, or
//! "Organization secrets: write"; or a classic token with `repo` / `admin:org`) is read from
//! its variable or file at each send and travels only in the `Authorization` header.

use super::{
    http::{read_token, segment, Http, Request},
    Delivery, Sink,
};
use crate::{failpoint::crash_point, Error, Result};
use async_trait::async_trait;
use base64::Engine as _;
use http::Method;
use rekey_crypto::Secret;
use rekey_domain::targets::{token_source, GithubTarget, OrgVisibility};
use std::time::Duration;
use zeroize::Zeroizing;

/// The REST API version rekey speaks.
const API_VERSION: &str = "2022-11-28";

/// A GitHub Actions target.
#[derive(Debug, Clone)]
pub struct Github(pub GithubTarget);

/// A holder's public key.
struct PublicKey {
    id: String,
    key: crypto_box::PublicKey,
}

impl Github {
    /// `…/actions/secrets` (repository, organization) or `…/environments/ENV/secrets`.
    fn secrets_url(&self) -> String {
        let base = self.0.api_url.trim_end_matches('/');
        match (&self.0.repository, &self.0.environment, &self.0.organization) {
            (Some(repo), Some(env), _) => format!("{base}/repos/{repo}/environments/{}/secrets", segment(env)),
            (Some(repo), None, _) => format!("{base}/repos/{repo}/actions/secrets"),
            (_, _, Some(org)) => format!("{base}/orgs/{org}/actions/secrets"),
            _ => base.to_owned(),
        }
    }

    fn token(&self) -> Result<Zeroizing<String>> {
        let src = token_source(self.0.token_env.as_ref(), self.0.token_file.as_ref(), "GitHub token")?;
        read_token(&src, "GitHub token")
    }

    fn request(&self, method: Method, url: String, token: &str) -> Request<'static> {
        Request::new(method, url)
            .header("authorization", format!("Bearer {token}"))
            .header("x-github-api-version", API_VERSION)
            .header("accept", "application/vnd.github+json")
    }

    async fn public_key(&self, http: &Http, token: &str) -> Result<PublicKey> {
        let what = format!("{}: GET public-key", self.describe());
        let a =
            http.send(&self.request(Method::GET, format!("{}/public-key", self.secrets_url()), token), &what).await?;
        if !a.status.is_success() {
            return Err(a.failure(&what));
        }
        let v = a.json(&what)?;
        let (Some(id), Some(key)) = (v["key_id"].as_str(), v["key"].as_str()) else {
            return Err(Error::Delivery(format!("{what}: the answer has no key_id and key")));
        };
        let bytes: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::Delivery(format!("{what}: the key is not a 32-byte X25519 key")))?;
        Ok(PublicKey { id: id.to_owned(), key: crypto_box::PublicKey::from(bytes) })
    }

    async fn put(&self, http: &Http, token: &str, pk: &PublicKey, name: &str, value: &Secret) -> Result<()> {
        let sealed = seal(&pk.key, value.expose().as_bytes())?;
        let mut body = serde_json::json!({ "encrypted_value": sealed, "key_id": pk.id });
        if self.0.organization.is_some() {
            let visibility = match self.0.visibility.unwrap_or_default() {
                OrgVisibility::Private => "private",
                OrgVisibility::All => "all",
            };
            body["visibility"] = visibility.into();
        }
        let what = format!("{}: PUT {name}", self.describe());
        let req = self.request(Method::PUT, format!("{}/{name}", self.secrets_url()), token).json(&body);
        let a = http.send(&req, &what).await?;
        if a.status.is_success() {
            Ok(())
        } else {
            Err(a.failure(&what))
        }
    }
}

/// `crypto_box_seal` of `plain` to `key`, base64 (standard alphabet, padded) as GitHub wants.
pub fn seal(key: &crypto_box::PublicKey, plain: &[u8]) -> Result<String> {
    let sealed = key
        .seal(&mut crypto_box::aead::OsRng, plain)
        .map_err(|_| Error::Internal("sealing a secret for GitHub failed".into()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

#[async_trait]
impl Sink for Github {
    fn describe(&self) -> String {
        self.0.describe()
    }

    fn writes_in_parts(&self) -> bool {
        true
    }

    fn ready(&self) -> Result<()> {
        self.token().map(drop)
    }

    async fn deliver(&self, d: &Delivery<'_>) -> Result<()> {
        let token = self.token()?;
        let http = Http::system(Duration::from_millis(self.0.timeout_ms))?;
        let pk = self.public_key(&http, &token).await?;
        let key_id = Secret::new(d.key_id.unwrap_or_default());
        self.put(&http, &token, &pk, &self.0.key_id_name, &key_id).await?;
        crash_point("delivery:github:after-key-id");
        self.put(&http, &token, &pk, &self.0.secret_name, d.secret).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_the_secret_key_only() {
        let sk = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        let sealed = seal(&sk.public_key(), b"wJalrXUtnFEMI/K7MDENG").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(&sealed).unwrap();
        assert_eq!(bytes.len(), 21 + 48, "ephemeral key (32) and tag (16) around the value");
        assert_eq!(sk.unseal(&bytes).unwrap(), b"wJalrXUtnFEMI/K7MDENG");
        let other = crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng);
        assert!(other.unseal(&bytes).is_err());
    }

    #[test]
    fn urls_by_scope() {
        let mut t = GithubTarget {
            api_url: "https://ghe.example.com/api/v3/".into(),
            repository: Some("acme/app".into()),
            environment: Some("prod eu".into()),
            organization: None,
            visibility: None,
            key_id_name: "A".into(),
            secret_name: "B".into(),
            token_env: Some("T".into()),
            token_file: None,
            timeout_ms: 1000,
            format: None,
        };
        assert_eq!(
            Github(t.clone()).secrets_url(),
            "https://ghe.example.com/api/v3/repos/acme/app/environments/prod%20eu/secrets"
        );
        t.environment = None;
        assert_eq!(Github(t.clone()).secrets_url(), "https://ghe.example.com/api/v3/repos/acme/app/actions/secrets");
        t.repository = None;
        t.organization = Some("acme".into());
        assert_eq!(Github(t).secrets_url(), "https://ghe.example.com/api/v3/orgs/acme/actions/secrets");
    }
}
