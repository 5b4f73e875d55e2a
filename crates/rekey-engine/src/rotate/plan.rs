//! Dry runs: what a rotation would do and why, from read-only IAM calls.

use super::{
    access_key::{classify, Owner},
    RotateOptions,
};
use crate::{accounts::OWNERSHIP_TAG_VALUE, Engine, Result};
use rekey_domain::{CredentialKind, PreviousKeyPolicy};
use rekey_store::Account;
use std::collections::{HashMap, HashSet};

/// The steps a rotation would take.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Human-readable steps, in order.
    pub steps: Vec<String>,
    /// Whether the rotation would be refused.
    pub blocked: bool,
}

pub(super) async fn plan(engine: &Engine, account: &Account, opts: &RotateOptions) -> Result<Plan> {
    let settings = Engine::settings_of(account)?;
    if let Some(open) = engine.store.rotations(Some(&account.id), true, 1).await?.into_iter().next() {
        // What IAM holds now is that rotation's work in progress: planning past it would
        // mistake its new key for a previous one.
        return Ok(Plan {
            steps: vec![format!(
                "finish unfinished rotation {} (phase {}) first: `rekey recover` resumes it, as does a rotation without --dry-run; then plan again",
                open.id, open.phase
            )],
            blocked: false,
        });
    }
    let provider = engine.provider(&account.provider).await?;
    let iam = engine.aws.iam(&engine.conn(&provider).await?).await;
    let user = account.user_name.as_str();
    let mut p = Plan::default();
    let u = iam.get_user(user).await?;
    if u.user_id != account.user_id {
        p.steps.push(format!("refuse: IAM user {user} was re-created (UserId changed)"));
        p.blocked = true;
        return Ok(p);
    }
    if account.kind == CredentialKind::Password {
        let profile = iam.login_profile(user).await?;
        let rules = settings.password.merged_with(&iam.password_policy().await?.unwrap_or_default());
        match (profile, settings.create_login_profile) {
            (None, false) => {
                p.steps.push(format!("refuse: {user} has no console password and creating one is not allowed"));
                p.blocked = true;
            }
            (profile, _) => {
                let call = if profile.is_some() { "UpdateLoginProfile" } else { "CreateLoginProfile" };
                p.steps.push(format!(
                    "generate a {}-character password (upper {}, lower {}, digits {}, symbols {}) and seal it as pending",
                    rules.length, rules.uppercase, rules.lowercase, rules.numbers, rules.symbols
                ));
                p.steps.push(format!("{call} for {user} (no reset required), then make the new password current"));
            }
        }
        return Ok(p);
    }
    let keys = iam.list_access_keys(user).await?;
    let versions = engine.store.secret_versions(account.id.as_str()).await?;
    let known: HashMap<_, _> =
        versions.into_iter().filter_map(|v| v.key_id.map(|k| (k, (v.version, v.state)))).collect();
    let tags = iam.tags_of(&u).await?;
    let others = super::access_key::keys_of_other_accounts(engine, account).await?;
    let tagged: HashSet<String> = tags
        .into_iter()
        .filter(|(k, v)| v.starts_with(OWNERSHIP_TAG_VALUE) && !others.contains(k))
        .map(|(k, _)| k)
        .collect();
    let classified = classify(&keys, account.current_key_id.as_deref(), &known, &tagged);
    let mut remaining = 0;
    for (k, o) in &classified {
        match o {
            Owner::Orphan => {
                p.steps.push(format!("delete orphan key {} (created by rekey, its secret was never stored)", k.id))
            }
            _ => remaining += 1,
        }
    }
    if remaining >= 2 {
        if let Some((k, _)) = classified.iter().find(|(_, o)| matches!(o, Owner::Ours(_))) {
            p.steps.push(format!("delete previous key {} to free a slot (it is rekey's)", k.id));
        } else if let Some((k, _)) =
            classified.iter().find(|(k, o)| *o == Owner::Foreign && !k.active && opts.reclaim_foreign)
        {
            p.steps.push(format!("delete inactive foreign key {} (--reclaim-foreign)", k.id));
        } else {
            p.steps
                .push(format!("refuse: no free key slot; {user}'s other key is not rekey's (see --reclaim-foreign)"));
            p.blocked = true;
            return Ok(p);
        }
    }
    p.steps.push(format!("CreateAccessKey for {user}; seal the secret in the vault at once"));
    p.steps.push(format!("tag {user} with the new key id ({OWNERSHIP_TAG_VALUE})"));
    let v = &settings.verify;
    p.steps.push(format!(
        "verify with GetCallerIdentity: {} consecutive successes within {} ms",
        v.successes, v.deadline_ms
    ));
    for t in &settings.targets {
        p.steps.push(format!("deliver to {}", crate::delivery::sink_for(t).describe()));
    }
    p.steps.push("make the new key current".into());
    if let Some(old) = &account.current_key_id {
        let grace = rekey_domain::duration::format_duration_ms(settings.deactivate_after_ms);
        match settings.previous_key {
            PreviousKeyPolicy::Keep => p.steps.push(format!("keep previous key {old} active (policy keep)")),
            PreviousKeyPolicy::Deactivate => p.steps.push(format!("deactivate previous key {old} after {grace}")),
            PreviousKeyPolicy::Delete => p.steps.push(format!(
                "deactivate previous key {old} after {grace}, delete it {} later",
                rekey_domain::duration::format_duration_ms(settings.delete_after_ms)
            )),
        }
        if settings.retire_only_if_unused {
            p.steps.push("…only if GetAccessKeyLastUsed shows no use since the cut-over".into());
        }
    }
    Ok(p)
}
