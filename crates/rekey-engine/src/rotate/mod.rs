//! Rotations: journaled runs of the two state machines of docs/ARCHITECTURE.md.
//!
//! A [`Run`] holds the account's lease and walks a [`Rotation`] from phase to phase. Each step
//! reads IAM again, so it is safe to repeat; every phase is journaled (under the lease's
//! fencing token) before the side effect it announces, except a new access key's secret, which
//! is sealed and stored the moment `CreateAccessKey` returns. `recover` simply resumes each
//! unfinished rotation from its phase.

mod access_key;
mod confirm;
mod cutover;
mod history;
mod password;
mod plan;

use crate::{failpoint::crash_point, lease::Held, Engine, Error, Result};
use rekey_aws::{Conn, IamApi, IamUser};
use rekey_domain::{CredentialKind, Phase, RotationSettings, SecretState};
use rekey_store::{Account, AccountPatch, JournalWrite, Provider, Rotation, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::{sync::Arc, time::Instant};

pub use confirm::Pending;
pub use plan::Plan;

/// Options of `rekey rotate`.
#[derive(Debug, Clone, Default)]
pub struct RotateOptions {
    /// Allow deleting an inactive foreign key when no slot is free.
    pub reclaim_foreign: bool,
    /// Rotate a password someone has checked out (audited; their copy stops working).
    pub force_checkout: bool,
    /// A scheduled rotation: a new rotation starts only if the account is still due once its
    /// lease is held, and its first journal write claims the period (see
    /// [`rekey_store::JournalWrite::claim_due`]); otherwise the outcome is `skipped`.
    pub scheduled: bool,
    /// Part of this incident (`rekey rotate --incident`): no grace, no unused or cut-over gate;
    /// the previous key is deactivated as soon as the new one is delivered.
    pub incident: Option<String>,
}

/// Phase facts kept in the rotation's `data` column.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Facts {
    /// Access keys the user had at pre-flight.
    pub keys_before: Vec<String>,
    /// When CreateAccessKey was requested (keys created after it and unknown are ours).
    pub create_requested_at: Option<chrono::DateTime<chrono::Utc>>,
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
    pub cutover_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the previous key is to be deactivated.
    pub deactivate_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the previous key is to be deleted.
    pub delete_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The provider signs with this account's key (self-rotation).
    pub self_rotation: bool,
    /// Whether the login profile existed at pre-flight.
    pub profile_existed: Option<bool>,
    /// Password updates attempted (a second attempt means the first one's outcome is unknown).
    pub update_attempts: u32,
    /// A manual target's confirmation: when the rotation started waiting for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awaiting_confirmation_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The deadline of that confirmation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_by: Option<chrono::DateTime<chrono::Utc>>,
    /// When an operator confirmed the manual delivery, and who.
    #[serde(skip_serializing_if = "Option::is_none")]
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
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Time from CreateAccessKey to the new key's first successful verification: how long IAM
    /// took to propagate it.
    pub propagation_ms: Option<u64>,
}

/// What one rotation did, for output.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct RotationReport {
    pub account: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub rotation: Option<String>,
    /// `done`, `retiring` (committed; the previous key retires later), `awaiting-confirmation`
    /// (verified and delivered; a manual target waits for `rekey rotation confirm`), `aborted`,
    /// `interrupted` (will resume on recover), `refused` (not started), `skipped` (a scheduled
    /// rotation not started: the account was no longer due), `planned` (dry run).
    pub outcome: String,
    pub phase: Option<String>,
    pub new_key_id: Option<String>,
    pub old_key_id: Option<String>,
    pub phases: Vec<String>,
    pub duration_ms: u128,
    pub error: Option<String>,
    /// Where a rotation that waits stands: a manual delivery's confirmation, or a confirmed
    /// cut-over ("waiting for consumers: new key unused for 3 d").
    pub waiting: Option<String>,
    pub plan: Vec<String>,
    /// AWS calls of this rotation answered `Throttling` (each was sent again at a slower pace).
    pub throttled: u64,
    /// Milliseconds its AWS calls waited for the provider's pace.
    pub paced_ms: u64,
    /// Time from CreateAccessKey to the new key's first successful verification.
    pub propagation_ms: Option<u64>,
    /// Keys of the user that are not this account's and were left alone, and why ("AKIA…:
    /// managed by another rekey vault 0123456789abcdef; left alone").
    pub foreign_keys: Vec<String>,
}

