//! An in-memory IAM/STS double for unit tests of the engine: users with keys, tags and console
//! passwords, an account password policy, signature checks on STS, a call log, and injectable
//! faults (optionally "landed": the change is applied and the caller still sees an error, as
//! when a response is lost).

use crate::{
    AccessKeyMeta, AwsError, AwsErrorClass, CallerIdentity, IamApi, IamUser, LastUsed, LoginProfileInfo, ReportRow,
    Result, StsApi,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rekey_crypto::Secret;
use rekey_domain::{Clock, PasswordPolicy};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};

/// A fault to inject into the next `times` calls of `op` (e.g. `iam:ChangePassword`).
#[derive(Debug, Clone)]
pub struct Fault {
    /// Operation name as in [`AwsError::operation`].
    pub op: &'static str,
    /// Error class returned.
    pub class: AwsErrorClass,
    /// How many calls fail.
    pub times: u32,
    /// Apply the call's effect before failing (a lost response).
    pub lands: bool,
}

#[derive(Debug, Clone)]
struct Key {
    id: String,
    secret: String,
    active: bool,
    created: DateTime<Utc>,
    /// When and with which service the key last signed a request (as IAM records it).
    last_used: Option<(DateTime<Utc>, String)>,
}

#[derive(Debug, Clone)]
struct User {
    user_id: String,
    keys: Vec<Key>,
    tags: Vec<(String, String)>,
    password: Option<String>,
    password_changed: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
struct World {
    /// Simulated decisions by action (missing: `allowed`).
    decisions: BTreeMap<String, (String, Vec<String>)>,
    users: BTreeMap<String, User>,
    serial: u64,
    policy: Option<PasswordPolicy>,
    faults: Vec<Fault>,
    /// Faults that fire once their operation has succeeded this many more times.
    delayed: Vec<(u32, Fault)>,
    calls: Vec<String>,
}

/// The shared fake AWS account.
#[derive(Debug, Clone)]
pub struct FakeAws {
    world: Arc<Mutex<World>>,
    clock: Arc<dyn Clock>,
}

const ACCOUNT: &str = "123456789012";

fn arn(user: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{user}")
}

impl FakeAws {
    /// An empty account.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { world: Arc::default(), clock }
    }

    fn w(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a user.
    pub fn add_user(&self, name: &str) {
        let mut w = self.w();
        w.serial += 1;
        let user = User {
            user_id: format!("AIDA{:016}", w.serial),
            keys: vec![],
            tags: vec![],
            password: None,
            password_changed: None,
        };
        w.users.insert(name.into(), user);
    }

    /// Adds an access key: (id, secret).
    pub fn add_key(&self, user: &str) -> (String, String) {
        let now = self.clock.now();
        let mut w = self.w();
        w.serial += 1;
        let key = Key {
            id: format!("AKIAFAKE{:012}", w.serial),
            secret: format!("secret-{:032}", w.serial),
            active: true,
            created: now,
            last_used: None,
        };
        let out = (key.id.clone(), key.secret.clone());
        if let Some(u) = w.users.get_mut(user) {
            u.keys.push(key);
        }
        out
    }

    /// Sets a console password.
    pub fn set_password(&self, user: &str, password: &str) {
        let now = self.clock.now();
        if let Some(u) = self.w().users.get_mut(user) {
            u.password = Some(password.into());
            u.password_changed = Some(now);
        }
    }

    /// Records that `key_id` signed a request to `service` now (a consumer of the key).
    pub fn use_key(&self, key_id: &str, service: &str) {
        let now = self.clock.now();
        let mut w = self.w();
        if let Some(k) = w.users.values_mut().flat_map(|u| u.keys.iter_mut()).find(|k| k.id == key_id) {
            k.last_used = Some((now, service.to_owned()));
        }
    }

    /// The stored console password.
    pub fn password(&self, user: &str) -> Option<String> {
        self.w().users.get(user).and_then(|u| u.password.clone())
    }

    /// The user's key ids and whether each is active.
    pub fn keys(&self, user: &str) -> Vec<(String, bool)> {
        self.w().users.get(user).map(|u| u.keys.iter().map(|k| (k.id.clone(), k.active)).collect()).unwrap_or_default()
    }

    /// Sets the account password policy.
    pub fn set_policy(&self, p: PasswordPolicy) {
        self.w().policy = Some(p);
    }

    /// Sets what `simulate` answers for `action`.
    pub fn set_decision(&self, action: &str, decision: &str, missing_context: &[&str]) {
        let v = (decision.to_owned(), missing_context.iter().map(|s| (*s).to_owned()).collect());
        self.w().decisions.insert(action.to_owned(), v);
    }

    /// Injects a fault.
    pub fn inject(&self, f: Fault) {
        self.w().faults.push(f);
    }

    /// Injects a fault that fires once `f.op` has been called `skip` more times.
    pub fn inject_after(&self, skip: u32, f: Fault) {
        self.w().delayed.push((skip, f));
    }

    /// Removes every injected fault that has not fired yet.
    pub fn clear_faults(&self) {
        let mut w = self.w();
        w.faults.clear();
        w.delayed.clear();
    }

    /// Operations called so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.w().calls.clone()
    }

