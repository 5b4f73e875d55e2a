//! Account leases. A rotation is worked only by the holder of its account's lease. A lease
//! names the **worker** that holds it: the node and process (node name, pid, process start
//! time) and a number unique to one acquisition within that process (`node:pid:start#N`). So
//! two tasks of one process — a scheduler tick, an API request and a console click in one
//! `rekey serve` — never both hold it, and a process on the same node can still tell that the
//! owner died and take over at once instead of waiting for the lease to expire.
//!
//! A lease lasts [`LeaseSettings::ttl_ms`] and is renewed in the background every third of it;
//! a holder that stops renewing (killed, paused, cut off from the store) is taken over once it
//! expires, and the taker reports how long the work stood still (the failover time). A holder
//! that wakes after that is fenced: its next lease check or journal write fails, and it says
//! so, once, in its log. The workers a process holds are listed for its readiness probe
//! ([`crate::Engine::workers`]).
//!
//! Time, two ways. Expiry is judged by the database's clock (the store's `acquire_lease`,
//! `renew_lease`, `lease_state`), never a node's: nodes whose clocks disagree still agree on
//! when a lease expires. And a holder knows, by its own monotonic clock, until when the lease
//! is surely still its own: a renewal sent at instant `s` that succeeded was executed after
//! `s`, so the lease expires no sooner than `s + ttl` ([`Held::act`] keeps that instant). Every
//! side effect made under a lease goes through [`Held::act`], which checks the lease first and
//! gives the call only until that instant, less [`LeaseSettings::safety_gap_ms`]: a call still
//! running then (an IAM call retried, paced or hung, a slow delivery target) while renewals
//! fail is abandoned as of unknown outcome, before any other worker can take the lease over.

use crate::{Engine, Error, Result};
use chrono::{DateTime, Utc};
use rekey_domain::AccountId;
use rekey_store::{Fence, LeaseOutcome, Store};
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, PoisonError,
    },
    time::{Duration, Instant},
};
use tokio::{sync::watch, task::JoinHandle};

/// How long a lease lasts unless renewed, by default.
pub const DEFAULT_TTL_MS: i64 = 30_000;
/// The shortest lease allowed: a holder renews every third of it, and a renewal is a store
/// round trip that a loaded node must fit in.
pub const MIN_TTL_MS: i64 = 5_000;
/// The longest lease allowed (a dead holder's work stands still this long).
pub const MAX_TTL_MS: i64 = 3_600_000;

/// How this process takes leases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSettings {
    /// How long a lease lasts unless renewed (renewed every third of it).
    pub ttl_ms: i64,
    /// This node's name in lease owners (default: the host name). Only a holder on the node of
    /// this name can be judged dead at once (by its process); others are taken over when their
    /// lease expires. Must be unique per machine.
    pub node: String,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self { ttl_ms: DEFAULT_TTL_MS, node: host() }
    }
}

impl LeaseSettings {
    /// A holder renews a lease that expires sooner than this before it makes a side effect, so
    /// that the call starts with at least this much of the lease ahead of it.
    fn side_effect_margin_ms(&self) -> i64 {
        self.ttl_ms / 2
    }

    /// How long before the lease can expire a side effect still running is abandoned: time for
    /// a request already sent to reach IAM or a target, and for the database's clock and this
    /// node's to drift apart over one lease.
    pub fn safety_gap_ms(&self) -> i64 {
        self.ttl_ms / 6
    }

    fn ttl(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.ttl_ms).unwrap_or(0))
    }

    /// This process, as a lease owner: `node:pid:start` (start = boot-relative start time).
    pub fn process(&self) -> String {
        let pid = std::process::id();
        format!("{}:{pid}:{}", self.node, start_time(pid).unwrap_or_default())
    }

    /// Whether `owner` is a worker of a process on this node that no longer exists (a reused
    /// pid has another start time).
    pub fn owner_is_dead(&self, owner: &str) -> bool {
        let mut parts = process_of(owner).rsplitn(3, ':');
        let (Some(start), Some(pid), Some(node)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        if node != self.node {
            return false;
        }
        match pid.parse::<u32>() {
            Ok(pid) => start_time(pid).as_deref() != Some(start),
            Err(_) => false,
        }
    }
}

/// The process part of a lease owner (owners written before workers were numbered have none).
pub fn process_of(owner: &str) -> &str {
    owner.split_once('#').map_or(owner, |(process, _)| process)
}

