//! Discovery: every IAM user of a provider's account with its credentials, and how each
//! credential relates to the vault (managed / known / foreign, and why), plus import.
//!
//! The credential-report path costs a handful of calls whatever the number of users: the
//! report (per-user password, MFA and key facts), `GetAccountAuthorizationDetails` pages
//! (user ids, paths, tags), and `ListAccessKeys` only for users the vault manages (key ids are
//! not in the report). The per-user path (`ListUsers`, then keys, login profile, tags, MFA per
//! user, bounded in concurrency) is the fallback when the report is unavailable. Every fact says
//! which source it came from. Reports go further ([`Mode::Report`]): a managed user's keys are
//! named from the vault's facts, so a report of any size makes a handful of calls.

use crate::ownership::{self, Foreign, Knowledge, KnownRotation};
use crate::{Engine, Error, Result};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use rekey_aws::{IamApi, IamUser, ReportRow};
use rekey_domain::{AccountStatus, CredentialKind, KeyOwnership, ProviderName, SecretState};
use rekey_store::{Account, AccountFilter};
use serde::Serialize;
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

/// Where facts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The credential report, falling back to per-user calls if it is unavailable.
    Auto,
    /// Per-user calls only.
    PerUser,
    /// For reports: the credential report and what the vault knows; a managed user's keys are
    /// named from the vault's facts (its current key is the newest active one) and asked of IAM
    /// only when the report cannot tell them apart. Falls back to per-user calls like `Auto`.
    Report,
}

/// Tag conventions.
#[derive(Debug, Clone)]
pub struct Tags {
    /// A user tagged `KEY=true` is exempt from import and reports it as exempt.
    pub exempt: String,
    /// `KEY=OWNER` names the user's owner.
    pub owner: String,
}

impl Default for Tags {
    fn default() -> Self {
        Self { exempt: "rekey:exempt".into(), owner: crate::accounts::OWNER_TAG.into() }
    }
}

/// One access key as discovered.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct FoundKey {
    /// Key id (absent on the report path for users the vault does not manage).
    pub id: Option<String>,
    pub active: bool,
    /// Created or last rotated.
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub created: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub last_used: Option<DateTime<Utc>>,
    pub last_used_service: Option<String>,
    /// How it relates to the vault; why when foreign is in `ownership_detail`.
    pub ownership: KeyOwnership,
    /// Why a key is foreign ("managed by another rekey vault 0123456789abcdef").
    pub ownership_detail: Option<String>,
}

/// One IAM user as discovered.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct FoundUser {
    pub provider: String,
    pub user_name: String,
    pub user_id: String,
    pub arn: String,
    pub path: String,
    pub tags: BTreeMap<String, String>,
    pub owner: Option<String>,
    pub exempt: bool,
    pub password_enabled: bool,
    /// How the console password relates to the vault (`managed`/`known` by an account of this
    /// provider, else `foreign`); absent without a password. Why when foreign is in
    /// `password_ownership_detail`.
    pub password_ownership: Option<KeyOwnership>,
    /// Whose the password is when foreign ("managed by another rekey vault 0123456789abcdef").
    pub password_ownership_detail: Option<String>,
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub password_last_used: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub password_last_changed: Option<DateTime<Utc>>,
    pub mfa_active: Option<bool>,
    pub keys: Vec<FoundKey>,
    /// Vault accounts of this user, `ID (KIND)`.
    pub accounts: Vec<String>,
    /// Fact → source (`credential-report`, `authorization-details`, `list-access-keys`, …).
    pub sources: BTreeMap<String, String>,
}

/// A provider's discovery.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    pub provider: String,
    /// `credential-report` or `per-user`.
    pub path: String,
    pub users: Vec<FoundUser>,
    pub api_calls: u64,
    pub duration_ms: u128,
}

/// Counts IAM calls (for the output and the benchmarks).
#[derive(Debug, Default)]
struct Calls(AtomicU64);

impl Calls {
    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

struct Ctx {
    provider: ProviderName,
    tags: Tags,
    accounts: Vec<Account>,
    /// User name → indexes into `accounts`.
    by_user: HashMap<String, Vec<usize>>,
    known: HashMap<String, KeyOwnership>,
    /// This vault's id and rotations, for keys its ownership tags name (see [`ownership`]).
    vault: String,
    rotations: HashMap<String, KnownRotation>,
    /// Keys that accounts of this vault under other providers hold → that account.
    elsewhere: HashMap<String, String>,
    /// Every account of this vault (any provider), for the accounts password marks name.
    vault_accounts: HashSet<String>,
    calls: Calls,
}

impl Ctx {
    /// The vault's accounts of IAM user `user`.
    fn accounts_of<'a>(&'a self, user: &str) -> impl Iterator<Item = &'a Account> + 'a {
        self.by_user.get(user).into_iter().flatten().map(|i| &self.accounts[*i])
    }

