//! `discover --import`: accounts for discovered credentials the vault does not manage yet —
//! only credentials that are nobody's. An access key is nobody's when
//! [`crate::ownership::Knowledge::claimed`] says so of IAM's keys and tags as they are at the
//! import; a console password when no other account of any vault marks it
//! ([`crate::ownership::Knowledge::password_claimed`]), and the import's own mark, written before
//! the account exists, makes that hold against a concurrent taker (see [`crate::ownership`]).

use super::{Discovery, FoundUser};
use crate::ownership::{Foreign, Origin};
use crate::{failpoint::crash_point, Engine, Result};
use rekey_aws::IamApi;
use rekey_domain::{AccountStatus, AuditOutcome, CredentialKind, ProviderName, SecretState, UserName};
use rekey_store::Account;
use serde::Serialize;

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
    /// The credentials left alone, and why.
    pub skipped: Vec<Skipped>,
}

/// A credential that belongs to someone else (a user's access keys, all of them, or its console
/// password): no account was created for it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub provider: String,
    pub user_name: String,
    pub kind: CredentialKind,
    /// Its active keys, each `ID: whose it is` (empty for a password).
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
    /// Every active key is someone's: `ID: whose` for each, and the first naming an account
    /// this vault does not have (whose tag `rekey account clear-tag` removes).
    Held(Vec<String>, Option<Foreign>),
}

/// What an import takes of one credential.
enum Take {
    /// The account to create, with the access key it takes (`None` for a password).
    Account(Box<Account>, Option<String>),
    /// Nothing to take (no password, no active key).
    Nothing,
    /// Someone else's.
    Skip(Skipped),
}