impl RotationReport {
    pub(crate) fn refused(account: &Account, e: &Error) -> Self {
        Self {
            account: account.id.to_string(),
            reference: reference(account),
            rotation: None,
            outcome: "refused".into(),
            phase: None,
            new_key_id: None,
            old_key_id: account.current_key_id.clone(),
            phases: vec![],
            duration_ms: 0,
            error: Some(e.to_string()),
            waiting: None,
            plan: vec![],
            throttled: 0,
            paced_ms: 0,
            propagation_ms: None,
            foreign_keys: vec![],
        }
    }

    /// Whether the rotation got where it was asked to go (`done`, `retiring`, `planned`,
    /// `skipped`), not `aborted`, `interrupted` or `refused`.
    pub fn succeeded(&self) -> bool {
        !matches!(self.outcome.as_str(), "aborted" | "interrupted" | "refused")
    }

    /// This report with what its AWS calls met.
    pub(crate) fn with_counts(mut self, counts: &rekey_aws::pace::TaskCounts) -> Self {
        self.throttled = counts.throttled();
        self.paced_ms = counts.waited_ms();
        self
    }
}

impl RotationReport {
    /// A scheduled rotation that was not started: another worker rotated the account since the
    /// due list was read.
    pub(crate) fn skipped(account: &Account) -> Self {
        Self {
            outcome: "skipped".into(),
            error: Some(format!("account {} is no longer due: another worker rotated it", account.id)),
            ..Self::refused(account, &Error::Internal(String::new()))
        }
    }
}