    /// The vault's account of `user` of `kind`.
    fn account_of(&self, user: &str, kind: CredentialKind) -> Option<&Account> {
        self.accounts_of(user).find(|a| a.kind == kind)
    }

    /// What decides whose `key` of a user with `tags` is, as an import would decide it (see
    /// [`Knowledge::claimed`]); the rotations and accounts are only those the tags name.
    fn knowledge(&self, tags: &BTreeMap<String, String>, key: Option<&str>) -> Knowledge {
        let tags: Vec<(String, String)> = tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let rotations = ownership::named_rotations(&tags)
            .into_iter()
            .filter_map(|r| Some((r.clone(), self.rotations.get(&r)?.clone())))
            .collect();
        let accounts = ownership::named_accounts(&self.vault, &tags)
            .into_iter()
            .filter(|a| self.vault_accounts.contains(a))
            .collect();
        let siblings = key.and_then(|k| Some((k.to_owned(), self.elsewhere.get(k)?.clone()))).into_iter().collect();
        Knowledge { vault: self.vault.clone(), rotations, accounts, siblings, tags, ..Knowledge::default() }
    }
}

impl Engine {
    /// Discovers a provider's users.
    pub async fn discover(&self, provider: &ProviderName, mode: Mode, tags: &Tags) -> Result<Discovery> {
        self.discover_observed(provider, mode, tags, &|_, _| {}).await
    }

    /// Discovers a provider's users, telling `progress(done, total)` how the per-user path goes.
    pub async fn discover_observed(
        &self,
        provider: &ProviderName,
        mode: Mode,
        tags: &Tags,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Discovery> {
        let started = Instant::now();
        let p = self.provider(provider).await?;
        let iam = self.aws.iam(&self.conn(&p).await?).await;
        let accounts = self.accounts(&AccountFilter { provider: Some(provider.clone()), folder: None }).await?;
        let status: HashMap<&str, AccountStatus> = accounts.iter().map(|a| (a.id.as_str(), a.status)).collect();
        let mut known = HashMap::new();
        for v in self.store.provider_secret_versions(provider).await? {
            // An account added since `accounts` was read is not this discovery's.
            let (Some(k), Some(s)) = (v.key_id, status.get(v.record_id.as_str())) else { continue };
            let managed = v.state == SecretState::Current && *s == AccountStatus::Ok;
            known.insert(k, if managed { KeyOwnership::Managed } else { KeyOwnership::Known });
        }
        let mut rotations = HashMap::new();
        for r in self.store.rotations(None, false, 1_000_000).await? {
            rotations.insert(r.id, KnownRotation { account: r.account_id.to_string() });
        }
        let (elsewhere, vault_accounts) = self.held_elsewhere(provider).await?;
        let mut by_user: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, a) in accounts.iter().enumerate() {
            by_user.entry(a.user_name.to_string()).or_default().push(i);
        }
        let ctx = Ctx {
            provider: provider.clone(),
            tags: tags.clone(),
            accounts,
            by_user,
            known,
            vault: self.vault_id().to_string(),
            rotations,
            elsewhere,
            vault_accounts,
            calls: Calls::default(),
        };
        let (path, users) = match mode {
            Mode::Auto | Mode::Report => match report_path(&ctx, iam.as_ref(), mode == Mode::Report).await {
                Ok(users) => ("credential-report", users),
                Err(e) => {
                    tracing::warn!(error = %e, "the credential report is unavailable; discovering user by user");
                    ("per-user", per_user_path(&ctx, &iam, progress).await?)
                }
            },
            Mode::PerUser => ("per-user", per_user_path(&ctx, &iam, progress).await?),
        };
        Ok(Discovery {
            provider: provider.to_string(),
            path: path.into(),
            users,
            api_calls: ctx.calls.0.load(Ordering::Relaxed),
            duration_ms: started.elapsed().as_millis(),
        })
    }
}

