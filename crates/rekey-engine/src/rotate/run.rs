//! One rotation being worked: `Run` holds the account's lease, its settings and IAM client,
//! the journaled `Rotation` and its `Facts`, and walks the state machine one step at a time.
//! Every phase goes through `Run::journal` (under the lease's fence) before the side effect it
//! announces; each side effect is made through `Run::act`, which checks the lease and bounds
//! the call by it.

use super::RotateOptions;
use crate::{failpoint::crash_point, lease::Held, Engine, Error, Result};
use rekey_aws::{Conn, IamApi, IamUser};
use rekey_domain::{
    AccountStatus, AuditOutcome, CredentialKind, HeartbeatStatus, Phase, RotationSettings, SecretState,
};
use rekey_store::{Account, AccountPatch, JournalWrite, Provider, Rotation, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::{sync::Arc, time::Instant};

/// Phase facts kept in the rotation's `data` column.
///
/// Its times are written as RFC 3339 in UTC with milliseconds, as every timestamp rekey shows
/// ([`rekey_domain::timestamp`]); journals written before read as well (any RFC 3339 time).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Facts {
    /// Access keys the user had at pre-flight.
    pub keys_before: Vec<String>,
    /// When CreateAccessKey was requested, and so its first attempt made (an unknown key
    /// created about then is that attempt's orphan).
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub create_requested_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When each later CreateAccessKey attempt was made (a retry, a resumed run): the orphan
    /// sweep looks only at keys created about then.
    /// Each an attempt whose outcome is unknown (one IAM answered made no key and is taken out).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "rekey_domain::timestamp::vec::serialize")]
    pub create_attempts: Vec<chrono::DateTime<chrono::Utc>>,
    /// This journal records every CreateAccessKey attempt's time (an earlier version's did not:
    /// its sweep looks at every key made since the first).
    pub attempts_journaled: bool,
    /// Keys deleted to free a slot, and why.
    pub reclaimed: Vec<String>,
    /// Keys of the user that are not this account's, and why (see [`crate::ownership`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub foreign: Vec<String>,
    /// This account's ownership tag entries pre-flight kept; the new key's entry goes first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag_kept: Option<String>,
    /// Tags of earlier versions the new tag replaces (removed after it is written).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub legacy_untag: Vec<String>,
    /// Delivery targets acknowledged (by index).
    pub acks: Vec<usize>,
    /// The target written in several requests whose failed delivery aborted the rotation: it
    /// may hold part of the new key (one of two secrets), so the abort restores the old key
    /// there too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_target: Option<usize>,
    /// When the new credential became current.
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub cutover_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the previous key is to be deactivated.
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub deactivate_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the previous key is to be deleted.
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub delete_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The provider signs with this account's key (self-rotation).
    pub self_rotation: bool,
    /// Whether the login profile existed at pre-flight.
    pub profile_existed: Option<bool>,
    /// Password updates attempted (a second attempt means the first one's outcome is unknown).
    pub update_attempts: u32,
    /// Self-rotation: each ChangePassword sent, in order (see `change_password`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sent: Vec<super::change_password::Sent>,
    /// Self-rotation: the round of changes under way (a run after one that stopped on a
    /// refusal starts the next).
    #[serde(skip_serializing_if = "is_zero")]
    pub change_round: u32,
    /// A manual target's confirmation: when the rotation started waiting for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub awaiting_confirmation_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The deadline of that confirmation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub confirm_by: Option<chrono::DateTime<chrono::Utc>>,
    /// When an operator confirmed the manual delivery, and who.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub confirmed_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
    /// The owner was told the confirmation is overdue (policy `notify`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub confirm_overdue_notified: bool,
    /// Confirmed cut-over: where it stands ("waiting for consumers: …").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutover_status: Option<String>,
    /// Confirmed cut-over: the owner was told the deadline passed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cutover_overdue_notified: bool,
    /// The incident this rotation is part of (`rekey rotate --incident`): the previous key is
    /// deactivated as soon as the new one is delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// Phases passed, in order.
    pub phases: Vec<String>,
    /// When CreateAccessKey returned the new key.
    #[serde(serialize_with = "rekey_domain::timestamp::option::serialize")]
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Time from CreateAccessKey to the new key's first successful verification: how long IAM
    /// took to propagate it.
    pub propagation_ms: Option<u64>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What the pre-flight found of the account's IAM user.
#[derive(Debug, Clone)]
pub enum UserCheck {
    /// The user the account was added for (same immutable UserId), as `GetUser` returns it,
    /// with its tags.
    Present(IamUser),
    /// The user is gone, or was deleted and re-created (its UserId changed): why the rotation
    /// must not go on.
    Gone(String),
}

/// Whether a step finished the rotation, must wait (grace periods), or can go on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Next,
    Wait,
}

