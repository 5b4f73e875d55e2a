//! Accounts: the IAM user credentials rekey manages. Adding one checks the user in IAM (and
//! records its immutable UserId), adopts a supplied secret or creates a fresh managed key, and
//! seals the secret in the same transaction that records the account.

use crate::{failpoint::crash_point, lease::Held, ownership, vault::check_secret_size, Engine, Error, Result};
use rekey_aws::{AwsErrorClass, Conn, IamApi};
use rekey_crypto::Secret;
use rekey_domain::{
    error::quote, AccessKeyId, AccountId, AccountStatus, Arn, AuditOutcome, CredentialKind, Folder, ProviderName,
    SecretState, UserName,
};
use rekey_store::{Account, AccountFilter, Origin, SecretVersion, StoreError};
use serde_json::json;
use std::{fmt, str::FromStr, sync::Arc};

/// How an account is named on the command line: its id, or `PROVIDER/USER/KIND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountRef {
    /// The short id.
    Id(AccountId),
    /// Provider, user and kind.
    Path(ProviderName, UserName, CredentialKind),
}

impl FromStr for AccountRef {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s.contains('/') {
            let parts: Vec<&str> = s.split('/').collect();
            if parts.len() != 3 {
                return Err(Error::usage(
                    format!("{} is not an account reference", quote(s)),
                    "name an account by its id or as PROVIDER/USER/KIND, e.g. prod/alice/access-key",
                ));
            }
            Ok(Self::Path(parts[0].parse()?, parts[1].parse()?, parts[2].parse()?))
        } else {
            Ok(Self::Id(s.parse()?))
        }
    }
}

impl fmt::Display for AccountRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Path(p, u, k) => write!(f, "{p}/{u}/{k}"),
        }
    }
}

/// The secret of a new access-key account.
#[derive(Debug, Clone)]
pub enum InitialKey {
    /// Adopt an existing key, whose secret the operator supplies.
    Adopt {
        /// Key id.
        access_key_id: AccessKeyId,
        /// Its secret.
        secret: Secret,
    },
    /// Create a fresh key that rekey manages.
    Create {
        /// Create it even where the user then holds two keys, one this account does not own:
        /// no slot is left for a rotation's new key until the other one goes.
        allow_no_free_slot: bool,
    },
}

/// An account to add.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The provider (AWS account) the IAM user lives in.
    pub provider: ProviderName,
    /// IAM user.
    pub user: UserName,
    /// Whether rekey rotates the user's access key or console password.
    pub kind: CredentialKind,
    /// The folder API tokens are scoped by; `None` for the top level.
    pub folder: Option<Folder>,
    /// A human title for listings.
    pub title: Option<String>,
    /// For passwords: the current password, if it is to be adopted.
    pub password: Option<Secret>,
    /// For access keys: adopt or create.
    pub key: Option<InitialKey>,
}

/// What `remove_account` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// The account removed.
    pub account: AccountId,
    /// The managed key deleted from IAM, if any.
    pub deleted_key: Option<String>,
    /// The command that removes the account's ownership tag from IAM, when the removal could
    /// not (the tag only refuses others what it names; the account itself is gone).
    pub tag_left: Option<String>,
}

/// A new account's title: what `account set` takes (which names a control character or the
/// length as the problem), but not empty.
fn check_title(t: &str) -> Result<()> {
    match rekey_domain::settings_patch::parse_title(t)? {
        Some(_) => Ok(()),
        None => Err(Error::usage("the title is empty", "give 1 to 200 characters, or leave the title out")),
    }
}

impl NewAccount {
    /// Checks the combination of options before anything is looked up or written.
    fn validate(&self) -> Result<()> {
        if let Some(t) = &self.title {
            check_title(t)?;
        }
        match (self.kind, &self.key, &self.password) {
            (CredentialKind::Password, Some(_), _) => Err(Error::usage(
                "--access-key-id and --create apply to access-key accounts",
                "drop them, or use --kind access-key",
            )),
            (CredentialKind::Password, None, Some(p)) => {
                check_secret_size("password", p)?;
                if p.expose().chars().count() > 128 {
                    return Err(Error::usage("the password is longer than IAM's 128 characters", "check the value"));
                }
                check_password_chars(p)
            }
            (CredentialKind::AccessKey, None, _) => Err(Error::usage(
                "an access-key account needs --access-key-id ID --secret-stdin (adopt) or --create",
                "adopt the existing key with its secret, or let rekey create a managed key",
            )),
            (CredentialKind::AccessKey, _, Some(_)) => {
                Err(Error::usage("a password was supplied for an access-key account", "use --kind password"))
            }
            (CredentialKind::AccessKey, Some(InitialKey::Adopt { secret, .. }), None) => {
                check_secret_size("secret access key", secret)?;
                crate::vault::check_access_key_secret(secret)
            }
            _ => Ok(()),
        }
    }
}