impl Engine {
    /// The keys accounts of this vault under providers other than `provider` hold (→ that
    /// account), and the ids of all its accounts.
    async fn held_elsewhere(&self, provider: &ProviderName) -> Result<(HashMap<String, String>, HashSet<String>)> {
        let all = self.accounts(&AccountFilter::default()).await?;
        let others: HashSet<&str> = all.iter().filter(|a| a.provider != *provider).map(|a| a.id.as_str()).collect();
        let mut held = HashMap::new();
        for p in self.store.providers().await?.into_iter().filter(|p| p.name != *provider) {
            for v in self.store.provider_secret_versions(&p.name).await? {
                if let Some(k) = v.key_id.filter(|_| others.contains(v.record_id.as_str())) {
                    held.insert(k, v.record_id);
                }
            }
        }
        Ok((held, all.iter().map(|a| a.id.to_string()).collect()))
    }
}

fn base_user(ctx: &Ctx, u: &IamUser, tags: Vec<(String, String)>, tag_source: &str) -> FoundUser {
    let tags: BTreeMap<String, String> = tags.into_iter().collect();
    let accounts = ctx.accounts_of(&u.user_name).map(|a| format!("{} ({})", a.id, a.kind)).collect();
    FoundUser {
        provider: ctx.provider.to_string(),
        user_name: u.user_name.clone(),
        user_id: u.user_id.clone(),
        arn: u.arn.clone(),
        path: u.path.clone(),
        owner: tags.get(&ctx.tags.owner).cloned(),
        exempt: tags.get(&ctx.tags.exempt).is_some_and(|v| v.eq_ignore_ascii_case("true")),
        tags,
        password_enabled: false,
        password_ownership: None,
        password_ownership_detail: None,
        password_last_used: None,
        password_last_changed: None,
        mfa_active: None,
        keys: vec![],
        accounts,
        sources: BTreeMap::from([("user".into(), tag_source.into()), ("tags".into(), tag_source.into())]),
    }
}

/// How a key relates to the vault, and why when it is not the vault's: the question an import
/// asks ([`Knowledge::claimed`]), a key nobody holds being one rekey did not create.
fn ownership(ctx: &Ctx, id: &str, tags: &BTreeMap<String, String>) -> (KeyOwnership, Option<String>) {
    if let Some(s) = ctx.known.get(id) {
        return (*s, None);
    }
    let whose = ctx.knowledge(tags, Some(id)).claimed(id).unwrap_or(Foreign::Untagged);
    (KeyOwnership::Foreign, Some(whose.to_string()))
}

/// How the user's console password relates to the vault: managed (or known, while the account
/// is not ok) by this provider's password account, else foreign — another account's (of any
/// vault) by its mark ([`Knowledge::password_claimed`]), or nobody's.
fn password_ownership(ctx: &Ctx, u: &mut FoundUser) {
    if !u.password_enabled {
        return;
    }
    if let Some(a) = ctx.account_of(&u.user_name, CredentialKind::Password) {
        let managed = a.status == AccountStatus::Ok;
        u.password_ownership = Some(if managed { KeyOwnership::Managed } else { KeyOwnership::Known });
        return;
    }
    let whose = ctx.knowledge(&u.tags, None).password_claimed();
    u.password_ownership = Some(KeyOwnership::Foreign);
    u.password_ownership_detail = Some(whose.map_or_else(|| "not managed by rekey".to_owned(), |f| f.to_string()));
}

/// Exact keys for a user the vault manages.
async fn exact_keys(ctx: &Ctx, iam: &dyn IamApi, u: &mut FoundUser) -> Result<()> {
    ctx.calls.add(1);
    let keys = iam.list_access_keys(&u.user_name).await?;
    u.keys.clear();
    for k in keys {
        ctx.calls.add(1);
        let used = iam.access_key_last_used(&k.id).await?;
        let (ownership, ownership_detail) = ownership(ctx, &k.id, &u.tags);
        u.keys.push(FoundKey {
            ownership,
            ownership_detail,
            id: Some(k.id),
            active: k.active,
            created: k.created,
            last_used: used.at,
            last_used_service: used.service,
        });
    }
    u.sources.insert("keys".into(), "list-access-keys".into());
    Ok(())
}