impl Engine {
    /// Creates accounts for discovered credentials the vault does not manage yet. A password
    /// is imported as `no-secret` (its first rotation sets one); an access key, whose secret
    /// rekey cannot know, is imported as `needs-rotation` (its first rotation replaces it) —
    /// only a credential that is nobody's: a password another account marks, or a user whose
    /// active keys are all someone's (see [`Candidate`]), is skipped, with an audit event saying
    /// why.
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
            let user: UserName = u.user_name.parse()?;
            for kind in &opts.kinds {
                if self.store.find_account(&provider, &user, *kind).await.is_ok() {
                    continue;
                }
                let account = self.import_account(&provider, &user, u, *kind, opts)?;
                let (account, key_id) = match self.import_take(iam.as_ref(), u, account).await? {
                    Take::Account(a, key_id) => (*a, key_id),
                    Take::Nothing => continue,
                    Take::Skip(s) => {
                        done.skipped.push(self.skip_import(s).await?);
                        continue;
                    }
                };
                crash_point("import:marked");
                let id = account.id.clone();
                match self.import_one(account, u, key_id).await {
                    Ok(a) => done.accounts.push(a),
                    Err(e) => {
                        self.release_unless_stored(iam.as_ref(), &u.user_name, &id, &e).await;
                        return Err(e);
                    }
                }
            }
        }
        Ok(done)
    }

    /// The account an import of `u`'s credential of `kind` would create.
    fn import_account(
        &self,
        provider: &ProviderName,
        user: &UserName,
        u: &FoundUser,
        kind: CredentialKind,
        opts: &ImportOptions,
    ) -> Result<Account> {
        let now = self.clock.now();
        Ok(Account {
            folder: opts.folder.clone(),
            title: u.owner.as_ref().map(|o| format!("owner: {o}")),
            ..Account::new(provider.clone(), user.clone(), u.user_id.clone(), u.arn.parse()?, kind, now)
        })
    }

    /// What the import of `account`'s credential takes: the password, marked as the account's
    /// before it exists; the newest active key that is nobody's; or nothing, saying whose it is.
    async fn import_take(&self, iam: &dyn IamApi, u: &FoundUser, account: Account) -> Result<Take> {
        let skip = |keys: Vec<String>, reason: String| Skipped {
            provider: account.provider.to_string(),
            user_name: account.user_name.to_string(),
            kind: account.kind,
            keys,
            reason,
        };
        let user = account.user_name.as_str();
        match account.kind {
            CredentialKind::Password if !u.password_enabled => Ok(Take::Nothing),
            CredentialKind::Password => match self.take_password(iam, user, &account.id, &Origin::Imported).await? {
                Ok(()) => Ok(Take::Account(Box::new(account), None)),
                Err(whose) => {
                    let reason = format!("{}{}", password_skipped(user, &whose), clear_hint(self, &account, &whose));
                    Ok(Take::Skip(skip(vec![], reason)))
                }
            },
            CredentialKind::AccessKey => match self.import_candidate(iam, &account, u).await? {
                Candidate::Key(k) => match self.take_key(iam, &account, &k, Origin::Imported).await? {
                    Ok(()) => Ok(Take::Account(Box::new(account), Some(k))),
                    Err(whose) => {
                        let reason = format!(
                            "not imported: access key {k} of IAM user {user} was taken meanwhile ({whose}); this vault \
                             would retire it under its holder{}",
                            clear_hint(self, &account, &whose)
                        );
                        Ok(Take::Skip(skip(vec![format!("{k}: {whose}")], reason)))
                    }
                },
                Candidate::None => Ok(Take::Nothing),
                Candidate::Held(keys, unknown) => {
                    let reason = format!(
                        "not imported: every active access key of IAM user {user} belongs to someone else ({}); this \
                         vault would retire it under its holder{}",
                        keys.join("; "),
                        unknown.map(|w| clear_hint(self, &account, &w)).unwrap_or_default()
                    );
                    Ok(Take::Skip(skip(keys, reason)))
                }
            },
        }
    }

    /// Which key of `u` an import may take, from IAM's keys and then its tags as they are now.
    /// The order matters: a key another rotation made is in the listing only if that rotation's
    /// `creating` mark was written before it, so the tags read after show the mark or the tag
    /// that names the key (see [`crate::ownership`]).
    async fn import_candidate(&self, iam: &dyn IamApi, account: &Account, u: &FoundUser) -> Result<Candidate> {
        let mut keys = iam.list_access_keys(&u.user_name).await?;
        keys.retain(|k| k.active);
        if keys.is_empty() {
            return Ok(Candidate::None);
        }
        let tags = iam.list_user_tags(&u.user_name).await?;
        let knowledge =
            self.import_knowledge(&account.provider, &account.user_name, &u.user_id, &account.id, tags).await?;
        keys.sort_by_key(|k| k.created);
        let (mut held, mut unknown) = (Vec::new(), None);
        for k in keys.iter().rev() {
            match knowledge.claimed(&k.id) {
                None => return Ok(Candidate::Key(k.id.clone())),
                Some(whose) => {
                    held.push(format!("{}: {whose}", k.id));
                    if matches!(whose, Foreign::UnknownAccount(_)) && unknown.is_none() {
                        unknown = Some(whose);
                    }
                }
            }
        }
        Ok(Candidate::Held(held, unknown))
    }

    /// Records that a credential was not imported: it is someone else's.
    async fn skip_import(&self, s: Skipped) -> Result<Skipped> {
        let target = format!("{}/{}/{}", s.provider, s.user_name, s.kind);
        let detail = serde_json::json!({
            "provider": s.provider, "user": s.user_name, "kind": s.kind, "skipped": s.reason, "keys": s.keys
        });
        self.store
            .append_audit(&self.audit_entry("account.import", Some(&target), AuditOutcome::Failed, detail))
            .await?;
        Ok(s)
    }

    /// Creates the account of one imported credential (`key_id`: the access key taken).
    async fn import_one(&self, mut account: Account, u: &FoundUser, key_id: Option<String>) -> Result<Account> {
        account.status = if key_id.is_some() { AccountStatus::NeedsRotation } else { AccountStatus::NoSecret };
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
        let detail = serde_json::json!({
            "provider": account.provider, "user": account.user_name, "kind": account.kind, "key_id": key_id,
            "owner": u.owner
        });
        let audit = self.audit_entry("account.import", Some(account.id.as_str()), AuditOutcome::Ok, detail);
        self.store.insert_account(&account, version.as_ref(), &audit).await?;
        account.current_version = version.as_ref().map(|v| v.version);
        account.current_key_id = key_id;
        Ok(account)
    }
}

/// Why an import leaves a password alone.
fn password_skipped(user: &str, whose: &Foreign) -> String {
    format!(
        "not imported: the console password of IAM user {user} is someone else's ({whose}); both would set it, and \
         one would hold a dead password"
    )
}

/// For a tag naming an account this vault does not have: the command that removes it (empty
/// otherwise), to end a refusal's sentence.
fn clear_hint(engine: &Engine, account: &Account, whose: &Foreign) -> String {
    match whose {
        Foreign::UnknownAccount(id) => format!(
            "; if that account's import or `account add` stopped before storing it, or it was removed, remove its \
             tag with `{}`",
            engine.clear_tag_command(&account.provider, &account.user_name, id)
        ),
        _ => String::new(),
    }
}