/// This machine's host name.
pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot; `None` when
/// there is no such process or it has exited and only waits to be reaped (a zombie).
fn start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    start_time_of_stat(&stat)
}

fn start_time_of_stat(stat: &str) -> Option<String> {
    // The command name (field 2) may contain spaces; fields after it are space-separated,
    // starting with the state (field 3).
    let mut fields = stat[stat.rfind(')')? + 2..].split(' ');
    if matches!(fields.next(), Some("Z" | "X" | "x")) {
        return None;
    }
    fields.nth(18).map(str::to_owned)
}

/// This process's lease settings and the workers holding its leases.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    pub settings: LeaseSettings,
    next: AtomicU64,
    workers: Mutex<BTreeMap<u64, Arc<Worker>>>,
}

impl Leases {
    pub(crate) fn new(settings: LeaseSettings) -> Self {
        Self { settings, next: AtomicU64::new(1), workers: Mutex::default() }
    }

    fn workers(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Worker>>> {
        self.workers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One lease holder of this process, as its readiness sees it.
#[derive(Debug)]
struct Worker {
    owner: String,
    account: AccountId,
    since: Instant,
    /// When it last did something: took the lease, passed a lease check, journaled a phase,
    /// tried a verification.
    progress: Mutex<Instant>,
    /// Set once a renewal or a check found the lease taken over.
    lost: AtomicBool,
    /// Set once the loss was logged.
    told_lost: AtomicBool,
    /// Set while renewals fail (logged once).
    renewal_failing: AtomicBool,
    /// Set once a call made under the lease was abandoned: a request of it may still be on its
    /// way to IAM, so the lease is left to expire rather than released (a release would let
    /// another worker take over at once, inside the gap kept for that request).
    abandoned: AtomicBool,
    /// Until when, by this process's monotonic clock, the lease is surely still this worker's
    /// (see the module's header); `None` once it was found taken over.
    held_until: watch::Sender<Option<Instant>>,
}

impl Worker {
    /// Notes that a lease check or renewal sent at `sent` found the lease this worker's with
    /// `left` of it ahead, by the database's clock: it is surely held until `sent + left`.
    fn held_for(&self, sent: Instant, left: Duration) {
        let until = sent + left;
        self.held_until.send_if_modified(|h| match h {
            Some(known) if *known < until && !self.lost.load(Ordering::SeqCst) => {
                *known = until;
                true
            }
            _ => false,
        });
    }

    /// Logs, once, that this worker was fenced, and counts it.
    fn fenced(&self, what: &str) {
        self.lost.store(true, Ordering::SeqCst);
        self.held_until.send_replace(None);
        if !self.told_lost.swap(true, Ordering::SeqCst) {
            crate::stats::record_fenced();
            tracing::warn!(account = %self.account, owner = %self.owner, stopped_at = what,
                "fenced: the lease was taken over by another worker while this one was paused or cut off \
                 (it stopped renewing); this worker stops without another write or AWS call");
        }
    }
}

/// A worker of this process holding a lease, as `/readyz` reports it.
#[derive(Debug, Clone)]
pub struct WorkerView {
    /// The lease owner (`node:pid:start#N`).
    pub owner: String,
    /// The account (or job) whose lease it holds.
    pub account: AccountId,
    /// How long it has held the lease.
    pub held_for: Duration,
    /// How long since it last made progress.
    pub idle_for: Duration,
}

/// A held lease, renewed in the background until released (or dropped: a worker cancelled
/// mid-way stops renewing, and its lease is released in the background).
#[derive(Debug)]
pub struct Held {
    pub fence: Fence,
    /// The worker holding it.
    pub owner: String,
    store: Arc<dyn Store>,
    renewer: JoinHandle<()>,
    worker: Arc<Worker>,
    leases: Arc<Leases>,
    id: u64,
    released: bool,
}

impl Held {
    /// Releases the lease.
    pub async fn release(mut self) {
        self.renewer.abort();
        if self.worker.abandoned.load(Ordering::SeqCst) {
            // Left to expire: see `Worker::abandoned`.
            self.released = true;
            return;
        }
        if let Err(e) = self.store.release_lease(&self.fence).await {
            tracing::warn!(error = %e, account = %self.fence.account_id, "could not release a lease; it will expire");
        }
        self.released = true;
    }

    /// Stops renewing the lease, for a holder about to delete it with its account: a renewal
    /// made after the deletion would find no lease and take it for a takeover. The deletion is
    /// fenced by the lease's token, which renewals do not change.
    pub(crate) fn stop_renewing(&self) {
        self.renewer.abort();
    }

    /// Notes that the worker made progress (for the readiness probe's stuck-worker count).
    pub(crate) fn progress(&self) {
        *self.worker.progress.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }

    /// Notes that a journal write was fenced: the lease was taken over.
    pub(crate) fn fenced(&self, what: &str) {
        self.worker.fenced(what);
    }

    /// Checks, right before a side effect (`what`: an IAM call, a delivery), that this worker
    /// still holds the lease and has at least half of it ahead, by the database's clock (it is
    /// renewed otherwise). A worker paused or cut off past its lease (another worker took over)
    /// stops here instead of calling IAM with a stale view. Side effects go through
    /// [`Held::act`], which also bounds the call.
    pub async fn ensure(&self, what: &str) -> Result<()> {
        self.progress();
        if !self.worker.lost.load(Ordering::SeqCst) {
            let settings = &self.leases.settings;
            let sent = Instant::now();
            let state = self.store.lease_state(&self.fence.account_id).await?;
            let held = match state {
                Some(s) if s.token == self.fence.token => {
                    if s.left_ms > 0 {
                        self.worker.held_for(sent, Duration::from_millis(s.left_ms.unsigned_abs()));
                    }
                    s.left_ms > settings.side_effect_margin_ms() || self.renew(settings).await?
                }
                _ => false,
            };
            if held {
                return Ok(());
            }
        }
        self.worker.fenced(what);
        Err(Error::conflict(
            format!(
                "stopped before {what}: the lease on account {} was taken over by another worker",
                self.fence.account_id
            ),
            "the worker holding the lease now continues the work; nothing was called after the lease was lost",
        ))
    }

    async fn renew(&self, settings: &LeaseSettings) -> Result<bool> {
        let sent = Instant::now();
        let renewed = self.store.renew_lease(&self.fence, settings.ttl_ms).await?;
        if renewed {
            self.worker.held_for(sent, settings.ttl());
        }
        Ok(renewed)
    }

    /// Makes side effect `what` (an IAM call, a delivery): checks the lease ([`Held::ensure`]),
    /// then runs `call` only as long as the lease is surely this worker's, less the safety gap.
    /// The background renewals push that bound on while they succeed; once they fail long
    /// enough (the node is cut off from the store) or find the lease taken over, the call is
    /// dropped — its connection closed, its retries and pacing waits ended, a script killed —
    /// before any other worker can take the lease over, and this is an error: the call's
    /// outcome is unknown, and the worker stops. The journal says what was under way (each
    /// caller's phase is written before its call), so whoever resumes the rotation re-reads
    /// IAM or the target and finishes or undoes it.
    pub async fn act<T>(&self, what: &str, call: impl std::future::Future<Output = T>) -> Result<T> {
        self.ensure(what).await?;
        let gap = Duration::from_millis(self.leases.settings.safety_gap_ms().unsigned_abs());
        let mut held = self.worker.held_until.subscribe();
        let mut call = Box::pin(call);
        loop {
            let deadline = held.borrow_and_update().and_then(|until| until.checked_sub(gap));
            let Some(deadline) = deadline.filter(|d| *d > Instant::now()) else { break };
            // The deadline first: a worker that wakes past it (paused, starved) must not poll the
            // call once more, which could send a retry after another worker took over.
            tokio::select! {
                biased;
                _ = tokio::time::sleep_until(deadline.into()) => {}
                changed = held.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                out = &mut call => return Ok(out),
            }
        }
        // Dropped first: its connection closes, its waits and retries end, now.
        drop(call);
        self.worker.abandoned.store(true, Ordering::SeqCst);
        crate::stats::record_abandoned();
        // A worker paused past its lease wakes here: if another took over, it was fenced.
        let state = self.store.lease_state(&self.fence.account_id).await;
        if self.worker.lost.load(Ordering::SeqCst)
            || matches!(&state, Ok(s) if s.as_ref().is_none_or(|s| s.token != self.fence.token))
        {
            self.worker.fenced(what);
            return Err(Error::conflict(
                format!(
                    "stopped during {what}: the lease on account {} was taken over by another worker; the call was \
                     abandoned and its outcome is unknown",
                    self.fence.account_id
                ),
                "the worker holding the lease now continues the work and checks what the call did",
            ));
        }
        tracing::warn!(account = %self.fence.account_id, owner = %self.owner, call = what,
            "gave up on a call before the lease it was made under could expire (renewals failed or the lease was \
             taken over); its outcome is unknown and the worker stops; whoever resumes the work checks what it did");
        Err(Error::conflict(
            format!(
                "gave up on {what} for account {}: the lease could not be renewed before the call would outlast it; \
                 the call's outcome is unknown",
                self.fence.account_id
            ),
            "the rotation stays at its journaled phase; `rekey recover` (or the next worker) checks what the call \
             did and finishes it",
        ))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.renewer.abort();
        self.leases.workers().remove(&self.id);
        if self.released || self.worker.abandoned.load(Ordering::SeqCst) {
            return;
        }
        // Dropped without a release (its task was cancelled): free the lease now rather than
        // let it block the account until it expires.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let (store, fence) = (self.store.clone(), self.fence.clone());
            rt.spawn(async move {
                let _ = store.release_lease(&fence).await;
            });
        }
    }
}

impl Engine {
    /// Takes `account`'s lease for a new worker, taking over from a dead owner on this node.
    /// A lease held by a live worker (of this process or another) is [`Error::Busy`], naming
    /// the rotation under way when it is journaled.
    pub async fn lease(&self, account: &AccountId) -> Result<Held> {
        let settings = &self.leases.settings;
        let id = self.leases.next.fetch_add(1, Ordering::Relaxed);
        let me = format!("{}#{id}", settings.process());
        let mut steal: Option<String> = None;
        loop {
            let sent = Instant::now();
            match self.store.acquire_lease(account, &me, settings.ttl_ms, steal.as_deref()).await? {
                LeaseOutcome::Acquired(fence) => return Ok(self.hold(fence, me, id, sent)),
                LeaseOutcome::TakenOver { fence, from, last_renewed, at } => {
                    let stood_still = last_renewed.map(|t| (at - t).to_std().unwrap_or_default());
                    crate::stats::record_takeover(stood_still);
                    tracing::info!(%account, previous = %from, stood_still_ms = stood_still.map(|d| d.as_millis()),
                        "took over a lease whose holder stopped renewing it");
                    return Ok(self.hold(fence, me, id, sent));
                }
                LeaseOutcome::Held { owner, expires_at } => {
                    if steal.is_none() && settings.owner_is_dead(&owner) {
                        tracing::info!(%account, %owner, "taking over the lease of a process that died");
                        steal = Some(owner);
                        continue;
                    }
                    return Err(self.busy(account, &owner, expires_at).await);
                }
            }
        }
    }

    /// The workers of this process holding leases now.
    pub fn workers(&self) -> Vec<WorkerView> {
        let now = Instant::now();
        self.leases
            .workers()
            .values()
            .map(|w| WorkerView {
                owner: w.owner.clone(),
                account: w.account.clone(),
                held_for: now.saturating_duration_since(w.since),
                idle_for: now.saturating_duration_since(*w.progress.lock().unwrap_or_else(PoisonError::into_inner)),
            })
            .collect()
    }

    /// This process's lease settings.
    pub fn lease_settings(&self) -> &LeaseSettings {
        &self.leases.settings
    }

    /// The answer to a request for an account another live worker holds.
    pub(crate) async fn busy(&self, account: &AccountId, owner: &str, until: DateTime<Utc>) -> Error {
        let open = self.store.rotations(Some(account), true, 1).await.ok().and_then(|r| r.into_iter().next());
        let whose = if process_of(owner) == self.leases.settings.process() {
            "another task of this process"
        } else {
            "another rekey worker"
        };
        match open {
            Some(r) => Error::Busy {
                what: format!(
                    "rotation {} of account {account} is under way (phase {}), worked by {whose} ({owner}, lease until {until})",
                    r.id, r.phase
                ),
                hint: format!(
                    "nothing was done; follow it with `rekey rotation show {}` (GET /api/v1/rotations/{})",
                    r.id, r.id
                ),
                rotation: Some(r.id),
            },
            None => Error::Busy {
                what: format!("account {account} is being worked by {whose} ({owner}, lease until {until})"),
                hint: "nothing was done; try again once it has finished (`rekey recover` takes over a worker that stopped)"
                    .into(),
                rotation: None,
            },
        }
    }

    /// Takes the lease of a server-wide job (an audit export, the notifier) so that one node
    /// of several works it at a time; `None` while another live worker holds it. Job leases
    /// live beside account leases under an id derived from the job's name.
    pub async fn lease_job(&self, job: &str) -> Result<Option<Held>> {
        match self.lease(&job_lease_id(job)).await {
            Ok(held) => Ok(Some(held)),
            Err(Error::Busy { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A lease taken by a request sent at `sent`.
    fn hold(&self, fence: Fence, owner: String, id: u64, sent: Instant) -> Held {
        let now = Instant::now();
        let worker = Arc::new(Worker {
            owner: owner.clone(),
            account: fence.account_id.clone(),
            since: now,
            progress: Mutex::new(now),
            lost: AtomicBool::new(false),
            told_lost: AtomicBool::new(false),
            renewal_failing: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
            held_until: watch::Sender::new(Some(sent + self.leases.settings.ttl())),
        });
        self.leases.workers().insert(id, worker.clone());
        let renewer =
            tokio::spawn(renew(self.store.clone(), fence.clone(), self.leases.settings.ttl_ms, worker.clone()));
        Held {
            fence,
            owner,
            store: self.store.clone(),
            renewer,
            worker,
            leases: self.leases.clone(),
            id,
            released: false,
        }
    }
}

/// Renews a held lease every third of its length until it is found taken over. A failing
/// renewal is logged once (the store logs its outage too), and again once it works.
async fn renew(store: Arc<dyn Store>, fence: Fence, ttl_ms: i64, worker: Arc<Worker>) {
    let ttl = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(30_000));
    loop {
        tokio::time::sleep(ttl / 3).await;
        let sent = Instant::now();
        match store.renew_lease(&fence, ttl_ms).await {
            Ok(true) => {
                worker.held_for(sent, ttl);
                if worker.renewal_failing.swap(false, Ordering::SeqCst) {
                    tracing::info!(account = %fence.account_id, "the lease is renewed again");
                }
            }
            Ok(false) => {
                worker.fenced("a lease renewal");
                return;
            }
            Err(e) => {
                if !worker.renewal_failing.swap(true, Ordering::SeqCst) {
                    tracing::warn!(error = %e, account = %fence.account_id,
                        "lease renewal failed; another worker takes the work over if this one cannot renew before the lease expires");
                }
            }
        }
    }
}

/// The lease id of job `job`: 40 bits of SHA-256 of `rekey-job:JOB`, as an account id. A clash
/// with one of a vault's accounts has odds of 2^-40 per account; fencing still protects the
/// rotation's journal writes if it ever happened.
pub fn job_lease_id(job: &str) -> AccountId {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("rekey-job:{job}").as_bytes());
    AccountId::from_bits(h[..5].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_lease_ids_are_stable_and_distinct() {
        assert_eq!(job_lease_id("export:siem"), job_lease_id("export:siem"));
        assert_ne!(job_lease_id("export:siem"), job_lease_id("notify"));
    }

    #[test]
    fn a_holder_is_judged_dead_only_on_its_own_node() {
        let here = LeaseSettings::default();
        assert!(!here.owner_is_dead(&format!("{}#3", here.process())), "a worker of this live process is alive");
        let reused = format!("{}:{}:1", here.node, std::process::id());
        assert!(here.owner_is_dead(&reused), "same pid, other start time: a reused pid");
        assert!(here.owner_is_dead(&format!("{reused}#7")), "a worker of a reused pid is dead");
        assert!(!here.owner_is_dead("some-other-host:1:1"), "other nodes are never judged");
        let named = LeaseSettings { node: "node-a".into(), ..LeaseSettings::default() };
        assert!(named.process().starts_with("node-a:"), "{}", named.process());
        assert!(!named.owner_is_dead(&reused), "a holder on another node waits for its lease to expire");
        assert!(named.owner_is_dead(&format!("node-a:{}:1#2", std::process::id())));
        assert_eq!(process_of("n:1:2#9"), "n:1:2");
    }

    #[test]
    fn an_exited_owner_not_yet_reaped_is_dead() {
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        // Until this test reaps it, the exited child stays a zombie.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let stat = loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the child's stat");
            if stat[stat.rfind(')').unwrap() + 2..].starts_with('Z') {
                break stat;
            }
            assert!(std::time::Instant::now() < deadline, "the child never exited: {stat}");
            std::thread::yield_now();
        };
        let started = stat[stat.rfind(')').unwrap() + 2..].split(' ').nth(19).unwrap().to_owned();
        assert_eq!(start_time_of_stat(&stat.replacen(") Z ", ") S ", 1)), Some(started.clone()));
        assert!(
            LeaseSettings::default().owner_is_dead(&format!("{}:{pid}:{started}", host())),
            "a zombie holds no lease"
        );
        child.wait().expect("reap the child");
    }
}