    /// An IAM client signed as `caller` (a key id), or as an administrator when `None`.
    pub fn iam(&self, caller: Option<String>) -> FakeIam {
        FakeIam { aws: self.clone(), caller }
    }

    /// An STS client signed with `key` (id, secret), or as an administrator.
    pub fn sts(&self, key: Option<(String, Secret)>) -> FakeSts {
        FakeSts { aws: self.clone(), key }
    }

    /// Logs the call; returns an injected fault (and whether the effect should still land).
    fn enter(&self, op: &'static str) -> Option<(AwsError, bool)> {
        let mut w = self.w();
        w.calls.push(op.into());
        if let Some((skip, f)) = w.delayed.iter_mut().find(|(_, f)| f.op == op && f.times > 0) {
            if *skip == 0 {
                f.times -= 1;
                return Some((AwsError::new(f.class, op, "injected fault"), f.lands));
            }
            *skip -= 1;
        }
        let f = w.faults.iter_mut().find(|f| f.op == op && f.times > 0)?;
        f.times -= 1;
        Some((AwsError::new(f.class, op, "injected fault"), f.lands))
    }

    /// Runs `effect` under the fault rules of `op`.
    fn call<T>(&self, op: &'static str, effect: impl FnOnce(&mut World) -> Result<T>) -> Result<T> {
        match self.enter(op) {
            Some((e, true)) => {
                effect(&mut self.w())?;
                Err(e)
            }
            Some((e, false)) => Err(e),
            None => effect(&mut self.w()),
        }
    }
}

fn no_user(op: &'static str, user: &str) -> AwsError {
    AwsError {
        class: AwsErrorClass::NotFound,
        operation: op,
        code: Some("NoSuchEntity".into()),
        message: format!("user {user}"),
        unanswered: false,
    }
}

fn user_mut<'a>(w: &'a mut World, op: &'static str, user: &str) -> Result<&'a mut User> {
    w.users.get_mut(user).ok_or_else(|| no_user(op, user))
}

/// [`IamApi`] over [`FakeAws`].
#[derive(Debug, Clone)]
pub struct FakeIam {
    aws: FakeAws,
    caller: Option<String>,
}