/// Names the keys of a user the vault manages from the report's slots and the vault's facts,
/// without a call: the access-key account's current key is the newest active slot (a rotation
/// creates the newest key); another slot is the vault's earlier key, or foreign when the
/// account's last heartbeat found keys the vault does not own. `false` when the report cannot
/// tell (no access-key account, no active slot, or two active slots created at the same time).
fn stored_keys(ctx: &Ctx, u: &mut FoundUser) -> bool {
    let Some(a) = ctx.account_of(&u.user_name, CredentialKind::AccessKey) else { return false };
    let active: Vec<usize> = (0..u.keys.len()).filter(|i| u.keys[*i].active).collect();
    let newest = match active.as_slice() {
        [one] => *one,
        [x, y] if u.keys[*x].created != u.keys[*y].created => {
            if u.keys[*x].created > u.keys[*y].created {
                *x
            } else {
                *y
            }
        }
        _ => return false,
    };
    let foreign = a
        .heartbeat
        .as_ref()
        .and_then(|h| h.detail.get("foreign_keys"))
        .and_then(serde_json::Value::as_array)
        .is_some_and(|ids| !ids.is_empty());
    for (i, k) in u.keys.iter_mut().enumerate() {
        if i == newest {
            k.id.clone_from(&a.current_key_id);
            k.ownership = if a.status == AccountStatus::Ok { KeyOwnership::Managed } else { KeyOwnership::Known };
        } else {
            k.ownership = if foreign { KeyOwnership::Foreign } else { KeyOwnership::Known };
        }
    }
    u.sources.insert("keys".into(), "credential-report+vault".into());
    true
}

async fn report_path(ctx: &Ctx, iam: &dyn IamApi, stored: bool) -> Result<Vec<FoundUser>> {
    ctx.calls.add(2);
    let report: HashMap<String, ReportRow> =
        iam.credential_report().await?.into_iter().filter_map(|r| Some((r.get("user")?.to_owned(), r))).collect();
    ctx.calls.add(1);
    let mut out = Vec::new();
    for mut u in iam.users_with_tags().await? {
        let tags = u.tags.take().unwrap_or_default();
        let mut f = base_user(ctx, &u, tags, "authorization-details");
        if let Some(r) = report.get(&u.user_name) {
            f.password_enabled = r.flag("password_enabled");
            f.password_last_used = r.time("password_last_used");
            f.password_last_changed = r.time("password_last_changed");
            f.mfa_active = Some(r.flag("mfa_active"));
            for slot in ["access_key_1", "access_key_2"] {
                let rotated = r.time(&format!("{slot}_last_rotated"));
                if r.flag(&format!("{slot}_active")) || rotated.is_some() {
                    f.keys.push(FoundKey {
                        id: None,
                        active: r.flag(&format!("{slot}_active")),
                        created: rotated,
                        last_used: r.time(&format!("{slot}_last_used_date")),
                        last_used_service: r.get(&format!("{slot}_last_used_service")).map(str::to_owned),
                        ownership: KeyOwnership::Foreign,
                        ownership_detail: None,
                    });
                }
            }
            for fact in ["password", "mfa", "keys"] {
                f.sources.insert(fact.into(), "credential-report".into());
            }
        }
        password_ownership(ctx, &mut f);
        let named_from_facts = stored && !f.accounts.is_empty() && stored_keys(ctx, &mut f);
        if !f.accounts.is_empty() && !named_from_facts {
            exact_keys(ctx, iam, &mut f).await?;
        }
        out.push(f);
    }
    // The report lists a key only while IAM has it; one created since the report is missing.
    Ok(out)
}

async fn per_user_path(
    ctx: &Ctx,
    iam: &Arc<dyn IamApi>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<FoundUser>> {
    ctx.calls.add(1);
    let users = iam.list_users().await?;
    let total = users.len();
    let done = AtomicU64::new(0);
    let done = &done;
    // Bounded concurrency: 8 users in flight, results in listing order. Each future owns its
    // user: a closure over borrowed users would make the future's `Send` bound higher-ranked,
    // which the compiler cannot prove (rust-lang/rust#102211) where a handler must be `Send`.
    futures_util::stream::iter(users.into_iter().map(|u| async move {
        ctx.calls.add(3);
        let (tags, profile, mfa) = tokio::try_join!(
            iam.list_user_tags(&u.user_name),
            iam.login_profile(&u.user_name),
            iam.mfa_devices(&u.user_name)
        )?;
        let mut f = base_user(ctx, &u, tags, "per-user");
        f.password_enabled = profile.is_some();
        password_ownership(ctx, &mut f);
        f.mfa_active = Some(mfa > 0);
        for fact in ["password", "mfa"] {
            f.sources.insert(fact.into(), "per-user".into());
        }
        exact_keys(ctx, iam.as_ref(), &mut f).await?;
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        progress(usize::try_from(n).unwrap_or(usize::MAX), total);
        Ok::<_, Error>(f)
    }))
    .buffered(8)
    .try_collect()
    .await
}

mod import;
pub use import::{ImportOptions, Imported, Skipped};
