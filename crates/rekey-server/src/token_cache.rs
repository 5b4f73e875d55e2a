//! Tokens verified a moment ago. Checking a bearer token reads its row from the vault (a
//! SHA-256 of the secret compared in constant time; no KDF) and looks for its revocation in the
//! audit log; a client sending many requests would pay those reads on each. A token that checked out is remembered for [`TTL`] under a
//! SHA-256 of the whole bearer token (never the token itself), so only a request presenting the
//! very same token finds it. A revocation (`rekey token revoke`, another process) or a change
//! of the token row therefore takes effect within [`TTL`]; an expiry is checked at every
//! request. Failures are never remembered: they go through the vault and the throttle.

use crate::auth::Caller;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// How long a verified token is taken on trust.
pub const TTL: Duration = Duration::from_secs(2);

/// Tokens remembered at most; past it the oldest half is forgotten.
const CAPACITY: usize = 4096;

/// The cache (one per server).
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], (Caller, Instant)>>,
}

fn key(bearer: &str) -> [u8; 32] {
    Sha256::digest(bearer.as_bytes()).into()
}

impl TokenCache {
    /// The caller `bearer` was verified as within [`TTL`], if it has not expired since.
    pub(crate) fn get(&self, bearer: &str, now: DateTime<Utc>) -> Option<Caller> {
        let entries = self.entries.lock().ok()?;
        let (caller, at) = entries.get(&key(bearer))?;
        let fresh = at.elapsed() < TTL && caller.expires_at.is_none_or(|t| t > now);
        fresh.then(|| caller.clone())
    }

    /// Remembers that `bearer` was verified as `caller` just now.
    pub(crate) fn put(&self, bearer: &str, caller: &Caller) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= CAPACITY {
            let mut ages: Vec<Instant> = entries.values().map(|(_, at)| *at).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            entries.retain(|_, (_, at)| *at > cut);
        }
        entries.insert(key(bearer), (caller.clone(), Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn caller(expires_at: Option<DateTime<Utc>>) -> Caller {
        Caller { token_id: "t".into(), role: Role::Auditor, folders: vec![], name: "n".into(), expires_at }
    }

    #[test]
    fn only_the_same_token_unexpired_is_found() {
        let cache = TokenCache::default();
        let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        cache.put("rk_a_b", &caller(None));
        assert!(cache.get("rk_a_b", now).is_some());
        assert!(cache.get("rk_a_c", now).is_none(), "another secret of the same id");
        cache.put("rk_x_y", &caller(Some(now)));
        assert!(cache.get("rk_x_y", now).is_none(), "expired since it was verified");
        for i in 0..CAPACITY + 10 {
            cache.put(&format!("rk_{i}"), &caller(None));
        }
        assert!(cache.entries.lock().unwrap().len() <= CAPACITY, "bounded");
    }
}