pub(crate) fn reference(a: &Account) -> String {
    format!("{}/{}/{}", a.provider, a.user_name, a.kind)
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
        let outcome = if phase == Phase::Aborted { "aborted" } else { "ok" };
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

    /// Before a side effect (`what`): this worker must still hold the lease (see
    /// [`Held::ensure`]), so a worker that lost it makes no IAM call and no delivery.
    pub async fn guard(&self, what: &str) -> Result<()> {
        self.lease.ensure(self.engine.clock.now(), what).await
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

    /// The account's IAM user as `GetUser` returns it (with its tags), or why the rotation must
    /// not go on: the user is gone or was re-created (its immutable UserId changed).
    pub async fn checked_user(&self) -> Result<std::result::Result<IamUser, String>> {
        let user = self.account.user_name.as_str();
        match self.iam.get_user(user).await {
            Ok(u) if u.user_id == self.account.user_id => Ok(Ok(u)),
            Ok(u) => Ok(Err(format!(
                "IAM user {user} was deleted and re-created (UserId {} is now {}); re-add the account to manage the new user",
                self.account.user_id, u.user_id
            ))),
            Err(e) if e.class == rekey_aws::AwsErrorClass::NotFound => Ok(Err(format!("IAM user {user} no longer exists"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Aborts on the operator's word (see [`Engine::abort_rotation`]).
    async fn operator_abort(&mut self) -> Result<()> {
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
            status: Some("ok".into()),
            last_rotated_at: Some(now),
            next_due_at: Some(rekey_domain::schedule::next_due(
                self.settings.every_ms,
                self.settings.cron.as_deref(),
                now,
            )),
            // The new credential was just proven: an older heartbeat no longer describes it.
            heartbeat: Some(rekey_store::Heartbeat {
                at: now,
                status: "ok".into(),
                detail: json!({ "findings": [], "source": "rotation" }),
            }),
            ..AccountPatch::default()
        }
    }

    /// Where a waiting rotation stands, for reports.
    fn waiting_status(&self) -> Option<String> {
        match self.rot.phase {
            Phase::Delivering if confirm::awaiting(&self.facts) => Some(format!(
                "waiting for the manual delivery to be confirmed (rekey rotation confirm {}) by {}",
                self.rot.id,
                self.facts.confirm_by.map(|t| t.to_rfc3339()).unwrap_or_default()
            )),
            Phase::Retiring => self.facts.cutover_status.clone(),
            _ => None,
        }
    }

    fn report(&self, started: Instant) -> RotationReport {
        let outcome = match self.rot.phase {
            Phase::Delivering if confirm::awaiting(&self.facts) => "awaiting-confirmation",
            Phase::Done => "done",
            Phase::Aborted => "aborted",
            Phase::Retiring | Phase::Deactivated => "retiring",
            _ => "interrupted",
        };
        RotationReport {
            account: self.account.id.to_string(),
            reference: reference(&self.account),
            rotation: Some(self.rot.id.clone()),
            outcome: outcome.into(),
            phase: Some(self.rot.phase.as_str().into()),
            new_key_id: self.rot.new_key_id.clone(),
            old_key_id: self.rot.old_key_id.clone(),
            phases: self.facts.phases.clone(),
            duration_ms: started.elapsed().as_millis(),
            error: self.rot.error.clone(),
            waiting: self.waiting_status(),
            plan: vec![],
            throttled: 0,
            paced_ms: 0,
            propagation_ms: self.facts.propagation_ms,
            foreign_keys: self.facts.foreign.clone(),
        }
    }
}

/// Most unfinished rotations recovered at once (each provider's cap applies too).
pub const RECOVERY_CONCURRENCY: usize = 32;

/// Whether a rotation waits out a grace period: it needs nothing yet, no lease, no AWS client.
fn waiting(rot: &Rotation, now: chrono::DateTime<chrono::Utc>) -> bool {
    let facts: Facts = serde_json::from_value(rot.data.clone()).unwrap_or_default();
    match rot.phase {
        Phase::Delivering => confirm::waiting(&facts, now),
        Phase::Retiring => facts.deactivate_at.is_some_and(|t| t > now),
        Phase::Deactivated => facts.delete_at.is_some_and(|t| t > now),
        _ => false,
    }
}

/// One semaphore per provider, made on first use, holding recovery to the per-provider cap the
/// front end set, if it set one.
struct ProviderCaps {
    cap: Option<usize>,
    caps: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>,
}

impl ProviderCaps {
    fn new(cap: Option<usize>) -> Self {
        Self { cap, caps: std::sync::Mutex::default() }
    }

    async fn slot(&self, provider: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let cap = self.cap?;
        let sem = {
            let mut caps = self.caps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            caps.entry(provider.to_owned()).or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(cap))).clone()
        };
        sem.acquire_owned().await.ok()
    }
}

fn new_rotation_id() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("rot_{n:016x}")
}

impl Engine {
    /// The typed rotation settings of an account, validated again as they are loaded (another
    /// process, or an older version, wrote them: a delivery target must never be used on
    /// settings this process would refuse).
    pub fn settings_of(account: &Account) -> Result<RotationSettings> {
        let settings = Self::stored_settings(account)?;
        settings.validate().map_err(|e| {
            Error::usage(
                format!("the stored settings of account {} are not valid: {e}", account.id),
                format!("correct them with `rekey account set {}` ({})", account.id, e.hint),
            )
        })?;
        Ok(settings)
    }

    /// The settings as stored, not validated (for `account set`, which validates the result).
    pub(crate) fn stored_settings(account: &Account) -> Result<RotationSettings> {
        if account.settings.as_object().is_some_and(serde_json::Map::is_empty) {
            return Ok(RotationSettings::default());
        }
        if let Some(why) = &account.tampered {
            return Err(Error::Integrity {
                message: format!("account {} failed its integrity check ({why})", account.id),
            });
        }
        let settings: RotationSettings = serde_json::from_value(account.settings.clone())
            .map_err(|e| Error::Integrity { message: format!("settings of account {}: {e}", account.id) })?;
        // Checked again when loaded, not only when set: the rules may have tightened since.
        settings.validate().map_err(|e| Error::Integrity {
            message: format!("settings of account {} break a rule: {e}; nothing is delivered", account.id),
        })?;
        Ok(settings)
    }

    /// Rotates one account: finishes or resumes its unfinished rotation first, then runs a new
    /// one to completion (or to its retirement grace period).
    pub async fn rotate(&self, account: &Account, opts: &RotateOptions) -> Result<RotationReport> {
        let started = Instant::now();
        self.refuse_tampered(account).await?;
        self.respect_checkout(account, "rotate", opts.force_checkout).await?;
        let lease = self.lease(&account.id).await?;
        let counts = Arc::new(rekey_aws::pace::TaskCounts::default());
        let result = rekey_aws::pace::observe(counts.clone(), self.rotate_held(account, opts, &lease, started)).await;
        let result = result.map(|r| r.with_counts(&counts));
        lease.release().await;
        crate::stats::record_outcome(result.as_ref().map_or("refused", |r| r.outcome.as_str()));
        result
    }

    async fn rotate_held(
        &self,
        account: &Account,
        opts: &RotateOptions,
        lease: &Held,
        started: Instant,
    ) -> Result<RotationReport> {
        // Back-to-back: an earlier rotation of this account is resumed (and its retirement
        // brought forward: its previous key is ours) before a new one starts. Read with the
        // lease held, so this is the journal's latest state.
        let mut resumed = None;
        for open in self.store.rotations(Some(&account.id), true, 10).await? {
            let mut run = self.run_for(open, lease, opts).await?;
            // A scheduled rotation leaves a confirmed cut-over to its hourly check (the
            // scheduler would otherwise ask IAM at every tick); an operator's asks now.
            let hourly = opts.scheduled
                && run.rot.phase == Phase::Retiring
                && run.settings.retirement == rekey_domain::Retirement::Confirmed;
            if matches!(run.rot.phase, Phase::Retiring | Phase::Deactivated) && !hourly {
                run.facts.deactivate_at = Some(self.clock.now());
                run.facts.delete_at = Some(self.clock.now());
            }
            if opts.incident.is_some() {
                run.facts.incident.clone_from(&opts.incident);
            }
            run.drive().await?;
            if !run.rot.phase.is_final() {
                return Ok(run.report(started));
            }
            resumed = Some(run.report(started));
        }
        let account = self.store.account(&account.id).await?;
        let now = self.clock.now();
        // A scheduled rotation re-checks, under the lease, that the account is still due: the
        // due list was read before, and another worker may have rotated it since.
        let due = account.next_due_at.is_some_and(|due| due <= now);
        if opts.scheduled && !due {
            return Ok(resumed.unwrap_or_else(|| RotationReport::skipped(&account)));
        }
        let rot = Rotation {
            id: new_rotation_id(),
            account_id: account.id.clone(),
            kind: account.kind,
            phase: Phase::Preflight,
            old_key_id: account.current_key_id.clone(),
            new_key_id: None,
            old_version: account.current_version,
            new_version: None,
            data: json!({}),
            error: None,
            started_at: now,
            updated_at: now,
            finished_at: None,
        };
        let mut run = self.run_for(rot, lease, opts).await?;
        run.facts.incident = opts.incident.clone();
        // The first write announces the pre-flight (which may delete orphans or free a slot).
        // `planned` is only resumed from journals that hold it: recording it first would cost
        // one durable write per rotation for nothing. A scheduled rotation's first write claims
        // the period: it is refused if the account is no longer due.
        let claim = JournalWrite { claim_due: opts.scheduled.then(|| account.id.clone()), ..JournalWrite::default() };
        match run.journal(Phase::Preflight, claim).await {
            Ok(()) => {}
            Err(Error::Store(StoreError::NotDue { .. })) => return Ok(RotationReport::skipped(&account)),
            Err(e) => return Err(e),
        }
        match run.drive().await {
            Ok(()) => Ok(run.report(started)),
            Err(e) => {
                // The rotation stays where it stopped; recovery resumes it.
                run.rot.error = Some(e.to_string());
                let mut report = run.report(started);
                report.outcome = "interrupted".into();
                Ok(report)
            }
        }
    }

    pub(crate) async fn run_for<'a>(&'a self, rot: Rotation, lease: &'a Held, opts: &RotateOptions) -> Result<Run<'a>> {
        let account = self.store.account(&rot.account_id).await?;
        let settings = Self::settings_of(&account)?;
        let provider = self.provider(&account.provider).await?;
        let conn = self.conn(&provider).await?;
        let iam = self.aws.iam(&conn).await;
        let facts: Facts = serde_json::from_value(rot.data.clone()).unwrap_or_default();
        Ok(Run {
            engine: self,
            lease,
            account,
            settings,
            provider,
            conn,
            iam,
            rot,
            facts,
            opts: opts.clone(),
            last_step: Instant::now(),
            keys_just_listed: false,
        })
    }

    /// Resumes every unfinished rotation whose lease is free or whose owner died, several at
    /// once (at most [`RECOVERY_CONCURRENCY`], and the per-provider cap if one is set), every call
    /// at its provider's pace.
    /// Rotations waiting for a grace period are advanced only when it has passed. A rotation
    /// another live worker holds is reported `refused`.
    pub async fn recover(&self) -> Result<Vec<RotationReport>> {
        self.recover_with(true).await
    }

    /// [`Engine::recover`]; rotations other live workers hold are left out of the reports unless
    /// `report_busy` (a scheduler tick: they are healthy, not failures).
    pub(crate) async fn recover_with(&self, report_busy: bool) -> Result<Vec<RotationReport>> {
        use futures_util::StreamExt;
        let now = self.clock.now();
        let open: Vec<Rotation> =
            self.store.rotations(None, true, 10_000).await?.into_iter().filter(|r| !waiting(r, now)).collect();
        let caps = ProviderCaps::new(self.limits.provider_concurrency);
        self.progress.announce(open.len());
        let results: Vec<Result<Option<RotationReport>>> = futures_util::stream::iter(open)
            .map(|rot| async {
                self.progress.start();
                let r = self.recover_one(rot, &caps, report_busy).await;
                self.progress.finish(matches!(&r, Ok(None)) || matches!(&r, Ok(Some(r)) if r.succeeded()));
                r
            })
            .buffered(RECOVERY_CONCURRENCY)
            .collect()
            .await;
        let mut reports = Vec::new();
        for r in results {
            reports.extend(r?);
        }
        Ok(reports)
    }

    /// Recovers one rotation read from the list of open ones: with its lease held, the rotation
    /// is read again and resumed from that state only — never from the list's, which another
    /// worker may have moved on or finished since.
    async fn recover_one(
        &self,
        listed: Rotation,
        caps: &ProviderCaps,
        report_busy: bool,
    ) -> Result<Option<RotationReport>> {
        let started = Instant::now();
        let account = match self.store.account(&listed.account_id).await {
            Ok(a) => a,
            Err(StoreError::NotFound { .. }) => return Ok(None),
            // Left unfinished and audited; the other rotations are recovered.
            Err(e @ StoreError::Tampered { .. }) => {
                drop(self.audited(listed.account_id.as_str(), e).await);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let _slot = caps.slot(account.provider.as_str()).await;
        let lease = match self.lease(&account.id).await {
            Ok(l) => l,
            Err(e @ Error::Busy { .. }) => return Ok(report_busy.then(|| RotationReport::refused(&account, &e))),
            Err(e) => return Err(e),
        };
        let counts = Arc::new(rekey_aws::pace::TaskCounts::default());
        let outcome = rekey_aws::pace::observe(counts.clone(), async {
            let rot = match self.store.rotation(&listed.id).await {
                Ok(r) => r,
                Err(StoreError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            if rot.phase.is_final() || waiting(&rot, self.clock.now()) {
                return Ok(None);
            }
            let mut run = self.run_for(rot, &lease, &RotateOptions::default()).await?;
            let result = run.drive().await;
            let mut report = run.report(started);
            if let Err(e) = result {
                report.outcome = "interrupted".into();
                report.error = Some(e.to_string());
            }
            Ok::<_, Error>(Some(report.with_counts(&counts)))
        })
        .await;
        lease.release().await;
        match &outcome {
            Ok(Some(r)) => crate::stats::record_outcome(&r.outcome),
            Ok(None) => {}
            Err(_) => crate::stats::record_outcome("refused"),
        }
        outcome
    }

    /// Abandons an unfinished rotation that has not committed: a new key is deleted (and any
    /// key an interrupted create left), the old credential stays current. Refused once the
    /// change may have reached IAM's users (committed, or a password update under way).
    pub async fn abort_rotation(&self, id: &str) -> Result<RotationReport> {
        let started = Instant::now();
        let rot = self.store.rotation(id).await?;
        let allowed = matches!(
            rot.phase,
            Phase::Planned
                | Phase::Preflight
                | Phase::CreateRequested
                | Phase::Created
                | Phase::Tagged
                | Phase::Verifying
                | Phase::Delivering
                | Phase::Aborting
                | Phase::Generated
        );
        if !allowed {
            let hint = match rot.phase {
                Phase::UpdateRequested => {
                    "the new password may already be set in IAM: run `rekey recover` to finish it"
                }
                p if p.is_final() => "it has already finished",
                _ => "it has committed; `rekey rollback` restores the previous key",
            };
            return Err(Error::conflict(
                format!("rotation {id} is in phase {} and cannot be aborted", rot.phase),
                hint,
            ));
        }
        let lease = self.lease(&rot.account_id).await?;
        let result = async {
            let mut run = self.run_for(rot, &lease, &RotateOptions::default()).await?;
            run.operator_abort().await?;
            Ok::<_, Error>(run.report(started))
        }
        .await;
        lease.release().await;
        result
    }

    /// Where each account whose unfinished rotation waits for people or consumers stands:
    /// account id → (status, past its deadline). For reports and the API.
    pub async fn standings(&self) -> Result<std::collections::HashMap<String, (String, bool)>> {
        let now = self.clock.now();
        let mut out = std::collections::HashMap::new();
        for rot in self.store.rotations(None, true, 10_000).await? {
            let facts: Facts = serde_json::from_value(rot.data.clone()).unwrap_or_default();
            let standing = match rot.phase {
                Phase::Delivering if confirm::awaiting(&facts) => (
                    format!(
                        "waiting for the manual delivery of rotation {} to be confirmed by {}",
                        rot.id,
                        facts.confirm_by.map(|t| t.to_rfc3339()).unwrap_or_default()
                    ),
                    facts.confirm_by.is_some_and(|t| t <= now),
                ),
                Phase::Retiring => match &facts.cutover_status {
                    Some(s) if s.starts_with("waiting") => (s.clone(), facts.cutover_overdue_notified),
                    _ => continue,
                },
                _ => continue,
            };
            out.insert(rot.account_id.to_string(), standing);
        }
        Ok(out)
    }

    /// What a rotation of `account` would do, calling only read APIs.
    pub async fn plan(&self, account: &Account, opts: &RotateOptions) -> Result<RotationReport> {
        let plan = plan::plan(self, account, opts).await?;
        Ok(RotationReport {
            account: account.id.to_string(),
            reference: reference(account),
            rotation: None,
            outcome: if plan.blocked { "refused".into() } else { "planned".into() },
            phase: None,
            new_key_id: None,
            old_key_id: account.current_key_id.clone(),
            phases: vec![],
            duration_ms: 0,
            error: plan.blocked.then(|| plan.steps.last().cloned().unwrap_or_default()),
            waiting: None,
            plan: plan.steps,
            throttled: 0,
            paced_ms: 0,
            propagation_ms: None,
            foreign_keys: plan.foreign,
        })
    }
}
