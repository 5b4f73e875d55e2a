//! Notifications: a signed webhook told of failed rotations, failed heartbeats and overdue
//! credentials, each naming the credential's owner from its IAM user's `rekey:owner` tag.
//!
//! Failures are read from the audit log (an aborted rotation, a failed heartbeat) through a
//! stored cursor, like an export, so every failure is notified once at least, whichever node
//! saw it, and none is lost across restarts; the cursor starts at the end of the log the first
//! time, so enabling notifications does not replay history. Overdue credentials (due for
//! longer than `overdue_after`) are sent as one digest per owner at most every
//! `overdue_every`; the time of the last digest is stored too. One node at a time notifies.

use crate::config::{positive, NotifyConfig, NotifyKind};
use crate::error::{bad, ConfigError};
use rekey_domain::AuditOutcome;
use rekey_domain::DurationMs;
use rekey_engine::{delivery::webhook::Webhook, AccountRef, Engine, Result};
use rekey_store::{Account, AuditRecord};
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};
use tokio::sync::watch;

const EVENTS_CURSOR: &str = "notify:events";
const OVERDUE_CURSOR: &str = "notify:overdue";
/// Audit events read per batch.
const BATCH: i64 = 500;
/// Overdue accounts listed per round at most.
const OVERDUE_LIMIT: i64 = 10_000;

/// A validated `[notify]`.
#[derive(Debug, Clone)]
pub struct Notifier {
    hook: Webhook,
    /// When each account's last failure notice of each kind went out (this process): a
    /// credential that keeps failing on every tick is told again only after `overdue_every`.
    last_told: Arc<std::sync::Mutex<HashMap<(String, NotifyKind), i64>>>,
    on: Vec<NotifyKind>,
    overdue_every_ms: i64,
    overdue_after_ms: i64,
    interval: Duration,
}

/// Notifications sent and failed, since start (for `/metrics`).
#[derive(Debug, Default)]
pub struct NotifyStats {
    /// Notifications the receiver accepted.
    pub sent: AtomicU64,
    /// Failed to send (retried next round).
    pub failed: AtomicU64,
}

impl Notifier {
    /// Validates `[notify]`.
    pub fn build(c: &NotifyConfig) -> Result<Self, ConfigError> {
        let hook = crate::jobs::webhook("notify", &c.url, c.key_env.as_ref(), c.key_file.as_ref(), c.timeout)?;
        if c.on.is_empty() {
            return Err(bad(
                "notify.on is empty: nothing would be sent",
                format!("use some of {}, or remove [notify]", NotifyKind::spellings()),
            ));
        }
        let ms = |key: &str, v: DurationMs| positive(key, v).map(|_| v.ms_i64());
        Ok(Self {
            hook,
            last_told: Arc::default(),
            on: c.on.clone(),
            overdue_every_ms: ms("notify.overdue_every", c.overdue_every)?,
            overdue_after_ms: ms("notify.overdue_after", c.overdue_after)?,
            interval: positive("notify.interval", c.interval)?,
        })
    }

    /// The webhook notices go to.
    pub fn hook(&self) -> &Webhook {
        &self.hook
    }

    fn wants(&self, kind: NotifyKind) -> bool {
        self.on.contains(&kind)
    }

