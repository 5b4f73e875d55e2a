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

use crate::ownership::{self, KnownRotation, Owner};
use crate::{Engine, Error, Result};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, TryStreamExt};
use rekey_aws::{IamApi, IamUser, ReportRow};
use rekey_domain::{AccountStatus, AuditOutcome, CredentialKind, KeyOwnership, ProviderName, SecretState};
use rekey_store::{Account, AccountFilter};
use serde::Serialize;
use std::{
    collections::{BTreeMap, HashMap},
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
        password_last_used: None,
        password_last_changed: None,
        mfa_active: None,
        keys: vec![],
        accounts,
        sources: BTreeMap::from([("user".into(), tag_source.into()), ("tags".into(), tag_source.into())]),
    }
}

/// How a key relates to the vault, and why when it is not the vault's.
fn ownership(ctx: &Ctx, id: &str, tags: &BTreeMap<String, String>) -> (KeyOwnership, Option<String>) {
    if let Some(s) = ctx.known.get(id) {
        return (*s, None);
    }
    let tags: Vec<(String, String)> = tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    match ownership::unheld(&ctx.vault, &tags, &ctx.rotations, id) {
        Owner::Foreign(f) => (KeyOwnership::Foreign, Some(f.to_string())),
        o => (o.ownership(), None),
    }
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

/// What `--import` should create.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub kinds: Vec<CredentialKind>,
    pub folder: Option<rekey_domain::Folder>,
    /// Only users whose name matches this glob (see [`rekey_domain::glob`]).
    pub filter: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// The accounts created.
    pub accounts: Vec<Account>,
    /// The users whose access key was left alone, and why.
    pub skipped: Vec<Skipped>,
}

/// A user whose access keys all belong to someone else: no account was created for it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub provider: String,
    pub user_name: String,
    pub kind: CredentialKind,
    /// Its active keys, each `ID: whose it is`.
    pub keys: Vec<String>,
    /// Why, in a sentence.
    pub reason: String,
}

/// The access key an import may take for a user, or why it takes none.
enum Candidate {
    /// The newest active key that is nobody's.
    Key(String),
    /// The user has no active key.
    None,
    /// Every active key is someone's: `ID: whose` for each.
    Held(Vec<String>),
}

impl Engine {
    /// Creates accounts for discovered credentials the vault does not manage yet. A password
    /// is imported as `no-secret` (its first rotation sets one); an access key, whose secret
    /// rekey cannot know, is imported as `needs-rotation` (its first rotation replaces it) —
    /// only a key that is nobody's (see [`Candidate`]): a user whose active keys are all another
    /// vault's or another account's is skipped, with an audit event saying why.
    pub async fn import(&self, d: &Discovery, opts: &ImportOptions) -> Result<Imported> {
        let provider: ProviderName = d.provider.parse()?;
        let p = self.provider(&provider).await?;
        let iam = self.aws.iam(&self.conn(&p).await?).await;
        let filter = opts.filter.as_deref().map(rekey_domain::glob::Glob::new).transpose()?;
        let mut done = Imported::default();
        for u in d.users.iter().filter(|u| !u.exempt) {
            if filter.as_ref().is_some_and(|f| !f.matches(&u.user_name)) {
                continue;
            }
            let user: rekey_domain::UserName = u.user_name.parse()?;
            for kind in &opts.kinds {
                if self.store.find_account(&provider, &user, *kind).await.is_ok() {
                    continue;
                }
                let key_id = match kind {
                    CredentialKind::Password if !u.password_enabled => continue,
                    CredentialKind::Password => None,
                    CredentialKind::AccessKey => {
                        match self.import_candidate(iam.as_ref(), &provider, &user, u).await? {
                            Candidate::Key(k) => Some(k),
                            Candidate::None => continue,
                            Candidate::Held(keys) => {
                                done.skipped.push(self.skip_import(&provider, &user, keys).await?);
                                continue;
                            }
                        }
                    }
                };
                done.accounts.push(self.import_one(&provider, &user, u, *kind, key_id, opts).await?);
            }
        }
        Ok(done)
    }

    /// Which key of `u` an import may take, from IAM's keys and tags as they are now (a key
    /// another vault's rotation made is tagged once its secret is stored).
    async fn import_candidate(
        &self,
        iam: &dyn IamApi,
        provider: &ProviderName,
        user: &rekey_domain::UserName,
        u: &FoundUser,
    ) -> Result<Candidate> {
        let mut keys = iam.list_access_keys(&u.user_name).await?;
        keys.retain(|k| k.active);
        if keys.is_empty() {
            return Ok(Candidate::None);
        }
        let tags = iam.list_user_tags(&u.user_name).await?;
        let knowledge = self.import_knowledge(provider, user, &u.user_id, tags).await?;
        keys.sort_by_key(|k| k.created);
        let mut held = Vec::new();
        for k in keys.iter().rev() {
            match knowledge.claimed(&k.id) {
                None => return Ok(Candidate::Key(k.id.clone())),
                Some(whose) => held.push(format!("{}: {whose}", k.id)),
            }
        }
        Ok(Candidate::Held(held))
    }

    /// Records that `user`'s access key was not imported: its keys are all someone else's.
    async fn skip_import(
        &self,
        provider: &ProviderName,
        user: &rekey_domain::UserName,
        keys: Vec<String>,
    ) -> Result<Skipped> {
        let reason = format!(
            "not imported: every active access key of IAM user {user} belongs to someone else ({}); this vault \
             would retire it under its holder",
            keys.join("; ")
        );
        let kind = CredentialKind::AccessKey;
        let target = format!("{provider}/{user}/{kind}");
        let detail =
            serde_json::json!({ "provider": provider, "user": user, "kind": kind, "skipped": reason, "keys": keys });
        self.store
            .append_audit(&self.audit_entry("account.import", Some(&target), AuditOutcome::Failed, detail))
            .await?;
        Ok(Skipped { provider: provider.to_string(), user_name: user.to_string(), kind, keys, reason })
    }

    /// Creates the account of one imported credential (`key_id`: the access key taken).
    async fn import_one(
        &self,
        provider: &ProviderName,
        user: &rekey_domain::UserName,
        u: &FoundUser,
        kind: CredentialKind,
        key_id: Option<String>,
        opts: &ImportOptions,
    ) -> Result<Account> {
        let now = self.clock.now();
        let mut account = Account {
            folder: opts.folder.clone(),
            title: u.owner.as_ref().map(|o| format!("owner: {o}")),
            status: if key_id.is_some() { AccountStatus::NeedsRotation } else { AccountStatus::NoSecret },
            ..Account::new(provider.clone(), user.clone(), u.user_id.clone(), u.arn.parse()?, kind, now)
        };
        // The key is recorded with an empty placeholder secret: it is the current key in
        // IAM (so rotation retires it), but its secret is unknown (reveal refuses it).
        let version = key_id.clone().map(|k| {
            self.seal_version(
                account.id.as_str(),
                1,
                SecretState::Current,
                Some(k),
                rekey_store::Origin::Adopted,
                &rekey_crypto::Secret::new(""),
            )
        });
        let detail =
            serde_json::json!({ "provider": provider, "user": user, "kind": kind, "key_id": key_id, "owner": u.owner });
        let audit = self.audit_entry("account.import", Some(account.id.as_str()), AuditOutcome::Ok, detail);
        self.store.insert_account(&account, version.as_ref(), &audit).await?;
        account.current_version = version.as_ref().map(|v| v.version);
        account.current_key_id = key_id;
        Ok(account)
    }
}