/// IAM passwords are tab, line breaks and U+0020 to U+00FF: anything else (control characters,
/// most of Unicode) cannot be the password IAM holds. The character is named by its code only.
fn check_password_chars(p: &rekey_crypto::Secret) -> Result<()> {
    let allowed = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}');
    match p.expose().chars().position(|c| !allowed(c)) {
        None => Ok(()),
        Some(i) => Err(Error::usage(
            format!(
                "the password has a character IAM passwords cannot contain (U+{:04X}, character {})",
                p.expose().chars().nth(i).map_or(0, u32::from),
                i + 1
            ),
            "IAM passwords are printable Latin-1 characters (U+0020 to U+00FF); check the value",
        )),
    }
}

impl Engine {
    /// Adds an account.
    pub async fn add_account(&self, new: NewAccount) -> Result<Account> {
        new.validate()?;
        let provider = self.provider(&new.provider).await?;
        match self.store.find_account(&new.provider, &new.user, new.kind).await {
            Ok(existing) => {
                return Err(Error::conflict(
                    format!("account {}/{}/{} already exists as {}", new.provider, new.user, new.kind, existing.id),
                    "`rekey account show ID` shows it; remove it first to add it again",
                ))
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let conn = self.conn(&provider).await?;
        let iam = self.aws.iam(&conn).await;
        let user = iam.get_user(new.user.as_str()).await.map_err(|e| match e.class {
            AwsErrorClass::NotFound => Error::NotFound {
                what: format!("IAM user {} in provider {}", quote(new.user.as_str()), new.provider),
                hint: "check the user name (IAM names are case-sensitive) and the provider's account".into(),
            },
            _ => e.into(),
        })?;
        let arn: Arn = user.arn.parse()?;
        let now = self.clock.now();
        let mut account = Account {
            folder: new.folder.clone(),
            title: new.title.clone(),
            ..Account::new(new.provider.clone(), new.user.clone(), user.user_id, arn, new.kind, now)
        };
        match (new.kind, new.key, new.password) {
            (CredentialKind::AccessKey, Some(InitialKey::Create { allow_no_free_slot }), _) => {
                self.add_created_key(account, iam.as_ref(), allow_no_free_slot).await
            }
            (CredentialKind::AccessKey, Some(InitialKey::Adopt { access_key_id, secret }), _) => {
                self.check_adopted_key(&account, &conn, iam.as_ref(), &access_key_id, &secret).await?;
                self.take_adopted_key(&account, iam.as_ref(), &access_key_id).await?;
                crash_point("account-add:marked");
                let v = self.first_version(&account, Some(access_key_id.to_string()), Origin::Adopted, &secret);
                if let Err(e) = self.insert_account(&mut account, Some(v), "adopted").await {
                    self.release_unless_stored(iam.as_ref(), new.user.as_str(), &account.id, &e).await;
                    return Err(e);
                }
                Ok(account)
            }
            (CredentialKind::Password, _, password) => {
                if iam.login_profile(new.user.as_str()).await?.is_none() && password.is_some() {
                    return Err(Error::conflict(
                        format!("IAM user {} has no console password to adopt", new.user),
                        "add the account without --secret-stdin; its first rotation sets a password",
                    ));
                }
                let v = password.as_ref().map(|p| self.first_version(&account, None, Origin::Adopted, p));
                if v.is_none() {
                    account.status = AccountStatus::NoSecret;
                }
                let mark = if v.is_some() { ownership::Origin::Adopted } else { ownership::Origin::Added };
                if let Err(whose) = self.take_password(iam.as_ref(), new.user.as_str(), &account.id, &mark).await? {
                    return Err(Error::conflict(
                        format!("the console password of IAM user {} is someone else's ({whose})", new.user),
                        self.refusal_hint(
                            &account,
                            &whose,
                            "two accounts setting one password leave one of them holding a dead password; manage it \
                             where it is managed, or remove that account first",
                        ),
                    ));
                }
                crash_point("account-add:marked");
                let how = if password.is_some() { "adopted" } else { "no-secret" };
                if let Err(e) = self.insert_account(&mut account, v, how).await {
                    self.release_unless_stored(iam.as_ref(), new.user.as_str(), &account.id, &e).await;
                    return Err(e);
                }
                Ok(account)
            }
            (CredentialKind::AccessKey, None, _) => {
                Err(Error::Internal("validated access-key account without key".into()))
            }
        }
    }

    fn first_version(&self, a: &Account, key_id: Option<String>, origin: Origin, secret: &Secret) -> SecretVersion {
        self.seal_version(a.id.as_str(), 1, SecretState::Current, key_id, origin, secret)
    }

    async fn insert_account(&self, a: &mut Account, v: Option<SecretVersion>, how: &str) -> Result<()> {
        let detail = json!({
            "provider": a.provider, "user": a.user_name, "kind": a.kind, "folder": a.folder,
            "secret": how, "key_id": v.as_ref().and_then(|v| v.key_id.clone()),
        });
        let audit = self.audit_entry("account.add", Some(a.id.as_str()), AuditOutcome::Ok, detail);
        self.store.insert_account(a, v.as_ref(), &audit).await?;
        a.current_version = v.as_ref().map(|v| v.version);
        a.current_key_id = v.and_then(|v| v.key_id);
        Ok(())
    }

    /// The adopted key must belong to the user and its secret must authenticate as the user.
    async fn check_adopted_key(
        &self,
        a: &Account,
        conn: &Conn,
        iam: &dyn IamApi,
        key_id: &AccessKeyId,
        secret: &Secret,
    ) -> Result<()> {
        let keys = iam.list_access_keys(a.user_name.as_str()).await?;
        if !keys.iter().any(|k| k.id == key_id.as_str()) {
            let hint = if keys.is_empty() {
                format!("IAM user {} has no access keys; add the account with --create for a managed one", a.user_name)
            } else {
                format!("the user's keys are: {}", keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>().join(", "))
            };
            return Err(Error::NotFound { what: format!("access key {key_id} of IAM user {}", a.user_name), hint });
        }
        let sts = self.aws.sts(&conn.with_key(key_id.as_str(), secret.clone())).await;
        let id = sts.caller_identity().await.map_err(|e| match e.class {
            AwsErrorClass::Auth => Error::usage(
                format!("the secret supplied does not authenticate access key {key_id} ({})", e.message),
                "supply the secret that was issued with this key",
            ),
            _ => e.into(),
        })?;
        if id.arn != a.arn.as_str() {
            return Err(Error::conflict(
                format!("access key {key_id} authenticates as {}, not as {}", id.arn, a.arn),
                "check the key id and user name",
            ));
        }
        Ok(())
    }

    /// Creates a key, seals it at once, and deletes it again if it cannot be stored.
    async fn add_created_key(
        &self,
        mut account: Account,
        iam: &dyn IamApi,
        allow_no_free_slot: bool,
    ) -> Result<Account> {
        let user = account.user_name.as_str().to_owned();
        let keys = iam.list_access_keys(&user).await?;
        if keys.len() >= 2 {
            return Err(Error::conflict(
                format!("IAM user {user} already has {} access keys, IAM's limit", keys.len()),
                "delete or adopt one of them first",
            ));
        }
        if let Some(other) = keys.first() {
            // A rotation creates the new key before it retires the old one: with a key nobody
            // here owns in the other slot, every rotation of this account would fail.
            if !allow_no_free_slot {
                return Err(Error::conflict(
                    format!(
                        "IAM user {user} already has access key {} that this account would not own: with a second \
                         key the user has no free slot, and every rotation (which creates its new key before \
                         retiring the old) would fail",
                        other.id
                    ),
                    "adopt that key instead (--access-key-id ID --secret-stdin), delete it in IAM first, or pass \
                     --allow-no-free-slot to create the key anyway",
                ));
            }
            tracing::warn!(
                user,
                other = %other.id,
                "the user holds a key this account does not own: rotations fail until it is deleted (or reclaimed \
                 with `rotate --reclaim-foreign` once inactive)"
            );
        }
        // Until its tag names the key, a mark says a key is being created (see [`ownership`]).
        let own = ownership::tag_key(self.vault_id().as_str(), account.id.as_str());
        if let Err(e) = iam.tag_user(&user, &[(own.clone(), ownership::creating(&ownership::Origin::Added, ""))]).await
        {
            // Its answer lost, the mark may be there: it would keep every vault from taking the
            // user's untagged keys.
            self.release_mark(iam, &user, &account.id).await;
            return Err(e.into());
        }
        let (meta, secret) = match iam.create_access_key(&user).await {
            Ok(created) => created,
            Err(e) => {
                // A key it may have made (its answer lost) has a secret nobody holds: no mark
                // need keep anyone from taking it.
                if let Err(untag) = iam.untag_user(&user, &[own]).await {
                    tracing::warn!(user, error = %untag, "could not remove the mark of a failed create");
                }
                return Err(e.into());
            }
        };
        let v = self.first_version(&account, Some(meta.id.clone()), Origin::Created, &secret);
        if let Err(e) = self.insert_account(&mut account, Some(v), "created").await {
            match self.stored_after(&account.id, &e).await {
                // Nobody else has this secret: a key we cannot store must not stay in IAM.
                ownership::Stored::No => {
                    match iam.delete_access_key(&user, &meta.id).await {
                        Err(del) if del.class != AwsErrorClass::NotFound => {
                            tracing::error!(key_id = %meta.id, error = %del, "could not delete an access key that was not stored");
                            // Its mark stays: a key nobody holds is left for the operator.
                            return Err(Error::Reported {
                                message: format!(
                                    "storing the account failed ({e}), and its new access key {} could not be deleted \
                                     ({del}): nobody holds its secret",
                                    meta.id
                                ),
                                failure: crate::error::Failure {
                                    class: crate::ErrorClass::Upstream,
                                    busy: false,
                                    hint: Some(format!(
                                        "delete access key {} of IAM user {user} (no one holds its secret), then remove \
                                         its mark: {}",
                                        meta.id,
                                        self.clear_tag_command(&account.provider, &account.user_name, account.id.as_str())
                                    )),
                                },
                            });
                        }
                        _ => {}
                    }
                    self.release_mark(iam, &user, &account.id).await;
                    return Err(e);
                }
                // Stored although storing it reported an error (its answer lost after the
                // commit): the account holds the key; it is tagged as any new one.
                ownership::Stored::Yes(stored) => {
                    tracing::warn!(account = %account.id, key_id = %meta.id, error = %e,
                        "the account was stored although storing it reported an error: its key stays");
                    account = *stored;
                }
                ownership::Stored::Unknown(why) => {
                    tracing::error!(account = %account.id, key_id = %meta.id, error = %why,
                        "could not tell whether the account was stored: its new key and its mark stay");
                    let class = e.class();
                    return Err(Error::Reported {
                        message: format!(
                            "storing account {} reported an error ({e}), and whether it was stored is unknown",
                            account.id
                        ),
                        failure: crate::error::Failure {
                            class,
                            busy: false,
                            hint: Some(format!(
                                "once the vault's database answers, run `{}`: it refuses if the account was stored \
                                 (it then holds access key {}; its first rotation rewrites its tag), and otherwise \
                                 removes the mark; only then delete access key {} of IAM user {user}, whose secret \
                                 nobody holds",
                                self.clear_tag_command(&account.provider, &account.user_name, account.id.as_str()),
                                meta.id,
                                meta.id
                            )),
                        },
                    });
                }
            }
        }
        let entry = ownership::Entry { key_id: meta.id.clone(), origin: ownership::Origin::Added };
        let tag = (own, ownership::render(&[entry]));
        if let Err(e) = iam.tag_user(&user, &[tag]).await {
            tracing::warn!(key_id = %meta.id, error = %e, "could not tag the user with the managed key id");
        }
        Ok(account)
    }

    /// One account.
    pub async fn account(&self, r: &AccountRef) -> Result<Account> {
        let found = match r {
            AccountRef::Id(id) => self.store.account(id).await,
            AccountRef::Path(p, u, k) => self.store.find_account(p, u, *k).await,
        };
        found.map_err(|e| match Error::from(e) {
            Error::NotFound { .. } => Self::no_account(r),
            other => other,
        })
    }

    /// "No account `r`", with where to look.
    pub fn no_account(r: &AccountRef) -> Error {
        Error::NotFound { what: format!("account {r}"), hint: "`rekey account list` shows the accounts".into() }
    }

    /// Accounts matching a filter.
    pub async fn accounts(&self, filter: &AccountFilter) -> Result<Vec<Account>> {
        self.check_filter(filter).await?;
        Ok(self.store.accounts(filter).await?)
    }

    /// Calls `each` with every account matching `filter`, one at a time, without holding them
    /// all (a listing of a large vault streams).
    pub async fn each_account(
        &self,
        filter: &AccountFilter,
        each: &mut (dyn FnMut(Account) -> rekey_store::Result<()> + Send),
    ) -> Result<()> {
        Ok(self.store.each_account(filter, each).await?)
    }

    /// Accounts whose scheduled rotation is due at `at` and that no worker is rotating,
    /// earliest first, at most `limit`.
    pub async fn due_accounts(&self, at: chrono::DateTime<chrono::Utc>, limit: i64) -> Result<Vec<Account>> {
        Ok(self.store.due_accounts(at, limit).await?)
    }

    /// Refuses a filter naming a provider that does not exist (an unknown name is an error,
    /// not an empty list).
    pub async fn check_filter(&self, filter: &AccountFilter) -> Result<()> {
        if let Some(p) = &filter.provider {
            self.provider(p).await?;
        }
        Ok(())
    }

    /// The current secret of an account; audited. A password someone else has checked out is
    /// refused (see [`Engine::reveal_with`]).
    pub async fn reveal(&self, r: &AccountRef) -> Result<(Account, Secret)> {
        self.reveal_with(r, false).await
    }

    /// The current secret of an account; audited. A password someone else has checked out is
    /// refused unless `force`, and then the override is audited too.
    pub async fn reveal_with(&self, r: &AccountRef, force: bool) -> Result<(Account, Secret)> {
        let account = self.account(r).await?;
        self.respect_checkout(&account, "reveal", force).await?;
        let target = Some(account.id.as_str());
        let current = self.store.secret_in_state(account.id.as_str(), SecretState::Current).await?;
        let current = current.filter(|_| account.status != AccountStatus::NeedsRotation);
        let Some(v) = current else {
            let err = Error::NotFound {
                what: format!("a stored secret for account {}", account.id),
                hint: "rotate the account so rekey sets and stores a secret".into(),
            };
            self.audit_failure("account.reveal", target, &err).await;
            return Err(err);
        };
        match self.open_version(&v) {
            Ok(secret) => {
                let detail = json!({ "version": v.version, "key_id": v.key_id });
                self.store.append_audit(&self.audit_entry("account.reveal", target, AuditOutcome::Ok, detail)).await?;
                Ok((account, secret))
            }
            Err(e) => {
                self.audit_failure("account.reveal", target, &e).await;
                Err(e)
            }
        }
    }

    /// Removes an account from the vault (IAM untouched but for the account's ownership tag,
    /// unless `delete_managed_key`), holding
    /// its lease: [`Error::Busy`] while a rotation of it is under way, and a conflict while one
    /// stands unfinished before its commit (its new key would stay in IAM with nobody holding
    /// it). The removal, and the key deletions, go ahead only while the lease is held; the
    /// account's ownership tag is removed only after the account is gone (best effort).
    pub async fn remove_account(&self, r: &AccountRef, delete_managed_key: bool) -> Result<Removed> {
        let account = self.account(r).await?;
        if delete_managed_key && account.kind != CredentialKind::AccessKey {
            return Err(Error::usage("--delete-managed-key applies to access-key accounts", "drop the option"));
        }
        let lease = self.lease(&account.id).await?;
        let result = self.remove_leased(&account.id, delete_managed_key, &lease).await;
        lease.release().await;
        result
    }

    async fn remove_leased(&self, id: &AccountId, delete_managed_key: bool, lease: &Held) -> Result<Removed> {
        crash_point("account-remove:leased");
        // Read again under the lease: a rotation may have changed the current key since.
        let account = self.account(&AccountRef::Id(id.clone())).await?;
        self.refuse_unfinished_rotation(&account).await?;
        let mut deleted_key = None;
        if delete_managed_key {
            // The keys go before the account: none may outlive the only copy of its secret.
            // Abandoned (the lease could not be renewed), the account stays: removing it again
            // deletes what is left (a key already gone is fine).
            deleted_key = lease.act("deleting the managed key in IAM", self.delete_managed_key(&account)).await??;
        }
        let audit = self.audit_entry(
            "account.remove",
            Some(account.id.as_str()),
            AuditOutcome::Ok,
            json!({ "deleted_key": deleted_key }),
        );
        // The lease goes with the account.
        lease.stop_renewing();
        match self.store.delete_account(&account.id, Some(&lease.fence), &audit).await {
            Ok(()) => {}
            Err(StoreError::Fenced { .. }) => {
                lease.fenced("removing the account");
                return Err(Error::conflict(
                    format!("account {} was not removed: its lease was taken over by another worker", account.id),
                    "see what that worker did (`rekey account show`), then remove it again",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        crash_point("account-remove:deleted");
        let tag_left = self.untag_removed(&account, deleted_key.as_deref()).await;
        Ok(Removed { account: account.id, deleted_key, tag_left })
    }

    /// Removes a removed account's ownership tag (a password's mark, or the keys it names, and
    /// with `deleted_key` the tag an earlier version may have put under that key id): only
    /// once the account is gone from the store. Removed while the account stays (its deletion
    /// fenced, failed, or never reached), the tag would leave a key this vault still holds
    /// looking nobody's: another vault's import could take it, and its first rotation delete
    /// it. A tag left behind only refuses others what it names, until `rekey account
    /// clear-tag` removes it: that command is returned when the tag could not be removed.
    async fn untag_removed(&self, account: &Account, deleted_key: Option<&str>) -> Option<String> {
        let user = account.user_name.as_str();
        let mut tags = vec![ownership::tag_key(self.vault_id().as_str(), account.id.as_str())];
        tags.extend(deleted_key.map(str::to_owned));
        let untagged = match self.provider(&account.provider).await {
            Ok(p) => match self.conn(&p).await {
                Ok(conn) => self.aws.iam(&conn).await.untag_user(user, &tags).await.map_err(Error::from),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let e = untagged.err()?;
        let command = self.clear_tag_command(&account.provider, &account.user_name, account.id.as_str());
        tracing::warn!(user, account = %account.id, error = %e, command, "could not remove the removed account's ownership tag");
        Some(command)
    }

    /// Refuses to remove an account while a rotation of it stands unfinished before its
    /// commit (an operator's confirmation it waits for, or a run that stopped): the new key it
    /// may have made is not the account's current one, and would stay in IAM with nobody
    /// holding it. A committed rotation retiring the previous key does not stand in the way.
    async fn refuse_unfinished_rotation(&self, account: &Account) -> Result<()> {
        use rekey_domain::Phase;
        let open = self.store.rotations(Some(&account.id), true, 10).await?;
        let Some(r) = open.iter().find(|r| !matches!(r.phase, Phase::Committed | Phase::Retiring | Phase::Deactivated))
        else {
            return Ok(());
        };
        Err(Error::conflict(
            format!(
                "rotation {} of account {} is unfinished (phase {}): removing the account now could leave a key it \
                 made in IAM with nobody holding it",
                r.id, account.id, r.phase
            ),
            format!(
                "finish it with `rekey recover` (or confirm it: `rekey rotation confirm {}`), or abort it with `rekey \
                 rotation abort {}`; then remove the account",
                r.id, r.id
            ),
        ))
    }

    async fn delete_managed_key(&self, account: &Account) -> Result<Option<String>> {
        let current = self.store.secret_in_state(account.id.as_str(), SecretState::Current).await?;
        let Some((key_id, Origin::Created)) = current.map(|v| (v.key_id.unwrap_or_default(), v.origin)) else {
            return Err(Error::conflict(
                format!("rekey did not create the current key of account {}; it will not delete it", account.id),
                "remove the account without --delete-managed-key, and delete the key in IAM yourself if intended",
            ));
        };
        let iam: Arc<dyn IamApi> = self.aws.iam(&self.conn(&self.provider(&account.provider).await?).await?).await;
        let user = account.user_name.as_str();
        match iam.delete_access_key(user, &key_id).await {
            Ok(()) => {}
            Err(e) if e.class == AwsErrorClass::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        // The tags stay until the account is gone from the store (see `untag_removed`).
        // Earlier keys rekey created and has not retired yet (policy keep, or still in their
        // grace period) go too: their secrets leave the vault with the account.
        for v in self.store.secret_versions(account.id.as_str()).await? {
            if let (Some(k), Origin::Created, SecretState::Previous | SecretState::Pending) =
                (&v.key_id, v.origin, v.state)
            {
                match iam.delete_access_key(user, k).await {
                    Ok(()) => {}
                    Err(e) if e.class == AwsErrorClass::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(Some(key_id))
    }
}

/// The IAM user tag whose value names a credential's owner (for reports and notifications).
pub const OWNER_TAG: &str = "rekey:owner";

impl Engine {
    /// The owner of `account`'s IAM user, from its `rekey:owner` tag.
    pub async fn owner_of(&self, account: &Account) -> Result<Option<String>> {
        let conn = self.conn(&self.provider(&account.provider).await?).await?;
        let tags = self.aws.iam(&conn).await.list_user_tags(account.user_name.as_str()).await?;
        Ok(tags.into_iter().find(|(k, _)| k == OWNER_TAG).map(|(_, v)| v))
    }
}
