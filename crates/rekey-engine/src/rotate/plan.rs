//! Dry runs: what a rotation would do and why, from read-only IAM calls.

use super::RotateOptions;
use crate::ownership::{self, Freed};
use crate::{Engine, Result};
use rekey_domain::{duration::human_ms, CredentialKind, PreviousKeyPolicy};
use rekey_store::Account;

/// The steps a rotation would take.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Human-readable steps, in order.
    pub steps: Vec<String>,
    /// Whether the rotation would be refused.
    pub blocked: bool,
    /// Keys of the user that are not the account's, and why; the rotation leaves them alone.
    pub foreign: Vec<String>,
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
            foreign: vec![],
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
    let knowledge = engine.ownership_knowledge(account, iam.tags_of(&u).await?).await?;
    // The rotation's pre-flight decides with the same calls on the same facts.
    if let Some(why) = knowledge.current_held_elsewhere() {
        p.steps.push(format!("refuse: {why}"));
        p.blocked = true;
        return Ok(p);
    }
    let slot = ownership::free_slot(user, &knowledge.classify(&keys), opts.reclaim_foreign);
    p.foreign = slot.foreign.iter().map(|(k, f)| format!("{k}: {f}; left alone")).collect();
    for note in &p.foreign {
        p.steps.push(format!("leave key {note}"));
    }
    match (&slot.free, slot.refused) {
        (Some((k, Freed::Ours(_))), _) => p
            .steps
            .push(format!("delete previous key {k} to free a slot (an earlier rotation of this account made it)")),
        (Some((k, Freed::Reclaimed(f))), _) => {
            p.steps.push(format!("delete inactive foreign key {k} ({f}; --reclaim-foreign)"))
        }
        (None, Some(why)) => {
            p.steps.push(format!("refuse: {why}"));
            p.blocked = true;
            return Ok(p);
        }
        (None, None) => {}
    }
    let tag = ownership::tag_key(engine.vault_id().as_str(), account.id.as_str());
    p.steps.push(format!("TagUser {user}: {tag} = a creating mark and this account's other keys"));
    p.steps.push(format!("CreateAccessKey for {user}; seal the secret in the vault at once"));
    p.steps.push(format!("TagUser {user}: {tag} = the new key and this account's other keys (one call)"));
    let v = &settings.verify;
    p.steps.push(format!(
        "verify with GetCallerIdentity: {} consecutive successes within {}",
        v.successes,
        human_ms(v.deadline_ms)
    ));
    for t in &settings.targets {
        p.steps.push(format!("deliver to {}", crate::delivery::sink_for(t).describe()));
    }
    p.steps.push("make the new key current".into());
    if let Some(old) = &account.current_key_id {
        let after = |ms: u64| if ms == 0 { "at once".to_owned() } else { format!("after {}", human_ms(ms)) };
        let grace = after(settings.deactivate_after_ms);
        match settings.previous_key {
            PreviousKeyPolicy::Keep => p.steps.push(format!("keep previous key {old} active (policy keep)")),
            PreviousKeyPolicy::Deactivate => p.steps.push(format!("deactivate previous key {old} {grace}")),
            PreviousKeyPolicy::Delete => p.steps.push(format!(
                "deactivate previous key {old} {grace}, delete it {}",
                match settings.delete_after_ms {
                    0 => "at the same time".to_owned(),
                    ms => format!("{} later", human_ms(ms)),
                }
            )),
        }
        if settings.retire_only_if_unused {
            p.steps.push("…only if GetAccessKeyLastUsed shows no use since the cut-over".into());
        }
    }
    Ok(p)
}
