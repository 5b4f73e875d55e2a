//! `check-vault`: after a benchmark run, checks rekey's promise against moto's own state (read
//! from `/moto-api/data.json`, not through rekey): every access-key account of the vault holds a
//! current secret that opens, whose key exists in IAM for that user, is active and has exactly
//! that secret; and IAM holds no key of those users whose secret the vault does not have (a
//! pending, previous or retired version still counts as "has", but is reported). Prints one JSON
//! line of counts and problems; no secret is printed.

use anyhow::{Context, Result};
use rekey_crypto::{open, Sealed, VaultKey};
use rekey_domain::{CredentialKind, SecretState};
use rekey_store::{AccountFilter, OpenMode, SecretVersion, Store};
use std::collections::{HashMap, HashSet};

/// One access key as moto stores it.
struct IamKey {
    user: String,
    secret: String,
    active: bool,
}

fn iam_keys(state_path: &str) -> Result<HashMap<String, IamKey>> {
    let text = std::fs::read_to_string(state_path).with_context(|| format!("reading {state_path}"))?;
    let state: serde_json::Value = serde_json::from_str(&text).context("moto's state is not JSON")?;
    let mut keys = HashMap::new();
    for k in state["iam"]["AccessKey"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let field = |name: &str| k[name].as_str().unwrap_or_default().to_owned();
        keys.insert(
            field("access_key_id"),
            IamKey {
                user: field("user_name"),
                secret: field("secret_access_key"),
                active: field("status") == "Active",
            },
        );
    }
    Ok(keys)
}

fn opens_to(key: &VaultKey, v: &SecretVersion) -> Option<String> {
    let sealed = Sealed { wrapped_key: v.wrapped_key.clone(), ciphertext: v.ciphertext.clone() };
    open(key, &v.record_id, v.version, &sealed).ok().map(|s| s.expose().to_owned())
}

/// See the module documentation.
pub async fn check_vault(url: &str, state_path: &str) -> Result<()> {
    let store: std::sync::Arc<dyn Store> = rekey_store::open(url, OpenMode::Existing).await?;
    let key = crate::vault_key(store.as_ref()).await?;
    let keys = iam_keys(state_path)?;
    let accounts = store.accounts(&AccountFilter::default()).await?;
    let mut problems: Vec<String> = Vec::new();
    let (mut checked, mut ok, mut lingering) = (0usize, 0usize, 0usize);
    let mut users = HashSet::new();
    let mut held = HashSet::new();
    for a in accounts.iter().filter(|a| a.kind == CredentialKind::AccessKey) {
        checked += 1;
        let user = a.user_name.to_string();
        users.insert(user.clone());
        let versions = store.secret_versions(a.id.as_str()).await?;
        for v in &versions {
            if let Some(id) = &v.key_id {
                held.insert(id.clone());
            }
            if matches!(v.state, SecretState::Pending | SecretState::Previous) {
                lingering += 1;
            }
        }
        let current: Vec<&SecretVersion> = versions.iter().filter(|v| v.state == SecretState::Current).collect();
        let [cur] = current.as_slice() else {
            problems.push(format!("{}: {} current versions", a.id, current.len()));
            continue;
        };
        let id = cur.key_id.clone().unwrap_or_default();
        let Some(secret) = opens_to(&key, cur) else {
            problems.push(format!("{}: the current version does not open", a.id));
            continue;
        };
        match keys.get(&id) {
            None => problems.push(format!("{}: current key {id} is not in IAM", a.id)),
            Some(k) if k.user != user => problems.push(format!("{}: key {id} belongs to {}", a.id, k.user)),
            Some(k) if !k.active => problems.push(format!("{}: current key {id} is inactive", a.id)),
            Some(k) if k.secret != secret => {
                problems.push(format!("{}: the vault's secret of {id} is not IAM's", a.id))
            }
            Some(_) => ok += 1,
        }
    }
    let of_users: Vec<(&String, &IamKey)> = keys.iter().filter(|(_, k)| users.contains(&k.user)).collect();
    let nobody_has: Vec<&String> = of_users.iter().filter(|(id, _)| !held.contains(*id)).map(|(id, _)| *id).collect();
    for id in &nobody_has {
        problems.push(format!("IAM key {id} of {} is in no vault", keys[*id].user));
    }
    problems.sort();
    let out = serde_json::json!({
        "accounts": checked,
        "ok": ok,
        "iam_keys": of_users.len(),
        "keys_nobody_has": nobody_has.len(),
        "pending_or_previous_versions": lingering,
        "problems": problems.iter().take(20).collect::<Vec<_>>(),
        "problem_count": problems.len(),
    });
    println!("{out}");
    Ok(())
}