#[async_trait]
impl IamApi for FakeIam {
    async fn get_user(&self, user: &str) -> Result<IamUser> {
        self.aws.call("iam:GetUser", |w| {
            let u = user_mut(w, "iam:GetUser", user)?;
            Ok(IamUser {
                user_name: user.into(),
                user_id: u.user_id.clone(),
                arn: arn(user),
                path: "/".into(),
                created: None,
                tags: Some(u.tags.clone()),
            })
        })
    }
    async fn list_access_keys(&self, user: &str) -> Result<Vec<AccessKeyMeta>> {
        self.aws.call("iam:ListAccessKeys", |w| {
            let u = user_mut(w, "iam:ListAccessKeys", user)?;
            Ok(u.keys
                .iter()
                .map(|k| AccessKeyMeta { id: k.id.clone(), active: k.active, created: Some(k.created) })
                .collect())
        })
    }
    async fn create_access_key(&self, user: &str) -> Result<(AccessKeyMeta, Secret)> {
        let now = self.aws.clock.now();
        self.aws.call("iam:CreateAccessKey", |w| {
            w.serial += 1;
            let serial = w.serial;
            let u = user_mut(w, "iam:CreateAccessKey", user)?;
            if u.keys.len() >= 2 {
                return Err(AwsError::new(AwsErrorClass::Limit, "iam:CreateAccessKey", "two keys already"));
            }
            let k = Key {
                id: format!("AKIAFAKE{serial:012}"),
                secret: format!("secret-{serial:032}"),
                active: true,
                created: now,
                last_used: None,
            };
            u.keys.push(k.clone());
            Ok((AccessKeyMeta { id: k.id, active: true, created: Some(now) }, Secret::new(k.secret)))
        })
    }
    async fn update_access_key(&self, user: &str, key_id: &str, active: bool) -> Result<()> {
        self.aws.call("iam:UpdateAccessKey", |w| {
            let u = user_mut(w, "iam:UpdateAccessKey", user)?;
            let k = u.keys.iter_mut().find(|k| k.id == key_id).ok_or_else(|| no_user("iam:UpdateAccessKey", key_id))?;
            k.active = active;
            Ok(())
        })
    }
    async fn delete_access_key(&self, user: &str, key_id: &str) -> Result<()> {
        self.aws.call("iam:DeleteAccessKey", |w| {
            let u = user_mut(w, "iam:DeleteAccessKey", user)?;
            let before = u.keys.len();
            u.keys.retain(|k| k.id != key_id);
            if u.keys.len() == before {
                return Err(no_user("iam:DeleteAccessKey", key_id));
            }
            Ok(())
        })
    }
    async fn access_key_last_used(&self, key_id: &str) -> Result<LastUsed> {
        self.aws.call("iam:GetAccessKeyLastUsed", |w| {
            let used =
                w.users.values().flat_map(|u| u.keys.iter()).find(|k| k.id == key_id).and_then(|k| k.last_used.clone());
            Ok(used.map_or_else(LastUsed::default, |(at, service)| LastUsed {
                at: Some(at),
                service: Some(service),
                region: Some("us-east-1".into()),
            }))
        })
    }
    async fn tag_user(&self, user: &str, tags: &[(String, String)]) -> Result<()> {
        self.aws.call("iam:TagUser", |w| {
            let u = user_mut(w, "iam:TagUser", user)?;
            for (k, v) in tags {
                u.tags.retain(|(tk, _)| tk != k);
                u.tags.push((k.clone(), v.clone()));
            }
            Ok(())
        })
    }
    async fn untag_user(&self, user: &str, keys: &[String]) -> Result<()> {
        self.aws.call("iam:UntagUser", |w| {
            user_mut(w, "iam:UntagUser", user)?.tags.retain(|(k, _)| !keys.contains(k));
            Ok(())
        })
    }
    async fn list_user_tags(&self, user: &str) -> Result<Vec<(String, String)>> {
        self.aws.call("iam:ListUserTags", |w| Ok(user_mut(w, "iam:ListUserTags", user)?.tags.clone()))
    }
    async fn login_profile(&self, user: &str) -> Result<Option<LoginProfileInfo>> {
        self.aws.call("iam:GetLoginProfile", |w| {
            let u = user_mut(w, "iam:GetLoginProfile", user)?;
            Ok(u.password.as_ref().map(|_| LoginProfileInfo { created: None, reset_required: false }))
        })
    }
    async fn create_login_profile(&self, user: &str, password: &Secret) -> Result<()> {
        let now = self.aws.clock.now();
        self.aws.call("iam:CreateLoginProfile", |w| {
            let u = user_mut(w, "iam:CreateLoginProfile", user)?;
            u.password = Some(password.expose().into());
            u.password_changed = Some(now);
            Ok(())
        })
    }
    async fn update_login_profile(&self, user: &str, password: &Secret) -> Result<()> {
        self.create_login_profile(user, password).await
    }
    async fn password_policy(&self) -> Result<Option<PasswordPolicy>> {
        self.aws.call("iam:GetAccountPasswordPolicy", |w| Ok(w.policy.clone()))
    }
    async fn change_password(&self, old: &Secret, new: &Secret) -> Result<()> {
        let now = self.aws.clock.now();
        let caller = self.caller.clone();
        self.aws.call("iam:ChangePassword", |w| {
            let user = w
                .users
                .iter_mut()
                .find(|(_, u)| u.keys.iter().any(|k| Some(&k.id) == caller.as_ref()))
                .map(|(_, u)| u)
                .ok_or_else(|| AwsError::new(AwsErrorClass::Auth, "iam:ChangePassword", "caller is not an IAM user"))?;
            if user.password.as_deref() != Some(old.expose()) {
                return Err(AwsError {
                    class: AwsErrorClass::Auth,
                    operation: "iam:ChangePassword",
                    code: Some("InvalidUserType".into()),
                    message: "the old password is incorrect".into(),
                    unanswered: false,
                });
            }
            // Like a password-reuse policy (or a rule against it), setting the password IAM holds
            // is refused: a caller cannot test what IAM holds by changing a password to itself.
            if old.expose() == new.expose() {
                return Err(AwsError {
                    class: AwsErrorClass::Invalid,
                    operation: "iam:ChangePassword",
                    code: Some("PasswordPolicyViolation".into()),
                    message: "the new password must differ from the current one".into(),
                    unanswered: false,
                });
            }
            user.password = Some(new.expose().into());
            user.password_changed = Some(now);
            Ok(())
        })
    }
    async fn list_users(&self) -> Result<Vec<IamUser>> {
        self.aws.call("iam:ListUsers", |w| {
            Ok(w.users
                .iter()
                .map(|(n, u)| IamUser {
                    user_name: n.clone(),
                    user_id: u.user_id.clone(),
                    arn: arn(n),
                    path: "/".into(),
                    created: None,
                    tags: None,
                })
                .collect())
        })
    }
    async fn users_with_tags(&self) -> Result<Vec<IamUser>> {
        let users = self.list_users().await?;
        let w = self.aws.w();
        Ok(users
            .into_iter()
            .map(|u| {
                let tags = w.users.get(&u.user_name).map(|x| x.tags.clone()).unwrap_or_default();
                IamUser { tags: Some(tags), ..u }
            })
            .collect())
    }
    async fn simulate(
        &self,
        _principal: &str,
        actions: &[&str],
        resources: &[String],
    ) -> Result<Vec<crate::Simulated>> {
        self.aws.call("iam:SimulatePrincipalPolicy", |w| {
            let mut out = Vec::new();
            for a in actions {
                for r in resources {
                    let (decision, missing) =
                        w.decisions.get(*a).cloned().unwrap_or_else(|| ("allowed".into(), vec![]));
                    out.push(crate::Simulated {
                        action: (*a).into(),
                        resource: r.clone(),
                        decision,
                        missing_context: missing,
                    });
                }
            }
            Ok(out)
        })
    }
    async fn mfa_devices(&self, _user: &str) -> Result<usize> {
        self.aws.call("iam:ListMFADevices", |_| Ok(0))
    }
    async fn credential_report(&self) -> Result<Vec<ReportRow>> {
        self.aws.call("iam:GetCredentialReport", |w| {
            Ok(w.users
                .iter()
                .map(|(name, u)| {
                    let mut row = BTreeMap::new();
                    row.insert("user".into(), name.clone());
                    row.insert("arn".into(), arn(name));
                    row.insert("password_enabled".into(), u.password.is_some().to_string());
                    let changed = u.password_changed.map_or_else(|| "N/A".into(), |t| t.to_rfc3339());
                    row.insert("password_last_changed".into(), changed);
                    ReportRow(row)
                })
                .collect())
        })
    }
}

/// [`StsApi`] over [`FakeAws`]: a key must exist and its secret match.
#[derive(Debug, Clone)]
pub struct FakeSts {
    aws: FakeAws,
    key: Option<(String, Secret)>,
}

#[async_trait]
impl StsApi for FakeSts {
    async fn caller_identity(&self) -> Result<CallerIdentity> {
        let key = self.key.clone();
        let now = self.aws.clock.now();
        self.aws.call("sts:GetCallerIdentity", |w| {
            let Some((id, secret)) = key else {
                return Ok(CallerIdentity { account: ACCOUNT.into(), arn: arn("admin"), user_id: "AIDAADMIN".into() });
            };
            // Like IAM, a signed request counts as a use of the key.
            w.users
                .iter_mut()
                .find_map(|(name, u)| {
                    let user_id = u.user_id.clone();
                    u.keys.iter_mut().find(|k| k.id == id && k.secret == secret.expose()).map(|k| {
                        k.last_used = Some((now, "sts".into()));
                        CallerIdentity { account: ACCOUNT.into(), arn: arn(name), user_id }
                    })
                })
                .ok_or_else(|| AwsError::new(AwsErrorClass::Auth, "sts:GetCallerIdentity", "InvalidClientTokenId"))
        })
    }
}
