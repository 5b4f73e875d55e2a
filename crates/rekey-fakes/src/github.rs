//! A fake of GitHub's Actions secrets API (REST, version 2022-11-28), for repository,
//! environment and organization secrets:
//!
//! - `GET /repos/{owner}/{repo}/actions/secrets/public-key`, `GET /repos/{owner}/{repo}/environments/{env}/secrets/public-key`,
//!   `GET /orgs/{org}/actions/secrets/public-key` → 200 `{"key_id", "key"}` (base64 X25519 key);
//! - `PUT …/secrets/{name}` with `{"encrypted_value", "key_id"}` (organizations: also
//!   `"visibility"`: `all`, `private` or `selected`) → 201 created, 204 updated; 422 when the
//!   key id is not the current one, the value does not open with the private key, or a field is
//!   missing; secret names are checked as GitHub checks them.
//!
//! Every request needs `Authorization: Bearer TOKEN` (or `token TOKEN`) with the configured
//! token (401 `Bad credentials` otherwise) and a `User-Agent` (403 otherwise, as GitHub does).
//! Holders must exist when a list of them is configured (404 otherwise). The fake opens every
//! sealed value with its private key and keeps the plaintext, so tests compare what arrived.

use crate::serve::{Handler, Reply, Req};
use base64::Engine as _;
use serde_json::json;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
};

/// One stored secret, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The plaintext value.
    pub value: String,
    /// Organization secrets: their visibility.
    pub visibility: Option<String>,
    /// Writes so far.
    pub writes: u32,
}

/// The fake's state.
#[derive(Debug)]
pub struct Github {
    token: String,
    key: crypto_box::SecretKey,
    key_id: Mutex<String>,
    holders: Option<BTreeSet<String>>,
    secrets: Mutex<BTreeMap<(String, String), Stored>>,
}

impl Github {
    /// A fake accepting `token`; with `holders` (`acme/app`, `acme/app:prod`, `org:acme`) only
    /// those exist.
    pub fn new(token: &str, holders: Option<BTreeSet<String>>) -> Self {
        Self {
            token: token.to_owned(),
            key: crypto_box::SecretKey::generate(&mut crypto_box::aead::OsRng),
            key_id: Mutex::new("568250167242549743".into()),
            holders,
            secrets: Mutex::new(BTreeMap::new()),
        }
    }

    /// The opened secret `name` of `holder` (`OWNER/REPO`, `OWNER/REPO:ENV`, `org:ORG`).
    pub fn secret(&self, holder: &str, name: &str) -> Option<Stored> {
        self.lock().get(&(holder.to_owned(), name.to_owned())).cloned()
    }

    /// Every secret: `((holder, name), stored)`.
    pub fn all(&self) -> Vec<((String, String), Stored)> {
        self.lock().iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// GitHub rotates its public keys now and then: a new key id (the old one is refused).
    pub fn rotate_key_id(&self, id: &str) {
        *self.key_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = id.to_owned();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Stored>> {
        self.secrets.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn key_id(&self) -> String {
        self.key_id.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// (holder, is organization, rest of the path after `secrets`).
    fn route<'a>(path: &'a [&'a str]) -> Option<(String, bool, &'a [&'a str])> {
        match path {
            ["repos", o, r, "actions", "secrets", rest @ ..] => Some((format!("{o}/{r}"), false, rest)),
            ["repos", o, r, "environments", e, "secrets", rest @ ..] => Some((format!("{o}/{r}:{e}"), false, rest)),
            ["orgs", o, "actions", "secrets", rest @ ..] => Some((format!("org:{o}"), true, rest)),
            _ => None,
        }
    }

    fn put(&self, holder: String, org: bool, name: &str, req: &Req) -> Reply {
        if !valid_name(name) {
            return error(
                422,
                "Secret names can only contain alphanumeric characters ([a-z], [A-Z], [0-9]) or underscores (_).",
            );
        }
        let Some(body) = req.json() else { return error(400, "Problems parsing JSON") };
        let (Some(sealed), Some(key_id)) = (body["encrypted_value"].as_str(), body["key_id"].as_str()) else {
            return error(422, "Invalid request: encrypted_value and key_id are required");
        };
        if key_id != self.key_id() {
            return error(422, "Bad request: key_id does not match the current public key");
        }
        let visibility = body["visibility"].as_str().map(str::to_owned);
        if org && !matches!(visibility.as_deref(), Some("all" | "private" | "selected")) {
            return error(422, "Invalid request: visibility is required (all, private, selected)");
        }
        let opened = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .ok()
            .and_then(|b| self.key.unseal(&b).ok())
            .and_then(|p| String::from_utf8(p).ok());
        let Some(value) = opened else { return error(422, "Bad request: encrypted_value could not be decrypted") };
        let mut all = self.lock();
        let entry = all.entry((holder, name.to_ascii_uppercase()));
        let created = matches!(entry, std::collections::btree_map::Entry::Vacant(_));
        let s = entry.or_insert(Stored { value: String::new(), visibility: None, writes: 0 });
        s.value = value;
        s.visibility = visibility;
        s.writes += 1;
        if created {
            (201, Some(json!({})))
        } else {
            (204, None)
        }
    }
}

/// GitHub's rules for secret names.
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && !n.to_ascii_uppercase().starts_with("GITHUB_")
}

fn error(status: u16, message: &str) -> Reply {
    (status, Some(json!({ "message": message, "documentation_url": "https://docs.github.com/rest/actions/secrets" })))
}

impl Handler for Github {
    fn handle(&self, req: &Req) -> Reply {
        if req.header("user-agent").is_none_or(str::is_empty) {
            return error(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
            );
        }
        let auth = req.header("authorization").unwrap_or("");
        let given = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("token ")).unwrap_or("");
        if given != self.token {
            return error(401, "Bad credentials");
        }
        let path = req.path();
        let Some((holder, org, rest)) = Self::route(&path) else { return error(404, "Not Found") };
        if self.holders.as_ref().is_some_and(|h| !h.contains(&holder)) {
            return error(404, "Not Found");
        }
        match (req.method.as_str(), rest) {
            ("GET", ["public-key"]) => {
                let key = base64::engine::general_purpose::STANDARD.encode(self.key.public_key().as_bytes());
                (200, Some(json!({ "key_id": self.key_id(), "key": key })))
            }
            ("PUT", [name]) => self.put(holder, org, name, req),
            ("GET", [name]) => match self.secret(&holder, &name.to_ascii_uppercase()) {
                // GitHub never returns a value: only that it exists.
                Some(_) => (200, Some(json!({ "name": name.to_ascii_uppercase() }))),
                None => error(404, "Not Found"),
            },
            _ => error(404, "Not Found"),
        }
    }
}