/// One rotation being worked, with the account's lease held.
pub(crate) struct Run<'a> {
    pub engine: &'a Engine,
    pub lease: &'a Held,
    pub account: Account,
    pub settings: RotationSettings,
    pub provider: Provider,
    pub conn: Conn,
    pub iam: Arc<dyn IamApi>,
    pub rot: Rotation,
    pub facts: Facts,
    pub opts: RotateOptions,
    /// When the last phase was journaled (for the phase-duration statistics).
    pub last_step: Instant,
    /// This process's pre-flight has just listed the user's keys, and no CreateAccessKey of
    /// this rotation has been attempted since: the first attempt has no orphan to sweep.
    pub keys_just_listed: bool,
}

impl std::fmt::Debug for Run<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run").field("rotation", &self.rot.id).field("phase", &self.rot.phase).finish()
    }
}

impl Run<'_> {
    fn kind_name(&self) -> &'static str {
        self.rot.kind.as_str()
    }

    /// For a call that must not be repeated blind (CreateAccessKey, ChangePassword): an IAM
    /// client that makes one attempt per call, and how many attempts the connection allows — the
    /// caller retries, sweeping or journaling between attempts.
    pub(super) async fn single_attempt_iam(&self) -> (Arc<dyn IamApi>, u32) {
        let mut once = self.conn.clone();
        once.max_attempts = 1;
        (self.engine.aws.iam(&once).await, self.conn.max_attempts.max(1))
    }

    /// Journals `phase` together with `extra` (secret versions, account patch …) and an audit
    /// event, under the lease's fence; then passes the crash point of that phase.
    pub async fn journal(&mut self, phase: Phase, extra: JournalWrite) -> Result<()> {
        let now = self.engine.clock.now();
        self.rot.phase = phase;
        self.rot.updated_at = now;
        if phase.is_final() {
            self.rot.finished_at = Some(now);
        }
        self.facts.phases.push(phase.as_str().into());
        self.rot.data = serde_json::to_value(&self.facts).map_err(|e| Error::Internal(e.to_string()))?;
        let detail = json!({
            "rotation": self.rot.id, "phase": phase, "kind": self.rot.kind,
            "new_key_id": self.rot.new_key_id, "old_key_id": self.rot.old_key_id, "error": self.rot.error,
        });
        let outcome = if phase == Phase::Aborted { AuditOutcome::Aborted } else { AuditOutcome::Ok };
        let mut w = extra;
        w.at = now;
        w.fence = Some(self.lease.fence.clone());
        w.rotation = Some(self.rot.clone());
        w.audit.push(self.engine.audit_entry("rotation.phase", Some(self.account.id.as_str()), outcome, detail));
        self.engine.store.write(&w).await.map_err(|e| match e {
            StoreError::Fenced { .. } => {
                self.lease.fenced(&format!("journaling {phase}"));
                Error::conflict(
                    format!("rotation {} lost its lease to another worker", self.rot.id),
                    "the worker holding the lease now continues the rotation",
                )
            }
            other => other.into(),
        })?;
        self.lease.progress();
        crate::stats::record_phase(self.kind_name(), phase.as_str(), self.last_step.elapsed());
        self.last_step = Instant::now();
        crash_point(&format!("{}:{phase}", self.kind_name()));
        Ok(())
    }

    /// Before reads a decision rests on (`what`): this worker must still hold the lease (see
    /// [`Held::ensure`]).
    pub async fn guard(&self, what: &str) -> Result<()> {
        self.lease.ensure(what).await
    }

    /// Makes side effect `what` (an IAM call, a delivery) under the lease: a worker that lost
    /// it makes no call, and a call that would outlast it is abandoned, of unknown outcome
    /// (see [`Held::act`]). The phase journaled before it says what was under way.
    pub async fn act<T>(&self, what: &str, call: impl std::future::Future<Output = T>) -> Result<T> {
        self.lease.act(what, call).await
    }

    /// The account's current secret version must still be the one this rotation replaces
    /// (`old_version`): a commit never replaces a version it did not start from. The store
    /// checks it again, atomically, in the commit's write.
    pub async fn current_unchanged(&self) -> Result<std::result::Result<(), String>> {
        let current = self.engine.store.secret_in_state(self.account.id.as_str(), SecretState::Current).await?;
        let current = current.map(|v| v.version);
        if current == self.rot.old_version {
            return Ok(Ok(()));
        }
        Ok(Err(format!(
            "the account's current secret changed during the rotation (version {}, the rotation replaces {})",
            current.map_or_else(|| "none".into(), |v| v.to_string()),
            self.rot.old_version.map_or_else(|| "none".into(), |v| v.to_string())
        )))
    }

    /// Walks the machine until it finishes or must wait.
    pub async fn drive(&mut self) -> Result<()> {
        while !self.rot.phase.is_final() {
            if self.engine.stopping() {
                // Shutting down: the journal holds this phase; recovery resumes from it.
                break;
            }
            let step = match self.rot.kind {
                CredentialKind::AccessKey => self.access_key_step().await?,
                CredentialKind::Password => self.password_step().await?,
            };
            if step == Step::Wait {
                break;
            }
        }
        Ok(())
    }

    /// Whether the account's IAM user is still the one it was added for (see [`UserCheck`]).
    /// An error is a failed call, not a finding.
    pub async fn checked_user(&self) -> Result<UserCheck> {
        let user = self.account.user_name.as_str();
        match self.iam.get_user(user).await {
            Ok(u) if u.user_id == self.account.user_id => Ok(UserCheck::Present(u)),
            Ok(u) => Ok(UserCheck::Gone(format!(
                "IAM user {user} was deleted and re-created (UserId {} is now {}); re-add the account to manage the new user",
                self.account.user_id, u.user_id
            ))),
            Err(e) if e.class == rekey_aws::AwsErrorClass::NotFound => {
                Ok(UserCheck::Gone(format!("IAM user {user} no longer exists")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Aborts on the operator's word (see [`Engine::abort_rotation`]).
    pub(super) async fn operator_abort(&mut self) -> Result<()> {
        self.rot.error = Some("aborted by the operator".into());
        match self.rot.kind {
            CredentialKind::AccessKey => {
                if self.rot.phase == Phase::CreateRequested {
                    let user = self.account.user_name.to_string();
                    self.sweep_create_orphans(&user).await?;
                }
                self.journal(Phase::Aborting, JournalWrite::default()).await?;
                self.drive().await
            }
            CredentialKind::Password => self.aborted("aborted by the operator".into(), JournalWrite::default()).await,
        }
    }

    /// Ends the rotation as aborted with `why` (the caller has undone any side effect).
    pub async fn aborted(&mut self, why: String, mut extra: JournalWrite) -> Result<()> {
        self.rot.error = Some(why);
        if let Some(v) = self.rot.new_version {
            extra.secret_states.push((self.account.id.to_string(), v, SecretState::Retired));
        }
        self.journal(Phase::Aborted, extra).await
    }

    /// The account patch of a commit: scheduling facts move on.
    pub fn commit_patch(&self) -> AccountPatch {
        let now = self.engine.clock.now();
        AccountPatch {
            status: Some(AccountStatus::Ok),
            last_rotated_at: Some(now),
            next_due_at: Some(rekey_domain::schedule::next_due(
                self.settings.every_ms,
                self.settings.cron.as_deref(),
                now,
            )),
            // The new credential was just proven: an older heartbeat no longer describes it.
            heartbeat: Some(rekey_store::Heartbeat {
                at: now,
                status: HeartbeatStatus::Ok,
                detail: json!({ "findings": [], "source": "rotation" }),
            }),
            ..AccountPatch::default()
        }
    }
}