    /// One round; returns notifications sent (0 while another node notifies).
    pub async fn round(&self, engine: &Engine) -> Result<u64> {
        let Some(lease) = engine.lease_job("notify").await? else { return Ok(0) };
        let mut owners = Owners::default();
        // The two parts fail independently: a stuck failure notice does not hold up digests.
        let failures = self.failures(engine, &mut owners).await;
        let overdue = if self.wants(NotifyKind::Overdue) { self.overdue(engine, &mut owners).await } else { Ok(0) };
        let result = match (failures, overdue) {
            (Ok(a), Ok(b)) => Ok(a + b),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        lease.release().await;
        result
    }

    /// Failed rotations and heartbeats recorded in the audit log since the cursor.
    async fn failures(&self, engine: &Engine, owners: &mut Owners) -> Result<u64> {
        let mut after = engine.export_cursor(EVENTS_CURSOR).await?;
        if after == 0 {
            // First round: start at the end of the log (it is never empty: `vault.init` is
            // its first event), so history is not replayed as new failures.
            after = engine.audit_head().await?;
            engine.set_export_cursor(EVENTS_CURSOR, after).await?;
        }
        let mut sent = 0;
        loop {
            let page = engine.audit_page(after, BATCH).await?;
            for r in &page {
                if let Some(kind) = self.failure_kind(r) {
                    // The cursor is stored before each send, so a failed send resumes at it.
                    engine.set_export_cursor(EVENTS_CURSOR, after).await?;
                    self.notify_failure(engine, owners, kind, r).await?;
                    sent += 1;
                }
                after = r.seq;
            }
            engine.set_export_cursor(EVENTS_CURSOR, after).await?;
            if (page.len() as i64) < BATCH || engine.stopping() {
                return Ok(sent);
            }
        }
    }

    fn failure_kind(&self, r: &AuditRecord) -> Option<NotifyKind> {
        let outcome = r.entry.outcome.parse::<AuditOutcome>().ok();
        let kind = match (r.entry.action.as_str(), outcome) {
            ("rotation.phase", Some(AuditOutcome::Aborted)) => NotifyKind::RotationFailed,
            ("account.heartbeat", Some(AuditOutcome::Failed)) => NotifyKind::HeartbeatFailed,
            // A rotation waiting past a deadline for people (a manual delivery's confirmation).
            ("rotation.stalled", _) => NotifyKind::RotationStalled,
            _ => return None,
        };
        self.wants(kind).then_some(kind)
    }

    async fn notify_failure(
        &self,
        engine: &Engine,
        owners: &mut Owners,
        kind: NotifyKind,
        r: &AuditRecord,
    ) -> Result<()> {
        let key = (r.entry.target.clone().unwrap_or_default(), kind);
        let at = r.entry.at.timestamp_millis();
        let told = self.last_told.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).copied();
        if told.is_some_and(|last| at - last < self.overdue_every_ms) {
            tracing::info!(account = %key.0, kind = kind.as_str(), "repeated failure within overdue_every; not notified again");
            return Ok(());
        }
        let account = match &r.entry.target {
            Some(id) => match id.parse() {
                Ok(id) => engine.account(&AccountRef::Id(id)).await.ok(),
                Err(_) => None,
            },
            None => None,
        };
        let owner = match &account {
            Some(a) => owners.of(engine, a).await,
            None => Value::Null,
        };
        let body = json!({
            "event": kind.as_str(),
            "at": r.entry.at,
            "account": account.as_ref().map(describe),
            "account_id": r.entry.target,
            "owner": owner,
            "actor": r.entry.actor,
            "detail": r.entry.detail,
            "audit_seq": r.seq,
        });
        match self
            .hook
            .post_detailed(&**engine.clock(), &format!("notify:{}", r.seq), body.to_string().as_bytes())
            .await
        {
            Ok(()) => {
                self.last_told.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, at);
                Ok(())
            }
            // The receiver refuses this notice itself: sending it again would block every later
            // one, so it is logged and skipped.
            Err(f) if f.refused => {
                tracing::error!(error = %f.error, audit_seq = r.seq, "the receiver refused a notification; skipped");
                Ok(())
            }
            Err(f) => Err(f.error),
        }
    }

    /// One digest per owner of the credentials overdue by more than `overdue_after`, at most
    /// every `overdue_every`.
    async fn overdue(&self, engine: &Engine, owners: &mut Owners) -> Result<u64> {
        let now = engine.clock().now();
        let last = engine.export_cursor(OVERDUE_CURSOR).await?;
        if last != 0 && now.timestamp_millis() - last < self.overdue_every_ms {
            return Ok(0);
        }
        let cutoff = now - chrono::Duration::milliseconds(self.overdue_after_ms);
        let accounts = engine.due_accounts(cutoff, OVERDUE_LIMIT).await?;
        let mut by_owner: BTreeMap<String, (Value, Vec<Value>)> = BTreeMap::new();
        for a in &accounts {
            let owner = owners.of(engine, a).await;
            let entry = by_owner.entry(owner.to_string()).or_insert_with(|| (owner.clone(), Vec::new()));
            entry.1.push(json!({
                "account": describe(a),
                "account_id": a.id,
                "due_since": a.next_due_at,
                "last_rotated_at": a.last_rotated_at,
            }));
        }
        if by_owner.is_empty() {
            // Nothing overdue: the next credential that becomes overdue is told at once.
            return Ok(0);
        }
        let mut sent = 0;
        for (owner, list) in by_owner.into_values() {
            let body = json!({ "event": "overdue", "at": now, "owner": owner, "accounts": list });
            // The same id until the round succeeds (`last` only moves then), so receivers can
            // drop the digests a partly failed round sent again.
            let id = format!("notify:overdue:{last}:{}", owner.as_str().unwrap_or("-"));
            self.hook.post(&**engine.clock(), &id, body.to_string().as_bytes()).await?;
            sent += 1;
        }
        engine.set_export_cursor(OVERDUE_CURSOR, now.timestamp_millis()).await?;
        Ok(sent)
    }
}

/// `PROVIDER/USER/KIND`.
fn describe(a: &Account) -> String {
    format!("{}/{}/{}", a.provider, a.user_name, a.kind)
}

/// Owners looked up this round, per provider and user (one ListUserTags each).
#[derive(Default)]
struct Owners(HashMap<(String, String), Value>);

impl Owners {
    async fn of(&mut self, engine: &Engine, a: &Account) -> Value {
        let key = (a.provider.to_string(), a.user_name.to_string());
        if let Some(v) = self.0.get(&key) {
            return v.clone();
        }
        let v = match engine.owner_of(a).await {
            Ok(owner) => owner.map_or(Value::Null, Value::String),
            Err(e) => {
                tracing::warn!(account = %a.id, error = %e, "could not read the owner tag; notifying without it");
                Value::Null
            }
        };
        self.0.insert(key, v.clone());
        v
    }
}

/// Notifies until `stop`.
pub async fn run(engine: Arc<Engine>, n: Notifier, stats: Arc<NotifyStats>, stop: watch::Receiver<bool>) {
    crate::periodic::every(n.interval, stop, || async {
        match n.round(&engine).await {
            Ok(k) => {
                stats.sent.fetch_add(k, Ordering::Relaxed);
            }
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "notification failed; retrying next round");
            }
        }
    })
    .await;
}
